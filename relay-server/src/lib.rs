//! # phiveil-relay
//!
//! The thin relay: it brokers data keys and uploads and keeps a tamper-evident audit
//! log, but never sees record plaintext. Zero-config defaults: SQLite metadata, a
//! local object store with relay-signed URLs and an embedded KMS, all in one data
//! directory.
//!
//! [`app`] builds the router (testable with `tower::ServiceExt::oneshot`);
//! [`serve`] runs it on a listener.
#![cfg_attr(not(test), deny(missing_docs))]
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod accounts;
pub mod audit;
pub mod audit_log;
pub mod auth;
pub mod config_file;
pub mod db;
pub mod e2e;
pub mod error;
pub mod grants;
pub mod handler;
pub mod http;
pub mod keys;
pub mod kms;
pub mod limits;
pub mod metrics;
pub mod name;
pub mod records;
pub mod replica;
pub mod service;
pub mod store;
pub mod studies;
pub mod training;
pub mod vitals;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;

use crate::audit::Alerts;
use crate::auth::TokenKey;
use crate::db::Db;
use crate::error::ApiResult;
use crate::kms::{EmbeddedKms, Kms};
use crate::metrics::Metrics;
use crate::store::LocalStore;

/// Reads a 32-byte secret key file, creating it (random, mode 0600, synced) on first
/// use. `what` names it in errors.
pub(crate) fn load_or_create_secret(
    path: &Path,
    what: &str,
) -> ApiResult<zeroize::Zeroizing<Vec<u8>>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e: std::io::Error| error::ApiError::Internal(format!("{what}: {e}"));
    if !path.exists() {
        let mut k = zeroize::Zeroizing::new([0u8; 32]);
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, k.as_mut())
            .map_err(|_| error::ApiError::Internal("no randomness".into()))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        f.write_all(k.as_ref())
            .and_then(|()| f.sync_all())
            .map_err(err)?;
    }
    Ok(zeroize::Zeroizing::new(std::fs::read(path).map_err(err)?))
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Relay settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where state lives (database, objects, keys).
    pub data_dir: PathBuf,
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Lifetime of presigned URLs, in seconds.
    pub presign_ttl_secs: i64,
    /// Directory of static files served at `/` (the web app), if any.
    pub static_dir: Option<PathBuf>,
    /// Portal-issued JWTs accepted as credentials, if configured.
    pub portal_jwt: Option<auth::PortalJwt>,
    /// URL that receives every alert as a signed JSON POST, if configured: `https://`
    /// (`http://` only to a loopback address; see [`webhook::check_webhook_url`]).
    pub alert_webhook: Option<String>,
    /// PEM certificates trusted for the webhook besides the system's roots (a private CA).
    pub alert_webhook_ca_pem: Option<Vec<u8>>,
    /// The key that signs each webhook POST (HMAC-SHA256; see `docs/api.md`).
    pub alert_webhook_secret: Option<webhook::WebhookSecret>,
    /// PostgreSQL URL for the metadata (replicas share it); SQLite in the data
    /// directory when absent.
    pub database_url: Option<String>,
    /// Limits and timeouts.
    pub limits: limits::Limits,
    /// Lifetime of the relay's session tokens, in seconds.
    pub token_ttl_secs: i64,
    /// SHA-256 of the bearer token a metrics scraper presents at `/metrics`
    /// (operators' tokens are accepted too); only operators when absent.
    pub metrics_token_sha256: Option<[u8; 32]>,
    /// How long a replica's claim on a study lane lasts without renewal, in seconds: a
    /// replica renews it while it folds; the lane of one that died is taken over by
    /// another replica this long after its last renewal.
    pub study_lease_secs: i64,
    /// Submissions a replica claims and folds per batch.
    pub study_batch: usize,
    /// A name for this replica in study lanes (a host name, say); a random suffix
    /// keeps every process distinct.
    pub replica_name: Option<String>,
    /// Who can open records: end-to-end (keys made and wrapped in browsers; the relay
    /// brokers no data key) or brokered (the KMS-wrapped data keys of
    /// `/v1/keys/data-key` and `/v1/keys/unwrap`). `Config::new` keeps the brokered
    /// mode portals built on; `phiveil-relay serve` defaults to end-to-end.
    pub key_mode: e2e::KeyMode,
    /// In end-to-end mode, browsers also wrap each record's data key for the embedded
    /// KMS's escrow key, so the institution can recover it through
    /// `POST /v1/records/{id}/recover` (operators only, audited).
    pub escrow: bool,
    /// A replica store (Azure Blob Storage) every completed record is copied to.
    pub replica: Option<replica::ReplicaSettings>,
    /// Whether this process runs the replica copier (tests drive it by hand).
    pub replica_worker: bool,
}

