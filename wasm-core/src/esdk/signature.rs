//! Message signatures for the signing suite
//! `AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384` (0x0578): ECDSA P-384 with SHA-384
//! over the serialized header and body; the footer is a 2-byte length and the DER
//! `ECDSA-Sig-Value`. The verification key travels in the encryption context under
//! `aws-crypto-public-key` as base64 of the compressed SEC1 point
//! (ESDK `data-format/message-footer.md`, `framework/default-cmm.md`).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use p384::ecdsa::signature::{DigestSigner, DigestVerifier};
use p384::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha384};

use super::context::EncryptionContext;
use super::wire::Reader;
use crate::error::{Error, Result};

/// Encryption-context key holding the message's verification key.
pub const PUBLIC_KEY_CONTEXT_KEY: &str = "aws-crypto-public-key";

/// Signs a message as it is produced.
pub(crate) struct Signer {
    key: SigningKey,
    hash: Sha384,
}

impl Signer {
    /// A fresh signing key and the context value naming its public key.
    pub(crate) fn generate(rng: &mut dyn rand_core::CryptoRngCore) -> (Self, String) {
        let key = SigningKey::random(&mut &mut *rng);
        let public = key.verifying_key().to_encoded_point(true);
        let b64 = B64.encode(public.as_bytes());
        (
            Self {
                key,
                hash: Sha384::new(),
            },
            b64,
        )
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
    }

    /// The footer: signature length and DER signature.
    pub(crate) fn footer(self) -> Result<Vec<u8>> {
        let sig: Signature = self
            .key
            .try_sign_digest(self.hash)
            .map_err(|_| Error::InvalidState("signing failed"))?;
        let der: DerSignature = sig.to_der();
        let bytes = der.as_bytes();
        let len =
            u16::try_from(bytes.len()).map_err(|_| Error::InvalidState("signature length"))?;
        let mut out = Vec::with_capacity(bytes.len().saturating_add(2));
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
        Ok(out)
    }
}

/// Verifies a message's signature as it is read.
pub(crate) struct Verifier {
    key: VerifyingKey,
    hash: Sha384,
}

impl Verifier {
    /// The verifier named by the (authenticated) encryption context.
    pub(crate) fn from_context(ctx: &EncryptionContext) -> Result<Self> {
        let b64 = ctx.get(PUBLIC_KEY_CONTEXT_KEY).ok_or(Error::Malformed(
            "signing suite without aws-crypto-public-key",
        ))?;
        let point = B64
            .decode(b64)
            .map_err(|_| Error::Malformed("aws-crypto-public-key is not base64"))?;
        let key = VerifyingKey::from_sec1_bytes(&point)
            .map_err(|_| Error::Malformed("aws-crypto-public-key is not a P-384 point"))?;
        Ok(Self {
            key,
            hash: Sha384::new(),
        })
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
    }

    /// Reads the footer at the start of `input`; returns its length once the
    /// signature verified.
    pub(crate) fn verify_footer(self, input: &[u8]) -> Result<usize> {
        let mut r = Reader::new(input);
        let sig = r.u16_prefixed()?;
        let sig = Signature::from_der(sig).map_err(|_| Error::DecryptFailed)?;
        self.key
            .verify_digest(self.hash, &sig)
            .map_err(|_| Error::DecryptFailed)?;
        Ok(r.position())
    }
}
