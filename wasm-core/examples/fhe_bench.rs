//! Relay aggregation throughput for an 8-field study, side by side with a minimal loop
//! written directly on tfhe-rs's high-level API for the same work (`scripts/bench-fhe.sh`).
//!
//! Same input for both: N proven compact lists (each field `value − lo` in the narrowest
//! even number of bits), the same keys, proofs verified. Same output: per field the sum,
//! histogram and threshold counts of the values clamped to the declared ranges.
//!
//! * phiveil: `Aggregator` — clamps and compares each field in its own width, sums a
//!   batch in 16 bits, widens once, verifies submissions in parallel (rayon), writes a
//!   checkpoint per batch (as the relay does);
//! * minimal loop: per submission, expand each field, cast to `FheUint32`, clamp with
//!   `min`, compare with `ge`; per batch one library `sum` per total, added into the
//!   running totals.
//!
//! Both decrypt to the same totals (checked). Prints submissions/minute and the split
//! of phiveil's time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::panic,
    missing_docs
)]

use std::time::Instant;

use phiveil_core::fhe::{self, Aggregator, FieldSpec, Release, StudySpec};
use rand_core::{OsRng, RngCore};
use tfhe::prelude::*;
use tfhe::{FheBool, FheUint32, ProvenCompactCiphertextList};

fn study() -> StudySpec {
    let f = FieldSpec::new;
    StudySpec {
        id: "st-bench".into(),
        fields: vec![
            f("heart_rate", 20, 250, vec![60, 100, 140], vec![]),
            f("spo2", 50, 100, vec![], vec![90, 95]),
            f("systolic", 60, 250, vec![], vec![140]),
            f("diastolic", 30, 150, vec![], vec![90]),
            f("temperature_dc", 340, 420, vec![], vec![380]),
            f("smoker", 0, 1, vec![], vec![]),
            f("pain", 0, 10, vec![], vec![7]),
            f("score", 1, 5, vec![], vec![4]),
        ],
        min_cohort: 2,
    }
}

