//! Cryptographic materials managers (ESDK `framework/cmm-interface.md`).
//!
//! Every [`Keyring`] is a materials provider through the default CMM behaviour
//! (blanket implementation). [`CachingCmm`] reuses data keys within limits of age,
//! messages and bytes, as the ESDK's caching CMM does
//! (`framework/caching-cmm.md`).

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha512};

use super::context::EncryptionContext;
use super::header::EncryptedDataKey;
use super::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring};
use super::suite::AlgorithmSuite;
use crate::error::{Error, Result};

/// What an encryption asks of a materials provider.
#[derive(Debug, Clone, Copy)]
pub struct EncryptionRequest<'a> {
    /// The caller's encryption context.
    pub context: &'a EncryptionContext,
    /// The algorithm suite.
    pub suite: AlgorithmSuite,
    /// Upper bound of the plaintext length, when known (caching needs it).
    pub max_plaintext_length: Option<u64>,
}

/// What a decryption asks of a materials provider.
#[derive(Debug, Clone, Copy)]
pub struct DecryptionRequest<'a> {
    /// The suite from the header.
    pub suite: AlgorithmSuite,
    /// The encryption context from the header.
    pub context: &'a EncryptionContext,
    /// The encrypted data keys from the header.
    pub encrypted_data_keys: &'a [EncryptedDataKey],
}

/// Supplies encryption and decryption materials.
pub trait MaterialsProvider: Send + Sync {
    /// Returns a data key with at least one encrypted copy.
    fn encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<EncryptionMaterials>;

    /// Returns the data key unwrapped from one of the encrypted data keys.
    fn decryption_materials(&self, req: &DecryptionRequest<'_>) -> Result<DecryptionMaterials>;
}

/// The default CMM behaviour for any keyring.
impl<K: Keyring + ?Sized> MaterialsProvider for K {
    fn encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<EncryptionMaterials> {
        let mut m = EncryptionMaterials {
            suite: req.suite,
            context: req.context.clone(),
            data_key: None,
            encrypted_data_keys: Vec::new(),
        };
        self.on_encrypt(&mut m, rng)?;
        if m.data_key.is_none() || m.encrypted_data_keys.is_empty() {
            return Err(Error::InvalidConfig("keyring produced no data key"));
        }
        Ok(m)
    }

    fn decryption_materials(&self, req: &DecryptionRequest<'_>) -> Result<DecryptionMaterials> {
        let mut m = DecryptionMaterials {
            suite: req.suite,
            context: req.context.clone(),
            data_key: None,
        };
        self.on_decrypt(&mut m, req.encrypted_data_keys)?;
        if m.data_key.is_none() {
            return Err(Error::NoMatchingKey);
        }
        Ok(m)
    }
}

/// A source of the current time in milliseconds (a trait so tests can move time).
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The platform clock (`SystemTime` natively, `Date.now()` in wasm).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[cfg(not(target_arch = "wasm32"))]
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    #[cfg(target_arch = "wasm32")]
    fn now_ms(&self) -> u64 {
        // Date.now() is a non-negative integral f64 well inside u64's range.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ms = js_sys::Date::now() as u64;
        ms
    }
}

/// Limits of a [`CachingCmm`]: an entry is used only while all hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Maximum age of a cached data key, in milliseconds (required, > 0).
    pub max_age_ms: u64,
    /// Maximum messages encrypted under one data key (default 2^32).
    pub max_messages: u64,
    /// Maximum plaintext bytes encrypted under one data key (default 2^63 - 1).
    pub max_bytes: u64,
    /// Maximum entries held (oldest evicted first).
    pub capacity: usize,
}

impl CacheLimits {
    /// Limits with the given maximum age and the ESDK's defaults for the rest.
    pub fn with_max_age_ms(max_age_ms: u64) -> Self {
        Self {
            max_age_ms,
            max_messages: 1 << 32,
            max_bytes: i64::MAX as u64,
            capacity: 64,
        }
    }
}

struct Entry {
    created_ms: u64,
    messages: u64,
    bytes: u64,
    enc: Option<EncryptionMaterials>,
    dec: Option<DecryptionMaterials>,
}

/// The caching CMM: reuses data keys for many messages while the entry is younger
/// than `max_age_ms` and has protected fewer than `max_messages` messages and
/// `max_bytes` bytes. Encryption with an unknown plaintext length bypasses the
/// cache (as in the ESDK), so every cached use is accounted for. Encryption with a
/// signing suite bypasses it too (its context holds a fresh public key per message).
pub struct CachingCmm<P: MaterialsProvider, C: Clock = SystemClock> {
    inner: P,
    clock: C,
    limits: CacheLimits,
    partition: [u8; 64],
    entries: Mutex<HashMap<[u8; 64], Entry>>,
}

impl<P: MaterialsProvider, C: Clock> core::fmt::Debug for CachingCmm<P, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CachingCmm")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<P: MaterialsProvider> CachingCmm<P, SystemClock> {
    /// A caching CMM over `inner` with the platform clock.
    pub fn new(inner: P, limits: CacheLimits, partition: &str) -> Result<Self> {
        Self::with_clock(inner, limits, partition, SystemClock)
    }
}

