//! Identity: Argon2id password hashes and short-lived bearer tokens.
//!
//! Token: `pv1.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>` under a key kept in
//! the data directory (0600). Claims name the user id, role, pseudonym and expiry;
//! every request verifies the MAC (constant time) and the expiry.
//!
//! A portal may instead present its own signed JWT ([`PortalJwt`]): issuer, algorithm
//! and key are configured; `exp` is required; `sub` names the portal's user and `role`
//! is `patient` or `clinician`. The first time a subject is seen the relay creates a
//! user `jwt:<issuer>:<sub>` (patients get a fresh pseudonym).

use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Token lifetime in seconds.
pub const TOKEN_TTL_SECS: i64 = 15 * 60;

/// What a token asserts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Role: patient, clinician or operator.
    pub role: String,
    /// Patient pseudonym (patients only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// When the session began (the password login), Unix seconds: refreshes keep it,
    /// so a session ends [`MAX_SESSION_SECS`] after it, however active.
    #[serde(default)]
    pub auth_time: i64,
}

/// Longest session, however often its token is refreshed.
pub const MAX_SESSION_SECS: i64 = 12 * 3600;

/// Shortest password, in characters: NIST SP 800-63B-4 §3.1.1.2 asks for 15 where
/// the password is the only factor, as it is here.
pub const MIN_PASSWORD_CHARS: usize = 15;

/// The 30,000 most common passwords of zxcvbn 4.5.0 (MIT licence), lower-cased.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

fn is_common(word: &str) -> bool {
    use std::sync::OnceLock;
    static SET: OnceLock<std::collections::HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().collect())
        .contains(word)
}

/// Checks a new password against NIST SP 800-63B-4 §3.1.1.2: at least
/// [`MIN_PASSWORD_CHARS`] characters, at most 1024 bytes, and not on a blocklist of
/// common, repetitive, sequential or context-specific values: a common password
/// (alone, repeated, or padded with digits and symbols), fewer than 5 distinct
/// characters, a run like `abcdef…` or `987654…`, or one containing the username or
/// the service's name. The refusal says why, as the guideline asks.
pub fn check_password(password: &str, username: &str) -> ApiResult<()> {
    let bad = |why: &str| {
        Err(ApiError::BadRequest(format!(
            "choose another password: {why}"
        )))
    };
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return bad(&format!(
            "it needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > 1024 {
        return bad("it is longer than 1024 bytes");
    }
    let lower = password.to_lowercase();
    let distinct: std::collections::HashSet<char> = lower.chars().collect();
    if distinct.len() < 5 {
        return bad("it repeats too few characters");
    }
    // Runs along the digits, the alphabet or a keyboard row, forwards or back.
    let sequential = [
        "0123456789",
        "abcdefghijklmnopqrstuvwxyz",
        "qwertyuiopasdfghjklzxcvbnm",
    ]
    .iter()
    .any(|run| {
        let cycle = run.repeat(lower.len().div_ceil(run.len()).saturating_add(1));
        let back: String = cycle.chars().rev().collect();
        cycle.contains(&lower) || back.contains(&lower)
    });
    if sequential {
        return bad("it is a sequence");
    }
    let core = lower.trim_matches(|c: char| !c.is_alphanumeric() || c.is_ascii_digit());
    let core_letters = lower.trim_matches(|c: char| !c.is_alphabetic());
    let rest_is_padding = |core: &str| {
        lower
            .replacen(core, "", 1)
            .chars()
            .all(|c| !c.is_alphabetic())
    };
    let repeated_unit = (1..=lower.len() / 2)
        .filter(|n| lower.len().checked_rem(*n) == Some(0) && lower.is_char_boundary(*n))
        .map(|n| &lower[..n])
        .find(|unit| unit.repeat(lower.len().checked_div(unit.len()).unwrap_or(0)) == lower);
    if is_common(&lower)
        || (core.len() >= 4 && is_common(core) && rest_is_padding(core))
        || (core_letters.len() >= 4 && is_common(core_letters) && rest_is_padding(core_letters))
        || repeated_unit.is_some_and(|u| u.chars().count() <= 5 || is_common(u))
    {
        return bad("it is a commonly used password");
    }
    let user = username.to_lowercase();
    if (user.chars().count() >= 4 && lower.contains(&user)) || lower.contains("phiveil") {
        return bad("it contains your username or the service's name");
    }
    Ok(())
}

/// Hashes a new password with Argon2id (default parameters, random salt) after
/// [`check_password`].
pub fn hash_password(password: &str, username: &str) -> ApiResult<String> {
    check_password(password, username)?;
    argon2_hash(password)
}

/// Argon2id with default parameters and a random salt (the policy checked before).
fn argon2_hash(password: &str) -> ApiResult<String> {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
}

/// [`hash_password`]: the policy checked here, Argon2id on the blocking pool, at most
/// `limits.concurrent_password_hashes` at once, so Argon2id never stalls the async
/// workers that answer every other request.
pub async fn hash_password_off_thread(
    state: &AppState,
    password: &str,
    username: &str,
) -> ApiResult<String> {
    check_password(password, username)?;
    let password = Zeroizing::new(password.to_owned());
    off_thread(state, move || argon2_hash(&password)).await?
}

/// [`verify_password`] on the blocking pool (see [`hash_password_off_thread`]).
pub async fn verify_password_off_thread(
    state: &AppState,
    password: &str,
    hash: &str,
) -> ApiResult<bool> {
    let (password, hash) = (Zeroizing::new(password.to_owned()), hash.to_owned());
    off_thread(state, move || verify_password(&password, &hash)).await
}

async fn off_thread<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> T + Send + 'static,
) -> ApiResult<T> {
    let _permit = state
        .hash_permits
        .acquire()
        .await
        .map_err(|_| ApiError::Internal("hash pool closed".into()))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing: {e}")))
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The token signing key.
pub struct TokenKey(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(***)")
    }
}

