//! Algorithm suites and the key schedule (ESDK `framework/algorithm-suites.md`,
//! `framework/transitive-requirements.md`).
//!
//! phiveil follows the ESDK's strictest commitment policy,
//! `REQUIRE_ENCRYPT_REQUIRE_DECRYPT`: it writes and reads only the committing suites
//! of message format version 2 — `AES_256_GCM_HKDF_SHA512_COMMIT_KEY` (0x0478, the
//! default) and `AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384` (0x0578, the default of
//! the official JavaScript SDK). Non-committing suites are refused on decrypt as that
//! policy requires.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha512;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::DataKey;

/// Length of a message ID in format version 2.
pub const MESSAGE_ID_LEN: usize = 32;
/// AES-GCM IV length used by every supported suite.
pub const IV_LEN: usize = 12;
/// AES-GCM tag length used by every supported suite.
pub const TAG_LEN: usize = 16;
/// Length of the key commitment (algorithm suite data) in the header.
pub const COMMITMENT_LEN: usize = 32;

/// An algorithm suite this library can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AlgorithmSuite {
    /// `AES_256_GCM_HKDF_SHA512_COMMIT_KEY` (0x0478): AES-256-GCM, HKDF-SHA512 key
    /// derivation salted with the message ID, key commitment, no signature.
    #[default]
    Aes256GcmHkdfSha512CommitKey,
    /// `AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384` (0x0578): as 0x0478, plus an
    /// ECDSA P-384 signature over the whole message in a footer.
    Aes256GcmHkdfSha512CommitKeyEcdsaP384,
}

impl AlgorithmSuite {
    /// The two-byte suite identifier written in the header.
    pub const fn id(self) -> u16 {
        match self {
            AlgorithmSuite::Aes256GcmHkdfSha512CommitKey => 0x0478,
            AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => 0x0578,
        }
    }

    /// Whether messages of this suite carry a signature footer.
    pub const fn is_signing(self) -> bool {
        matches!(self, AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384)
    }

    /// Maps an identifier from a header to a suite this library accepts.
    pub fn from_id(id: u16) -> Result<Self> {
        match id {
            0x0478 => Ok(AlgorithmSuite::Aes256GcmHkdfSha512CommitKey),
            0x0578 => Ok(AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384),
            other => Err(Error::UnsupportedAlgorithmSuite(other)),
        }
    }

    /// The message format version the suite belongs to.
    pub const fn message_format_version(self) -> u8 {
        2
    }
}

/// The per-message keys: the derived data key (as a ready AES-GCM cipher) and the
/// key commitment. Derived with one HKDF extract as the specification recommends.
pub(crate) struct MessageKeys {
    pub(crate) cipher: Aes256Gcm,
    pub(crate) commitment: [u8; COMMITMENT_LEN],
    /// The derived data key, kept only for the wasm build, which hands bulk frames
    /// to WebCrypto (imported as a non-extractable key).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) derived_key: Zeroizing<[u8; 32]>,
}

impl MessageKeys {
    pub(crate) fn derive(
        suite: AlgorithmSuite,
        data_key: &DataKey,
        message_id: &[u8; MESSAGE_ID_LEN],
    ) -> Result<Self> {
        let hk = Hkdf::<Sha512>::new(Some(message_id), data_key.expose_secret());
        let mut info = [0u8; 2 + 9];
        info[..2].copy_from_slice(&suite.id().to_be_bytes());
        info[2..].copy_from_slice(b"DERIVEKEY");
        let mut enc = Zeroizing::new([0u8; 32]);
        hk.expand(&info, enc.as_mut())
            .map_err(|_| Error::InvalidConfig("HKDF output length"))?;
        let mut commitment = [0u8; COMMITMENT_LEN];
        hk.expand(b"COMMITKEY", &mut commitment)
            .map_err(|_| Error::InvalidConfig("HKDF output length"))?;
        let cipher = Aes256Gcm::new_from_slice(enc.as_ref())
            .map_err(|_| Error::InvalidKey("derived key length"))?;
        Ok(Self {
            cipher,
            commitment,
            derived_key: enc,
        })
    }

    /// Constant-time check of the commitment stored in a header.
    pub(crate) fn commitment_matches(&self, stored: &[u8; COMMITMENT_LEN]) -> bool {
        self.commitment.ct_eq(stored).into()
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(iv), aad, buf)
            .map_err(|_| Error::LimitExceeded {
                what: "AES-GCM plaintext length",
                limit: (1u64 << 36) - 32,
            })?;
        Ok(tag.into())
    }

    /// Decrypts `buf` in place after checking `tag`; on failure `buf` is left as
    /// ciphertext and the error is opaque.
    pub(crate) fn open(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        self.cipher
            .decrypt_in_place_detached(Nonce::from_slice(iv), aad, buf, Tag::from_slice(tag))
            .map_err(|_| Error::DecryptFailed)
    }
}

/// The IV of frame `seq`: the sequence number, big-endian, left-padded with zeros.
pub(crate) fn frame_iv(seq: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[8..].copy_from_slice(&seq.to_be_bytes());
    iv
}

/// Body AAD content strings (ESDK `data-format/message-body-aad.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyAadContent {
    SingleBlock,
    Frame,
    FinalFrame,
}

impl BodyAadContent {
    fn as_bytes(self) -> &'static [u8] {
        match self {
            BodyAadContent::SingleBlock => b"AWSKMSEncryptionClient Single Block",
            BodyAadContent::Frame => b"AWSKMSEncryptionClient Frame",
            BodyAadContent::FinalFrame => b"AWSKMSEncryptionClient Final Frame",
        }
    }
}

/// Serializes the message body AAD: message ID, content string, sequence number,
/// content length.
pub(crate) fn body_aad(
    out: &mut Vec<u8>,
    message_id: &[u8; MESSAGE_ID_LEN],
    content: BodyAadContent,
    seq: u32,
    len: u64,
) {
    out.clear();
    out.extend_from_slice(message_id);
    out.extend_from_slice(content.as_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_committing_suite_is_accepted() {
        assert!(AlgorithmSuite::from_id(0x0478).is_ok());
        assert!(AlgorithmSuite::from_id(0x0578).unwrap().is_signing());
        for id in [0x0014, 0x0078, 0x0178, 0x0214, 0x0346, 0x0378] {
            assert_eq!(
                AlgorithmSuite::from_id(id),
                Err(Error::UnsupportedAlgorithmSuite(id))
            );
        }
    }

    #[test]
    fn frame_iv_is_padded_sequence_number() {
        assert_eq!(frame_iv(1), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(frame_iv(0x0102_0304)[8..], [1, 2, 3, 4]);
    }
}
