//! Private statistics through the relay, end to end on embedded defaults: a clinician
//! declares a study and uploads the ceremony's public keys (the relay makes the CRS),
//! patients fetch the public key and CRS, submit proven lists through presigned PUTs,
//! the relay checks each proof at completion, its worker folds accepted submissions in
//! checkpointed batches, survives a crash in either window of a batch without counting
//! anything twice, releases at k with central DP noise, and the owner decrypts exactly
//! the plaintext aggregates. Every bad input is refused with a clear error and audited.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss
)]

use phiveil_core::dp::{Mode, Privacy};
use phiveil_core::fhe::{self, FieldDp, FieldSpec, Release, StudySpec};
use phiveil_tests::forged;
use phiveil_tests::relay::{Client, TestRelay};
use rand_core::OsRng;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tfhe::zk::ZkComputeLoad;
use tfhe::ProvenCompactCiphertextList;

const CT: &str = "application/octet-stream";

fn fields() -> Vec<FieldSpec> {
    let f = FieldSpec::new;
    vec![
        f("heart_rate", 20, 250, vec![60, 100, 140], vec![]),
        f("spo2", 50, 100, vec![], vec![95]),
        f("smoker", 0, 1, vec![], vec![]),
        FieldSpec {
            dp: Some(FieldDp {
                mode: Mode::Central,
                privacy: Privacy::Zcdp { rho: 0.5 },
            }),
            ..f("pain_score", 1, 5, vec![], vec![])
        },
    ]
}

fn values(i: i64) -> Vec<i64> {
    vec![
        40 + (i * 37) % 150,
        85 + (i * 7) % 16,
        i % 3 / 2,
        1 + (i * 5) % 5,
    ]
}

async fn put_object(c: &Client, upload: &Value, bytes: Vec<u8>) {
    assert_eq!(c.study_put(upload, bytes).await, StatusCode::CREATED);
}

async fn submit(c: &Client, study: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    c.study_submit(study, bytes).await
}

async fn download(c: &Client, study: &str, kind: &str) -> (StatusCode, Vec<u8>) {
    c.study_artifact(study, kind).await
}

async fn wait_until(c: &Client, study: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    c.wait_study(study, what, ok).await
}

