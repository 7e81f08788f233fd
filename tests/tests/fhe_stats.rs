//! Private statistics under TFHE, end to end in the core (owner ceremony → 50 patients'
//! proven submissions → relay-side verification, clamping and encrypted aggregation →
//! release at the minimum cohort → owner decryption), with the poisoning and bad-input
//! cases: out-of-range values (refused by the client; clamped by the aggregator when a
//! client is bypassed), another study's key, garbage, a proof bound to another patient,
//! the wrong number of fields, duplicates, and a submission after release.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss
)]

use std::time::Instant;

use phiveil_core::fhe::{self, Aggregator, Encoding, FieldSpec, StudySpec};
use phiveil_core::Error;
use rand_core::OsRng;
use tfhe::zk::ZkComputeLoad;
use tfhe::ProvenCompactCiphertextList;

fn study(id: &str, min_cohort: u64) -> StudySpec {
    let f = FieldSpec::new;
    StudySpec {
        id: id.into(),
        fields: vec![
            f("heart_rate", 20, 250, vec![60, 100, 140], vec![]),
            f("spo2", 50, 100, vec![], vec![95]),
            f("smoker", 0, 1, vec![], vec![]),
            f("pain_score", 1, 5, vec![], vec![4]),
        ],
        min_cohort,
        encoding: Encoding::Checked,
    }
}

fn patient_values(i: i64) -> Vec<i64> {
    vec![
        40 + (i * 37) % 150,
        85 + (i * 7) % 16,
        i % 3 / 2,
        1 + (i * 5) % 5,
    ]
}

fn now_ms(t0: Instant) -> impl FnMut() -> f64 {
    move || t0.elapsed().as_secs_f64() * 1e3
}

/// The scenario: 50 patients. About 9 minutes of TFHE work on 2 cores, so it is run by
/// `scripts/test-fhe.sh`, not by every `cargo test`.
#[test]
#[ignore = "long: run by scripts/test-fhe.sh"]
fn fifty_patients_aggregate_exactly_and_bad_input_is_refused() {
    run(50);
}

/// The same flow and every bad-input case with a small cohort (run by the test command).
#[test]
fn small_cohort_aggregates_exactly_and_bad_input_is_refused() {
    run(6);
}

