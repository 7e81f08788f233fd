//! JavaScript bindings (wasm32 only): a thin layer over the Rust API. Errors become
//! JavaScript `Error`s with `name = "PhiveilError"` and a stable `code`
//! (see [`crate::Error::code`]); no error message carries key material or plaintext.

use std::sync::Arc;

use js_sys::{Array, Object, Reflect, Uint8Array, JSON};
use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::esdk::{
    self, BrokeredKmsKeyring, CacheLimits, CachingCmm, Curve, DecryptOptions, EcPrivateKey,
    EcPublicKey, EncryptOptions, EncryptionContext, Header, KeyAgreement, Keyring as KeyringTrait,
    KmsDataKey, Limits, MaterialsProvider, MultiKeyring, RawAesKeyring, RawEcdhKeyring,
    StreamDecryptor, StreamEncryptor,
};
use crate::secret::{DataKey, WrappingKey};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** An ESDK encryption context: non-secret, authenticated string pairs. */
export type EncryptionContext = Record<string, string>;
/** Options for encryption. */
export interface EncryptOptions {
  /** Plaintext bytes per frame (default 4096). */
  frameLength?: number;
  /** Upper bound on the plaintext length of a stream (lets a cache account bytes). */
  maxPlaintextLength?: number;
  /** Algorithm suite: 0x0478 (default) or 0x0578 (adds an ECDSA P-384 signature). */
  suiteId?: number;
}
/** Limits of a data-key cache (ESDK caching CMM semantics). */
export interface CacheOptions {
  /** Maximum age of a cached data key in milliseconds. */
  maxAgeMs: number;
  /** Maximum messages per data key (default 2^32). */
  maxMessages?: number;
  /** Maximum plaintext bytes per data key. */
  maxBytes?: number;
  /** Maximum entries (default 64). */
  capacity?: number;
  /** Cache partition name. */
  partition?: string;
}
/** A P-256 or P-384 key pair for the raw ECDH keyring (DER bytes). */
export interface EcdhKeyPair {
  /** PKCS #8 PrivateKeyInfo (WebCrypto `pkcs8`). Secret: never send it anywhere. */
  privateKeyPkcs8: Uint8Array;
  /** SubjectPublicKeyInfo (WebCrypto `spki`). */
  publicKeySpki: Uint8Array;
  /** Ten groups of four hex digits to compare out of band. */
  fingerprint: string;
}
/** Argon2id cost of a passphrase-wrapped key (memory in KiB, passes, lanes). */
export interface KdfParams { m_kib: number; t: number; p: number; }
/** A shared secret computed with WebCrypto `deriveBits` for one sender key. */
export interface EcdhAgreement {
  /** The sender key as `ecdhSenders` listed it (SubjectPublicKeyInfo). */
  senderSpki: Uint8Array;
  /** `deriveBits({ name: 'ECDH', public: sender }, privateKey, 256 or 384)`. */
  sharedSecret: Uint8Array;
}
/** An encrypted data key from a message header. */
export interface EncryptedDataKey {
  providerId: string;
  providerInfo: Uint8Array;
  ciphertext: Uint8Array;
}
/** Header fields read before authentication (to ask the relay to unwrap). */
export interface ParsedHeader {
  suiteId: number;
  messageId: Uint8Array;
  encryptionContext: EncryptionContext;
  encryptedDataKeys: EncryptedDataKey[];
  frameLength: number;
  headerLength: number;
}
/** Kinds of identifier the PII detector reports. */
export type PiiEntity = "PERSON" | "DATE" | "AGE" | "PHONE" | "FAX" | "EMAIL" | "SSN" | "MRN"
  | "HEALTH_PLAN" | "ACCOUNT" | "CREDIT_CARD" | "LICENSE" | "VEHICLE" | "DEVICE" | "URL"
  | "IP_ADDRESS" | "ADDRESS" | "ZIP" | "ID";
/** How hard the detector looks: "strict" (default; Safe Harbor, recall first: words the
 * bundled lexicon does not know as safe are redacted in name and place positions) or
 * "balanced" (precision first: dictionaries, cues and patterns only). */
export type PiiProfile = "strict" | "balanced";
/** Which kind of signal found a span. */
export type PiiSignal = "pattern" | "label" | "context" | "dictionary" | "vocabulary"
  | "propagation" | "policy";
/** What redaction does with an identifier. */
export type PiiAction = "block" | "mask" | "pseudonymize" | "generalize" | "keep";
/** A redaction policy (every field optional). */
export interface RedactionPolicy {
  /** "strict" (default) or "balanced". */
  profile?: PiiProfile;
  /** Minimum confidence 0..1 (default 0.5). */
  threshold?: number;
  /** Action for entities not in `actions` (default "mask"). */
  defaultAction?: PiiAction;
  /** Per-entity actions (defaults: DATE, ZIP and AGE "generalize"). */
  actions?: Partial<Record<PiiEntity, PiiAction>>;
  /** Extra regular expressions (Rust regex syntax; group 1 if present) per kind. */
  mrnPatterns?: string[];
  healthPlanPatterns?: string[];
  accountPatterns?: string[];
  /** Names known to be people in this text (e.g. the patient's own). */
  names?: string[];
  /** Words never reported (e.g. the clinic's public name). */
  allow?: string[];
}
/** One reported span; offsets are UTF-16 code units (JavaScript string indices). */
export interface RedactionSpan {
  entity: PiiEntity;
  start: number;
  end: number;
  confidence: number;
  action: PiiAction;
  recognizer: string;
  /** Which kind of signal found it. */
  signal: PiiSignal;
}
/** The result of redaction: the redacted text and a report without the identifiers. */
export interface Redaction {
  text: string;
  spans: RedactionSpan[];
}
/** Where a study field's DP noise is added. */
export type DpMode = { mode: "local" } | { mode: "distributed"; min_cohort: number } | { mode: "central" };
/** A privacy budget or cost: pure ε-DP or ρ-zCDP. */
export type Privacy = { kind: "pure"; epsilon: number } | { kind: "zcdp"; rho: number };
/** A released statistic with a guaranteed interval. */
export interface DpEstimate { value: number; low: number; high: number; confidence: number; }
/** A decrypted field-level record. */
export interface DecryptedRecord {
  record: any;
  encryptionContext: EncryptionContext;
  fields: string[];
}
"#;

fn js_err(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name("PhiveilError");
    let _ = Reflect::set(&err, &"code".into(), &e.code().into());
    err.into()
}

fn bad_arg(msg: &'static str) -> JsValue {
    js_err(Error::InvalidConfig(msg))
}

fn context_from_js(v: &JsValue) -> Result<EncryptionContext, JsValue> {
    let mut ctx = EncryptionContext::new();
    if v.is_undefined() || v.is_null() {
        return Ok(ctx);
    }
    let obj: &Object = v
        .dyn_ref()
        .ok_or_else(|| bad_arg("encryption context must be an object of strings"))?;
    for entry in Object::entries(obj).iter() {
        let pair: Array = entry.into();
        let k = pair
            .get(0)
            .as_string()
            .ok_or_else(|| bad_arg("context key must be a string"))?;
        let v = pair
            .get(1)
            .as_string()
            .ok_or_else(|| bad_arg("encryption context values must be strings"))?;
        ctx.insert(k, v);
    }
    Ok(ctx)
}

fn context_to_js(ctx: &EncryptionContext) -> JsValue {
    let obj = Object::new();
    for (k, v) in ctx {
        let _ = Reflect::set(&obj, &k.into(), &v.into());
    }
    obj.into()
}

fn get_num(obj: &JsValue, key: &str) -> Option<f64> {
    Reflect::get(obj, &key.into()).ok().and_then(|v| v.as_f64())
}

fn get_u64(obj: &JsValue, key: &str) -> Result<Option<u64>, JsValue> {
    match get_num(obj, key) {
        None => Ok(None),
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let v = n as u64;
            Ok(Some(v))
        }
        Some(_) => Err(bad_arg("numeric options must be non-negative integers")),
    }
}

fn encrypt_options(v: &JsValue) -> Result<EncryptOptions, JsValue> {
    let mut o = EncryptOptions::default();
    if v.is_undefined() || v.is_null() {
        return Ok(o);
    }
    if let Some(f) = get_u64(v, "frameLength")? {
        o.frame_length =
            u32::try_from(f).map_err(|_| bad_arg("frameLength must fit in 32 bits"))?;
    }
    o.max_plaintext_length = get_u64(v, "maxPlaintextLength")?;
    if let Some(id) = get_u64(v, "suiteId")? {
        let id = u16::try_from(id).map_err(|_| bad_arg("suiteId must be 0x0478 or 0x0578"))?;
        o.suite = esdk::AlgorithmSuite::from_id(id).map_err(js_err)?;
    }
    Ok(o)
}

/// A keyring (or a keyring behind a data-key cache) usable from JavaScript.
#[wasm_bindgen]
pub struct Keyring {
    keyring: Option<Arc<dyn KeyringTrait>>,
    provider: Arc<dyn MaterialsProvider>,
}

