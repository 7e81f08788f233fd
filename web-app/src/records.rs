//! Records: composed, redacted, encrypted and decrypted in the browser with
//! `phiveil-core`. The relay hands out data keys (KMS-wrapped) and presigned URLs; it
//! never receives a record's plaintext.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use phiveil_core::esdk::context::record_context;
use phiveil_core::esdk::ecdh::RAW_ECDH_PROVIDER_ID;
use phiveil_core::esdk::{
    self, share_data_key, BrokeredKmsKeyring, DecryptOptions, EncryptOptions, Header, KeyAgreement,
    Keyring, MultiKeyring, RawEcdhKeyring,
};
use phiveil_core::pii::{Action, Policy, Redactor};
use phiveil_core::secret::DataKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::keys::{self, Mode};
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
    /// Free-text notes, as the patient wrote them.
    #[serde(default)]
    pub notes: String,
    /// The de-identified copy of this record, made in the browser when it was written:
    /// what may be shared beyond the patient and the clinicians they grant (research
    /// exports). The fields above stay as written, for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedCopy>,
}

/// A record's de-identified copy: every free-text field redacted with the strict (Safe
/// Harbor) profile and the date generalized to its year.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedCopy {
    /// The title, redacted.
    #[serde(default)]
    pub title: String,
    /// The year of the record's date (Safe Harbor keeps no finer date element).
    #[serde(default)]
    pub year: String,
    /// The diagnosis, result or medication, redacted.
    #[serde(default)]
    pub finding: String,
    /// The notes, redacted.
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
                finding: fhir_value(&v),
                notes,
                shared: None,
            };
        }
        serde_json::from_value(v).unwrap_or_default()
    }
}

/// An imported FHIR resource's value as text: a quantity with its unit ("72 /min"), a
/// string, a code's display, with the code's name before a quantity.
fn fhir_value(v: &Value) -> String {
    let display = v["code"]["coding"][0]["display"]
        .as_str()
        .or_else(|| v["code"]["text"].as_str());
    let q = &v["valueQuantity"];
    if let Some(value) = q.get("value").filter(|x| x.is_number()) {
        let unit = q["unit"]
            .as_str()
            .or_else(|| q["code"].as_str())
            .unwrap_or_default();
        let amount = format!("{value} {unit}").trim_end().to_owned();
        return match display {
            Some(d) => format!("{d}: {amount}"),
            None => amount,
        };
    }
    v["valueString"]
        .as_str()
        .or_else(|| v["valueCodeableConcept"]["text"].as_str())
        .or(display)
        .unwrap_or_default()
        .to_owned()
}

/// One finding of the PII preview (byte offsets into its field).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Which field it is in (`title`, `finding`, `notes`).
    pub field: &'static str,
    /// Entity name (e.g. `PHONE_NUMBER`).
    pub entity: &'static str,
    /// Byte range in the notes.
    pub range: std::ops::Range<usize>,
    /// What will be done (`mask`, `generalize`, …).
    pub action: &'static str,
}

/// The redactor of shared copies: the strict (Safe Harbor, recall-first) profile,
/// identifiers masked, dates kept to their year, ZIP codes to three digits, ages over 89
/// as "90+".
pub fn redactor() -> Result<Redactor, AppError> {
    Ok(Redactor::new(Policy::strict())?)
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

/// What the redactor will do to `text` (field `field`): the findings and the redacted
/// text.
pub fn preview(
    r: &Redactor,
    field: &'static str,
    text: &str,
) -> Result<(Vec<Finding>, String), AppError> {
    let red = r.redact(text, None)?;
    let findings = red
        .spans
        .iter()
        .map(|s| Finding {
            field,
            entity: s.entity.name(),
            range: s.start..s.end,
            action: action_name(s.action),
        })
        .collect();
    Ok((findings, red.text))
}

/// The de-identified copy of `draft` and what was removed from each free-text field.
pub fn shared_copy(r: &Redactor, draft: &Draft) -> Result<(SharedCopy, Vec<Finding>), AppError> {
    let (mut found, title) = preview(r, "title", &draft.title)?;
    let (f, finding) = preview(r, "finding", &draft.finding)?;
    found.extend(f);
    let (f, notes) = preview(r, "notes", &draft.notes)?;
    found.extend(f);
    let year = draft.date.chars().take(4).collect::<String>();
    let year = if year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()) {
        year
    } else {
        String::new()
    };
    Ok((
        SharedCopy {
            title,
            year,
            finding,
            notes,
        },
        found,
    ))
}

