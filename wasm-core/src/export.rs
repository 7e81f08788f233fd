//! De-identified export: records a clinician may read, made into a data set that may
//! leave the care relationship (a research partner, say), in the clinician's browser.
//!
//! - every free-text field (title, finding, notes) through the `strict` redactor
//!   (Safe Harbor, recall first): identifiers masked, ZIP codes to their first three
//!   digits (`000` for the Census-restricted areas), ages over 89 as `90+`; dates inside
//!   the text are masked, since the record dates are shifted;
//! - each patient re-keyed to a study pseudonym (`S-` and 12 hex digits of an HMAC under
//!   the export's secret key), so an export links to neither the relay's pseudonyms nor
//!   another export;
//! - each record's date shifted by a per-patient offset of 1 to 365 days back, derived
//!   from the same key: intervals between one patient's dates are kept, calendar dates
//!   are not;
//! - a FHIR R4 `Bundle` (type `collection`: a `Patient` with only its study id per
//!   patient, an `Observation` per record), a CSV of the same rows, and a report of what
//!   was removed.
//!
//! The key is made per export and never leaves the browser; without it the offsets and
//! pseudonyms cannot be undone.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::pii::{Action, Entity, Policy, Redactor};

/// A record as a granted reader decrypted it.
#[derive(Debug, Clone, Default)]
pub struct SourceRecord {
    /// The relay's pseudonym of the patient (replaced in the export).
    pub patient: String,
    /// The record type (`visit-note`, `lab-result`, …), kept.
    pub record_type: String,
    /// The record's date, `YYYY-MM-DD` (shifted in the export; dropped when not a date).
    pub date: String,
    /// Title (redacted in the export).
    pub title: String,
    /// Diagnosis, result or medication (redacted).
    pub finding: String,
    /// Free-text notes (redacted).
    pub notes: String,
}

/// The export's secret: derives study pseudonyms, record ids and date offsets.
/// Zeroized on drop.
pub struct ExportKey(Zeroizing<[u8; 32]>);

impl ExportKey {
    /// A fresh key.
    pub fn generate(rng: &mut dyn rand_core::CryptoRngCore) -> Result<Self> {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.try_fill_bytes(k.as_mut()).map_err(|_| Error::Rng)?;
        Ok(Self(k))
    }

    /// A key from 32 bytes (to repeat an export).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    fn mac(&self, label: &str, value: &str) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable_key());
        m.update(label.as_bytes());
        m.update(&[0]);
        m.update(value.as_bytes());
        m.finalize().into_bytes().into()
    }

    /// The study pseudonym of `patient`.
    pub fn study_id(&self, patient: &str) -> String {
        format!(
            "S-{}",
            hex(self.mac("study-id", patient).get(..6).unwrap_or_default())
        )
    }

    /// Days `patient`'s dates move back: 1 to 365.
    pub fn offset_days(&self, patient: &str) -> i64 {
        let m = self.mac("date-shift", patient);
        let n = u16::from_be_bytes([m[0], m[1]]);
        i64::from(n % 365).saturating_add(1)
    }
}

impl core::fmt::Debug for ExportKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ExportKey(***)")
    }
}

/// HMAC-SHA256 takes a key of any length, so this is never reached.
#[allow(clippy::panic)]
fn unreachable_key() -> Hmac<Sha256> {
    panic!("HMAC accepts any key length")
}

/// What an export removed or changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Records exported.
    pub records: usize,
    /// Patients (study pseudonyms).
    pub patients: usize,
    /// Identifiers found in the free text, by entity (`PERSON`, `PHONE`, …).
    pub removed: BTreeMap<String, usize>,
    /// Record dates shifted.
    pub dates_shifted: usize,
    /// Record dates dropped (not a `YYYY-MM-DD` date).
    pub dates_dropped: usize,
}

/// A de-identified export.
#[derive(Debug, Clone)]
pub struct Export {
    /// The FHIR R4 `Bundle`.
    pub bundle: Value,
    /// The same rows as CSV (`study_id,record_type,date,title,finding,notes`).
    pub csv: String,
    /// What was removed.
    pub report: Report,
}

/// The redaction policy of exports: `strict`, with dates inside the text masked (the
/// record dates are shifted instead).
pub fn export_policy() -> Policy {
    let mut p = Policy::strict();
    p.actions.insert(Entity::Date, Action::Mask);
    p
}