fn run(patients: i64) {
    let n = patients as usize;
    let early = n * 4 / 5;
    let spec = study("s-bp-2026", patients as u64);
    let (keys, timings) = fhe::key_ceremony(&spec, true, now_ms(Instant::now())).unwrap();
    let keys_crs = keys.crs.clone().unwrap();
    eprintln!("key ceremony (native): {timings:?}");
    // What the relay receives: serialized public key, CRS and compressed server key.
    let public = fhe::public_key_from_bytes(&fhe::to_bytes(&keys.public).unwrap()).unwrap();
    let crs = fhe::crs_from_bytes(&fhe::to_bytes(&keys_crs).unwrap()).unwrap();
    let server = fhe::server_key_from_bytes(&fhe::to_bytes(&keys.server).unwrap()).unwrap();
    fhe::install_server_key(&server);

    // Patients.
    let t = Instant::now();
    let mut subs = Vec::new();
    for i in 0..patients {
        let patient = format!("p-{i:03}");
        let bytes = fhe::encrypt_submission(
            &spec,
            &keys.public,
            &keys_crs,
            &patient,
            &patient_values(i),
            &mut OsRng,
        )
        .unwrap();
        subs.push((format!("sub-{i}"), patient, bytes));
    }
    eprintln!(
        "{patients} proven submissions: {:.0} ms each, {} bytes each",
        t.elapsed().as_secs_f64() * 1e3 / patients as f64,
        subs[0].2.len()
    );
    // A client refuses an out-of-range value before anything is encrypted.
    let mut bad = patient_values(0);
    bad[1] = 101;
    assert!(matches!(
        fhe::encrypt_submission(&spec, &keys.public, &keys_crs, "p-x", &bad, &mut OsRng),
        Err(Error::OutOfRange { field }) if field == "spo2"
    ));

    // A bypassed client: heart rate 255 (fits the 8 bits, outside 20..=250) with a valid
    // proof. The aggregator clamps it to 250.
    let rogue = {
        let mut b = ProvenCompactCiphertextList::builder(&keys.public);
        b.push_with_num_bits(255u64 - 20, 8).unwrap();
        b.push_with_num_bits(63u64, 6).unwrap(); // spo2 50 + 63 = 113 → clamped to 100
        b.push_with_num_bits(1u64, 2).unwrap();
        b.push_with_num_bits(15u64, 4).unwrap(); // pain 1 + 15 → clamped to 5
        let list = b
            .build_with_proof_packed(
                &keys_crs,
                &spec.proof_metadata("p-rogue"),
                ZkComputeLoad::Proof,
            )
            .unwrap();
        let mut out = Vec::new();
        tfhe::safe_serialization::safe_serialize(&list, &mut out, 1 << 20).unwrap();
        out
    };

    // Relay side.
    let (agg_public, agg_crs) = (public.clone(), crs.clone());
    let mut agg = Aggregator::new(spec.clone(), public, crs).unwrap();
    let t = Instant::now();
    let mut batch = Vec::new();
    for (id, patient, bytes) in &subs[..early] {
        batch.push(agg.verify(id, patient, bytes).unwrap());
        if batch.len() == 10 {
            agg.fold(std::mem::take(&mut batch)).unwrap();
        }
    }
    agg.fold(batch).unwrap();
    eprintln!(
        "verify + expand + clamp + fold: {:.0} ms per submission",
        t.elapsed().as_secs_f64() * 1e3 / early as f64
    );
    assert_eq!(agg.count(), early as u64);
    assert!(
        matches!(agg.release(None), Err(Error::CohortTooSmall { have, need }) if have == early as u64 && need == patients as u64)
    );

    // Bad input: each refused, none changes the totals.
    let (id0, p0, b0) = &subs[0];
    let dup = agg.verify(id0, p0, b0).unwrap();
    assert_eq!(agg.fold(vec![dup]).unwrap_err(), Error::DuplicateSubmission);
    let (_, p41, b41) = &subs[early];
    assert!(
        matches!(agg.verify("sub-replay", "p-999", b41), Err(Error::Fhe(_))),
        "proof bound to its patient"
    );
    assert!(matches!(
        agg.verify("sub-garbage", "p-1", b"not a ciphertext list"),
        Err(Error::Fhe(_))
    ));
    let mut flipped = b41.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    assert!(agg.verify("sub-flipped", p41, &flipped).is_err());
    let other = study("s-other", 2);
    let (other_keys, _) = fhe::key_ceremony(&other, true, now_ms(Instant::now())).unwrap();
    let foreign = fhe::encrypt_submission(
        &other,
        &other_keys.public,
        other_keys.crs.as_ref().unwrap(),
        p41,
        &patient_values(1),
        &mut OsRng,
    )
    .unwrap();
    assert!(matches!(
        agg.verify("sub-foreign", p41, &foreign),
        Err(Error::Fhe(_))
    ));
    let short_spec = StudySpec {
        fields: spec.fields[..3].to_vec(),
        ..spec.clone()
    };
    let short = fhe::encrypt_submission(
        &short_spec,
        &keys.public,
        &keys_crs,
        p41,
        &patient_values(1)[..3],
        &mut OsRng,
    )
    .unwrap();
    assert!(agg.verify("sub-short", p41, &short).is_err());
    assert_eq!(agg.count(), early as u64);

    // The rest, and the rogue one.
    let mut batch = Vec::new();
    for (id, patient, bytes) in &subs[early..] {
        batch.push(agg.verify(id, patient, bytes).unwrap());
    }
    batch.push(agg.verify("sub-rogue", "p-rogue", &rogue).unwrap());
    // Folded as a partial aggregate elsewhere (another replica's lane), carried through
    // its checkpoint, and merged: the totals are those of one aggregator.
    let mut part = Aggregator::new(spec.clone(), agg_public.clone(), agg_crs.clone()).unwrap();
    part.fold(batch).unwrap();
    let part = Aggregator::restore(
        spec.clone(),
        agg_public.clone(),
        agg_crs.clone(),
        &part.checkpoint().unwrap(),
    )
    .unwrap();
    agg.merge(&part).unwrap();
    assert_eq!(agg.count(), patients as u64 + 1);
    // A partial merged twice would count its submissions twice: refused, nothing changed.
    assert_eq!(agg.merge(&part).unwrap_err(), Error::DuplicateSubmission);
    assert_eq!(agg.count(), patients as u64 + 1);
    // Central DP: the relay adds noise under encryption (with an offset); the owner
    // sees sum + noise only. The test knows the noise, so the sums are still checked
    // exactly.
    let noise = [17i64, -3, 0, -250];
    let release = agg.release(Some(&noise)).unwrap();
    // After release the study is closed.
    let late = agg.verify("sub-late", "p-000", b0).unwrap();
    assert!(matches!(agg.fold(vec![late]), Err(Error::InvalidState(_))));

    // Owner: decrypt and compare with the plaintext aggregates (rogue values clamped).
    let results = fhe::decrypt_release(&spec, &keys.client, &release, 0.95).unwrap();
    let mut rows: Vec<Vec<i64>> = (0..patients).map(patient_values).collect();
    rows.push(vec![250, 100, 1, 5]);
    for (j, (f, r)) in spec.fields.iter().zip(&results).enumerate() {
        let col: Vec<i64> = rows.iter().map(|v| v[j]).collect();
        assert_eq!(r.sum - noise[j], col.iter().sum::<i64>(), "{}", f.name);
        assert!((r.mean - r.sum as f64 / (n + 1) as f64).abs() < 1e-9);
        let (bins, at_least) = phiveil_tests::expected_counts(f, &col);
        assert_eq!(r.bins, bins, "{} histogram", f.name);
        assert_eq!(r.at_least, at_least, "{} thresholds", f.name);
    }
}

