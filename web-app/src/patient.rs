//! The patient's views: records (write or import, PII preview, encrypt, upload, list,
//! decrypt), sharing (grant and revoke clinicians), studies (submit values under a
//! privacy budget) and what left this browser.

use leptos::prelude::*;
use phiveil_core::dp::{Privacy, PrivacyLedger};
use serde_json::{json, Value};
use wasm_bindgen::JsCast;

use crate::keys;
use crate::net::{self, AppError};
use crate::records::{self, Draft};
use crate::ui::{act, load, show, show_each, Empty, ErrorBox, Load, Outbox, Spinner, Tabs};

fn pseudonym() -> String {
    net::session()
        .get_untracked()
        .and_then(|s| s.pseudonym)
        .unwrap_or_default()
}

#[component]
pub fn PatientView() -> impl IntoView {
    let tab = RwSignal::new(0usize);
    view! {
        <Tabs labels=vec!["Records", "Sharing", "Studies", "Federated training", "Access log", "What left this browser"] current=tab />
        <div role="tabpanel">
            {move || match tab.get() {
                0 => view! { <RecordsTab /> }.into_any(),
                1 => view! { <SharingTab /> }.into_any(),
                2 => view! { <StudiesTab /> }.into_any(),
                3 => view! { <crate::training::ParticipantTrainings /> }.into_any(),
                4 => view! { <crate::access::AccessLogTab /> }.into_any(),
                _ => view! { <Outbox /> }.into_any(),
            }}
        </div>
    }
}

/// Splits `text` at the findings' byte ranges: `(segment, Some(entity))` for found PII.
fn segments(text: &str, findings: &[records::Finding]) -> Vec<(String, Option<&'static str>)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for f in findings {
        if f.range.start < at {
            continue;
        }
        if let (Some(before), Some(found)) =
            (text.get(at..f.range.start), text.get(f.range.clone()))
        {
            if !before.is_empty() {
                out.push((before.to_owned(), None));
            }
            out.push((found.to_owned(), Some(f.entity)));
            at = f.range.end;
        }
    }
    if let Some(rest) = text.get(at..) {
        if !rest.is_empty() {
            out.push((rest.to_owned(), None));
        }
    }
    out
}

