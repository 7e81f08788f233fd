//! End-to-end records (issue: records only the patient and their granted clinicians can
//! open). Accounts publish ECDH public keys through the relay; a patient writes a record
//! wrapped for itself and the clinician granted at the time (ESDK raw ECDH keyring
//! entries), shares it later with a second clinician by a key share made on the
//! patient's side, revokes the first, restores its private key on a second device from
//! the passphrase-wrapped backup, and reads again. Whoever runs the relay, holding its
//! data directory, its master key and its logs, finds neither the data key nor the
//! plaintext anywhere, and the relay's KMS unwraps nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use phiveil_core::esdk::context::record_context;
use phiveil_core::esdk::keyring::DecryptionMaterials;
use phiveil_core::esdk::{
    self, share_data_key, Curve, DecryptOptions, EcPrivateKey, EncryptOptions, EncryptedDataKey,
    Header, KeyAgreement, Keyring, Limits, MultiKeyring, RawEcdhKeyring,
};
use phiveil_core::passphrase::KdfParams;
use phiveil_tests::relay::{Client, TestRelay};
use reqwest::StatusCode;
use serde_json::{json, Value};

const CT: &str = "application/vnd.phiveil.esdk";
const PASSPHRASE: &str = "tulip lantern orbit 42";
const NOTE: &[u8] = b"Mrs. Okafor reports chest pain since Tuesday; BP 152/91.";
const CHEAP: KdfParams = KdfParams {
    m_kib: 8 * 1024,
    t: 1,
    p: 1,
};

/// Everything the relay logs while the test runs (a subscriber for this test binary).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn to(k: &EcPrivateKey) -> Box<dyn Keyring> {
    Box::new(
        RawEcdhKeyring::new(KeyAgreement::EphemeralToStatic {
            recipient: k.public_key(),
        })
        .unwrap(),
    )
}

fn reader(k: &EcPrivateKey) -> RawEcdhKeyring {
    RawEcdhKeyring::new(KeyAgreement::Discovery {
        recipient: k.clone(),
    })
    .unwrap()
}

async fn publish(c: &Client, k: &EcPrivateKey) -> Value {
    let spki = B64.encode(k.public_key().to_spki_der().unwrap());
    let (s, body) = c.put("/v1/keys/public", &json!({"public_key": spki})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["fingerprint"], k.public_key().fingerprint().unwrap());
    body
}

