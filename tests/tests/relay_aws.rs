//! The relay's production backends against real servers that speak the AWS APIs,
//! started on 127.0.0.1 by this test (installed by `scripts/setup.sh`):
//! moto for AWS KMS (it enforces the encryption context) and the S3 flow, and
//! s3s-fs for presigned-URL rejection (it checks SigV4 strictly; moto does not), and
//! Azurite (the Azure Storage emulator) as the replica store while s3s-fs, the primary,
//! goes down and comes back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use phiveil_core::esdk::{self, DecryptOptions, Header};
use phiveil_relay::kms::{AwsKms, AwsSettings, Kms};
use phiveil_relay::store::S3Store;
use phiveil_tests::relay::{record_context, temp_dir, TestRelay};
use phiveil_tests::Peer;
use reqwest::StatusCode;
use serde_json::json;

#[path = "../../relay-server/tests/common/port.rs"]
mod port;
use port::free_port;

const CT: &str = "application/octet-stream";

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cache() -> String {
    std::env::var("PHIVEIL_CACHE")
        .unwrap_or_else(|_| format!("{}/.cache/phiveil", std::env::var("HOME").unwrap()))
}

fn wait_for(port: u16, what: &str) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start on 127.0.0.1:{port}");
}

fn moto() -> (Server, String) {
    let port = free_port();
    let bin = std::env::var("PHIVEIL_MOTO")
        .unwrap_or_else(|_| format!("{}/venv/bin/moto_server", cache()));
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} ({e}); run scripts/setup.sh"));
    let s = Server(child);
    wait_for(port, "moto");
    (s, format!("http://127.0.0.1:{port}"))
}

fn s3s_fs(root: &std::path::Path) -> (Server, String) {
    s3s_fs_on(root, free_port())
}

fn s3s_fs_on(root: &std::path::Path, port: u16) -> (Server, String) {
    let bin =
        std::env::var("PHIVEIL_S3S_FS").unwrap_or_else(|_| format!("{}/tools/bin/s3s-fs", cache()));
    let child = Command::new(&bin)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            "AKPHIVEIL",
            "--secret-key",
            "phiveil-test-secret",
        ])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} ({e}); run scripts/setup.sh"));
    let s = Server(child);
    wait_for(port, "s3s-fs");
    (s, format!("http://127.0.0.1:{port}"))
}

