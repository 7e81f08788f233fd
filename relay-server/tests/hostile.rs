//! Hostile input against a real relay process (loopback only), one probe per kind
//! of attack an outside security review reproduced, and afterwards a restart with
//! nothing lost: the relay starts, `audit verify` finds the chain intact and every
//! complete record reads back byte for byte.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Limits small enough to reach in a test.
const LIMITS: &[&str] = &[
    "--header-read-timeout-secs",
    "2",
    "--max-connections-per-source",
    "24",
    "--max-pending-records-per-patient",
    "3",
    "--max-streams-per-user",
    "2",
    "--login-backoff-base-secs",
    "60",
];

struct Relay {
    base: String,
    http: reqwest::Client,
}

impl Relay {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self
            .call(reqwest::Method::POST, path, token, Some(body))
            .await;
        (s, v)
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (s, _, v) = self
            .call(reqwest::Method::GET, path, Some(token), None)
            .await;
        (s, v)
    }

    async fn token(&self, user: &str) -> String {
        let (s, v) = self
            .post(
                "/v1/auth/login",
                None,
                json!({"username": user, "password": PASSWORD}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }

    /// Creates a record and uploads `bytes` through its presigned URL.
    async fn upload(&self, token: &str, bytes: &[u8]) -> String {
        let (s, v) = self
            .post(
                "/v1/records",
                Some(token),
                json!({"record_type": "notes", "size": bytes.len()}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let url = v["upload"]["url"].as_str().unwrap();
        let put = self
            .http
            .put(format!("{}{url}", self.base))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::CREATED);
        v["record"]["id"].as_str().unwrap().to_owned()
    }

    /// Downloads a record's object.
    async fn download(&self, token: &str, id: &str) -> Vec<u8> {
        let (s, v) = self.get(&format!("/v1/records/{id}"), token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let url = v["download"]["url"].as_str().unwrap();
        let r = self
            .http
            .get(format!("{}{url}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.unwrap().to_vec()
    }
}

fn users(dir: &Path) {
    for (name, role) in [
        ("op", "operator"),
        ("dr-a", "clinician"),
        ("pat", "patient"),
        ("pat-b", "patient"),
    ] {
        cli(
            dir,
            None,
            &["create-user", "--username", name, "--role", role],
        );
    }
}

/// Sends raw bytes on a fresh connection; returns it.
fn raw(port: u16, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(bytes).unwrap();
    s
}

/// Reads until the peer closes or `limit` passes; returns what arrived and whether
/// the peer closed.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (String, bool) {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), false)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_and_the_relay_restarts_with_nothing_lost() {
    let dir = temp_dir("hostile");
    users(&dir);
    let port = free_port();
    let mut child = start_with(&dir, None, port, false, LIMITS);
    let r = Relay {
        base: format!("http://127.0.0.1:{port}"),
        // Idle connections are dropped before the relay's 2 s keep-alive limit.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(4)
            .pool_idle_timeout(Duration::from_millis(1000))
            .build()
            .unwrap(),
    };
    let pat = r.token("pat").await;
    let op = r.token("op").await;
    let dr = r.token("dr-a").await;
    let me: Value = r.get("/v1/me", &pat).await.1;
    let pseudonym = me["pseudonym"].as_str().unwrap().to_owned();
    let kept = b"a complete record that must survive everything below".to_vec();
    let kept_id = r.upload(&pat, &kept).await;

    // 1. Names that would become `.`/`..` path segments are refused where they
    //    enter; so is a caller-chosen patient that is not a pseudonym.
    for rt in ["..", ".", "../x", "a/b", ".hidden"] {
        let (s, v) = r
            .post(
                "/v1/records",
                Some(&pat),
                json!({"record_type": rt, "size": 10}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{rt}: {v}");
    }
    let (s, _) = r
        .post(
            "/v1/records",
            Some(&dr),
            json!({"patient": "../../etc", "record_type": "notes", "size": 10}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // 2. A presigned PUT with a bad signature that announces 200 MB is refused
    //    before a byte of body is read (the answer comes with no body sent).
    let mut c = raw(
        port,
        format!(
            "PUT /store/{pseudonym}/notes/r-x.esdk?expires=9999999999&length=200000000&content_type=application%2Foctet-stream&signature={} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 200000000\r\n\r\n",
            "0".repeat(64)
        )
        .as_bytes(),
    );
    let (answer, _) = read_until_closed(&mut c, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    // A valid URL with a Content-Length other than the signed one: refused unread.
    let (s, v) = r
        .post(
            "/v1/records",
            Some(&pat),
            json!({"record_type": "notes", "size": 10}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let url = v["upload"]["url"].as_str().unwrap().to_owned();
    let mut c = raw(
        port,
        format!("PUT {url} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 9\r\n\r\n").as_bytes(),
    );
    let (answer, _) = read_until_closed(&mut c, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    // 3. Slow headers and idle keep-alive connections are closed after the header
    //    timeout (2 s here); connections over the per-source cap are closed at once.
    let mut slow = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
    let t = Instant::now();
    let mut closed = false;
    for i in 0..20 {
        std::thread::sleep(Duration::from_millis(400));
        if slow
            .write_all(format!("X-Trickle-{i}: y\r\n").as_bytes())
            .is_err()
        {
            closed = true;
            break;
        }
        let (_, c) = read_until_closed(&mut slow, Duration::from_millis(1));
        if c {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickling header was never cut off");
    assert!(t.elapsed() < Duration::from_secs(7), "{:?}", t.elapsed());
    let mut idle = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(6));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle keep-alive connection stayed open");
    let mut many: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let refused = many
        .iter_mut()
        .map(|s| read_until_closed(s, Duration::from_millis(50)).1)
        .filter(|closed| *closed)
        .count();
    assert!(
        refused >= 16,
        "only {refused} of 40 connections over the cap of 24 were closed"
    );
    drop(many);
    std::thread::sleep(Duration::from_millis(300));

    // 4. Password guessing: after 5 free failures the account is throttled (even
    //    the right password waits), the refusals name the account in the audit
    //    log, and an alert goes to the live feed.
    let mut alerts = r
        .http
        .get(format!("{}/v1/alerts/stream", r.base))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    for _ in 0..6 {
        let (s, _) = r
            .post(
                "/v1/auth/login",
                None,
                json!({"username": "pat-b", "password": "wrong but long enough"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, h, v) = r
        .call(
            reqwest::Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "pat-b", "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(h.get("retry-after").is_some());
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("failed logins") && Instant::now() < deadline {
        if let Ok(Ok(Some(b))) = tokio::time::timeout(Duration::from_secs(1), alerts.chunk()).await
        {
            seen.push_str(&String::from_utf8_lossy(&b));
        }
    }
    assert!(seen.contains("failed logins"), "no alert: {seen}");
    drop(alerts);
    let (_, rows) = r.get("/v1/audit?action=login&outcome=refused", &op).await;
    let rows = rows.as_array().unwrap();
    assert!(rows
        .iter()
        .any(|row| row["detail"].as_str().unwrap().contains("account=u-")));
    assert!(rows.iter().any(|row| row["detail"] == "throttled"));
    // Weak passwords are refused (NIST SP 800-63B: length plus a blocklist).
    let (_, inv) = r.post("/v1/invitations", Some(&dr), json!({})).await;
    for weak in [
        "aaaaaaaaaa",
        "aaaaaaaaaaaaaaaaaaaa",
        "password1234567",
        "123456789012345",
    ] {
        let (s, v) = r
            .post(
                "/v1/enroll",
                None,
                json!({"code": inv["code"], "username": "newbie", "password": weak}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{weak}: {v}");
    }

    // 6. Caller-chosen text never reaches an audit column, and requests refused for
    //    a missing or forged token leave a row.
    let junk = format!("<script>\n{}", "x".repeat(30_000));
    let (s, _) = r
        .post(
            "/v1/records",
            Some(&dr),
            json!({"patient": junk, "record_type": "notes", "size": 10}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = r.get("/v1/records", "pv1.forged.token").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = r.call(reqwest::Method::GET, "/v1/me", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let anon = r
        .http
        .get(format!(
            "{}/store/%3Cscript%3E%0A/x?expires=1&signature=00",
            r.base
        ))
        .send()
        .await
        .unwrap();
    assert!(anon.status().is_client_error());
    let (_, all) = r.get("/v1/audit?limit=10000", &op).await;
    let all = all.as_array().unwrap();
    for row in all {
        let p = row["patient"].as_str().unwrap_or("");
        assert!(
            p.len() <= 64 && !p.contains('<') && !p.contains('\n'),
            "{row}"
        );
        assert!(row["detail"].as_str().unwrap().len() <= 400, "{row}");
    }
    assert!(all
        .iter()
        .any(|row| row["detail"].as_str().unwrap().contains("patient-invalid")));
    let auth_rows: Vec<&Value> = all
        .iter()
        .filter(|row| row["action"] == "authenticate")
        .collect();
    assert!(auth_rows
        .iter()
        .any(|row| row["detail"].as_str().unwrap().contains("invalid-token")));
    assert!(auth_rows
        .iter()
        .any(|row| row["detail"].as_str().unwrap().contains("missing-token")));

    // 8. Smaller items.
    // Login, invitation and key answers are not cacheable; everything is nosniff.
    let (_, h, _) = r
        .call(
            reqwest::Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "op", "password": PASSWORD})),
        )
        .await;
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let (_, h, _) = r
        .call(
            reqwest::Method::POST,
            "/v1/invitations",
            Some(&dr),
            Some(json!({})),
        )
        .await;
    assert_eq!(h["cache-control"], "no-store");
    // Framework rejections are problem+json too.
    for (method, path) in [
        (reqwest::Method::GET, "/v1/no-such-route"),
        (reqwest::Method::DELETE, "/v1/records"),
        (reqwest::Method::GET, "/v1/audit?limit=minus-one"),
    ] {
        let (s, h, _) = r.call(method, path, Some(&op), None).await;
        assert!(s.is_client_error(), "{path}");
        assert_eq!(h["content-type"], "application/problem+json", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff");
    }
    // /metrics is for operators (or the scraper's token), not anyone.
    let anon = r
        .http
        .get(format!("{}/metrics", r.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let (s, _) = r.get("/metrics", &pat).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = r.get("/metrics", &op).await;
    assert_eq!(s, StatusCode::OK);
    // Two concurrent PUTs to one URL: exactly one wins.
    let (s, v) = r
        .post(
            "/v1/records",
            Some(&pat),
            json!({"record_type": "notes", "size": 4}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let url = format!("{}{}", r.base, v["upload"]["url"].as_str().unwrap());
    let put = |body: &'static [u8]| {
        r.http
            .put(url.clone())
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    let (a, b) = tokio::join!(put(b"AAAA"), put(b"BBBB"));
    let mut codes = [a.unwrap().status(), b.unwrap().status()];
    codes.sort();
    assert_eq!(codes, [StatusCode::CREATED, StatusCode::CONFLICT]);
    // Per-user caps: pending uploads (3 here; one is left from item 2) and streams.
    let mut last = StatusCode::CREATED;
    for _ in 0..3 {
        last = r
            .post(
                "/v1/records",
                Some(&pat),
                json!({"record_type": "notes", "size": 10}),
            )
            .await
            .0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let stream = || {
        r.http
            .get(format!("{}/v1/vitals/alerts/stream", r.base))
            .bearer_auth(&dr)
            .send()
    };
    let (s1, s2) = (stream().await.unwrap(), stream().await.unwrap());
    assert_eq!((s1.status(), s2.status()), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        stream().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    drop((s1, s2));

    // 7. The data directory is private to the relay's user.
    assert_eq!(mode(&dir), 0o700);
    for f in [
        "relay.sqlite3",
        "relay.sqlite3-wal",
        "token-signing.key",
        "kms-master-keys.json",
    ] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    let obj = walk(&dir.join("objects"))
        .into_iter()
        .find(|p| p.is_file())
        .unwrap();
    assert_eq!(mode(&obj), 0o600, "{}", obj.display());

    // 1 (continued). A row an older release let through (a `..` record type in
    // its object key), expired or not, does not stop a restart.
    child.kill().unwrap();
    child.wait().unwrap();
    {
        let db = rusqlite::Connection::open(dir.join("relay.sqlite3")).unwrap();
        for (id, exp) in [("r-bad-old", 1i64), ("r-bad-new", 9_999_999_999)] {
            db.execute(
                "INSERT INTO records (id, patient, record_type, object_key, content_type, size, state, created_at, expires_at)
                 VALUES (?1, ?2, '..', ?3, 'application/octet-stream', 10, 'pending', 1, ?4)",
                rusqlite::params![id, pseudonym, format!("{pseudonym}/../{id}.esdk"), exp],
            )
            .unwrap();
        }
    }
    let verify = cli(&dir, None, &["audit", "verify"]);
    assert!(verify.contains("intact"), "{verify}");
    let mut child = start_with(&dir, None, port, false, LIMITS);
    let pat = r.token("pat").await;
    assert_eq!(r.download(&pat, &kept_id).await, kept);
    let (s, list) = r.get("/v1/records", &pat).await;
    assert_eq!(s, StatusCode::OK);
    for rec in list.as_array().unwrap() {
        let id = rec["id"].as_str().unwrap();
        assert!(!r.download(&pat, id).await.is_empty(), "{id}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let verify = cli(&dir, None, &["audit", "verify"]);
    assert!(verify.contains("intact"), "{verify}");
    let db = rusqlite::Connection::open(dir.join("relay.sqlite3")).unwrap();
    let old: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM records WHERE id = 'r-bad-old'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old, 0, "an expired unusable row is dropped at recovery");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every path under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// 5. A live stream ends when the token that opened it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_end_when_their_token_expires() {
    let dir = temp_dir("stream-expiry");
    users(&dir);
    let port = free_port();
    let mut child = start_with(&dir, None, port, false, &["--token-ttl-secs", "3"]);
    let base = format!("http://127.0.0.1:{port}");
    let http = common::http_client();
    for (path, user) in [
        ("/v1/alerts/stream", "op"),
        ("/v1/vitals/alerts/stream", "dr-a"),
    ] {
        let token = login(&http, &base, user).await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut resp = http
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(_)) = resp.chunk().await {}
        })
        .await;
        assert!(
            ended.is_ok(),
            "{path} kept streaming after its token expired"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