/// Builds the de-identified export of `records` with `redactor` (normally
/// [`export_policy`]) and `key`.
pub fn deidentified_export(
    records: &[SourceRecord],
    redactor: &Redactor,
    key: &ExportKey,
) -> Result<Export> {
    let mut report = Report::default();
    let mut patients: Vec<String> = Vec::new();
    let mut entries = Vec::new();
    let mut csv = String::from("study_id,record_type,date,title,finding,notes\r\n");
    for (i, r) in records.iter().enumerate() {
        let study = key.study_id(&r.patient);
        if !patients.contains(&study) {
            patients.push(study.clone());
            entries.push(json!({
                "fullUrl": format!("urn:uuid:{}", uuid(key, "patient", &r.patient)),
                "resource": { "resourceType": "Patient", "id": study },
            }));
        }
        let mut clean = |text: &str| -> Result<String> {
            let red = redactor.redact(text, None)?;
            for s in &red.spans {
                let n = report
                    .removed
                    .entry(s.entity.name().to_owned())
                    .or_insert(0);
                *n = n.saturating_add(1);
            }
            Ok(red.text)
        };
        let title = clean(&r.title)?;
        let finding = clean(&r.finding)?;
        let notes = clean(&r.notes)?;
        let date = match parse_date(&r.date) {
            Some(days) => {
                report.dates_shifted = report.dates_shifted.saturating_add(1);
                Some(format_date(
                    days.saturating_sub(key.offset_days(&r.patient)),
                ))
            }
            None => {
                if !r.date.trim().is_empty() {
                    report.dates_dropped = report.dates_dropped.saturating_add(1);
                }
                None
            }
        };
        let record_type = safe_type(&r.record_type);
        let mut obs = json!({
            "resourceType": "Observation",
            "status": "final",
            "category": [{ "text": record_type }],
            "code": { "text": if title.trim().is_empty() { record_type.clone() } else { title.clone() } },
            "subject": { "reference": format!("Patient/{study}") },
        });
        if let Some(o) = obs.as_object_mut() {
            if let Some(d) = &date {
                o.insert("effectiveDateTime".into(), json!(d));
            }
            if !finding.trim().is_empty() {
                o.insert("valueString".into(), json!(finding));
            }
            if !notes.trim().is_empty() {
                o.insert("note".into(), json!([{ "text": notes }]));
            }
        }
        entries.push(json!({
            "fullUrl": format!("urn:uuid:{}", uuid(key, "record", &format!("{}\0{i}", r.patient))),
            "resource": obs,
        }));
        for (j, field) in [
            study.as_str(),
            record_type.as_str(),
            date.as_deref().unwrap_or(""),
            title.as_str(),
            finding.as_str(),
            notes.as_str(),
        ]
        .into_iter()
        .enumerate()
        {
            if j > 0 {
                csv.push(',');
            }
            csv.push_str(&csv_field(field));
        }
        csv.push_str("\r\n");
        report.records = report.records.saturating_add(1);
    }
    report.patients = patients.len();
    Ok(Export {
        bundle: json!({ "resourceType": "Bundle", "type": "collection", "entry": entries }),
        csv,
        report,
    })
}

/// A record type as exported: letters, digits and `-` only (it is the relay's grant
/// scope, chosen from a short list; anything else is replaced).
fn safe_type(t: &str) -> String {
    if !t.is_empty() && t.len() <= 40 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        t.to_owned()
    } else {
        "record".to_owned()
    }
}

/// An RFC 4180 field: quoted when it holds a comma, quote or line break. A field that a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A version-4-shaped UUID derived from the key (stable within one export).
fn uuid(key: &ExportKey, label: &str, value: &str) -> String {
    let mut b = key.mac(label, value);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(b.get(..16).unwrap_or_default());
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (years 1800 to 2200).
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let y: i64 = s.get(..4)?.parse().ok()?;
    let m: i64 = s.get(5..7)?.parse().ok()?;
    let d: i64 = s.get(8..10)?.parse().ok()?;
    if !(1800..=2200).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian; Howard Hinnant's algorithm).
#[allow(clippy::arithmetic_side_effects)] // bounded: years 1800..=2200
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day count since 1970-01-01.
#[allow(clippy::arithmetic_side_effects)] // bounded: dates near 1800..=2200
pub fn format_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn dates_round_trip_and_shift_by_whole_days() {
        for s in [
            "1970-01-01",
            "2000-02-29",
            "2026-12-31",
            "1899-03-01",
            "2024-03-01",
        ] {
            assert_eq!(format_date(parse_date(s).unwrap()), s);
        }
        assert_eq!(parse_date("2026-02-29"), None);
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("26-01-01"), None);
        assert_eq!(
            parse_date("2026-01-01").unwrap() - parse_date("2025-12-31").unwrap(),
            1
        );
        assert_eq!(
            format_date(parse_date("2024-03-01").unwrap() - 1),
            "2024-02-29"
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn the_key_decides_pseudonyms_and_offsets() {
        let a = ExportKey::from_bytes([1; 32]);
        let b = ExportKey::from_bytes([2; 32]);
        assert_eq!(a.study_id("p1"), a.study_id("p1"));
        assert_ne!(a.study_id("p1"), a.study_id("p2"));
        assert_ne!(a.study_id("p1"), b.study_id("p1"));
        for p in ["p1", "p2", "p3", "p4"] {
            assert!((1..=365).contains(&a.offset_days(p)));
        }
        assert_eq!(format!("{a:?}"), "ExportKey(***)");
    }
}