fn settings(endpoint: &str, key: &str, secret: &str) -> AwsSettings {
    AwsSettings {
        endpoint_url: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        credentials: Some((key.into(), secret.into())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_kms_and_s3_flow_against_moto() {
    if Peer::skipped() {
        return;
    }
    let (_moto, endpoint) = moto();
    let aws = settings(&endpoint, "testing", "testing");
    let cfg = aws.load().await;
    let key = aws_sdk_kms::Client::new(&cfg)
        .create_key()
        .send()
        .await
        .unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let kms = Arc::new(AwsKms::new(&aws, &arn).await);
    let s3 = S3Store::new(&aws, "phiveil-records").await;
    s3.client()
        .create_bucket()
        .bucket("phiveil-records")
        .send()
        .await
        .unwrap();
    let relay = TestRelay::start_with(|_| {}, Some(kms.clone()), Some(s3)).await;
    let (_op, dr, alice) = relay.cast().await;
    let ps = alice.pseudonym.clone().unwrap();
    let ctx = record_context(&ps, "vitals");

    // The browser's data key comes from KMS GenerateDataKey: an aws-kms entry.
    let plaintext = b"bp 128/82, hr 71";
    let msg = alice.encrypt(&ctx, plaintext).await;
    let header = Header::parse(&msg, &Default::default()).unwrap().0;
    assert_eq!(header.encrypted_data_keys[0].provider_id, "aws-kms");
    assert_eq!(header.encrypted_data_keys[0].provider_info, arn.as_bytes());

    // Upload straight to S3 with the presigned PUT, then complete.
    let (s, rec) = alice
        .post(
            "/v1/records",
            &json!({"record_type": "vitals", "size": msg.len(), "content_type": CT}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rec}");
    let url = rec["upload"]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&endpoint),
        "the browser talks to S3 directly: {url}"
    );
    assert!(alice
        .presigned_put(&rec["upload"], msg.clone(), CT)
        .await
        .is_success());
    let id = rec["record"]["id"].as_str().unwrap();
    let (s, done) = alice
        .post(&format!("/v1/records/{id}/complete"), &json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "complete");

    // The clinician, once granted, downloads from S3 and unwraps through KMS.
    assert_eq!(dr.unwrap(&msg).await.unwrap_err().0, StatusCode::FORBIDDEN);
    alice
        .post(
            "/v1/grants",
            &json!({"clinician_id": dr.user_id, "record_type": "vitals"}),
        )
        .await;
    let (s, r) = dr.get(&format!("/v1/records/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, stored) = dr.presigned_get(&r["download"]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stored, msg, "S3 holds the ciphertext only");
    let kr = dr.unwrap(&stored).await.unwrap();
    let out = esdk::decrypt(&kr, &stored, &DecryptOptions::expecting(ctx.clone())).unwrap();
    assert_eq!(out.plaintext, plaintext);

    // KMS enforces the encryption context: another context does not decrypt.
    assert!(kms
        .decrypt(&header.encrypted_data_keys, &ctx)
        .await
        .unwrap()
        .is_some());
    assert!(kms
        .decrypt(&header.encrypted_data_keys, &record_context(&ps, "notes"))
        .await
        .unwrap()
        .is_none());

    // Completing a record whose object is not in S3 is refused.
    let (_, rec2) = alice
        .post(
            "/v1/records",
            &json!({"record_type": "vitals", "size": 10, "content_type": CT}),
        )
        .await;
    let id2 = rec2["record"]["id"].as_str().unwrap();
    assert_eq!(
        alice
            .post(&format!("/v1/records/{id2}/complete"), &json!({}))
            .await
            .0,
        StatusCode::CONFLICT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_s3_refuses_tampered_expired_and_mismatched_presigned_urls() {
    if Peer::skipped() {
        return;
    }
    let root = temp_dir("s3s");
    std::fs::create_dir_all(root.join("phiveil-records")).unwrap();
    let (_srv, endpoint) = s3s_fs(&root);
    let aws = settings(&endpoint, "AKPHIVEIL", "phiveil-test-secret");
    let s3 = S3Store::new(&aws, "phiveil-records").await;
    let relay = TestRelay::start_with(|c| c.presign_ttl_secs = 2, None, Some(s3)).await;
    let (_op, _dr, alice) = relay.cast().await;
    let new_upload = || async {
        let (s, rec) = alice
            .post(
                "/v1/records",
                &json!({"record_type": "eeg", "size": 64, "content_type": CT}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        rec
    };
    let put = |url: String, body: Vec<u8>, ct: &'static str| {
        let http = alice.http.clone();
        async move {
            http.put(url)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // The honest upload works.
    let ok = new_upload().await;
    let url = ok["upload"]["url"].as_str().unwrap().to_owned();
    assert!(put(url, vec![1; 64], CT).await.is_success());
    let id = ok["record"]["id"].as_str().unwrap();
    assert_eq!(
        alice
            .post(&format!("/v1/records/{id}/complete"), &json!({}))
            .await
            .0,
        StatusCode::OK
    );

    // Tampered signature, another key (another patient's prefix), wrong length or
    // content type: refused by the server's SigV4 check, and nothing is stored.
    let rec = new_upload().await;
    let url = rec["upload"]["url"].as_str().unwrap().to_owned();
    let sig_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = url.clone();
    let c = if &url[sig_at..sig_at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    tampered.replace_range(sig_at..sig_at + 1, c);
    assert_eq!(put(tampered, vec![1; 64], CT).await, StatusCode::FORBIDDEN);
    let ps = alice.pseudonym.clone().unwrap();
    let moved = url.replacen(&ps, "p-0000000000000000", 1);
    assert_eq!(put(moved, vec![1; 64], CT).await, StatusCode::FORBIDDEN);
    assert!(
        !put(url.clone(), vec![1; 65], CT).await.is_success(),
        "longer body"
    );
    assert!(
        !put(url.clone(), vec![1; 64], "text/plain")
            .await
            .is_success(),
        "other content type"
    );
    let id = rec["record"]["id"].as_str().unwrap();
    assert_eq!(
        alice
            .post(&format!("/v1/records/{id}/complete"), &json!({}))
            .await
            .0,
        StatusCode::CONFLICT
    );

    // Expired.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(put(url, vec![1; 64], CT).await, StatusCode::FORBIDDEN);
    let _ = std::fs::remove_dir_all(root);
}

/// The Azure Storage emulator's well-known development account (published with it; not
/// a secret).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn azurite(dir: &std::path::Path) -> (Server, String) {
    let port = free_port();
    let bin = std::env::var("PHIVEIL_AZURITE")
        .unwrap_or_else(|_| format!("{}/tools/azurite/node_modules/.bin/azurite-blob", cache()));
    let child = Command::new(&bin)
        .args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            "--location",
        ])
        .arg(dir)
        .args(["--silent", "--skipApiVersionCheck"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} ({e}); run scripts/setup.sh"));
    let s = Server(child);
    wait_for(port, "azurite");
    (s, format!("http://127.0.0.1:{port}"))
}

/// The primary store (S3, s3s-fs) goes down and comes back; the replica (Azure Blob,
/// Azurite) keeps every copied record readable through the relay, the copies that could
/// not be made wait in the queue with backoff and drain when the primary returns, and
/// `store verify` finds and repairs an object lost from either store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_stay_readable_from_the_azure_replica_while_the_primary_is_down() {
    if Peer::skipped() {
        return;
    }
    use phiveil_relay::replica::{self, ReplicaSettings};
    let root = temp_dir("s3s-primary");
    std::fs::create_dir_all(root.join("phiveil-records")).unwrap();
    let port = free_port();
    let (primary, endpoint) = s3s_fs_on(&root, port);
    let (_azurite, az) = azurite(&temp_dir("azurite"));
    let aws = settings(&endpoint, "AKPHIVEIL", "phiveil-test-secret");
    let s3 = S3Store::new(&aws, "phiveil-records").await;
    let relay = TestRelay::start_with(
        |c| {
            c.replica = Some(ReplicaSettings {
                url: format!("{az}/{AZURITE_ACCOUNT}/records"),
                account: AZURITE_ACCOUNT.into(),
                key: zeroize::Zeroizing::new(AZURITE_KEY.into()),
            });
            // The copier runs when this test says.
            c.replica_worker = false;
        },
        None,
        Some(s3),
    )
    .await;
    let state = &relay.state;
    let (_op, _dr, alice) = relay.cast().await;
    let upload = |n: u8| {
        let alice = &alice;
        async move {
            let body = vec![n; 100 + usize::from(n)];
            let (s, rec) = alice
                .post(
                    "/v1/records",
                    &json!({"record_type": "eeg", "size": body.len(), "content_type": CT}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED);
            assert_eq!(
                alice.presigned_put(&rec["upload"], body.clone(), CT).await,
                StatusCode::OK
            );
            let id = rec["record"]["id"].as_str().unwrap().to_owned();
            let (s, _) = alice
                .post(&format!("/v1/records/{id}/complete"), &json!({}))
                .await;
            assert_eq!(s, StatusCode::OK);
            (id, body)
        }
    };
    let download = |id: String| {
        let alice = &alice;
        async move {
            let (s, got) = alice.get(&format!("/v1/records/{id}")).await;
            assert_eq!(s, StatusCode::OK, "{got}");
            let url = got["download"]["url"].as_str().unwrap().to_owned();
            let (s, bytes) = alice.presigned_get(&got["download"]).await;
            (url, s, bytes)
        }
    };

    // Three records, copied.
    let mut records = Vec::new();
    for n in 1..=3 {
        records.push(upload(n).await);
    }
    assert_eq!(replica::backlog(&state.db).await.unwrap(), 3);
    assert_eq!(replica::copy_due(state).await.unwrap(), (3, 0));
    // Two more, not copied yet, and the primary goes down.
    for n in 4..=5 {
        records.push(upload(n).await);
    }
    drop(primary);
    assert_eq!(replica::copy_due(state).await.unwrap(), (0, 2));
    assert_eq!(replica::backlog(&state.db).await.unwrap(), 2);
    let metrics = state.metrics.render();
    assert!(metrics.contains("phiveil_replica_backlog 2"), "{metrics}");

    // Every copied record is read from the replica, through a URL the relay signed.
    for (id, body) in &records[..3] {
        let (url, s, bytes) = download(id.clone()).await;
        assert!(url.starts_with("/replica/"), "{url}");
        assert_eq!(s, StatusCode::OK);
        assert_eq!(&bytes, body);
        let forged = url.replace("signature=", "signature=0");
        let r = alice
            .http
            .get(alice.absolute(&forged))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    // The primary returns: after the backoff the queue drains, and reads go to it again.
    let (_primary, _) = s3s_fs_on(&root, port);
    let mut drained = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        replica::copy_due(state).await.unwrap();
        if replica::backlog(&state.db).await.unwrap() == 0 {
            drained = true;
            break;
        }
    }
    assert!(drained, "the backlog drained when the primary returned");
    for (id, body) in &records {
        let (url, s, bytes) = download(id.clone()).await;
        assert!(!url.starts_with("/replica/"), "{url}");
        assert_eq!((s, &bytes), (StatusCode::OK, body));
    }
    let v = replica::verify(state, false).await.unwrap();
    assert_eq!((v.records, v.in_both), (5, 5), "{v:?}");

    // An object lost from the primary: found, repaired from the replica.
    let lost = state
        .db
        .record(&records[0].0)
        .await
        .unwrap()
        .unwrap()
        .object_key;
    std::fs::remove_file(root.join("phiveil-records").join(&lost)).unwrap();
    let v = replica::verify(state, true).await.unwrap();
    assert_eq!((v.in_both, v.repaired_primary), (4, 1), "{v:?}");
    let v = replica::verify(state, false).await.unwrap();
    assert_eq!(v.in_both, 5, "{v:?}");
}
