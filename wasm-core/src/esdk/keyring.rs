//! Keyrings (ESDK `framework/keyring-interface.md`): they generate, wrap and unwrap
//! data keys.
//!
//! * [`RawAesKeyring`] — the ESDK raw AES keyring (`framework/raw-aes-keyring.md`):
//!   its encrypted data keys unwrap with the official SDKs' raw AES keyrings /
//!   raw master key providers and the other way round.
//! * [`BrokeredKmsKeyring`] — writes and recognises `aws-kms` encrypted data keys
//!   for a data key that a relay obtained from KMS `GenerateDataKey` (or unwrapped
//!   with KMS `Decrypt`). The core has no network: the relay does the KMS call, the
//!   keyring only carries its result.
//! * [`MultiKeyring`] — a generator plus children; every child wraps the same data key.

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{AesGcm, Nonce, Tag};
use zeroize::Zeroizing;

use super::context::{self, EncryptionContext};
use super::header::EncryptedDataKey;
use super::suite::{AlgorithmSuite, IV_LEN, TAG_LEN};
use crate::error::{Error, Result};
use crate::secret::{DataKey, WrappingKey};

/// Provider ID of AWS KMS encrypted data keys.
pub const AWS_KMS_PROVIDER_ID: &str = "aws-kms";

/// Materials gathered while encrypting: the data key and its wrapped copies.
#[derive(Debug)]
pub struct EncryptionMaterials {
    /// The algorithm suite.
    pub suite: AlgorithmSuite,
    /// The encryption context to bind.
    pub context: EncryptionContext,
    /// The plaintext data key, once a generator has produced it.
    pub data_key: Option<DataKey>,
    /// Wrapped copies of the data key, one per keyring.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
}

/// Materials gathered while decrypting: the data key once a keyring unwrapped it.
#[derive(Debug)]
pub struct DecryptionMaterials {
    /// The algorithm suite from the header.
    pub suite: AlgorithmSuite,
    /// The encryption context from the header.
    pub context: EncryptionContext,
    /// The plaintext data key, once unwrapped.
    pub data_key: Option<DataKey>,
}

/// A keyring: generates or wraps the data key on encrypt, unwraps it on decrypt.
pub trait Keyring: Send + Sync {
    /// Adds to the encryption materials: generates the data key when none is set
    /// (if this keyring can), then appends an encrypted data key.
    fn on_encrypt(
        &self,
        materials: &mut EncryptionMaterials,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<()>;

    /// Tries to unwrap one of `edks` into `materials.data_key`. Leaves the materials
    /// unchanged (and returns `Ok`) when no entry belongs to this keyring.
    fn on_decrypt(
        &self,
        materials: &mut DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<()>;
}

/// The ESDK raw AES keyring: AES-GCM key wrapping under a caller-held wrapping key,
/// with the serialized encryption context as AAD.
///
/// Encrypted data key layout (`framework/raw-aes-keyring.md`):
/// provider ID = key namespace; provider info = key name ‖ tag length in bits (u32,
/// 128) ‖ IV length (u32, 12) ‖ IV; ciphertext = wrapped key ‖ tag.
#[derive(Debug, Clone)]
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    cipher: WrapCipher,
}

/// The wrapping cipher, keyed once when the keyring is made (the key schedule is
/// zeroized on drop).
#[derive(Clone)]
enum WrapCipher {
    Aes128(AesGcm<Aes128, U12>),
    Aes192(AesGcm<Aes192, U12>),
    Aes256(AesGcm<Aes256, U12>),
}

impl core::fmt::Debug for WrapCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            WrapCipher::Aes128(_) => "AES-128-GCM(***)",
            WrapCipher::Aes192(_) => "AES-192-GCM(***)",
            WrapCipher::Aes256(_) => "AES-256-GCM(***)",
        })
    }
}

impl WrapCipher {
    fn new(key: &WrappingKey) -> Result<Self> {
        let k = key.expose_secret();
        let bad = |_| Error::InvalidKey("wrapping key");
        Ok(match k.len() {
            16 => WrapCipher::Aes128(AesGcm::new_from_slice(k).map_err(bad)?),
            24 => WrapCipher::Aes192(AesGcm::new_from_slice(k).map_err(bad)?),
            _ => WrapCipher::Aes256(AesGcm::new_from_slice(k).map_err(bad)?),
        })
    }

    fn seal(&self, iv: &[u8; IV_LEN], aad: &[u8], buf: &mut [u8]) -> Result<[u8; TAG_LEN]> {
        let nonce = Nonce::from_slice(iv);
        match self {
            WrapCipher::Aes128(c) => c.encrypt_in_place_detached(nonce, aad, buf),
            WrapCipher::Aes192(c) => c.encrypt_in_place_detached(nonce, aad, buf),
            WrapCipher::Aes256(c) => c.encrypt_in_place_detached(nonce, aad, buf),
        }
        .map(Into::into)
        .map_err(|_| Error::InvalidKey("wrapping failed"))
    }

