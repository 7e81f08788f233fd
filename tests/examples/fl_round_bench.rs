//! Seconds per federated round through a real relay (in process, SQLite, its TFHE worker),
//! 5 clients on the breast-cancer splits, split into the steps of a round:
//!
//! * client compute — Poisson sample, clipped quantized gradients, noise share, clamp;
//! * proof — encrypting the 31 coordinates as a proven compact list (native here; the
//!   browser's figure is printed by `www/test/training.test.mjs`);
//! * upload — registering the submission and the presigned PUT of the list;
//! * relay verification — the completion call, where the relay checks the proof;
//! * relay aggregation — from the last completion to the release written: the worker's
//!   expansion and homomorphic addition of the lists (it starts folding as lists
//!   arrive) and the release;
//! * owner decryption — downloading the release and decrypting the 31 sums;
//! * publish — FedAvg, evaluation on the held-out split, the model posted.
//!
//! One JSON line per round, then the mean of the rounds after the first (the first also
//! pays the worker's one-time server-key decompression). A benchmark, not a test:
//! `cargo run -p phiveil-tests --example fl_round_bench -- [ROUNDS=3]` (scripts/bench-fl.sh
//! runs it). tfhe is optimized in the dev profile (see Cargo.toml), so the TFHE steps run
//! at optimized speed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)]

use std::time::Instant;

use phiveil_core::fhe::{self, Release};
use phiveil_core::fl::{self, Evaluation, LogReg, NoiseMode};
use phiveil_tests::relay::TestRelay;
use rand_core::OsRng;
use reqwest::StatusCode;
use serde_json::{json, Value};

