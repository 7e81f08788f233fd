//! Field-level encryption of JSON records.
//!
//! Selected fields (by path: `patient.ssn`, `visits[*].notes`, `codes[0]`) are
//! encrypted in place; every other field stays readable so the record can still be
//! indexed. One data key protects the whole record; it is wrapped by the same
//! keyrings and bound to the same encryption context as an ESDK message, in an ESDK
//! v2 header carried inside the record:
//!
//! ```json
//! { "patient": { "name": "phv1:…", "zip": "021" },
//!   "_phiveil": { "v": 1, "header": "<base64 ESDK header>",
//!                 "fields": ["/patient/name"], "mac": "<base64>" } }
//! ```
//!
//! Keys: `HKDF-SHA512(salt = message ID, ikm = data key)` expanded with
//! `"phiveil:field:v1\0" ‖ JSON Pointer` for each field and `"phiveil:record-mac:v1"`
//! for the record MAC. Each field is AES-256-GCM encrypted under its own key with the
//! message ID and its JSON Pointer (RFC 6901) as AAD, so a ciphertext moved to
//! another path or record fails. The record MAC (HMAC-SHA256 over the canonical
//! JSON of the whole record: keys sorted by UTF-8 bytes, no whitespace) detects any
//! change to plain fields, the field list, or swapped fields.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Sha256, Sha512};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::esdk::cmm::{DecryptionRequest, EncryptionRequest, MaterialsProvider};
use crate::esdk::context::{self, EncryptionContext};
use crate::esdk::header::{Header, Limits};
use crate::esdk::suite::{AlgorithmSuite, MessageKeys, IV_LEN, MESSAGE_ID_LEN, TAG_LEN};
use crate::secret::DataKey;

/// Name of the metadata member added to encrypted records.
pub const META_KEY: &str = "_phiveil";
/// Prefix of encrypted field values.
pub const FIELD_PREFIX: &str = "phv1:";
const MAX_DEPTH: usize = 64;
const MAX_FIELDS: usize = 10_000;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
    /// Every element of an array (`[*]`).
    AnyIndex,
}

/// A parsed field path such as `visits[*].notes` or `patient.ssn`.
///
/// Grammar: members separated by `.`, each followed by zero or more `[n]` or `[*]`.
/// Member names may not contain `.`, `[` or `]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// Parses a path.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::InvalidPath(format!("{s:?}: {why}"));
        if s.is_empty() {
            return Err(bad("empty path"));
        }
        let mut segs = Vec::new();
        for part in s.split('.') {
            let (name, mut rest) = match part.find('[') {
                Some(i) => part.split_at(i),
                None => (part, ""),
            };
            if name.is_empty() {
                return Err(bad("empty member name"));
            }
            if name.contains(']') {
                return Err(bad("unexpected ']'"));
            }
            segs.push(Segment::Key(name.to_owned()));
            while !rest.is_empty() {
                let inner_end = rest.find(']').ok_or_else(|| bad("unclosed '['"))?;
                let inner = rest.get(1..inner_end).ok_or_else(|| bad("bad index"))?;
                segs.push(if inner == "*" {
                    Segment::AnyIndex
                } else {
                    Segment::Index(
                        inner
                            .parse()
                            .map_err(|_| bad("index is not a number or *"))?,
                    )
                });
                rest = rest.get(inner_end.saturating_add(1)..).unwrap_or_default();
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(bad("text after ']'"));
                }
            }
        }
        if segs.len() > MAX_DEPTH {
            return Err(bad("path too deep"));
        }
        Ok(Self(segs))
    }

    /// JSON Pointers (RFC 6901) of the values this path selects in `doc`.
    fn resolve(&self, doc: &Value) -> Vec<String> {
        let mut out = Vec::new();
        resolve_into(doc, &self.0, String::new(), &mut out);
        out
    }
}

fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn resolve_into(v: &Value, segs: &[Segment], ptr: String, out: &mut Vec<String>) {
    let Some((first, rest)) = segs.split_first() else {
        out.push(ptr);
        return;
    };
    match (first, v) {
        (Segment::Key(k), Value::Object(m)) => {
            if let Some(child) = m.get(k) {
                resolve_into(child, rest, format!("{ptr}/{}", escape_pointer(k)), out);
            }
        }
        (Segment::Index(i), Value::Array(a)) => {
            if let Some(child) = a.get(*i) {
                resolve_into(child, rest, format!("{ptr}/{i}"), out);
            }
        }
        (Segment::AnyIndex, Value::Array(a)) => {
            for (i, child) in a.iter().enumerate() {
                resolve_into(child, rest, format!("{ptr}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Serializes JSON canonically: object keys sorted by their UTF-8 bytes, no
/// whitespace, strings and numbers as `serde_json` writes them.
pub fn canonical_json(v: &Value, out: &mut Vec<u8>) -> Result<()> {
    canonical_inner(v, out, 0)
}

fn canonical_inner(v: &Value, out: &mut Vec<u8>, depth: usize) -> Result<()> {
    if depth > 512 {
        return Err(Error::InvalidRecord("record nested too deeply".into()));
    }
    let next = depth.saturating_add(1);
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k)
                    .map_err(|e| Error::InvalidRecord(e.to_string()))?;
                out.push(b':');
                if let Some(child) = m.get(*k) {
                    canonical_inner(child, out, next)?;
                }
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, child) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_inner(child, out, next)?;
            }
            out.push(b']');
        }
        leaf => serde_json::to_writer(&mut *out, leaf)
            .map_err(|e| Error::InvalidRecord(e.to_string()))?,
    }
    Ok(())
}

struct RecordKeys {
    hk: Hkdf<Sha512>,
    message_id: [u8; MESSAGE_ID_LEN],
}

impl RecordKeys {
    fn new(data_key: &DataKey, message_id: [u8; MESSAGE_ID_LEN]) -> Self {
        Self {
            hk: Hkdf::<Sha512>::new(Some(&message_id), data_key.expose_secret()),
            message_id,
        }
    }

    fn field_cipher(&self, pointer: &str) -> Result<Aes256Gcm> {
        let mut info = b"phiveil:field:v1\0".to_vec();
        info.extend_from_slice(pointer.as_bytes());
        let mut k = Zeroizing::new([0u8; 32]);
        self.hk
            .expand(&info, k.as_mut())
            .map_err(|_| Error::InvalidConfig("HKDF output length"))?;
        Aes256Gcm::new_from_slice(k.as_ref()).map_err(|_| Error::InvalidKey("field key"))
    }

    fn field_aad(&self, pointer: &str) -> Vec<u8> {
        let mut aad = self.message_id.to_vec();
        aad.extend_from_slice(pointer.as_bytes());
        aad
    }

    fn mac(&self) -> Result<Hmac<Sha256>> {
        let mut k = Zeroizing::new([0u8; 32]);
        self.hk
            .expand(b"phiveil:record-mac:v1", k.as_mut())
            .map_err(|_| Error::InvalidConfig("HKDF output length"))?;
        <Hmac<Sha256> as Mac>::new_from_slice(k.as_ref()).map_err(|_| Error::InvalidKey("MAC key"))
    }
}

fn pointer_mut<'a>(doc: &'a mut Value, pointer: &str) -> Result<&'a mut Value> {
    doc.pointer_mut(pointer)
        .ok_or_else(|| Error::InvalidRecord(format!("no value at {pointer}")))
}

fn record_mac(keys: &RecordKeys, record: &Value) -> Result<Hmac<Sha256>> {
    let mut canon = Zeroizing::new(Vec::new());
    canonical_json(record, &mut canon)?;
    let mut mac = keys.mac()?;
    mac.update(&canon);
    Ok(mac)
}

