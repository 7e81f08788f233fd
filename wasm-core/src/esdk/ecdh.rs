//! The ESDK raw ECDH keyring (`framework/raw-ecdh-keyring.md` and
//! `framework/key-agreement-schemas.md` of the AWS Encryption SDK specification, as the
//! AWS Cryptographic Material Providers Library implements them): a data key wrapped
//! for a recipient's elliptic-curve public key, so that only the holder of the matching
//! private key (and, in the static-static scheme, the sender) can unwrap it.
//!
//! Wire format, for one encrypted data key:
//!
//! * provider ID `raw-ecdh`;
//! * provider info `0x01 ‖ u32 len ‖ recipient public key ‖ u32 len ‖ sender public key`,
//!   both keys as compressed SEC1 points;
//! * ciphertext `salt (32) ‖ commitment key (32) ‖ wrapped data key ‖ tag (16)`.
//!
//! The wrapping key comes from the ECDH shared secret `Z` (the x-coordinate) through
//! NIST SP 800-108 counter-mode KDF with HMAC-SHA384: 64 bytes, each block
//! `HMAC(Z, [i]₃₂ ‖ FixedInfo ‖ 0x00 ‖ salt ‖ [512]₃₂)` for i = 1, 2. Its first 32 bytes are
//! the commitment key (stored, compared in constant time on decrypt), its last 32 the
//! AES-256-GCM key that wraps the data key (zero IV, `FixedInfo` as AAD), where
//!
//! `FixedInfo = "ecdh-key-derivation" ‖ 0 ‖ curve ‖ 0 ‖ "HMAC_SHA384" ‖ 0 ‖ sender ‖
//! recipient ‖ 0 ‖ 0x01 ‖ 0 ‖ serialized encryption context`.
//!
//! Where the specification's text is ambiguous the Material Providers Library decides,
//! since messages must stay readable by the official SDKs: the label is written in lower
//! case (the specification shows it both ways), the curve is named `p256` / `p384` (the
//! specification says only "the configured curve specification"), and both public keys
//! in `FixedInfo` are compressed points. The interop tests in
//! `tests/tests/esdk_interop.rs` exchange messages both ways with the official Python
//! SDK's raw ECDH keyring.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sha2::Sha384;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::context::{self, EncryptionContext};
use super::header::{EncryptedDataKey, Header, Limits};
use super::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring};
use super::stream::StreamDecryptor;
use super::suite::TAG_LEN;
use crate::error::{Error, Result};
use crate::secret::DataKey;

/// Provider ID of the encrypted data keys this keyring writes.
pub const RAW_ECDH_PROVIDER_ID: &str = "raw-ecdh";
/// Provider ID of the AWS KMS ECDH keyring's encrypted data keys (same wire format; a
/// raw ECDH keyring holding the recipient's private key may unwrap them).
pub const KMS_ECDH_PROVIDER_ID: &str = "aws-kms-ecdh";

const VERSION: u8 = 0x01;
const SALT_LEN: usize = 32;
const COMMITMENT_LEN: usize = 32;
const KDF_LABEL: &[u8] = b"ecdh-key-derivation";
const KDF_PRF: &[u8] = b"HMAC_SHA384";

/// The elliptic curves this keyring supports (those WebCrypto offers for ECDH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (`ECC_NIST_P256`).
    P256,
    /// NIST P-384 (`ECC_NIST_P384`).
    P384,
}

impl Curve {
    /// The name written into the KDF's fixed info.
    fn kdf_name(self) -> &'static [u8] {
        match self {
            Curve::P256 => b"p256",
            Curve::P384 => b"p384",
        }
    }

    /// Length of a compressed SEC1 point on this curve.
    fn compressed_len(self) -> usize {
        match self {
            Curve::P256 => 33,
            Curve::P384 => 49,
        }
    }
}

/// An elliptic-curve public key (a point on the curve, never the identity).
#[derive(Clone, PartialEq, Eq)]
pub enum EcPublicKey {
    /// A P-256 point.
    P256(p256::PublicKey),
    /// A P-384 point.
    P384(p384::PublicKey),
}

impl core::fmt::Debug for EcPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "EcPublicKey({:?}, {})",
            self.curve(),
            hex(&self.compressed())
        )
    }
}

