//! Big-endian byte readers and writers with bounds checks: parsing never panics.

use crate::error::{Error, Result};

/// A cursor over untrusted bytes. Every read is bounds-checked and returns
/// [`Error::Truncated`] when the input is too short.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(Error::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(Error::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A field prefixed with a 2-byte big-endian length.
    pub(crate) fn u16_prefixed(&mut self) -> Result<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// Appends a 2-byte length prefix and the bytes; fails when longer than `u16::MAX`.
pub(crate) fn put_u16_prefixed(out: &mut Vec<u8>, bytes: &[u8], what: &'static str) -> Result<()> {
    let n = u16::try_from(bytes.len()).map_err(|_| Error::LimitExceeded {
        what,
        limit: u64::from(u16::MAX),
    })?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let mut r = Reader::new(&[0, 3, 1, 2]);
        assert_eq!(r.u16_prefixed(), Err(Error::Truncated));
        let mut r = Reader::new(&[0xff; 3]);
        assert_eq!(r.u32(), Err(Error::Truncated));
        assert_eq!(r.take(usize::MAX), Err(Error::Truncated));
    }
}
