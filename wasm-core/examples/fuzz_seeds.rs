//! Writes seed inputs for the fuzz targets: valid messages (several frame lengths,
//! contexts and keyrings) and a valid field-level record, under the fuzz key.
//! Usage: `cargo run -p phiveil-core --example fuzz_seeds -- DIR`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::path::PathBuf;

use phiveil_core::esdk::{self, EncryptOptions, EncryptionContext, RawAesKeyring};
use phiveil_core::field::encrypt_record;
use phiveil_core::secret::WrappingKey;

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: fuzz_seeds DIR"));
    let decrypt_dir = dir.join("decrypt");
    let field_dir = dir.join("field_record");
    std::fs::create_dir_all(&decrypt_dir).unwrap();
    std::fs::create_dir_all(&field_dir).unwrap();
    let kr =
        RawAesKeyring::new("fuzz", "k", WrappingKey::from_slice(&[0x5a; 32]).unwrap()).unwrap();
    let mut ctx = EncryptionContext::new();
    ctx.insert("patient".into(), "p-1".into());
    let mut n = 0;
    for frame in [1u32, 16, 64, 4096] {
        for len in [0usize, 5, 64, 200] {
            let opts = EncryptOptions {
                frame_length: frame,
                ..EncryptOptions::default()
            };
            let msg =
                esdk::encrypt(&kr, &vec![0x41; len], &ctx, &opts, &mut rand_core::OsRng).unwrap();
            // First byte: the chunk size the target streams with.
            let mut seed = vec![7u8];
            seed.extend_from_slice(&msg);
            std::fs::write(decrypt_dir.join(format!("msg-{n}")), seed).unwrap();
            n += 1;
        }
    }
    let rec = serde_json::json!({"patient": {"ssn": "123-45-6789", "zip": "021"}, "notes": [{"text": "x"}]});
    let sealed = encrypt_record(
        &kr,
        &rec,
        &["patient.ssn", "notes[*].text"],
        &ctx,
        &mut rand_core::OsRng,
    )
    .unwrap();
    std::fs::write(field_dir.join("record-0"), sealed.to_string()).unwrap();
    let redact_dir = dir.join("redact");
    std::fs::create_dir_all(&redact_dir).unwrap();
    let notes = [
        "Seen by Dr. K. Lind; DOB 30-MAY-1958, MRN: E2045503, call 8175550120.",
        "my son tomas drives me from new harwick, 12 oak st, pa 19000",
        "REGISTRATION: PT NAME: OYELARAN, FOLASADE  ADDR: RR 4 Box 12 (96M)",
        "Zürich – Ærø: 7D60-CW4-HM86 ninety-five-year-old Parkinson's Foley",
    ];
    for (i, note) in notes.iter().enumerate() {
        std::fs::write(redact_dir.join(format!("note-{i}")), note).unwrap();
    }
    println!(
        "wrote {n} message seeds, 1 record seed and {} note seeds to {}",
        notes.len(),
        dir.display()
    );
}
