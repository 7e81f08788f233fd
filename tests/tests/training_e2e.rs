//! Federated DP-SGD training through the relay, end to end on embedded defaults: a
//! clinician declares a training over the breast-cancer data, runs the key ceremony for
//! round 1 (the relay makes the CRS), five clients compute DP-SGD updates on their own
//! splits and submit them as proven lists, the relay folds them homomorphically and
//! releases each round's encrypted sum, the owner decrypts it, takes the FedAvg step and
//! publishes the next model with its evaluation.
//!
//! Asserted: the decrypted sum equals the sum of the clients' quantized noisy updates bit
//! for bit; a client that drops out mid-round, a malformed update, an out-of-range update
//! (a list of 32-bit values under a valid proof), a round-1 update replayed in round 2 and
//! a second submission are refused or absent and training continues; the relay's ε
//! equals an independent accountant charged with the updates actually folded; the round
//! past the target ε is refused with nothing changed; the curves are served.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)]

use phiveil_core::fhe::{self, Release, StudySpec};
use phiveil_core::fl::{self, Evaluation, LogReg, NoiseMode, TrainingConfig};
use phiveil_tests::relay::{Client, TestRelay};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_core::OsRng;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tfhe::zk::ZkComputeLoad;
use tfhe::ProvenCompactCiphertextList;

struct Keys {
    spec_of: Box<dyn Fn(&str) -> StudySpec>,
    client: tfhe::ClientKey,
    public: tfhe::CompactPublicKey,
    crs: tfhe::zk::CompactPkeCrs,
}

/// One client's update for the current model, clamped as sent.
fn update(
    cfg: &TrainingConfig,
    model: &LogReg,
    data: &[fl::Example],
    rng: &mut ChaCha20Rng,
) -> Vec<i64> {
    let (u, _) = fl::client_update(model, data, &cfg.dp_sgd(), cfg.client_noise(), rng).unwrap();
    let (u, clamped) = cfg.clamp_update(&u).unwrap();
    assert_eq!(
        clamped, 0,
        "no coordinate reaches the bound with these settings"
    );
    u
}

fn encrypt(k: &Keys, study: &str, who: &str, values: &[i64]) -> Vec<u8> {
    fhe::encrypt_submission(
        &(k.spec_of)(study),
        &k.public,
        &k.crs,
        who,
        values,
        &mut OsRng,
    )
    .unwrap()
}

