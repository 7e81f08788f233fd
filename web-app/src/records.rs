//! Records: composed, redacted, encrypted and decrypted in the browser with
//! `phiveil-core`. The relay hands out data keys (KMS-wrapped) and presigned URLs; it
//! never receives a record's plaintext.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use phiveil_core::esdk::context::record_context;
use phiveil_core::esdk::{
    self, BrokeredKmsKeyring, DecryptOptions, EncryptOptions, EncryptedDataKey, Header,
};
use phiveil_core::pii::{Action, Policy, Redactor};
use phiveil_core::secret::DataKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::net::{self, AppError, Payload};

/// The content type of stored records.
pub const CONTENT_TYPE: &str = "application/vnd.phiveil.esdk";

/// Record types a patient can write (each is a grant scope).
pub const RECORD_TYPES: [&str; 4] = ["visit-note", "lab-result", "medication", "vitals"];

/// A record as the patient writes it (the plaintext that is encrypted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// Short title.
    #[serde(default)]
    pub title: String,
    /// Date (YYYY-MM-DD).
    #[serde(default)]
    pub date: String,
    /// Diagnosis, result or medication.
    #[serde(default)]
    pub finding: String,
    /// Free-text notes (redacted before encryption).
    #[serde(default)]
    pub notes: String,
}

