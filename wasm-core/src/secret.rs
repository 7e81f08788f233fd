//! Secret newtypes: zeroized on drop, redacted in `Debug`, compared in constant time.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// A 256-bit plaintext data key (the ESDK "plaintext data key").
///
/// Zeroized on drop; `Debug` prints `DataKey(***)`. Raw access is
/// [`DataKey::expose_secret`], named loudly on purpose.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// Length of a data key in bytes.
    pub const LEN: usize = 32;

    /// Wraps key bytes. Fails unless exactly 32 bytes are given.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::InvalidKey("a data key must be 32 bytes"))?;
        Ok(Self(arr))
    }

    /// Draws a fresh random data key.
    pub fn generate(rng: &mut dyn rand_core::CryptoRngCore) -> Result<Self> {
        let mut k = [0u8; 32];
        rng.try_fill_bytes(&mut k).map_err(|_| Error::Rng)?;
        Ok(Self(k))
    }

    /// The raw key bytes. Do not log, store or send them.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for DataKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for DataKey {}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(***)")
    }
}

/// An AES wrapping key for the raw AES keyring: 128, 192 or 256 bits.
#[derive(Clone, ZeroizeOnDrop)]
pub struct WrappingKey(Zeroizing<Vec<u8>>);

impl WrappingKey {
    /// Wraps key bytes; fails unless 16, 24 or 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        match bytes.len() {
            16 | 24 | 32 => Ok(Self(Zeroizing::new(bytes.to_vec()))),
            _ => Err(Error::InvalidKey(
                "a raw AES wrapping key must be 16, 24 or 32 bytes",
            )),
        }
    }

    /// The raw key bytes. Do not log, store or send them.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WrappingKey(AES-{}, ***)",
            self.0.len().saturating_mul(8)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_is_redacted() {
        let k = DataKey::from_slice(&[7u8; 32]).unwrap();
        assert_eq!(format!("{k:?}"), "DataKey(***)");
        let w = WrappingKey::from_slice(&[9u8; 16]).unwrap();
        assert_eq!(format!("{w:?}"), "WrappingKey(AES-128, ***)");
    }

    #[test]
    fn key_lengths_are_checked() {
        assert!(DataKey::from_slice(&[0u8; 31]).is_err());
        assert!(WrappingKey::from_slice(&[0u8; 20]).is_err());
    }
}
