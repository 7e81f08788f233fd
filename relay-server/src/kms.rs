//! Key management behind the key broker.
//!
//! [`Kms`] is what the broker needs: `GenerateDataKey` and `Decrypt`, both bound to
//! an encryption context. [`EmbeddedKms`] is the zero-config default: versioned
//! AES-256 master keys in one file (created 0600), rotation keeps old versions for
//! decryption. It wraps data keys exactly as the ESDK raw AES keyring does
//! (AES-256-GCM, the serialized encryption context as AAD; provider ID
//! `phiveil-kms`, key name `master-v<N>`), so its output is an encrypted data key the
//! core's brokered keyring writes into messages — and an operator holding the master
//! key file can recover a message with any ESDK raw AES keyring.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::RwLock;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use phiveil_core::esdk::keyring::{DecryptionMaterials, EncryptionMaterials};
use phiveil_core::esdk::{
    open_data_key, AlgorithmSuite, Curve, EcPrivateKey, EcPublicKey, EncryptedDataKey,
    EncryptionContext, Header, KeyAgreement, Keyring, RawAesKeyring, RawEcdhKeyring,
};
use phiveil_core::secret::{DataKey, WrappingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{ApiError, ApiResult};

/// Provider ID of the embedded KMS's encrypted data keys.
pub const EMBEDDED_PROVIDER_ID: &str = "phiveil-kms";

/// A data key from `GenerateDataKey`: plaintext (never stored or logged by the relay)
/// and the encrypted data key entry to put in the message header.
pub struct GeneratedKey {
    /// The plaintext data key, sent to the caller over the authenticated channel.
    pub plaintext: DataKey,
    /// The wrapped copy.
    pub edk: EncryptedDataKey,
    /// The key (and version) that wrapped it.
    pub key_id: String,
}

/// A boxed future (the trait is used as `dyn Kms`).
pub type KmsFuture<'a, T> = Pin<Box<dyn Future<Output = ApiResult<T>> + Send + 'a>>;

/// Key management: data keys bound to an encryption context.
pub trait Kms: Send + Sync {
    /// A fresh data key wrapped under the current master key, bound to `ctx`.
    fn generate_data_key<'a>(&'a self, ctx: &'a EncryptionContext) -> KmsFuture<'a, GeneratedKey>;
    /// Unwraps whichever of `edks` belongs to this KMS, with `ctx` as it was bound.
    /// `Ok(None)` when no entry belongs to this KMS or none unwraps under `ctx`.
    fn decrypt<'a>(
        &'a self,
        edks: &'a [EncryptedDataKey],
        ctx: &'a EncryptionContext,
    ) -> KmsFuture<'a, Option<DataKey>>;
    /// Human-readable description (no secrets).
    fn describe(&self) -> String;
    /// The public half of this KMS's institutional escrow key (P-256 ECDH), when it
    /// holds one: browsers in end-to-end mode with escrow wrap each record's data key
    /// for it (the ESDK raw ECDH keyring, ephemeral-static), so no data key passes
    /// through the relay even then.
    fn escrow_public_key(&self) -> Option<EcPublicKey> {
        None
    }
    /// Unwraps the escrow entry of `message` (at least its whole header) with the
    /// escrow private key; the header must authenticate under the key. `Ok(None)`
    /// when this KMS holds no escrow key or the message has no entry for it. Only the
    /// audited recovery calls this.
    fn escrow_open(&self, message: &[u8]) -> ApiResult<Option<(DataKey, Header)>> {
        let _ = message;
        Ok(None)
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    current: u32,
    keys: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
struct KeyEntry {
    version: u32,
    created: i64,
    key: String,
}

/// The embedded KMS: versioned master keys in `<data-dir>/kms-master-keys.json`.
pub struct EmbeddedKms {
    path: PathBuf,
    keys: RwLock<(u32, Vec<(u32, RawAesKeyring)>)>,
    /// The institutional escrow key (`kms-escrow-key.der` beside the master keys:
    /// PKCS #8, mode 0600).
    escrow: EcPrivateKey,
}

impl std::fmt::Debug for EmbeddedKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn keyring_for(version: u32, key: &[u8]) -> ApiResult<RawAesKeyring> {
    let wk =
        WrappingKey::from_slice(key).map_err(|e| ApiError::Internal(format!("master key: {e}")))?;
    RawAesKeyring::new(EMBEDDED_PROVIDER_ID, format!("master-v{version}"), wk)
        .map_err(|e| ApiError::Internal(format!("master keyring: {e}")))
}

fn random_key() -> ApiResult<Zeroizing<[u8; 32]>> {
    let mut k = Zeroizing::new([0u8; 32]);
    rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, k.as_mut())
        .map_err(|_| ApiError::Internal("no randomness".into()))?;
    Ok(k)
}

impl EmbeddedKms {
    /// Opens the key file, creating it (mode 0600, one fresh key) when absent.
    pub fn open(path: &Path) -> ApiResult<Self> {
        if !path.exists() {
            let k = random_key()?;
            let file = KeyFile {
                current: 1,
                keys: vec![KeyEntry {
                    version: 1,
                    created: crate::now(),
                    key: B64.encode(k.as_ref()),
                }],
            };
            let json = Zeroizing::new(
                serde_json::to_vec_pretty(&file).map_err(|e| ApiError::Internal(e.to_string()))?,
            );
            crate::write_private(path, &json)?;
            tracing::info!(path = %path.display(), "created embedded KMS master key file");
        }
        let escrow_path = path.with_file_name("kms-escrow-key.der");
        if !escrow_path.exists() {
            let key = EcPrivateKey::generate(Curve::P256, &mut rand_core::OsRng);
            crate::write_private(&escrow_path, &key.to_pkcs8_der()?)?;
            tracing::info!(path = %escrow_path.display(), "created embedded KMS escrow key");
        }
        let der = Zeroizing::new(
            std::fs::read(&escrow_path)
                .map_err(|e| ApiError::Internal(format!("read {}: {e}", escrow_path.display())))?,
        );
        let escrow = EcPrivateKey::from_pkcs8_der(&der)
            .map_err(|e| ApiError::Internal(format!("escrow key: {e}")))?;
        let kms = Self {
            path: path.to_owned(),
            keys: RwLock::new((0, Vec::new())),
            escrow,
        };
        kms.reload()?;
        Ok(kms)
    }

    fn reload(&self) -> ApiResult<()> {
        let raw = Zeroizing::new(
            std::fs::read(&self.path)
                .map_err(|e| ApiError::Internal(format!("read {}: {e}", self.path.display())))?,
        );
        let file: KeyFile = serde_json::from_slice(&raw)
            .map_err(|e| ApiError::Internal(format!("key file: {e}")))?;
        let mut keys = Vec::new();
        for e in &file.keys {
            let bytes = Zeroizing::new(
                B64.decode(&e.key)
                    .map_err(|_| ApiError::Internal("key file: bad base64".into()))?,
            );
            keys.push((e.version, keyring_for(e.version, &bytes)?));
        }
        if !keys.iter().any(|(v, _)| *v == file.current) {
            return Err(ApiError::Internal(
                "key file: current version missing".into(),
            ));
        }
        *self
            .keys
            .write()
            .map_err(|_| ApiError::Internal("kms lock poisoned".into()))? = (file.current, keys);
        Ok(())
    }

    /// Adds a new master key version and makes it current; old versions stay for
    /// decryption. Returns the new version.
    pub fn rotate(&self) -> ApiResult<u32> {
        let raw = Zeroizing::new(
            std::fs::read(&self.path).map_err(|e| ApiError::Internal(e.to_string()))?,
        );
        let mut file: KeyFile =
            serde_json::from_slice(&raw).map_err(|e| ApiError::Internal(e.to_string()))?;
        let next = file
            .keys
            .iter()
            .map(|k| k.version)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        let k = random_key()?;
        file.keys.push(KeyEntry {
            version: next,
            created: crate::now(),
            key: B64.encode(k.as_ref()),
        });
        file.current = next;
        let json = Zeroizing::new(
            serde_json::to_vec_pretty(&file).map_err(|e| ApiError::Internal(e.to_string()))?,
        );
        crate::write_private(&self.path, &json)?;
        self.reload()?;
        Ok(next)
    }

    /// The current master key version.
    pub fn current_version(&self) -> u32 {
        self.keys.read().map(|k| k.0).unwrap_or(0)
    }
}

impl Kms for EmbeddedKms {
    fn generate_data_key<'a>(&'a self, ctx: &'a EncryptionContext) -> KmsFuture<'a, GeneratedKey> {
        Box::pin(async move {
            let keys = self
                .keys
                .read()
                .map_err(|_| ApiError::Internal("kms lock poisoned".into()))?;
            let (current, list) = &*keys;
            let kr = list
                .iter()
                .find(|(v, _)| v == current)
                .map(|(_, k)| k)
                .ok_or_else(|| ApiError::Internal("no current master key".into()))?;
            let mut m = EncryptionMaterials {
                suite: AlgorithmSuite::default(),
                context: ctx.clone(),
                data_key: None,
                encrypted_data_keys: Vec::new(),
            };
            kr.on_encrypt(&mut m, &mut rand_core::OsRng)
                .map_err(|e| ApiError::Internal(format!("wrap: {e}")))?;
            let plaintext = m
                .data_key
                .take()
                .ok_or_else(|| ApiError::Internal("no data key".into()))?;
            let edk = m
                .encrypted_data_keys
                .pop()
                .ok_or_else(|| ApiError::Internal("no encrypted data key".into()))?;
            Ok(GeneratedKey {
                plaintext,
                edk,
                key_id: format!("{EMBEDDED_PROVIDER_ID}/master-v{current}"),
            })
        })
    }

    fn decrypt<'a>(
        &'a self,
        edks: &'a [EncryptedDataKey],
        ctx: &'a EncryptionContext,
    ) -> KmsFuture<'a, Option<DataKey>> {
        Box::pin(async move {
            let keys = self
                .keys
                .read()
                .map_err(|_| ApiError::Internal("kms lock poisoned".into()))?;
            for (_, kr) in &keys.1 {
                let mut m = DecryptionMaterials {
                    suite: AlgorithmSuite::default(),
                    context: ctx.clone(),
                    data_key: None,
                };
                if kr.on_decrypt(&mut m, edks).is_ok() {
                    if let Some(k) = m.data_key {
                        return Ok(Some(k));
                    }
                }
            }
            Ok(None)
        })
    }

    fn describe(&self) -> String {
        format!(
            "embedded KMS ({} , current master key v{})",
            self.path.display(),
            self.current_version()
        )
    }

    fn escrow_public_key(&self) -> Option<EcPublicKey> {
        Some(self.escrow.public_key())
    }

    fn escrow_open(&self, message: &[u8]) -> ApiResult<Option<(DataKey, Header)>> {
        let keyring = RawEcdhKeyring::new(KeyAgreement::Discovery {
            recipient: self.escrow.clone(),
        })?;
        match open_data_key(&keyring, message) {
            Ok(found) => Ok(Some(found)),
            Err(phiveil_core::Error::NoMatchingKey) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Settings for reaching an AWS API (or a local server that speaks it).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Endpoint override (for example a local test server on 127.0.0.1).
    pub endpoint_url: Option<String>,
    /// Region (default: from the environment, else `us-east-1`).
    pub region: Option<String>,
    /// Static credentials (default: the standard provider chain).
    pub credentials: Option<(String, String)>,
}

impl AwsSettings {
    /// Builds the SDK configuration.
    pub async fn load(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let region = self
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .unwrap_or_else(|| "us-east-1".to_owned());
        loader = loader.region(aws_config::Region::new(region));
        if let Some((id, secret)) = &self.credentials {
            loader = loader.credentials_provider(aws_sdk_kms::config::Credentials::new(
                id.clone(),
                secret.clone(),
                None,
                None,
                "phiveil-static",
            ));
        }
        loader.load().await
    }
}

/// AWS KMS (`aws-sdk-kms`): `GenerateDataKey` and `Decrypt` with the encryption
/// context, which KMS enforces. Encrypted data keys are `aws-kms` entries (key ARN,
/// ciphertext blob), exactly what the official ESDK KMS keyrings write and read.
pub struct AwsKms {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl std::fmt::Debug for AwsKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn kms_context(ctx: &EncryptionContext) -> std::collections::HashMap<String, String> {
    ctx.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

impl AwsKms {
    /// A client for `key_id` (key ARN, ID or alias).
    pub async fn new(settings: &AwsSettings, key_id: &str) -> Self {
        let cfg = settings.load().await;
        Self {
            client: aws_sdk_kms::Client::new(&cfg),
            key_id: key_id.to_owned(),
        }
    }
}

impl Kms for AwsKms {
    fn generate_data_key<'a>(&'a self, ctx: &'a EncryptionContext) -> KmsFuture<'a, GeneratedKey> {
        Box::pin(async move {
            let out = self
                .client
                .generate_data_key()
                .key_id(&self.key_id)
                .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
                .set_encryption_context(Some(kms_context(ctx)))
                .send()
                .await
                .map_err(|e| {
                    ApiError::Internal(format!(
                        "KMS GenerateDataKey: {}",
                        aws_sdk_kms::error::DisplayErrorContext(&e)
                    ))
                })?;
            let plaintext = out
                .plaintext()
                .ok_or_else(|| ApiError::Internal("KMS returned no plaintext".into()))?;
            let plaintext = DataKey::from_slice(plaintext.as_ref())
                .map_err(|e| ApiError::Internal(format!("KMS data key: {e}")))?;
            let blob = out
                .ciphertext_blob()
                .ok_or_else(|| ApiError::Internal("KMS returned no ciphertext".into()))?;
            let arn = out.key_id().unwrap_or(&self.key_id).to_owned();
            Ok(GeneratedKey {
                plaintext,
                edk: EncryptedDataKey {
                    provider_id: phiveil_core::esdk::keyring::AWS_KMS_PROVIDER_ID.to_owned(),
                    provider_info: arn.as_bytes().to_vec(),
                    ciphertext: blob.as_ref().to_vec(),
                },
                key_id: arn,
            })
        })
    }

    fn decrypt<'a>(
        &'a self,
        edks: &'a [EncryptedDataKey],
        ctx: &'a EncryptionContext,
    ) -> KmsFuture<'a, Option<DataKey>> {
        Box::pin(async move {
            for edk in edks
                .iter()
                .filter(|e| e.provider_id == phiveil_core::esdk::keyring::AWS_KMS_PROVIDER_ID)
            {
                let Ok(arn) = std::str::from_utf8(&edk.provider_info) else {
                    continue;
                };
                let res = self
                    .client
                    .decrypt()
                    .key_id(arn)
                    .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(edk.ciphertext.clone()))
                    .set_encryption_context(Some(kms_context(ctx)))
                    .send()
                    .await;
                match res {
                    Ok(out) => {
                        // KMS must have used the key the entry names (ESDK KMS keyring rule).
                        if out.key_id() != Some(arn) {
                            continue;
                        }
                        if let Some(p) = out.plaintext() {
                            return DataKey::from_slice(p.as_ref())
                                .map(Some)
                                .map_err(|e| ApiError::Internal(format!("KMS data key: {e}")));
                        }
                    }
                    Err(e) => {
                        tracing::info!(error = %aws_sdk_kms::error::DisplayErrorContext(&e), "KMS Decrypt refused an entry");
                    }
                }
            }
            Ok(None)
        })
    }

    fn describe(&self) -> String {
        format!("AWS KMS ({})", self.key_id)
    }
}
