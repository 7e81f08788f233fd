//! Replicated object storage: every completed record's object (ciphertext only) is
//! copied from the primary store to a replica in Azure Blob Storage, through a queue in
//! the database (`replica_queue`, written in the same transaction that completes the
//! record) that a worker drains with exponential backoff; the backlog is a metric. When
//! the primary cannot serve a record, its download comes from the replica through a URL
//! the relay signs. `phiveil-relay store verify` compares both stores record by record and
//! repairs what differs.
//!
//! The Azure client speaks the Blob service's REST API with Shared Key authorization
//! (`Put Blob`, `Get Blob`, `Get Blob Properties`, `Create Container`); it is tested
//! against Azurite, the Azure Storage emulator.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa_axum::router::OpenApiRouter;
use zeroize::Zeroizing;

use crate::db::{Db, Val};
use crate::error::{ApiError, ApiResult};
use crate::store::Presigned;
use crate::AppState;

/// The Blob service REST version the client speaks.
const API_VERSION: &str = "2021-08-06";

/// An Azure Blob Storage container (or Azurite's).
pub struct AzureBlob {
    http: reqwest::Client,
    /// The container's URL (`https://acct.blob.core.windows.net/records`, or path-style
    /// `http://127.0.0.1:10000/devstoreaccount1/records` for the emulator).
    container: reqwest::Url,
    account: String,
    key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for AzureBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AzureBlob({})", self.container)
    }
}

fn bad(what: &str) -> ApiError {
    ApiError::Internal(format!("replica: {what}"))
}

impl AzureBlob {
    /// A container at `url`, authorized with the storage account's name and key (base64).
    pub fn new(url: &str, account: &str, key_b64: &str) -> ApiResult<Self> {
        let container = reqwest::Url::parse(url.trim_end_matches('/'))
            .map_err(|_| bad("the container URL does not parse"))?;
        if !matches!(container.scheme(), "https" | "http") || container.path().len() < 2 {
            return Err(bad("the container URL needs http(s) and a container name"));
        }
        let key = Zeroizing::new(
            B64.decode(key_b64.trim())
                .map_err(|_| bad("the account key is not base64"))?,
        );
        if account.is_empty() || !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad("the account name is not a storage account name"));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| bad(&e.to_string()))?;
        Ok(Self {
            http,
            container,
            account: account.to_owned(),
            key,
        })
    }

    /// Shared Key authorization of one request (the Blob service's string to sign).
    fn authorization(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        ms_headers: &[(&str, String)],
        length: usize,
        content_type: &str,
    ) -> ApiResult<String> {
        let mut s = String::new();
        let len = if length == 0 {
            String::new()
        } else {
            length.to_string()
        };
        for part in [
            method,
            "",
            "",
            &len,
            "",
            content_type,
            "",
            "",
            "",
            "",
            "",
            "",
        ] {
            s.push_str(part);
            s.push('\n');
        }
        let mut hs: Vec<(String, &str)> = ms_headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
            .collect();
        hs.sort();
        for (k, v) in hs {
            s.push_str(&k);
            s.push(':');
            s.push_str(v);
            s.push('\n');
        }
        s.push('/');
        s.push_str(&self.account);
        s.push_str(path);
        let mut q: Vec<(String, &str)> = query
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), *v))
            .collect();
        q.sort();
        for (k, v) in q {
            s.push('\n');
            s.push_str(&k);
            s.push(':');
            s.push_str(v);
        }
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).map_err(|_| bad("account key"))?;
        mac.update(s.as_bytes());
        Ok(format!(
            "SharedKey {}:{}",
            self.account,
            B64.encode(mac.finalize().into_bytes())
        ))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        blob: Option<&str>,
        query: &[(&str, &str)],
        body: Vec<u8>,
        extra: &[(&str, String)],
    ) -> ApiResult<reqwest::Response> {
        let mut url = self.container.clone();
        if let Some(b) = blob {
            if !crate::store::valid_key(b) {
                return Err(ApiError::BadRequest("invalid object key".into()));
            }
            url.set_path(&format!("{}/{b}", self.container.path()));
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let content_type = if body.is_empty() && method != reqwest::Method::PUT {
            ""
        } else {
            "application/octet-stream"
        };
        let mut ms: Vec<(&str, String)> = vec![
            ("x-ms-date", httpdate::fmt_http_date(SystemTime::now())),
            ("x-ms-version", API_VERSION.to_owned()),
        ];
        ms.extend(extra.iter().cloned());
        let auth = self.authorization(
            method.as_str(),
            url.path(),
            query,
            &ms,
            body.len(),
            content_type,
        )?;
        let mut req = self
            .http
            .request(method, url)
            .header("authorization", auth)
            .header("content-length", body.len());
        if !content_type.is_empty() {
            req = req.header("content-type", content_type);
        }
        for (k, v) in &ms {
            req = req.header(*k, v);
        }
        req.body(body)
            .send()
            .await
            .map_err(|e| ApiError::Internal(format!("replica unreachable: {e}")))
    }

    /// Creates the container (nothing when it exists).
    pub async fn create_container(&self) -> ApiResult<()> {
        let r = self
            .send(
                reqwest::Method::PUT,
                None,
                &[("restype", "container")],
                Vec::new(),
                &[],
            )
            .await?;
        match r.status().as_u16() {
            201 | 409 => Ok(()),
            s => Err(bad(&format!("create container answered {s}"))),
        }
    }

    /// Writes `bytes` as blob `key`.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> ApiResult<()> {
        let r = self
            .send(
                reqwest::Method::PUT,
                Some(key),
                &[],
                bytes,
                &[("x-ms-blob-type", "BlockBlob".to_owned())],
            )
            .await?;
        match r.status().as_u16() {
            201 => Ok(()),
            s => Err(ApiError::Internal(format!("replica put answered {s}"))),
        }
    }

    /// Blob `key`, if it exists (at most `limit` bytes).
    pub async fn get(&self, key: &str, limit: u64) -> ApiResult<Option<Vec<u8>>> {
        let r = self
            .send(reqwest::Method::GET, Some(key), &[], Vec::new(), &[])
            .await?;
        match r.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            s => return Err(ApiError::Internal(format!("replica get answered {s}"))),
        }
        if r.content_length().is_some_and(|n| n > limit) {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        let bytes = r
            .bytes()
            .await
            .map_err(|e| ApiError::Internal(format!("replica read: {e}")))?;
        Ok(Some(bytes.to_vec()))
    }

    /// The size of blob `key`, if it exists.
    pub async fn size(&self, key: &str) -> ApiResult<Option<u64>> {
        let r = self
            .send(reqwest::Method::HEAD, Some(key), &[], Vec::new(), &[])
            .await?;
        match r.status().as_u16() {
            200 => Ok(r
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            404 => Ok(None),
            s => Err(ApiError::Internal(format!("replica head answered {s}"))),
        }
    }

    /// Describes the replica (no secrets).
    pub fn describe(&self) -> String {
        format!("Azure Blob container {}", self.container)
    }
}

