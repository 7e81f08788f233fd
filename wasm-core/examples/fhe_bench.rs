//! Relay aggregation throughput for an 8-field study (`scripts/bench-fhe.sh`), in one
//! run: phiveil's `Aggregator` with the proven encoding, with the checked encoding (the
//! design before it: the relay clamps and compares), and a minimal loop written directly
//! on tfhe-rs's high-level API for the checked work.
//!
//! Same fields, edges and thresholds everywhere; the proven study declares each range
//! widened to the nearest `lo + 2^k` values (`fhe::proven_hi`), and every run gets the
//! same kind of honest values (inside the ranges as first declared). Proofs are always
//! verified, and every run's decrypted totals are checked against the plaintext ones.
//!
//! * phiveil, proven: the client sends histogram cells one-hot and threshold bits,
//!   proven; the relay checks one-hotness, bounds odd widths, and adds blocks into
//!   un-propagated 32-bit totals (splitting a block's carry only when needed);
//! * phiveil, checked: clamps and compares each field in its own width, then folds the
//!   same way;
//! * minimal loop (checked semantics): per submission, expand each field, cast to
//!   `FheUint32`, clamp with `min`, compare with `ge`; per batch one library `sum` per
//!   total, added into the running totals.
//!
//! Usage: `fhe_bench [submissions=32] [batch=32] [proven|gpu]` (`proven`: stop after the
//! proven encoding, to compare two builds of the worker side by side; `gpu`: after it,
//! fold the same submissions on the GPU where one is present (a build with the `gpu`
//! feature) and with tfhe's integer operations on the CPU, then stop).
//!
//! Prints submissions/minute for each, their ratios, and where phiveil's time goes; and
//! for the proven encoding the relay as deployed: proofs checked once, when uploads are
//! completed, and the worker folding the same bytes without checking them again.
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

use phiveil_core::fhe::{self, Aggregator, Encoding, FieldSpec, Release, StudySpec};
use rand_core::{OsRng, RngCore};
use tfhe::prelude::*;
use tfhe::{FheBool, FheUint32, ProvenCompactCiphertextList};

/// The benchmark's study as declared (checked encoding), and in the proven encoding:
/// the same fields, edges and thresholds, each range widened to the nearest `lo + 2^k`
/// values ([`fhe::proven_hi`]), as the web app's form suggests.
fn study(encoding: Encoding) -> StudySpec {
    let f = |name: &str, lo: i64, hi: i64, bins: Vec<i64>, at_least: Vec<i64>| {
        let hi = match encoding {
            Encoding::Checked => hi,
            Encoding::Proven => fhe::proven_hi(lo, hi),
        };
        FieldSpec::new(name, lo, hi, bins, at_least)
    };
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
        encoding,
    }
}

/// Honest values, always inside the ranges as first declared (so both encodings see
/// the same data).
fn values(spec: &StudySpec) -> Vec<i64> {
    study(Encoding::Checked)
        .fields
        .iter()
        .zip(&spec.fields)
        .map(|(f, _)| f.lo + (OsRng.next_u64() % (f.width() + 1)) as i64)
        .collect()
}

struct Setup {
    spec: StudySpec,
    keys: fhe::OwnerKeys,
    crs: tfhe::zk::CompactPkeCrs,
    pool: fhe::KeyedPool,
    subs: Vec<(String, String, Vec<u8>)>,
    rows: Vec<Vec<i64>>,
}

fn setup(encoding: Encoding, n: usize) -> Setup {
    let spec = study(encoding);
    let (keys, _) = fhe::key_ceremony(&spec, true, || 0.0).unwrap();
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
        "{encoding:?} encoding: {} encoded bits ({} list entries) per submission; patients: encrypt + prove {:.0} ms each (native), {} bytes",
        spec.total_bits(),
        spec.kinds().len(),
        t.elapsed().as_secs_f64() * 1e3 / n as f64,
        subs[0].2.len()
    );
    Setup {
        spec,
        keys,
        crs,
        pool,
        subs,
        rows,
    }
}

/// The submissions as the aggregator takes them; `proof_checked`: their proofs were
/// checked when the uploads were completed.
fn incoming(subs: &[(String, String, Vec<u8>)], proof_checked: bool) -> Vec<fhe::Incoming<'_>> {
    subs.iter()
        .map(|(id, patient, bytes)| fhe::Incoming {
            id,
            patient,
            bytes,
            proof_checked,
        })
        .collect()
}

/// The relay's check of every proof when its upload is completed (in parallel on the
/// pool, as concurrent completions run); returns the seconds it took.
fn complete_all(s: &Setup) -> f64 {
    use rayon::prelude::*;
    let t = Instant::now();
    s.pool.run(|| {
        s.subs.par_iter().for_each(|(_, who, bytes)| {
            fhe::check_submission(&s.spec, &s.keys.public, &s.crs, who, bytes).unwrap();
        });
    });
    t.elapsed().as_secs_f64()
}