/// Two studies with their own keys, aggregated at once in one process (two relays, or
/// two workers, sharing the process's threads): each release decrypts to its own exact
/// totals. The worker threads' server keys must never be another study's.
#[test]
fn two_studies_with_their_own_keys_aggregate_at_once() {
    let crs_spec = study("s-crs", 2);
    let (first, _) = fhe::key_ceremony(&crs_spec, true, now_ms(Instant::now())).unwrap();
    let crs = first.crs.clone().unwrap();
    let start = std::sync::Arc::new(std::sync::Barrier::new(2));
    let run_study = |name: &str, keys: fhe::OwnerKeys, offset: i64| {
        let spec = study(name, 2);
        let subs: Vec<_> = (0..6)
            .map(|i| {
                let patient = format!("{name}-p{i}");
                let v = patient_values(i + offset);
                let b =
                    fhe::encrypt_submission(&spec, &keys.public, &crs, &patient, &v, &mut OsRng)
                        .unwrap();
                (format!("{name}-sub-{i}"), patient, b)
            })
            .collect();
        let crs = crs.clone();
        let start = start.clone();
        move || {
            start.wait();
            // As the relay worker runs a study: every computation on the study's pool.
            let pool = fhe::KeyedPool::decompress(&keys.server).unwrap();
            let release = pool.run(|| {
                let mut agg =
                    Aggregator::new(spec.clone(), keys.public.clone(), crs.clone()).unwrap();
                for chunk in subs.chunks(2) {
                    // The first of each pair had its proof checked at completion, as the
                    // relay does (it is not checked again); the other is checked here.
                    let incoming: Vec<fhe::Incoming> = chunk
                        .iter()
                        .enumerate()
                        .map(|(k, (id, patient, bytes))| {
                            let checked = k == 0;
                            if checked {
                                fhe::check_submission(&spec, &keys.public, &crs, patient, bytes)
                                    .unwrap();
                            }
                            fhe::Incoming {
                                id,
                                patient,
                                bytes,
                                proof_checked: checked,
                            }
                        })
                        .collect();
                    let ok: Vec<_> = agg
                        .prepare_many(&pool, &incoming)
                        .into_iter()
                        .map(Result::unwrap)
                        .collect();
                    agg.fold(ok).unwrap();
                }
                agg.release(None).unwrap()
            });
            let results = fhe::decrypt_release(&spec, &keys.client, &release, 0.95).unwrap();
            let sums: Vec<i64> = results.iter().map(|r| r.sum).collect();
            let want: Vec<i64> = (0..spec.fields.len())
                .map(|j| (0..6).map(|i| patient_values(i + offset)[j]).sum())
                .collect();
            (sums, want)
        }
    };
    let (second, _) = fhe::key_ceremony(&crs_spec, false, now_ms(Instant::now())).unwrap();
    // Both start folding together.
    let a = std::thread::spawn(run_study("s-a", first, 0));
    let b = std::thread::spawn(run_study("s-b", second, 100));
    for h in [a, b] {
        let (got, want) = h.join().unwrap();
        assert_eq!(got, want);
    }
}

