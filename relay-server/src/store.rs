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
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Presigned {
    /// `PUT` or `GET`.
    pub method: String,
    /// Path and query, relative to the relay's origin.
    pub url: String,
    /// Headers the request must carry exactly.
    pub headers: Vec<(String, String)>,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// Query parameters of a signed URL.
#[derive(Debug, Clone, serde::Deserialize)]
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
        std::fs::create_dir_all(root.join(".tmp"))
            .map_err(|e| ApiError::Internal(format!("store dir: {e}")))?;
        if let Ok(entries) = std::fs::read_dir(root.join(".tmp")) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let key_path = dir.join("store-signing.key");
        if !key_path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            let mut k = Zeroizing::new([0u8; 32]);
            rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, k.as_mut())
                .map_err(|_| ApiError::Internal("no randomness".into()))?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key_path)
                .map_err(|e| ApiError::Internal(format!("store key: {e}")))?;
            f.write_all(k.as_ref())
                .and_then(|()| f.sync_all())
                .map_err(|e| ApiError::Internal(format!("store key: {e}")))?;
        }
        let secret = Zeroizing::new(
            std::fs::read(&key_path).map_err(|e| ApiError::Internal(format!("store key: {e}")))?,
        );
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

    /// Writes an object atomically (temporary file, fsync, rename). Refuses to
    /// overwrite.
    pub fn put(&self, key: &str, bytes: &[u8]) -> ApiResult<()> {
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
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::rename(&tmp, &dest).map_err(io)?;
        Ok(())
    }

    /// Reads an object.
    pub fn get(&self, key: &str) -> ApiResult<Vec<u8>> {
        std::fs::read(self.path(key)?).map_err(|_| ApiError::NotFound)
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