/// phiveil's aggregator as the relay worker runs it, checking each proof itself or
/// (`proof_checked`) trusting the check made at completion; returns the seconds the
/// submissions took to fold, after checking the decrypted release against the plaintext.
fn run_ours(s: &Setup, pool: &fhe::KeyedPool, batch: usize, proof_checked: bool) -> f64 {
    let (spec, keys, crs) = (&s.spec, &s.keys, &s.crs);
    // Split of one submission's cost (sequential, one submission).
    if !proof_checked {
        let (id, who, bytes) = &s.subs[0];
        let t = Instant::now();
        fhe::check_submission(spec, &keys.public, crs, who, bytes).unwrap();
        let verify = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let list: ProvenCompactCiphertextList =
            tfhe::safe_serialization::safe_deserialize(bytes.as_slice(), 1 << 20).unwrap();
        let _exp = list
            .verify_and_expand(crs, &keys.public, &spec.proof_metadata(who))
            .unwrap();
        let expand = t.elapsed().as_secs_f64() - verify;
        let agg = Aggregator::new(spec.clone(), keys.public.clone(), crs.clone()).unwrap();
        let t = Instant::now();
        let e = pool.run(|| agg.verify(id, who, bytes)).unwrap();
        let prepared = t.elapsed().as_secs_f64();
        println!(
            "  one submission, sequential: proof check {:.0} ms, tfhe's expansion {:.0} ms; the worker's proof check, expansion{} and {} {:.0} ms",
            verify * 1e3,
            expand.max(0.0) * 1e3,
            match (spec.encoding, pool.integer_ops()) {
                (Encoding::Proven, false) => " (bootstraps batched)",
                _ => " (tfhe's)",
            },
            match spec.encoding {
                Encoding::Checked => "clamps and comparisons",
                Encoding::Proven => "one-hot and odd-width bounds",
            },
            prepared * 1e3,
        );
        drop(e);
    }
    let t = Instant::now();
    let mut agg = Aggregator::new(spec.clone(), keys.public.clone(), crs.clone()).unwrap();
    let (mut t_verify, mut t_fold, mut t_ckpt) = (0.0, 0.0, 0.0);
    for chunk in s.subs.chunks(batch) {
        let t1 = Instant::now();
        let ok: Vec<_> = agg
            .prepare_many(pool, &incoming(chunk, proof_checked))
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let t2 = Instant::now();
        pool.run(|| agg.fold(ok)).unwrap();
        let t3 = Instant::now();
        let ck = agg.checkpoint().unwrap();
        std::hint::black_box(ck.len());
        t_verify += (t2 - t1).as_secs_f64();
        t_fold += (t3 - t2).as_secs_f64();
        t_ckpt += t3.elapsed().as_secs_f64();
    }
    let ours = t.elapsed().as_secs_f64();
    let n = s.subs.len();
    let t = Instant::now();
    let release = pool.run(|| agg.release(None)).unwrap();
    let t_release = t.elapsed().as_secs_f64();
    println!(
        "  phiveil ({:?}{}, {}): {:.1} submissions/min ({:.0} ms each): {}+expand+checks {:.0}%, folding {:.0}%, checkpoints {:.0}%; release (carries propagated) {:.1} s once",
        spec.encoding,
        if proof_checked { ", worker after completion" } else { "" },
        match (pool.device(), pool.integer_ops()) {
            (fhe::Device::Gpu, _) => "GPU, tfhe's integer operations",
            (fhe::Device::Cpu, true) => "CPU, tfhe's integer operations",
            (fhe::Device::Cpu, false) => "CPU, blocks",
        },
        n as f64 * 60.0 / ours,
        ours * 1e3 / n as f64,
        if proof_checked { "parse" } else { "verify" },
        100.0 * t_verify / ours,
        100.0 * t_fold / ours,
        100.0 * t_ckpt / ours,
        t_release
    );
    let got = fhe::decrypt_release(
        spec,
        &keys.client,
        &Release::from_bytes(&release.to_bytes().unwrap()).unwrap(),
        0.95,
    )
    .unwrap();
    for (i, f) in spec.fields.iter().enumerate() {
        let col: Vec<i64> = s.rows.iter().map(|r| r[i]).collect();
        assert_eq!(got[i].sum, col.iter().sum::<i64>(), "{} sum", f.name);
        for (j, t) in f.at_least.iter().enumerate() {
            let want = col.iter().filter(|v| **v >= *t).count() as u64;
            assert_eq!(got[i].at_least[j], want, "{} >= {t}", f.name);
        }
        if !f.bins.is_empty() {
            let mut want = vec![0u64; f.bins.len() + 1];
            for v in &col {
                want[f.bins.iter().filter(|e| **e <= *v).count()] += 1;
            }
            assert_eq!(got[i].bins, want, "{} histogram", f.name);
        }
    }
    println!("  totals checked against the plaintext aggregates");
    ours
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(32, |s| s.parse().expect("submissions"));
    let batch: usize = std::env::args()
        .nth(2)
        .map_or(32, |s| s.parse().expect("batch"));
    println!(
        "8-field study; {n} submissions; batches of {batch}; {} threads",
        rayon::current_num_threads()
    );
    let rate = |secs: f64| n as f64 * 60.0 / secs;
    let proven = setup(Encoding::Proven, n);
    let worker_checks = run_ours(&proven, &proven.pool, batch, false);
    let fast = rate(worker_checks);
    // The relay as deployed: each proof is checked when its upload is completed, on the
    // same cores as the worker. Before the relay kept the checked bytes' digest, its
    // worker checked every proof a second time.
    let completions = complete_all(&proven);
    let worker_trusts = run_ours(&proven, &proven.pool, batch, true);
    println!(
        "  relay, proven: completions check the proofs {:.0} ms each; the worker then folds {:.1}/min; together {:.1} submissions/min (the worker checking each proof again, as before: {:.1}/min)",
        completions * 1e3 / n as f64,
        rate(worker_trusts),
        rate(completions + worker_trusts),
        rate(completions + worker_checks),
    );
    // `fhe_bench N BATCH gpu`: the same submissions folded by the GPU pool (tfhe's
    // integer operations on CUDA), beside the CPU's blocks above, and by the same
    // integer operations on the CPU (the GPU path's code on the CPU key).
    if std::env::args().nth(3).as_deref() == Some("gpu") {
        let integer = fhe::KeyedPool::with_integer_ops(proven.keys.server.decompress(), 0).unwrap();
        let on_cpu = rate(run_ours(&proven, &integer, batch, false));
        if fhe::Device::gpu_present() {
            let gpu = fhe::KeyedPool::decompress_on(&proven.keys.server, fhe::Device::Gpu).unwrap();
            let on_gpu = rate(run_ours(&proven, &gpu, batch, false));
            let gpu_trusts = run_ours(&proven, &gpu, batch, true);
            println!(
                "  proven, worker checking proofs: GPU {on_gpu:.1}/min, CPU blocks {fast:.1}/min (GPU/CPU {:.2}), CPU integer operations {on_cpu:.1}/min",
                on_gpu / fast
            );
            println!(
                "  relay as deployed (completions check the proofs on the CPU, the worker folds): GPU {:.1}/min, CPU blocks {:.1}/min (GPU/CPU {:.2})",
                rate(completions + gpu_trusts),
                rate(completions + worker_trusts),
                (completions + worker_trusts) / (completions + gpu_trusts)
            );
        } else {
            println!(
                "  no CUDA device here (fhe::Device::gpu_present() is false): the GPU pool is not measured; CPU blocks {fast:.1}/min, CPU integer operations {on_cpu:.1}/min"
            );
        }
        return;
    }
    drop(proven);
    // `fhe_bench N BATCH proven`: only the proven encoding, for side-by-side runs of two
    // builds of the worker.
    if std::env::args().nth(3).as_deref() == Some("proven") {
        return;
    }
    let checked = setup(Encoding::Checked, n);
    let today = rate(run_ours(&checked, &checked.pool, batch, false));
    let Setup {
        spec,
        keys,
        crs,
        subs,
        rows,
        ..
    } = checked;
    fhe::install_server_key(&keys.server);

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
    let minimal_rate = n as f64 * 60.0 / minimal;
    println!(
        "throughput ratios: proven / minimal loop {:.2}x, proven / checked (today's encoding) {:.2}x, checked / minimal loop {:.2}x",
        fast / minimal_rate,
        fast / today,
        today / minimal_rate
    );

    // The minimal loop computed the plaintext totals too.
    for (i, f) in spec.fields.iter().enumerate() {
        let col: Vec<i64> = rows.iter().map(|r| r[i]).collect();
        let truth: i64 = col.iter().sum();
        let s: u32 = sums[i].as_ref().unwrap().decrypt(&keys.client);
        assert_eq!(i64::from(s) + f.lo * n as i64, truth, "{} minimal", f.name);
        for (j, t) in f.at_least.iter().enumerate() {
            let c: u32 = ge[i][f.bins.len() + j]
                .as_ref()
                .unwrap()
                .decrypt(&keys.client);
            let want = col.iter().filter(|v| **v >= *t).count() as u64;
            assert_eq!(u64::from(c), want);
        }
    }
    println!("totals checked: all three equal the plaintext aggregates");
}