    fn open(&self, iv: &[u8; IV_LEN], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> Result<()> {
        let (nonce, tag) = (Nonce::from_slice(iv), Tag::from_slice(tag));
        match self {
            WrapCipher::Aes128(c) => c.decrypt_in_place_detached(nonce, aad, buf, tag),
            WrapCipher::Aes192(c) => c.decrypt_in_place_detached(nonce, aad, buf, tag),
            WrapCipher::Aes256(c) => c.decrypt_in_place_detached(nonce, aad, buf, tag),
        }
        .map_err(|_| Error::DecryptFailed)
    }
}

impl RawAesKeyring {
    /// Creates a raw AES keyring. The namespace must not start with `aws-kms`
    /// (reserved by the specification).
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        key: WrappingKey,
    ) -> Result<Self> {
        let namespace = namespace.into();
        if namespace.starts_with(AWS_KMS_PROVIDER_ID) {
            return Err(Error::InvalidConfig(
                "raw AES keyring namespace must not start with aws-kms",
            ));
        }
        let name = name.into();
        if namespace.len() > usize::from(u16::MAX) || name.len() > usize::from(u16::MAX - 20) {
            return Err(Error::InvalidConfig(
                "raw AES keyring namespace or name too long",
            ));
        }
        Ok(Self {
            namespace,
            name,
            cipher: WrapCipher::new(&key)?,
        })
    }

    fn provider_info(&self, iv: &[u8; IV_LEN]) -> Vec<u8> {
        let mut info = Vec::with_capacity(self.name.len().saturating_add(20));
        info.extend_from_slice(self.name.as_bytes());
        info.extend_from_slice(&128u32.to_be_bytes());
        info.extend_from_slice(&(IV_LEN as u32).to_be_bytes());
        info.extend_from_slice(iv);
        info
    }

    /// Returns the IV when `info` is this keyring's provider info.
    fn parse_provider_info(&self, info: &[u8]) -> Option<[u8; IV_LEN]> {
        let name = self.name.as_bytes();
        let rest = info.strip_prefix(name)?;
        if rest.len() != 4 + 4 + IV_LEN {
            return None;
        }
        let (tag_bits, rest) = rest.split_at(4);
        let (iv_len, iv) = rest.split_at(4);
        if tag_bits != 128u32.to_be_bytes() || iv_len != (IV_LEN as u32).to_be_bytes() {
            return None;
        }
        iv.try_into().ok()
    }
}

impl Keyring for RawAesKeyring {
    fn on_encrypt(
        &self,
        materials: &mut EncryptionMaterials,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<()> {
        if materials.data_key.is_none() {
            materials.data_key = Some(DataKey::generate(rng)?);
        }
        let data_key = materials
            .data_key
            .as_ref()
            .ok_or(Error::InvalidState("no data key"))?;
        let mut iv = [0u8; IV_LEN];
        rng.try_fill_bytes(&mut iv).map_err(|_| Error::Rng)?;
        let aad = context::serialize(&materials.context)?;
        let mut buf = Zeroizing::new(data_key.expose_secret().to_vec());
        let tag = self.cipher.seal(&iv, &aad, &mut buf)?;
        let mut ciphertext = Vec::with_capacity(DataKey::LEN + TAG_LEN);
        ciphertext.extend_from_slice(&buf);
        ciphertext.extend_from_slice(&tag);
        materials.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info: self.provider_info(&iv),
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
        let aad = context::serialize(&materials.context)?;
        for edk in edks {
            if edk.provider_id != self.namespace {
                continue;
            }
            let Some(iv) = self.parse_provider_info(&edk.provider_info) else {
                continue;
            };
            if edk.ciphertext.len() != DataKey::LEN + TAG_LEN {
                continue;
            }
            let (wrapped, tag) = edk.ciphertext.split_at(DataKey::LEN);
            let mut buf = Zeroizing::new(wrapped.to_vec());
            if self.cipher.open(&iv, &aad, &mut buf, tag).is_ok() {
                materials.data_key = Some(DataKey::from_slice(&buf)?);
                return Ok(());
            }
        }
        Ok(())
    }
}

/// A data key obtained from KMS `GenerateDataKey` (through the relay): the plaintext
/// key, the KMS ciphertext blob and the ARN of the KMS key that wrapped it.
#[derive(Debug, Clone)]
pub struct KmsDataKey {
    /// The ARN (or ID) of the KMS key, written as the `aws-kms` provider info.
    pub key_id: String,
    /// The plaintext data key.
    pub plaintext: DataKey,
    /// KMS `CiphertextBlob`, written as the encrypted data key.
    pub ciphertext_blob: Vec<u8>,
}

/// Writes and recognises one encrypted data key whose plaintext the caller already
/// holds, brokered by the relay: an `aws-kms` entry (KMS `GenerateDataKey` output)
/// or the entry of the relay's embedded KMS (raw AES keyring format).
///
/// On encrypt it is a generator: it supplies the data key and its encrypted copy. As
/// a child of a [`MultiKeyring`] it only accepts the same data key (it cannot call
/// KMS to wrap another). On decrypt it recognises exactly its own entry.
#[derive(Debug, Clone)]
pub struct BrokeredKmsKeyring {
    edk: EncryptedDataKey,
    plaintext: DataKey,
}

impl BrokeredKmsKeyring {
    /// Creates the keyring from an AWS KMS data key (an `aws-kms` entry).
    pub fn new(key: KmsDataKey) -> Result<Self> {
        if key.key_id.is_empty() || key.ciphertext_blob.is_empty() {
            return Err(Error::InvalidConfig(
                "KMS data key needs a key id and a ciphertext blob",
            ));
        }
        Ok(Self {
            edk: EncryptedDataKey {
                provider_id: AWS_KMS_PROVIDER_ID.to_owned(),
                provider_info: key.key_id.as_bytes().to_vec(),
                ciphertext: key.ciphertext_blob.clone(),
            },
            plaintext: key.plaintext.clone(),
        })
    }

