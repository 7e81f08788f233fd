//! The embedded object store: a local directory served through relay-signed,
//! expiring URLs (the zero-config stand-in for S3 presigned URLs).
//!
//! A URL signs method, object key, expiry, exact length and content type with
//! HMAC-SHA256 under a key kept in the data directory (0600). Uploads are written to
//! a temporary file, synced, then renamed into place, so a reader never sees half an
//! object and a crash leaves at most a stray temporary file (removed at start).

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{ApiError, ApiResult};

type HmacSha256 = Hmac<Sha256>;

/// A presigned request.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Presigned {
    /// `PUT` or `GET`.
    pub method: String,
    /// Path and query, relative to the relay's origin.
    pub url: String,
    /// Headers the request must carry exactly, as `[name, value]` pairs.
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: Vec<(String, String)>,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// Query parameters of a signed URL.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignedQuery {
    /// Expiry, Unix seconds.
    pub expires: i64,
    /// Exact body length (PUT only; 0 for GET).
    #[serde(default)]
    pub length: u64,
    /// Content type (PUT only).
    #[serde(default)]
    pub content_type: String,
    /// Hex HMAC-SHA256.
    pub signature: String,
}

impl SignedQuery {
    /// Checks a presigned PUT's body against what was registered for its object: the
    /// object (named `what` in the error) is still pending, and the request's content
    /// type and length equal both the signed ones and the registered ones.
    pub fn check_body(
        &self,
        headers: &axum::http::HeaderMap,
        len: usize,
        what: &str,
        pending: bool,
        content_type: &str,
        size: u64,
    ) -> ApiResult<()> {
        if !pending {
            return Err(ApiError::Conflict(format!(
                "this {what} was already uploaded"
            )));
        }
        let ct = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if ct != self.content_type || ct != content_type {
            return Err(ApiError::BadRequest(
                "the content type differs from the signed one".into(),
            ));
        }
        if u64::try_from(len).ok() != Some(self.length) || self.length != size {
            return Err(ApiError::BadRequest(
                "the body length differs from the signed one".into(),
            ));
        }
        Ok(())
    }
}

/// The local object store.
pub struct LocalStore {
    root: PathBuf,
    secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalStore({})", self.root.display())
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Checks an object key: `/`-separated segments of `[A-Za-z0-9._-]`, no `.`/`..`.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

impl LocalStore {
    /// Opens the store under `dir` (objects in `dir/objects`), creating the signing
    /// key on first start and removing temporary files a crash may have left.
    pub fn open(dir: &Path) -> ApiResult<Self> {
        let root = dir.join("objects");
        crate::private_dir(&root)?;
        crate::private_dir(&root.join(".tmp"))?;
        if let Ok(entries) = std::fs::read_dir(root.join(".tmp")) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let secret = crate::load_or_create_secret(&dir.join("store-signing.key"), "store key")?;
        Ok(Self { root, secret })
    }

    fn mac(
        &self,
        method: &str,
        key: &str,
        expires: i64,
        length: u64,
        content_type: &str,
    ) -> ApiResult<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(&self.secret)
            .map_err(|_| ApiError::Internal("store key".into()))?;
        mac.update(
            format!("phiveil-store-v1\n{method}\n{key}\n{expires}\n{length}\n{content_type}")
                .as_bytes(),
        );
        Ok(mac)
    }

