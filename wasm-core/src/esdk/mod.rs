//! The AWS Encryption SDK message format, implemented from the public ESDK
//! specification: message format version 2, algorithm suites
//! `AES_256_GCM_HKDF_SHA512_COMMIT_KEY` (0x0478, default) and
//! `AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384` (0x0578), framed bodies, commitment
//! policy `REQUIRE_ENCRYPT_REQUIRE_DECRYPT`.
//!
//! Messages written here decrypt with the official SDKs given the same keys
//! (raw AES keyring or the KMS key), and theirs decrypt here.
//!
//! # Example
//! ```
//! use phiveil_core::esdk::{self, EncryptOptions, DecryptOptions, RawAesKeyring};
//! use phiveil_core::secret::WrappingKey;
//! # fn main() -> Result<(), phiveil_core::Error> {
//! let keyring = RawAesKeyring::new("phiveil", "patient-key", WrappingKey::from_slice(&[7u8; 32])?)?;
//! let mut ctx = esdk::EncryptionContext::new();
//! ctx.insert("patient".into(), "p-123".into());
//! let mut rng = rand_core::OsRng;
//! let msg = esdk::encrypt(&keyring, b"SpO2 97%", &ctx, &EncryptOptions::default(), &mut rng)?;
//! let out = esdk::decrypt(&keyring, &msg, &DecryptOptions::expecting(ctx))?;
//! assert_eq!(out.plaintext, b"SpO2 97%");
//! # Ok(()) }
//! ```

pub mod cmm;
pub mod context;
pub mod ecdh;
pub mod header;
pub mod keyring;
pub mod signature;
pub mod stream;
pub mod suite;
mod wire;

pub use cmm::{CacheLimits, CachingCmm, Clock, MaterialsProvider, SystemClock};
pub use context::EncryptionContext;
pub use ecdh::{
    ecdh_senders, open_data_key, share_data_key, AgreedSecret, Curve, EcPrivateKey, EcPublicKey,
    KeyAgreement, RawEcdhKeyring,
};
pub use header::{ContentType, EncryptedDataKey, Header, Limits};
pub use keyring::{BrokeredKmsKeyring, Keyring, KmsDataKey, MultiKeyring, RawAesKeyring};
pub use stream::{EncryptOptions, FrameReader, MessageInfo, StreamDecryptor, StreamEncryptor};
pub use suite::AlgorithmSuite;

use zeroize::Zeroize;

use crate::error::Result;

/// Options for decryption.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecryptOptions {
    /// Entries that must be present, with these values, in the message's
    /// encryption context.
    pub expected_context: EncryptionContext,
    /// Size limits for untrusted input.
    pub limits: Limits,
}

impl DecryptOptions {
    /// Options that require `ctx` to be bound in the message, default limits.
    pub fn expecting(ctx: EncryptionContext) -> Self {
        Self {
            expected_context: ctx,
            limits: Limits::default(),
        }
    }
}

/// A decrypted message.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// Authenticated facts about the message.
    pub info: MessageInfo,
}

impl core::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decrypted")
            .field(
                "plaintext",
                &format_args!("<{} bytes>", self.plaintext.len()),
            )
            .field("info", &self.info)
            .finish()
    }
}

/// Encrypts `plaintext` into one ESDK message.
pub fn encrypt(
    provider: &dyn MaterialsProvider,
    plaintext: &[u8],
    context: &EncryptionContext,
    options: &EncryptOptions,
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<Vec<u8>> {
    let mut opts = *options;
    opts.max_plaintext_length = Some(plaintext.len() as u64);
    let mut enc = StreamEncryptor::new(provider, context, &opts, rng)?;
    let frames = plaintext
        .len()
        .checked_div(opts.frame_length as usize)
        .unwrap_or(0)
        .saturating_add(1);
    let mut out = Vec::with_capacity(
        plaintext
            .len()
            .saturating_add(frames.saturating_mul(stream::REGULAR_FRAME_OVERHEAD))
            .saturating_add(512),
    );
    enc.update(plaintext, &mut out)?;
    enc.finish(&mut out)?;
    Ok(out)
}

/// Decrypts one complete ESDK message. Fails — releasing no plaintext — on any
/// authentication failure, truncation, trailing bytes or context mismatch.
pub fn decrypt(
    provider: &dyn MaterialsProvider,
    message: &[u8],
    options: &DecryptOptions,
) -> Result<Decrypted> {
    let mut dec = StreamDecryptor::new(provider, options.expected_context.clone(), options.limits);
    let mut out = Vec::with_capacity(message.len());
    let res = dec
        .process(message, &mut out, true)
        .and_then(|used| {
            if used == message.len() {
                Ok(())
            } else {
                Err(crate::Error::Truncated)
            }
        })
        .and_then(|()| dec.finish(&mut out));
    match res {
        Ok(info) => Ok(Decrypted {
            plaintext: out,
            info,
        }),
        Err(e) => {
            out.zeroize();
            Err(e)
        }
    }
}