impl EcPublicKey {
    /// Parses a DER-encoded X.509 SubjectPublicKeyInfo (what WebCrypto exports as
    /// `spki` and the specification requires); the curve comes from its OID.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            return Ok(Self::P256(k));
        }
        p384::PublicKey::from_public_key_der(der)
            .map(Self::P384)
            .map_err(|_| Error::InvalidKey("not a P-256 or P-384 SubjectPublicKeyInfo"))
    }

    /// Parses a SEC1 point (compressed or not) on `curve`; refuses points off the curve
    /// and the identity.
    pub fn from_sec1(curve: Curve, bytes: &[u8]) -> Result<Self> {
        let bad = |_| Error::InvalidKey("not a point on the curve");
        Ok(match curve {
            Curve::P256 => Self::P256(p256::PublicKey::from_sec1_bytes(bytes).map_err(bad)?),
            Curve::P384 => Self::P384(p384::PublicKey::from_sec1_bytes(bytes).map_err(bad)?),
        })
    }

    /// The DER-encoded SubjectPublicKeyInfo.
    pub fn to_spki_der(&self) -> Result<Vec<u8>> {
        let doc = match self {
            Self::P256(k) => k.to_public_key_der(),
            Self::P384(k) => k.to_public_key_der(),
        }
        .map_err(|_| Error::InvalidKey("cannot encode the public key"))?;
        Ok(doc.as_bytes().to_vec())
    }

    /// The compressed SEC1 point (as the provider info carries it).
    pub fn compressed(&self) -> Vec<u8> {
        match self {
            Self::P256(k) => k.to_encoded_point(true).as_bytes().to_vec(),
            Self::P384(k) => k.to_encoded_point(true).as_bytes().to_vec(),
        }
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        match self {
            Self::P256(_) => Curve::P256,
            Self::P384(_) => Curve::P384,
        }
    }

    /// A short fingerprint people can compare out of band (read aloud, or side by side
    /// on two screens) to know they hold the same public key: the first 160 bits of the
    /// SHA-256 of the SubjectPublicKeyInfo, as ten groups of four hex digits.
    pub fn fingerprint(&self) -> Result<String> {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(self.to_spki_der()?);
        let hexed = hex(digest.get(..20).unwrap_or_default());
        Ok(hexed
            .as_bytes()
            .chunks(4)
            .map(|c| core::str::from_utf8(c).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" "))
    }
}

/// An elliptic-curve private key (the scalar). Zeroized on drop; `Debug` shows only its curve.
#[derive(Clone)]
pub enum EcPrivateKey {
    /// A P-256 scalar.
    P256(p256::SecretKey),
    /// A P-384 scalar.
    P384(p384::SecretKey),
}

impl core::fmt::Debug for EcPrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "EcPrivateKey({:?}, ***)", self.curve())
    }
}

impl EcPrivateKey {
    /// A fresh random key on `curve`.
    pub fn generate(curve: Curve, rng: &mut dyn rand_core::CryptoRngCore) -> Self {
        let mut rng = rng;
        match curve {
            Curve::P256 => Self::P256(p256::SecretKey::random(&mut rng)),
            Curve::P384 => Self::P384(p384::SecretKey::random(&mut rng)),
        }
    }

    /// Parses a DER-encoded PKCS #8 PrivateKeyInfo (what WebCrypto exports as `pkcs8`;
    /// the specification's PEM is this DER in base64 armour).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        if let Ok(k) = p256::SecretKey::from_pkcs8_der(der) {
            return Ok(Self::P256(k));
        }
        p384::SecretKey::from_pkcs8_der(der)
            .map(Self::P384)
            .map_err(|_| Error::InvalidKey("not a P-256 or P-384 PKCS #8 private key"))
    }

    /// The DER-encoded PKCS #8 PrivateKeyInfo (zeroized on drop).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let doc = match self {
            Self::P256(k) => k.to_pkcs8_der(),
            Self::P384(k) => k.to_pkcs8_der(),
        }
        .map_err(|_| Error::InvalidKey("cannot encode the private key"))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// This key wrapped under `passphrase` for `account` (Argon2id and AES-256-GCM,
    /// [`crate::passphrase`]): the backup a second device restores from. It opens only
    /// with the passphrase, and only as this account's end-to-end key.
    pub fn wrap_with_passphrase(
        &self,
        account: &str,
        passphrase: &str,
        cost: crate::passphrase::KdfParams,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<Vec<u8>> {
        let der = self.to_pkcs8_der()?;
        crate::passphrase::wrap(&der, &backup_aad(account), passphrase, cost, rng)
    }

    /// Restores a key from [`EcPrivateKey::wrap_with_passphrase`] output; a wrong
    /// passphrase, another account's backup or any change gives
    /// [`Error::DecryptFailed`].
    pub fn unwrap_with_passphrase(wrapped: &[u8], account: &str, passphrase: &str) -> Result<Self> {
        let der = crate::passphrase::unwrap(wrapped, &backup_aad(account), passphrase)?;
        Self::from_pkcs8_der(&der)
    }

    /// The matching public key.
    pub fn public_key(&self) -> EcPublicKey {
        match self {
            Self::P256(k) => EcPublicKey::P256(k.public_key()),
            Self::P384(k) => EcPublicKey::P384(k.public_key()),
        }
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        match self {
            Self::P256(_) => Curve::P256,
            Self::P384(_) => Curve::P384,
        }
    }

    /// The ECDH shared secret with `public` (its x-coordinate), zeroized on drop.
    fn agree(&self, public: &EcPublicKey) -> Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(match (self, public) {
            (Self::P256(s), EcPublicKey::P256(p)) => {
                p256::ecdh::diffie_hellman(s.to_nonzero_scalar(), p.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            }
            (Self::P384(s), EcPublicKey::P384(p)) => {
                p384::ecdh::diffie_hellman(s.to_nonzero_scalar(), p.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            }
            _ => return Err(Error::InvalidKey("the keys are on different curves")),
        }))
    }
}