    /// A URL to upload exactly `length` bytes of `content_type` to `key` until `expires`.
    pub fn presign_put(
        &self,
        key: &str,
        length: u64,
        content_type: &str,
        expires: i64,
    ) -> ApiResult<Presigned> {
        let sig = self
            .mac("PUT", key, expires, length, content_type)?
            .finalize()
            .into_bytes();
        let sig: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Presigned {
            method: "PUT".into(),
            url: format!(
                "/store/{key}?expires={expires}&length={length}&content_type={}&signature={sig}",
                encode(content_type)
            ),
            headers: vec![
                ("content-type".into(), content_type.into()),
                ("content-length".into(), length.to_string()),
            ],
            expires_at: expires,
        })
    }

    /// A URL to download `key` until `expires`.
    pub fn presign_get(&self, key: &str, expires: i64) -> ApiResult<Presigned> {
        let sig = self
            .mac("GET", key, expires, 0, "")?
            .finalize()
            .into_bytes();
        let sig: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Presigned {
            method: "GET".into(),
            url: format!("/store/{key}?expires={expires}&signature={sig}"),
            headers: Vec::new(),
            expires_at: expires,
        })
    }

    /// Checks a signed URL (constant-time MAC comparison, then expiry).
    pub fn verify(&self, method: &str, key: &str, q: &SignedQuery, now: i64) -> ApiResult<()> {
        let want = self
            .mac(method, key, q.expires, q.length, &q.content_type)?
            .finalize()
            .into_bytes();
        let got: Vec<u8> = q
            .signature
            .as_bytes()
            .chunks(2)
            .filter_map(|h| {
                std::str::from_utf8(h)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        if q.signature.len() != 64 || !bool::from(want.as_slice().ct_eq(&got)) {
            return Err(ApiError::Forbidden("the URL signature is not valid".into()));
        }
        if now >= q.expires {
            return Err(ApiError::Expired);
        }
        Ok(())
    }

    fn path(&self, key: &str) -> ApiResult<PathBuf> {
        if !valid_key(key) {
            return Err(ApiError::BadRequest("invalid object key".into()));
        }
        Ok(self.root.join(key))
    }

    /// Whether an object exists, and its size.
    pub fn size(&self, key: &str) -> ApiResult<Option<u64>> {
        Ok(std::fs::metadata(self.path(key)?).ok().map(|m| m.len()))
    }

    /// Writes an object atomically (temporary file 0600, fsync, then a hard link
    /// into place, which fails if the object exists: of two concurrent uploads to
    /// one key exactly one wins, the other gets `Conflict`).
    pub fn put(&self, key: &str, bytes: &[u8]) -> ApiResult<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let dest = self.path(key)?;
        if dest.exists() {
            return Err(ApiError::Conflict("the object already exists".into()));
        }
        let mut name = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut name);
        let tmp = self
            .root
            .join(".tmp")
            .join(name.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let io = |e: std::io::Error| ApiError::Internal(format!("store write: {e}"));
        {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io)?;
            f.write_all(bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        if let Some(parent) = dest.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io)?;
        }
        let linked = std::fs::hard_link(&tmp, &dest);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(ApiError::Conflict("the object already exists".into()))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Reads an object.
    pub fn get(&self, key: &str) -> ApiResult<Vec<u8>> {
        std::fs::read(self.path(key)?).map_err(|_| ApiError::NotFound)
    }
}

/// A boxed future (the trait is used as `dyn ObjectStore`).
pub type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = ApiResult<T>> + Send + 'a>>;

/// Where ciphertext objects live: presigned URLs for browsers, and a size check
/// for the relay. The relay never proxies object bytes for an S3 store.
pub trait ObjectStore: Send + Sync {
    /// A URL to upload exactly `length` bytes of `content_type` to `key` until `expires`.
    fn presign_put<'a>(
        &'a self,
        key: &'a str,
        length: u64,
        content_type: &'a str,
        expires: i64,
    ) -> StoreFuture<'a, Presigned>;
    /// A URL to download `key` until `expires`.
    fn presign_get<'a>(&'a self, key: &'a str, expires: i64) -> StoreFuture<'a, Presigned>;
    /// The size of `key`, if it exists.
    fn size<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<u64>>;
    /// Reads `key` (the relay's own objects: study keys, submissions, checkpoints),
    /// refusing one larger than `limit` bytes.
    fn get<'a>(&'a self, key: &'a str, limit: u64) -> StoreFuture<'a, Vec<u8>>;
    /// Writes `key` whole (atomically: a reader sees all of it or nothing).
    fn put<'a>(&'a self, key: &'a str, bytes: Vec<u8>) -> StoreFuture<'a, ()>;
    /// Description (no secrets).
    fn describe(&self) -> String;
}

impl ObjectStore for LocalStore {
    fn presign_put<'a>(
        &'a self,
        key: &'a str,
        length: u64,
        content_type: &'a str,
        expires: i64,
    ) -> StoreFuture<'a, Presigned> {
        Box::pin(async move { LocalStore::presign_put(self, key, length, content_type, expires) })
    }

    fn presign_get<'a>(&'a self, key: &'a str, expires: i64) -> StoreFuture<'a, Presigned> {
        Box::pin(async move { LocalStore::presign_get(self, key, expires) })
    }

    fn size<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move { LocalStore::size(self, key) })
    }

    fn get<'a>(&'a self, key: &'a str, limit: u64) -> StoreFuture<'a, Vec<u8>> {
        Box::pin(async move {
            match LocalStore::size(self, key)? {
                Some(n) if n > limit => Err(ApiError::PayloadTooLarge(limit)),
                Some(_) => LocalStore::get(self, key),
                None => Err(ApiError::NotFound),
            }
        })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: Vec<u8>) -> StoreFuture<'a, ()> {
        Box::pin(async move { LocalStore::put(self, key, &bytes) })
    }

    fn describe(&self) -> String {
        format!("local store ({})", self.root.display())
    }
}

