//! Federated DP-SGD on the breast-cancer data, as the relay runs it, without the
//! encryption (the encrypted sum is exact — `tests/tests/training_e2e.rs` asserts it —
//! so the model is the same). Writes the seeded splits for the Flower + Opacus peer and
//! prints one JSON line per (noise mode, split, ε): test accuracy and AUC averaged over
//! seeds. Distributed noise: each client adds a share, the decrypted sum carries σ;
//! per-client: every update carries σ (the trust model of Flower + Opacus).
//!
//! `cargo run --release -p phiveil-core --example fl_bench -- SPLITS.json ROUNDS SEEDS`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    missing_docs
)]

use phiveil_core::fl::{self, training::wdbc_config, LogReg, NoiseMode, Split};
use rand_chacha::rand_core::SeedableRng;
use serde_json::json;

const CLIENTS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "fl-splits.json".into());
    let rounds: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(40);
    let seeds: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(5);
    let data = fl::parse_csv(include_str!("../../tests/data/wdbc.csv")).unwrap();
    let (train, test) = fl::train_test_split(&data, 0.2, 11);
    let std = fl::Standardizer::fit(&train).unwrap();
    let (train, test) = (std.apply(&train), std.apply(&test));
    let rows = |d: &[fl::Example]| -> serde_json::Value {
        json!(d
            .iter()
            .map(|e| json!({"x": e.x, "y": u8::from(e.y)}))
            .collect::<Vec<_>>())
    };
    let mut splits = serde_json::Map::new();
    let kinds = [
        ("iid", Split::Iid),
        ("label-skew", Split::LabelSkew { majority: 0.8 }),
    ];
    let mut parts_of = Vec::new();
    for (name, split) in kinds {
        let parts = fl::split_clients(&train, CLIENTS, split, 2).unwrap();
        splits.insert(
            name.into(),
            json!(parts.iter().map(|p| rows(p)).collect::<Vec<_>>()),
        );
        parts_of.push((name, parts));
    }
    let file =
        json!({"test": rows(&test), "train": rows(&train), "clients": splits, "rounds": rounds});
    std::fs::write(&out, serde_json::to_vec(&file).unwrap()).unwrap();

    let modes = [
        ("distributed", NoiseMode::Distributed),
        ("per-client", NoiseMode::PerClient),
    ];
    for (mode_name, mode) in modes {
        for (name, parts) in &parts_of {
            for eps in [1.0, 3.0, 8.0] {
                let cfg = wdbc_config(
                    rounds,
                    CLIENTS as u32,
                    CLIENTS as u32,
                    0.2,
                    train.len() as u32,
                    eps,
                    mode,
                )
                .unwrap();
                let (mut acc_sum, mut auc_sum, mut clamped) = (0.0, 0.0, 0usize);
                let t0 = std::time::Instant::now();
                for seed in 0..seeds {
                    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1000 + seed);
                    let mut model = LogReg::zeros(30);
                    let mut acct = cfg.accountant().unwrap();
                    for _ in 0..rounds {
                        cfg.check_next_round(&acct).unwrap();
                        let mut sum = vec![0i64; 31];
                        for p in parts {
                            let (u, _) = fl::client_update(
                                &model,
                                p,
                                &cfg.dp_sgd(),
                                cfg.client_noise(),
                                &mut rng,
                            )
                            .unwrap();
                            let (u, c) = cfg.clamp_update(&u).unwrap();
                            clamped += c;
                            for (s, v) in sum.iter_mut().zip(u) {
                                *s += v;
                            }
                        }
                        acct.charge(cfg.sample_rate, cfg.effective_sigma(CLIENTS as u64), 1)
                            .unwrap();
                        model = cfg.apply(&model, &sum).unwrap();
                    }
                    acc_sum += model.accuracy(&test);
                    auc_sum += model.auc(&test);
                }
                let n = seeds as f64;
                println!(
                    "{}",
                    json!({"system": "phiveil", "noise": mode_name, "split": name, "epsilon": eps, "rounds": rounds,
                       "sigma": cfg.noise_multiplier, "accuracy": acc_sum / n, "auc": auc_sum / n,
                       "clamped_coordinates": clamped,
                       "plain_ms_per_round": t0.elapsed().as_secs_f64() * 1e3 / (n * f64::from(rounds))})
                );
            }
        }
    }
}
