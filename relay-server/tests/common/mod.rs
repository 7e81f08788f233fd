//! Helpers shared by the relay's process tests: temporary data directories, free
//! loopback ports, the relay binary as a CLI and as a server, and JSON calls.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use phiveil_core::esdk::{BrokeredKmsKeyring, EncryptedDataKey};
use phiveil_core::secret::DataKey;
use serde_json::{json, Value};

mod port;
// Not every test binary starts a server (as `dead_code` above, for the same reason).
#[allow(unused_imports)]
pub use port::free_port;

pub const BIN: &str = env!("CARGO_BIN_EXE_phiveil-relay");
pub const PASSWORD: &str = "correct horse battery staple";

pub fn temp_dir(tag: &str) -> PathBuf {
    let mut b = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    let dir = std::env::temp_dir().join(format!(
        "phiveil-{tag}-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The relay binary on `dir`, and on PostgreSQL `db` when given.
pub fn relay(dir: &Path, db: Option<&str>) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir").arg(dir);
    if let Some(db) = db {
        c.args(["--database-url", db]);
    }
    c
}

/// Runs an operator CLI command; returns its standard output.
pub fn cli(dir: &Path, db: Option<&str>, args: &[&str]) -> String {
    let out = relay(dir, db)
        .args(args)
        .env("PHIVEIL_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts the relay; callers kill and wait for it. With `capture_logs` its debug
/// JSON logs go to a pipe the caller reads; otherwise it logs warnings nowhere (an
/// unread pipe would fill and stall it).
#[allow(clippy::zombie_processes)]
pub fn start(dir: &Path, db: Option<&str>, port: u16, capture_logs: bool) -> Child {
    start_with(dir, db, port, capture_logs, &[])
}

/// [`start`] with extra `serve` arguments (limits, say).
#[allow(clippy::zombie_processes)]
pub fn start_with(
    dir: &Path,
    db: Option<&str>,
    port: u16,
    capture_logs: bool,
    extra: &[&str],
) -> Child {
    let mut cmd = relay(dir, db);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
    // Most tests exercise the brokered data keys; the binary's default is end-to-end.
    if !extra.contains(&"--key-mode") {
        cmd.args(["--key-mode", "brokered"]);
    }
    cmd.args(extra).stdout(Stdio::null());
    if capture_logs {
        cmd.env("PHIVEIL_LOG", "debug")
            .env("PHIVEIL_LOG_FORMAT", "json")
            .stderr(Stdio::piped());
    } else {
        cmd.env("PHIVEIL_LOG", "warn").stderr(Stdio::null());
    }
    let child = cmd.spawn().unwrap();
    wait_for_port(port);
    child
}

/// Waits until a relay just started on `port` answers `GET /healthz` with 200, at
/// most 10 s. Waiting for an HTTP answer, not for a connection alone, means the
/// first request a test sends finds the relay serving.
pub fn wait_for_port(port: u16) {
    use std::io::{Read as _, Write as _};
    let answers = || -> std::io::Result<bool> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")?;
        let mut head = Vec::new();
        s.read_to_end(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.1 200"))
    };
    for _ in 0..400 {
        if answers().unwrap_or(false) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("relay did not start on {port}");
}

/// A client for a relay started with its default limits. Pooled connections are
/// dropped after 10 s idle, well before the relay closes a keep-alive connection idle
/// for its header-read timeout (30 s), so a request never reuses a connection the relay
/// is closing (which fails with `IncompleteMessage`).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub async fn post(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    path: &str,
    body: Value,
) -> Value {
    let mut rb = http.post(format!("{base}{path}")).json(&body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let resp = rb.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

pub async fn login(http: &reqwest::Client, base: &str, user: &str) -> Value {
    post(
        http,
        base,
        None,
        "/v1/auth/login",
        json!({"username": user, "password": PASSWORD}),
    )
    .await
}

pub fn keyring_from(body: &Value) -> (BrokeredKmsKeyring, Vec<u8>) {
    let edk = &body["encrypted_data_key"];
    let b = |v: &Value| B64.decode(v.as_str().unwrap()).unwrap();
    let key = b(&body["data_key"]);
    (
        BrokeredKmsKeyring::from_encrypted_data_key(
            EncryptedDataKey {
                provider_id: edk["provider_id"].as_str().unwrap().to_owned(),
                provider_info: b(&edk["provider_info"]),
                ciphertext: b(&edk["ciphertext"]),
            },
            DataKey::from_slice(&key).unwrap(),
        )
        .unwrap(),
        key,
    )
}

/// A fresh, empty PostgreSQL database on the test server (`PHIVEIL_PG_URL`, started
/// by `scripts/test.sh`), named after a new temporary directory; `None` when the
/// server is deliberately absent (`PHIVEIL_SKIP_PEERS=1`).
pub async fn pg_database(tag: &str) -> Option<String> {
    let Ok(admin) = std::env::var("PHIVEIL_PG_URL") else {
        assert!(
            std::env::var("PHIVEIL_SKIP_PEERS").is_ok_and(|v| v == "1"),
            "PHIVEIL_PG_URL is not set: run the tests through scripts/test.sh"
        );
        return None;
    };
    let dir = temp_dir(tag);
    let name = dir.file_name().unwrap().to_string_lossy().replace('-', "_");
    let (c, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    c.batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    Some(format!("{}/{name}", admin.rsplit_once('/').unwrap().0))
}
