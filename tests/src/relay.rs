//! A relay on 127.0.0.1 with embedded defaults in a fresh data directory, and an
//! HTTP client that plays patients, clinicians and operators.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use phiveil_core::esdk::{BrokeredKmsKeyring, EncryptedDataKey, EncryptionContext};
use phiveil_core::secret::DataKey;
use phiveil_relay::{AppState, Config};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A running in-process relay.
pub struct TestRelay {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub base: String,
    /// The relay's state (database, store, KMS) for white-box checks.
    pub state: AppState,
    /// The data directory (removed on drop).
    pub dir: PathBuf,
    task: tokio::task::JoinHandle<()>,
    keep_dir: bool,
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.task.abort();
        phiveil_relay::studies::stop_worker(&self.state);
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A fresh temporary directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    let mut b = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("phiveil-{tag}-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl TestRelay {
    /// Starts a relay; `tune` may change the configuration first.
    pub async fn start(tune: impl FnOnce(&mut Config)) -> Self {
        Self::start_with(tune, None, None).await
    }

    /// Starts a relay whose metadata lives in a fresh database on the test
    /// PostgreSQL server (`PHIVEIL_PG_URL`, started by `scripts/pg.sh`); `None` when
    /// peers are switched off.
    pub async fn start_pg(tune: impl FnOnce(&mut Config)) -> Option<Self> {
        let url = match std::env::var("PHIVEIL_PG_URL") {
            Ok(u) => u,
            Err(_) if crate::Peer::skipped() => return None,
            Err(_) => panic!("PHIVEIL_PG_URL is not set: run the tests through scripts/test.sh (it starts PostgreSQL)"),
        };
        let db_url = fresh_database(&url);
        Some(
            Self::start_with(
                |c| {
                    c.database_url = Some(db_url);
                    tune(c);
                },
                None,
                None,
            )
            .await,
        )
    }

    /// Starts a relay with production backends where given (AWS KMS, S3).
    pub async fn start_with(
        tune: impl FnOnce(&mut Config),
        kms: Option<std::sync::Arc<dyn phiveil_relay::kms::Kms>>,
        s3: Option<phiveil_relay::store::S3Store>,
    ) -> Self {
        Self::start_in(temp_dir("relay"), tune, kms, s3).await
    }

    /// Stops this relay abruptly (its server task aborted, its aggregation worker told
    /// to stop) and starts a new one on the same data directory.
    pub async fn restart(mut self) -> Self {
        self.keep_dir = true;
        let dir = self.dir.clone();
        drop(self);
        // Let the old worker finish its batch and leave.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        Self::start_in(dir, |_| {}, None, None).await
    }

    /// Starts a relay on an existing (or fresh) data directory.
    pub async fn start_in(
        dir: PathBuf,
        tune: impl FnOnce(&mut Config),
        kms: Option<std::sync::Arc<dyn phiveil_relay::kms::Kms>>,
        s3: Option<phiveil_relay::store::S3Store>,
    ) -> Self {
        let mut config = Config::new(&dir);
        tune(&mut config);
        let state = AppState::open_with(config, kms, s3).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let s = state.clone();
        let task = tokio::spawn(async move {
            phiveil_relay::serve(listener, s, std::future::pending())
                .await
                .unwrap();
        });
        Self {
            base,
            state,
            dir,
            task,
            keep_dir: false,
        }
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> Client {
        Client {
            http: http_client(),
            base: self.base.clone(),
            token: None,
            user_id: String::new(),
            pseudonym: None,
        }
    }

    /// Creates a user through the operator CLI path and logs it in.
    pub async fn user(&self, username: &str, role: &str) -> Client {
        phiveil_relay::accounts::create_user_direct(
            &self.state,
            username,
            "correct horse battery",
            role,
        )
        .await
        .unwrap();
        self.anonymous()
            .login(username, "correct horse battery")
            .await
    }

    /// An operator, a clinician (created by the operator), and a patient enrolled
    /// with that clinician's invitation.
    pub async fn cast(&self) -> (Client, Client, Client) {
        let op = self.user("operator", "operator").await;
        let (s, _) = op
            .post("/v1/users", &json!({"username": "dr-lee", "password": "correct horse battery", "role": "clinician"}))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let dr = self
            .anonymous()
            .login("dr-lee", "correct horse battery")
            .await;
        let alice = self.enroll(&dr, "alice").await;
        (op, dr, alice)
    }

    /// Enrolls a patient with a fresh invitation from `clinician`.
    pub async fn enroll(&self, clinician: &Client, username: &str) -> Client {
        let (s, inv) = clinician.post("/v1/invitations", &json!({})).await;
        assert_eq!(s, StatusCode::CREATED, "{inv}");
        let (s, body) = self
            .anonymous()
            .post(
                "/v1/enroll",
                &json!({"code": inv["code"], "username": username, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        self.anonymous()
            .login(username, "correct horse battery")
            .await
    }
}

/// An HTTP client of the relay.
#[derive(Clone)]
pub struct Client {
    /// The HTTP client.
    pub http: reqwest::Client,
    /// Base URL.
    pub base: String,
    /// Bearer token, once logged in.
    pub token: Option<String>,
    /// User id.
    pub user_id: String,
    /// Patient pseudonym.
    pub pseudonym: Option<String>,
}

impl Client {
    /// Presigned URLs are relative for the local store, absolute for S3.
    pub fn absolute(&self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        }
    }

    /// Logs in.
    pub async fn login(mut self, username: &str, password: &str) -> Client {
        let (s, body) = self
            .post(
                "/v1/auth/login",
                &json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "login {username}: {body}");
        self.token = body["token"].as_str().map(str::to_owned);
        self.user_id = body["user_id"].as_str().unwrap().to_owned();
        self.pseudonym = body["pseudonym"].as_str().map(str::to_owned);
        self
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    async fn finish(rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = resp.bytes().await.unwrap();
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(ct, "application/problem+json", "errors are problem+json");
        }
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, v)
    }

    /// POSTs JSON.
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        Self::finish(self.auth(self.http.post(format!("{}{path}", self.base)).json(body))).await
    }

    /// POSTs raw bytes as JSON content.
    pub async fn post_raw(&self, path: &str, body: &'static str) -> (StatusCode, Value) {
        Self::finish(
            self.auth(self.http.post(format!("{}{path}", self.base)))
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    /// PUTs JSON.
    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        Self::finish(self.auth(self.http.put(format!("{}{path}", self.base)).json(body))).await
    }

    /// GETs JSON.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        Self::finish(self.auth(self.http.get(format!("{}{path}", self.base)))).await
    }

    /// Opens study `id` as a client does: `POST …/open`, and when the relay answers
    /// `202` (its opening job runs on), polls the study until it is open (`200` and
    /// the study) or reports `open_error` (`400` and the study).
    pub async fn open_study(&self, id: &str) -> (StatusCode, Value) {
        let (s, mut body) = self
            .post(&format!("/v1/studies/{id}/open"), &json!({}))
            .await;
        if s != StatusCode::ACCEPTED {
            return (s, body);
        }
        for _ in 0..1200 {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let (_, st) = self.get(&format!("/v1/studies/{id}")).await;
            if st["state"] == "open" {
                return (StatusCode::OK, st);
            }
            if st["open_error"].is_string() {
                return (StatusCode::BAD_REQUEST, st);
            }
            body = st;
        }
        (StatusCode::ACCEPTED, body)
    }

    /// DELETEs.
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        Self::finish(self.auth(self.http.delete(format!("{}{path}", self.base)))).await
    }

    /// Follows a presigned PUT with `bytes`, sending the signed headers.
    pub async fn presigned_put(
        &self,
        upload: &Value,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> StatusCode {
        let url = self.absolute(upload["url"].as_str().unwrap());
        self.http
            .put(url)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Follows a presigned GET.
    pub async fn presigned_get(&self, download: &Value) -> (StatusCode, Vec<u8>) {
        let url = self.absolute(download["url"].as_str().unwrap());
        let resp = self.http.get(url).send().await.unwrap();
        (resp.status(), resp.bytes().await.unwrap().to_vec())
    }

    /// PUTs a study object (key, CRS, proven list) to its presigned URL.
    pub async fn study_put(&self, upload: &Value, bytes: Vec<u8>) -> StatusCode {
        self.presigned_put(upload, bytes, "application/octet-stream")
            .await
    }

    /// Registers, uploads and completes a study submission; returns the completion's
    /// answer (or the registration's, when that was refused).
    pub async fn study_submit(&self, study: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let (s, reg) = self
            .post(
                &format!("/v1/studies/{study}/submissions"),
                &json!({"size": bytes.len()}),
            )
            .await;
        if s != StatusCode::CREATED {
            return (s, reg);
        }
        assert_eq!(
            self.study_put(&reg["upload"], bytes).await,
            StatusCode::CREATED
        );
        let sid = reg["submission"]["id"].as_str().unwrap();
        self.post(
            &format!("/v1/studies/{study}/submissions/{sid}/complete"),
            &json!({}),
        )
        .await
    }

    /// Downloads a study artifact (public key, CRS, release …) through its presigned GET.
    pub async fn study_artifact(&self, study: &str, kind: &str) -> (StatusCode, Vec<u8>) {
        let (s, url) = self
            .get(&format!("/v1/studies/{study}/artifacts/{kind}"))
            .await;
        if s != StatusCode::OK {
            return (s, Vec::new());
        }
        self.presigned_get(&url).await
    }

    /// Polls a study until `ok` holds (15 minutes at most).
    pub async fn wait_study(&self, study: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let t = std::time::Instant::now();
        loop {
            let (s, body) = self.get(&format!("/v1/studies/{study}")).await;
            assert_eq!(s, StatusCode::OK, "{body}");
            if ok(&body) {
                return body;
            }
            assert!(
                t.elapsed() < std::time::Duration::from_secs(900),
                "timed out waiting for {what}: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// Asks for a data key for `ctx` and returns a keyring holding it.
    pub async fn data_key(
        &self,
        ctx: &EncryptionContext,
    ) -> Result<BrokeredKmsKeyring, (StatusCode, Value)> {
        let (s, body) = self
            .post("/v1/keys/data-key", &json!({ "context": ctx }))
            .await;
        if s != StatusCode::OK {
            return Err((s, body));
        }
        Ok(keyring_from(&body))
    }

    /// Encrypts `plaintext` as the browser would: a data key from the relay for
    /// `ctx`, then an ESDK message with default options.
    pub async fn encrypt(&self, ctx: &EncryptionContext, plaintext: &[u8]) -> Vec<u8> {
        let kr = self.data_key(ctx).await.unwrap();
        phiveil_core::esdk::encrypt(
            &kr,
            plaintext,
            ctx,
            &phiveil_core::esdk::EncryptOptions::default(),
            &mut rand_core::OsRng,
        )
        .unwrap()
    }

    /// Asks the relay to unwrap the data key of `message`'s header.
    pub async fn unwrap(&self, message: &[u8]) -> Result<BrokeredKmsKeyring, (StatusCode, Value)> {
        let header_len = phiveil_core::esdk::Header::parse(message, &Default::default())
            .unwrap()
            .1;
        let (s, body) = self
            .post(
                "/v1/keys/unwrap",
                &json!({ "header": B64.encode(&message[..header_len]) }),
            )
            .await;
        if s != StatusCode::OK {
            return Err((s, body));
        }
        Ok(keyring_from(&body))
    }
}

/// An HTTP client for the relay. The relay closes a keep-alive connection that sends no
/// request for `Limits::header_read_timeout` (30 s by default); a client that reuses a
/// pooled connection just as the relay closes it gets `IncompleteMessage`, which a test
/// that proves a submission for about that long between two requests met by chance.
/// Pooled connections are dropped here well before the relay would close them.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A brokered keyring from a data-key or unwrap response.
pub fn keyring_from(body: &Value) -> BrokeredKmsKeyring {
    let edk = &body["encrypted_data_key"];
    let b = |v: &Value| B64.decode(v.as_str().unwrap()).unwrap();
    BrokeredKmsKeyring::from_encrypted_data_key(
        EncryptedDataKey {
            provider_id: edk["provider_id"].as_str().unwrap().to_owned(),
            provider_info: b(&edk["provider_info"]),
            ciphertext: b(&edk["ciphertext"]),
        },
        DataKey::from_slice(&b(&body["data_key"])).unwrap(),
    )
    .unwrap()
}

/// The encryption context of a patient's record.
pub use phiveil_core::esdk::context::record_context;

/// Creates an empty database on the server at `url` and returns its URL.
pub fn fresh_database(url: &str) -> String {
    let name = temp_dir("pgname")
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace('-', "_");
    let admin = url.to_owned();
    let n = name.clone();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {n}")).unwrap();
    })
    .join()
    .unwrap();
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    format!("{base}/{name}")
}
