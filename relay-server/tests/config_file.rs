//! The configuration file through the real binary: `--config` (and `PHIVEIL_CONFIG`)
//! set the data directory, the listening address and the key mode; the command line
//! overrides the file; a file with an unknown setting stops the start with the key named.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::{Command, Stdio};

use common::{free_port, login, temp_dir, wait_for_port, BIN, PASSWORD};

#[tokio::test]
async fn the_file_sets_what_the_flags_set_and_the_command_line_wins() {
    let dir = temp_dir("config");
    let data = dir.join("state");
    let (port, other) = (free_port(), free_port());
    let file = dir.join("relay.toml");
    std::fs::write(
        &file,
        format!(
            "data_dir = {data:?}\n[serve]\nlisten = \"127.0.0.1:{port}\"\nkey_mode = \"brokered\"\nmax_streams_per_user = 2\n"
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "--config",
            file.to_str().unwrap(),
            "create-user",
            "--username",
            "ops",
            "--role",
            "patient",
        ])
        .env("PHIVEIL_PASSWORD", PASSWORD)
        .env("PHIVEIL_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        data.join("relay.sqlite3").exists(),
        "data_dir from the file"
    );

    let http = common::http_client();
    let mode = |base: String, token: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("{base}/v1/keys/mode"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            r.json::<serde_json::Value>().await.unwrap()["mode"].clone()
        }
    };
    // From the file (through PHIVEIL_CONFIG): its address and its key mode.
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("PHIVEIL_CONFIG", &file)
        .env("PHIVEIL_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    let base = format!("http://127.0.0.1:{port}");
    let token = login(&http, &base, "ops").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(mode(base, token).await, "brokered");
    child.kill().unwrap();
    child.wait().unwrap();

    // The command line overrides the file.
    let mut child = Command::new(BIN)
        .args(["--config", file.to_str().unwrap(), "serve", "--listen"])
        .arg(format!("127.0.0.1:{other}"))
        .args(["--key-mode", "end-to-end"])
        .env("PHIVEIL_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(other);
    let base = format!("http://127.0.0.1:{other}");
    let token = login(&http, &base, "ops").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(mode(base, token).await, "end-to-end");
    child.kill().unwrap();
    child.wait().unwrap();

    // An unknown setting, or a missing file, stops the start and says which.
    std::fs::write(&file, "[serve]\nlisten_on = \"127.0.0.1:1\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config", file.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting \"listen_on\""));
    let out = Command::new(BIN)
        .args(["--config", "/nonexistent/relay.toml", "serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/relay.toml"));
    std::fs::remove_dir_all(&dir).ok();
}