async fn training(c: &Client, id: &str) -> Value {
    let (s, t) = c.get(&format!("/v1/trainings/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    t
}

/// Asks for the round's release, waits for it, decrypts the per-parameter sums.
async fn release(dr: &Client, k: &Keys, study: &str, folded: u64) -> Vec<i64> {
    let (s, body) = dr
        .post(&format!("/v1/studies/{study}/release"), &json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    dr.wait_study(study, "the round's release", |b| b["state"] == "released")
        .await;
    let (s, bytes) = dr.study_artifact(study, "release").await;
    assert_eq!(s, StatusCode::OK);
    let rel = Release::from_bytes(&bytes).unwrap();
    assert_eq!(rel.count, folded);
    fhe::decrypt_release(&(k.spec_of)(study), &k.client, &rel, 0.95)
        .unwrap()
        .into_iter()
        .map(|f| f.sum)
        .collect()
}

fn sum(updates: &[Vec<i64>]) -> Vec<i64> {
    let mut s = vec![0i64; updates[0].len()];
    for u in updates {
        for (a, b) in s.iter_mut().zip(u) {
            *a += b;
        }
    }
    s
}

async fn publish(
    dr: &Client,
    id: &str,
    model: &LogReg,
    test: &[fl::Example],
    last: bool,
) -> (StatusCode, Value) {
    dr.post(
        &format!("/v1/trainings/{id}/model"),
        &json!({"weights": model.w, "evaluation": Evaluation::of(model, test), "last": last}),
    )
    .await
}

async fn train(relay: TestRelay) {
    let (_op, dr, first) = relay.cast().await;
    let mut clients = vec![first];
    for i in 1..5 {
        clients.push(relay.enroll(&dr, &format!("site-{i}")).await);
    }
    let who = |c: &Client| c.pseudonym.clone().unwrap();

    // The data: a stratified held-out split for the owner, five IID client splits.
    let data = fl::parse_csv(include_str!("../data/wdbc.csv")).unwrap();
    let (train, test) = fl::train_test_split(&data, 0.2, 11);
    let std = fl::Standardizer::fit(&train).unwrap();
    let (train, test) = (std.apply(&train), std.apply(&test));
    let parts = fl::split_clients(&train, 5, fl::Split::Iid, 2).unwrap();

    // σ for two worst-case rounds at ε = 3; three rounds declared, so the third is refused.
    let mut cfg = fl::training::wdbc_config(
        2,
        5,
        3,
        0.2,
        train.len() as u32,
        3.0,
        NoiseMode::Distributed,
    )
    .unwrap();
    cfg.rounds = 3;
    let decl = json!({"title": "Breast-cancer diagnosis", "config": cfg});
    let (s, _) = clients[0].post("/v1/trainings", &decl).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let mut bad = cfg.clone();
    bad.scale = 1e6;
    let (s, body) = dr
        .post("/v1/trainings", &json!({"title": "x", "config": bad}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // A training whose key ceremony never happened can be cancelled by its owner
    // (only): it is removed with its key study.
    let (s, doomed) = dr.post("/v1/trainings", &decl).await;
    assert_eq!(s, StatusCode::CREATED, "{doomed}");
    let doomed_path = format!("/v1/trainings/{}", doomed["id"].as_str().unwrap());
    assert_eq!(
        clients[0].delete(&doomed_path).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(dr.delete(&doomed_path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(dr.get(&doomed_path).await.0, StatusCode::NOT_FOUND);
    let doomed_key = format!("/v1/studies/{}", doomed["key_study"].as_str().unwrap());
    assert_eq!(dr.get(&doomed_key).await.0, StatusCode::NOT_FOUND);
    let (s, t) = dr.post("/v1/trainings", &decl).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let id = t["id"].as_str().unwrap().to_owned();
    let key_study = t["key_study"].as_str().unwrap().to_owned();
    assert_eq!(t["round"], 0);
    assert!(t["planned_epsilon"].as_f64().unwrap() > 3.0);
    // Training studies are not listed as private-statistics studies.
    let (_, studies) = dr.get("/v1/studies").await;
    assert!(studies
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["id"] != key_study));

    // The initial model cannot be published before the keys are set.
    let mut model = LogReg::zeros(30);
    let (s, body) = publish(&dr, &id, &model, &test, false).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");

    // Owner: the key ceremony (the browser's work; natively here), CRS left to the relay.
    let spec1 = cfg.round_spec(&key_study);
    let (keys, _) = fhe::key_ceremony(&spec1, false, || 0.0).unwrap();
    let server = fhe::to_bytes(&keys.server).unwrap();
    let public = fhe::to_bytes(&keys.public).unwrap();
    let (s, body) = dr
        .post(
            &format!("/v1/studies/{key_study}/keys"),
            &json!({"server_key": server.len(), "public_key": public.len()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        dr.study_put(&body["uploads"]["server-key"], server).await,
        StatusCode::CREATED
    );
    assert_eq!(
        dr.study_put(&body["uploads"]["public-key"], public).await,
        StatusCode::CREATED
    );
    let (s, body) = dr.open_study(&key_study).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, crs) = clients[0].study_artifact(&key_study, "crs").await;
    assert_eq!(s, StatusCode::OK);
    let cfg2 = cfg.clone();
    let k = Keys {
        spec_of: Box::new(move |study| cfg2.round_spec(study)),
        client: keys.client,
        public: keys.public.clone(),
        crs: fhe::crs_from_bytes(&crs).unwrap(),
    };

    // Only the owner publishes; a model of the wrong shape is refused.
    let (s, _) = publish(&clients[0], &id, &model, &test, false).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = dr
        .post(
            &format!("/v1/trainings/{id}/model"),
            &json!({"weights": [0.0, 1.0]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, t) = publish(&dr, &id, &model, &test, false).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["round"], 1);
    assert_eq!(t["current_study"], key_study.as_str());

    // Round 1: every client reads the model, computes and submits its update.
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let round1 = key_study.clone();
    let mut sent = Vec::new();
    let mut round1_lists = Vec::new();
    for (c, part) in clients.iter().zip(&parts) {
        let t = training(c, &id).await;
        let w: Vec<f64> = serde_json::from_value(t["weights"].clone()).unwrap();
        let u = update(&cfg, &LogReg { w }, part, &mut rng);
        let list = encrypt(&k, &round1, &who(c), &u);
        let (s, body) = c.study_submit(&round1, list.clone()).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        sent.push(u);
        round1_lists.push(list);
    }
    // Only the owner releases.
    let (s, _) = clients[1]
        .post(&format!("/v1/studies/{round1}/release"), &json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let decrypted = release(&dr, &k, &round1, 5).await;
    assert_eq!(
        decrypted,
        sum(&sent),
        "the decrypted sum is the clients' sum, exactly"
    );
    model = cfg.apply(&model, &decrypted).unwrap();
    let (s, t) = publish(&dr, &id, &model, &test, false).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["round"], 2);
    let round2 = t["current_study"].as_str().unwrap().to_owned();
    assert_ne!(round2, round1);

    // Round 2 with trouble.
    let w: Vec<f64> =
        serde_json::from_value(training(&clients[0], &id).await["weights"].clone()).unwrap();
    let current = LogReg { w };
    assert_eq!(current, model);
    let mut sent = Vec::new();
    for (c, part) in clients.iter().zip(&parts).take(3) {
        let u = update(&cfg, &current, part, &mut rng);
        let (s, body) = c
            .study_submit(&round2, encrypt(&k, &round2, &who(c), &u))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        sent.push(u);
    }
    // A second submission by the same client.
    let again = update(&cfg, &current, &parts[0], &mut rng);
    let (s, body) = clients[0]
        .study_submit(&round2, encrypt(&k, &round2, &who(&clients[0]), &again))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    // Client 3 drops out mid-round: registered, never uploaded.
    let (s, dropped) = clients[3]
        .post(
            &format!("/v1/studies/{round2}/submissions"),
            &json!({"size": 1000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{dropped}");
    // Client 4: a malformed update, its round-1 list replayed, then an out-of-range one
    // (32-bit values under a valid proof of that width).
    let c4 = &clients[4];
    let (s, body) = c4.study_submit(&round2, vec![7u8; 4096]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("not a well-formed proven list"));
    let (s, body) = c4.study_submit(&round2, round1_lists[4].clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("proof does not verify"),
        "{body}"
    );
    let mut b = ProvenCompactCiphertextList::builder(&k.public);
    b.push(100_000u32);
    for _ in 0..30 {
        b.push(0u8);
    }
    let wide = b
        .build_with_proof_packed(
            &k.crs,
            &(k.spec_of)(&round2).proof_metadata(&who(c4)),
            ZkComputeLoad::Proof,
        )
        .unwrap();
    let mut bytes = Vec::new();
    tfhe::safe_serialization::safe_serialize(&wide, &mut bytes, 1 << 22).unwrap();
    let (s, body) = c4.study_submit(&round2, bytes).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("field w0 has the wrong type"),
        "{body}"
    );

    let decrypted = release(&dr, &k, &round2, 3).await;
    assert_eq!(
        decrypted,
        sum(&sent),
        "round 2: exactly the three good updates"
    );
    // The dropped client's late completion is refused.
    let sid = dropped["submission"]["id"].as_str().unwrap();
    let (s, _) = clients[3]
        .post(
            &format!("/v1/studies/{round2}/submissions/{sid}/complete"),
            &json!({}),
        )
        .await;
    assert!(s.is_client_error(), "{s}");
    model = cfg.apply(&model, &decrypted).unwrap();

    // The accountant: round 1 carried 5 of 5 noise shares, round 2 three.
    let mut acc = cfg.accountant().unwrap();
    let e1 = acc
        .charge(cfg.sample_rate, cfg.effective_sigma(5), 1)
        .unwrap();
    let e2 = acc
        .charge(cfg.sample_rate, cfg.effective_sigma(3), 1)
        .unwrap();
    // Round 3 would pass ε = 3: refused, nothing recorded.
    let (s, body) = publish(&dr, &id, &model, &test, false).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("past the target"),
        "{body}"
    );
    let t = training(&dr, &id).await;
    assert_eq!(
        (t["round"].as_u64(), t["metrics"].as_array().unwrap().len()),
        (Some(2), 2)
    );
    assert!((t["epsilon"].as_f64().unwrap() - e1).abs() < 1e-9, "{t}");
    let (s, t) = publish(&dr, &id, &model, &test, true).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["state"], "done");
    let eps: Vec<f64> = t["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["epsilon"].as_f64().unwrap())
        .collect();
    assert_eq!(eps.len(), 3);
    assert_eq!(eps[0], 0.0);
    assert!(
        (eps[1] - e1).abs() < 1e-9 && (eps[2] - e2).abs() < 1e-9,
        "{eps:?} vs {e1} {e2}"
    );
    assert!(e2 <= 3.0);
    let m = &t["metrics"][2];
    assert_eq!(m["folded"], 3);
    assert!(m["evaluation"]["accuracy"].as_f64().unwrap() > 0.5, "{m}");
    let (s, _) = publish(&dr, &id, &model, &test, true).await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a finished training takes no model"
    );
    let (s, list) = clients[0].get("/v1/trainings").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list[0]["id"], id.as_str());
    // A finished training cannot be cancelled.
    assert_eq!(
        dr.delete(&format!("/v1/trainings/{id}")).await.0,
        StatusCode::CONFLICT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federated_training_through_the_relay() {
    train(TestRelay::start(|_| {}).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federated_training_on_postgres() {
    if let Some(relay) = TestRelay::start_pg(|_| {}).await {
        train(relay).await;
    }
}
