//! Native criterion benchmarks of envelope encryption: the workloads of the browser
//! benchmark page (1 KB record, 128 KB EEG block, 1 MB, field-level patient JSON).
//! Run with `scripts/bench.sh` or `cargo bench -p phiveil-core`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use phiveil_core::esdk::{
    self, DecryptOptions, EncryptOptions, EncryptionContext, RawAesKeyring, StreamEncryptor,
};
use phiveil_core::field::{decrypt_record, encrypt_record};
use phiveil_core::secret::WrappingKey;
use rand_core::OsRng;

fn keyring() -> RawAesKeyring {
    RawAesKeyring::new("bench", "k", WrappingKey::from_slice(&[0x11; 32]).unwrap()).unwrap()
}

fn ctx() -> EncryptionContext {
    [
        ("patient", "p-0001"),
        ("record_type", "eeg"),
        ("study", "s-42"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn eeg_block() -> Vec<u8> {
    // 32 channels x 1000 float32 samples.
    (0..32 * 1000)
        .flat_map(|i| ((i as f32 * 0.2513).sin() * 20.0).to_le_bytes())
        .collect()
}

fn messages(c: &mut Criterion) {
    let kr = keyring();
    let opts = EncryptOptions::default();
    let mut g = c.benchmark_group("esdk");
    for (name, pt) in [
        ("1KB", vec![7u8; 1024]),
        ("eeg_128KB", eeg_block()),
        ("1MB", vec![7u8; 1 << 20]),
    ] {
        g.throughput(Throughput::Bytes(pt.len() as u64));
        g.bench_with_input(BenchmarkId::new("encrypt", name), &pt, |b, pt| {
            b.iter(|| esdk::encrypt(&kr, pt, &ctx(), &opts, &mut OsRng).unwrap())
        });
        let msg = esdk::encrypt(&kr, &pt, &ctx(), &opts, &mut OsRng).unwrap();
        let dopts = DecryptOptions::expecting(ctx());
        g.bench_with_input(BenchmarkId::new("decrypt", name), &msg, |b, msg| {
            b.iter(|| esdk::decrypt(&kr, msg, &dopts).unwrap())
        });
    }
    let pt = vec![7u8; 1 << 20];
    g.throughput(Throughput::Bytes(pt.len() as u64));
    g.bench_function("stream_encrypt_64KB_chunks/1MB", |b| {
        b.iter(|| {
            let mut enc = StreamEncryptor::new(&kr, &ctx(), &opts, &mut OsRng).unwrap();
            let mut out = Vec::with_capacity(pt.len() + (16 << 10));
            for chunk in pt.chunks(64 << 10) {
                enc.update(chunk, &mut out).unwrap();
            }
            enc.finish(&mut out).unwrap();
            out
        })
    });
    g.finish();
}

fn field_level(c: &mut Criterion) {
    let kr = keyring();
    let rec = serde_json::json!({
        "resourceType": "PatientRecord", "id": "rec-20260311-0042",
        "patient": {"name": "Zoë Ünal", "ssn": "123-45-6789", "birthDate": "1958-04-02",
                    "phone": "+1 617 555 0142", "address": "12 Elm St, Boston MA 02139", "zip": "021"},
        "encounter": {"date": "2026-03-11", "clinic": "cardiology", "provider": "dr-118"},
        "notes": [
            {"author": "dr-118", "text": "Patient reports intermittent dizziness for two weeks, worse when standing."},
            {"author": "rn-7", "text": "Medication reconciliation done; lisinopril 10 mg daily."}
        ]
    });
    let paths = [
        "patient.name",
        "patient.ssn",
        "patient.birthDate",
        "patient.phone",
        "patient.address",
        "notes[*].text",
    ];
    let mut g = c.benchmark_group("field_level");
    g.bench_function("encrypt/patient_json", |b| {
        b.iter(|| encrypt_record(&kr, &rec, &paths, &ctx(), &mut OsRng).unwrap())
    });
    let sealed = encrypt_record(&kr, &rec, &paths, &ctx(), &mut OsRng).unwrap();
    g.bench_function("decrypt/patient_json", |b| {
        b.iter(|| decrypt_record(&kr, &sealed, &ctx(), &Default::default()).unwrap())
    });
    g.finish();
}

/// The note of the browser benchmark page (www/bench/bench.js), for a like-for-like
/// native figure.
const NOTE: &str = "Patient: Maria de la Cruz  DOB: 03/14/1952  MRN: 00482913
Mrs. de la Cruz is a 71-year-old woman seen on March 3rd, 2024 by Dr. Okonkwo for chest pain.
Lives at 4821 Maple Grove Ave, Apt 3B, Springfield, IL 62704. Call (217) 555-0143 or email
maria.delacruz@example.org. Her daughter Ana will drive her home. SSN 219-09-9999 on file.
BP 128/82, HR 88, SpO2 97% on RA. Pain 6/10. Metformin 500 mg BID; Lisinopril 10 mg daily.
Member ID: XJH-448812-01. Pacemaker serial PM-88213-XA interrogated, normal function.
Telehealth from IP 192.168.10.254; portal https://portal.example.com/p/123. Follow up in 3 weeks.
";

fn pii(c: &mut Criterion) {
    let r = phiveil_core::pii::Redactor::new(phiveil_core::pii::Policy::default()).unwrap();
    let mut g = c.benchmark_group("pii");
    g.throughput(Throughput::Bytes(NOTE.len() as u64));
    g.bench_function("redact_note", |b| b.iter(|| r.redact(NOTE, None).unwrap()));
    g.finish();
}

criterion_group!(benches, messages, field_level, pii);
criterion_main!(benches);