#[component]
fn RecordsTab() -> impl IntoView {
    let record_type = RwSignal::new(records::RECORD_TYPES[0].to_owned());
    let title = RwSignal::new(String::new());
    let date = RwSignal::new(String::new());
    let finding = RwSignal::new(String::new());
    let notes = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let done = RwSignal::new(None::<String>);
    let list = RwSignal::new(Load::<Vec<Value>>::Loading);
    let reload = move || load(list, || net::api_list("/v1/records"));
    reload();
    let redactor = StoredValue::new_local(records::redactor());
    let draft_now = move || Draft {
        title: title.get(),
        date: date.get(),
        finding: finding.get(),
        notes: notes.get(),
        shared: None,
    };
    // The de-identified copy, remade in this browser as the patient types.
    let preview = Memo::new(move |_| {
        let draft = draft_now();
        redactor.with_value(|r| match r {
            Ok(r) => records::shared_copy(r, &draft).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        })
    });
    let submit = move || {
        let Ok((copy, _)) = preview.get_untracked() else {
            err.set(Some(AppError::local(
                "PiiBlocked",
                "The de-identified copy could not be made, so nothing was saved.",
            )));
            return;
        };
        let draft = Draft {
            title: title.get_untracked(),
            date: date.get_untracked(),
            finding: finding.get_untracked(),
            notes: notes.get_untracked(),
            shared: Some(copy),
        };
        let rt = record_type.get_untracked();
        done.set(None);
        act(busy, err, async move {
            let id = records::encrypt_and_upload(&pseudonym(), &rt, &draft).await?;
            done.set(Some(format!(
                "Encrypted in this browser and uploaded as record {id}."
            )));
            title.set(String::new());
            date.set(String::new());
            finding.set(String::new());
            notes.set(String::new());
            reload();
            Ok(())
        });
    };
    let import = move |ev: leptos::ev::Event| {
        let Some(file) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|i| i.files())
            .and_then(|f| f.get(0))
        else {
            return;
        };
        leptos::task::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(file.text()).await {
                Ok(t) => {
                    let d = Draft::import(&t.as_string().unwrap_or_default());
                    title.set(d.title);
                    date.set(d.date);
                    finding.set(d.finding);
                    notes.set(d.notes);
                }
                Err(_) => err.set(Some(AppError::local(
                    "InvalidRecord",
                    "the file could not be read",
                ))),
            }
        });
    };
    view! {
        <crate::keys::KeyCard />
        <div class="grid">
            <section class="card" aria-labelledby="compose-h">
                <h2 id="compose-h">"New record"</h2>
                <form id="compose-form" on:submit=move |ev| {
                    ev.prevent_default();
                    submit();
                }>
                    <label for="rec-type">"Record type"</label>
                    <select id="rec-type" on:change=move |ev| record_type.set(event_target_value(&ev))>
                        {records::RECORD_TYPES
                            .iter()
                            .map(|t| view! { <option value=*t>{*t}</option> })
                            .collect_view()}
                    </select>
                    <label for="rec-title">"Title"</label>
                    <input id="rec-title" bind:value=title required />
                    <label for="rec-date">"Date"</label>
                    <input id="rec-date" type="date" bind:value=date />
                    <label for="rec-finding">"Diagnosis, result or medication"</label>
                    <input id="rec-finding" bind:value=finding />
                    <label for="rec-notes">"Notes"</label>
                    <textarea id="rec-notes" rows="5" bind:value=notes></textarea>
                    <label for="rec-import">"…or import a file (JSON record, FHIR resource or text)"</label>
                    <input id="rec-import" type="file" accept=".json,.txt,application/json,text/plain" on:change=import />
                </form>
            </section>
            <section class="card" aria-labelledby="pii-h" data-testid="pii-preview">
                <h2 id="pii-h">"Privacy preview"</h2>
                <p class="hint">"Checked in this browser as you type; nothing has been sent."</p>
                <p>
                    "Your record keeps what you wrote. It is encrypted in this browser, and the relay hands its key only to you and the clinicians you share it with. "
                    "Inside it is a de-identified copy, the version meant for any use beyond them (research exports):"
                </p>
                {move || match preview.get() {
                    Err(e) => view! { <p class="error">{e}</p> }.into_any(),
                    Ok((copy, found)) => {
                        let text = notes.get();
                        let in_notes: Vec<_> = found.iter().filter(|f| f.field == "notes").cloned().collect();
                        let segs = segments(&text, &in_notes);
                        view! {
                            {if found.is_empty() {
                                view! { <Empty text="No identifiers found; the shared copy equals your text." /> }.into_any()
                            } else {
                                view! {
                                    <p>{format!("{} identifier(s) left out of the shared copy:", found.len())}</p>
                                    <ul class="findings">
                                        {found
                                            .iter()
                                            .map(|f| view! { <li>{f.field}": "<strong>{f.entity}</strong>" → "{f.action}</li> })
                                            .collect_view()}
                                    </ul>
                                }
                                .into_any()
                            }}
                            {(!in_notes.is_empty()).then(|| view! {
                                <p class="marked">
                                    {segs
                                        .into_iter()
                                        .map(|(s, e)| match e {
                                            Some(e) => view! { <mark title=e>{s}</mark> }.into_any(),
                                            None => view! { <span>{s}</span> }.into_any(),
                                        })
                                        .collect_view()}
                                </p>
                            })}
                            <h3>"The shared copy will contain exactly"</h3>
                            <dl class="record redacted" data-testid="redacted">
                                <dt>"Title"</dt><dd>{copy.title}</dd>
                                <dt>"Year"</dt><dd>{copy.year}</dd>
                                <dt>"Finding"</dt><dd>{copy.finding}</dd>
                                <dt>"Notes"</dt><dd>{copy.notes}</dd>
                            </dl>
                        }
                        .into_any()
                    }
                }}
            </section>
            // After the preview in reading order (on a phone, below it): the upload,
            // its progress and its outcome.
            <section class="card submit-bar" aria-label="Upload">
                <button type="submit" form="compose-form" disabled=move || busy.get()>
                    "Encrypt and upload"
                </button>
                {move || busy.get().then(|| view! { <Spinner label="Encrypting in this browser and uploading…" /> })}
                {move || done.get().map(|d| view! { <p class="ok" role="status">{d}</p> })}
                <ErrorBox err=err />
            </section>
        </div>
        <section class="card" aria-labelledby="mine-h">
            <h2 id="mine-h">"My records"</h2>
            {show(list, move |rows| view! { <RecordTable rows=rows patient=pseudonym() /> })}
        </section>
    }
}