/// Encrypts the fields selected by `paths` in `record` (a JSON object).
///
/// Paths that select nothing are ignored. Returns the record with encrypted field
/// values and a `_phiveil` metadata member.
pub fn encrypt_record(
    provider: &dyn MaterialsProvider,
    record: &Value,
    paths: &[&str],
    context: &EncryptionContext,
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<Value> {
    let Value::Object(obj) = record else {
        return Err(Error::InvalidRecord(
            "a record must be a JSON object".into(),
        ));
    };
    if obj.contains_key(META_KEY) {
        return Err(Error::InvalidRecord(format!("{META_KEY} is reserved")));
    }
    context::check_caller_context(context)?;
    let mut pointers: Vec<String> = Vec::new();
    for p in paths {
        for ptr in FieldPath::parse(p)?.resolve(record) {
            if !pointers.contains(&ptr) {
                pointers.push(ptr);
            }
        }
    }
    // A field nested inside another selected field would be encrypted twice.
    for a in &pointers {
        if pointers
            .iter()
            .any(|b| b != a && a.starts_with(&format!("{b}/")))
        {
            return Err(Error::InvalidPath(format!(
                "{a} lies inside another selected field"
            )));
        }
    }
    if pointers.len() > MAX_FIELDS {
        return Err(Error::LimitExceeded {
            what: "encrypted fields per record",
            limit: MAX_FIELDS as u64,
        });
    }
    let suite = AlgorithmSuite::default();
    let req = EncryptionRequest {
        context,
        suite,
        max_plaintext_length: None,
    };
    let materials = provider.encryption_materials(&req, rng)?;
    let data_key = materials
        .data_key
        .as_ref()
        .ok_or(Error::InvalidConfig("materials without a data key"))?;
    let mut message_id = [0u8; MESSAGE_ID_LEN];
    rng.try_fill_bytes(&mut message_id)
        .map_err(|_| Error::Rng)?;
    let mkeys = MessageKeys::derive(suite, data_key, &message_id)?;
    let mut header = Header::serialize_body(
        suite,
        &message_id,
        &materials.context,
        &materials.encrypted_data_keys,
        crate::esdk::stream::DEFAULT_FRAME_LENGTH,
        &mkeys.commitment,
    )?;
    let tag = mkeys.seal(&[0u8; IV_LEN], &header, &mut [])?;
    header.extend_from_slice(&tag);

    let keys = RecordKeys::new(data_key, message_id);
    let mut out = record.clone();
    for ptr in &pointers {
        let slot = pointer_mut(&mut out, ptr)?;
        let mut buf = Zeroizing::new(
            serde_json::to_vec(slot).map_err(|e| Error::InvalidRecord(e.to_string()))?,
        );
        let cipher = keys.field_cipher(ptr)?;
        let tag = cipher
            .encrypt_in_place_detached(
                Nonce::from_slice(&[0u8; IV_LEN]),
                &keys.field_aad(ptr),
                buf.as_mut_slice(),
            )
            .map_err(|_| Error::InvalidRecord("field too large".into()))?;
        let mut sealed = buf.to_vec();
        sealed.extend_from_slice(&tag);
        *slot = Value::String(format!("{FIELD_PREFIX}{}", B64.encode(&sealed)));
    }
    let mut meta = Map::new();
    meta.insert("v".into(), Value::from(1));
    meta.insert("header".into(), Value::String(B64.encode(&header)));
    meta.insert(
        "fields".into(),
        Value::Array(pointers.iter().cloned().map(Value::String).collect()),
    );
    if let Value::Object(m) = &mut out {
        m.insert(META_KEY.into(), Value::Object(meta));
    }
    let mac = record_mac(&keys, &out)?.finalize().into_bytes();
    if let Some(Value::Object(m)) = out.get_mut(META_KEY) {
        m.insert("mac".into(), Value::String(B64.encode(mac)));
    }
    Ok(out)
}

/// A decrypted record and the authenticated encryption context it was bound to.
#[derive(Debug, Clone, PartialEq)]
pub struct DecryptedRecord {
    /// The record with every encrypted field restored and the metadata removed.
    pub record: Value,
    /// The encryption context from the record's header.
    pub context: EncryptionContext,
    /// JSON Pointers of the fields that were encrypted.
    pub fields: Vec<String>,
}

fn meta_str<'a>(meta: &'a Map<String, Value>, key: &str) -> Result<&'a str> {
    meta.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::InvalidRecord(format!("{META_KEY}.{key} missing or not a string")))
}