/// A key fetched from the relay, checked against the fingerprint its owner shows.
async fn fetch_key(c: &Client, id: &str, fingerprint: &str) -> EcPrivateKeyPublic {
    let (s, body) = c.get(&format!("/v1/keys/public/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["fingerprint"], fingerprint, "out-of-band comparison");
    let der = B64.decode(body["public_key"].as_str().unwrap()).unwrap();
    esdk::EcPublicKey::from_spki_der(&der).unwrap()
}

type EcPrivateKeyPublic = esdk::EcPublicKey;

async fn upload(c: &Client, record_type: &str, msg: &[u8]) -> String {
    let (s, body) = c
        .post(
            "/v1/records",
            &json!({"record_type": record_type, "size": msg.len(), "content_type": CT}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(
        c.presigned_put(&body["upload"], msg.to_vec(), CT).await,
        StatusCode::CREATED
    );
    body["record"]["id"].as_str().unwrap().to_owned()
}

async fn download(c: &Client, id: &str) -> Result<Vec<u8>, StatusCode> {
    let (s, body) = c.get(&format!("/v1/records/{id}")).await;
    if s != StatusCode::OK {
        return Err(s);
    }
    let (s, bytes) = c.presigned_get(&body["download"]).await;
    assert_eq!(s, StatusCode::OK);
    Ok(bytes)
}

fn share_json(e: &EncryptedDataKey) -> Value {
    json!({"provider_id": e.provider_id, "provider_info": B64.encode(&e.provider_info),
           "ciphertext": B64.encode(&e.ciphertext)})
}

fn share_from(v: &Value) -> EncryptedDataKey {
    EncryptedDataKey {
        provider_id: v["provider_id"].as_str().unwrap().into(),
        provider_info: B64.decode(v["provider_info"].as_str().unwrap()).unwrap(),
        ciphertext: B64.decode(v["ciphertext"].as_str().unwrap()).unwrap(),
    }
}

/// The message's data key, as the patient's keyring unwraps it (to search for it).
fn data_key(k: &EcPrivateKey, msg: &[u8]) -> Vec<u8> {
    let (h, _) = Header::parse(msg, &Limits::default()).unwrap();
    let mut m = DecryptionMaterials {
        suite: h.suite,
        context: h.context.clone(),
        data_key: None,
    };
    reader(k)
        .on_decrypt(&mut m, &h.encrypted_data_keys)
        .unwrap();
    m.data_key.unwrap().expose_secret().to_vec()
}

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The relay's log for this test binary (one subscriber per process).
fn logs() -> Logs {
    static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let sink = logs.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || sink.clone())
            .try_init();
        logs
    })
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_patient_and_granted_clinicians_open_an_end_to_end_record() {
    let logs = logs();
    flow(TestRelay::start(|_| {}).await, &logs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_records_on_postgres() {
    let logs = logs();
    if let Some(relay) = TestRelay::start_pg(|_| {}).await {
        flow(relay, &logs).await;
    }
}

async fn flow(relay: TestRelay, logs: &Logs) {
    let (op, dr, patient) = relay.cast().await;
    let (s, _) = op
        .post("/v1/users", &json!({"username": "dr-okoye", "password": "correct horse battery", "role": "clinician"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let dr2 = relay
        .anonymous()
        .login("dr-okoye", "correct horse battery")
        .await;
    let ps = patient.pseudonym.clone().unwrap();

    // Each account makes its key pair on its own device and publishes the public key.
    let p_key = EcPrivateKey::generate(Curve::P256, &mut rand_core::OsRng);
    let d1_key = EcPrivateKey::generate(Curve::P256, &mut rand_core::OsRng);
    let d2_key = EcPrivateKey::generate(Curve::P256, &mut rand_core::OsRng);
    let p_pub = publish(&patient, &p_key).await;
    let d1_pub = publish(&dr, &d1_key).await;
    let d2_pub = publish(&dr2, &d2_key).await;
    // A second key needs `replace`; an operator holds none; a key must be a point.
    let other = B64.encode(d1_key.public_key().to_spki_der().unwrap());
    assert_eq!(
        patient
            .put("/v1/keys/public", &json!({"public_key": other}))
            .await
            .0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        op.put("/v1/keys/public", &json!({"public_key": other}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        dr.put(
            "/v1/keys/public",
            &json!({"public_key": "AAAA", "replace": true})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    // The backup: wrapped on the device under the passphrase; the relay keeps it opaque.
    let backup = p_key
        .wrap_with_passphrase(&patient.user_id, PASSPHRASE, CHEAP, &mut rand_core::OsRng)
        .unwrap();
    let (s, _) = patient
        .put("/v1/keys/backup", &json!({"backup": B64.encode(&backup)}))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(dr.get("/v1/keys/backup").await.0, StatusCode::NOT_FOUND);

    // The patient grants notes to the first clinician, checks its key by fingerprint,
    // and writes a record wrapped for itself and that clinician.
    let (s, _) = patient
        .post(
            "/v1/grants",
            &json!({"clinician_id": dr.user_id, "record_type": "notes"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let d1_seen = fetch_key(
        &patient,
        &dr.user_id,
        d1_pub["fingerprint"].as_str().unwrap(),
    )
    .await;
    assert_eq!(d1_seen, d1_key.public_key());
    let ctx = record_context(&ps, "notes");
    let writer = MultiKeyring::new(
        Some(to(&p_key)),
        vec![Box::new(
            RawEcdhKeyring::new(KeyAgreement::EphemeralToStatic { recipient: d1_seen }).unwrap(),
        )],
    )
    .unwrap();
    let msg = esdk::encrypt(
        &writer,
        NOTE,
        &ctx,
        &EncryptOptions::default(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    let id = upload(&patient, "notes", &msg).await;
    let opts = DecryptOptions::expecting(ctx.clone());

    // The granted clinician opens it with its own private key.
    let got = download(&dr, &id).await.unwrap();
    assert_eq!(
        esdk::decrypt(&reader(&d1_key), &got, &opts)
            .unwrap()
            .plaintext,
        NOTE
    );
    // The brokered unwrap has nothing to unwrap: no entry is the relay's.
    assert_eq!(
        dr.unwrap(&got).await.unwrap_err().0,
        StatusCode::BAD_REQUEST
    );

    // A second clinician granted later downloads the record but cannot open it until the
    // patient writes a key share for its key.
    let (s, _) = patient
        .post(
            "/v1/grants",
            &json!({"clinician_id": dr2.user_id, "record_type": "notes"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let got2 = download(&dr2, &id).await.unwrap();
    assert!(esdk::decrypt(&reader(&d2_key), &got2, &opts).is_err());
    let d2_seen = fetch_key(
        &patient,
        &dr2.user_id,
        d2_pub["fingerprint"].as_str().unwrap(),
    )
    .await;
    let share = share_data_key(&reader(&p_key), &msg, &d2_seen, &mut rand_core::OsRng).unwrap();
    // A share for someone else's key, or from someone who is not the patient, is refused.
    let wrong = share_data_key(
        &reader(&p_key),
        &msg,
        &d1_key.public_key(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    let path = format!("/v1/records/{id}/shares/{}", dr2.user_id);
    assert_eq!(
        patient.put(&path, &share_json(&wrong)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        dr.put(&path, &share_json(&share)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        patient.put(&path, &share_json(&share)).await.0,
        StatusCode::NO_CONTENT
    );
    // Only its reader fetches a share.
    assert_eq!(dr.get(&path).await.0, StatusCode::FORBIDDEN);
    let (s, fetched) = dr2.get(&path).await;
    assert_eq!(s, StatusCode::OK, "{fetched}");
    let d2_reader = reader(&d2_key).with_shares(vec![share_from(&fetched)]);
    assert_eq!(
        esdk::decrypt(&d2_reader, &got2, &opts).unwrap().plaintext,
        NOTE
    );

    // The patient revokes the first clinician: no download, and new records are wrapped
    // only for the patient and the clinicians still granted. (What the first clinician
    // already decrypted, it has seen.)
    let (s, _) = patient
        .delete(&format!("/v1/grants/{}/notes", dr.user_id))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(download(&dr, &id).await.unwrap_err(), StatusCode::FORBIDDEN);
    let writer2 = MultiKeyring::new(
        Some(to(&p_key)),
        vec![Box::new(
            RawEcdhKeyring::new(KeyAgreement::EphemeralToStatic { recipient: d2_seen }).unwrap(),
        )],
    )
    .unwrap();
    let msg2 = esdk::encrypt(
        &writer2,
        b"second note",
        &ctx,
        &EncryptOptions::default(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    let id2 = upload(&patient, "notes", &msg2).await;
    assert!(esdk::decrypt(&reader(&d1_key), &msg2, &opts).is_err());
    assert_eq!(
        esdk::decrypt(
            &reader(&d2_key),
            &download(&dr2, &id2).await.unwrap(),
            &opts
        )
        .unwrap()
        .plaintext,
        b"second note"
    );
    // Revoking the second clinician deletes its shares with the grant.
    let (s, _) = patient
        .delete(&format!("/v1/grants/{}/notes", dr2.user_id))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(dr2.get(&path).await.0, StatusCode::FORBIDDEN);
    let (s, _) = patient
        .post(
            "/v1/grants",
            &json!({"clinician_id": dr2.user_id, "record_type": "notes"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(dr2.get(&path).await.0, StatusCode::NOT_FOUND);

    // A second device: the patient signs in, restores its key from the backup with the
    // passphrase, and reads both records. A wrong passphrase restores nothing.
    let device2 = relay
        .anonymous()
        .login("alice", "correct horse battery")
        .await;
    let (s, body) = device2.get("/v1/keys/backup").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let wrapped = B64.decode(body["backup"].as_str().unwrap()).unwrap();
    assert!(EcPrivateKey::unwrap_with_passphrase(
        &wrapped,
        &device2.user_id,
        "tulip lantern orbit 43"
    )
    .is_err());
    let restored =
        EcPrivateKey::unwrap_with_passphrase(&wrapped, &device2.user_id, PASSPHRASE).unwrap();
    assert_eq!(
        fetch_key(&device2, &ps, p_pub["fingerprint"].as_str().unwrap()).await,
        restored.public_key()
    );
    for (rid, want) in [(&id, NOTE), (&id2, &b"second note"[..])] {
        let bytes = download(&device2, rid).await.unwrap();
        assert_eq!(
            esdk::decrypt(&reader(&restored), &bytes, &opts)
                .unwrap()
                .plaintext,
            want
        );
    }

    // The operator's view: the relay's KMS unwraps nothing, and neither data key nor
    // plaintext is in the data directory (database, objects, master key) or the logs.
    for m in [&msg, &msg2] {
        let (h, _) = Header::parse(m, &Limits::default()).unwrap();
        assert!(relay
            .state
            .kms
            .decrypt(&h.encrypted_data_keys, &h.context)
            .await
            .unwrap()
            .is_none());
    }
    let secrets: Vec<Vec<u8>> = [data_key(&p_key, &msg), data_key(&p_key, &msg2)]
        .into_iter()
        .flat_map(|k| {
            let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
            [B64.encode(&k).into_bytes(), hex.into_bytes(), k]
        })
        .chain([
            NOTE.to_vec(),
            b"second note".to_vec(),
            p_key.to_pkcs8_der().unwrap().to_vec(),
        ])
        .collect();
    let mut all = Vec::new();
    files(&relay.dir, &mut all);
    assert!(
        all.len() >= 3,
        "the data directory holds the database and objects"
    );
    let log = logs.0.lock().unwrap().clone();
    assert!(!log.is_empty(), "the relay's log was captured");
    for secret in &secrets {
        for f in &all {
            let bytes = std::fs::read(f).unwrap();
            assert!(!contains(&bytes, secret), "a secret is in {}", f.display());
        }
        assert!(!contains(&log, secret), "a secret is in the relay's log");
    }
    // The stored objects are the messages as written (ciphertext only).
    let stored: Vec<Vec<u8>> = all.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(stored.iter().any(|b| b == &msg) && stored.iter().any(|b| b == &msg2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escrow_recovery_is_an_operators_audited_act_bound_to_the_record() {
    escrow(TestRelay::start(end_to_end_with_escrow).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escrow_recovery_on_postgres() {
    if let Some(relay) = TestRelay::start_pg(end_to_end_with_escrow).await {
        escrow(relay).await;
    }
}

fn end_to_end_with_escrow(c: &mut phiveil_relay::Config) {
    c.key_mode = phiveil_relay::e2e::KeyMode::EndToEnd;
    c.escrow = true;
}

/// An end-to-end deployment with escrow: the relay brokers no data key; a record
/// wrapped for the patient and the KMS's escrow key is recovered by an operator who
/// gives a reason, never by anyone else, never for a record without an escrow entry or
/// whose stored message names another record; every attempt is audited.
async fn escrow(relay: TestRelay) {
    let (op, dr, patient) = relay.cast().await;
    let ps = patient.pseudonym.clone().unwrap();
    let (s, mode) = patient.get("/v1/keys/mode").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mode["mode"], "end-to-end");
    let escrow_key = esdk::EcPublicKey::from_spki_der(
        &B64.decode(mode["escrow"]["public_key"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        mode["escrow"]["fingerprint"],
        escrow_key.fingerprint().unwrap()
    );
    // Brokered data keys are refused (and audited as refused).
    let ctx = record_context(&ps, "notes");
    let (s, body) = patient
        .post("/v1/keys/data-key", &json!({ "context": ctx }))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");

    let p_key = EcPrivateKey::generate(Curve::P256, &mut rand_core::OsRng);
    let escrowed = MultiKeyring::new(
        Some(to(&p_key)),
        vec![Box::new(
            RawEcdhKeyring::new(KeyAgreement::EphemeralToStatic {
                recipient: escrow_key.clone(),
            })
            .unwrap(),
        )],
    )
    .unwrap();
    let enc = |kr: &dyn esdk::MaterialsProvider, ctx: &esdk::EncryptionContext| {
        esdk::encrypt(
            kr,
            NOTE,
            ctx,
            &EncryptOptions::default(),
            &mut rand_core::OsRng,
        )
        .unwrap()
    };
    let with_escrow = enc(&escrowed, &ctx);
    let a = upload(&patient, "notes", &with_escrow).await;
    // The key broker's unwrap finds nothing it can open in an end-to-end record (it
    // stays for records written in brokered mode before a switch).
    let (_, hlen) = Header::parse(&with_escrow, &Limits::default()).unwrap();
    let (s, body) = patient
        .post(
            "/v1/keys/unwrap",
            &json!({"header": B64.encode(&with_escrow[..hlen])}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let own_only = MultiKeyring::new(Some(to(&p_key)), Vec::new()).unwrap();
    let b = upload(&patient, "notes", &enc(&own_only, &ctx)).await;
    // A message made for another record type, stored under a notes record.
    let c = upload(
        &patient,
        "notes",
        &enc(&escrowed, &record_context(&ps, "labs")),
    )
    .await;

    let reason = json!({"reason": "ticket SEC-7: patient deceased, estate request"});
    let path = |id: &str| format!("/v1/records/{id}/recover");
    assert_eq!(
        patient.post(&path(&a), &reason).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(dr.post(&path(&a), &reason).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        op.post(&path(&a), &json!({"reason": ""})).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        op.post(&path(&a), &json!({"reason": "x".repeat(121)}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        op.post(&path("rec_missing"), &reason).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(op.post(&path(&b), &reason).await.0, StatusCode::CONFLICT);
    assert_eq!(op.post(&path(&c), &reason).await.0, StatusCode::BAD_REQUEST);
    let (s, got) = op.post(&path(&a), &reason).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(
        B64.decode(got["data_key"].as_str().unwrap()).unwrap(),
        data_key(&p_key, &with_escrow)
    );
    let kr = esdk::BrokeredKmsKeyring::from_encrypted_data_key(
        share_from(&got["encrypted_data_key"]),
        phiveil_core::secret::DataKey::from_slice(
            &B64.decode(got["data_key"].as_str().unwrap()).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let out = esdk::decrypt(&kr, &with_escrow, &DecryptOptions::expecting(ctx)).unwrap();
    assert_eq!(out.plaintext, NOTE);

    // The audit log has every attempt under the patient; the allowed one with its reason.
    let (s, rows) = op.get("/v1/audit?action=escrow-recover").await;
    assert_eq!(s, StatusCode::OK);
    let rows = rows.as_array().unwrap();
    let allowed: Vec<_> = rows.iter().filter(|r| r["outcome"] == "allowed").collect();
    assert_eq!(allowed.len(), 1, "{rows:?}");
    assert_eq!(allowed[0]["patient"], ps.as_str());
    assert!(allowed[0]["detail"]
        .as_str()
        .unwrap()
        .contains("ticket SEC-7"));
    assert_eq!(
        rows.iter().filter(|r| r["outcome"] == "refused").count(),
        7,
        "{rows:?}"
    );
}
