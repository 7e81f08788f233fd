//! The message header, format version 2 (ESDK `data-format/message-header.md`).
//!
//! ```text
//! version(1)=0x02 | suite id(2) | message id(32) | AAD length(2) | AAD
//! | EDK count(2) | EDKs | content type(1) | frame length(4) | suite data(32)
//! | header authentication tag(16)
//! ```

use super::context::{self, EncryptionContext};
use super::suite::{AlgorithmSuite, COMMITMENT_LEN, MESSAGE_ID_LEN, TAG_LEN};
use super::wire::{put_u16_prefixed, Reader};
use crate::error::{Error, Result};

/// Limits applied while reading untrusted messages. Every length read from a
/// message is checked against one of these before memory is committed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest header accepted, in bytes (default 1 MiB).
    pub max_header_len: usize,
    /// Most encrypted data keys accepted in one header (default 256; the ESDK's
    /// "maximum number of encrypted data keys").
    pub max_encrypted_data_keys: usize,
    /// Largest frame content buffered while decrypting, in bytes (default 16 MiB).
    pub max_frame_len: u32,
    /// Largest non-framed body accepted, in bytes (default 64 MiB).
    pub max_non_framed_len: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_len: 1 << 20,
            max_encrypted_data_keys: 256,
            max_frame_len: 16 << 20,
            max_non_framed_len: 64 << 20,
        }
    }
}

/// One encrypted data key entry of a header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncryptedDataKey {
    /// Key provider ID (UTF-8), e.g. `aws-kms` or a raw keyring's namespace.
    pub provider_id: String,
    /// Key provider information (for `aws-kms`: the key ARN).
    pub provider_info: Vec<u8>,
    /// The wrapped data key.
    pub ciphertext: Vec<u8>,
}

/// Message body content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// The whole body is one AES-GCM block (read for interoperability; never written).
    NonFramed,
    /// The body is a sequence of frames.
    Framed,
}

impl ContentType {
    fn byte(self) -> u8 {
        match self {
            ContentType::NonFramed => 1,
            ContentType::Framed => 2,
        }
    }
}

/// A parsed (not yet authenticated) message header.
///
/// Nothing in it may be trusted until the header tag has been verified with the
/// data key; [`crate::esdk::decrypt`] and the stream decryptor do that before
/// releasing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The algorithm suite.
    pub suite: AlgorithmSuite,
    /// The random message ID (also the HKDF salt).
    pub message_id: [u8; MESSAGE_ID_LEN],
    /// The encryption context stored in the header.
    pub context: EncryptionContext,
    /// The encrypted data keys.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// Framed or non-framed body.
    pub content_type: ContentType,
    /// Frame length (0 for non-framed bodies).
    pub frame_length: u32,
    /// The key commitment.
    pub commitment: [u8; COMMITMENT_LEN],
    /// The header authentication tag.
    pub auth_tag: [u8; TAG_LEN],
    /// The serialized header body: the AAD of the header authentication tag.
    pub(crate) body: Vec<u8>,
}

