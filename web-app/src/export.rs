//! The clinician's de-identified export: the granted records chosen, decrypted here,
//! made into a FHIR R4 Bundle and a CSV by `phiveil_core::export` (strict redaction,
//! study pseudonyms, per-patient date shifts), offered as files to save. Nothing of it is sent anywhere: the files leave the browser only where the
//! clinician saves them.

use leptos::prelude::*;
use phiveil_core::export::{deidentified_export, export_policy, ExportKey, Report, SourceRecord};
use phiveil_core::pii::Redactor;
use serde_json::Value;
use wasm_bindgen::JsValue;

use crate::net::{self, AppError};
use crate::records;
use crate::ui::{act, load, show, ErrorBox, Load};

/// A finished export: object URLs of the two files and the report.
#[derive(Debug, Clone, PartialEq)]
struct Done {
    bundle_url: String,
    csv_url: String,
    report: Report,
}

fn object_url(text: &str, mime: &str) -> Result<String, AppError> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts)
        .map_err(|_| AppError::local("export", "the file could not be made"))?;
    web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|_| AppError::local("export", "the file could not be offered"))
}

/// A record a clinician may export.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The patient's pseudonym on the relay.
    patient: String,
    /// Record id.
    id: String,
    /// Record type.
    record_type: String,
    /// Creation time (Unix seconds).
    created_at: i64,
}

/// Decrypts the chosen records here and builds the export.
async fn build(rows: Vec<Row>) -> Result<Done, AppError> {
    let mut sources = Vec::new();
    for r in &rows {
        let (draft, _) = records::open(&r.id, &r.patient, &r.record_type).await?;
        sources.push(SourceRecord {
            patient: r.patient.clone(),
            record_type: r.record_type.clone(),
            date: draft.date,
            title: draft.title,
            finding: draft.finding,
            notes: draft.notes,
        });
    }
    if sources.is_empty() {
        return Err(AppError::local(
            "NothingToExport",
            "choose at least one record",
        ));
    }
    let redactor = Redactor::new(export_policy())?;
    let key = ExportKey::generate(&mut rand_core::OsRng)?;
    let out = deidentified_export(&sources, &redactor, &key)?;
    let bundle = serde_json::to_string_pretty(&out.bundle)
        .map_err(|e| AppError::local("export", e.to_string()))?;
    Ok(Done {
        bundle_url: object_url(&bundle, "application/fhir+json")?,
        csv_url: object_url(&out.csv, "text/csv")?,
        report: out.report,
    })
}

/// "De-identified export": choose records, export, save the files.
#[component]
pub fn ExportCard(rows: Vec<Row>) -> impl IntoView {
    let chosen = RwSignal::new(rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
    let all = StoredValue::new(rows.clone());
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let done = RwSignal::new(None::<Done>);
    let run = move |_| {
        let ids = chosen.get_untracked();
        let picked: Vec<Row> = all.with_value(|rows| {
            rows.iter()
                .filter(|r| ids.contains(&r.id))
                .cloned()
                .collect()
        });
        if let Some(old) = done.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&old.bundle_url);
            let _ = web_sys::Url::revoke_object_url(&old.csv_url);
        }
        done.set(None);
        act(busy, err, async move {
            done.set(Some(build(picked).await?));
            Ok(())
        });
    };
    view! {
        <section class="card" aria-labelledby="export-h" data-testid="export">
            <h2 id="export-h">"De-identified export"</h2>
            <p class="hint">
                "For sharing beyond the care team: the records you choose are decrypted here, every free-text field is redacted (Safe Harbor), patients get study pseudonyms and dates move back by a secret number of days per patient (intervals are kept). The files are made in this browser and go only where you save them."
            </p>
            <fieldset class="choices">
                <legend>"Records"</legend>
                {rows
                    .into_iter()
                    .map(|r| {
                        let (id, for_id) = (format!("export-{}", r.id), format!("export-{}", r.id));
                        let (r1, r2) = (r.id.clone(), r.id.clone());
                        view! {
                            <label for=for_id>
                                <input
                                    type="checkbox"
                                    id=id
                                    prop:checked=move || chosen.with(|c| c.contains(&r1))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        chosen.update(|c| {
                                            c.retain(|x| *x != r2);
                                            if on {
                                                c.push(r2.clone());
                                            }
                                        });
                                    }
                                />
                                {format!(
                                    " Patient {} · {} · {}",
                                    r.patient,
                                    r.record_type,
                                    crate::fmt_time(r.created_at)
                                )}
                            </label>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <button on:click=run disabled=move || busy.get() || chosen.with(Vec::is_empty)>
                "Export de-identified"
            </button>
            {move || done.get().map(|d| {
                let removed = d
                    .report
                    .removed
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                view! {
                    <p data-testid="export-report">
                        {format!(
                            "{} record(s) of {} patient(s); removed from the text: {}; {} date(s) shifted{}.",
                            d.report.records,
                            d.report.patients,
                            if removed.is_empty() { "nothing".to_owned() } else { removed },
                            d.report.dates_shifted,
                            if d.report.dates_dropped > 0 { format!(", {} dropped", d.report.dates_dropped) } else { String::new() },
                        )}
                    </p>
                    <p class="row">
                        <a href=d.bundle_url.clone() download="deidentified-bundle.json" data-testid="export-bundle">"Save the FHIR Bundle"</a>
                        " · "
                        <a href=d.csv_url.clone() download="deidentified-records.csv" data-testid="export-csv">"Save the CSV"</a>
                    </p>
                }
            })}
            <ErrorBox err=err />
        </section>
    }
}

/// The records of the patients who granted the signed-in clinician something.
async fn exportable() -> Result<Vec<Row>, AppError> {
    let mut rows = Vec::new();
    for p in granted_patients(&net::api_list("/v1/grants").await?) {
        for rec in net::api_list(&format!("/v1/records?patient={p}")).await? {
            rows.push(Row {
                patient: p.clone(),
                id: rec["id"].as_str().unwrap_or_default().to_owned(),
                record_type: rec["record_type"].as_str().unwrap_or_default().to_owned(),
                created_at: rec["created_at"].as_i64().unwrap_or(0),
            });
        }
    }
    Ok(rows)
}

/// The export card, over the records patients shared with the signed-in clinician.
#[component]
pub fn Export() -> impl IntoView {
    let rows = RwSignal::new(Load::<Vec<Row>>::Loading);
    load(rows, exportable);
    view! {
        {show(rows, |rows| {
            if rows.is_empty() {
                ().into_any()
            } else {
                view! { <ExportCard rows=rows /> }.into_any()
            }
        })}
    }
}

/// The patients in `grants` (a clinician's `/v1/grants`), each once.
fn granted_patients(grants: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in grants {
        if let Some(p) = g["patient"].as_str() {
            if !out.iter().any(|q| q == p) {
                out.push(p.to_owned());
            }
        }
    }
    out
}