impl Config {
    /// Defaults for `data_dir`: 64 MiB uploads, 5-minute URLs, no static files.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            max_upload_bytes: 64 << 20,
            presign_ttl_secs: 300,
            static_dir: None,
            portal_jwt: None,
            alert_webhook: None,
            alert_webhook_ca_pem: None,
            alert_webhook_secret: None,
            database_url: None,
            limits: limits::Limits::default(),
            token_ttl_secs: auth::TOKEN_TTL_SECS,
            metrics_token_sha256: None,
            study_lease_secs: studies::LEASE_SECS,
            study_batch: studies::BATCH,
            replica_name: None,
            key_mode: e2e::KeyMode::Brokered,
            escrow: false,
            replica: None,
            replica_worker: true,
        }
    }
}

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    /// Settings.
    pub config: Arc<Config>,
    /// Metadata database.
    pub db: Db,
    /// Key management.
    pub kms: Arc<dyn Kms>,
    /// Object store (local directory or S3).
    pub store: Arc<dyn store::ObjectStore>,
    /// The local store, when it is the object store (it serves `/store/…`).
    pub local_store: Option<Arc<LocalStore>>,
    /// Token signing key.
    pub tokens: Arc<TokenKey>,
    /// Alert rules and live feed.
    pub alerts: Arc<Alerts>,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// Live feed of vital-sign alert metadata for granted clinicians.
    pub vital_feed: Arc<vitals::VitalFeed>,
    /// The study aggregation worker's wake-up and caches.
    pub study_work: Arc<studies::StudyWork>,
    /// Failed-login bookkeeping.
    pub login_throttle: Arc<limits::LoginThrottle>,
    /// Open live streams per user.
    pub streams: Arc<limits::StreamSlots>,
    /// Password hashes computed at once (off the async workers).
    pub hash_permits: Arc<tokio::sync::Semaphore>,
    /// The audit chain's checkpoint signing key (`audit-checkpoint.key`).
    pub checkpoint_key: Arc<phiveil_core::audit_proof::CheckpointSigner>,
    /// The replica store, when configured.
    pub replica: Option<Arc<replica::AzureBlob>>,
    /// Wakes the replica copier (a record completed).
    pub replica_wake: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .field("kms", &self.kms.describe())
            .field("store", &self.store.describe())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Marks record `r` complete and, with a replica, queues its object for copying in
    /// the same transaction (so no completed object is left out of the replica).
    pub(crate) async fn complete(&self, r: &db::Record) -> ApiResult<()> {
        if self.replica.is_none() {
            return self.db.complete(&r.id).await;
        }
        let now = now();
        self.db
            .transaction(&[
                (
                    "UPDATE records SET state = 'complete', completed_at = ?1 WHERE id = ?2",
                    &[now.into(), r.id.as_str().into()],
                ),
                (
                    replica::ENQUEUE,
                    &[r.object_key.as_str().into(), now.into()],
                ),
            ])
            .await?;
        self.replica_wake.notify_one();
        Ok(())
    }

    /// Opens the embedded defaults in `config.data_dir`: SQLite, local store,
    /// embedded KMS, token key. Creates what is missing and recovers from a crash
    /// (see [`AppState::recover`]).
    pub async fn open(config: Config) -> ApiResult<Self> {
        Self::open_with(config, None, None).await
    }

    /// Like [`AppState::open`], with production backends where given: a KMS (AWS KMS)
    /// and an S3 object store. Metadata stays in the data directory's SQLite.
    pub async fn open_with(
        config: Config,
        kms: Option<Arc<dyn Kms>>,
        s3: Option<store::S3Store>,
    ) -> ApiResult<Self> {
        private_dir(&config.data_dir)?;
        let db = match &config.database_url {
            Some(url) => Db::connect_postgres(url).await?,
            None => Db::open(&config.data_dir.join("relay.sqlite3")).await?,
        };
        let kms: Arc<dyn Kms> = match kms {
            Some(k) => k,
            None => Arc::new(EmbeddedKms::open(
                &config.data_dir.join("kms-master-keys.json"),
            )?),
        };
        let (store, local_store): (Arc<dyn store::ObjectStore>, _) = match s3 {
            Some(s3) => (Arc::new(s3), None),
            None => {
                let local = Arc::new(LocalStore::open(&config.data_dir)?);
                (local.clone(), Some(local))
            }
        };
        let tokens = TokenKey::open(&config.data_dir.join("token-signing.key"))?;
        let checkpoint_key = Arc::new(audit::open_checkpoint_key(
            &config.data_dir.join("audit-checkpoint.key"),
        )?);
        let login_throttle = Arc::new(limits::LoginThrottle::new(&config.limits));
        let hash_permits = Arc::new(tokio::sync::Semaphore::new(
            config.limits.concurrent_password_hashes.max(1),
        ));
        let study_work = Arc::new(studies::StudyWork::new(config.replica_name.as_deref()));
        let replica = match &config.replica {
            Some(r) => Some(replica::open(r).await?),
            None => None,
        };
        let state = Self {
            replica,
            replica_wake: Arc::new(tokio::sync::Notify::new()),
            checkpoint_key,
            login_throttle,
            hash_permits,
            streams: Arc::new(limits::StreamSlots::default()),
            config: Arc::new(config),
            db,
            kms,
            store,
            local_store,
            tokens: Arc::new(tokens),
            alerts: Arc::new(Alerts::new()),
            vital_feed: Arc::new(vitals::VitalFeed::new()),
            study_work,
            metrics: Arc::new(Metrics::default()),
        };
        state.recover().await?;
        Ok(state)
    }

    /// Crash recovery: a pending record whose object is fully in place is completed;
    /// one whose URL expired without an object is dropped. Afterwards the index and
    /// the store agree, and no half object is visible (uploads land by rename, or
    /// atomically in S3).
    ///
    /// One bad row never stops a start: a row whose object key the store refuses
    /// (written by an older release that let a caller pick `..` as a record type) or
    /// whose store lookup fails is skipped with a warning, and dropped once expired,
    /// since no upload can complete it.
    pub async fn recover(&self) -> ApiResult<(usize, usize)> {
        let (mut completed, mut dropped) = (0usize, 0usize);
        for r in self.db.pending_records().await? {
            let expired = r.expires_at <= now();
            match self.store.size(&r.object_key).await {
                Ok(Some(size)) if size == r.size => {
                    self.complete(&r).await?;
                    completed = completed.saturating_add(1);
                }
                Ok(_) if expired => {
                    self.db.delete_pending(&r.id).await?;
                    dropped = dropped.saturating_add(1);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(record = %r.id, error = ?e, "pending record skipped at recovery");
                    if expired {
                        self.db.delete_pending(&r.id).await?;
                        dropped = dropped.saturating_add(1);
                    }
                }
            }
        }
        if completed > 0 || dropped > 0 {
            tracing::info!(completed, dropped, "recovered pending uploads");
        }
        Ok((completed, dropped))
    }
}