/// A table of records with an "Open" button that decrypts in place (shared with the
/// clinician's view).
#[component]
pub fn RecordTable(rows: Vec<Value>, #[prop(into)] patient: String) -> impl IntoView {
    if rows.is_empty() {
        return view! { <Empty text="No records yet." /> }.into_any();
    }
    view! {
        <div class="scroll">
            <table data-testid="records">
                {crate::ui::head(&["Type", "Created", "Size", "Content"])}
                <tbody>
                    {rows
                        .into_iter()
                        .map(|r| {
                            let patient = r["patient"].as_str().map_or_else(|| patient.clone(), str::to_owned);
                            view! { <RecordRow rec=r patient=patient /> }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn RecordRow(rec: Value, patient: String) -> impl IntoView {
    let id = rec["id"].as_str().unwrap_or_default().to_owned();
    let rt = rec["record_type"].as_str().unwrap_or_default().to_owned();
    let opened = RwSignal::new(None::<(Draft, records::KeyInfo)>);
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let open = {
        let (id, rt, patient) = (id.clone(), rt.clone(), patient.clone());
        move |_| {
            let (id, rt, patient) = (id.clone(), rt.clone(), patient.clone());
            act(busy, err, async move {
                opened.set(Some(records::open(&id, &patient, &rt).await?));
                Ok(())
            });
        }
    };
    // An opened record gets a row of its own across the table, so its text wraps at
    // word boundaries on a narrow screen instead of being squeezed into one column.
    view! {
        <tr>
            <td>{rt.clone()}</td>
            <td>{crate::fmt_time(rec["created_at"].as_i64().unwrap_or(0))}</td>
            <td class="num">{rec["size"].as_u64().unwrap_or(0)}</td>
            <td>
                {move || match opened.get() {
                    Some(_) => view! { <span class="hint">"Shown below"</span> }.into_any(),
                    None => view! {
                        <button class="secondary" on:click=open.clone() disabled=move || busy.get()>
                            "Open"
                        </button>
                    }
                    .into_any(),
                }}
                <ErrorBox err=err />
            </td>
        </tr>
        {move || opened.get().map(|(d, k)| view! {
            <tr class="opened">
                <td colspan="4">
                        <dl class="record" data-testid="decrypted">
                            <dt>"Keys"</dt>
                            <dd data-testid="record-keys">{match k.mode {
                                "end-to-end" => format!(
                                    "end-to-end: the data key is wrapped in this record's header for {} public key(s){}",
                                    k.entries,
                                    if k.escrow { ", one of them the institution's escrow key" } else { "" },
                                ),
                                _ => "brokered: the data key is wrapped by the relay's key service".to_owned(),
                            }}</dd>
                            <dt>"Title"</dt><dd>{d.title}</dd>
                            <dt>"Date"</dt><dd>{d.date}</dd>
                            <dt>"Finding"</dt><dd>{d.finding}</dd>
                            <dt>"Notes"</dt><dd>{d.notes}</dd>
                            {d.shared.map(|c| view! {
                                <dt>"Shared copy"</dt>
                                <dd data-testid="shared-copy">
                                    {format!("{} · {} · {} · {}", c.title, c.year, c.finding, c.notes)}
                                </dd>
                            })}
                        </dl>
                </td>
            </tr>
        })}
    }
}

#[component]
fn SharingTab() -> impl IntoView {
    let clinicians = RwSignal::new(Load::<Vec<Value>>::Loading);
    let grants = RwSignal::new(Load::<Vec<Value>>::Loading);
    let reload = move || load(grants, || net::api_list("/v1/grants"));
    load(clinicians, || net::api_list("/v1/clinicians"));
    reload();
    let who = RwSignal::new(String::new());
    let rt = RwSignal::new(records::RECORD_TYPES[0].to_owned());
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let shared = RwSignal::new(None::<String>);
    let names = move |id: &str| match clinicians.get() {
        Load::Ready(list) => list
            .iter()
            .find(|c| c["id"] == id)
            .and_then(|c| c["username"].as_str())
            .unwrap_or(id)
            .to_owned(),
        _ => id.to_owned(),
    };
    let grant = move || {
        let (c, t) = (who.get_untracked(), rt.get_untracked());
        if c.is_empty() {
            err.set(Some(AppError::local("InvalidConfig", "choose a clinician")));
            return;
        }
        let name = clinicians.with_untracked(|l| match l {
            Load::Ready(list) => list
                .iter()
                .find(|x| x["id"] == c.as_str())
                .and_then(|x| x["username"].as_str())
                .unwrap_or(&c)
                .to_owned(),
            _ => c.clone(),
        });
        shared.set(None);
        act(busy, err, async move {
            // End-to-end: the clinician's published key, checked before the grant, and
            // the data keys of the records already written wrapped for it here.
            let key = match keys::mode().await? {
                keys::Mode::EndToEnd { .. } => {
                    keys::mine()?;
                    Some(keys::published(&c).await?.ok_or_else(|| {
                        AppError::local(
                            "NoKey",
                            format!("{name} has not set up an end-to-end key yet; they do when they next sign in"),
                        )
                    })?)
                }
                keys::Mode::Brokered => None,
            };
            net::api(
                "POST",
                "/v1/grants",
                Some(json!({ "clinician_id": c, "record_type": t })),
            )
            .await?;
            if let Some((key, fingerprint)) = key {
                // The fingerprint the patient sees now is the one later writes expect.
                keys::pin(&c, &fingerprint)?;
                let n = records::share_records(&t, &c, &key).await?;
                shared.set(Some(format!(
                    "{n} existing {t} record(s) were wrapped in this browser for {name}'s key, fingerprint {fingerprint}. Compare it with {name}: a different one means the key is not theirs."
                )));
            }
            reload();
            Ok(())
        });
    };
    let revoke = move |c: String, t: String| {
        act(busy, err, async move {
            net::api("DELETE", &format!("/v1/grants/{c}/{t}"), None).await?;
            reload();
            Ok(())
        });
    };
    view! {
        <section class="card" aria-labelledby="grant-h">
            <h2 id="grant-h">"Share a record type with a clinician"</h2>
            <form class="row" on:submit=move |ev| {
                ev.prevent_default();
                grant();
            }>
                <div>
                    <label for="grant-who">"Clinician"</label>
                    {show(clinicians, move |list| {
                        view! {
                            <select id="grant-who" on:change=move |ev| who.set(event_target_value(&ev))>
                                <option value="">"Choose…"</option>
                                {list
                                    .iter()
                                    .map(|c| {
                                        let id = c["id"].as_str().unwrap_or_default().to_owned();
                                        let name = c["username"].as_str().unwrap_or_default().to_owned();
                                        view! { <option value=id>{name}</option> }
                                    })
                                    .collect_view()}
                            </select>
                        }
                    })}
                </div>
                <div>
                    <label for="grant-type">"Record type"</label>
                    <select id="grant-type" on:change=move |ev| rt.set(event_target_value(&ev))>
                        {records::RECORD_TYPES
                            .iter()
                            .map(|t| view! { <option value=*t>{*t}</option> })
                            .collect_view()}
                    </select>
                </div>
                <button type="submit" disabled=move || busy.get()>"Grant"</button>
            </form>
            {move || shared.get().map(|s| view! { <p class="ok" data-testid="shared-note">{s}</p> })}
            <ErrorBox err=err />
        </section>
        <section class="card" aria-labelledby="grants-h">
            <h2 id="grants-h">"Who can read what"</h2>
            <p class="hint">"Revoking stops a clinician from downloading these records, and records you write afterwards are not wrapped for them. A clinician who already opened a record has seen it."</p>
            {show(grants, move |list| {
                if list.is_empty() {
                    return view! { <Empty text="You have not shared anything." /> }.into_any();
                }
                view! {
                    <ul class="grants" data-testid="grants">
                        {list
                            .into_iter()
                            .map(|g| {
                                let c = g["clinician_id"].as_str().unwrap_or_default().to_owned();
                                let t = g["record_type"].as_str().unwrap_or_default().to_owned();
                                let label = format!("{} may read {}", names(&c), t);
                                view! {
                                    <li>
                                        <span>{label.clone()}</span>
                                        <button
                                            class="danger"
                                            aria-label=format!("Revoke: {label}")
                                            on:click=move |_| revoke(c.clone(), t.clone())
                                        >
                                            "Revoke"
                                        </button>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                .into_any()
            })}
        </section>
    }
}

const LEDGER_KEY: &str = "phiveil.ledger.";

/// The patient's privacy ledger (kept in this browser's local storage).
pub fn load_ledger(patient: &str) -> Option<String> {
    net::local_get(&format!("{LEDGER_KEY}{patient}"))
}

/// Saves the ledger after a charge.
pub fn save_ledger(patient: &str, json: &str) {
    net::local_set(&format!("{LEDGER_KEY}{patient}"), json);
}

/// `ε = 1` or `ρ = 0.5`.
pub fn fmt_privacy(p: &Privacy) -> String {
    match p {
        Privacy::Pure { epsilon } => format!("ε = {}", crate::charts::fmt_num(*epsilon)),
        Privacy::Zcdp { rho } => format!("ρ = {} (zCDP)", crate::charts::fmt_num(*rho)),
    }
}

#[component]
fn StudiesTab() -> impl IntoView {
    let studies = RwSignal::new(Load::<Vec<Value>>::Loading);
    load(studies, || async {
        Ok(net::api_list("/v1/studies")
            .await?
            .into_iter()
            .filter(|s| s["state"] == "open")
            .collect())
    });
    view! {
        <section class="card">
            <h2>"Studies"</h2>
            <p class="hint">
                "Your values are encrypted with the study's public key and proven in range in this browser; the relay adds them up without decrypting, and the study owner sees only totals once enough patients took part."
            </p>
            {show_each(studies, "No study is open right now.", |s| view! { <StudySubmit study=s /> })}
        </section>
    }
}

#[component]
fn StudySubmit(study: Value) -> impl IntoView {
    let id = study["id"].as_str().unwrap_or_default().to_owned();
    let spec = study["spec"].clone();
    let fields: Vec<Value> = spec["fields"].as_array().cloned().unwrap_or_default();
    let values: Vec<RwSignal<String>> = fields
        .iter()
        .map(|_| RwSignal::new(String::new()))
        .collect();
    let cost = RwSignal::new(Load::<Option<Privacy>>::Loading);
    let mine = RwSignal::new(Load::<Vec<Value>>::Loading);
    let ledger = RwSignal::new(load_ledger(&pseudonym()));
    let budget = RwSignal::new("4".to_owned());
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let done = RwSignal::new(None::<String>);
    {
        let spec = spec.clone();
        load(cost, move || async move { crate::fhe::cost(&spec).await });
    }
    let reload_mine = {
        let id = id.clone();
        move || {
            let id = id.clone();
            load(mine, move || async move {
                net::api_list(&format!("/v1/studies/{id}/submission")).await
            })
        }
    };
    reload_mine();
    let account = {
        let id = id.clone();
        move || {
            ledger.get().and_then(|j| {
                let l: PrivacyLedger = serde_json::from_str(&j).ok()?;
                l.study(&id).map(|a| (a.spent(), a.remaining()))
            })
        }
    };
    let submit = {
        let (id, spec, fields, values) = (id.clone(), spec.clone(), fields.clone(), values.clone());
        let reload_mine = reload_mine.clone();
        move || {
            let mut nums = Vec::new();
            for (f, v) in fields.iter().zip(&values) {
                let name = f["name"].as_str().unwrap_or_default();
                match v.get_untracked().trim().parse::<i64>() {
                    Ok(n) => nums.push(n),
                    Err(_) => {
                        err.set(Some(AppError::local(
                            "OutOfRange",
                            format!("{name}: enter a whole number"),
                        )));
                        return;
                    }
                }
            }
            let b: f64 = budget.get_untracked().trim().parse().unwrap_or(0.0);
            let Load::Ready(c) = cost.get_untracked() else {
                return;
            };
            let budget = match c {
                Some(Privacy::Zcdp { .. }) => Privacy::Zcdp { rho: b },
                _ => Privacy::Pure { epsilon: b },
            };
            let (id, spec, values) = (id.clone(), spec.clone(), values.clone());
            let reload_mine = reload_mine.clone();
            done.set(None);
            act(busy, err, async move {
                let (l, ms, workers) = crate::fhe::submit(
                    &id,
                    &spec,
                    &pseudonym(),
                    &nums,
                    load_ledger(&pseudonym()),
                    budget,
                )
                .await
                .inspect_err(|_| ledger.set(load_ledger(&pseudonym())))?;
                ledger.set(Some(l));
                remember_proof(ms, workers);
                done.set(Some(format!(
                    "Encrypted and proven in this browser in {:.1} s ({}); the relay verified the proof.",
                    ms / 1000.0,
                    if workers > 1 { format!("{workers} workers") } else { "one worker".to_owned() }
                )));
                for v in &values {
                    v.set(String::new());
                }
                reload_mine();
                Ok(())
            });
        }
    };
    let title = study["title"].as_str().unwrap_or_default().to_owned();
    let form_id = format!("study-{id}");
    view! {
        <article class="study" data-testid="study-submit">
            <h3>{title}</h3>
            <p class="hint">{format!("At least {} patients before anything is released.", spec["min_cohort"])}</p>
            <form id=form_id on:submit=move |ev| {
                ev.prevent_default();
                submit();
            }>
                <div class="fields">
                    {fields
                        .iter()
                        .zip(values.iter().copied())
                        .map(|(f, v)| {
                            let name = f["name"].as_str().unwrap_or_default().to_owned();
                            let (lo, hi) = (f["lo"].as_i64().unwrap_or(0), f["hi"].as_i64().unwrap_or(0));
                            let input_id = format!("{id}-{name}");
                            let dp = f.get("dp").is_some_and(|d| !d.is_null());
                            view! {
                                <div>
                                    <label for=input_id.clone()>
                                        {format!("{name} ({lo}–{hi}){}", if dp { ", noised in this browser" } else { "" })}
                                    </label>
                                    <input
                                        id=input_id
                                        type="number"
                                        min=lo
                                        max=hi
                                        step="1"
                                        required
                                        bind:value=v
                                    />
                                </div>
                            }
                        })
                        .collect_view()}
                </div>
                <div class="row">
                    <div>
                        <label for=format!("{id}-budget")>"My privacy budget for this study"</label>
                        <input id=format!("{id}-budget") type="number" min="0" step="0.1" bind:value=budget />
                    </div>
                    <button type="submit" disabled=move || busy.get() || !matches!(cost.get(), Load::Ready(_))>
                        "Encrypt and submit"
                    </button>
                </div>
            </form>
            <div class="budget" data-testid="budget">
                {move || match cost.get() {
                    Load::Ready(Some(c)) => format!("This submission costs {}.", fmt_privacy(&c)),
                    Load::Ready(None) => "This study adds no noise on your side (no privacy cost recorded).".to_owned(),
                    Load::Loading => "Loading the study's privacy cost…".to_owned(),
                    Load::Failed(e) => e.to_string(),
                }}
                " "
                {move || match account() {
                    Some((spent, left)) => format!("Spent: {}; left: {}.", fmt_privacy(&spent), fmt_privacy(&left)),
                    None => "Nothing spent on this study yet.".to_owned(),
                }}
            </div>
            {move || busy.get().then(|| view! { <ProofProgress /> })}
            {move || done.get().map(|d| view! { <p class="ok" role="status">{d}</p> })}
            <ErrorBox err=err />
            {show(mine, |subs| {
                subs.into_iter()
                    .map(|s| {
                        let state = s["state"].as_str().unwrap_or_default().to_owned();
                        let reason = s["reason"].as_str().map(|r| format!(": {r}")).unwrap_or_default();
                        view! { <p class="sub" data-testid="submission-state">{format!("Your submission: {state}{reason}")}</p> }
                    })
                    .collect_view()
            })}
        </article>
    }
}

/// The last proof on this device: its time (ms) and how many workers it used.
fn last_proof() -> Option<(f64, u32)> {
    let s = net::local_get("phiveil-last-proof")?;
    let (ms, w) = s.split_once(' ')?;
    Some((ms.parse().ok()?, w.parse().ok()?))
}

fn remember_proof(ms: f64, workers: u32) {
    net::local_set("phiveil-last-proof", &format!("{ms:.0} {workers}"));
}

/// Progress of a proof in the TFHE worker. The estimate is this device's last proof
/// (its time and worker count, said as such); without one the bar is indeterminate.
/// The proof does not report its own progress, so the bar stops at 95 % until it ends.
#[component]
fn ProofProgress() -> impl IntoView {
    let start = js_sys::Date::now();
    let now = RwSignal::new(start);
    let tick = set_interval_with_handle(
        move || now.set(js_sys::Date::now()),
        std::time::Duration::from_millis(250),
    )
    .ok();
    on_cleanup(move || {
        if let Some(t) = tick {
            t.clear();
        }
    });
    let workers = crate::fhe::proof_workers();
    let with = if workers > 1 {
        format!("{workers} workers")
    } else {
        "one worker".to_owned()
    };
    let last = last_proof();
    view! {
        <div class="proof-progress" data-testid="proof-progress" role="status">
            {move || {
                let elapsed = (now.get() - start) / 1000.0;
                match last {
                    Some((ms, w)) => {
                        let est = ms / 1000.0;
                        let pct = (elapsed / est * 100.0).min(95.0);
                        let left = (est - elapsed).max(0.0);
                        let basis = if w == workers {
                            format!("this device's last proof took {est:.1} s")
                        } else {
                            format!("this device's last proof, with {w} worker(s), took {est:.1} s")
                        };
                        view! {
                            <progress max="100" value=format!("{pct:.0}")></progress>
                            <span>{format!("Encrypting and proving in this browser with {with}: about {left:.0} s left ({basis}).")}</span>
                        }
                        .into_any()
                    }
                    None => view! {
                        <progress></progress>
                        <span>{format!("Encrypting and proving in this browser with {with}: {elapsed:.0} s so far (a first proof on a device takes about 5–20 s).")}</span>
                    }
                    .into_any(),
                }
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_mark_findings() {
        let text = "call 617-555-0199 now";
        let f = vec![records::Finding {
            field: "notes",
            entity: "PHONE_NUMBER",
            range: 5..17,
            action: "mask",
        }];
        let s = segments(text, &f);
        assert_eq!(
            s,
            vec![
                ("call ".to_owned(), None),
                ("617-555-0199".to_owned(), Some("PHONE_NUMBER")),
                (" now".to_owned(), None)
            ]
        );
    }
}