/// The GPU path's code, tfhe's integer operations on whole values
/// (`KeyedPool::with_integer_ops`), run here on the CPU key: for the proven encoding
/// (honest patients and bypassed clients: two hot cells, none, a 3-bit score sent as 15
/// in its 4-bit type) and the checked one (a rogue value clamped), each release decrypts
/// to the same exact totals as the blocks path's and the plaintext's. A partial folded
/// one way, checkpointed and resumed the other way (a relay restarted on another
/// device), merges exactly. Where `Device::gpu_present()` (a `gpu` build on a machine
/// with a CUDA device: `scripts/check-gpu.sh`), the GPU pool folds the same and must
/// agree; elsewhere asking for the GPU is refused with a typed error, before any CUDA
/// call.
#[test]
fn integer_ops_fold_what_the_blocks_fold() {
    use phiveil_tests::Entry::Value;
    let f = FieldSpec::new;
    let proven = StudySpec {
        id: "s-int-proven".into(),
        fields: vec![
            f("heart_rate", 20, 275, vec![60, 100, 140], vec![]),
            f("score", 1, 8, vec![], vec![4]),
            f("smoker", 0, 1, vec![], vec![]),
        ],
        min_cohort: 2,
        encoding: Encoding::Proven,
    };
    let (keys, _) = fhe::key_ceremony(&proven, true, now_ms(Instant::now())).unwrap();
    let crs = keys.crs.clone().unwrap();
    let pk = &keys.public;
    let mut subs = Vec::new();
    for (i, v) in [[72, 5, 1], [150, 2, 0]].iter().enumerate() {
        let who = format!("p-{i}");
        let b = fhe::encrypt_submission(&proven, pk, &crs, &who, v, &mut OsRng).unwrap();
        subs.push((format!("sub-{i}"), who, b));
    }
    let bypassed = phiveil_tests::bypassed_proven_clients();
    for (i, entries) in bypassed.iter().enumerate() {
        let who = format!("p-rogue-{i}");
        let b = phiveil_tests::forged(&proven, pk, &crs, &who, entries);
        subs.push((format!("sub-rogue-{i}"), who, b));
    }
    let check_proven = |r: &[fhe::FieldResult]| {
        assert_eq!(r[0].sum, 72 + 150 + 100 + 275 + 40);
        assert_eq!(r[1].sum, 5 + 2 + 3 + 4 + 8);
        assert_eq!(r[2].sum, 1 + 1);
        assert_eq!(r[0].bins, vec![1, 1, 0, 1]);
        assert_eq!(r[1].at_least, vec![3]);
    };
    fold_both_ways(&proven, &keys, &crs, &subs, &check_proven);

    // The checked encoding: three patients and a bypassed client's out-of-range values.
    let checked = study("s-int-checked", 2);
    let (keys, _) = fhe::key_ceremony(&checked, true, now_ms(Instant::now())).unwrap();
    let crs = keys.crs.clone().unwrap();
    let mut subs = Vec::new();
    for i in 0..3 {
        let who = format!("p-{i}");
        let b = fhe::encrypt_submission(
            &checked,
            &keys.public,
            &crs,
            &who,
            &patient_values(i),
            &mut OsRng,
        )
        .unwrap();
        subs.push((format!("sub-{i}"), who, b));
    }
    let rogue = [Value(255 - 20, 8), Value(63, 6), Value(1, 2), Value(15, 4)];
    let b = phiveil_tests::forged(&checked, &keys.public, &crs, "p-rogue", &rogue);
    subs.push(("sub-rogue".into(), "p-rogue".into(), b));
    let check_checked = |r: &[fhe::FieldResult]| {
        let mut rows: Vec<Vec<i64>> = (0..3).map(patient_values).collect();
        rows.push(vec![250, 100, 1, 5]);
        for (j, f) in checked.fields.iter().enumerate() {
            let col: Vec<i64> = rows.iter().map(|v| v[j]).collect();
            assert_eq!(r[j].sum, col.iter().sum::<i64>(), "{}", f.name);
            let (bins, at_least) = phiveil_tests::expected_counts(f, &col);
            assert_eq!(r[j].bins, bins, "{} histogram", f.name);
            assert_eq!(r[j].at_least, at_least, "{} thresholds", f.name);
        }
    };
    fold_both_ways(&checked, &keys, &crs, &subs, &check_checked);
}