const CLIENTS: usize = 5;
const STEPS: [&str; 7] = [
    "client_compute",
    "proof",
    "upload",
    "relay_verification",
    "relay_aggregation",
    "owner_decryption",
    "publish",
];

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3)
        .max(2);
    let relay = TestRelay::start(|_| {}).await;
    let (_op, dr, first) = relay.cast().await;
    let mut clients = vec![first];
    for i in 1..CLIENTS {
        clients.push(relay.enroll(&dr, &format!("site-{i}")).await);
    }

    let data = fl::parse_csv(include_str!("../data/wdbc.csv")).unwrap();
    let (train, test) = fl::train_test_split(&data, 0.2, 11);
    let std = fl::Standardizer::fit(&train).unwrap();
    let (train, test) = (std.apply(&train), std.apply(&test));
    let parts = fl::split_clients(&train, CLIENTS, fl::Split::Iid, 2).unwrap();
    let cfg = fl::training::wdbc_config(
        rounds,
        CLIENTS as u32,
        CLIENTS as u32,
        0.2,
        train.len() as u32,
        8.0,
        NoiseMode::Distributed,
    )
    .unwrap();

    let (s, t) = dr
        .post(
            "/v1/trainings",
            &json!({"title": "Round benchmark", "config": cfg}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let id = t["id"].as_str().unwrap().to_owned();
    let key_study = t["key_study"].as_str().unwrap().to_owned();

    // Set-up, once per training: the owner's key ceremony and the relay's opening.
    let t0 = Instant::now();
    let (keys, _) = fhe::key_ceremony(&cfg.round_spec(&key_study), false, || 0.0).unwrap();
    let ceremony = secs(t0);
    let server = fhe::to_bytes(&keys.server).unwrap();
    let public = fhe::to_bytes(&keys.public).unwrap();
    let (_, body) = dr
        .post(
            &format!("/v1/studies/{key_study}/keys"),
            &json!({"server_key": server.len(), "public_key": public.len()}),
        )
        .await;
    dr.study_put(&body["uploads"]["server-key"], server).await;
    dr.study_put(&body["uploads"]["public-key"], public).await;
    let t0 = Instant::now();
    let (s, body) = dr.open_study(&key_study).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let opening = secs(t0);
    let (_, crs) = clients[0].study_artifact(&key_study, "crs").await;
    let crs = fhe::crs_from_bytes(&crs).unwrap();
    println!(
        "{}",
        json!({"setup": {"owner_key_ceremony_s": ceremony, "relay_open_s": opening}})
    );

    let mut model = LogReg::zeros(30);
    let (s, t) = dr
        .post(
            &format!("/v1/trainings/{id}/model"),
            &json!({"weights": model.w, "evaluation": Evaluation::of(&model, &test)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");

    let mut rows = Vec::new();
    for round in 1..=rounds {
        let (_, t) = dr.get(&format!("/v1/trainings/{id}")).await;
        let study = t["current_study"].as_str().unwrap().to_owned();
        let spec = cfg.round_spec(&study);
        let mut step = [0.0f64; 7];
        let mut lists = Vec::new();
        let mut bytes = 0usize;
        for (c, part) in clients.iter().zip(&parts) {
            let t0 = Instant::now();
            let (u, _) =
                fl::client_update(&model, part, &cfg.dp_sgd(), cfg.client_noise(), &mut OsRng)
                    .unwrap();
            let (u, _) = cfg.clamp_update(&u).unwrap();
            step[0] += secs(t0);
            let t0 = Instant::now();
            let who = c.pseudonym.clone().unwrap();
            let list =
                fhe::encrypt_submission(&spec, &keys.public, &crs, &who, &u, &mut OsRng).unwrap();
            step[1] += secs(t0);
            bytes = list.len();
            lists.push(list);
        }
        let mut last_completion = Instant::now();
        for (c, list) in clients.iter().zip(lists) {
            let t0 = Instant::now();
            let (s, reg) = c
                .post(
                    &format!("/v1/studies/{study}/submissions"),
                    &json!({"size": list.len()}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{reg}");
            assert_eq!(c.study_put(&reg["upload"], list).await, StatusCode::CREATED);
            step[2] += secs(t0);
            let sid = reg["submission"]["id"].as_str().unwrap();
            let t0 = Instant::now();
            let (s, body) = c
                .post(
                    &format!("/v1/studies/{study}/submissions/{sid}/complete"),
                    &json!({}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{body}");
            step[3] += secs(t0);
            last_completion = Instant::now();
        }
        let (s, body) = dr
            .post(&format!("/v1/studies/{study}/release"), &json!({}))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}");
        dr.wait_study(&study, "the release", |b| b["state"] == "released")
            .await;
        step[4] = secs(last_completion);
        let t0 = Instant::now();
        let (_, rel) = dr.study_artifact(&study, "release").await;
        let rel = Release::from_bytes(&rel).unwrap();
        let sum: Vec<i64> = fhe::decrypt_release(&spec, &keys.client, &rel, 0.95)
            .unwrap()
            .into_iter()
            .map(|f| f.sum)
            .collect();
        step[5] = secs(t0);
        let t0 = Instant::now();
        model = cfg.apply(&model, &sum).unwrap();
        let ev = Evaluation::of(&model, &test);
        let (s, body) = dr
            .post(
                &format!("/v1/trainings/{id}/model"),
                &json!({"weights": model.w, "evaluation": ev, "last": round == rounds}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        step[6] = secs(t0);
        let total: f64 = step.iter().sum();
        let mut row = serde_json::Map::new();
        row.insert("round".into(), json!(round));
        for (k, v) in STEPS.iter().zip(step) {
            row.insert(format!("{k}_s"), json!(v));
        }
        row.insert("total_s".into(), json!(total));
        row.insert("list_bytes".into(), json!(bytes));
        row.insert("test_loss".into(), json!(ev.loss));
        row.insert("accuracy".into(), json!(ev.accuracy));
        println!("{}", Value::Object(row));
        rows.push(step);
    }
    let warm = &rows[1..];
    let n = warm.len() as f64;
    let mut mean = serde_json::Map::new();
    mean.insert("clients".into(), json!(CLIENTS));
    mean.insert("rounds_averaged".into(), json!(warm.len()));
    mean.insert(
        "cores".into(),
        json!(std::thread::available_parallelism().map_or(0, |c| c.get())),
    );
    for (i, k) in STEPS.iter().enumerate() {
        mean.insert(
            format!("{k}_s"),
            json!(warm.iter().map(|r| r[i]).sum::<f64>() / n),
        );
    }
    mean.insert(
        "total_s".into(),
        json!(warm.iter().map(|r| r.iter().sum::<f64>()).sum::<f64>() / n),
    );
    println!("{}", json!({ "mean_after_round_1": mean }));
}