    /// Creates the keyring from any encrypted data key entry and its plaintext (for
    /// example the relay's embedded KMS output).
    pub fn from_encrypted_data_key(edk: EncryptedDataKey, plaintext: DataKey) -> Result<Self> {
        if edk.provider_id.is_empty() || edk.ciphertext.is_empty() {
            return Err(Error::InvalidConfig(
                "an encrypted data key needs a provider ID and a ciphertext",
            ));
        }
        Ok(Self { edk, plaintext })
    }
}

impl Keyring for BrokeredKmsKeyring {
    fn on_encrypt(
        &self,
        materials: &mut EncryptionMaterials,
        _rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<()> {
        match &materials.data_key {
            None => materials.data_key = Some(self.plaintext.clone()),
            Some(k) if *k == self.plaintext => {}
            Some(_) => {
                return Err(Error::InvalidConfig(
                    "a brokered KMS keyring cannot wrap a data key it did not generate",
                ))
            }
        }
        materials.encrypted_data_keys.push(self.edk.clone());
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
        if edks.contains(&self.edk) {
            materials.data_key = Some(self.plaintext.clone());
        }
        Ok(())
    }
}

/// A generator keyring plus child keyrings that wrap the same data key
/// (ESDK `framework/multi-keyring.md`). On decrypt, each is tried in order.
pub struct MultiKeyring {
    generator: Option<Box<dyn Keyring>>,
    children: Vec<Box<dyn Keyring>>,
}

impl MultiKeyring {
    /// Creates a multi-keyring. Without a generator the data key must come from
    /// elsewhere (for example the caching materials provider).
    pub fn new(
        generator: Option<Box<dyn Keyring>>,
        children: Vec<Box<dyn Keyring>>,
    ) -> Result<Self> {
        if generator.is_none() && children.is_empty() {
            return Err(Error::InvalidConfig(
                "a multi-keyring needs at least one keyring",
            ));
        }
        Ok(Self {
            generator,
            children,
        })
    }
}

impl core::fmt::Debug for MultiKeyring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MultiKeyring")
            .field("generator", &self.generator.is_some())
            .field("children", &self.children.len())
            .finish()
    }
}

impl Keyring for MultiKeyring {
    fn on_encrypt(
        &self,
        materials: &mut EncryptionMaterials,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<()> {
        match &self.generator {
            Some(g) => g.on_encrypt(materials, rng)?,
            None if materials.data_key.is_none() => {
                return Err(Error::InvalidConfig(
                    "multi-keyring without generator and no data key",
                ))
            }
            None => {}
        }
        for child in &self.children {
            child.on_encrypt(materials, rng)?;
        }
        Ok(())
    }

    fn on_decrypt(
        &self,
        materials: &mut DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<()> {
        for k in self.generator.iter().chain(self.children.iter()) {
            if materials.data_key.is_some() {
                break;
            }
            // A failing child must not stop the others (multi-keyring spec).
            let _ = k.on_decrypt(materials, edks);
        }
        Ok(())
    }
}

/// A shared keyring is a keyring (lets one keyring serve several multi-keyrings
/// or bindings).
impl<K: Keyring + ?Sized> Keyring for std::sync::Arc<K> {
    fn on_encrypt(
        &self,
        materials: &mut EncryptionMaterials,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<()> {
        (**self).on_encrypt(materials, rng)
    }

    fn on_decrypt(
        &self,
        materials: &mut DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<()> {
        (**self).on_decrypt(materials, edks)
    }
}