impl Keyring {
    fn from_keyring(k: Arc<dyn KeyringTrait>) -> Self {
        Self {
            provider: Arc::new(k.clone()),
            keyring: Some(k),
        }
    }

    fn ecdh(scheme: KeyAgreement) -> Result<Keyring, JsValue> {
        let k = RawEcdhKeyring::new(scheme).map_err(js_err)?;
        Ok(Self::from_keyring(Arc::new(k)))
    }
}

/// A fresh ECDH key pair for the raw ECDH keyring: `{ privateKeyPkcs8, publicKeySpki,
/// fingerprint }` (DER bytes, and the public key's fingerprint to compare out of band).
/// `curve`: `"P-256"` or `"P-384"`.
#[wasm_bindgen(js_name = ecdhKeyPair, unchecked_return_type = "EcdhKeyPair")]
pub fn ecdh_key_pair(curve: &str) -> Result<JsValue, JsValue> {
    let curve = match curve {
        "P-256" => Curve::P256,
        "P-384" => Curve::P384,
        _ => return Err(bad_arg("curve must be P-256 or P-384")),
    };
    let private = EcPrivateKey::generate(curve, &mut rand_core::OsRng);
    let public = private.public_key();
    let obj = Object::new();
    let pkcs8 = private.to_pkcs8_der().map_err(js_err)?;
    let set = |k: &str, v: JsValue| Reflect::set(&obj, &k.into(), &v).map(|_| ());
    set("privateKeyPkcs8", Uint8Array::from(pkcs8.as_slice()).into())?;
    set(
        "publicKeySpki",
        Uint8Array::from(public.to_spki_der().map_err(js_err)?.as_slice()).into(),
    )?;
    set("fingerprint", public.fingerprint().map_err(js_err)?.into())?;
    Ok(obj.into())
}

/// An Argon2id cost from JavaScript (`KdfParams`), or the default when absent.
fn kdf_params(cost: &JsValue) -> Result<crate::passphrase::KdfParams, JsValue> {
    if cost.is_undefined() || cost.is_null() {
        Ok(crate::passphrase::KdfParams::DEFAULT)
    } else {
        serde_json::from_value(to_serde(cost)?).map_err(|_| bad_arg("KdfParams"))
    }
}

/// Wraps an end-to-end private key (`privateKeyPkcs8`) under the account's passphrase
/// (Argon2id, AES-256-GCM, bound to `account`): the backup to store on the relay for a
/// second device. `cost` defaults to 64 MiB, 3 passes.
#[wasm_bindgen(js_name = wrapPrivateKey)]
pub fn wrap_private_key(
    private_key_pkcs8: &[u8],
    account: &str,
    passphrase: &str,
    #[wasm_bindgen(unchecked_param_type = "KdfParams | undefined")] cost: JsValue,
) -> Result<Vec<u8>, JsValue> {
    let cost = kdf_params(&cost)?;
    EcPrivateKey::from_pkcs8_der(private_key_pkcs8)
        .and_then(|k| k.wrap_with_passphrase(account, passphrase, cost, &mut rand_core::OsRng))
        .map_err(js_err)
}

/// Restores an end-to-end private key from its backup (`wrapPrivateKey` output): the
/// PKCS #8 bytes. A wrong passphrase gives a `DecryptFailed` error.
#[wasm_bindgen(js_name = unwrapPrivateKey)]
pub fn unwrap_private_key(
    backup: &[u8],
    account: &str,
    passphrase: &str,
) -> Result<Vec<u8>, JsValue> {
    let k = EcPrivateKey::unwrap_with_passphrase(backup, account, passphrase).map_err(js_err)?;
    Ok(k.to_pkcs8_der().map_err(js_err)?.to_vec())
}

/// The fingerprint of a public key (DER SubjectPublicKeyInfo): ten groups of four hex
/// digits, to compare out of band.
#[wasm_bindgen(js_name = ecdhFingerprint)]
pub fn ecdh_fingerprint(public_key_spki: &[u8]) -> Result<String, JsValue> {
    EcPublicKey::from_spki_der(public_key_spki)
        .and_then(|k| k.fingerprint())
        .map_err(js_err)
}

#[wasm_bindgen]
impl Keyring {
    /// An ESDK raw AES keyring (AES-128/192/256 wrapping key).
    #[wasm_bindgen(js_name = rawAes)]
    pub fn raw_aes(namespace: &str, name: &str, wrapping_key: &[u8]) -> Result<Keyring, JsValue> {
        let key = WrappingKey::from_slice(wrapping_key).map_err(js_err)?;
        let k = RawAesKeyring::new(namespace, name, key).map_err(js_err)?;
        Ok(Self::from_keyring(Arc::new(k)))
    }

    /// An ESDK raw ECDH keyring that wraps each message's data key for one recipient
    /// with a fresh ephemeral key pair (encrypt only). `recipientSpki`: the recipient's
    /// P-256 or P-384 public key as DER SubjectPublicKeyInfo (WebCrypto `spki`).
    #[wasm_bindgen(js_name = rawEcdhEphemeral)]
    pub fn raw_ecdh_ephemeral(recipient_spki: &[u8]) -> Result<Keyring, JsValue> {
        let recipient = EcPublicKey::from_spki_der(recipient_spki).map_err(js_err)?;
        Self::ecdh(KeyAgreement::EphemeralToStatic { recipient })
    }

    /// An ESDK raw ECDH keyring between this party's static key (`senderPkcs8`, DER
    /// PKCS #8, WebCrypto `pkcs8`) and the other party's public key: encrypts for them,
    /// and decrypts what either wrapped for the other.
    #[wasm_bindgen(js_name = rawEcdhStatic)]
    pub fn raw_ecdh_static(sender_pkcs8: &[u8], recipient_spki: &[u8]) -> Result<Keyring, JsValue> {
        let sender = EcPrivateKey::from_pkcs8_der(sender_pkcs8).map_err(js_err)?;
        let recipient = EcPublicKey::from_spki_der(recipient_spki).map_err(js_err)?;
        Self::ecdh(KeyAgreement::StaticToStatic { sender, recipient })
    }

    /// An ESDK raw ECDH keyring that decrypts whatever was wrapped for this private
    /// key (`recipientPkcs8`, DER PKCS #8), from any sender (decrypt only).
    ///
    /// `shares`: key shares written for this key beside the message (`shareDataKey`),
    /// tried before the header's entries.
    #[wasm_bindgen(js_name = rawEcdhDiscovery)]
    pub fn raw_ecdh_discovery(
        recipient_pkcs8: &[u8],
        #[wasm_bindgen(unchecked_param_type = "EncryptedDataKey[] | undefined")] shares: JsValue,
    ) -> Result<Keyring, JsValue> {
        let recipient = EcPrivateKey::from_pkcs8_der(recipient_pkcs8).map_err(js_err)?;
        let k = RawEcdhKeyring::new(KeyAgreement::Discovery { recipient })
            .map_err(js_err)?
            .with_shares(shares_from_js(shares)?);
        Ok(Self::from_keyring(Arc::new(k)))
    }

    /// An ESDK raw ECDH keyring that decrypts with shared secrets computed outside
    /// wasm, so the private key can stay a non-extractable WebCrypto key: for each
    /// sender key `ecdhSenders` lists, `deriveBits` gives the shared secret. Decrypt
    /// only. `agreements`: `{ senderSpki, sharedSecret }` pairs; `shares` as for
    /// `rawEcdhDiscovery`.
    #[wasm_bindgen(js_name = rawEcdhAgreed)]
    pub fn raw_ecdh_agreed(
        recipient_spki: &[u8],
        #[wasm_bindgen(unchecked_param_type = "EcdhAgreement[]")] agreements: JsValue,
        #[wasm_bindgen(unchecked_param_type = "EncryptedDataKey[] | undefined")] shares: JsValue,
    ) -> Result<Keyring, JsValue> {
        let recipient = EcPublicKey::from_spki_der(recipient_spki).map_err(js_err)?;
        let arr = agreements
            .dyn_into::<Array>()
            .map_err(|_| bad_arg("agreements must be an array"))?;
        let mut secrets = Vec::new();
        for v in arr.iter() {
            let bytes = |k: &str| {
                bytes_field(&v, k).ok_or_else(|| {
                    bad_arg("an agreement is { senderSpki, sharedSecret } of Uint8Arrays")
                })
            };
            secrets.push(esdk::AgreedSecret {
                sender: EcPublicKey::from_spki_der(&bytes("senderSpki")?).map_err(js_err)?,
                shared_secret: zeroize::Zeroizing::new(bytes("sharedSecret")?),
            });
        }
        let k = RawEcdhKeyring::new(KeyAgreement::Agreed { recipient, secrets })
            .map_err(js_err)?
            .with_shares(shares_from_js(shares)?);
        Ok(Self::from_keyring(Arc::new(k)))
    }