fn values(spec: &StudySpec) -> Vec<i64> {
    spec.fields
        .iter()
        .map(|f| f.lo + (OsRng.next_u64() % (f.width() + 1)) as i64)
        .collect()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(32, |s| s.parse().expect("submissions"));
    let batch: usize = std::env::args()
        .nth(2)
        .map_or(16, |s| s.parse().expect("batch"));
    let spec = study();
    println!(
        "8-field study, {} encoded bits per submission; {n} submissions; batches of {batch}; {} threads",
        spec.total_bits(),
        rayon::current_num_threads()
    );
    let t = Instant::now();
    let (keys, _) = fhe::key_ceremony(&spec, true, || 0.0).unwrap();
    println!("ceremony: {:.1} s", t.elapsed().as_secs_f64());
    let crs = keys.crs.clone().unwrap();
    let server = fhe::install_server_key(&keys.server);
    let pool = fhe::KeyedPool::new(server, 0).unwrap();

    let t = Instant::now();
    let mut rows = Vec::new();
    let mut subs = Vec::new();
    for i in 0..n {
        let v = values(&spec);
        let who = format!("p-{i}");
        subs.push((
            format!("sb-{i}"),
            who.clone(),
            fhe::encrypt_submission(&spec, &keys.public, &crs, &who, &v, &mut OsRng).unwrap(),
        ));
        rows.push(v);
    }
    println!(
        "patients: encrypt + prove {:.0} ms per submission (native), {} bytes",
        t.elapsed().as_secs_f64() * 1e3 / n as f64,
        subs[0].2.len()
    );

    // Split of one submission's cost (sequential, one submission).
    {
        let (id, who, bytes) = &subs[0];
        let t = Instant::now();
        fhe::check_submission(&spec, &keys.public, &crs, who, bytes).unwrap();
        let verify = t.elapsed().as_secs_f64();
        let agg = Aggregator::new(spec.clone(), keys.public.clone(), crs.clone()).unwrap();
        let t = Instant::now();
        let list: ProvenCompactCiphertextList =
            tfhe::safe_serialization::safe_deserialize(bytes.as_slice(), 1 << 20).unwrap();
        let _exp = list
            .verify_and_expand(&crs, &keys.public, &spec.proof_metadata(who))
            .unwrap();
        let expand = t.elapsed().as_secs_f64() - verify;
        let t = Instant::now();
        let e = agg.verify(id, who, bytes).unwrap();
        let prepared = t.elapsed().as_secs_f64() - verify - expand;
        let mut agg2 = Aggregator::new(spec.clone(), keys.public.clone(), crs.clone()).unwrap();
        let t = Instant::now();
        agg2.fold(vec![e]).unwrap();
        let fold1 = t.elapsed().as_secs_f64();
        println!(
            "one submission, sequential: proof check {:.0} ms, expansion {:.0} ms, clamp+compare {:.0} ms, fold (batch of 1) {:.0} ms",
            verify * 1e3,
            expand.max(0.0) * 1e3,
            prepared.max(0.0) * 1e3,
            fold1 * 1e3
        );
    }

    // phiveil's aggregator, as the relay worker runs it.
    let t = Instant::now();
    let mut agg = Aggregator::new(spec.clone(), keys.public.clone(), crs.clone()).unwrap();
    let (mut t_verify, mut t_fold, mut t_ckpt) = (0.0, 0.0, 0.0);
    for chunk in subs.chunks(batch) {
        let t1 = Instant::now();
        let ok: Vec<_> = agg
            .verify_many(&pool, chunk)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let t2 = Instant::now();
        agg.fold(ok).unwrap();
        let t3 = Instant::now();
        let ck = agg.checkpoint().unwrap();
        std::hint::black_box(ck.len());
        t_verify += (t2 - t1).as_secs_f64();
        t_fold += (t3 - t2).as_secs_f64();
        t_ckpt += t3.elapsed().as_secs_f64();
    }
    let ours = t.elapsed().as_secs_f64();
    let release = agg.release(None).unwrap();
    println!(
        "phiveil: {:.1} submissions/min ({:.0} ms each): verify+expand+clamp+compare {:.0}%, batch sums {:.0}%, checkpoints {:.0}%",
        n as f64 * 60.0 / ours,
        ours * 1e3 / n as f64,
        100.0 * t_verify / ours,
        100.0 * t_fold / ours,
        100.0 * t_ckpt / ours
    );
    let got = fhe::decrypt_release(
        &spec,
        &keys.client,
        &Release::from_bytes(&release.to_bytes().unwrap()).unwrap(),
        0.95,
    )
    .unwrap();

    // The minimal loop on tfhe-rs's API for the same work: expand, widen to 32 bits,
    // clamp with `min`, compare with `ge`, and per batch one library `sum` per total
    // (its fastest way to add many ciphertexts) added into the running totals.
    let t = Instant::now();
    let nf = spec.fields.len();
    let mut sums: Vec<Option<FheUint32>> = vec![None; nf];
    let mut ge: Vec<Vec<Option<FheUint32>>> = spec
        .fields
        .iter()
        .map(|f| vec![None; f.bins.len() + f.at_least.len()])
        .collect();
    let add = |slot: &mut Option<FheUint32>, v: FheUint32| {
        *slot = Some(match slot.take() {
            Some(s) => s + v,
            None => v,
        });
    };
    for chunk in subs.chunks(batch) {
        let mut vals: Vec<Vec<FheUint32>> = vec![Vec::new(); nf];
        let mut bits: Vec<Vec<Vec<FheUint32>>> =
            ge.iter().map(|g| vec![Vec::new(); g.len()]).collect();
        for (_, who, bytes) in chunk {
            let list: ProvenCompactCiphertextList =
                tfhe::safe_serialization::safe_deserialize(bytes.as_slice(), 1 << 20).unwrap();
            let exp = list
                .verify_and_expand(&crs, &keys.public, &spec.proof_metadata(who))
                .unwrap();
            for (i, f) in spec.fields.iter().enumerate() {
                let v: FheUint32 = match f.bits() {
                    2 => exp.get::<tfhe::FheUint2>(i).unwrap().unwrap().cast_into(),
                    4 => exp.get::<tfhe::FheUint4>(i).unwrap().unwrap().cast_into(),
                    6 => exp.get::<tfhe::FheUint6>(i).unwrap().unwrap().cast_into(),
                    8 => exp.get::<tfhe::FheUint8>(i).unwrap().unwrap().cast_into(),
                    b => panic!("{b} bits"),
                };
                let v = v.min(f.width() as u32);
                for (j, e) in f.bins.iter().chain(&f.at_least).enumerate() {
                    let b: FheBool = v.ge((e - f.lo) as u32);
                    bits[i][j].push(FheUint32::cast_from(b));
                }
                vals[i].push(v);
            }
        }
        for i in 0..nf {
            add(&mut sums[i], vals[i].iter().sum());
            for (j, b) in bits[i].iter().enumerate() {
                add(&mut ge[i][j], b.iter().sum());
            }
        }
    }
    let minimal = t.elapsed().as_secs_f64();
    println!(
        "minimal tfhe-rs loop: {:.1} submissions/min ({:.0} ms each)",
        n as f64 * 60.0 / minimal,
        minimal * 1e3 / n as f64
    );
    println!(
        "ratio phiveil / minimal loop (throughput): {:.2}x",
        minimal / ours
    );

    // Both computed the same totals, equal to the plaintext ones.
    for (i, f) in spec.fields.iter().enumerate() {
        let col: Vec<i64> = rows.iter().map(|r| r[i]).collect();
        let truth: i64 = col.iter().sum();
        let s: u32 = sums[i].as_ref().unwrap().decrypt(&keys.client);
        assert_eq!(i64::from(s) + f.lo * n as i64, truth, "{} minimal", f.name);
        assert_eq!(got[i].sum, truth, "{} phiveil", f.name);
        for (j, t) in f.at_least.iter().enumerate() {
            let c: u32 = ge[i][f.bins.len() + j]
                .as_ref()
                .unwrap()
                .decrypt(&keys.client);
            let want = col.iter().filter(|v| **v >= *t).count() as u64;
            assert_eq!(u64::from(c), want);
            assert_eq!(got[i].at_least[j], want);
        }
    }
    println!("totals checked: both equal the plaintext aggregates");
}