/// Queues `key` for copying (also inside a transaction: [`ENQUEUE`]).
pub(crate) const ENQUEUE: &str = "INSERT INTO replica_queue (object_key, attempts, next_at, last_error) VALUES (?1, 0, ?2, NULL) ON CONFLICT (object_key) DO UPDATE SET attempts = 0, next_at = excluded.next_at, last_error = NULL";

/// Copies claimed per pass.
const BATCH: i64 = 16;
/// Longest wait between two tries of one object, in seconds.
const MAX_BACKOFF: i64 = 300;

/// Objects waiting to be copied.
pub async fn backlog(db: &Db) -> ApiResult<i64> {
    let rows = db
        .query("SELECT COUNT(*) FROM replica_queue", &[], 1)
        .await?;
    Ok(rows.first().and_then(|r| r.first()).map_or(0, Val::int))
}

/// One pass of the copier: the due objects, primary → replica. Returns (copied,
/// failed). A failure waits 2, 4, 8, … seconds (at most five minutes) before its next
/// try; what was copied leaves the queue.
pub async fn copy_due(state: &AppState) -> ApiResult<(usize, usize)> {
    let Some(replica) = &state.replica else {
        return Ok((0, 0));
    };
    let now = crate::now();
    let due = state
        .db
        .query(
            "SELECT object_key, attempts FROM replica_queue WHERE next_at <= ?1 ORDER BY next_at LIMIT ?2",
            &[now.into(), BATCH.into()],
            2,
        )
        .await?;
    let (mut copied, mut failed) = (0usize, 0usize);
    for row in due {
        let key = row.first().map(Val::text).unwrap_or_default();
        let attempts = row.get(1).map_or(0, Val::int);
        let outcome = async {
            let bytes = state.store.get(&key, state.config.max_upload_bytes).await?;
            replica.put(&key, bytes).await
        }
        .await;
        match outcome {
            Ok(()) => {
                state
                    .db
                    .exec(
                        "DELETE FROM replica_queue WHERE object_key = ?1",
                        &[key.as_str().into()],
                    )
                    .await?;
                state.metrics.replica_copy(true);
                copied = copied.saturating_add(1);
            }
            Err(e) => {
                let wait = 2i64
                    .saturating_pow(u32::try_from(attempts.clamp(0, 16)).unwrap_or(16))
                    .saturating_mul(2)
                    .min(MAX_BACKOFF);
                state
                    .db
                    .exec(
                        "UPDATE replica_queue SET attempts = attempts + 1, next_at = ?1, last_error = ?2 WHERE object_key = ?3",
                        &[
                            now.saturating_add(wait).into(),
                            e.code().into(),
                            key.as_str().into(),
                        ],
                    )
                    .await?;
                state.metrics.replica_copy(false);
                tracing::warn!(key = %key, attempts = attempts.saturating_add(1), error = e.code(), "replica copy failed");
                failed = failed.saturating_add(1);
            }
        }
    }
    state.metrics.replica_backlog(backlog(&state.db).await?);
    Ok((copied, failed))
}