/// Folds `subs` on a blocks pool, on an integer-operations pool, across the two (first
/// half on one, checkpoint, the rest on the other), and on the GPU where one is
/// present; every release must pass `check`.
fn fold_both_ways(
    spec: &StudySpec,
    keys: &fhe::OwnerKeys,
    crs: &tfhe::zk::CompactPkeCrs,
    subs: &[(String, String, Vec<u8>)],
    check: &dyn Fn(&[fhe::FieldResult]),
) {
    let server = keys.server.decompress();
    let blocks = fhe::KeyedPool::new(server.clone(), 0).unwrap();
    let integer = fhe::KeyedPool::with_integer_ops(server, 0).unwrap();
    let fold = |pool: &fhe::KeyedPool, agg: &mut Aggregator, part: &[(String, String, Vec<u8>)]| {
        let ok: Vec<_> = agg
            .prepare_many(pool, &incoming(part))
            .into_iter()
            .map(Result::unwrap)
            .collect();
        pool.run(|| agg.fold(ok)).unwrap();
    };
    let fresh = || Aggregator::new(spec.clone(), keys.public.clone(), crs.clone()).unwrap();
    let release = |pool: &fhe::KeyedPool, mut agg: Aggregator| {
        let r = pool.run(|| agg.release(None)).unwrap();
        fhe::decrypt_release(spec, &keys.client, &r, 0.95).unwrap()
    };
    let mut pools = vec![("blocks", &blocks), ("integer", &integer)];
    let gpu = fhe::Device::gpu_present()
        .then(|| fhe::KeyedPool::decompress_on(&keys.server, fhe::Device::Gpu).unwrap());
    match &gpu {
        Some(p) => {
            assert_eq!(p.device(), fhe::Device::Gpu);
            pools.push(("gpu", p));
        }
        None => assert!(matches!(
            fhe::KeyedPool::decompress_on(&keys.server, fhe::Device::Gpu),
            Err(Error::Fhe(_))
        )),
    }
    for (name, pool) in &pools {
        let t = Instant::now();
        let mut agg = fresh();
        fold(pool, &mut agg, subs);
        let r = release(pool, agg);
        eprintln!(
            "{:?}, {name}: {} submissions folded and released in {:.1} s",
            spec.encoding,
            subs.len(),
            t.elapsed().as_secs_f64()
        );
        check(&r);
    }
    // Across: integer operations then blocks, and blocks then integer operations.
    let half = subs.len() / 2;
    for (first, then) in [(&integer, &blocks), (&blocks, &integer)] {
        let mut agg = fresh();
        fold(first, &mut agg, &subs[..half]);
        let ckpt = agg.checkpoint().unwrap();
        let mut agg = then
            .run(|| Aggregator::restore(spec.clone(), keys.public.clone(), crs.clone(), &ckpt))
            .unwrap();
        fold(then, &mut agg, &subs[half..]);
        check(&release(then, agg));
    }
}

/// Submissions as the aggregator takes them, their proofs to be checked.
fn incoming(part: &[(String, String, Vec<u8>)]) -> Vec<fhe::Incoming<'_>> {
    part.iter()
        .map(|(id, patient, bytes)| fhe::Incoming {
            id,
            patient,
            bytes,
            proof_checked: false,
        })
        .collect()
}