    /// A keyring for a data key brokered by the relay from KMS `GenerateDataKey`
    /// (or unwrapped by the relay with KMS `Decrypt`).
    #[wasm_bindgen(js_name = brokeredKms)]
    pub fn brokered_kms(
        key_id: &str,
        plaintext_data_key: &[u8],
        ciphertext_blob: &[u8],
    ) -> Result<Keyring, JsValue> {
        let k = BrokeredKmsKeyring::new(KmsDataKey {
            key_id: key_id.to_owned(),
            plaintext: DataKey::from_slice(plaintext_data_key).map_err(js_err)?,
            ciphertext_blob: ciphertext_blob.to_vec(),
        })
        .map_err(js_err)?;
        Ok(Self::from_keyring(Arc::new(k)))
    }

    /// A keyring for any encrypted data key brokered by the relay (for example its
    /// embedded KMS): the entry as the relay returned it, and the plaintext data key.
    pub fn brokered(
        provider_id: &str,
        provider_info: &[u8],
        ciphertext: &[u8],
        plaintext_data_key: &[u8],
    ) -> Result<Keyring, JsValue> {
        let k = BrokeredKmsKeyring::from_encrypted_data_key(
            esdk::EncryptedDataKey {
                provider_id: provider_id.to_owned(),
                provider_info: provider_info.to_vec(),
                ciphertext: ciphertext.to_vec(),
            },
            DataKey::from_slice(plaintext_data_key).map_err(js_err)?,
        )
        .map_err(js_err)?;
        Ok(Self::from_keyring(Arc::new(k)))
    }

    /// A multi-keyring: `generator` makes the data key, every child wraps it too.
    pub fn multi(generator: &Keyring, children: Vec<Keyring>) -> Result<Keyring, JsValue> {
        let g = generator
            .keyring
            .clone()
            .ok_or_else(|| bad_arg("a cached keyring cannot be part of a multi-keyring"))?;
        let mut kids: Vec<Box<dyn KeyringTrait>> = Vec::new();
        for c in children {
            let k = c
                .keyring
                .ok_or_else(|| bad_arg("a cached keyring cannot be part of a multi-keyring"))?;
            kids.push(Box::new(k));
        }
        let m = MultiKeyring::new(Some(Box::new(g)), kids).map_err(js_err)?;
        Ok(Self::from_keyring(Arc::new(m)))
    }

    /// The same keyring behind a data-key cache (ESDK caching CMM limits).
    #[wasm_bindgen(js_name = withCache)]
    pub fn with_cache(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CacheOptions")] options: JsValue,
    ) -> Result<Keyring, JsValue> {
        let k = self
            .keyring
            .clone()
            .ok_or_else(|| bad_arg("keyring is already cached"))?;
        let max_age =
            get_u64(&options, "maxAgeMs")?.ok_or_else(|| bad_arg("maxAgeMs is required"))?;
        let mut limits = CacheLimits::with_max_age_ms(max_age);
        if let Some(m) = get_u64(&options, "maxMessages")? {
            limits.max_messages = m;
        }
        if let Some(b) = get_u64(&options, "maxBytes")? {
            limits.max_bytes = b;
        }
        if let Some(c) = get_u64(&options, "capacity")? {
            limits.capacity = usize::try_from(c).map_err(|_| bad_arg("capacity too large"))?;
        }
        let partition = Reflect::get(&options, &"partition".into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_else(|| "phiveil".to_owned());
        let cmm = CachingCmm::new(k, limits, &partition).map_err(js_err)?;
        Ok(Self {
            keyring: None,
            provider: Arc::new(cmm),
        })
    }
}

/// Encrypts `plaintext` into an AWS Encryption SDK message.
#[wasm_bindgen]
pub fn encrypt(
    keyring: &Keyring,
    plaintext: &[u8],
    #[wasm_bindgen(unchecked_param_type = "EncryptionContext")] context: JsValue,
    #[wasm_bindgen(unchecked_param_type = "EncryptOptions | undefined")] options: JsValue,
) -> Result<Vec<u8>, JsValue> {
    let ctx = context_from_js(&context)?;
    let opts = encrypt_options(&options)?;
    esdk::encrypt(
        keyring.provider.as_ref(),
        plaintext,
        &ctx,
        &opts,
        &mut rand_core::OsRng,
    )
    .map_err(js_err)
}

/// The result of [`decrypt`].
#[wasm_bindgen]
pub struct DecryptResult {
    plaintext: Vec<u8>,
    info: esdk::MessageInfo,
}

#[wasm_bindgen]
impl DecryptResult {
    /// The plaintext.
    #[wasm_bindgen(getter)]
    pub fn plaintext(&self) -> Vec<u8> {
        self.plaintext.clone()
    }

    /// The authenticated encryption context.
    #[wasm_bindgen(getter, js_name = encryptionContext, unchecked_return_type = "EncryptionContext")]
    pub fn encryption_context(&self) -> JsValue {
        context_to_js(&self.info.context)
    }

    /// The message ID.
    #[wasm_bindgen(getter, js_name = messageId)]
    pub fn message_id(&self) -> Vec<u8> {
        self.info.message_id.to_vec()
    }
}

/// Decrypts an AWS Encryption SDK message. Every entry of `expectedContext` must be
/// bound in the message.
#[wasm_bindgen]
pub fn decrypt(
    keyring: &Keyring,
    message: &[u8],
    #[wasm_bindgen(js_name = expectedContext, unchecked_param_type = "EncryptionContext | undefined")]
    expected_context: JsValue,
) -> Result<DecryptResult, JsValue> {
    let ctx = context_from_js(&expected_context)?;
    let d = esdk::decrypt(
        keyring.provider.as_ref(),
        message,
        &DecryptOptions::expecting(ctx),
    )
    .map_err(js_err)?;
    Ok(DecryptResult {
        plaintext: d.plaintext,
        info: d.info,
    })
}

/// Reads a message header without authenticating it: the encrypted data keys to
/// send to the relay for unwrapping. Trust nothing in it until decryption succeeds.
#[wasm_bindgen(js_name = parseHeader, unchecked_return_type = "ParsedHeader")]
pub fn parse_header(message: &[u8]) -> Result<JsValue, JsValue> {
    let (h, len) = Header::parse(message, &Limits::default()).map_err(js_err)?;
    let obj = Object::new();
    let set = |k: &str, v: JsValue| {
        let _ = Reflect::set(&obj, &k.into(), &v);
    };
    set("suiteId", h.suite.id().into());
    set("messageId", Uint8Array::from(&h.message_id[..]).into());
    set("encryptionContext", context_to_js(&h.context));
    let edks = Array::new();
    for e in &h.encrypted_data_keys {
        edks.push(&edk_to_js(e));
    }
    set("encryptedDataKeys", edks.into());
    set("frameLength", h.frame_length.into());
    set("headerLength", (len as f64).into());
    Ok(obj.into())
}

/// An encrypted data key as JavaScript sees it (`EncryptedDataKey`).
fn edk_to_js(e: &esdk::EncryptedDataKey) -> JsValue {
    let o = Object::new();
    let _ = Reflect::set(&o, &"providerId".into(), &e.provider_id.as_str().into());
    let _ = Reflect::set(
        &o,
        &"providerInfo".into(),
        &Uint8Array::from(&e.provider_info[..]),
    );
    let _ = Reflect::set(
        &o,
        &"ciphertext".into(),
        &Uint8Array::from(&e.ciphertext[..]),
    );
    o.into()
}

/// The bytes of a `Uint8Array` member `key` of `v` (`None` when it is something else).
fn bytes_field(v: &JsValue, key: &str) -> Option<Vec<u8>> {
    Reflect::get(v, &key.into())
        .ok()
        .and_then(|f| f.dyn_into::<Uint8Array>().ok())
        .map(|a| a.to_vec())
}

/// An `EncryptedDataKey` from JavaScript (a typed error for anything else).
fn edk_from_js(v: &JsValue) -> Result<esdk::EncryptedDataKey, JsValue> {
    let bytes = |k: &str| {
        bytes_field(v, k).ok_or_else(|| {
            bad_arg("an encrypted data key's providerInfo and ciphertext are Uint8Arrays")
        })
    };
    Ok(esdk::EncryptedDataKey {
        provider_id: Reflect::get(v, &"providerId".into())
            .ok()
            .and_then(|p| p.as_string())
            .ok_or_else(|| bad_arg("an encrypted data key needs a providerId string"))?,
        provider_info: bytes("providerInfo")?,
        ciphertext: bytes("ciphertext")?,
    })
}

/// Optional key shares from JavaScript (`EncryptedDataKey[] | undefined`).
fn shares_from_js(shares: JsValue) -> Result<Vec<esdk::EncryptedDataKey>, JsValue> {
    if shares.is_undefined() || shares.is_null() {
        return Ok(Vec::new());
    }
    let arr = shares
        .dyn_into::<Array>()
        .map_err(|_| bad_arg("shares must be an array of encrypted data keys"))?;
    arr.iter().map(|v| edk_from_js(&v)).collect()
}

/// The sender keys (DER SubjectPublicKeyInfo) of the entries of `message` (its header
/// at least) and of `shares` wrapped for `recipientSpki`: for each, the holder of a
/// non-extractable private key computes the shared secret with WebCrypto `deriveBits`
/// and passes it to `Keyring.rawEcdhAgreed`.
#[wasm_bindgen(js_name = ecdhSenders)]
pub fn ecdh_senders(
    message: &[u8],
    recipient_spki: &[u8],
    #[wasm_bindgen(unchecked_param_type = "EncryptedDataKey[] | undefined")] shares: JsValue,
) -> Result<Vec<Uint8Array>, JsValue> {
    let recipient = EcPublicKey::from_spki_der(recipient_spki).map_err(js_err)?;
    let shares = shares_from_js(shares)?;
    esdk::ecdh_senders(message, &shares, &recipient)
        .map_err(js_err)?
        .iter()
        .map(|k| {
            k.to_spki_der()
                .map(|d| Uint8Array::from(d.as_slice()))
                .map_err(js_err)
        })
        .collect()
}

/// Wraps the data key of `message` (or its header), which the holder of `readerPkcs8`
/// can open, for `recipientSpki`: a key share to keep beside the record for a reader
/// granted after it was written. The header must authenticate; the share is bound to
/// its encryption context. No data key leaves this function.
#[wasm_bindgen(js_name = shareDataKey, unchecked_return_type = "EncryptedDataKey")]
pub fn share_data_key(
    reader_pkcs8: &[u8],
    message: &[u8],
    recipient_spki: &[u8],
) -> Result<JsValue, JsValue> {
    let reader = RawEcdhKeyring::new(KeyAgreement::Discovery {
        recipient: EcPrivateKey::from_pkcs8_der(reader_pkcs8).map_err(js_err)?,
    })
    .map_err(js_err)?;
    let recipient = EcPublicKey::from_spki_der(recipient_spki).map_err(js_err)?;
    let share = esdk::share_data_key(&reader, message, &recipient, &mut rand_core::OsRng)
        .map_err(js_err)?;
    Ok(edk_to_js(&share))
}

/// Streaming encryption: `update` returns ciphertext for whole frames, `finish`
/// the rest. Holds at most one frame of plaintext.
#[wasm_bindgen]
pub struct EncryptStream {
    inner: Option<StreamEncryptor>,
}

#[wasm_bindgen]
impl EncryptStream {
    /// Starts a message.
    #[wasm_bindgen(constructor)]
    pub fn new(
        keyring: &Keyring,
        #[wasm_bindgen(unchecked_param_type = "EncryptionContext")] context: JsValue,
        #[wasm_bindgen(unchecked_param_type = "EncryptOptions | undefined")] options: JsValue,
    ) -> Result<EncryptStream, JsValue> {
        let ctx = context_from_js(&context)?;
        let opts = encrypt_options(&options)?;
        let inner = StreamEncryptor::new(
            keyring.provider.as_ref(),
            &ctx,
            &opts,
            &mut rand_core::OsRng,
        )
        .map_err(js_err)?;
        Ok(Self { inner: Some(inner) })
    }