impl TokenKey {
    /// Loads the key from `path`, creating it (0600) on first start.
    pub fn open(path: &Path) -> ApiResult<Self> {
        Ok(Self(crate::load_or_create_secret(path, "token key")?))
    }

    fn mac(&self) -> ApiResult<Hmac<Sha256>> {
        Hmac::<Sha256>::new_from_slice(&self.0).map_err(|_| ApiError::Internal("token key".into()))
    }

    /// A signature (hex) over `parts` for a URL the relay hands out (a replica
    /// download), under the token key with its own domain, so it is never a token.
    pub(crate) fn sign_parts(&self, parts: &[&str]) -> ApiResult<String> {
        let mut m = self.mac()?;
        m.update(b"phiveil-signed-url\0");
        for p in parts {
            m.update(p.as_bytes());
            m.update(&[0]);
        }
        Ok(m.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    /// Whether `signature` is [`TokenKey::sign_parts`] of `parts` (constant time).
    pub(crate) fn verify_parts(&self, parts: &[&str], signature: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        self.sign_parts(parts)
            .is_ok_and(|s| bool::from(s.as_bytes().ct_eq(signature.as_bytes())))
    }

    /// Issues a token for `claims`.
    pub fn issue(&self, claims: &Claims) -> ApiResult<String> {
        let body = B64URL
            .encode(serde_json::to_vec(claims).map_err(|e| ApiError::Internal(e.to_string()))?);
        let mut mac = self.mac()?;
        mac.update(b"pv1.");
        mac.update(body.as_bytes());
        Ok(format!(
            "pv1.{body}.{}",
            B64URL.encode(mac.finalize().into_bytes())
        ))
    }

    /// Verifies a token's MAC and expiry.
    pub fn verify(&self, token: &str, now: i64) -> ApiResult<Claims> {
        let mut parts = token.split('.');
        let (Some("pv1"), Some(body), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ApiError::Unauthorized);
        };
        let sig = B64URL.decode(sig).map_err(|_| ApiError::Unauthorized)?;
        let mut mac = self.mac()?;
        mac.update(b"pv1.");
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).map_err(|_| ApiError::Unauthorized)?;
        let claims: Claims =
            serde_json::from_slice(&B64URL.decode(body).map_err(|_| ApiError::Unauthorized)?)
                .map_err(|_| ApiError::Unauthorized)?;
        if claims.exp <= now {
            return Err(ApiError::Unauthorized);
        }
        Ok(claims)
    }
}