/// Decrypts a record made by [`encrypt_record`]. `expected` entries must be bound in
/// the record's encryption context. Any change to the record fails as
/// [`Error::DecryptFailed`].
pub fn decrypt_record(
    provider: &dyn MaterialsProvider,
    record: &Value,
    expected: &EncryptionContext,
    limits: &Limits,
) -> Result<DecryptedRecord> {
    let meta = record
        .get(META_KEY)
        .and_then(Value::as_object)
        .ok_or_else(|| Error::InvalidRecord(format!("{META_KEY} metadata missing")))?;
    if meta.get("v").and_then(Value::as_u64) != Some(1) {
        return Err(Error::InvalidRecord(
            "unsupported field-level format version".into(),
        ));
    }
    let header_bytes = B64
        .decode(meta_str(meta, "header")?)
        .map_err(|_| Error::InvalidRecord("header is not base64".into()))?;
    let mac = B64
        .decode(meta_str(meta, "mac")?)
        .map_err(|_| Error::InvalidRecord("mac is not base64".into()))?;
    let fields: Vec<String> = meta
        .get("fields")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::InvalidRecord("fields missing".into()))?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or_else(|| Error::InvalidRecord("fields must be strings".into()))?;
    if fields.len() > MAX_FIELDS {
        return Err(Error::LimitExceeded {
            what: "encrypted fields per record",
            limit: MAX_FIELDS as u64,
        });
    }

    let (header, len) = Header::parse(&header_bytes, limits)?;
    if len != header_bytes.len() {
        return Err(Error::TrailingBytes);
    }
    let req = DecryptionRequest {
        suite: header.suite,
        context: &header.context,
        encrypted_data_keys: &header.encrypted_data_keys,
    };
    let materials = provider.decryption_materials(&req)?;
    let data_key = materials.data_key.as_ref().ok_or(Error::NoMatchingKey)?;
    let mkeys = MessageKeys::derive(header.suite, data_key, &header.message_id)?;
    if !mkeys.commitment_matches(&header.commitment) {
        return Err(Error::DecryptFailed);
    }
    mkeys.open(&[0u8; IV_LEN], &header.body, &mut [], &header.auth_tag)?;
    context::check_expected(&header.context, expected)?;

    let keys = RecordKeys::new(data_key, header.message_id);
    let mut unsigned = record.clone();
    if let Some(Value::Object(m)) = unsigned.get_mut(META_KEY) {
        m.remove("mac");
    }
    record_mac(&keys, &unsigned)?
        .verify_slice(&mac)
        .map_err(|_| Error::DecryptFailed)?;

    let mut out = record.clone();
    if let Value::Object(m) = &mut out {
        m.remove(META_KEY);
    }
    for ptr in &fields {
        let slot = pointer_mut(&mut out, ptr).map_err(|_| Error::DecryptFailed)?;
        let sealed = slot
            .as_str()
            .and_then(|s| s.strip_prefix(FIELD_PREFIX))
            .and_then(|s| B64.decode(s).ok())
            .ok_or(Error::DecryptFailed)?;
        if sealed.len() < TAG_LEN {
            return Err(Error::DecryptFailed);
        }
        let (ct, tag) = sealed.split_at(sealed.len().saturating_sub(TAG_LEN));
        let mut buf = Zeroizing::new(ct.to_vec());
        keys.field_cipher(ptr)?
            .decrypt_in_place_detached(
                Nonce::from_slice(&[0u8; IV_LEN]),
                &keys.field_aad(ptr),
                buf.as_mut_slice(),
                Tag::from_slice(tag),
            )
            .map_err(|_| Error::DecryptFailed)?;
        *slot = serde_json::from_slice(&buf).map_err(|_| Error::DecryptFailed)?;
    }
    Ok(DecryptedRecord {
        record: out,
        context: header.context,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths() {
        assert_eq!(
            FieldPath::parse("visits[*].notes").unwrap().0,
            vec![
                Segment::Key("visits".into()),
                Segment::AnyIndex,
                Segment::Key("notes".into())
            ]
        );
        assert_eq!(
            FieldPath::parse("a[1][2]").unwrap().0,
            vec![
                Segment::Key("a".into()),
                Segment::Index(1),
                Segment::Index(2)
            ]
        );
        for bad in ["", ".a", "a.", "a[", "a[x]", "a]b", "a[1]b", "a..b"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn canonical_json_sorts_keys_by_bytes() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"B":[true,null],"é":"x","a":{"z":1,"y":2}}"#).unwrap();
        let mut out = Vec::new();
        canonical_json(&v, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"B":[true,null],"a":{"y":2,"z":1},"b":1,"é":"x"}"#
        );
    }

    #[test]
    fn pointers_escape_special_characters() {
        let v: Value = serde_json::from_str(r#"{"a/b":{"c~d":1}}"#).unwrap();
        let ptrs = FieldPath::parse("a/b.c~d").unwrap().resolve(&v);
        assert_eq!(ptrs, vec!["/a~1b/c~0d".to_string()]);
    }
}