    /// Encrypts a chunk; returns the ciphertext bytes ready so far.
    pub fn update(&mut self, chunk: &[u8]) -> Result<Vec<u8>, JsValue> {
        let enc = self
            .inner
            .as_mut()
            .ok_or_else(|| js_err(Error::InvalidState("stream already finished")))?;
        let mut out = Vec::with_capacity(chunk.len().saturating_add(64));
        enc.update(chunk, &mut out).map_err(js_err)?;
        Ok(out)
    }

    /// Ends the message; returns the remaining ciphertext (the final frame).
    pub fn finish(&mut self) -> Result<Vec<u8>, JsValue> {
        let enc = self
            .inner
            .take()
            .ok_or_else(|| js_err(Error::InvalidState("stream already finished")))?;
        let mut out = Vec::new();
        enc.finish(&mut out).map_err(js_err)?;
        Ok(out)
    }
}

/// Streaming decryption: `update` returns plaintext of frames whose tags verified.
#[wasm_bindgen]
pub struct DecryptStream {
    inner: Option<StreamDecryptor<'static>>,
}

#[wasm_bindgen]
impl DecryptStream {
    /// Starts decrypting a message; `expectedContext` entries must be bound in it.
    #[wasm_bindgen(constructor)]
    pub fn new(
        keyring: &Keyring,
        #[wasm_bindgen(js_name = expectedContext, unchecked_param_type = "EncryptionContext | undefined")]
        expected_context: JsValue,
    ) -> Result<DecryptStream, JsValue> {
        let ctx = context_from_js(&expected_context)?;
        Ok(Self {
            inner: Some(StreamDecryptor::new_shared(
                keyring.provider.clone(),
                ctx,
                Limits::default(),
            )),
        })
    }

    /// Consumes a chunk of the message; returns verified plaintext.
    pub fn update(&mut self, chunk: &[u8]) -> Result<Vec<u8>, JsValue> {
        let dec = self
            .inner
            .as_mut()
            .ok_or_else(|| js_err(Error::InvalidState("stream finished or failed")))?;
        let mut out = Vec::new();
        match dec.update(chunk, &mut out) {
            Ok(()) => Ok(out),
            Err(e) => {
                self.inner = None;
                Err(js_err(e))
            }
        }
    }

    /// Ends the message; fails if it was truncated or followed by extra bytes.
    /// Returns the authenticated encryption context.
    #[wasm_bindgen(unchecked_return_type = "EncryptionContext")]
    pub fn finish(&mut self) -> Result<JsValue, JsValue> {
        let dec = self
            .inner
            .take()
            .ok_or_else(|| js_err(Error::InvalidState("stream finished or failed")))?;
        let mut out = Vec::new();
        let info = dec.finish(&mut out).map_err(js_err)?;
        Ok(context_to_js(&info.context))
    }
}

/// A JavaScript value as JSON, the way `JSON.stringify` sees it. Inputs go through
/// `JSON.stringify` on purpose rather than `serde-wasm-bindgen`: it calls `toJSON`
/// (a `Date` becomes its ISO string instead of an empty object) and throws on a cyclic
/// object, which becomes a typed error here; walking such an object field by field would
/// recurse until the wasm stack overflows and traps.
fn to_serde(v: &JsValue) -> Result<serde_json::Value, JsValue> {
    let s = JSON::stringify(v)
        .map_err(|_| bad_arg("record is not JSON-serializable"))?
        .as_string()
        .ok_or_else(|| bad_arg("record is not JSON-serializable"))?;
    serde_json::from_str(&s).map_err(|e| js_err(Error::InvalidRecord(e.to_string())))
}

/// A Rust value as plain JavaScript objects, arrays, strings, numbers, booleans and
/// nulls (`serde-wasm-bindgen`'s JSON-compatible serializer: no string round trip; an
/// integer beyond 2^53 is an error, not a silently rounded number).
fn from_serde<T: serde::Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    serde::Serialize::serialize(v, &serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| js_err(Error::InvalidRecord(e.to_string())))
}

/// Field-level encryption: encrypts the fields selected by `paths`
/// (`patient.ssn`, `visits[*].notes`) and leaves the rest readable.
#[wasm_bindgen(js_name = encryptFields)]
pub fn encrypt_fields(
    keyring: &Keyring,
    record: JsValue,
    paths: Vec<String>,
    #[wasm_bindgen(unchecked_param_type = "EncryptionContext")] context: JsValue,
) -> Result<JsValue, JsValue> {
    let rec = to_serde(&record)?;
    let ctx = context_from_js(&context)?;
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let out = crate::field::encrypt_record(
        keyring.provider.as_ref(),
        &rec,
        &refs,
        &ctx,
        &mut rand_core::OsRng,
    )
    .map_err(js_err)?;
    from_serde(&out)
}

/// Decrypts a record made by [`encrypt_fields`]; fails on any change to it.
#[wasm_bindgen(js_name = decryptFields, unchecked_return_type = "DecryptedRecord")]
pub fn decrypt_fields(
    keyring: &Keyring,
    record: JsValue,
    #[wasm_bindgen(js_name = expectedContext, unchecked_param_type = "EncryptionContext | undefined")]
    expected_context: JsValue,
) -> Result<JsValue, JsValue> {
    let rec = to_serde(&record)?;
    let ctx = context_from_js(&expected_context)?;
    let d = crate::field::decrypt_record(keyring.provider.as_ref(), &rec, &ctx, &Limits::default())
        .map_err(js_err)?;
    let obj = Object::new();
    let _ = Reflect::set(&obj, &"record".into(), &from_serde(&d.record)?);
    let _ = Reflect::set(
        &obj,
        &"encryptionContext".into(),
        &context_to_js(&d.context),
    );
    let fields = Array::new();
    for f in &d.fields {
        fields.push(&f.as_str().into());
    }
    let _ = Reflect::set(&obj, &"fields".into(), &fields);
    Ok(obj.into())
}

