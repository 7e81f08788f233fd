//! The relay as a process: its logs through a full flow carry no secret, and a
//! relay killed (SIGKILL) during uploads restarts with index and store in agreement.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::*;
use phiveil_core::esdk::{self, EncryptOptions, EncryptionContext};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_full_flow_contain_no_secret() {
    let dir = temp_dir("logs");
    cli(
        &dir,
        None,
        &["create-user", "--username", "pat", "--role", "patient"],
    );
    let port = free_port();
    let mut relay = start(&dir, None, port, true);
    let base = format!("http://127.0.0.1:{port}");
    let http = common::http_client();
    let session = login(&http, &base, "pat").await;
    let token = session["token"].as_str().unwrap().to_owned();
    let ps = session["pseudonym"].as_str().unwrap().to_owned();
    let mut ctx = EncryptionContext::new();
    ctx.insert("patient".into(), ps.clone());
    ctx.insert("record_type".into(), "notes".into());
    let dk = post(
        &http,
        &base,
        Some(&token),
        "/v1/keys/data-key",
        json!({ "context": ctx }),
    )
    .await;
    let (kr, key) = keyring_from(&dk);
    let plaintext = b"SECRET-NOTE: patient reports chest pain at night";
    let msg = esdk::encrypt(
        &kr,
        plaintext,
        &ctx,
        &EncryptOptions::default(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    let rec = post(
        &http,
        &base,
        Some(&token),
        "/v1/records",
        json!({"record_type": "notes", "size": msg.len(), "content_type": "application/octet-stream"}),
    )
    .await;
    let url = rec["upload"]["url"].as_str().unwrap().to_owned();
    let s = http
        .put(format!("{base}{url}"))
        .header("content-type", "application/octet-stream")
        .body(msg.clone())
        .send()
        .await
        .unwrap()
        .status();
    assert!(s.is_success());
    let hl = esdk::Header::parse(&msg, &Default::default()).unwrap().1;
    let unwrapped = post(
        &http,
        &base,
        Some(&token),
        "/v1/keys/unwrap",
        json!({"header": B64.encode(&msg[..hl])}),
    )
    .await;
    assert_eq!(unwrapped["data_key"], dk["data_key"]);
    // A failed login with a wrong password.
    let _ = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"username": "pat", "password": "wrong-password-123"}))
        .send()
        .await
        .unwrap();
    relay.kill().unwrap();
    let mut logs = String::new();
    relay
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let _ = relay.wait();
    assert!(
        logs.contains("request"),
        "the relay logged requests: {logs}"
    );
    let signature = url.rsplit("signature=").next().unwrap().to_owned();
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    for (what, secret) in [
        ("password", PASSWORD.to_owned()),
        ("wrong password", "wrong-password-123".to_owned()),
        ("token", token.clone()),
        (
            "token signature",
            token.rsplit('.').next().unwrap().to_owned(),
        ),
        (
            "data key (base64)",
            dk["data_key"].as_str().unwrap().to_owned(),
        ),
        ("data key (hex)", key_hex),
        ("plaintext", "SECRET-NOTE".to_owned()),
        ("ciphertext", B64.encode(&msg[hl..hl + 24])),
        ("URL signature", signature),
    ] {
        assert!(!logs.contains(&secret), "the logs contain the {what}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_uploads_index_and_store_agree_after_restart() {
    let dir = temp_dir("crash");
    cli(
        &dir,
        None,
        &["create-user", "--username", "pat", "--role", "patient"],
    );
    let port = free_port();
    let mut relay = start(&dir, None, port, false);
    let base = format!("http://127.0.0.1:{port}");
    let http = common::http_client();
    let session = login(&http, &base, "pat").await;
    let token = session["token"].as_str().unwrap().to_owned();
    let body = vec![0x5au8; 1024 * 1024];
    let mut urls = Vec::new();
    for _ in 0..60 {
        let rec = post(
            &http,
            &base,
            Some(&token),
            "/v1/records",
            json!({"record_type": "eeg", "size": body.len(), "content_type": "application/octet-stream"}),
        )
        .await;
        urls.push(rec["upload"]["url"].as_str().unwrap().to_owned());
    }
    let mut tasks = Vec::new();
    for url in urls {
        let http = http.clone();
        let base = base.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let _ = http
                .put(format!("{base}{url}"))
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await;
        }));
    }
    tokio::time::sleep(Duration::from_millis(60)).await;
    relay.kill().unwrap();
    let _ = relay.wait();
    for t in tasks {
        let _ = t.await;
    }

    // Restart (recovery runs at start) and compare the index with the store.
    let port = free_port();
    let mut relay = start(&dir, None, port, false);
    relay.kill().unwrap();
    let _ = relay.wait();
    let Snapshot {
        complete,
        pending,
        objects,
        tmp,
    } = snapshot(&dir).await;
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
    for (key, size) in &complete {
        let p = dir.join("objects").join(key);
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(u64::MAX);
        assert_eq!(len, *size, "complete record {key} has its whole object");
    }
    for key in &objects {
        assert!(
            complete.iter().any(|(k, _)| k == key),
            "object {key} has a complete index row"
        );
    }
    for key in &pending {
        assert!(
            !objects.contains(key),
            "pending row {key} has no visible object"
        );
    }
    eprintln!(
        "after the crash: {} complete, {} pending (URL not yet expired)",
        complete.len(),
        pending.len()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The record index and the store's files after a restart.
struct Snapshot {
    complete: Vec<(String, u64)>,
    pending: Vec<String>,
    objects: Vec<String>,
    tmp: Vec<PathBuf>,
}

/// Reads the record index and lists the store, through the relay's own types.
async fn snapshot(dir: &Path) -> Snapshot {
    let state = phiveil_relay::AppState::open(phiveil_relay::Config::new(dir))
        .await
        .unwrap();
    let pending: Vec<String> = state
        .db
        .pending_records()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.object_key)
        .collect();
    let patient = state
        .db
        .user_by_name("pat")
        .await
        .unwrap()
        .unwrap()
        .pseudonym
        .unwrap();
    let complete: Vec<(String, u64)> = state
        .db
        .records(&patient, None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.object_key, r.size))
        .collect();
    let mut objects = Vec::new();
    let root = dir.join("objects");
    fn walk(root: &Path, p: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                if !path.ends_with(".tmp") {
                    walk(root, &path, out);
                }
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    walk(&root, &root, &mut objects);
    let tmp: Vec<PathBuf> = std::fs::read_dir(root.join(".tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    Snapshot {
        complete,
        pending,
        objects,
        tmp,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relay_processes_share_one_postgres() {
    let Some(db) = pg_database("replicas-db").await else {
        return;
    };
    let dir = temp_dir("replicas");
    // Both replicas share the database, and (as a shared volume would) the key files
    // and the object directory.
    cli(
        &dir,
        Some(&db),
        &["create-user", "--username", "pat", "--role", "patient"],
    );
    cli(
        &dir,
        Some(&db),
        &["create-user", "--username", "doc", "--role", "clinician"],
    );
    let (pa, pb) = (free_port(), free_port());
    let mut ra = start(&dir, Some(&db), pa, false);
    let mut rb = start(&dir, Some(&db), pb, false);
    let (a, b) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    let http = common::http_client();

    // Logged in on A, served by B.
    let session = login(&http, &a, "pat").await;
    let token = session["token"].as_str().unwrap().to_owned();
    let ps = session["pseudonym"].as_str().unwrap().to_owned();
    let me: Value = http
        .get(format!("{b}/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["pseudonym"], ps.as_str());

    // Data key from B, record created on A, uploaded through B.
    let mut ctx = EncryptionContext::new();
    ctx.insert("patient".into(), ps.clone());
    ctx.insert("record_type".into(), "vitals".into());
    let dk = post(
        &http,
        &b,
        Some(&token),
        "/v1/keys/data-key",
        json!({ "context": ctx }),
    )
    .await;
    let (kr, _) = keyring_from(&dk);
    let msg = esdk::encrypt(
        &kr,
        b"shared",
        &ctx,
        &EncryptOptions::default(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    let rec = post(
        &http,
        &a,
        Some(&token),
        "/v1/records",
        json!({"record_type": "vitals", "size": msg.len(), "content_type": "application/octet-stream"}),
    )
    .await;
    let url = rec["upload"]["url"].as_str().unwrap();
    let s = http
        .put(format!("{b}{url}"))
        .header("content-type", "application/octet-stream")
        .body(msg.clone())
        .send()
        .await
        .unwrap()
        .status();
    assert!(s.is_success(), "{s}");
    let listed: Value = http
        .get(format!("{a}/v1/records"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "A sees what B completed"
    );

    // The grant given on B lets the clinician, logged in on A, unwrap on A.
    let doc = login(&http, &a, "doc").await;
    let doc_token = doc["token"].as_str().unwrap().to_owned();
    post(
        &http,
        &b,
        Some(&token),
        "/v1/grants",
        json!({"clinician_id": doc["user_id"], "record_type": "vitals"}),
    )
    .await;
    let hl = esdk::Header::parse(&msg, &Default::default()).unwrap().1;
    let uw = post(
        &http,
        &a,
        Some(&doc_token),
        "/v1/keys/unwrap",
        json!({"header": B64.encode(&msg[..hl])}),
    )
    .await;
    let (kr, _) = keyring_from(&uw);
    let out = esdk::decrypt(&kr, &msg, &esdk::DecryptOptions::expecting(ctx.clone())).unwrap();
    assert_eq!(out.plaintext, b"shared");

    // Concurrent audited requests on both replicas keep one intact chain.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (http, token, ctx) = (http.clone(), token.clone(), ctx.clone());
        let base = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            post(
                &http,
                &base,
                Some(&token),
                "/v1/keys/data-key",
                json!({ "context": ctx }),
            )
            .await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for r in [&mut ra, &mut rb] {
        r.kill().unwrap();
        let _ = r.wait();
    }
    let verdict = cli(&dir, Some(&db), &["audit", "verify"]);
    assert!(verdict.contains("intact"), "{verdict}");
    std::fs::remove_dir_all(dir).unwrap();
}