/// Where a decrypting keyring's shared secrets come from.
enum Agreement<'a> {
    /// ECDH with this private key.
    Key(&'a EcPrivateKey),
    /// Computed elsewhere, one per sender key.
    Secrets(&'a [AgreedSecret]),
}

/// Associated data of an account's wrapped end-to-end private key.
fn backup_aad(account: &str) -> Vec<u8> {
    format!("phiveil-e2e-private-key-v1\0{account}").into_bytes()
}

/// How the keyring agrees on a shared secret (the specification's key agreement
/// schemas for raw ECDH).
#[derive(Debug, Clone)]
pub enum KeyAgreement {
    /// `EphemeralPrivateKeyToStaticPublicKey`: a fresh key pair per message wraps for
    /// `recipient`. Encrypt only: the sender keeps nothing that could unwrap it.
    EphemeralToStatic {
        /// The recipient's public key.
        recipient: EcPublicKey,
    },
    /// `RawPrivateKeyToStaticPublicKey`: `sender`'s static key and `recipient`'s public
    /// key. Encrypts, and decrypts what either party wrapped for the other.
    StaticToStatic {
        /// This party's private key.
        sender: EcPrivateKey,
        /// The other party's public key.
        recipient: EcPublicKey,
    },
    /// `PublicKeyDiscovery`: the recipient's private key unwraps whatever was wrapped
    /// for its public key, from any sender. Decrypt only.
    Discovery {
        /// The recipient's private key.
        recipient: EcPrivateKey,
    },
    /// `PublicKeyDiscovery` without the private key: the shared secrets were computed
    /// elsewhere, by a key that never leaves its store (a non-extractable WebCrypto key's
    /// `deriveBits` with each sender key [`ecdh_senders`] lists). Decrypt only.
    Agreed {
        /// The recipient's public key.
        recipient: EcPublicKey,
        /// The shared secret with each sender.
        secrets: Vec<AgreedSecret>,
    },
}

/// An ECDH shared secret computed outside this library (the x-coordinate, as WebCrypto's
/// `deriveBits` returns it), and the sender key it was computed with. Zeroized on drop.
#[derive(Clone)]
pub struct AgreedSecret {
    /// The sender's public key (an entry's ephemeral or static key).
    pub sender: EcPublicKey,
    /// The shared secret.
    pub shared_secret: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for AgreedSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AgreedSecret({:?}, ***)", self.sender)
    }
}