/// Verification settings for portal-issued JWTs.
#[derive(Clone)]
pub struct PortalJwt {
    /// Required `iss`.
    pub issuer: String,
    /// Verification key.
    pub key: jsonwebtoken::DecodingKey,
    /// Accepted algorithm (one only: no algorithm confusion).
    pub algorithm: jsonwebtoken::Algorithm,
}

impl std::fmt::Debug for PortalJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalJwt")
            .field("issuer", &self.issuer)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct PortalClaims {
    sub: String,
    role: String,
    exp: i64,
}

impl PortalJwt {
    /// Verifies signature, issuer and expiry; returns (subject, role, expiry).
    fn verify(&self, token: &str) -> ApiResult<(String, String, i64)> {
        let mut v = jsonwebtoken::Validation::new(self.algorithm);
        v.set_issuer(&[&self.issuer]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        v.validate_aud = false;
        v.leeway = 30;
        let data = jsonwebtoken::decode::<PortalClaims>(token, &self.key, &v)
            .map_err(|_| ApiError::Unauthorized)?;
        let c = data.claims;
        if c.role != "patient" && c.role != "clinician" {
            return Err(ApiError::Unauthorized);
        }
        if c.sub.is_empty() || c.sub.len() > 200 {
            return Err(ApiError::Unauthorized);
        }
        Ok((c.sub, c.role, c.exp))
    }
}

/// The relay user for a portal subject, created on first sight.
async fn portal_user(
    state: &AppState,
    jwt: &PortalJwt,
    sub: &str,
    role: &str,
    exp: i64,
) -> ApiResult<Claims> {
    let username = format!("jwt:{}:{sub}", jwt.issuer);
    let user = match state.db.user_by_name(&username).await? {
        Some(u) => u,
        None => {
            let mut id = [0u8; 8];
            let mut ps = [0u8; 8];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut ps);
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            let u = crate::db::User {
                id: format!("u-{}", hex(&id)),
                username: username.clone(),
                role: role.to_owned(),
                pseudonym: (role == "patient").then(|| format!("p-{}", hex(&ps))),
                pw_hash: None,
            };
            match state.db.create_user(&u).await {
                Ok(()) => u,
                // Another request created it first.
                Err(ApiError::Conflict(_)) => state
                    .db
                    .user_by_name(&username)
                    .await?
                    .ok_or(ApiError::Unauthorized)?,
                Err(e) => return Err(e),
            }
        }
    };
    if user.role != role {
        return Err(ApiError::Unauthorized);
    }
    Ok(Claims {
        sub: user.id,
        role: user.role,
        pseudonym: user.pseudonym,
        exp,
        auth_time: 0,
    })
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Claims);

