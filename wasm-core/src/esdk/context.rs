//! Encryption context: serialization as specified by the ESDK
//! (`framework/structures.md#serialization`): a 2-byte count, then each pair as
//! 2-byte-length-prefixed UTF-8 key and value, sorted by the keys' UTF-8 bytes.
//! An empty context serializes to no bytes at all.

use std::collections::BTreeMap;

use super::wire::{put_u16_prefixed, Reader};
use crate::error::{Error, Result};

/// An encryption context: non-secret, authenticated key/value pairs bound to a message.
///
/// `BTreeMap<String, String>` orders keys by their UTF-8 bytes, which is exactly the
/// order the ESDK specification requires for serialization.
pub type EncryptionContext = BTreeMap<String, String>;

/// Keys with this prefix are reserved for the ESDK itself.
pub const RESERVED_PREFIX: &str = "aws-crypto-";

/// Serializes a context (sorted, length-prefixed). Empty context → empty vector.
pub fn serialize(ctx: &EncryptionContext) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if ctx.is_empty() {
        return Ok(out);
    }
    let count = u16::try_from(ctx.len()).map_err(|_| Error::LimitExceeded {
        what: "encryption context entries",
        limit: u64::from(u16::MAX),
    })?;
    out.extend_from_slice(&count.to_be_bytes());
    for (k, v) in ctx {
        put_u16_prefixed(&mut out, k.as_bytes(), "encryption context key length")?;
        put_u16_prefixed(&mut out, v.as_bytes(), "encryption context value length")?;
    }
    if out.len() > usize::from(u16::MAX) {
        return Err(Error::LimitExceeded {
            what: "serialized encryption context",
            limit: u64::from(u16::MAX),
        });
    }
    Ok(out)
}

/// Parses a serialized context. All bytes must be consumed; duplicate keys, empty
/// keys, invalid UTF-8 and a zero count are rejected.
pub fn deserialize(bytes: &[u8]) -> Result<EncryptionContext> {
    let mut ctx = EncryptionContext::new();
    if bytes.is_empty() {
        return Ok(ctx);
    }
    let mut r = Reader::new(bytes);
    let count = r
        .u16()
        .map_err(|_| Error::Malformed("encryption context"))?;
    if count == 0 {
        return Err(Error::Malformed(
            "encryption context has a zero entry count",
        ));
    }
    for _ in 0..count {
        let k = r
            .u16_prefixed()
            .map_err(|_| Error::Malformed("encryption context key"))?;
        let v = r
            .u16_prefixed()
            .map_err(|_| Error::Malformed("encryption context value"))?;
        let k = core::str::from_utf8(k)
            .map_err(|_| Error::Malformed("encryption context key is not UTF-8"))?;
        let v = core::str::from_utf8(v)
            .map_err(|_| Error::Malformed("encryption context value is not UTF-8"))?;
        if k.is_empty() {
            return Err(Error::Malformed("encryption context key is empty"));
        }
        if ctx.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(Error::Malformed("duplicate encryption context key"));
        }
    }
    if r.position() != bytes.len() {
        return Err(Error::Malformed("bytes after the encryption context"));
    }
    Ok(ctx)
}

/// The context of a patient's record: `patient` (the pseudonym) and `record_type` — the
/// two entries the relay's key broker checks a caller's rights against.
pub fn record_context(patient: &str, record_type: &str) -> EncryptionContext {
    let mut ctx = EncryptionContext::new();
    ctx.insert("patient".into(), patient.into());
    ctx.insert("record_type".into(), record_type.into());
    ctx
}

/// Rejects contexts a caller may not encrypt with: reserved keys or empty keys.
pub fn check_caller_context(ctx: &EncryptionContext) -> Result<()> {
    for k in ctx.keys() {
        if k.starts_with(RESERVED_PREFIX) {
            return Err(Error::ReservedContextKey);
        }
        if k.is_empty() {
            return Err(Error::InvalidConfig(
                "encryption context keys must not be empty",
            ));
        }
    }
    Ok(())
}

/// Checks that every entry the caller expects is present in `actual` with the same value.
/// Extra entries in `actual` are allowed (the ESDK's "reproduced encryption context" rule).
pub fn check_expected(actual: &EncryptionContext, expected: &EncryptionContext) -> Result<()> {
    for (k, v) in expected {
        match actual.get(k) {
            Some(found) if found == v => {}
            _ => return Err(Error::ContextMismatch { key: k.clone() }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_utf8_byte_order() {
        let mut ctx = EncryptionContext::new();
        ctx.insert("b".into(), "2".into());
        ctx.insert("B".into(), "1".into());
        ctx.insert("é".into(), "3".into());
        let bytes = serialize(&ctx).unwrap();
        // "B" (0x42) < "b" (0x62) < "é" (0xC3 0xA9)
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(&bytes[2..5], &[0, 1, b'B']);
        assert_eq!(deserialize(&bytes).unwrap(), ctx);
    }

    #[test]
    fn empty_context_is_empty_bytes() {
        assert!(serialize(&EncryptionContext::new()).unwrap().is_empty());
        assert!(deserialize(&[]).unwrap().is_empty());
    }

    #[test]
    fn rejects_duplicates_and_trailing_bytes() {
        let dup = [0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 0];
        assert_eq!(
            deserialize(&dup),
            Err(Error::Malformed("duplicate encryption context key"))
        );
        let trailing = [0, 1, 0, 1, b'a', 0, 0, 9];
        assert!(deserialize(&trailing).is_err());
        assert!(deserialize(&[0, 0]).is_err());
    }
}