impl Draft {
    /// Reads an imported file: a JSON record (`title`, `date`, `finding`, `notes`; a
    /// FHIR resource's `text.div`/`note[].text` as notes) or plain text as the notes.
    pub fn import(text: &str) -> Self {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return Self {
                notes: text.to_owned(),
                ..Self::default()
            };
        };
        if v.get("resourceType").is_some() {
            let notes = v["note"]
                .as_array()
                .map(|n| {
                    n.iter()
                        .filter_map(|x| x["text"].as_str())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            return Self {
                title: v["code"]["text"]
                    .as_str()
                    .or_else(|| v["resourceType"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
                date: v["effectiveDateTime"]
                    .as_str()
                    .or_else(|| v["recordedDate"].as_str())
                    .map(|d| d.chars().take(10).collect())
                    .unwrap_or_default(),
                finding: v["valueString"]
                    .as_str()
                    .or_else(|| v["code"]["coding"][0]["display"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
                notes,
            };
        }
        serde_json::from_value(v).unwrap_or_default()
    }
}

/// One finding of the PII preview (byte offsets into the notes).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Entity name (e.g. `PHONE_NUMBER`).
    pub entity: &'static str,
    /// Byte range in the notes.
    pub range: std::ops::Range<usize>,
    /// What will be done (`mask`, `generalize`, …).
    pub action: &'static str,
}

/// The redactor with the default policy (mask identifiers, generalize dates/ZIP/ages).
pub fn redactor() -> Result<Redactor, AppError> {
    Ok(Redactor::new(Policy::default())?)
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Block => "block",
        Action::Mask => "mask",
        Action::Pseudonymize => "pseudonymize",
        Action::Generalize => "generalize",
        Action::Keep => "keep",
    }
}

/// What the redactor will do to `text`: the findings and the redacted text.
pub fn preview(r: &Redactor, text: &str) -> Result<(Vec<Finding>, String), AppError> {
    let red = r.redact(text, None)?;
    let findings = red
        .spans
        .iter()
        .map(|s| Finding {
            entity: s.entity.name(),
            range: s.start..s.end,
            action: action_name(s.action),
        })
        .collect();
    Ok((findings, red.text))
}

fn b64(v: &Value, what: &str) -> Result<Vec<u8>, AppError> {
    v.as_str()
        .and_then(|s| B64.decode(s).ok())
        .ok_or_else(|| AppError::local("bad-answer", format!("{what} is not base64")))
}

/// A keyring holding the data key of a `/v1/keys/data-key` or `/v1/keys/unwrap` answer.
fn keyring(body: &Value) -> Result<BrokeredKmsKeyring, AppError> {
    let edk = &body["encrypted_data_key"];
    let key = DataKey::from_slice(&b64(&body["data_key"], "data_key")?)?;
    Ok(BrokeredKmsKeyring::from_encrypted_data_key(
        EncryptedDataKey {
            provider_id: edk["provider_id"].as_str().unwrap_or_default().to_owned(),
            provider_info: b64(&edk["provider_info"], "provider_info")?,
            ciphertext: b64(&edk["ciphertext"], "ciphertext")?,
        },
        key,
    )?)
}

/// Encrypts `draft` (notes already redacted) for `patient` and uploads it: a data key
/// from the relay, an ESDK message made here, a presigned PUT, completion. Returns the
/// record id.
pub async fn encrypt_and_upload(
    patient: &str,
    record_type: &str,
    draft: &Draft,
) -> Result<String, AppError> {
    let ctx = record_context(patient, record_type);
    let dk = net::api("POST", "/v1/keys/data-key", Some(json!({ "context": ctx }))).await?;
    let plaintext = zeroize::Zeroizing::new(
        serde_json::to_vec(draft).map_err(|e| AppError::local("InvalidRecord", e.to_string()))?,
    );
    let message = esdk::encrypt(
        &keyring(&dk)?,
        &plaintext,
        &ctx,
        &EncryptOptions::default(),
        &mut rand_core::OsRng,
    )?;
    let created = net::api(
        "POST",
        "/v1/records",
        Some(json!({ "record_type": record_type, "size": message.len(), "content_type": CONTENT_TYPE })),
    )
    .await?;
    let id = created["record"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    net::upload(&created["upload"], message, Payload::Esdk).await?;
    net::api("POST", &format!("/v1/records/{id}/complete"), None).await?;
    Ok(id)
}

/// Downloads record `id`, has the relay unwrap its data key (the grant is checked
/// there) and decrypts it here, checking the context the caller expects.
pub async fn open(id: &str, patient: &str, record_type: &str) -> Result<Draft, AppError> {
    let rec = net::api("GET", &format!("/v1/records/{id}"), None).await?;
    let message = net::download(&rec["download"]).await?;
    let (_, header_len) = Header::parse(&message, &Default::default())?;
    let header = message.get(..header_len).unwrap_or_default();
    let ctx = record_context(patient, record_type);
    let unwrapped = net::api(
        "POST",
        "/v1/keys/unwrap",
        Some(json!({ "header": B64.encode(header), "context": ctx })),
    )
    .await?;
    let out = esdk::decrypt(
        &keyring(&unwrapped)?,
        &message,
        &DecryptOptions::expecting(ctx),
    )?;
    let plaintext = zeroize::Zeroizing::new(out.plaintext);
    serde_json::from_slice(&plaintext)
        .map_err(|e| AppError::local("InvalidRecord", format!("not a phiveil record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_json_fhir_and_text() {
        let d = Draft::import(r#"{"title":"Checkup","notes":"ok","date":"2026-01-02"}"#);
        assert_eq!(d.title, "Checkup");
        assert_eq!(d.date, "2026-01-02");
        let f = Draft::import(
            r#"{"resourceType":"Observation","code":{"text":"Heart rate"},"effectiveDateTime":"2026-03-04T10:00:00Z","valueString":"72","note":[{"text":"a"},{"text":"b"}]}"#,
        );
        assert_eq!(f.title, "Heart rate");
        assert_eq!(f.date, "2026-03-04");
        assert_eq!(f.notes, "a\nb");
        assert_eq!(Draft::import("just text").notes, "just text");
    }

    #[test]
    fn preview_masks_a_phone_number() {
        let r = redactor().unwrap();
        let text = "Call me at 617-555-0199 tomorrow.";
        let (findings, redacted) = preview(&r, text).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].entity, "PHONE");
        assert!(!redacted.contains("555-0199"));
    }
}