// ---------------------------------------------------------------------------
// Bulk frames through WebCrypto.
//
// Software AES-GCM in wasm runs at tens of MB/s; the browser's WebCrypto runs the
// same AES-256-GCM natively. For larger messages the header, key schedule, framing
// and every check stay in Rust, and only each frame's AES-GCM call goes to
// `crypto.subtle`, with the derived data key imported as a non-extractable key.
// The bytes produced are identical in format to the synchronous path.
// ---------------------------------------------------------------------------

use wasm_bindgen_futures::JsFuture;

/// Messages at least this long use WebCrypto in the async functions; shorter ones
/// are faster in wasm (a WebCrypto call costs tens of microseconds).
const WEBCRYPTO_MIN_LEN: usize = 16 * 1024;
/// Frames in flight at once.
const WEBCRYPTO_BATCH: usize = 256;

fn subtle() -> Result<web_sys::SubtleCrypto, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
    if crypto.is_undefined() {
        return Err(bad_arg("WebCrypto (globalThis.crypto) is not available"));
    }
    let crypto: web_sys::Crypto = crypto.unchecked_into();
    Ok(crypto.subtle())
}

async fn import_key(
    subtle: &web_sys::SubtleCrypto,
    key: &[u8; 32],
    usage: &str,
) -> Result<web_sys::CryptoKey, JsValue> {
    let raw = Uint8Array::from(&key[..]);
    let alg = Object::new();
    Reflect::set(&alg, &"name".into(), &"AES-GCM".into())?;
    let usages = Array::of1(&usage.into());
    let p = subtle.import_key_with_object("raw", &raw, &alg, false, &usages)?;
    raw.fill(0, 0, 32);
    Ok(JsFuture::from(p).await?.unchecked_into())
}

fn gcm_params(iv: &[u8], aad: &[u8]) -> web_sys::AesGcmParams {
    let params = web_sys::AesGcmParams::new_with_u8_array("AES-GCM", &Uint8Array::from(iv));
    params.set_additional_data_u8_array(&Uint8Array::from(aad));
    params.set_tag_length(128);
    params
}

/// Encrypts like [`encrypt`], handing bulk frames to WebCrypto. Resolves to the
/// same AWS Encryption SDK message format.
#[wasm_bindgen(js_name = encryptAsync)]
pub async fn encrypt_async(
    keyring: &Keyring,
    plaintext: Vec<u8>,
    #[wasm_bindgen(unchecked_param_type = "EncryptionContext")] context: JsValue,
    #[wasm_bindgen(unchecked_param_type = "EncryptOptions | undefined")] options: JsValue,
) -> Result<Vec<u8>, JsValue> {
    let plaintext = zeroize::Zeroizing::new(plaintext);
    if plaintext.len() < WEBCRYPTO_MIN_LEN {
        return encrypt(keyring, &plaintext, context, options);
    }
    let ctx = context_from_js(&context)?;
    let mut opts = encrypt_options(&options)?;
    opts.max_plaintext_length = Some(plaintext.len() as u64);
    let mut enc = StreamEncryptor::new(
        keyring.provider.as_ref(),
        &ctx,
        &opts,
        &mut rand_core::OsRng,
    )
    .map_err(js_err)?;
    let (header, signer) = enc
        .take_header()
        .ok_or_else(|| js_err(Error::InvalidState("header already taken")))?;
    let (keys, message_id, frame_length) = enc.parts();
    let message_id = *message_id;
    let subtle = subtle()?;
    let key = import_key(&subtle, &keys.derived_key, "encrypt").await?;
    drop(enc);

    let flen = frame_length as usize;
    let regular = plaintext.len().checked_div(flen).unwrap_or(0);
    let frames = regular.saturating_add(1);
    if frames > u32::MAX as usize {
        return Err(js_err(Error::LimitExceeded {
            what: "frames in one message",
            limit: u64::from(u32::MAX),
        }));
    }
    let mut out = Vec::with_capacity(
        header
            .len()
            .saturating_add(plaintext.len())
            .saturating_add(frames.saturating_mul(esdk::stream::FINAL_FRAME_OVERHEAD)),
    );
    out.extend_from_slice(&header);
    let mut aad = Vec::new();
    let mut first = 0usize;
    while first < frames {
        let last = first.saturating_add(WEBCRYPTO_BATCH).min(frames);
        let promises = Array::new();
        let mut prefixes = Vec::with_capacity(last.saturating_sub(first));
        for i in first..last {
            #[allow(clippy::cast_possible_truncation)]
            let seq = (i as u32).saturating_add(1);
            let is_final = i == regular;
            let start = i.saturating_mul(flen);
            let end = if is_final {
                plaintext.len()
            } else {
                start.saturating_add(flen)
            };
            let chunk = plaintext
                .get(start..end)
                .ok_or_else(|| js_err(Error::InvalidState("frame range")))?;
            let iv = crate::esdk::suite::frame_iv(seq);
            let content = if is_final {
                crate::esdk::suite::BodyAadContent::FinalFrame
            } else {
                crate::esdk::suite::BodyAadContent::Frame
            };
            crate::esdk::suite::body_aad(&mut aad, &message_id, content, seq, chunk.len() as u64);
            let p = subtle.encrypt_with_object_and_u8_array(&gcm_params(&iv, &aad), &key, chunk)?;
            promises.push(&p);
            let mut prefix = Vec::with_capacity(24);
            if is_final {
                prefix.extend_from_slice(&0xFFFF_FFFFu32.to_be_bytes());
            }
            prefix.extend_from_slice(&seq.to_be_bytes());
            prefix.extend_from_slice(&iv);
            if is_final {
                #[allow(clippy::cast_possible_truncation)]
                prefix.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
            }
            prefixes.push(prefix);
        }
        let sealed: Array = JsFuture::from(js_sys::Promise::all(&promises))
            .await?
            .unchecked_into();
        for (prefix, ct) in prefixes.iter().zip(sealed.iter()) {
            out.extend_from_slice(prefix);
            // WebCrypto returns ciphertext ‖ tag: exactly the frame's layout.
            let bytes = Uint8Array::new(&ct);
            let at = out.len();
            out.resize(at.saturating_add(bytes.length() as usize), 0);
            bytes.copy_to(
                out.get_mut(at..)
                    .ok_or_else(|| js_err(Error::InvalidState("output")))?,
            );
        }
        first = last;
    }
    if let Some(mut s) = signer {
        s.update(&out);
        out.extend_from_slice(&s.footer().map_err(js_err)?);
    }
    Ok(out)
}

/// Decrypts like [`decrypt`], handing bulk frames to WebCrypto. The header, the key
/// commitment, framing, sequence numbers and lengths are checked in Rust first;
/// nothing is released unless every frame authenticates.
#[wasm_bindgen(js_name = decryptAsync)]
pub async fn decrypt_async(
    keyring: &Keyring,
    message: Vec<u8>,
    #[wasm_bindgen(js_name = expectedContext, unchecked_param_type = "EncryptionContext | undefined")]
    expected_context: JsValue,
) -> Result<DecryptResult, JsValue> {
    if message.len() < WEBCRYPTO_MIN_LEN {
        return decrypt(keyring, &message, expected_context);
    }
    let ctx = context_from_js(&expected_context)?;
    let limits = Limits::default();
    let (keys, info, content_type, verifier) =
        crate::esdk::stream::open_header(keyring.provider.as_ref(), &message, ctx, limits)
            .map_err(js_err)?;
    let body = message
        .get(info.header_len..)
        .ok_or_else(|| js_err(Error::Truncated))?;
    // Checks framing and, for signing suites, the signature before decrypting.
    let frames =
        crate::esdk::stream::split_body(body, content_type, info.frame_length, &limits, verifier)
            .map_err(js_err)?;
    let subtle = subtle()?;
    let key = import_key(&subtle, &keys.derived_key, "decrypt").await?;
    drop(keys);
    let mut plaintext = zeroize::Zeroizing::new(Vec::with_capacity(body.len()));
    let mut aad = Vec::new();
    for batch in frames.chunks(WEBCRYPTO_BATCH) {
        let promises = Array::new();
        for f in batch {
            f.aad(&info.message_id, &mut aad);
            let p = subtle.decrypt_with_object_and_u8_array(
                &gcm_params(&f.iv, &aad),
                &key,
                f.sealed,
            )?;
            promises.push(&p);
        }
        // Any failing frame rejects the whole batch: one opaque error, no plaintext.
        let opened: Array = JsFuture::from(js_sys::Promise::all(&promises))
            .await
            .map_err(|_| js_err(Error::DecryptFailed))?
            .unchecked_into();
        for pt in opened.iter() {
            let bytes = Uint8Array::new(&pt);
            let at = plaintext.len();
            plaintext.resize(at.saturating_add(bytes.length() as usize), 0);
            let dst = plaintext
                .get_mut(at..)
                .ok_or_else(|| js_err(Error::InvalidState("output")))?;
            bytes.copy_to(dst);
            bytes.fill(0, 0, bytes.length());
        }
    }
    Ok(DecryptResult {
        plaintext: core::mem::take(&mut *plaintext),
        info,
    })
}

