//! De-identified export (the export issue): a small cohort's records, as granted
//! clinicians decrypt them, made into a FHIR R4 Bundle and a CSV. The Bundle and each
//! resource validate with the `fhir.resources` peer; no identifier of the source records
//! (names, phone numbers, e-mail addresses, street addresses, record numbers, full dates,
//! the relay's patient pseudonyms) is anywhere in either file; ages over 89 read `90+`,
//! ZIP codes their first three digits; the intervals between one patient's dates are
//! kept while the dates themselves move; another export key gives other pseudonyms.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

#[path = "fhir_validity.rs"]
#[allow(dead_code)]
mod fhir_validity;

use phiveil_core::export::{
    deidentified_export, export_policy, parse_date, ExportKey, SourceRecord,
};
use phiveil_core::pii::Redactor;
use phiveil_tests::Peer;
use serde_json::Value;

fn rec(patient: &str, date: &str, title: &str, finding: &str, notes: &str) -> SourceRecord {
    SourceRecord {
        patient: patient.into(),
        record_type: "visit-note".into(),
        date: date.into(),
        title: title.into(),
        finding: finding.into(),
        notes: notes.into(),
    }
}

fn cohort() -> Vec<SourceRecord> {
    vec![
        rec("pt_3f9a01", "2026-01-05", "Cardiology follow-up", "Atrial fibrillation",
            "Seen with her husband Tomasz Wierzbicki; call 617-555-0199 or tomasz.w@example.org. Lives at 41 Larch Hollow Rd, Fernbrook, PA 19000. MRN 4471902."),
        rec("pt_3f9a01", "2026-02-19", "Echo results", "EF 55%",
            "Reviewed by Dr. Ingrid Solberg on 02/18/2026. Next visit March 3rd."),
        rec("pt_3f9a01", "2026-04-01", "Medication review", "Apixaban 5 mg",
            "Pharmacy on Alder Way called (8175550120)."),
        rec("pt_77c2de", "2025-12-30", "Geriatrics consult", "Falls",
            "93 year old man, daughter Keisha Montgomery present. Zip 03601. SSN 123-45-6789."),
        rec("pt_77c2de", "2026-01-10", "Follow-up", "Stable",
            "Ninety-five-year-old? No: he is 93. Spoke with Keisha at (603) 555-0142."),
        rec("pt_b01e55", "2026-03-15", "Lab call-back", "Potassium 5.9",
            "Mrs. Oyelaran advised to go to the ED at St. Brigid's Hospital; neighbour Wojciech drives her."),
    ]
}

const IDENTIFIERS: &[&str] = &[
    "Tomasz",
    "Wierzbicki",
    "617-555-0199",
    "tomasz.w@example.org",
    "41 Larch Hollow",
    "Fernbrook",
    "19000",
    "4471902",
    "Ingrid",
    "Solberg",
    "02/18/2026",
    "Alder Way",
    "8175550120",
    "Keisha",
    "Montgomery",
    "03601",
    "123-45-6789",
    "603) 555-0142",
    "Oyelaran",
    "Wojciech",
    "St. Brigid",
    "pt_3f9a01",
    "pt_77c2de",
    "pt_b01e55",
    "2026-01-05",
    "2026-02-19",
    "2026-04-01",
    "2025-12-30",
    "2026-01-10",
    "2026-03-15",
    "93 year",
    "is 93",
];

#[test]
fn a_cohort_export_is_valid_fhir_without_identifiers_and_keeps_intervals() {
    let records = cohort();
    let redactor = Redactor::new(export_policy()).unwrap();
    let key = ExportKey::from_bytes([7; 32]);
    let out = deidentified_export(&records, &redactor, &key).unwrap();

    // No identifier of the sources, in either file.
    let bundle_text = out.bundle.to_string();
    for id in IDENTIFIERS {
        assert!(
            !bundle_text.contains(id),
            "{id} is in the Bundle: {bundle_text}"
        );
        assert!(!out.csv.contains(id), "{id} is in the CSV: {}", out.csv);
    }
    assert!(
        bundle_text.contains("90+"),
        "ages over 89 read 90+: {bundle_text}"
    );
    assert!(
        bundle_text.contains("PA 190**"),
        "ZIP codes keep three digits: {bundle_text}"
    );
    assert!(
        bundle_text.contains("Zip 000**"),
        "restricted areas (036) read 000: {bundle_text}"
    );
    assert_eq!(out.report.records, 6);
    assert_eq!(out.report.patients, 3);
    assert_eq!(out.report.dates_shifted, 6);
    for entity in [
        "PERSON", "PHONE", "EMAIL", "ADDRESS", "ZIP", "MRN", "SSN", "DATE", "AGE",
    ] {
        assert!(
            out.report.removed.get(entity).copied().unwrap_or(0) > 0,
            "{entity}: {:?}",
            out.report.removed
        );
    }

    // The intervals between one patient's dates are kept; the dates are not.
    let entries = out.bundle["entry"].as_array().unwrap();
    let mut by_patient: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for e in entries {
        let r = &e["resource"];
        if r["resourceType"] == "Observation" {
            by_patient
                .entry(r["subject"]["reference"].as_str().unwrap().to_owned())
                .or_default()
                .push(parse_date(r["effectiveDateTime"].as_str().unwrap()).unwrap());
        }
    }
    assert_eq!(by_patient.len(), 3);
    let mut originals: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
    for r in &records {
        originals
            .entry(r.patient.as_str())
            .or_default()
            .push(parse_date(&r.date).unwrap());
    }
    for (patient, dates) in originals {
        let shifted = &by_patient[&format!("Patient/{}", key.study_id(patient))];
        assert_eq!(shifted.len(), dates.len());
        let offset = dates[0] - shifted[0];
        assert!((1..=365).contains(&offset));
        for (d, s) in dates.iter().zip(shifted) {
            assert_eq!(d - s, offset, "one patient's dates move together");
        }
    }

    // Another export key: other pseudonyms, nothing to link the two exports by.
    let other = deidentified_export(&records, &redactor, &ExportKey::from_bytes([8; 32])).unwrap();
    for p in ["pt_3f9a01", "pt_77c2de", "pt_b01e55"] {
        assert!(!other.bundle.to_string().contains(&key.study_id(p)));
    }

    // The CSV has a header and one row per record.
    assert_eq!(out.csv.lines().count(), 7, "{}", out.csv);
    assert!(out
        .csv
        .starts_with("study_id,record_type,date,title,finding,notes\r\n"));

    // FHIR validity, by the peer.
    if Peer::skipped() {
        return;
    }
    let mut resources = vec![out.bundle.clone()];
    resources.extend(entries.iter().map(|e| e["resource"].clone()));
    for (r, v) in resources.iter().zip(fhir_validity::validate(&resources)) {
        assert_eq!(v["ok"], Value::Bool(true), "{v} for {r}");
    }
}
