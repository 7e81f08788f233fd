//! Fuzzes ESDK message parsing and decryption: one-shot, streaming in chunks whose
//! size comes from the input, header parsing and random frame access. Nothing may
//! panic; a successful decryption must equal the streaming result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phiveil_core::esdk::{
    self, DecryptOptions, FrameReader, Header, Limits, RawAesKeyring, StreamDecryptor,
};
use phiveil_core::secret::WrappingKey;

fn keyring() -> RawAesKeyring {
    RawAesKeyring::new(
        "fuzz",
        "k",
        WrappingKey::from_slice(&[0x5a; 32]).expect("32-byte key"),
    )
    .expect("valid keyring")
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, msg)) = data.split_first() else {
        return;
    };
    let kr = keyring();
    let limits = Limits {
        max_header_len: 4096,
        max_frame_len: 1 << 16,
        max_non_framed_len: 1 << 16,
        ..Limits::default()
    };
    let opts = DecryptOptions {
        expected_context: Default::default(),
        limits,
    };
    let one_shot = esdk::decrypt(&kr, msg, &opts);

    let mut dec = StreamDecryptor::new(&kr, Default::default(), limits);
    let mut out = Vec::new();
    let mut ok = true;
    for c in msg.chunks(usize::from(chunk).max(1)) {
        if dec.update(c, &mut out).is_err() {
            ok = false;
            break;
        }
    }
    let streamed = if ok {
        dec.finish(&mut out).map(|_| out)
    } else {
        Err(phiveil_core::Error::DecryptFailed)
    };
    if let Ok(d) = &one_shot {
        assert_eq!(
            Some(&d.plaintext),
            streamed.as_ref().ok(),
            "stream and one-shot disagree"
        );
    }

    let _ = Header::parse(msg, &limits);
    if let Ok(r) = FrameReader::open(&kr, msg, Default::default(), limits) {
        let seq = u32::from(chunk).max(1);
        if let Ok(off) = r.frame_offset(seq) {
            if let Some(rest) = usize::try_from(off).ok().and_then(|o| msg.get(o..)) {
                let _ = r.decrypt_frame(seq, rest);
            }
        }
    }
});