// ---------------------------------------------------------------------------
// FHIR vital signs and vital-sign rules.
// ---------------------------------------------------------------------------

/// A JavaScript number of Unix seconds as an integer (refuses fractions and values beyond
/// the exactly representable range).
/// A JS number that must be a safe integer; `msg` otherwise.
fn safe_integer(v: f64, msg: &'static str) -> Result<i64, JsValue> {
    if !v.is_finite() || v.fract() != 0.0 || v.abs() > 9_007_199_254_740_991.0 {
        return Err(bad_arg(msg));
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(v as i64)
}

fn unix_seconds(t: f64) -> Result<i64, JsValue> {
    safe_integer(t, "t must be an integer number of seconds")
}

fn vital_kind(name: &str) -> Result<crate::fhir::VitalKind, JsValue> {
    use crate::fhir::VitalKind;
    Ok(match name {
        "heart-rate" => VitalKind::HeartRate,
        "spo2" => VitalKind::SpO2,
        "blood-pressure" => VitalKind::BloodPressure,
        "body-temperature" => VitalKind::BodyTemperature,
        "respiratory-rate" => VitalKind::RespiratoryRate,
        _ => return Err(bad_arg(
            "kind must be heart-rate, spo2, blood-pressure, body-temperature or respiratory-rate",
        )),
    })
}

/// Builds a FHIR R4 vital-signs `Observation`. `kind` is `heart-rate`, `spo2`,
/// `blood-pressure` (with `diastolic`), `body-temperature` or `respiratory-rate`;
/// `time` an RFC 3339 date-time with seconds and zone; `patient` a pseudonymous id.
#[wasm_bindgen(js_name = vitalObservation)]
pub fn vital_observation(
    kind: &str,
    value: f64,
    diastolic: Option<f64>,
    time: &str,
    patient: &str,
) -> Result<JsValue, JsValue> {
    let v = crate::fhir::Vital {
        kind: vital_kind(kind)?,
        value,
        diastolic,
        time: time.to_owned(),
        patient: patient.to_owned(),
    };
    from_serde(&crate::fhir::observation(&v).map_err(js_err)?)
}

/// A vital-sign rule engine with the default rules (SpO2, heart rate, temperature,
/// respiratory rate, blood pressure). Alerts carry no raw vitals.
#[wasm_bindgen]
pub struct VitalRules {
    inner: crate::rules::RuleEngine,
}

#[wasm_bindgen]
impl VitalRules {
    /// An engine with the default rules.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<VitalRules, JsValue> {
        Ok(Self {
            inner: crate::rules::RuleEngine::new(crate::rules::default_rules()).map_err(js_err)?,
        })
    }

    /// Feeds a sample (`t` in Unix seconds; samples of one kind in time order) and
    /// returns the alert transitions it causes: `{rule, loinc, severity, transition,
    /// episode_start, at}`.
    pub fn push(&mut self, kind: &str, value: f64, t: f64) -> Result<JsValue, JsValue> {
        let t = unix_seconds(t)?;
        let alerts = self
            .inner
            .push(crate::rules::Sample {
                kind: vital_kind(kind)?,
                value,
                t,
            })
            .map_err(js_err)?;
        from_serde(
            &serde_json::to_value(&alerts)
                .map_err(|e| js_err(Error::InvalidRecord(e.to_string())))?,
        )
    }
}

/// PII/PHI detection and redaction of free text (see `crate::pii`). Build once per
/// policy (and per patient when pseudonymizing), reuse for many texts.
#[wasm_bindgen]
pub struct Redactor {
    inner: crate::pii::Redactor,
    key: Option<crate::pii::PseudonymKey>,
}

#[wasm_bindgen]
impl Redactor {
    /// Compiles `policy`; `pseudonymKey` (≥ 16 bytes, per patient) is needed only when
    /// the policy pseudonymizes.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "RedactionPolicy | undefined")] policy: JsValue,
        #[wasm_bindgen(js_name = pseudonymKey)] pseudonym_key: Option<Vec<u8>>,
    ) -> Result<Redactor, JsValue> {
        let policy: crate::pii::Policy = if policy.is_undefined() || policy.is_null() {
            crate::pii::Policy::default()
        } else {
            serde_json::from_value(to_serde(&policy)?)
                .map_err(|e| js_err(Error::InvalidRecord(format!("redaction policy: {e}"))))?
        };
        let key = match pseudonym_key {
            Some(mut bytes) => {
                let key = crate::pii::PseudonymKey::new(&bytes);
                zeroize::Zeroize::zeroize(&mut bytes);
                Some(key.map_err(js_err)?)
            }
            None => None,
        };
        Ok(Redactor {
            inner: crate::pii::Redactor::new(policy).map_err(js_err)?,
            key,
        })
    }

    /// Redacts `text`: `{text, spans}`; throws `PiiBlocked` when the policy blocks an
    /// identifier the text contains.
    #[wasm_bindgen(unchecked_return_type = "Redaction")]
    pub fn redact(&self, text: &str) -> Result<JsValue, JsValue> {
        let out = self.inner.redact(text, self.key.as_ref()).map_err(js_err)?;
        let spans = utf16_spans(text, &out.spans, |s| (s.start, s.end))
            .into_iter()
            .zip(&out.spans)
            .map(|((start, end), s)| SpanOut {
                action: s.action,
                confidence: s.confidence,
                end,
                entity: s.entity,
                recognizer: s.recognizer,
                signal: s.signal,
                start,
            })
            .collect::<Vec<_>>();
        from_serde(&RedactionOut {
            spans,
            text: &out.text,
        })
    }

    /// The spans redaction would act on, without changing the text (a preview for the
    /// user before anything is sent).
    #[wasm_bindgen(unchecked_return_type = "RedactionSpan[]")]
    pub fn analyze(&self, text: &str) -> Result<JsValue, JsValue> {
        let found = self.inner.analyze(text);
        let policy = self.inner.policy();
        let spans = utf16_spans(text, &found, |f| (f.start, f.end))
            .into_iter()
            .zip(&found)
            .map(|((start, end), f)| SpanOut {
                action: policy.action(f.entity),
                confidence: f.confidence,
                end,
                entity: f.entity,
                recognizer: f.recognizer,
                signal: crate::pii::signal_of(f.recognizer),
                start,
            })
            .collect::<Vec<_>>();
        from_serde(&spans)
    }
}

/// A span as [`Redactor::redact`] and [`Redactor::analyze`] hand it to JavaScript
/// (`RedactionSpan`; UTF-16 offsets). Serialized straight into a JS object, its keys in
/// the order they always had.
#[derive(serde::Serialize)]
struct SpanOut {
    action: crate::pii::Action,
    confidence: f32,
    end: usize,
    entity: crate::pii::Entity,
    recognizer: &'static str,
    signal: &'static str,
    start: usize,
}

/// [`Redactor::redact`]'s result for JavaScript (`Redaction`).
#[derive(serde::Serialize)]
struct RedactionOut<'a> {
    spans: Vec<SpanOut>,
    text: &'a str,
}

/// Converts byte offsets (sorted by start, non-overlapping) to UTF-16 offsets.
fn utf16_spans<T>(
    text: &str,
    items: &[T],
    range: impl Fn(&T) -> (usize, usize),
) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(items.len());
    let (mut byte, mut unit) = (0usize, 0usize);
    let mut chars = text.char_indices().peekable();
    let mut advance = |target: usize, byte: &mut usize, unit: &mut usize| {
        while *byte < target {
            match chars.next() {
                Some((i, c)) => {
                    *byte = i.saturating_add(c.len_utf8());
                    *unit = unit.saturating_add(c.len_utf16());
                }
                None => break,
            }
        }
    };
    for item in items {
        let (s, e) = range(item);
        advance(s, &mut byte, &mut unit);
        let start = unit;
        advance(e, &mut byte, &mut unit);
        out.push((start, unit));
    }
    out
}

/// A shared provider handed to a telemetry session.
struct SharedProvider(Arc<dyn MaterialsProvider>);

impl MaterialsProvider for SharedProvider {
    fn encryption_materials(
        &self,
        req: &crate::esdk::cmm::EncryptionRequest<'_>,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> crate::Result<crate::esdk::keyring::EncryptionMaterials> {
        self.0.encryption_materials(req, rng)
    }

    fn decryption_materials(
        &self,
        req: &crate::esdk::cmm::DecryptionRequest<'_>,
    ) -> crate::Result<crate::esdk::keyring::DecryptionMaterials> {
        self.0.decryption_materials(req)
    }
}

/// A telemetry session (see `crate::telemetry`): readings in, alerts (no values) and
/// sealed encrypted chunks out. Use a cached brokered keyring for one data key per
/// session.
#[wasm_bindgen]
pub struct TelemetrySession {
    inner: crate::telemetry::TelemetrySession<SharedProvider>,
}

