//! End to end on embedded defaults: a native client built on phiveil-core plays the
//! browser. A patient gets a data key, encrypts a record, uploads it through the
//! presigned URL; a clinician with a grant lists, downloads, unwraps and decrypts it;
//! after revocation the clinician is refused; a second patient can neither read nor
//! unwrap the first patient's records. Every refusal is audited and changes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use phiveil_core::esdk::{self, DecryptOptions};
use phiveil_relay::audit;
use phiveil_tests::relay::{record_context, TestRelay};
use reqwest::StatusCode;
use serde_json::json;

const CT: &str = "application/vnd.phiveil.esdk";

async fn upload(
    relay: &TestRelay,
    patient: &phiveil_tests::relay::Client,
    record_type: &str,
    plaintext: &[u8],
) -> (String, Vec<u8>) {
    let ps = patient.pseudonym.clone().unwrap();
    let ctx = record_context(&ps, record_type);
    let msg = patient.encrypt(&ctx, plaintext).await;
    let (s, body) = patient
        .post(
            "/v1/records",
            &json!({"record_type": record_type, "size": msg.len(), "content_type": CT}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert!(body["record"]["object_key"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{ps}/")));
    assert_eq!(
        patient
            .presigned_put(&body["upload"], msg.clone(), CT)
            .await,
        StatusCode::CREATED
    );
    let _ = relay;
    (body["record"]["id"].as_str().unwrap().to_owned(), msg)
}

fn count_objects(dir: &std::path::Path) -> usize {
    fn walk(p: &std::path::Path) -> usize {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        let path = e.path();
                        if path.is_dir() {
                            if path.ends_with(".tmp") {
                                0
                            } else {
                                walk(&path)
                            }
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&dir.join("objects"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_to_clinician_flow_with_grant_and_revocation() {
    grant_flow(TestRelay::start(|_| {}).await).await;
}

/// The same flow with the metadata in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_to_clinician_flow_on_postgres() {
    if let Some(relay) = TestRelay::start_pg(|_| {}).await {
        grant_flow(relay).await;
    }
}

/// Bad input refused and audited, with the metadata in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_postgres() {
    if let Some(relay) = TestRelay::start_pg(|c| {
        c.max_upload_bytes = 4096;
        c.presign_ttl_secs = 2;
    })
    .await
    {
        bad_input(relay).await;
    }
}

/// Audit tampering in PostgreSQL is detected too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_on_postgres() {
    let Some(relay) = TestRelay::start_pg(|_| {}).await else {
        return;
    };
    let (_op, _dr, alice) = relay.cast().await;
    let _ = upload(&relay, &alice, "vitals", b"x").await;
    assert!(audit::verify(&relay.state.db)
        .await
        .unwrap()
        .first_broken
        .is_none());
    let url = relay.state.config.database_url.clone().unwrap();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("UPDATE audit SET detail = detail || ' (edited)' WHERE seq = 4")
            .unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(
        audit::verify(&relay.state.db).await.unwrap().first_broken,
        Some(4)
    );
}

async fn grant_flow(relay: TestRelay) {
    let (op, dr, alice) = relay.cast().await;
    let ps = alice.pseudonym.clone().unwrap();
    let plaintext = br#"{"hr": 72, "spo2": 97, "note": "felt dizzy after stairs"}"#;
    let (id, msg) = upload(&relay, &alice, "vitals", plaintext).await;

    // The clinician directory names the clinician the patient can grant (no password
    // hash or pseudonym in it).
    let (s, dir) = alice.get("/v1/clinicians").await;
    assert_eq!(s, StatusCode::OK);
    let entry = dir
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == dr.user_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry.as_object().unwrap().len(), 2, "{entry}");

    // The patient lists and reads back its own record.
    let (s, list) = alice.get("/v1/records").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Without a grant the clinician sees nothing and can unwrap nothing.
    let (s, list) = dr.get(&format!("/v1/records?patient={ps}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(list.as_array().unwrap().is_empty());
    assert_eq!(
        dr.get(&format!("/v1/records/{id}")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(dr.unwrap(&msg).await.unwrap_err().0, StatusCode::FORBIDDEN);

    // The patient grants vitals to the clinician.
    let (s, g) = alice
        .post(
            "/v1/grants",
            &json!({"clinician_id": dr.user_id, "record_type": "vitals"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let (s, list) = dr.get(&format!("/v1/records?patient={ps}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list[0]["id"], id.as_str());
    let (s, rec) = dr.get(&format!("/v1/records/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, bytes) = dr.presigned_get(&rec["download"]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bytes, msg, "the store holds exactly the ciphertext");
    let kr = dr.unwrap(&bytes).await.unwrap();
    let out = esdk::decrypt(
        &kr,
        &bytes,
        &DecryptOptions::expecting(record_context(&ps, "vitals")),
    )
    .unwrap();
    assert_eq!(out.plaintext, plaintext);

    // A grant of vitals does not open other record types.
    let (_, notes_msg) = upload(&relay, &alice, "notes", b"private notes").await;
    assert_eq!(
        dr.unwrap(&notes_msg).await.unwrap_err().0,
        StatusCode::FORBIDDEN
    );

    // Revocation takes effect at once.
    let (s, _) = alice
        .delete(&format!("/v1/grants/{}/vitals", dr.user_id))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        dr.get(&format!("/v1/records/{id}")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(dr.unwrap(&msg).await.unwrap_err().0, StatusCode::FORBIDDEN);

    // A second patient can neither read nor unwrap the first patient's records.
    let bob = relay.enroll(&dr, "bob").await;
    assert_eq!(
        bob.get(&format!("/v1/records/{id}")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        bob.get(&format!("/v1/records?patient={ps}")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(bob.unwrap(&msg).await.unwrap_err().0, StatusCode::FORBIDDEN);
    assert_eq!(
        bob.data_key(&record_context(&ps, "vitals"))
            .await
            .unwrap_err()
            .0,
        StatusCode::FORBIDDEN
    );

    // Every step is in the audit log, which verifies.
    let (s, rows) = op
        .get(&format!("/v1/audit?patient={ps}&outcome=refused"))
        .await;
    assert_eq!(s, StatusCode::OK);
    let refused: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(refused.contains(&"unwrap".to_owned()), "{refused:?}");
    assert!(refused.contains(&"download-url".to_owned()), "{refused:?}");
    assert!(refused.contains(&"data-key".to_owned()), "{refused:?}");
    let (s, v) = op.get("/v1/audit/verify").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["first_broken"], serde_json::Value::Null);
    // Patients and clinicians cannot read the audit log.
    assert_eq!(alice.get("/v1/audit").await.0, StatusCode::FORBIDDEN);
    assert_eq!(dr.get("/v1/audit").await.0, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_audited_and_changes_nothing() {
    bad_input(
        TestRelay::start(|c| {
            c.max_upload_bytes = 4096;
            c.presign_ttl_secs = 2;
        })
        .await,
    )
    .await;
}

async fn bad_input(relay: TestRelay) {
    let (op, dr, alice) = relay.cast().await;
    let ps = alice.pseudonym.clone().unwrap();
    let (_, msg) = upload(&relay, &alice, "vitals", b"first").await;
    let objects_before = count_objects(&relay.dir);
    let audit_before = audit::query(&relay.state.db, &Default::default())
        .await
        .unwrap()
        .len();

    // Replayed invitation code.
    let (_, inv) = dr.post("/v1/invitations", &json!({})).await;
    let enroll =
        json!({"code": inv["code"], "username": "carol", "password": "correct horse battery"});
    assert_eq!(
        relay.anonymous().post("/v1/enroll", &enroll).await.0,
        StatusCode::CREATED
    );
    let enroll2 =
        json!({"code": inv["code"], "username": "mallory", "password": "correct horse battery"});
    assert_eq!(
        relay.anonymous().post("/v1/enroll", &enroll2).await.0,
        StatusCode::CONFLICT
    );

    // Malformed JSON and missing fields.
    assert_eq!(
        alice.post_raw("/v1/records", "{not json").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        alice
            .post("/v1/keys/data-key", &json!({"context": {"patient": ps}}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    // Forged and expired tokens.
    let mut forged = alice.clone();
    forged.token = Some(format!("{}x", alice.token.clone().unwrap()));
    assert_eq!(forged.get("/v1/records").await.0, StatusCode::UNAUTHORIZED);
    let expired = relay
        .state
        .tokens
        .issue(&phiveil_relay::auth::Claims {
            sub: alice.user_id.clone(),
            role: "patient".into(),
            pseudonym: Some(ps.clone()),
            exp: phiveil_relay::now() - 1,
            auth_time: phiveil_relay::now() - 100,
        })
        .unwrap();
    let mut old = alice.clone();
    old.token = Some(expired);
    assert_eq!(old.get("/v1/records").await.0, StatusCode::UNAUTHORIZED);

    // Upload over the size limit: refused at presign time and at PUT time.
    let (s, _) = alice
        .post(
            "/v1/records",
            &json!({"record_type": "vitals", "size": 5000, "content_type": CT}),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, body) = alice
        .post(
            "/v1/records",
            &json!({"record_type": "vitals", "size": 100, "content_type": CT}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let upload_url = body["upload"].clone();
    assert_eq!(
        alice.presigned_put(&upload_url, vec![0; 101], CT).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        alice
            .presigned_put(&upload_url, vec![0; 100], "text/plain")
            .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        alice.presigned_put(&upload_url, vec![0; 5000], CT).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // Tampered URL: another patient's prefix, or a longer length, breaks the signature.
    let url = upload_url["url"].as_str().unwrap();
    let other_prefix = json!({"url": url.replacen(&ps, "p-0000000000000000", 1)});
    assert_eq!(
        alice.presigned_put(&other_prefix, vec![0; 100], CT).await,
        StatusCode::FORBIDDEN
    );
    let longer = json!({"url": url.replace("length=100", "length=200")});
    assert_eq!(
        alice.presigned_put(&longer, vec![0; 200], CT).await,
        StatusCode::FORBIDDEN
    );
    // Change the signature's last hex digit (always to a different one).
    let last = if url.ends_with('0') { '1' } else { '0' };
    let bad_sig = json!({"url": format!("{}{last}", &url[..url.len() - 1])});
    assert_eq!(
        alice.presigned_put(&bad_sig, vec![0; 100], CT).await,
        StatusCode::FORBIDDEN
    );

    // A context that does not match the message header.
    let hl = esdk::Header::parse(&msg, &Default::default()).unwrap().1;
    let (s, _) = alice
        .post(
            "/v1/keys/unwrap",
            &json!({"header": B64.encode(&msg[..hl]), "context": record_context(&ps, "notes")}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Garbage instead of a header.
    let (s, _) = alice
        .post(
            "/v1/keys/unwrap",
            &json!({"header": B64.encode(b"\x02garbage")}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Expired presigned URL.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        alice.presigned_put(&upload_url, vec![0; 100], CT).await,
        StatusCode::FORBIDDEN
    );

    // Nothing stored changed; everything refused was audited.
    assert_eq!(count_objects(&relay.dir), objects_before);
    let (_, list) = alice.get("/v1/records").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let refused = audit::query(
        &relay.state.db,
        &audit::AuditQuery {
            outcome: Some("refused".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(refused.len() >= 12, "{} refusals audited", refused.len());
    assert!(
        audit::query(&relay.state.db, &Default::default())
            .await
            .unwrap()
            .len()
            > audit_before
    );
    let _ = op;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_the_first_edited_deleted_or_moved_row() {
    let relay = TestRelay::start(|_| {}).await;
    let (_op, _dr, alice) = relay.cast().await;
    let _ = upload(&relay, &alice, "vitals", b"x").await;
    let v = audit::verify(&relay.state.db).await.unwrap();
    assert!(v.rows >= 8 && v.first_broken.is_none(), "{v:?}");
    // Edited.
    let c = rusqlite::Connection::open(relay.dir.join("relay.sqlite3")).unwrap();
    c.execute(
        "UPDATE audit SET detail = detail || ' (edited)' WHERE seq = 4",
        [],
    )
    .unwrap();
    assert_eq!(
        audit::verify(&relay.state.db).await.unwrap().first_broken,
        Some(4)
    );

    let relay = TestRelay::start(|_| {}).await;
    let (_op, _dr, alice) = relay.cast().await;
    let _ = upload(&relay, &alice, "vitals", b"x").await;
    let c = rusqlite::Connection::open(relay.dir.join("relay.sqlite3")).unwrap();
    // Deleted.
    c.execute("DELETE FROM audit WHERE seq = 3", []).unwrap();
    assert_eq!(
        audit::verify(&relay.state.db).await.unwrap().first_broken,
        Some(3)
    );

    let relay = TestRelay::start(|_| {}).await;
    let (_op, _dr, alice) = relay.cast().await;
    let _ = upload(&relay, &alice, "vitals", b"x").await;
    let c = rusqlite::Connection::open(relay.dir.join("relay.sqlite3")).unwrap();
    // Reordered: rows 5 and 6 swap places.
    c.execute_batch(
        "UPDATE audit SET seq = -1 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = 6; UPDATE audit SET seq = 6 WHERE seq = -1;",
    )
    .unwrap();
    assert_eq!(
        audit::verify(&relay.state.db).await.unwrap().first_broken,
        Some(5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_unwraps_raise_an_alert_on_the_live_feed() {
    let relay = TestRelay::start(|_| {}).await;
    let (_op, dr, alice) = relay.cast().await;
    let (_, msg) = upload(&relay, &alice, "vitals", b"x").await;
    let mut feed = relay.state.alerts.subscribe();
    for _ in 0..5 {
        assert_eq!(dr.unwrap(&msg).await.unwrap_err().0, StatusCode::FORBIDDEN);
    }
    let alert = tokio::time::timeout(std::time::Duration::from_secs(5), feed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alert.actor, dr.user_id);
    assert_eq!(alert.count, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_kms_rotation_keeps_old_records_readable() {
    let relay = TestRelay::start(|_| {}).await;
    let (_op, _dr, alice) = relay.cast().await;
    let (_, old) = upload(&relay, &alice, "vitals", b"before rotation").await;
    // Rotate on disk, then reopen the relay on the same directory.
    let kms =
        phiveil_relay::kms::EmbeddedKms::open(&relay.dir.join("kms-master-keys.json")).unwrap();
    assert_eq!(kms.rotate().unwrap(), 2);
    let reopened = phiveil_relay::AppState::open(phiveil_relay::Config::new(&relay.dir))
        .await
        .unwrap();
    let ps = alice.pseudonym.clone().unwrap();
    let ctx = record_context(&ps, "vitals");
    let key = reopened.kms.generate_data_key(&ctx).await.unwrap();
    assert!(key.edk.provider_info.starts_with(b"master-v2"));
    let hdr = esdk::Header::parse(&old, &Default::default()).unwrap().0;
    assert!(reopened
        .kms
        .decrypt(&hdr.encrypted_data_keys, &ctx)
        .await
        .unwrap()
        .is_some());
    // The context is bound: another context does not unwrap.
    assert!(reopened
        .kms
        .decrypt(&hdr.encrypted_data_keys, &record_context(&ps, "notes"))
        .await
        .unwrap()
        .is_none());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(relay.dir.join("kms-master-keys.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_jwts_are_verified_and_map_to_pseudonymous_patients() {
    use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header as JwtHeader};
    const SECRET: &[u8] = b"portal shared secret, 32+ bytes long!!";
    const ISS: &str = "https://portal.example";
    let relay = TestRelay::start(|c| {
        c.portal_jwt = Some(phiveil_relay::auth::PortalJwt {
            issuer: ISS.into(),
            key: DecodingKey::from_secret(SECRET),
            algorithm: Algorithm::HS256,
        });
    })
    .await;
    let now = phiveil_relay::now();
    let jwt = |iss: &str, sub: &str, role: &str, exp: i64, secret: &[u8], alg: Algorithm| {
        encode(
            &JwtHeader::new(alg),
            &json!({"iss": iss, "sub": sub, "role": role, "exp": exp}),
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let with = |token: String| {
        let mut c = relay.anonymous();
        c.token = Some(token);
        c
    };
    let good = with(jwt(
        ISS,
        "patient-42c7e19a05",
        "patient",
        now + 300,
        SECRET,
        Algorithm::HS256,
    ));
    let (s, me) = good.get("/v1/me").await;
    assert_eq!(s, StatusCode::OK, "{me}");
    let ps = me["pseudonym"].as_str().unwrap().to_owned();
    assert!(ps.starts_with("p-"));
    assert!(
        !ps.contains("42c7e19a05"),
        "the pseudonym does not reveal the portal's id"
    );
    // The same subject maps to the same pseudonym; it may use its own context.
    let (_, again) = good.get("/v1/me").await;
    assert_eq!(again["pseudonym"], ps.as_str());
    assert!(good.data_key(&record_context(&ps, "vitals")).await.is_ok());
    assert_eq!(
        good.data_key(&record_context("p-someone-else", "vitals"))
            .await
            .unwrap_err()
            .0,
        StatusCode::FORBIDDEN
    );
    // Forged, expired, wrong issuer, wrong algorithm, unknown role: refused.
    for (what, token) in [
        (
            "forged",
            jwt(
                ISS,
                "patient-42c7e19a05",
                "patient",
                now + 300,
                b"another secret of 32 bytes......",
                Algorithm::HS256,
            ),
        ),
        (
            "expired",
            jwt(
                ISS,
                "patient-42c7e19a05",
                "patient",
                now - 120,
                SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "issuer",
            jwt(
                "https://evil.example",
                "patient-42c7e19a05",
                "patient",
                now + 300,
                SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "algorithm",
            jwt(
                ISS,
                "patient-42c7e19a05",
                "patient",
                now + 300,
                SECRET,
                Algorithm::HS384,
            ),
        ),
        (
            "role",
            jwt(
                ISS,
                "patient-42c7e19a05",
                "operator",
                now + 300,
                SECRET,
                Algorithm::HS256,
            ),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        assert_eq!(
            with(token).get("/v1/me").await.0,
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
    }
}

/// A private CA and a server certificate for 127.0.0.1 signed by it (openssl CLI):
/// `(ca.pem, leaf.pem, leaf.key)`.
fn test_certificates(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("openssl ({e}); scripts/setup.sh installs it"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=phiveil test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    (read("ca.pem"), read("leaf.pem"), read("leaf.key"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_posted_to_the_webhook_over_https_and_signed() {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // A webhook receiver on loopback, serving TLS with a certificate from a private CA.
    let dir = phiveil_tests::relay::temp_dir("webhook");
    let (ca, leaf, key) = test_certificates(&dir);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&leaf)
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_slice(&key).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("https://{}/alerts", hook.local_addr().unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, String)>(4);
    tokio::spawn(async move {
        let (sock, _) = hook.accept().await.unwrap();
        let mut sock = acceptor.accept(sock).await.unwrap();
        let mut buf = vec![0u8; 8192];
        let mut got = Vec::new();
        loop {
            let n = sock.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .unwrap();
                    tx.send((head.to_owned(), body.to_owned())).await.unwrap();
                    break;
                }
            }
        }
    });
    let secret = b"a webhook secret for the test".to_vec();
    let relay = TestRelay::start(|c| {
        c.alert_webhook = Some(hook_url);
        c.alert_webhook_ca_pem = Some(ca);
        c.alert_webhook_secret = Some(phiveil_relay::webhook::WebhookSecret(
            zeroize::Zeroizing::new(secret.clone()),
        ));
    })
    .await;
    let (_op, dr, alice) = relay.cast().await;
    let (_, msg) = upload(&relay, &alice, "vitals", b"x").await;
    for _ in 0..5 {
        assert_eq!(dr.unwrap(&msg).await.unwrap_err().0, StatusCode::FORBIDDEN);
    }
    let (head, body) = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let alert: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(alert["actor"], dr.user_id.as_str());
    assert_eq!(alert["count"], 5);
    // The signature: HMAC-SHA256 over "<timestamp>.<body>" with the shared secret.
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no {name} header: {head}"))
    };
    let ts: i64 = header("phiveil-timestamp").parse().unwrap();
    assert!((phiveil_relay::now() - ts).abs() < 60);
    assert_eq!(
        header("phiveil-signature"),
        phiveil_relay::webhook::sign_webhook(&secret, ts, body.as_bytes())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