fn encrypt(
    spec: &StudySpec,
    pk: &tfhe::CompactPublicKey,
    crs: &tfhe::zk::CompactPkeCrs,
    who: &str,
    v: &[i64],
) -> Vec<u8> {
    fhe::encrypt_submission(spec, pk, crs, who, v, &mut OsRng).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn study_through_the_relay() {
    let relay = TestRelay::start(|_| {}).await;
    let (op, dr, alice) = relay.cast().await;
    let mut patients = vec![alice];
    for i in 1..5 {
        patients.push(relay.enroll(&dr, &format!("patient-{i}")).await);
    }
    let rogue = relay.enroll(&dr, "rogue").await;
    let late = relay.enroll(&dr, "late").await;

    // Only clinicians own studies; the declaration is checked.
    let decl = json!({"title": "Resting vitals 2026", "fields": fields(), "min_cohort": 5});
    let (s, _) = patients[0].post("/v1/studies", &decl).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = dr
        .post(
            "/v1/studies",
            &json!({"title": "x", "fields": [{"name": "a", "lo": 5, "hi": 5}], "min_cohort": 5}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // A study that never opened can be cancelled by its owner (only).
    let (s, doomed) = dr.post("/v1/studies", &decl).await;
    assert_eq!(s, StatusCode::CREATED, "{doomed}");
    let doomed = format!("/v1/studies/{}", doomed["id"].as_str().unwrap());
    assert_eq!(patients[0].delete(&doomed).await.0, StatusCode::FORBIDDEN);
    assert_eq!(dr.delete(&doomed).await.0, StatusCode::NO_CONTENT);
    assert_eq!(dr.get(&doomed).await.0, StatusCode::NOT_FOUND);
    let (s, study) = dr.post("/v1/studies", &decl).await;
    assert_eq!(s, StatusCode::CREATED, "{study}");
    let id = study["id"].as_str().unwrap().to_owned();
    let spec: StudySpec = serde_json::from_value(study["spec"].clone()).unwrap();
    assert_eq!(spec.id, id);

    // Owner: the ceremony (the browser's work, natively here; the wasm path has its own
    // test), public outputs uploaded, the CRS left to the relay.
    let (keys, timings) = fhe::key_ceremony(&spec, false, || 0.0).unwrap();
    let _ = timings;
    let server = fhe::to_bytes(&keys.server).unwrap();
    let public = fhe::to_bytes(&keys.public).unwrap();
    let wrapped = b"wrapped client key stand-in".to_vec();
    let sizes = json!({"server_key": server.len(), "public_key": public.len(), "wrapped_client_key": wrapped.len()});
    let (s, body) = dr.post(&format!("/v1/studies/{id}/keys"), &sizes).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // A patient cannot submit before the study opens.
    let (s, _) = patients[0]
        .post(
            &format!("/v1/studies/{id}/submissions"),
            &json!({"size": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Opening before the uploads is refused.
    let (s, _) = dr.open_study(&id).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // A ceremony whose opening fails (here a corrupted public key) can be run again:
    // the failure is audited and shown on the study, new upload URLs are issued (the
    // failed attempt's objects are never overwritten), and the retry opens it.
    put_object(&dr, &body["uploads"]["server-key"], server.clone()).await;
    put_object(&dr, &body["uploads"]["public-key"], vec![7u8; public.len()]).await;
    put_object(&dr, &body["uploads"]["wrapped-client-key"], wrapped.clone()).await;
    let (s, failed) = dr.open_study(&id).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{failed}");
    let (_, shown) = dr.get(&format!("/v1/studies/{id}")).await;
    assert_eq!(shown["state"], "keys-pending");
    assert!(shown["open_error"].is_string(), "{shown}");
    let (s, body) = dr.post(&format!("/v1/studies/{id}/keys"), &sizes).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    put_object(&dr, &body["uploads"]["server-key"], server).await;
    put_object(&dr, &body["uploads"]["public-key"], public).await;
    put_object(&dr, &body["uploads"]["wrapped-client-key"], wrapped.clone()).await;
    let (s, opened) = dr.open_study(&id).await;
    assert_eq!(s, StatusCode::OK, "{opened}");
    assert_eq!(opened["state"], "open");
    assert!(opened.get("open_error").is_none(), "{opened}");
    let (_, audit) = op.get("/v1/audit?action=study-open").await;
    let outcomes: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"refused") && outcomes.contains(&"allowed"),
        "{outcomes:?}"
    );
    // An open study cannot be cancelled.
    assert_eq!(
        dr.delete(&format!("/v1/studies/{id}")).await.0,
        StatusCode::CONFLICT
    );
    // The wrapped client key is the owner's alone.
    assert_eq!(
        download(&dr, &id, "wrapped-client-key").await,
        (StatusCode::OK, wrapped)
    );
    assert_eq!(
        download(&patients[0], &id, "wrapped-client-key").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        download(&patients[0], &id, "server-key").await.0,
        StatusCode::FORBIDDEN
    );

    // Patients fetch the public key and the relay-made CRS.
    let (s, pk) = download(&patients[0], &id, "public-key").await;
    assert_eq!(s, StatusCode::OK);
    let (s, crs) = download(&patients[0], &id, "crs").await;
    assert_eq!(s, StatusCode::OK);
    let pk = fhe::public_key_from_bytes(&pk).unwrap();
    let crs = fhe::crs_from_bytes(&crs).unwrap();

    let who = |c: &Client| c.pseudonym.clone().unwrap();
    // Three patients submit; the worker folds them.
    for (i, p) in patients.iter().enumerate().take(3) {
        let (s, body) = submit(
            p,
            &id,
            encrypt(&spec, &pk, &crs, &who(p), &values(i as i64)),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["state"], "accepted");
    }
    wait_until(&dr, &id, "3 folded", |b| b["folded"] == 3).await;

    // Bad input, each refused with a clear error, none counted.
    let p0 = &patients[0];
    let (s, body) = submit(p0, &id, encrypt(&spec, &pk, &crs, &who(p0), &values(0))).await;
    assert_eq!(s, StatusCode::CONFLICT, "a second submission: {body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("one submission per patient"));
    let p3 = &patients[3];
    let (s, body) = submit(p3, &id, b"garbage, not a ciphertext list".to_vec()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("not a well-formed proven list"));
    // A replay of another patient's list: its proof is bound to that patient.
    let replay = encrypt(&spec, &pk, &crs, &who(p0), &values(3));
    let (s, body) = submit(p3, &id, replay.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("proof does not verify"));
    // A list under another study's key and CRS.
    let other = StudySpec {
        id: "st-other".into(),
        ..spec.clone()
    };
    let (other_keys, _) = fhe::key_ceremony(&other, true, || 0.0).unwrap();
    let foreign = encrypt(
        &other,
        &other_keys.public,
        other_keys.crs.as_ref().unwrap(),
        &who(p3),
        &values(3),
    );
    let (s, body) = submit(p3, &id, foreign).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A flipped byte (the proof or the ciphertext no longer match).
    let mut flipped = encrypt(&spec, &pk, &crs, &who(p3), &values(3));
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let (s, body) = submit(p3, &id, flipped).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // An upload of another size than registered (its slot stays pending until the URL
    // expires).
    let (s, reg) = late
        .post(
            &format!("/v1/studies/{id}/submissions"),
            &json!({"size": 10}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        late.presigned_put(&reg["upload"], vec![0; 11], CT).await,
        StatusCode::BAD_REQUEST
    );
    // Refused submissions left the patient's slot free. The patient's list view shows
    // each with its reason.
    let (_, mine) = p3.get(&format!("/v1/studies/{id}/submission")).await;
    let refused: Vec<&Value> = mine
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "refused")
        .collect();
    assert_eq!(refused.len(), 4, "{mine}");
    // Before k the release is refused.
    let (s, body) = dr
        .post(&format!("/v1/studies/{id}/release"), &json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("cohort is too small"));
    // Only the owner releases.
    let (s, _) = patients[1]
        .post(&format!("/v1/studies/{id}/release"), &json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A bypassed client: out-of-range values under a valid proof (fit the bits, exceed
    // the declared ranges): clamped under encryption to 250, 100, 1.
    let rogue_list = {
        let mut b = ProvenCompactCiphertextList::builder(&pk);
        b.push_with_num_bits(255u64 - 20, 8).unwrap();
        b.push_with_num_bits(63u64, 6).unwrap();
        b.push_with_num_bits(3u64, 2).unwrap();
        b.push_with_num_bits(15u64, 4).unwrap();
        let list = b
            .build_with_proof_packed(
                &crs,
                &spec.proof_metadata(&who(&rogue)),
                ZkComputeLoad::Proof,
            )
            .unwrap();
        fhe::to_bytes(&list).unwrap()
    };
    let (s, body) = submit(&rogue, &id, rogue_list).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    for (i, p) in patients.iter().enumerate().skip(3) {
        let (s, body) = submit(
            p,
            &id,
            encrypt(&spec, &pk, &crs, &who(p), &values(i as i64)),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    wait_until(&dr, &id, "6 folded", |b| b["folded"] == 6).await;

    // Crash in the window between a batch's checkpoint object and its commit: the
    // database still points at the previous checkpoint and the batch is still queued.
    // And the other window's image: the commit of the pointer landed but the batch's
    // rows did not. Both are replayed from what the database says; neither counts twice.
    let ckpts = relay_checkpoints(&relay, &id);
    assert!(ckpts.len() >= 2, "{ckpts:?}");
    let relay = relay.restart().await;
    {
        let (seq, key, folded) = ckpts[ckpts.len() - 2].clone();
        let covered = checkpoint_ids(&relay, &key);
        let last_batch: Vec<String> = folded_ids(&relay, &id)
            .into_iter()
            .filter(|s| !covered.contains(s))
            .collect();
        assert!(!last_batch.is_empty());
        // One object of the batch is overwritten meanwhile, as a presigned upload that is
        // still valid could: the proof was checked on the original bytes, so the worker
        // refuses the new ones rather than folding them unchecked.
        let victim = last_batch[0].clone();
        let path = relay_object(&relay, &submission_object(&relay, &victim));
        let original = std::fs::read(&path).unwrap();
        std::fs::write(
            &path,
            original.iter().map(|b| b ^ 0x5a).collect::<Vec<u8>>(),
        )
        .unwrap();
        rewind(&relay, &id, seq, &key, folded, &last_batch);
        let (state, reason) = settled(&relay, &victim).await;
        assert_eq!(state, "refused");
        assert_eq!(
            reason.as_deref(),
            Some("the list changed after its proof was checked")
        );
        // The original bytes back: folded without checking the proof again.
        std::fs::write(&path, &original).unwrap();
        requeue(&relay, &victim);
    }
    let dr = rebase(&dr, &relay);
    wait_until(&dr, &id, "6 folded after the crash", |b| {
        b["folded"] == 6 && b["queued"] == 0
    })
    .await;
    // The other window: the pointer moved but the batch's rows still say queued. The
    // checkpoint already holds them: they are marked folded, not added again.
    let again = folded_ids(&relay, &id);
    assert_eq!(again.len(), 6);
    {
        let conn = rusqlite::Connection::open(relay.dir.join("relay.sqlite3")).unwrap();
        for b in &again {
            conn.execute(
                "UPDATE study_submissions SET state = 'accepted' WHERE id = ?1",
                [b],
            )
            .unwrap();
        }
        relay.state.study_work.wake();
    }
    wait_until(&dr, &id, "the replayed rows settled", |b| b["queued"] == 0).await;
    let (_, b) = dr.get(&format!("/v1/studies/{id}")).await;
    assert_eq!(b["folded"], 6, "{b}");

    // Release at k; afterwards nothing more is taken.
    let (s, body) = dr
        .post(&format!("/v1/studies/{id}/release"), &json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let late = rebase(&late, &relay);
    let (s, body) = submit(
        &late,
        &id,
        encrypt(&spec, &pk, &crs, &who(&late), &values(9)),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("released"));
    wait_until(&dr, &id, "the release", |b| b["state"] == "released").await;
    let (s, _) = dr
        .post(&format!("/v1/studies/{id}/release"), &json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let p1 = rebase(&patients[1], &relay);
    assert_eq!(download(&p1, &id, "release").await.0, StatusCode::FORBIDDEN);
    let (s, bytes) = download(&dr, &id, "release").await;
    assert_eq!(s, StatusCode::OK);
    let release = Release::from_bytes(&bytes).unwrap();
    assert_eq!(release.count, 6);
    let results = fhe::decrypt_release(&spec, &keys.client, &release, 0.999_999).unwrap();

    let mut rows: Vec<Vec<i64>> = (0..5).map(values).collect();
    rows.push(vec![250, 100, 1, 5]);
    for (j, (f, r)) in spec.fields.iter().zip(&results).enumerate() {
        let col: Vec<i64> = rows.iter().map(|v| v[j]).collect();
        let truth: i64 = col.iter().sum();
        match &r.sum_interval {
            None => assert_eq!(r.sum, truth, "{}", f.name),
            Some(iv) => {
                // Central noise: the relay added N_Z(0, 25/(2·0.5)) under encryption.
                assert!(
                    iv.low <= truth as f64 && truth as f64 <= iv.high,
                    "{} {iv:?} {truth}",
                    f.name
                );
                assert!(r.mean_interval.is_some());
            }
        }
        let (bins, at_least) = phiveil_tests::expected_counts(f, &col);
        assert_eq!(r.bins, bins, "{} histogram", f.name);
        assert_eq!(r.at_least, at_least, "{} thresholds", f.name);
    }

    // Every refusal is in the audit log with its reason.
    let op = rebase(&op, &relay);
    let (s, log) = op
        .get("/v1/audit?action=study-submit-complete&outcome=refused")
        .await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let details: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(details.len() >= 4, "{details:?}");
    assert!(details.iter().any(|d| d.contains("proof does not verify")));
    let (_, log) = op
        .get("/v1/audit?action=study-submit&outcome=refused")
        .await;
    let n = log.as_array().unwrap().len();
    assert!(n >= 2, "duplicate and late submissions audited: {log}");
}

/// (checkpoint_seq, checkpoint_key, folded) of every checkpoint object in the store, in
/// commit order (the relay keeps each batch's checkpoint).
fn relay_checkpoints(relay: &TestRelay, id: &str) -> Vec<(i64, String, i64)> {
    let dir = relay.dir.join("objects").join("studies").join(id);
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for e in entries {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix("checkpoint-") {
            let seq: i64 = rest.split('-').next().unwrap().parse().unwrap();
            out.push((seq, format!("studies/{id}/{name}"), 0));
        }
    }
    out.sort();
    // The folded count at each checkpoint is in its header.
    for c in &mut out {
        let bytes = std::fs::read(relay_object(relay, &c.1)).unwrap();
        let len = u32::from_be_bytes(bytes[5..9].try_into().unwrap()) as usize;
        let header: Value = serde_json::from_slice(&bytes[9..9 + len]).unwrap();
        c.2 = header["count"].as_i64().unwrap();
    }
    out
}

fn relay_object(relay: &TestRelay, key: &str) -> std::path::PathBuf {
    relay.dir.join("objects").join(key)
}

/// Every folded submission of the study.
fn folded_ids(relay: &TestRelay, id: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(relay.dir.join("relay.sqlite3")).unwrap();
    let mut stmt = conn
        .prepare("SELECT id FROM study_submissions WHERE study = ?1 AND state = 'folded'")
        .unwrap();
    let ids = stmt
        .query_map([id], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    ids
}

/// The submission ids a checkpoint object covers (its header).
fn checkpoint_ids(relay: &TestRelay, key: &str) -> Vec<String> {
    let bytes = std::fs::read(relay_object(relay, key)).unwrap();
    let len = u32::from_be_bytes(bytes[5..9].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[9..9 + len]).unwrap();
    serde_json::from_value(header["seen"].clone()).unwrap()
}

/// Puts the database back to checkpoint `seq` with `batch` queued again, as a crash
/// before the batch's commit leaves it (one relay: the study has one lane).
fn rewind(relay: &TestRelay, id: &str, seq: i64, key: &str, folded: i64, batch: &[String]) {
    let conn = rusqlite::Connection::open(relay.dir.join("relay.sqlite3")).unwrap();
    let lanes = conn
        .execute(
            "UPDATE study_lanes SET seq = ?1, checkpoint_key = ?2, folded = ?3, lease_until = 0 WHERE study = ?4",
            rusqlite::params![seq, key, folded, id],
        )
        .unwrap();
    assert_eq!(lanes, 1, "one relay folds into one lane");
    conn.execute(
        "UPDATE studies SET folded = ?1 WHERE id = ?2",
        rusqlite::params![folded, id],
    )
    .unwrap();
    for b in batch {
        conn.execute(
            "UPDATE study_submissions SET state = 'accepted' WHERE id = ?1",
            [b],
        )
        .unwrap();
    }
    relay.state.study_work.wake();
}

/// The object key of submission `sid`.
fn submission_object(relay: &TestRelay, sid: &str) -> String {
    let conn = rusqlite::Connection::open(relay.dir.join("relay.sqlite3")).unwrap();
    conn.query_row(
        "SELECT object_key FROM study_submissions WHERE id = ?1",
        [sid],
        |r| r.get(0),
    )
    .unwrap()
}

/// The state and reason of submission `sid` once the worker has decided it.
async fn settled(relay: &TestRelay, sid: &str) -> (String, Option<String>) {
    for _ in 0..600 {
        let conn = rusqlite::Connection::open(relay.dir.join("relay.sqlite3")).unwrap();
        let (state, reason): (String, Option<String>) = conn
            .query_row(
                "SELECT state, reason FROM study_submissions WHERE id = ?1",
                [sid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        if state != "accepted" {
            return (state, reason);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("submission {sid} was never folded or refused");
}

/// Queues submission `sid` again.
fn requeue(relay: &TestRelay, sid: &str) {
    let conn = rusqlite::Connection::open(relay.dir.join("relay.sqlite3")).unwrap();
    conn.execute(
        "UPDATE study_submissions SET state = 'accepted', reason = NULL WHERE id = ?1",
        [sid],
    )
    .unwrap();
    relay.state.study_work.wake();
}

fn rebase(c: &Client, relay: &TestRelay) -> Client {
    let mut c = c.clone();
    c.base = relay.base.clone();
    c
}

/// Declares `decl` as the clinician `dr`, runs the ceremony natively (with its CRS),
/// uploads the keys and opens the study. Returns its id, spec and keys.
async fn declare_and_open(dr: &Client, decl: &Value) -> (String, StudySpec, fhe::OwnerKeys) {
    let (s, study) = dr.post("/v1/studies", decl).await;
    assert_eq!(s, StatusCode::CREATED, "{study}");
    let id = study["id"].as_str().unwrap().to_owned();
    let spec: StudySpec = serde_json::from_value(study["spec"].clone()).unwrap();
    let (keys, _) = fhe::key_ceremony(&spec, true, || 0.0).unwrap();
    let server = fhe::to_bytes(&keys.server).unwrap();
    let public = fhe::to_bytes(&keys.public).unwrap();
    let crs = keys.crs.as_ref().unwrap();
    let crs_bytes = fhe::to_bytes(crs).unwrap();
    let (s, body) = dr
        .post(
            &format!("/v1/studies/{id}/keys"),
            &json!({"server_key": server.len(), "public_key": public.len(), "crs": crs_bytes.len()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    put_object(dr, &body["uploads"]["server-key"], server).await;
    put_object(dr, &body["uploads"]["public-key"], public).await;
    put_object(dr, &body["uploads"]["crs"], crs_bytes).await;
    let (s, body) = dr.open_study(&id).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    (id, spec, keys)
}

/// The study tables and the aggregation worker on PostgreSQL (the helpers' `$n`
/// placeholders, guarded transactions and unique-index conflicts): open, one
/// submission folded, a second refused, release refused below k.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn study_on_postgres() {
    let Some(relay) = TestRelay::start_pg(|_| {}).await else {
        return;
    };
    let (_op, dr, alice) = relay.cast().await;
    let decl = json!({"title": "PG study", "fields": [{"name": "smoker", "lo": 0, "hi": 1}], "min_cohort": 2});
    let (id, spec, keys) = declare_and_open(&dr, &decl).await;
    let crs = keys.crs.as_ref().unwrap();
    let (_, list) = alice.get("/v1/studies").await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == id.as_str()));
    let me = alice.pseudonym.clone().unwrap();
    let (s, body) = submit(&alice, &id, encrypt(&spec, &keys.public, crs, &me, &[1])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = submit(&alice, &id, encrypt(&spec, &keys.public, crs, &me, &[0])).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    wait_until(&dr, &id, "1 folded", |b| b["folded"] == 1).await;
    let (s, body) = dr
        .post(&format!("/v1/studies/{id}/release"), &json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
}

/// The proven encoding through the relay (issue 18): what the relay accepts moves each
/// total by at most what an honest client's submission could. Honest patients, then
/// bypassed clients: two hot histogram cells (counted in no cell), no hot cell (same),
/// a 3-bit field sent as 15 in its 4-bit type (bounded to 7, the range's top), a cell
/// beyond the histogram (an extra entry: refused at completion), a wider type
/// (refused). The release decrypts to exactly those totals.
async fn proven_flow(relay: &TestRelay) {
    let (_op, dr, alice) = relay.cast().await;
    let mut patients = vec![alice];
    for i in 1..7 {
        patients.push(relay.enroll(&dr, &format!("patient-{i}")).await);
    }
    let fields = json!([
        {"name": "heart_rate", "lo": 20, "hi": 275, "bins": [60, 100, 140]},
        {"name": "score", "lo": 1, "hi": 8, "at_least": [4]},
        {"name": "smoker", "lo": 0, "hi": 1},
    ]);
    // A range that does not hold 2^k values is refused in this encoding.
    let (s, body) = dr
        .post(
            "/v1/studies",
            &json!({"title": "x", "encoding": "proven", "min_cohort": 2,
                "fields": [{"name": "heart_rate", "lo": 20, "hi": 250}]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("power of two"),
        "{body}"
    );
    let decl =
        json!({"title": "Proven vitals", "encoding": "proven", "fields": fields, "min_cohort": 2});
    let (id, spec, keys) = declare_and_open(&dr, &decl).await;
    assert_eq!(spec.encoding, fhe::Encoding::Proven);
    let crs = keys.crs.as_ref().unwrap();

    let who = |c: &Client| c.pseudonym.clone().unwrap();
    let pk = &keys.public;
    // Honest: (heart 72, score 5, smoker 1) and (heart 150, score 2, smoker 0).
    for (p, v) in [(&patients[0], [72, 5, 1]), (&patients[1], [150, 2, 0])] {
        let (s, body) = submit(p, &id, encrypt(&spec, pk, crs, &who(p), &v)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    use phiveil_tests::Entry::{Bit, Value};
    let bypassed = phiveil_tests::bypassed_proven_clients();
    for (p, entries) in patients[2..5].iter().zip(&bypassed) {
        let (s, body) = submit(p, &id, forged(&spec, pk, crs, &who(p), entries)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    // A cell beyond the histogram: one entry too many. Refused at completion.
    let mut extra = bypassed[0].clone();
    extra.insert(5, Bit(true));
    let p5 = &patients[5];
    let (s, body) = submit(p5, &id, forged(&spec, pk, crs, &who(p5), &extra)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("wrong number of entries"),
        "{body}"
    );
    // The score in a wider type than its field's (6 bits: up to 63). Refused.
    let mut wide = bypassed[0].clone();
    wide[5] = Value(63, 6);
    let p6 = &patients[6];
    let (s, body) = submit(p6, &id, forged(&spec, pk, crs, &who(p6), &wide)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("score has the wrong type"),
        "{body}"
    );

    wait_until(&dr, &id, "5 folded", |b| b["folded"] == 5).await;
    let (s, body) = dr
        .post(&format!("/v1/studies/{id}/release"), &json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    wait_until(&dr, &id, "the release", |b| b["state"] == "released").await;
    let (s, bytes) = download(&dr, &id, "release").await;
    assert_eq!(s, StatusCode::OK);
    let release = Release::from_bytes(&bytes).unwrap();
    assert_eq!(release.count, 5);
    let r = fhe::decrypt_release(&spec, &keys.client, &release, 0.99).unwrap();
    // Sums: every value counts, bounded to its range.
    assert_eq!(r[0].sum, 72 + 150 + 100 + 275 + 40);
    assert_eq!(r[1].sum, 5 + 2 + 3 + 4 + 8);
    assert_eq!(r[2].sum, 1 + 1);
    // Histogram: the two honest patients and the one-hot bypassed one (cell 0); the
    // two-hot and no-hot ones count in no cell.
    assert_eq!(r[0].bins, vec![1, 1, 0, 1]);
    // Threshold score ≥ 4: honest 5, and the two bypassed bits set (each counts once).
    assert_eq!(r[1].at_least, vec![3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proven_encoding_bounds_bypassed_clients() {
    let relay = TestRelay::start(|_| {}).await;
    proven_flow(&relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proven_encoding_bounds_bypassed_clients_on_postgres() {
    let Some(relay) = TestRelay::start_pg(|_| {}).await else {
        return;
    };
    proven_flow(&relay).await;
}