fn pushed_to_js(
    alerts: &[crate::rules::Alert],
    chunk: Option<crate::telemetry::Chunk>,
) -> Result<JsValue, JsValue> {
    let out = Object::new();
    let alerts = from_serde(
        &serde_json::to_value(alerts).map_err(|e| js_err(Error::InvalidRecord(e.to_string())))?,
    )?;
    let _ = Reflect::set(&out, &"alerts".into(), &alerts);
    if let Some(c) = chunk {
        let chunk = Object::new();
        #[allow(clippy::cast_precision_loss)]
        let seq = c.seq as f64;
        let _ = Reflect::set(&chunk, &"seq".into(), &seq.into());
        #[allow(clippy::cast_precision_loss)]
        let readings = c.readings as f64;
        let _ = Reflect::set(&chunk, &"readings".into(), &readings.into());
        let _ = Reflect::set(
            &chunk,
            &"message".into(),
            &Uint8Array::from(c.message.as_slice()).into(),
        );
        let _ = Reflect::set(&out, &"chunk".into(), &chunk.into());
    }
    Ok(out.into())
}

#[wasm_bindgen]
impl TelemetrySession {
    /// A session for `patient` (pseudonym) and `session` id; a chunk every
    /// `readingsPerChunk` readings (default 60), watched by the default rules.
    #[wasm_bindgen(constructor)]
    pub fn new(
        keyring: &Keyring,
        patient: &str,
        session: &str,
        #[wasm_bindgen(js_name = readingsPerChunk)] readings_per_chunk: Option<u32>,
    ) -> Result<TelemetrySession, JsValue> {
        let mut config = crate::telemetry::SessionConfig::new(patient, session);
        if let Some(n) = readings_per_chunk {
            config.readings_per_chunk = usize::try_from(n).unwrap_or(usize::MAX);
        }
        let rules = crate::rules::RuleEngine::new(crate::rules::default_rules()).map_err(js_err)?;
        Ok(TelemetrySession {
            inner: crate::telemetry::TelemetrySession::new(
                SharedProvider(keyring.provider.clone()),
                config,
                rules,
            )
            .map_err(js_err)?,
        })
    }

    /// Pushes one reading (`t` in Unix seconds): `{alerts, chunk?: {seq, readings,
    /// message}}`. An impossible value throws and changes nothing.
    pub fn push(
        &mut self,
        kind: &str,
        value: f64,
        diastolic: Option<f64>,
        t: f64,
    ) -> Result<JsValue, JsValue> {
        let t = unix_seconds(t)?;
        let reading = crate::telemetry::Reading {
            kind: vital_kind(kind)?,
            value,
            diastolic,
            t,
        };
        let p = self
            .inner
            .push(reading, &mut rand_core::OsRng)
            .map_err(js_err)?;
        pushed_to_js(&p.alerts, p.chunk)
    }

    /// Seals what is buffered: `{alerts: [], chunk?}`.
    pub fn flush(&mut self) -> Result<JsValue, JsValue> {
        let chunk = self.inner.flush(&mut rand_core::OsRng).map_err(js_err)?;
        pushed_to_js(&[], chunk)
    }
}

/// The DP noise plan of one study field (see `crate::dp::FieldPlan`): the patient-side
/// step and the interval of a released sum.
#[wasm_bindgen]
pub struct DpField {
    inner: crate::dp::FieldPlan,
}

#[wasm_bindgen]
impl DpField {
    /// A field declared in `lo..=hi` with `privacy` in `mode`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "DpMode")] mode: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Privacy")] privacy: JsValue,
        lo: f64,
        hi: f64,
    ) -> Result<DpField, JsValue> {
        let mode: crate::dp::Mode = serde_json::from_value(to_serde(&mode)?)
            .map_err(|e| js_err(Error::InvalidRecord(format!("DP mode: {e}"))))?;
        let privacy: crate::dp::Privacy = serde_json::from_value(to_serde(&privacy)?)
            .map_err(|e| js_err(Error::InvalidRecord(format!("privacy: {e}"))))?;
        let int = |v: f64| v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15;
        if !int(lo) || !int(hi) || hi <= lo {
            return Err(bad_arg("lo and hi must be integers with lo < hi"));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let width = (hi - lo) as u64;
        Ok(DpField {
            inner: crate::dp::FieldPlan::new(mode, privacy, width).map_err(js_err)?,
        })
    }

    /// The patient-side step: `value` (an integer) plus this field's patient noise.
    pub fn apply(&self, value: f64) -> Result<f64, JsValue> {
        if !value.is_finite() || value.fract() != 0.0 || value.abs() > 9.0e15 {
            return Err(bad_arg("value must be an integer"));
        }
        #[allow(clippy::cast_possible_truncation)]
        let v = value as i64;
        #[allow(clippy::cast_precision_loss)]
        let out = self.inner.apply(v, &mut rand_core::OsRng) as f64;
        Ok(out)
    }

    /// The interval of a released noisy sum over `n` patients.
    #[wasm_bindgen(js_name = sumEstimate, unchecked_return_type = "DpEstimate")]
    pub fn sum_estimate(
        &self,
        noisy_sum: f64,
        n: u32,
        confidence: f64,
    ) -> Result<JsValue, JsValue> {
        let e = self
            .inner
            .sum_estimate(noisy_sum, u64::from(n), confidence)
            .map_err(js_err)?;
        from_serde(
            &serde_json::to_value(e).map_err(|e| js_err(Error::InvalidRecord(e.to_string())))?,
        )
    }
}

/// A patient's privacy ledger (one accountant per study), persisted by the caller as
/// JSON (e.g. in IndexedDB).
#[wasm_bindgen]
pub struct PrivacyLedger {
    inner: crate::dp::PrivacyLedger,
}

#[wasm_bindgen]
impl PrivacyLedger {
    /// An empty ledger, or one restored from `json` (as written by `toJSON`).
    #[wasm_bindgen(constructor)]
    pub fn new(json: Option<String>) -> Result<PrivacyLedger, JsValue> {
        let inner = match json {
            Some(j) => serde_json::from_str(&j)
                .map_err(|e| js_err(Error::InvalidRecord(format!("ledger: {e}"))))?,
            None => crate::dp::PrivacyLedger::new(),
        };
        Ok(PrivacyLedger { inner })
    }

    /// Charges `cost` to `study` (opened with `budget`); throws `BudgetExceeded` and
    /// changes nothing past the budget.
    pub fn charge(
        &mut self,
        study: &str,
        #[wasm_bindgen(unchecked_param_type = "Privacy")] budget: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Privacy")] cost: JsValue,
    ) -> Result<(), JsValue> {
        let parse = |v: &JsValue| -> Result<crate::dp::Privacy, JsValue> {
            serde_json::from_value(to_serde(v)?)
                .map_err(|e| js_err(Error::InvalidRecord(format!("privacy: {e}"))))
        };
        self.inner
            .charge(study, parse(&budget)?, parse(&cost)?)
            .map_err(js_err)
    }

    /// `{spent, remaining, releases}` of `study`, or `undefined`.
    pub fn study(&self, study: &str) -> Result<JsValue, JsValue> {
        match self.inner.study(study) {
            None => Ok(JsValue::UNDEFINED),
            Some(a) => from_serde(&serde_json::json!({
                "spent": a.spent(), "remaining": a.remaining(), "releases": a.releases(),
            })),
        }
    }

    /// The ledger as JSON.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> Result<String, JsValue> {
        serde_json::to_string(&self.inner).map_err(|e| js_err(Error::InvalidRecord(e.to_string())))
    }
}

/// The smallest ε such that ρ-zCDP implies (ε, δ)-DP (Canonne, Kamath & Steinke 2020).
#[wasm_bindgen(js_name = zcdpEpsilon)]
pub fn zcdp_epsilon(rho: f64, delta: f64) -> f64 {
    crate::dp::account::zcdp_epsilon(rho, delta)
}

// ---------------------------------------------------------------------------------
// Private statistics under TFHE (the `phiveil/fhe` bundle).

#[cfg(feature = "fhe")]
#[wasm_bindgen(typescript_custom_section)]
const FHE_TS: &str = r#"
/** One integer field of a study (see the README's private statistics section). */
export interface StudyField {
  name: string; lo: number; hi: number;
  bins?: number[]; at_least?: number[];
  dp?: { mode: DpMode; privacy: Privacy };
}
/** A study declaration as the relay returns it (`GET /v1/studies/{id}` → `spec`).
 * `encoding`: `proven` (ranges of 2^k values; the submission carries histogram cells
 * and threshold bits, proven) or `checked` (the relay clamps and compares; the default). */
export interface StudySpec { id: string; fields: StudyField[]; min_cohort: number; encoding?: "checked" | "proven"; }
/** Milliseconds each ceremony step took in this browser. */
export interface CeremonyTimings { client_key_ms: number; server_key_ms: number; public_key_ms: number; crs_ms: number; }
/** One field of a decrypted release. */
export interface FieldResult {
  name: string; sum: number; mean: number; bins: number[]; at_least: number[];
  sum_interval: DpEstimate | null; mean_interval: DpEstimate | null;
}
"#;