/// The sender keys of `message`'s entries (and `shares`) wrapped for `recipient`: what
/// a key held elsewhere must agree with before an [`KeyAgreement::Agreed`] keyring can
/// open the message. Only the header is read; nothing is authenticated yet.
pub fn ecdh_senders(
    message: &[u8],
    shares: &[EncryptedDataKey],
    recipient: &EcPublicKey,
) -> Result<Vec<EcPublicKey>> {
    let (header, _) = Header::parse(message, &Limits::default())?;
    let (curve, me) = (recipient.curve(), recipient.compressed());
    let mut out: Vec<EcPublicKey> = Vec::new();
    for edk in shares.iter().chain(&header.encrypted_data_keys) {
        let Some((sender, to)) = entry_keys(curve, edk) else {
            continue;
        };
        if to != me {
            continue;
        }
        if let Ok(k) = EcPublicKey::from_sec1(curve, &sender) {
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    Ok(out)
}

/// The ESDK raw ECDH keyring (see the module documentation).
#[derive(Debug, Clone)]
pub struct RawEcdhKeyring {
    scheme: KeyAgreement,
    curve: Curve,
    /// Compressed public keys of the configured parties: (this party or the sender,
    /// the recipient). Discovery has only the recipient's.
    sender: Option<Vec<u8>>,
    recipient: Vec<u8>,
    /// Key shares: encrypted data keys kept beside a message rather than in its header
    /// (written for a reader granted after the message was made), tried first.
    shares: Vec<EncryptedDataKey>,
}

impl RawEcdhKeyring {
    /// A keyring for `scheme`. Refuses keys on different curves.
    pub fn new(scheme: KeyAgreement) -> Result<Self> {
        let (curve, sender, recipient) = match &scheme {
            KeyAgreement::EphemeralToStatic { recipient } => {
                (recipient.curve(), None, recipient.compressed())
            }
            KeyAgreement::StaticToStatic { sender, recipient } => {
                if sender.curve() != recipient.curve() {
                    return Err(Error::InvalidConfig(
                        "the sender's and recipient's keys are on different curves",
                    ));
                }
                (
                    recipient.curve(),
                    Some(sender.public_key().compressed()),
                    recipient.compressed(),
                )
            }
            KeyAgreement::Discovery { recipient } => {
                (recipient.curve(), None, recipient.public_key().compressed())
            }
            KeyAgreement::Agreed { recipient, secrets } => {
                let len = match recipient.curve() {
                    Curve::P256 => 32,
                    Curve::P384 => 48,
                };
                if secrets
                    .iter()
                    .any(|s| s.sender.curve() != recipient.curve() || s.shared_secret.len() != len)
                {
                    return Err(Error::InvalidConfig(
                        "each shared secret must be an x-coordinate on the recipient's curve",
                    ));
                }
                (recipient.curve(), None, recipient.compressed())
            }
        };
        Ok(Self {
            scheme,
            curve,
            sender,
            recipient,
            shares: Vec::new(),
        })
    }

    /// The same keyring, also trying `shares` on decrypt: encrypted data keys written
    /// for this reader beside a message ([`share_data_key`]). A share is bound to the
    /// message's encryption context like any header entry, and the message header
    /// still has to authenticate under the key it yields.
    #[must_use]
    pub fn with_shares(mut self, shares: Vec<EncryptedDataKey>) -> Self {
        self.shares = shares;
        self
    }

    /// The keyring's curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The provider info for a data key wrapped from `sender` to `recipient`.
    fn provider_info(sender: &[u8], recipient: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            9usize
                .saturating_add(sender.len())
                .saturating_add(recipient.len()),
        );
        out.push(VERSION);
        for k in [recipient, sender] {
            out.extend_from_slice(&u32::try_from(k.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(k);
        }
        out
    }
}

/// (sender, recipient) compressed keys from a provider info on `curve`; `None` when it
/// is not one (another version, curve or length).
fn provider_info_keys(curve: Curve, info: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (&version, mut rest) = info.split_first()?;
    if version != VERSION {
        return None;
    }
    let mut take = || -> Option<Vec<u8>> {
        let (len, tail) = rest.split_at_checked(4)?;
        let len = usize::try_from(u32::from_be_bytes(len.try_into().ok()?)).ok()?;
        if len != curve.compressed_len() {
            return None;
        }
        let (key, tail) = tail.split_at_checked(len)?;
        rest = tail;
        Some(key.to_vec())
    };
    let recipient = take()?;
    let sender = take()?;
    rest.is_empty().then_some((sender, recipient))
}

/// An ECDH entry's keys, when `edk` is a `raw-ecdh` or `aws-kms-ecdh` entry whose
/// provider info parses on `curve`: (sender, recipient), compressed.
fn entry_keys(curve: Curve, edk: &EncryptedDataKey) -> Option<(Vec<u8>, Vec<u8>)> {
    if edk.provider_id != RAW_ECDH_PROVIDER_ID && edk.provider_id != KMS_ECDH_PROVIDER_ID {
        return None;
    }
    provider_info_keys(curve, &edk.provider_info)
}

/// Whether `edk` is an ECDH entry wrapped for `recipient` (what a relay can check of a
/// key share without any key).
pub fn addressed_to(edk: &EncryptedDataKey, recipient: &EcPublicKey) -> bool {
    entry_keys(recipient.curve(), edk).is_some_and(|(_, to)| to == recipient.compressed())
}

/// `FixedInfo` of the key derivation (module documentation).
fn fixed_info(curve: Curve, sender: &[u8], recipient: &[u8], ctx: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        64usize
            .saturating_add(sender.len())
            .saturating_add(recipient.len())
            .saturating_add(ctx.len()),
    );
    for part in [KDF_LABEL, curve.kdf_name(), KDF_PRF] {
        out.extend_from_slice(part);
        out.push(0);
    }
    out.extend_from_slice(sender);
    out.extend_from_slice(recipient);
    out.push(0);
    out.push(VERSION);
    out.push(0);
    out.extend_from_slice(ctx);
    out
}

/// A derived 256-bit key, zeroized on drop.
type Key32 = Zeroizing<[u8; 32]>;

/// SP 800-108 counter-mode KDF, HMAC-SHA384, 64 bytes: (commitment key, wrapping key).
fn derive(z: &[u8], fixed: &[u8], salt: &[u8]) -> Result<(Key32, Key32)> {
    let mut okm = Zeroizing::new([0u8; 96]);
    for (i, block) in okm.chunks_mut(48).enumerate() {
        let counter = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1);
        let mut mac = <Hmac<Sha384> as Mac>::new_from_slice(z)
            .map_err(|_| Error::InvalidKey("shared secret"))?;
        mac.update(&counter.to_be_bytes());
        mac.update(fixed);
        mac.update(&[0]);
        mac.update(salt);
        mac.update(&512u32.to_be_bytes());
        block.copy_from_slice(&mac.finalize().into_bytes());
    }
    let mut commit = Zeroizing::new([0u8; 32]);
    let mut wrap = Zeroizing::new([0u8; 32]);
    commit.copy_from_slice(okm.get(..32).unwrap_or_default());
    wrap.copy_from_slice(okm.get(32..64).unwrap_or_default());
    Ok((commit, wrap))
}

fn cipher(key: &[u8; 32]) -> Result<Aes256Gcm> {
    Aes256Gcm::new_from_slice(key).map_err(|_| Error::InvalidKey("wrapping key"))
}

impl Keyring for RawEcdhKeyring {
    fn on_encrypt(
        &self,
        materials: &mut EncryptionMaterials,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<()> {
        let (private, recipient) = match &self.scheme {
            KeyAgreement::EphemeralToStatic { recipient } => {
                (EcPrivateKey::generate(self.curve, rng), recipient)
            }
            KeyAgreement::StaticToStatic { sender, recipient } => (sender.clone(), recipient),
            KeyAgreement::Discovery { .. } | KeyAgreement::Agreed { .. } => {
                return Err(Error::InvalidConfig(
                    "a public-key-discovery ECDH keyring cannot encrypt",
                ))
            }
        };
        let ctx = context::serialize(&materials.context)?;
        if materials.data_key.is_none() {
            materials.data_key = Some(DataKey::generate(rng)?);
        }
        let data_key = materials
            .data_key
            .as_ref()
            .ok_or(Error::InvalidState("no data key"))?;
        let z = private.agree(recipient)?;
        let sender = private.public_key().compressed();
        let fixed = fixed_info(self.curve, &sender, &self.recipient, &ctx);
        let mut salt = [0u8; SALT_LEN];
        rng.try_fill_bytes(&mut salt).map_err(|_| Error::Rng)?;
        let (commit, wrap) = derive(&z, &fixed, &salt)?;
        let mut buf = Zeroizing::new(data_key.expose_secret().to_vec());
        let tag = cipher(&wrap)?
            .encrypt_in_place_detached(&Nonce::default(), &fixed, &mut buf)
            .map_err(|_| Error::InvalidKey("wrapping failed"))?;
        let mut ciphertext = Vec::with_capacity(SALT_LEN + COMMITMENT_LEN + DataKey::LEN + TAG_LEN);
        ciphertext.extend_from_slice(&salt);
        ciphertext.extend_from_slice(commit.as_slice());
        ciphertext.extend_from_slice(&buf);
        ciphertext.extend_from_slice(&tag);
        materials.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: RAW_ECDH_PROVIDER_ID.into(),
            provider_info: Self::provider_info(&sender, &self.recipient),
            ciphertext,
        });
        Ok(())
    }

    fn on_decrypt(
        &self,
        materials: &mut DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<()> {
        if materials.data_key.is_some() {
            return Ok(());
        }
        let private = match &self.scheme {
            KeyAgreement::EphemeralToStatic { .. } => {
                return Err(Error::InvalidConfig(
                    "an ephemeral-key ECDH keyring cannot decrypt",
                ))
            }
            KeyAgreement::StaticToStatic { sender, .. } => Agreement::Key(sender),
            KeyAgreement::Discovery { recipient } => Agreement::Key(recipient),
            KeyAgreement::Agreed { secrets, .. } => Agreement::Secrets(secrets),
        };
        let ctx = context::serialize(&materials.context)?;
        for edk in self.shares.iter().chain(edks) {
            let Some((sender, recipient)) = entry_keys(self.curve, edk) else {
                continue;
            };
            // The other party's key is whichever of the two is not this keyring's.
            let other_is_recipient = match &self.sender {
                None if recipient == self.recipient => false,
                Some(me) if *me == sender && recipient == self.recipient => true,
                Some(me) if *me == recipient && sender == self.recipient => false,
                _ => continue,
            };
            // Both points must be valid (on the curve, not the identity).
            let (Ok(sender_key), Ok(recipient_key)) = (
                EcPublicKey::from_sec1(self.curve, &sender),
                EcPublicKey::from_sec1(self.curve, &recipient),
            ) else {
                continue;
            };
            let other = if other_is_recipient {
                recipient_key
            } else {
                sender_key
            };
            if edk.ciphertext.len() != SALT_LEN + COMMITMENT_LEN + DataKey::LEN + TAG_LEN {
                continue;
            }
            let (salt, rest) = edk.ciphertext.split_at(SALT_LEN);
            let (stored_commit, rest) = rest.split_at(COMMITMENT_LEN);
            let (wrapped, tag) = rest.split_at(DataKey::LEN);
            let z = match private {
                Agreement::Key(k) => k.agree(&other)?,
                Agreement::Secrets(list) => match list.iter().find(|s| s.sender == other) {
                    Some(s) => s.shared_secret.clone(),
                    None => continue,
                },
            };
            let fixed = fixed_info(self.curve, &sender, &recipient, &ctx);
            let (commit, wrap) = derive(&z, &fixed, salt)?;
            if !bool::from(commit.as_slice().ct_eq(stored_commit)) {
                continue;
            }
            let mut buf = Zeroizing::new(wrapped.to_vec());
            if cipher(&wrap)?
                .decrypt_in_place_detached(
                    &Nonce::default(),
                    &fixed,
                    &mut buf,
                    Tag::from_slice(tag),
                )
                .is_ok()
            {
                materials.data_key = Some(DataKey::from_slice(&buf)?);
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The data key of `message` (or at least its whole header) as `reader` unwraps it,
/// with the parsed header. The header must authenticate under the key, so the key is
/// bound to the encryption context the header really carries: what an escrow recovery
/// or a grant may rely on.
pub fn open_data_key(reader: &RawEcdhKeyring, message: &[u8]) -> Result<(DataKey, Header)> {
    let (header, len) = Header::parse(message, &Limits::default())?;
    let head = message.get(..len).ok_or(Error::Truncated)?;
    let mut materials = DecryptionMaterials {
        suite: header.suite,
        context: header.context.clone(),
        data_key: None,
    };
    reader.on_decrypt(&mut materials, &header.encrypted_data_keys)?;
    let key = materials.data_key.ok_or(Error::NoMatchingKey)?;
    let mut dec = StreamDecryptor::new(reader, EncryptionContext::new(), Limits::default());
    let mut sink = Vec::new();
    dec.update(head, &mut sink)?;
    if dec.info().is_none() {
        return Err(Error::Truncated);
    }
    Ok((key, header))
}

/// Wraps the data key of a message that `reader` can open for one more reader,
/// `recipient`, as an encrypted data key to keep beside the message (a key share): the
/// grant of a record in end-to-end mode, made in the granting patient's browser so that
/// no data key ever passes through the relay in the clear.
///
/// `message` is the message, or at least its whole header. The data key is unwrapped
/// with `reader` and the header must authenticate under it ([`open_data_key`]), so the
/// share is bound to the encryption context the header really carries; the share is
/// wrapped for `recipient` with a fresh ephemeral key pair, bound to that context.
pub fn share_data_key(
    reader: &RawEcdhKeyring,
    message: &[u8],
    recipient: &EcPublicKey,
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<EncryptedDataKey> {
    let (key, header) = open_data_key(reader, message)?;
    let mut out = EncryptionMaterials {
        suite: header.suite,
        context: header.context,
        data_key: Some(key),
        encrypted_data_keys: Vec::new(),
    };
    RawEcdhKeyring::new(KeyAgreement::EphemeralToStatic {
        recipient: recipient.clone(),
    })?
    .on_encrypt(&mut out, rng)?;
    out.encrypted_data_keys
        .pop()
        .ok_or(Error::InvalidState("no share was written"))
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::esdk::suite::AlgorithmSuite;
    use crate::esdk::{self, DecryptOptions, EncryptOptions, MultiKeyring};
    use rand_core::OsRng;

    fn materials(ctx: &EncryptionContext) -> EncryptionMaterials {
        EncryptionMaterials {
            suite: AlgorithmSuite::default(),
            context: ctx.clone(),
            data_key: None,
            encrypted_data_keys: Vec::new(),
        }
    }

    fn unwrap_with(
        k: &RawEcdhKeyring,
        ctx: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Option<DataKey> {
        let mut m = DecryptionMaterials {
            suite: AlgorithmSuite::default(),
            context: ctx.clone(),
            data_key: None,
        };
        k.on_decrypt(&mut m, edks).unwrap();
        m.data_key
    }

    #[test]
    fn each_scheme_round_trips_on_both_curves_and_binds_the_context() {
        for curve in [Curve::P256, Curve::P384] {
            let alice = EcPrivateKey::generate(curve, &mut OsRng);
            let bob = EcPrivateKey::generate(curve, &mut OsRng);
            let mut ctx = EncryptionContext::new();
            ctx.insert("patient".into(), "p-1".into());
            let to_bob = RawEcdhKeyring::new(KeyAgreement::EphemeralToStatic {
                recipient: bob.public_key(),
            })
            .unwrap();
            let static_ab = RawEcdhKeyring::new(KeyAgreement::StaticToStatic {
                sender: alice.clone(),
                recipient: bob.public_key(),
            })
            .unwrap();
            let static_ba = RawEcdhKeyring::new(KeyAgreement::StaticToStatic {
                sender: bob.clone(),
                recipient: alice.public_key(),
            })
            .unwrap();
            let bob_discovery = RawEcdhKeyring::new(KeyAgreement::Discovery {
                recipient: bob.clone(),
            })
            .unwrap();
            let alice_discovery = RawEcdhKeyring::new(KeyAgreement::Discovery {
                recipient: alice.clone(),
            })
            .unwrap();

            let mut m = materials(&ctx);
            to_bob.on_encrypt(&mut m, &mut OsRng).unwrap();
            let key = m.data_key.clone().unwrap();
            let edk = &m.encrypted_data_keys[0];
            assert_eq!(edk.provider_id, "raw-ecdh");
            assert_eq!(
                edk.provider_info.len(),
                1 + 2 * (4 + curve.compressed_len())
            );
            assert_eq!(edk.ciphertext.len(), 32 + 32 + 32 + 16);
            assert_eq!(
                unwrap_with(&bob_discovery, &ctx, &m.encrypted_data_keys),
                Some(key.clone())
            );
            assert_eq!(
                unwrap_with(&alice_discovery, &ctx, &m.encrypted_data_keys),
                None
            );
            // Another context: the commitment and the tag both fail.
            let mut other = ctx.clone();
            other.insert("patient".into(), "p-2".into());
            assert_eq!(
                unwrap_with(&bob_discovery, &other, &m.encrypted_data_keys),
                None
            );
            // The ephemeral scheme cannot decrypt, discovery cannot encrypt.
            let mut d = DecryptionMaterials {
                suite: AlgorithmSuite::default(),
                context: ctx.clone(),
                data_key: None,
            };
            assert!(to_bob.on_decrypt(&mut d, &m.encrypted_data_keys).is_err());
            assert!(bob_discovery
                .on_encrypt(&mut materials(&ctx), &mut OsRng)
                .is_err());

            // Static-static: both parties, and the recipient's discovery keyring.
            let mut m = materials(&ctx);
            static_ab.on_encrypt(&mut m, &mut OsRng).unwrap();
            let key = m.data_key.clone().unwrap();
            for k in [&static_ab, &static_ba, &bob_discovery] {
                assert_eq!(
                    unwrap_with(k, &ctx, &m.encrypted_data_keys),
                    Some(key.clone())
                );
            }
            assert_eq!(
                unwrap_with(&alice_discovery, &ctx, &m.encrypted_data_keys),
                None
            );

            // Any flipped byte of the entry: nothing unwraps, nothing panics.
            let edk = m.encrypted_data_keys[0].clone();
            for i in 0..edk.ciphertext.len() {
                let mut e = edk.clone();
                e.ciphertext[i] ^= 1;
                assert_eq!(
                    unwrap_with(&bob_discovery, &ctx, &[e]),
                    None,
                    "ciphertext byte {i}"
                );
            }
            for i in 0..edk.provider_info.len() {
                let mut e = edk.clone();
                e.provider_info[i] ^= 0x80;
                assert_eq!(
                    unwrap_with(&bob_discovery, &ctx, &[e]),
                    None,
                    "info byte {i}"
                );
            }
            for cut in 0..edk.provider_info.len() {
                let mut e = edk.clone();
                e.provider_info.truncate(cut);
                assert_eq!(unwrap_with(&bob_discovery, &ctx, &[e]), None);
            }
        }
    }

    #[test]
    fn a_reader_granted_later_opens_the_record_through_a_share_bound_to_its_context() {
        let patient = EcPrivateKey::generate(Curve::P256, &mut OsRng);
        let early = EcPrivateKey::generate(Curve::P256, &mut OsRng);
        let late = EcPrivateKey::generate(Curve::P256, &mut OsRng);
        let to = |k: &EcPrivateKey| -> Box<dyn Keyring> {
            Box::new(
                RawEcdhKeyring::new(KeyAgreement::EphemeralToStatic {
                    recipient: k.public_key(),
                })
                .unwrap(),
            )
        };
        let reads = |k: &EcPrivateKey| {
            RawEcdhKeyring::new(KeyAgreement::Discovery {
                recipient: k.clone(),
            })
            .unwrap()
        };
        let mut ctx = EncryptionContext::new();
        ctx.insert("patient".into(), "p-1".into());
        ctx.insert("record_type".into(), "notes".into());
        // Written for the patient and the clinician granted at the time.
        let writer = MultiKeyring::new(Some(to(&patient)), vec![to(&early)]).unwrap();
        let msg = esdk::encrypt(
            &writer,
            b"BP 132/84",
            &ctx,
            &EncryptOptions::default(),
            &mut OsRng,
        )
        .unwrap();
        let opts = DecryptOptions::expecting(ctx.clone());
        assert!(esdk::decrypt(&reads(&early), &msg, &opts).is_ok());
        assert!(esdk::decrypt(&reads(&late), &msg, &opts).is_err());
        // The patient shares it with the clinician granted later.
        let share = share_data_key(&reads(&patient), &msg, &late.public_key(), &mut OsRng).unwrap();
        let late_reader = reads(&late).with_shares(vec![share.clone()]);
        assert_eq!(
            esdk::decrypt(&late_reader, &msg, &opts).unwrap().plaintext,
            b"BP 132/84"
        );
        // A share in another reader's hands changes nothing for them, and it opens only
        // its own record: another record stays closed to the late reader.
        assert!(
            esdk::decrypt(&reads(&early).with_shares(vec![share.clone()]), &msg, &opts).is_ok()
        );
        let mut other = ctx.clone();
        other.insert("patient".into(), "p-2".into());
        let msg2 = esdk::encrypt(
            &writer,
            b"x",
            &other,
            &EncryptOptions::default(),
            &mut OsRng,
        )
        .unwrap();
        assert!(esdk::decrypt(&late_reader, &msg2, &DecryptOptions::default()).is_err());
        // Only a reader of the message can share it; a tampered header shares nothing.
        assert!(share_data_key(&reads(&late), &msg, &early.public_key(), &mut OsRng).is_err());
        let mut bad = msg.clone();
        let at = 40;
        bad[at] ^= 1;
        assert!(share_data_key(&reads(&patient), &bad, &late.public_key(), &mut OsRng).is_err());
    }

    /// End-to-end mode is a keyring like any other: field-level records, the data-key
    /// cache and telemetry sessions work with it as they do with brokered keys.
    #[test]
    fn field_records_the_data_key_cache_and_telemetry_work_end_to_end() {
        use crate::esdk::{CacheLimits, CachingCmm, Header, Limits};
        use crate::telemetry::{read_chunk, Reading, SessionConfig, TelemetrySession};
        use crate::{fhir::VitalKind, field, rules};
        let patient = EcPrivateKey::generate(Curve::P256, &mut OsRng);
        let clinician = EcPrivateKey::generate(Curve::P384, &mut OsRng);
        let writer = || {
            MultiKeyring::new(
                Some(Box::new(
                    RawEcdhKeyring::new(KeyAgreement::EphemeralToStatic {
                        recipient: patient.public_key(),
                    })
                    .unwrap(),
                )),
                vec![Box::new(
                    RawEcdhKeyring::new(KeyAgreement::EphemeralToStatic {
                        recipient: clinician.public_key(),
                    })
                    .unwrap(),
                )],
            )
            .unwrap()
        };
        let reads = |k: &EcPrivateKey| {
            RawEcdhKeyring::new(KeyAgreement::Discovery {
                recipient: k.clone(),
            })
            .unwrap()
        };
        let mut ctx = EncryptionContext::new();
        ctx.insert("patient".into(), "p-1".into());
        ctx.insert("record_type".into(), "intake".into());

        // Field-level: two fields sealed, the rest in clear; both readers restore them.
        let rec = serde_json::json!({"id": "r-1", "name": "Ana Okafor", "dx": {"code": "E11.9"}});
        let sealed =
            field::encrypt_record(&writer(), &rec, &["name", "dx.code"], &ctx, &mut OsRng).unwrap();
        assert!(!sealed.to_string().contains("Okafor"));
        for k in [&patient, &clinician] {
            let out = field::decrypt_record(&reads(k), &sealed, &ctx, &Limits::default()).unwrap();
            assert_eq!(out.record, rec);
        }

        // The data-key cache: two messages share one data key (one set of entries).
        let cache = CachingCmm::new(writer(), CacheLimits::with_max_age_ms(60_000), "e2e").unwrap();
        let opts = EncryptOptions::default();
        let m1 = esdk::encrypt(&cache, b"one", &ctx, &opts, &mut OsRng).unwrap();
        let m2 = esdk::encrypt(&cache, b"two", &ctx, &opts, &mut OsRng).unwrap();
        let edks = |m: &[u8]| {
            Header::parse(m, &Limits::default())
                .unwrap()
                .0
                .encrypted_data_keys
        };
        assert_eq!(edks(&m1), edks(&m2));
        for (m, want) in [(&m1, b"one"), (&m2, b"two")] {
            let out = esdk::decrypt(
                &reads(&clinician),
                m,
                &DecryptOptions::expecting(ctx.clone()),
            );
            assert_eq!(out.unwrap().plaintext, want);
        }

        // A telemetry session seals its chunks for the patient and the clinician.
        let mut s = TelemetrySession::new(
            writer(),
            SessionConfig {
                readings_per_chunk: 2,
                ..SessionConfig::new("p-1", "s-1")
            },
            rules::RuleEngine::new(rules::default_rules()).unwrap(),
        )
        .unwrap();
        let mut chunks = Vec::new();
        for (i, v) in [97.0, 96.0, 95.0].into_iter().enumerate() {
            let r = Reading {
                kind: VitalKind::SpO2,
                value: v,
                diastolic: None,
                t: 1_795_446_000 + i64::try_from(i).unwrap(),
            };
            chunks.extend(s.push(r, &mut OsRng).unwrap().chunk);
        }
        chunks.extend(s.flush(&mut OsRng).unwrap());
        assert_eq!(chunks.len(), 2);
        for c in &chunks {
            let d = esdk::decrypt(
                &reads(&clinician),
                &c.message,
                &DecryptOptions::expecting(s.context()),
            )
            .unwrap();
            assert!(read_chunk(&d.plaintext, "s-1").is_ok());
        }
    }

    /// A key that never leaves its store: the shared secrets come from outside (here
    /// computed with the key, as `deriveBits` would), one per sender key listed.
    #[test]
    fn secrets_agreed_elsewhere_open_what_the_key_would() {
        let recipient = EcPrivateKey::generate(Curve::P384, &mut OsRng);
        let to = RawEcdhKeyring::new(KeyAgreement::EphemeralToStatic {
            recipient: recipient.public_key(),
        })
        .unwrap();
        let mut ctx = EncryptionContext::new();
        ctx.insert("patient".into(), "p-1".into());
        let msg =
            esdk::encrypt(&to, b"note", &ctx, &EncryptOptions::default(), &mut OsRng).unwrap();
        let senders = ecdh_senders(&msg, &[], &recipient.public_key()).unwrap();
        assert_eq!(senders.len(), 1);
        let other = EcPrivateKey::generate(Curve::P384, &mut OsRng);
        assert!(ecdh_senders(&msg, &[], &other.public_key())
            .unwrap()
            .is_empty());
        let agreed = |z: Zeroizing<Vec<u8>>| {
            RawEcdhKeyring::new(KeyAgreement::Agreed {
                recipient: recipient.public_key(),
                secrets: vec![AgreedSecret {
                    sender: senders[0].clone(),
                    shared_secret: z,
                }],
            })
        };
        let k = agreed(recipient.agree(&senders[0]).unwrap()).unwrap();
        let opts = DecryptOptions::expecting(ctx.clone());
        assert_eq!(esdk::decrypt(&k, &msg, &opts).unwrap().plaintext, b"note");
        // A wrong secret opens nothing; a secret of the wrong length is refused.
        let wrong = agreed(other.agree(&senders[0]).unwrap()).unwrap();
        assert!(esdk::decrypt(&wrong, &msg, &opts).is_err());
        assert!(agreed(Zeroizing::new(vec![0; 32])).is_err());
        assert!(k.on_encrypt(&mut materials(&ctx), &mut OsRng).is_err());
    }

    #[test]
    fn keys_travel_as_spki_and_pkcs8_and_curves_do_not_mix() {
        let p256 = EcPrivateKey::generate(Curve::P256, &mut OsRng);
        let p384 = EcPrivateKey::generate(Curve::P384, &mut OsRng);
        for k in [&p256, &p384] {
            let der = k.to_pkcs8_der().unwrap();
            let back = EcPrivateKey::from_pkcs8_der(&der).unwrap();
            assert_eq!(back.public_key(), k.public_key());
            let spki = k.public_key().to_spki_der().unwrap();
            assert_eq!(EcPublicKey::from_spki_der(&spki).unwrap(), k.public_key());
        }
        let cheap = crate::passphrase::KdfParams {
            m_kib: 8 * 1024,
            t: 1,
            p: 1,
        };
        let backup = p384
            .wrap_with_passphrase("u-1", "correct horse battery", cheap, &mut OsRng)
            .unwrap();
        let restored =
            EcPrivateKey::unwrap_with_passphrase(&backup, "u-1", "correct horse battery").unwrap();
        assert_eq!(restored.public_key(), p384.public_key());
        assert!(
            EcPrivateKey::unwrap_with_passphrase(&backup, "u-2", "correct horse battery").is_err()
        );
        assert!(
            EcPrivateKey::unwrap_with_passphrase(&backup, "u-1", "wrong horse battery").is_err()
        );
        let fp = p256.public_key().fingerprint().unwrap();
        assert_eq!(fp.len(), 10 * 4 + 9);
        assert_ne!(fp, p384.public_key().fingerprint().unwrap());
        assert!(EcPublicKey::from_spki_der(b"not a key").is_err());
        assert!(EcPrivateKey::from_pkcs8_der(b"not a key").is_err());
        assert!(RawEcdhKeyring::new(KeyAgreement::StaticToStatic {
            sender: p256.clone(),
            recipient: p384.public_key(),
        })
        .is_err());
        assert!(!format!("{p256:?}").contains(&hex(p256.to_pkcs8_der().unwrap().as_slice())));
    }
}