/// S3 (`aws-sdk-s3`): presigned PUT/GET URLs signed with SigV4. The PUT signs the
/// content type and length, so a browser must send exactly those. Buckets need a
/// CORS rule allowing PUT/GET from the web app's origin (see the README).
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl S3Store {
    /// A store in `bucket`, path-style addressing (works with local S3 servers too).
    pub async fn new(settings: &crate::kms::AwsSettings, bucket: &str) -> Self {
        let cfg = settings.load().await;
        let s3 = aws_sdk_s3::config::Builder::from(&cfg)
            .force_path_style(true)
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            )
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(s3),
            bucket: bucket.to_owned(),
        }
    }

    /// The SDK client (for tests and set-up).
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }
}

fn ttl(expires: i64) -> ApiResult<aws_sdk_s3::presigning::PresigningConfig> {
    let secs = u64::try_from(expires.saturating_sub(crate::now()).max(1)).unwrap_or(1);
    aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(secs))
        .map_err(|e| ApiError::Internal(format!("presign: {e}")))
}

fn presigned(p: &aws_sdk_s3::presigning::PresignedRequest, expires: i64) -> Presigned {
    Presigned {
        method: p.method().to_owned(),
        url: p.uri().to_owned(),
        headers: p
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        expires_at: expires,
    }
}

impl ObjectStore for S3Store {
    fn presign_put<'a>(
        &'a self,
        key: &'a str,
        length: u64,
        content_type: &'a str,
        expires: i64,
    ) -> StoreFuture<'a, Presigned> {
        Box::pin(async move {
            let p = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_length(
                    i64::try_from(length).map_err(|_| ApiError::BadRequest("size".into()))?,
                )
                .content_type(content_type)
                .presigned(ttl(expires)?)
                .await
                .map_err(|e| ApiError::Internal(format!("presign PUT: {e}")))?;
            let mut out = presigned(&p, expires);
            for (k, v) in [
                ("content-type", content_type.to_owned()),
                ("content-length", length.to_string()),
            ] {
                if !out.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)) {
                    out.headers.push((k.to_owned(), v));
                }
            }
            Ok(out)
        })
    }

    fn presign_get<'a>(&'a self, key: &'a str, expires: i64) -> StoreFuture<'a, Presigned> {
        Box::pin(async move {
            let p = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(ttl(expires)?)
                .await
                .map_err(|e| ApiError::Internal(format!("presign GET: {e}")))?;
            Ok(presigned(&p, expires))
        })
    }

    fn size<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            match self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(h) => Ok(h.content_length().and_then(|l| u64::try_from(l).ok())),
                Err(e) => {
                    let svc = e.into_service_error();
                    if svc.is_not_found() {
                        Ok(None)
                    } else {
                        Err(ApiError::Internal(format!("HeadObject: {svc}")))
                    }
                }
            }
        })
    }

    fn get<'a>(&'a self, key: &'a str, limit: u64) -> StoreFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    let svc = e.into_service_error();
                    if svc.is_no_such_key() {
                        ApiError::NotFound
                    } else {
                        ApiError::Internal(format!("GetObject: {svc}"))
                    }
                })?;
            if out
                .content_length()
                .and_then(|l| u64::try_from(l).ok())
                .is_some_and(|l| l > limit)
            {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| ApiError::Internal(format!("GetObject body: {e}")))?
                .into_bytes();
            if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            Ok(bytes.to_vec())
        })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: Vec<u8>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type("application/octet-stream")
                .body(bytes.into())
                .send()
                .await
                .map_err(|e| {
                    ApiError::Internal(format!("PutObject: {}", e.into_service_error()))
                })?;
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("S3 bucket {}", self.bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert!(valid_key("p-1/vitals/abc.esdk"));
        for bad in ["", "../x", "a/../b", "a//b", "/a", "a/", "a b", "a\\b", "."] {
            assert!(!valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode("application/vnd.x+json"),
            "application%2Fvnd.x%2Bjson"
        );
    }
}
