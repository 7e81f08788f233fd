//! Fuzzes field-level record decryption and field path parsing with arbitrary JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phiveil_core::esdk::RawAesKeyring;
use phiveil_core::field::{decrypt_record, FieldPath};
use phiveil_core::secret::WrappingKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = FieldPath::parse(s);
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let kr = RawAesKeyring::new(
            "fuzz",
            "k",
            WrappingKey::from_slice(&[0x5a; 32]).expect("32-byte key"),
        )
        .expect("valid keyring");
        let _ = decrypt_record(&kr, &v, &Default::default(), &Default::default());
    }
});