impl Caller {
    /// Fails unless the caller has `role`.
    pub fn require(&self, role: &str) -> ApiResult<()> {
        if self.0.role == role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this action needs the {role} role"
            )))
        }
    }

    /// The caller's patient pseudonym (patients only).
    pub fn pseudonym(&self) -> ApiResult<&str> {
        self.0
            .pseudonym
            .as_deref()
            .ok_or_else(|| ApiError::Forbidden("this action needs the patient role".into()))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// Verifies the bearer token. A request refused here (no token, a forged or an
    /// expired one) leaves an audit row naming the route, like every other refusal.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let res = authenticate(parts, state).await;
        if let Err(e) = &res {
            let route = parts
                .extensions
                .get::<axum::extract::MatchedPath>()
                .map_or("unknown-route", axum::extract::MatchedPath::as_str);
            let why = if parts
                .headers
                .contains_key(axum::http::header::AUTHORIZATION)
            {
                "invalid-token"
            } else {
                "missing-token"
            };
            let event = crate::audit::AuditEvent {
                actor: "anonymous".into(),
                role: "none".into(),
                action: "authenticate".into(),
                patient: None,
                outcome: "refused".into(),
                detail: format!("{why}; {} {route}; {}", parts.method, e.code()),
            };
            if let Err(err) = crate::audit::append(&state.db, &state.alerts, &event).await {
                tracing::error!(error = ?err, "audit append failed");
            }
        }
        res
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> ApiResult<Caller> {
    let token = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    if token.starts_with("pv1.") {
        return Ok(Caller(state.tokens.verify(token, crate::now())?));
    }
    let jwt = state
        .config
        .portal_jwt
        .as_ref()
        .ok_or(ApiError::Unauthorized)?;
    let (sub, role, exp) = jwt.verify(token)?;
    Ok(Caller(portal_user(state, jwt, &sub, &role, exp).await?))
}

/// An Argon2id hash of a random password, verified against for unknown users.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$x3fkYhYdWgtKXjs8IjxCSyyALgu2lZdbX3hn8Zv0d4Q";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering_and_expiry() {
        let dir = std::env::temp_dir().join(format!("phiveil-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = TokenKey::open(&dir.join("t.key")).unwrap();
        let claims = Claims {
            sub: "u1".into(),
            role: "patient".into(),
            pseudonym: Some("p-1".into()),
            exp: 1000,
            auth_time: 900,
        };
        let t = key.issue(&claims).unwrap();
        assert_eq!(key.verify(&t, 999).unwrap(), claims);
        assert!(key.verify(&t, 1000).is_err(), "expired");
        let mut forged = t.clone();
        forged.replace_range(5..6, if &t[5..6] == "A" { "B" } else { "A" });
        assert!(key.verify(&forged, 999).is_err(), "tampered");
        let other = Claims {
            role: "operator".into(),
            ..claims
        };
        let body = B64URL.encode(serde_json::to_vec(&other).unwrap());
        let sig = t.rsplit('.').next().unwrap();
        assert!(
            key.verify(&format!("pv1.{body}.{sig}"), 999).is_err(),
            "claims swapped"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery", "alice").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(hash_password("short", "alice").is_err());
    }

    #[test]
    fn the_password_policy_refuses_short_common_repetitive_sequential_and_personal_ones() {
        for bad in [
            "aaaaaaaaaa",
            "aaaaaaaaaaaaaaaa",
            "abababababababab",
            "abcabcabcabcabcabc",
            "123456789012345",
            "abcdefghijklmnop",
            "zyxwvutsrqponmlk",
            "password1234567",
            "Password!!!!!!!!",
            "1234567Password",
            "qwertyuiop12345",
            "monkeymonkeymonkey",
            "alice-the-great-2024",
            "my phiveil password",
            "short one",
        ] {
            assert!(check_password(bad, "alice").is_err(), "{bad}");
        }
        for good in [
            "correct horse battery",
            "bench password 123",
            "Tr0ub4dor&3 is not enough",
            "lilac-umbrella-49-fjord",
        ] {
            assert!(check_password(good, "alice").is_ok(), "{good}");
        }
    }
}

#[cfg(test)]
mod dummy_hash_tests {
    /// Logins for unknown names verify against this hash so they cost the same
    /// Argon2id work; it must parse, or the shortcut would reveal which names exist.
    #[test]
    fn dummy_hash_is_a_valid_argon2id_hash() {
        let h = argon2::password_hash::PasswordHash::new(crate::auth::DUMMY_HASH).unwrap();
        assert_eq!(h.algorithm.as_str(), "argon2id");
        assert!(!super::verify_password(
            "anything at all",
            crate::auth::DUMMY_HASH
        ));
    }
}