impl Header {
    /// Parses a header from the start of `bytes`; returns it and the number of bytes
    /// it occupies. [`Error::Truncated`] means more bytes are needed.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<(Header, usize)> {
        let res = Self::parse_inner(bytes, limits);
        match res {
            Err(Error::Truncated) if bytes.len() >= limits.max_header_len => {
                Err(Error::LimitExceeded {
                    what: "header length",
                    limit: limits.max_header_len as u64,
                })
            }
            other => other,
        }
    }

    fn parse_inner(bytes: &[u8], limits: &Limits) -> Result<(Header, usize)> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        match version {
            2 => {}
            1 => {
                // Version 1 messages only carry non-committing suites, which the
                // commitment policy forbids. Report the suite for a clear error.
                let _type = r.u8()?;
                return Err(Error::UnsupportedAlgorithmSuite(r.u16()?));
            }
            v => return Err(Error::UnsupportedVersion(v)),
        }
        let suite = AlgorithmSuite::from_id(r.u16()?)?;
        let message_id: [u8; MESSAGE_ID_LEN] = r.array()?;
        let aad = r.u16_prefixed()?;
        let context = context::deserialize(aad)?;
        let edk_count = usize::from(r.u16()?);
        if edk_count == 0 {
            return Err(Error::Malformed("header has no encrypted data keys"));
        }
        if edk_count > limits.max_encrypted_data_keys {
            return Err(Error::LimitExceeded {
                what: "encrypted data keys",
                limit: limits.max_encrypted_data_keys as u64,
            });
        }
        let mut encrypted_data_keys = Vec::with_capacity(edk_count);
        for _ in 0..edk_count {
            let provider_id = core::str::from_utf8(r.u16_prefixed()?)
                .map_err(|_| Error::Malformed("key provider ID is not UTF-8"))?
                .to_owned();
            let provider_info = r.u16_prefixed()?.to_vec();
            let ciphertext = r.u16_prefixed()?.to_vec();
            encrypted_data_keys.push(EncryptedDataKey {
                provider_id,
                provider_info,
                ciphertext,
            });
            if r.position() > limits.max_header_len {
                return Err(Error::LimitExceeded {
                    what: "header length",
                    limit: limits.max_header_len as u64,
                });
            }
        }
        let content_type = match r.u8()? {
            1 => ContentType::NonFramed,
            2 => ContentType::Framed,
            t => return Err(Error::UnsupportedContentType(t)),
        };
        let frame_length = r.u32()?;
        match (content_type, frame_length) {
            (ContentType::NonFramed, 0) | (ContentType::Framed, 1..) => {}
            (ContentType::NonFramed, _) => {
                return Err(Error::Malformed("non-framed message with a frame length"))
            }
            (ContentType::Framed, 0) => {
                return Err(Error::Malformed("framed message with frame length 0"))
            }
        }
        let commitment: [u8; COMMITMENT_LEN] = r.array()?;
        let body_len = r.position();
        let auth_tag: [u8; TAG_LEN] = r.array()?;
        let total = r.position();
        if total > limits.max_header_len {
            return Err(Error::LimitExceeded {
                what: "header length",
                limit: limits.max_header_len as u64,
            });
        }
        let body = bytes.get(..body_len).ok_or(Error::Truncated)?.to_vec();
        Ok((
            Header {
                suite,
                message_id,
                context,
                encrypted_data_keys,
                content_type,
                frame_length,
                commitment,
                auth_tag,
                body,
            },
            total,
        ))
    }

    /// Serializes a header body (everything before the authentication tag).
    pub(crate) fn serialize_body(
        suite: AlgorithmSuite,
        message_id: &[u8; MESSAGE_ID_LEN],
        context: &EncryptionContext,
        edks: &[EncryptedDataKey],
        frame_length: u32,
        commitment: &[u8; COMMITMENT_LEN],
    ) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(128);
        out.push(suite.message_format_version());
        out.extend_from_slice(&suite.id().to_be_bytes());
        out.extend_from_slice(message_id);
        let aad = context::serialize(context)?;
        put_u16_prefixed(&mut out, &aad, "serialized encryption context")?;
        let count = u16::try_from(edks.len()).map_err(|_| Error::LimitExceeded {
            what: "encrypted data keys",
            limit: u64::from(u16::MAX),
        })?;
        if count == 0 {
            return Err(Error::InvalidConfig("no encrypted data key to write"));
        }
        out.extend_from_slice(&count.to_be_bytes());
        for edk in edks {
            put_u16_prefixed(&mut out, edk.provider_id.as_bytes(), "key provider ID")?;
            put_u16_prefixed(&mut out, &edk.provider_info, "key provider info")?;
            put_u16_prefixed(&mut out, &edk.ciphertext, "encrypted data key")?;
        }
        out.push(ContentType::Framed.byte());
        out.extend_from_slice(&frame_length.to_be_bytes());
        out.extend_from_slice(commitment);
        Ok(out)
    }

    /// Length of the serialized header (body + tag).
    pub fn len(&self) -> usize {
        self.body.len().saturating_add(TAG_LEN)
    }

    /// Always false: a header is never empty. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
}