fn b64(v: &Value, what: &str) -> Result<Vec<u8>, AppError> {
    v.as_str()
        .and_then(|s| B64.decode(s).ok())
        .ok_or_else(|| AppError::local("bad-answer", format!("{what} is not base64")))
}

/// A keyring holding the data key of a `/v1/keys/data-key` or `/v1/keys/unwrap` answer.
fn keyring(body: &Value) -> Result<BrokeredKmsKeyring, AppError> {
    let key = DataKey::from_slice(&b64(&body["data_key"], "data_key")?)?;
    Ok(BrokeredKmsKeyring::from_encrypted_data_key(
        keys::edk_from_json(&body["encrypted_data_key"])?,
        key,
    )?)
}

/// Encrypts `draft` (as written, with its de-identified copy) for `patient` and uploads
/// it: an ESDK message made here, a presigned PUT, completion. Returns the record id.
///
/// End-to-end mode: the data key is made here and wrapped for the patient's own public
/// key, each clinician who holds a grant for `record_type` (their published keys) and,
/// when the deployment keeps one, the institution's escrow key. Brokered mode: the data
/// key comes from the relay's KMS.
pub async fn encrypt_and_upload(
    patient: &str,
    record_type: &str,
    draft: &Draft,
) -> Result<String, AppError> {
    let ctx = record_context(patient, record_type);
    let keyring = match keys::mode().await? {
        Mode::Brokered => {
            let dk = net::api("POST", "/v1/keys/data-key", Some(json!({ "context": ctx }))).await?;
            MultiKeyring::new(Some(Box::new(keyring(&dk)?)), Vec::new())?
        }
        Mode::EndToEnd { escrow } => {
            let me = keys::mine()?;
            let mut others: Vec<Box<dyn Keyring>> = Vec::new();
            for g in net::api_list("/v1/grants").await? {
                if g["record_type"] != record_type {
                    continue;
                }
                let clinician = g["clinician_id"].as_str().unwrap_or_default();
                if let Some((key, fingerprint)) = keys::published(clinician).await? {
                    if let Some(seen) = keys::pin_differs(clinician, &fingerprint)? {
                        let name = net::api_list("/v1/clinicians")
                            .await?
                            .into_iter()
                            .find(|c| c["id"] == clinician)
                            .and_then(|c| c["username"].as_str().map(str::to_owned))
                            .unwrap_or_else(|| clinician.to_owned());
                        return Err(keys::key_changed(&name, &seen, &fingerprint));
                    }
                    others.push(Box::new(RawEcdhKeyring::new(
                        KeyAgreement::EphemeralToStatic { recipient: key },
                    )?));
                }
            }
            if let Some(key) = escrow {
                others.push(Box::new(RawEcdhKeyring::new(
                    KeyAgreement::EphemeralToStatic { recipient: key },
                )?));
            }
            let own = RawEcdhKeyring::new(KeyAgreement::EphemeralToStatic {
                recipient: me.public,
            })?;
            MultiKeyring::new(Some(Box::new(own)), others)?
        }
    };
    let plaintext = zeroize::Zeroizing::new(
        serde_json::to_vec(draft).map_err(|e| AppError::local("InvalidRecord", e.to_string()))?,
    );
    let message = esdk::encrypt(
        &keyring,
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

/// How a record's data key is kept, as its header shows.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
    /// `end-to-end` (raw ECDH entries) or `brokered` (the relay's KMS).
    pub mode: &'static str,
    /// Public keys the data key is wrapped for in the header (escrow included).
    pub entries: usize,
    /// Whether one of them is the institution's escrow key.
    pub escrow: bool,
}

fn key_info(header: &Header, escrow: Option<&esdk::EcPublicKey>) -> KeyInfo {
    let ecdh = header
        .encrypted_data_keys
        .iter()
        .filter(|e| e.provider_id == RAW_ECDH_PROVIDER_ID)
        .count();
    KeyInfo {
        mode: if ecdh > 0 { "end-to-end" } else { "brokered" },
        entries: header.encrypted_data_keys.len(),
        escrow: escrow.is_some_and(|k| {
            header
                .encrypted_data_keys
                .iter()
                .any(|e| esdk::ecdh::addressed_to(e, k))
        }),
    }
}

/// Downloads record `id` and decrypts it here, checking the context the caller
/// expects. An end-to-end record opens with this device's key (its header entry, or
/// the share the patient wrote for this reader); a brokered one with the data key the
/// relay unwraps after checking the grant.
pub async fn open(
    id: &str,
    patient: &str,
    record_type: &str,
) -> Result<(Draft, KeyInfo), AppError> {
    let rec = net::api("GET", &format!("/v1/records/{id}"), None).await?;
    let message = net::download(&rec["download"]).await?;
    let (header, header_len) = Header::parse(&message, &Default::default())?;
    let escrow = match keys::mode().await? {
        Mode::EndToEnd { escrow } => escrow,
        Mode::Brokered => None,
    };
    let info = key_info(&header, escrow.as_ref());
    let ctx = record_context(patient, record_type);
    let out = if info.mode == "end-to-end" {
        let me = keys::account()?;
        let shares = match net::api("GET", &format!("/v1/records/{id}/shares/{me}"), None).await {
            Ok(v) => vec![keys::edk_from_json(&v)?],
            Err(e) if e.status == Some(404) => Vec::new(),
            Err(e) => return Err(e),
        };
        let reader = keys::reader(&message, shares).await?;
        esdk::decrypt(&reader, &message, &DecryptOptions::expecting(ctx))?
    } else {
        let header = message.get(..header_len).unwrap_or_default();
        let unwrapped = net::api(
            "POST",
            "/v1/keys/unwrap",
            Some(json!({ "header": B64.encode(header), "context": ctx })),
        )
        .await?;
        esdk::decrypt(
            &keyring(&unwrapped)?,
            &message,
            &DecryptOptions::expecting(ctx),
        )?
    };
    let plaintext = zeroize::Zeroizing::new(out.plaintext);
    let draft = serde_json::from_slice(&plaintext)
        .map_err(|e| AppError::local("InvalidRecord", format!("not a phiveil record: {e}")))?;
    Ok((draft, info))
}

/// End-to-end grant: wraps the data key of each of the patient's `record_type` records
/// for `clinician` (`key`, their published key) here, and stores the shares beside the
/// records. Returns how many records were shared. Records whose header already holds
/// an entry for the clinician need none.
pub async fn share_records(
    record_type: &str,
    clinician: &str,
    key: &esdk::EcPublicKey,
) -> Result<usize, AppError> {
    let mut shared: usize = 0;
    for rec in net::api_list("/v1/records").await? {
        if rec["record_type"] != record_type || rec["state"] != "complete" {
            continue;
        }
        let id = rec["id"].as_str().unwrap_or_default();
        let got = net::api("GET", &format!("/v1/records/{id}"), None).await?;
        let message = net::download(&got["download"]).await?;
        let (header, _) = Header::parse(&message, &Default::default())?;
        if header
            .encrypted_data_keys
            .iter()
            .any(|e| esdk::ecdh::addressed_to(e, key))
        {
            continue;
        }
        let reader = keys::reader(&message, Vec::new()).await?;
        let share = share_data_key(&reader, &message, key, &mut rand_core::OsRng)?;
        net::api(
            "PUT",
            &format!("/v1/records/{id}/shares/{clinician}"),
            Some(keys::edk_to_json(&share)),
        )
        .await?;
        shared = shared.saturating_add(1);
    }
    Ok(shared)
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
    fn fhir_import_keeps_the_value_and_unit() {
        let d = Draft::import(
            r#"{"resourceType":"Observation","code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],"text":"Heart rate"},"effectiveDateTime":"2026-03-04T10:00:00Z","valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}"#,
        );
        assert_eq!(d.finding, "Heart rate: 72 /min");
        let s = Draft::import(r#"{"resourceType":"Observation","valueString":"negative"}"#);
        assert_eq!(s.finding, "negative");
    }

    #[test]
    fn preview_masks_a_phone_number() {
        let r = redactor().unwrap();
        let text = "Call me at 617-555-0199 tomorrow.";
        let (findings, redacted) = preview(&r, "notes", text).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].entity, "PHONE");
        assert!(!redacted.contains("555-0199"));
    }

    #[test]
    fn shared_copy_redacts_every_free_text_field_and_keeps_the_original() {
        let r = redactor().unwrap();
        let draft = Draft {
            title: "Visit with Dr. Okafor".into(),
            date: "2026-03-04".into(),
            finding: "Call back at 617-555-0199".into(),
            notes: "Lives in Fernbrook; son Tomas drives.".into(),
            shared: None,
        };
        let (copy, found) = shared_copy(&r, &draft).unwrap();
        assert_eq!(copy.year, "2026");
        for leak in ["Okafor", "617-555-0199", "Fernbrook", "Tomas", "03-04"] {
            let all = format!("{} {} {}", copy.title, copy.finding, copy.notes);
            assert!(!all.contains(leak), "{leak} in the shared copy: {all}");
        }
        let fields: std::collections::BTreeSet<_> = found.iter().map(|f| f.field).collect();
        assert_eq!(fields.len(), 3, "{found:?}");
        // The original is untouched.
        assert!(draft.finding.contains("617-555-0199"));
    }
}