/// The relay's router with its middleware (limits, timeouts, metrics, tracing).
pub fn app(state: AppState) -> Router {
    http::router(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, runs the study
/// aggregation worker beside it, and delivers alerts to the webhook, when one is
/// configured.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if state.config.alert_webhook.is_some() {
        tokio::spawn(webhook::deliver_alerts(
            state.alerts.subscribe(),
            state.config.clone(),
        ));
    }
    let worker = studies::spawn_worker(state.clone());
    if state.config.replica_worker {
        replica::spawn_worker(state.clone());
    }
    let limits = state.config.limits.clone();
    let res = http::serve_connections(listener, app(state.clone()), &limits, shutdown).await;
    studies::stop_worker(&state);
    // The worker finishes its batch (its state is committed or safely replayed).
    let _ = tokio::task::spawn_blocking(move || worker.join()).await;
    res
}

/// Creates `dir` (and its parents) and makes it private to the relay's user (0700):
/// it holds password hashes, master keys and ciphertexts. Files inside are created
/// 0600 (see [`private_file`]).
pub(crate) fn private_dir(dir: &Path) -> ApiResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let err = |e: std::io::Error| error::ApiError::Internal(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(err)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)
}

/// Writes a secret file private to the relay's user (0600): through a temporary file,
/// synced, then renamed, so a crash leaves the old file or the new one, never half.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> ApiResult<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| error::ApiError::Internal(format!("write {}: {e}", tmp.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| error::ApiError::Internal(format!("write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| error::ApiError::Internal(format!("rename {}: {e}", path.display())))
}

/// Makes an existing file private to the relay's user (0600).
pub(crate) fn private_file(path: &Path) -> ApiResult<()> {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| error::ApiError::Internal(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}