impl<P: MaterialsProvider, C: Clock> CachingCmm<P, C> {
    /// A caching CMM with an explicit clock.
    pub fn with_clock(inner: P, limits: CacheLimits, partition: &str, clock: C) -> Result<Self> {
        if limits.max_age_ms == 0 {
            return Err(Error::InvalidConfig("cache max age must be positive"));
        }
        if limits.max_messages == 0 || limits.max_messages > (1 << 32) {
            return Err(Error::InvalidConfig(
                "cache max messages must be in 1..=2^32",
            ));
        }
        if limits.capacity == 0 {
            return Err(Error::InvalidConfig("cache capacity must be positive"));
        }
        let mut p = [0u8; 64];
        p.copy_from_slice(&Sha512::digest(partition.as_bytes()));
        Ok(Self {
            inner,
            clock,
            limits,
            partition: p,
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// Number of entries currently cached.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn encrypt_id(&self, req: &EncryptionRequest<'_>) -> Result<[u8; 64]> {
        let mut h = Sha512::new();
        h.update(self.partition);
        h.update([0u8]);
        h.update(req.suite.id().to_be_bytes());
        h.update(super::context::serialize(req.context)?);
        Ok(h.finalize().into())
    }

    fn decrypt_id(&self, req: &DecryptionRequest<'_>) -> Result<[u8; 64]> {
        let mut h = Sha512::new();
        h.update(self.partition);
        h.update([1u8]);
        h.update(req.suite.id().to_be_bytes());
        let mut edk_hashes: Vec<[u8; 64]> = req
            .encrypted_data_keys
            .iter()
            .map(|e| {
                let mut eh = Sha512::new();
                for part in [e.provider_id.as_bytes(), &e.provider_info, &e.ciphertext] {
                    eh.update((part.len() as u64).to_be_bytes());
                    eh.update(part);
                }
                eh.finalize().into()
            })
            .collect();
        edk_hashes.sort_unstable();
        for eh in &edk_hashes {
            h.update(eh);
        }
        h.update(super::context::serialize(req.context)?);
        Ok(h.finalize().into())
    }

    fn evict_if_full(&self, map: &mut HashMap<[u8; 64], Entry>) {
        while map.len() >= self.limits.capacity {
            let oldest = map
                .iter()
                .min_by_key(|(_, e)| e.created_ms)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    map.remove(&k);
                }
                None => break,
            }
        }
    }

    fn fresh(&self, e: &Entry, now: u64) -> bool {
        now.saturating_sub(e.created_ms) < self.limits.max_age_ms
    }
}

fn clone_enc(m: &EncryptionMaterials) -> EncryptionMaterials {
    EncryptionMaterials {
        suite: m.suite,
        context: m.context.clone(),
        data_key: m.data_key.clone(),
        encrypted_data_keys: m.encrypted_data_keys.clone(),
    }
}

impl<P: MaterialsProvider, C: Clock> MaterialsProvider for CachingCmm<P, C> {
    fn encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<EncryptionMaterials> {
        let Some(len) = req.max_plaintext_length else {
            return self.inner.encryption_materials(req, rng);
        };
        // Signing suites carry a per-message public key in the context: no two
        // requests share an entry, so caching would only evict useful entries.
        if req.suite.is_signing() {
            return self.inner.encryption_materials(req, rng);
        }
        if len > self.limits.max_bytes {
            return self.inner.encryption_materials(req, rng);
        }
        let id = self.encrypt_id(req)?;
        let now = self.clock.now_ms();
        {
            let mut map = self
                .entries
                .lock()
                .map_err(|_| Error::InvalidState("cache lock poisoned"))?;
            if let Some(e) = map.get_mut(&id) {
                let usable = self.fresh(e, now)
                    && e.messages < self.limits.max_messages
                    && e.bytes
                        .checked_add(len)
                        .is_some_and(|b| b <= self.limits.max_bytes);
                match (&e.enc, usable) {
                    (Some(m), true) => {
                        e.messages = e.messages.saturating_add(1);
                        e.bytes = e.bytes.saturating_add(len);
                        return Ok(clone_enc(m));
                    }
                    _ => {
                        map.remove(&id);
                    }
                }
            }
        }
        let m = self.inner.encryption_materials(req, rng)?;
        let mut map = self
            .entries
            .lock()
            .map_err(|_| Error::InvalidState("cache lock poisoned"))?;
        self.evict_if_full(&mut map);
        map.insert(
            id,
            Entry {
                created_ms: now,
                messages: 1,
                bytes: len,
                enc: Some(clone_enc(&m)),
                dec: None,
            },
        );
        Ok(m)
    }

    fn decryption_materials(&self, req: &DecryptionRequest<'_>) -> Result<DecryptionMaterials> {
        let id = self.decrypt_id(req)?;
        let now = self.clock.now_ms();
        {
            let mut map = self
                .entries
                .lock()
                .map_err(|_| Error::InvalidState("cache lock poisoned"))?;
            if let Some(e) = map.get(&id) {
                if let (Some(m), true) = (&e.dec, self.fresh(e, now)) {
                    return Ok(DecryptionMaterials {
                        suite: m.suite,
                        context: m.context.clone(),
                        data_key: m.data_key.clone(),
                    });
                }
                map.remove(&id);
            }
        }
        let m = self.inner.decryption_materials(req)?;
        let mut map = self
            .entries
            .lock()
            .map_err(|_| Error::InvalidState("cache lock poisoned"))?;
        self.evict_if_full(&mut map);
        map.insert(
            id,
            Entry {
                created_ms: now,
                messages: 0,
                bytes: 0,
                enc: None,
                dec: Some(DecryptionMaterials {
                    suite: m.suite,
                    context: m.context.clone(),
                    data_key: m.data_key.clone(),
                }),
            },
        );
        Ok(m)
    }
}