/// Starts tfhe's proof worker pool with `workers` web workers, this (dedicated) worker
/// as its executor. Proofs made in this worker afterwards spread their multi-scalar
/// multiplications over the pool by message passing (no SharedArrayBuffer, no
/// cross-origin isolation). The page must have registered the pool's coordinator
/// service worker (`/coordinator.js`) and be controlled by it.
#[cfg(feature = "fhe")]
#[wasm_bindgen(js_name = startProofPool)]
pub async fn start_proof_pool(workers: u32) -> Result<(), JsValue> {
    wasm_par_mq::init_pool_sync_from_worker(Some(workers.max(1)))
        .await
        .map_err(|e| JsValue::from_str(&format!("the proof workers could not start: {e}")))
}

#[cfg(feature = "fhe")]
fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[cfg(feature = "fhe")]
fn spec_from_js(v: &JsValue) -> Result<crate::fhe::StudySpec, JsValue> {
    let spec: crate::fhe::StudySpec = serde_json::from_value(to_serde(v)?)
        .map_err(|e| js_err(Error::InvalidRecord(format!("study: {e}"))))?;
    spec.validate().map_err(js_err)?;
    Ok(spec)
}

/// A study on the browser side: the patient encrypts and proves a submission; the owner
/// runs the key ceremony and decrypts the release.
#[cfg(feature = "fhe")]
#[wasm_bindgen]
pub struct FheStudy {
    spec: crate::fhe::StudySpec,
}

#[cfg(feature = "fhe")]
#[wasm_bindgen]
impl FheStudy {
    /// A study from its declaration (`spec` as the relay returns it).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "StudySpec")] spec: JsValue,
    ) -> Result<FheStudy, JsValue> {
        Ok(FheStudy {
            spec: spec_from_js(&spec)?,
        })
    }

    /// What one submission costs a patient (`Privacy`), or `undefined` without DP.
    #[wasm_bindgen(js_name = privacyCost, unchecked_return_type = "Privacy | undefined")]
    pub fn privacy_cost(&self) -> Result<JsValue, JsValue> {
        match self.spec.privacy_cost() {
            None => Ok(JsValue::UNDEFINED),
            Some(p) => from_serde(&serde_json::to_value(p).unwrap_or_default()),
        }
    }

    /// Patient: checks `values` (one per field) against the declared ranges, charges the
    /// study's privacy cost to `ledger` under the patient's `budget` (refused past it,
    /// nothing charged on any failure), adds the patient-side DP noise, and encrypts all
    /// fields as one compact list under the study's public key with a zero-knowledge
    /// proof bound to the study and `patient`. Returns the bytes to upload.
    #[wasm_bindgen(js_name = encryptSubmission)]
    pub fn encrypt_submission(
        &self,
        public_key: &[u8],
        crs: &[u8],
        patient: &str,
        values: Vec<f64>,
        ledger: &mut PrivacyLedger,
        #[wasm_bindgen(unchecked_param_type = "Privacy | undefined")] budget: JsValue,
    ) -> Result<Vec<u8>, JsValue> {
        let values = values
            .iter()
            .map(|v| safe_integer(*v, "study values are integers"))
            .collect::<Result<Vec<i64>, JsValue>>()?;
        let mut next = ledger.inner.clone();
        if let Some(cost) = self.spec.privacy_cost() {
            let budget: crate::dp::Privacy = serde_json::from_value(to_serde(&budget)?)
                .map_err(|_| bad_arg("a DP study needs the patient's privacy budget"))?;
            next.charge(&self.spec.id, budget, cost).map_err(js_err)?;
        }
        let pk = crate::fhe::public_key_from_bytes(public_key).map_err(js_err)?;
        let crs = crate::fhe::crs_from_bytes(crs).map_err(js_err)?;
        let bytes = crate::fhe::encrypt_submission(
            &self.spec,
            &pk,
            &crs,
            patient,
            &values,
            &mut rand_core::OsRng,
        )
        .map_err(js_err)?;
        ledger.inner = next;
        Ok(bytes)
    }

    /// Owner: the key ceremony (client key, compressed server key, compact public key,
    /// and the CRS when `withCrs`; otherwise the relay makes it at opening).
    #[wasm_bindgen(js_name = keyCeremony)]
    pub fn key_ceremony(&self, with_crs: bool) -> Result<FheOwnerKeys, JsValue> {
        let (keys, timings) =
            crate::fhe::key_ceremony(&self.spec, with_crs, now_ms).map_err(js_err)?;
        let server = crate::fhe::to_bytes(&keys.server).map_err(js_err)?;
        let public = crate::fhe::to_bytes(&keys.public).map_err(js_err)?;
        let crs = keys
            .crs
            .as_ref()
            .map(crate::fhe::to_bytes)
            .transpose()
            .map_err(js_err)?;
        Ok(FheOwnerKeys {
            study: self.spec.id.clone(),
            client: keys.client,
            server,
            public,
            crs,
            timings,
        })
    }

    /// Owner: decrypts a release (as downloaded from the relay) and interprets it: sums,
    /// means, histogram and threshold counts, and DP intervals at `confidence`.
    #[wasm_bindgen(js_name = decryptRelease, unchecked_return_type = "FieldResult[]")]
    pub fn decrypt_release(
        &self,
        key: &FheClientKey,
        release: &[u8],
        confidence: f64,
    ) -> Result<JsValue, JsValue> {
        let release = crate::fhe::Release::from_bytes(release).map_err(js_err)?;
        if release.study != self.spec.id {
            return Err(bad_arg("the release belongs to another study"));
        }
        let out = crate::fhe::decrypt_release(&self.spec, &key.inner, &release, confidence)
            .map_err(js_err)?;
        from_serde(&serde_json::to_value(out).unwrap_or_default())
    }
}

/// The outputs of an owner's key ceremony: the public ones to upload, and the client
/// key, which leaves only wrapped.
#[cfg(feature = "fhe")]
#[wasm_bindgen]
pub struct FheOwnerKeys {
    study: String,
    client: tfhe::ClientKey,
    server: Vec<u8>,
    public: Vec<u8>,
    crs: Option<Vec<u8>>,
    timings: crate::fhe::CeremonyTimings,
}

#[cfg(feature = "fhe")]
#[wasm_bindgen]
impl FheOwnerKeys {
    /// The compressed server key (for the relay).
    #[wasm_bindgen(js_name = serverKey)]
    pub fn server_key(&self) -> Vec<u8> {
        self.server.clone()
    }

    /// The compact public key (for the relay, which gives it to patients).
    #[wasm_bindgen(js_name = publicKey)]
    pub fn public_key(&self) -> Vec<u8> {
        self.public.clone()
    }

    /// The CRS, when the ceremony made it.
    pub fn crs(&self) -> Option<Vec<u8>> {
        self.crs.clone()
    }

    /// How long each step took here, in milliseconds.
    #[wasm_bindgen(unchecked_return_type = "CeremonyTimings")]
    pub fn timings(&self) -> Result<JsValue, JsValue> {
        from_serde(&serde_json::to_value(self.timings).unwrap_or_default())
    }

    /// The client key wrapped under `passphrase` (Argon2id, default cost unless `cost`
    /// is given, then AES-256-GCM bound to the study). Store it; upload it for another
    /// device.
    #[wasm_bindgen(js_name = wrapClientKey)]
    pub fn wrap_client_key(
        &self,
        passphrase: &str,
        #[wasm_bindgen(unchecked_param_type = "KdfParams | undefined")] cost: JsValue,
    ) -> Result<Vec<u8>, JsValue> {
        let cost = kdf_params(&cost)?;
        crate::fhe::wrap_client_key(
            &self.client,
            &self.study,
            passphrase,
            cost,
            &mut rand_core::OsRng,
        )
        .map_err(js_err)
    }

    /// The client key, for decrypting in this session (consumes the ceremony).
    #[wasm_bindgen(js_name = intoClientKey)]
    pub fn into_client_key(self) -> FheClientKey {
        FheClientKey { inner: self.client }
    }
}

/// A study's client key in this browser's memory (from the ceremony or unwrapped).
#[cfg(feature = "fhe")]
#[wasm_bindgen]
pub struct FheClientKey {
    inner: tfhe::ClientKey,
}

#[cfg(feature = "fhe")]
#[wasm_bindgen]
impl FheClientKey {
    /// Unwraps a client key wrapped for `study` under `passphrase`; a wrong passphrase
    /// throws `DecryptFailed`.
    pub fn unwrap(wrapped: &[u8], study: &str, passphrase: &str) -> Result<FheClientKey, JsValue> {
        Ok(FheClientKey {
            inner: crate::fhe::unwrap_client_key(wrapped, study, passphrase).map_err(js_err)?,
        })
    }
}
