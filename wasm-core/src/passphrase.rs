//! Secrets wrapped under a passphrase: Argon2id (random 16-byte salt) derives an
//! AES-256-GCM key that seals the secret with caller-chosen associated data, which names
//! what the secret is for (a study's client key, an account's end-to-end private key),
//! so one kind of wrapped secret never opens as another.
//!
//! The result is JSON (`v`, `kdf`, the cost `m_kib`/`t`/`p`, base64 `salt`, `nonce`,
//! `ct`): stored in the browser and, for another device, on the relay, which cannot
//! open it without the passphrase.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Argon2id cost of a passphrase-wrapped secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// 64 MiB, 3 passes, 1 lane (above OWASP's Argon2id minimums; about a second in a
    /// browser).
    pub const DEFAULT: Self = Self {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };

    /// The cost, or an error when it is outside 8 MiB-1 GiB, 1-10 passes, 1-4 lanes (a
    /// wrapped secret read from storage is untrusted: its cost must not exhaust the
    /// device, nor be too cheap).
    pub fn bounded(self) -> Result<Self> {
        if (8 * 1024..=1024 * 1024).contains(&self.m_kib)
            && (1..=10).contains(&self.t)
            && (1..=4).contains(&self.p)
        {
            Ok(self)
        } else {
            Err(Error::InvalidConfig(
                "Argon2id cost out of bounds (8 MiB-1 GiB, 1-10 passes, 1-4 lanes)",
            ))
        }
    }
}

/// The shortest passphrase accepted, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 10;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wrapped {
    v: u8,
    kdf: String,
    #[serde(flatten)]
    cost: KdfParams,
    salt: String,
    nonce: String,
    ct: String,
}

fn derive(passphrase: &str, salt: &[u8], cost: KdfParams) -> Result<Zeroizing<[u8; 32]>> {
    let params = argon2::Params::new(cost.m_kib, cost.t, cost.p, Some(32))
        .map_err(|_| Error::InvalidConfig("Argon2id parameters"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    a.hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|_| Error::InvalidConfig("Argon2id failed"))?;
    Ok(key)
}

/// Wraps `secret` under `passphrase` (at least [`MIN_PASSPHRASE_CHARS`] characters),
/// bound to `aad`.
pub fn wrap(
    secret: &[u8],
    aad: &[u8],
    passphrase: &str,
    cost: KdfParams,
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<Vec<u8>> {
    let cost = cost.bounded()?;
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(Error::InvalidKey(
            "the passphrase needs at least 10 characters",
        ));
    }
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    rng.try_fill_bytes(&mut salt).map_err(|_| Error::Rng)?;
    rng.try_fill_bytes(&mut nonce).map_err(|_| Error::Rng)?;
    let key = derive(passphrase, &salt, cost)?;
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(key.as_ref())
        .map_err(|_| Error::InvalidKey("AES-256 key"))?;
    let ct = cipher
        .encrypt(
            aes_gcm::Nonce::from_slice(&nonce),
            Payload { msg: secret, aad },
        )
        .map_err(|_| Error::InvalidState("AES-GCM encryption failed"))?;
    serde_json::to_vec(&Wrapped {
        v: 1,
        kdf: "argon2id".into(),
        cost,
        salt: B64.encode(salt),
        nonce: B64.encode(nonce),
        ct: B64.encode(ct),
    })
    .map_err(|_| Error::InvalidState("wrapped secret encoding"))
}

/// Unwraps [`wrap`] output (zeroized on drop). A wrong passphrase, other associated
/// data or any modification gives [`Error::DecryptFailed`]; malformed input a typed
/// error.
pub fn unwrap(wrapped: &[u8], aad: &[u8], passphrase: &str) -> Result<Zeroizing<Vec<u8>>> {
    let w: Wrapped =
        serde_json::from_slice(wrapped).map_err(|_| Error::Malformed("wrapped secret"))?;
    if w.v != 1 || w.kdf != "argon2id" {
        return Err(Error::Malformed("wrapped secret version"));
    }
    let cost = w.cost.bounded()?;
    let salt = B64.decode(&w.salt).map_err(|_| Error::Malformed("salt"))?;
    let nonce = B64
        .decode(&w.nonce)
        .map_err(|_| Error::Malformed("nonce"))?;
    let ct = B64
        .decode(&w.ct)
        .map_err(|_| Error::Malformed("ciphertext"))?;
    if salt.len() != 16 || nonce.len() != 12 {
        return Err(Error::Malformed("salt or nonce length"));
    }
    let key = derive(passphrase, &salt, cost)?;
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(key.as_ref())
        .map_err(|_| Error::InvalidKey("AES-256 key"))?;
    Ok(Zeroizing::new(
        cipher
            .decrypt(
                aes_gcm::Nonce::from_slice(&nonce),
                Payload { msg: &ct, aad },
            )
            .map_err(|_| Error::DecryptFailed)?,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    const CHEAP: KdfParams = KdfParams {
        m_kib: 8 * 1024,
        t: 1,
        p: 1,
    };

    #[test]
    fn wraps_and_refuses_wrong_passphrases_purposes_and_tampering() {
        let w = wrap(
            b"secret",
            b"purpose-a",
            "correct horse battery",
            CHEAP,
            &mut OsRng,
        )
        .unwrap();
        assert_eq!(
            unwrap(&w, b"purpose-a", "correct horse battery")
                .unwrap()
                .as_slice(),
            b"secret"
        );
        assert_eq!(
            unwrap(&w, b"purpose-a", "wrong horse battery").unwrap_err(),
            Error::DecryptFailed
        );
        assert_eq!(
            unwrap(&w, b"purpose-b", "correct horse battery").unwrap_err(),
            Error::DecryptFailed
        );
        assert!(wrap(b"s", b"a", "short", CHEAP, &mut OsRng).is_err());
        let mut v: serde_json::Value = serde_json::from_slice(&w).unwrap();
        v["m_kib"] = (4u32 << 20).into();
        let greedy = serde_json::to_vec(&v).unwrap();
        assert!(matches!(
            unwrap(&greedy, b"purpose-a", "correct horse battery"),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            unwrap(b"{}", b"purpose-a", "correct horse battery"),
            Err(Error::Malformed(_))
        ));
    }
}