/// Starts the copier: a pass every second (and right after a record completes).
pub fn spawn_worker(state: AppState) {
    if state.replica.is_none() {
        return;
    }
    tokio::spawn(async move {
        loop {
            if let Err(e) = copy_due(&state).await {
                tracing::warn!(error = e.code(), "replica pass failed");
            }
            tokio::select! {
                () = state.replica_wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}

/// What `store verify` found and did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Verified {
    /// Complete records checked.
    pub records: usize,
    /// Present with the right size in both stores.
    pub in_both: usize,
    /// Copied primary → replica (missing or another size there).
    pub repaired_replica: usize,
    /// Copied replica → primary (missing or another size there).
    pub repaired_primary: usize,
    /// Missing or wrong in both stores (not repairable here).
    pub lost: Vec<String>,
}

/// Compares every complete record's object in both stores and, with `repair`, copies
/// the right one over the missing or wrong one (sizes are checked against the record;
/// a write lands whole).
pub async fn verify(state: &AppState, repair: bool) -> ApiResult<Verified> {
    let replica = state
        .replica
        .as_ref()
        .ok_or_else(|| ApiError::BadRequest("no replica is configured".into()))?;
    let mut out = Verified::default();
    let rows = state
        .db
        .query(
            "SELECT object_key, size FROM records WHERE state = 'complete' ORDER BY object_key",
            &[],
            2,
        )
        .await?;
    for row in rows {
        let key = row.first().map(Val::text).unwrap_or_default();
        let size = u64::try_from(row.get(1).map_or(0, Val::int)).unwrap_or(0);
        out.records = out.records.saturating_add(1);
        let primary_ok = state.store.size(&key).await.ok().flatten() == Some(size);
        let replica_ok = replica.size(&key).await?.is_some_and(|s| s == size);
        match (primary_ok, replica_ok) {
            (true, true) => out.in_both = out.in_both.saturating_add(1),
            (true, false) => {
                if repair {
                    let bytes = state.store.get(&key, state.config.max_upload_bytes).await?;
                    replica.put(&key, bytes).await?;
                }
                out.repaired_replica = out.repaired_replica.saturating_add(1);
            }
            (false, true) => {
                if repair {
                    let bytes = replica
                        .get(&key, state.config.max_upload_bytes)
                        .await?
                        .ok_or_else(|| bad("the blob vanished"))?;
                    state.store.put(&key, bytes).await?;
                }
                out.repaired_primary = out.repaired_primary.saturating_add(1);
            }
            (false, false) => out.lost.push(key),
        }
    }
    Ok(out)
}

/// How long a replica download URL lasts, in seconds.
const URL_TTL: i64 = 300;

/// A download of `key` from the replica, through the relay, signed like a presigned
/// URL: what a record's download falls back to when the primary cannot serve it.
pub(crate) fn fallback_download(state: &AppState, key: &str) -> ApiResult<Presigned> {
    let expires = crate::now().saturating_add(URL_TTL.min(state.config.presign_ttl_secs));
    let signature = state
        .tokens
        .sign_parts(&["replica-get", key, &expires.to_string()])?;
    Ok(Presigned {
        method: "GET".into(),
        url: format!("/replica/{key}?expires={expires}&signature={signature}"),
        headers: Vec::new(),
        expires_at: expires,
    })
}

/// The routes of this feature. The object key may hold slashes, so axum matches it as a
/// wildcard; the document names it as one path parameter.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(replica_get))]
    struct ReplicaDoc;
    OpenApiRouter::with_openapi(<ReplicaDoc as utoipa::OpenApi>::openapi())
        .route("/replica/{*key}", axum::routing::get(replica_get))
}

/// A signed replica download's query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ReplicaQuery {
    /// Expiry (Unix seconds).
    expires: i64,
    /// The relay's signature (hex).
    signature: String,
}

/// A record's ciphertext from the replica, for the holder of a URL the relay signed when
/// the primary store could not serve it.
#[utoipa::path(get, path = "/replica/{key}", tag = "store",
    params(("key" = String, Path, description = "Object key (may contain `/`)"), ReplicaQuery),
    responses((status = 200, description = "The object", content_type = "application/octet-stream")))]
async fn replica_get(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<ReplicaQuery>,
) -> ApiResult<Response> {
    if q.expires < crate::now()
        || !state
            .tokens
            .verify_parts(&["replica-get", &key, &q.expires.to_string()], &q.signature)
    {
        return Err(ApiError::Forbidden(
            "the URL is expired or not signed".into(),
        ));
    }
    let replica = state.replica.as_ref().ok_or(ApiError::NotFound)?;
    let bytes = replica
        .get(&key, state.config.max_upload_bytes)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from(bytes),
    )
        .into_response())
}

/// The replica of `state`, if configured, for the relay's settings.
#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    /// The container URL.
    pub url: String,
    /// The storage account name.
    pub account: String,
    /// The storage account key (base64).
    pub key: Zeroizing<String>,
}

/// Opens the replica described by `settings` and makes sure its container exists.
pub async fn open(settings: &ReplicaSettings) -> ApiResult<Arc<AzureBlob>> {
    let blob = AzureBlob::new(&settings.url, &settings.account, &settings.key)?;
    blob.create_container().await?;
    Ok(Arc::new(blob))
}
