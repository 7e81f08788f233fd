//! The clinician's views: records patients granted (decrypted in the browser),
//! invitations, and studies: declare one, run the key ceremony in the browser, release,
//! decrypt the aggregates and chart them with their DP error bars; federated trainings
//! (`crate::training`).

use std::time::Duration;

use leptos::prelude::*;
use serde_json::{json, Value};

use crate::charts::{bin_labels, fmt_num, Bar, BarChart, LineChart};
use crate::fhe::Step;
use crate::net::{self, AppError};
use crate::patient::RecordTable;
use crate::ui::{act, load, show_each, ErrorBox, Load, RefreshHeading, Spinner, Tabs};

#[component]
pub fn ClinicianView() -> impl IntoView {
    let tab = RwSignal::new(0usize);
    view! {
        <Tabs labels=vec!["Patients' records", "Invite a patient", "Studies", "Federated training"] current=tab />
        <div role="tabpanel">
            {move || match tab.get() {
                0 => view! { <crate::keys::KeyCard /> <GrantedRecords /> <crate::export::Export /> }.into_any(),
                1 => view! { <Invite /> }.into_any(),
                2 => view! { <Studies /> }.into_any(),
                _ => view! { <crate::training::OwnerTrainings /> }.into_any(),
            }}
        </div>
    }
}

/// Patients who granted the caller something, with their records.
async fn granted() -> Result<Vec<(String, Vec<String>, Result<Vec<Value>, AppError>)>, AppError> {
    let mut patients: Vec<(String, Vec<String>)> = Vec::new();
    for g in net::api_list("/v1/grants").await? {
        let p = g["patient"].as_str().unwrap_or_default().to_owned();
        let t = g["record_type"].as_str().unwrap_or_default().to_owned();
        match patients.iter_mut().find(|(q, _)| *q == p) {
            Some((_, types)) => types.push(t),
            None => patients.push((p, vec![t])),
        }
    }
    let mut out = Vec::new();
    for (p, types) in patients {
        let recs = net::api_list(&format!("/v1/records?patient={p}")).await;
        out.push((p, types, recs));
    }
    Ok(out)
}

#[component]
fn GrantedRecords() -> impl IntoView {
    let state = RwSignal::new(Load::Loading);
    let reload = move || load(state, granted);
    reload();
    view! {
        <section class="card" aria-labelledby="granted-h">
            <RefreshHeading id="granted-h" title="Records patients shared with you" on_refresh=reload />
            <p class="hint">"Records are decrypted in this browser; the relay lets you download only what a patient granted you."</p>
            {show_each(state, "No patient has shared records with you yet.", |(p, types, recs)| {
                        view! {
                            <article class="patient" data-testid="patient">
                                <h3>{format!("Patient {p}")}</h3>
                                <p class="hint">{format!("Shared: {}", types.join(", "))}</p>
                                {match recs {
                                    Ok(rows) => view! { <RecordTable rows=rows patient=p.clone() /> }.into_any(),
                                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                                }}
                            </article>
                        }
            })}
        </section>
    }
}

#[component]
fn Invite() -> impl IntoView {
    let code = RwSignal::new(None::<Value>);
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    view! {
        <section class="card">
            <h2>"Invite a patient"</h2>
            <p class="hint">"A one-time code, valid 7 days. The patient enrolls with it and gets a pseudonym; you never see their name."</p>
            <button
                disabled=move || busy.get()
                on:click=move |_| {
                    act(busy, err, async move {
                        code.set(Some(net::api("POST", "/v1/invitations", Some(json!({}))).await?));
                        Ok(())
                    })
                }
            >
                "Create an invitation code"
            </button>
            {move || code.get().map(|c| view! {
                <p class="code">
                    "Code: " <strong data-testid="invitation-code">{c["code"].as_str().unwrap_or_default().to_owned()}</strong>
                    {format!(" (expires {})", crate::fmt_time(c["expires_at"].as_i64().unwrap_or(0)))}
                </p>
            })}
            <ErrorBox err=err />
        </section>
    }
}

/// One field row of the study form.
#[derive(Clone, Copy)]
struct FieldForm {
    name: RwSignal<String>,
    lo: RwSignal<String>,
    hi: RwSignal<String>,
    bins: RwSignal<String>,
    at_least: RwSignal<String>,
    dp: RwSignal<String>,
    epsilon: RwSignal<String>,
}

impl FieldForm {
    fn new(name: &str, lo: i64, hi: i64, bins: &str, at_least: &str, dp: &str) -> Self {
        Self {
            name: RwSignal::new(name.into()),
            lo: RwSignal::new(lo.to_string()),
            hi: RwSignal::new(hi.to_string()),
            bins: RwSignal::new(bins.into()),
            at_least: RwSignal::new(at_least.into()),
            dp: RwSignal::new(dp.into()),
            epsilon: RwSignal::new("1".into()),
        }
    }
}

fn int_list(s: &str, what: &str) -> Result<Vec<i64>, AppError> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse().map_err(|_| {
                AppError::local(
                    "InvalidConfig",
                    format!("{what}: {x} is not a whole number"),
                )
            })
        })
        .collect()
}

/// The study declaration the form describes (the relay checks it again).
fn declaration(title: &str, min_cohort: &str, rows: &[FieldForm]) -> Result<Value, AppError> {
    let k: u64 = min_cohort
        .trim()
        .parse()
        .map_err(|_| AppError::local("InvalidConfig", "minimum cohort: a whole number"))?;
    let mut fields = Vec::new();
    for r in rows {
        let name = r.name.get_untracked();
        let num = |s: RwSignal<String>, what: &str| {
            s.get_untracked().trim().parse::<i64>().map_err(|_| {
                AppError::local(
                    "InvalidConfig",
                    format!("{name}: {what} is not a whole number"),
                )
            })
        };
        let (lo, hi) = (num(r.lo, "low")?, num(r.hi, "high")?);
        let mut f = json!({
            "name": name, "lo": lo, "hi": declared_hi(lo, hi, &r.dp.get_untracked()),
            "bins": int_list(&r.bins.get_untracked(), &name)?,
            "at_least": int_list(&r.at_least.get_untracked(), &name)?,
        });
        let mode = r.dp.get_untracked();
        if mode != "none" {
            let eps: f64 = r.epsilon.get_untracked().trim().parse().unwrap_or(1.0);
            let m = match mode.as_str() {
                "distributed" => json!({ "mode": "distributed", "min_cohort": k }),
                other => json!({ "mode": other }),
            };
            if let Some(o) = f.as_object_mut() {
                o.insert(
                    "dp".into(),
                    json!({ "mode": m, "privacy": { "kind": "pure", "epsilon": eps } }),
                );
            }
        }
        fields.push(f);
    }
    Ok(json!({ "title": title, "fields": fields, "min_cohort": k, "encoding": "proven" }))
}

/// The high end a field is declared with. Studies use the proven encoding: a range of
/// exactly 2^k values lets the patient's proof bound each value, so the relay compares
/// nothing. A field without patient-side noise is widened to the nearest such range;
/// one with patient-side noise (local, distributed) keeps its range, and its noise
/// margin fills the bits.
fn declared_hi(lo: i64, hi: i64, dp: &str) -> i64 {
    match dp {
        "local" | "distributed" => hi,
        _ => phiveil_core::dp::proven_hi(lo, hi),
    }
}

/// What the form will declare for each field whose range it widens, in words.
fn widened(rows: &[FieldForm]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| {
            let lo: i64 = r.lo.get().trim().parse().ok()?;
            let hi: i64 = r.hi.get().trim().parse().ok()?;
            let wide = declared_hi(lo, hi, &r.dp.get());
            (hi > lo && wide != hi).then(|| {
                format!(
                    "{}: declared as {lo}–{wide} (the nearest range of a power of two of values); a patient may send any value up to {wide}, so one patient moves the sum by at most {}{}.",
                    r.name.get(),
                    wide.saturating_sub(lo),
                    if r.dp.get() == "central" { ", the sensitivity its noise is calibrated to" } else { "" }
                )
            })
        })
        .collect()
}

#[component]
fn Studies() -> impl IntoView {
    let studies = RwSignal::new(Load::<Vec<Value>>::Loading);
    let reload = move || load(studies, || net::api_mine("/v1/studies"));
    reload();
    let title = RwSignal::new(String::new());
    let k = RwSignal::new("3".to_owned());
    let rows = RwSignal::new(vec![
        FieldForm::new("heart_rate", 20, 250, "60, 100", "120", "none"),
        FieldForm::new("pain", 0, 10, "", "", "local"),
    ]);
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let create = move || {
        let decl = declaration(
            &title.get_untracked(),
            &k.get_untracked(),
            &rows.get_untracked(),
        );
        act(busy, err, async move {
            net::api("POST", "/v1/studies", Some(decl?)).await?;
            title.set(String::new());
            reload();
            Ok(())
        });
    };
    view! {
        <section class="card" aria-labelledby="new-study-h">
            <h2 id="new-study-h">"Declare a study"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                create();
            }>
                <div class="row">
                    <div class="grow">
                        <label for="study-title">"Title"</label>
                        <input id="study-title" bind:value=title required />
                    </div>
                    <div>
                        <label for="study-k">"Minimum cohort"</label>
                        <input id="study-k" type="number" min="2" bind:value=k />
                    </div>
                </div>
                <div class="scroll">
                    <table class="fields-form">
                        <thead>
                            <tr>
                                <th scope="col">"Field"</th>
                                <th scope="col">"Low"</th>
                                <th scope="col">"High"</th>
                                <th scope="col">"Histogram edges"</th>
                                <th scope="col">"Count ≥"</th>
                                <th scope="col">"Differential privacy"</th>
                                <th scope="col">"ε"</th>
                                <th scope="col"><span class="sr">"Remove"</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            {move || {
                                rows.get()
                                    .into_iter()
                                    .enumerate()
                                    .map(|(i, r)| {
                                        view! {
                                            <tr>
                                                <td><input aria-label="Field name" bind:value=r.name required /></td>
                                                <td><input aria-label="Low" class="narrow" type="number" bind:value=r.lo /></td>
                                                <td><input aria-label="High" class="narrow" type="number" bind:value=r.hi /></td>
                                                <td><input aria-label="Histogram edges" placeholder="e.g. 60, 100" bind:value=r.bins /></td>
                                                <td><input aria-label="Thresholds" placeholder="e.g. 120" bind:value=r.at_least /></td>
                                                <td>
                                                    <select aria-label="Differential privacy" prop:value=move || r.dp.get() on:change=move |ev| r.dp.set(event_target_value(&ev))>
                                                        <option value="none">"none (exact)"</option>
                                                        <option value="local">"local (patient noise)"</option>
                                                        <option value="distributed">"distributed"</option>
                                                        <option value="central">"central (relay noise)"</option>
                                                    </select>
                                                </td>
                                                <td><input aria-label="Epsilon" class="narrow" type="number" step="0.1" min="0" bind:value=r.epsilon /></td>
                                                <td>
                                                    <button type="button" class="secondary" aria-label="Remove this field"
                                                        on:click=move |_| rows.update(|v| { if i < v.len() { v.remove(i); } })>
                                                        "×"
                                                    </button>
                                                </td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()
                            }}
                        </tbody>
                    </table>
                </div>
                <div class="row">
                    <button type="button" class="secondary"
                        on:click=move |_| rows.update(|v| v.push(FieldForm::new("", 0, 10, "", "", "none")))>
                        "Add a field"
                    </button>
                    <button type="submit" disabled=move || busy.get()>"Declare the study"</button>
                </div>
            </form>
            <p class="hint">"Fields with differential privacy release a sum and a mean with guaranteed intervals (no histogram)."</p>
            <ul class="hint" data-testid="widened">
                {move || widened(&rows.get()).into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}
            </ul>
            <ErrorBox err=err />
        </section>
        <section class="card" aria-labelledby="my-studies-h">
            <RefreshHeading id="my-studies-h" title="My studies" on_refresh=reload />
            {show_each(studies, "You have not declared a study yet.", |s| view! { <StudyCard study=s /> })}
        </section>
    }
}

#[component]
fn StudyCard(study: Value) -> impl IntoView {
    let id = study["id"].as_str().unwrap_or_default().to_owned();
    let current = RwSignal::new(study.clone());
    let refresh = {
        let id = id.clone();
        move || {
            let id = id.clone();
            leptos::task::spawn_local(async move {
                if let Ok(s) = net::api("GET", &format!("/v1/studies/{id}"), None).await {
                    current.set(s);
                }
            });
        }
    };
    // While a release is being computed, poll.
    {
        let refresh = refresh.clone();
        if let Ok(h) = set_interval_with_handle(
            move || {
                let s = current.get_untracked();
                if s["release_requested"] == true && s["state"] != "released" {
                    refresh();
                }
            },
            Duration::from_secs(2),
        ) {
            on_cleanup(move || h.clear());
        }
    }
    let title = study["title"].as_str().unwrap_or_default().to_owned();
    let timings = RwSignal::new(None::<Value>);
    view! {
        <article class="study" data-testid="study-card">
            <div class="row spread">
                <h3>{title}</h3>
                <span class="badge" data-testid="study-state">
                    {move || current.get()["state"].as_str().unwrap_or_default().to_owned()}
                </span>
            </div>
            <p class="hint">
                {move || {
                    let s = current.get();
                    format!(
                        "{} submissions folded, {} queued; minimum cohort {}{}.",
                        s["folded"], s["queued"], s["spec"]["min_cohort"],
                        if s["release_requested"] == true && s["state"] != "released" { "; release being computed" } else { "" },
                    )
                }}
            </p>
            {move || {
                let s = current.get();
                match s["state"].as_str().unwrap_or_default() {
                    "keys-pending" => view! { <Ceremony study=s timings=timings on_done=refresh.clone() cancellable=true /> }.into_any(),
                    "open" => view! { <Release study=s on_done=refresh.clone() /> }.into_any(),
                    "released" => view! { <Results study=s /> }.into_any(),
                    _ => ().into_any(),
                }
            }}
            // The ceremony's figures stay shown after the study opens.
            {move || timings.get().map(|t| view! {
                <p class="ok" data-testid="ceremony-timings">{format!(
                    "Keys made in this browser: server key {} ms, public key {} ms, client key {} ms; wrapped in {} ms.",
                    t["server_key_ms"], t["public_key_ms"], t["client_key_ms"], t["wrap_ms"]
                )}</p>
            })}
        </article>
    }
}

#[component]
pub fn Ceremony(
    study: Value,
    timings: RwSignal<Option<Value>>,
    on_done: impl Fn() + Clone + Send + Sync + 'static,
    /// Offer "Cancel this study" (a study of its own, not a training's key study).
    #[prop(optional)]
    cancellable: bool,
) -> impl IntoView {
    let passphrase = RwSignal::new(String::new());
    let step = RwSignal::new(None::<Step>);
    let started = RwSignal::new(0.0f64);
    let elapsed = RwSignal::new(0.0f64);
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let study_id = study["id"].as_str().unwrap_or_default().to_owned();
    let cancel_done = on_done.clone();
    if let Ok(h) = set_interval_with_handle(
        move || {
            if busy.get_untracked() {
                elapsed.set((js_sys::Date::now() - started.get_untracked()) / 1000.0);
            }
        },
        Duration::from_millis(200),
    ) {
        on_cleanup(move || h.clear());
    }
    let run = move || {
        let p = passphrase.get_untracked();
        if p.chars().count() < 12 {
            err.set(Some(AppError::local(
                "InvalidConfig",
                "the passphrase needs at least 12 characters",
            )));
            return;
        }
        let id = study["id"].as_str().unwrap_or_default().to_owned();
        let spec = study["spec"].clone();
        let on_done = on_done.clone();
        started.set(js_sys::Date::now());
        elapsed.set(0.0);
        act(busy, err, async move {
            let t = crate::fhe::setup_study(&id, &spec, &p, move |s| step.set(Some(s))).await;
            match t {
                Ok(t) => {
                    timings.set(Some(t));
                    on_done();
                    Ok(())
                }
                Err(e) => {
                    step.set(None);
                    Err(e)
                }
            }
        });
    };
    view! {
        <form class="ceremony" on:submit=move |ev| {
            ev.prevent_default();
            run();
        }>
            <p class="hint">"The study's keys are made in this browser. Only public keys leave it; the decryption key is wrapped with your passphrase before it is stored on the relay."</p>
            <label for="ceremony-pass">"Study passphrase (12+ characters; needed to decrypt on another device)"</label>
            <input id="ceremony-pass" type="password" autocomplete="new-password" bind:value=passphrase />
            <button type="submit" disabled=move || busy.get()>"Run the key ceremony"</button>
            " "
            <button
                hidden=!cancellable
                type="button"
                class="secondary"
                disabled=move || busy.get()
                on:click={
                    let (id, on_done) = (study_id.clone(), cancel_done.clone());
                    move |_| {
                        let (id, on_done) = (id.clone(), on_done.clone());
                        act(busy, err, async move {
                            net::api("DELETE", &format!("/v1/studies/{id}"), None).await?;
                            on_done();
                            Ok(())
                        });
                    }
                }
            >
                "Cancel this study"
            </button>
        </form>
        {move || step.get().map(|cur| {
            let pos = Step::ALL.iter().position(|s| *s == cur).unwrap_or(Step::ALL.len());
            view! {
                <div class="progress" role="status" aria-live="polite" data-testid="ceremony-progress">
                    <progress max=Step::ALL.len() value=pos></progress>
                    <ol>
                        {Step::ALL.iter().enumerate().map(|(i, s)| {
                            let (class, mark) = if i < pos { ("done", "✓") } else if i == pos { ("now", "…") } else { ("todo", "") };
                            view! { <li class=class>{format!("{} {mark}", s.label())}</li> }
                        }).collect_view()}
                    </ol>
                    <p>{move || format!("{:.1} s elapsed{}", elapsed.get(), if cur == Step::Keys { " — key generation takes several seconds" } else { "" })}</p>
                </div>
            }
        })}
        <ErrorBox err=err />
    }
}

#[component]
pub fn Release(study: Value, on_done: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let id = study["id"].as_str().unwrap_or_default().to_owned();
    let requested = study["release_requested"] == true;
    // Releasing cannot be undone: a second, explicit step says what it does.
    let confirming = RwSignal::new(false);
    view! {
        {(!requested).then(|| view! {
            {move || (!confirming.get()).then(|| view! {
                <button disabled=move || busy.get() on:click=move |_| confirming.set(true)>
                    "Close and release the totals"
                </button>
            })}
            {move || confirming.get().then(|| {
                let (id, on_done) = (id.clone(), on_done.clone());
                view! {
                    <div class="confirm" role="alertdialog" aria-labelledby="release-q">
                        <p id="release-q">
                            "Close the study now? No further submissions will be accepted, and the totals released are final."
                        </p>
                        <button
                            disabled=move || busy.get()
                            on:click=move |_| {
                                let (id, on_done) = (id.clone(), on_done.clone());
                                act(busy, err, async move {
                                    net::api("POST", &format!("/v1/studies/{id}/release"), Some(json!({}))).await?;
                                    on_done();
                                    Ok(())
                                });
                            }
                        >
                            "Yes, close and release"
                        </button>
                        <button class="secondary" on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </div>
                }
            })}
        })}
        {requested.then(|| view! { <Spinner label="The relay is adding the last submissions under encryption…" /> })}
        <ErrorBox err=err />
    }
}

/// One field's decrypted result: its table row and its charts.
fn field_view(spec_field: &Value, r: &Value, n: u64) -> (AnyView, Vec<AnyView>) {
    let name = r["name"].as_str().unwrap_or_default().to_owned();
    let mut charts = Vec::new();
    let mut bins_text = "—".to_owned();
    let bins: Vec<u64> = r["bins"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    if !bins.is_empty() {
        let edges: Vec<i64> = spec_field["bins"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let labels = bin_labels(
            spec_field["lo"].as_i64().unwrap_or(0),
            spec_field["hi"].as_i64().unwrap_or(0),
            &edges,
        );
        bins_text = labels
            .iter()
            .zip(&bins)
            .map(|(l, c)| format!("{l}: {c}"))
            .collect::<Vec<_>>()
            .join(", ");
        // In the proven encoding a submission whose histogram cells were not exactly
        // one counts in no cell (its value still counts in the sum).
        let dropped = n.saturating_sub(bins.iter().sum());
        if dropped > 0 {
            bins_text.push_str(&format!(
                " ({dropped} submission(s) sent a histogram that was not one range and count in none)"
            ));
        }
        let bars = labels
            .into_iter()
            .zip(&bins)
            .map(|(label, c)| Bar {
                label,
                value: *c as f64,
                interval: None,
            })
            .collect();
        charts.push(view! { <BarChart title=format!("{name}: histogram (patients per range)") bars=bars /> }.into_any());
    }
    let thresholds: Vec<i64> = spec_field["at_least"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let counts: Vec<u64> = r["at_least"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    if counts.len() == 1 {
        let bars = thresholds
            .iter()
            .zip(&counts)
            .map(|(t, c)| Bar {
                label: format!("≥ {t}"),
                value: *c as f64,
                interval: None,
            })
            .collect();
        charts.push(view! { <BarChart title=format!("{name}: patients at or above the threshold") bars=bars /> }.into_any());
    } else if !counts.is_empty() {
        let points = thresholds
            .iter()
            .zip(&counts)
            .map(|(t, c)| (format!("≥ {t}"), *c as f64))
            .collect();
        charts.push(view! { <LineChart title=format!("{name}: patients at or above each threshold") points=points /> }.into_any());
    }
    // The true mean lies in the field's range, so the interval and the point estimate
    // may be clamped to it (post-processing: no privacy cost, coverage unchanged).
    let (lo, hi) = (
        spec_field["lo"].as_f64().unwrap_or(f64::MIN),
        spec_field["hi"].as_f64().unwrap_or(f64::MAX),
    );
    let mean = r["mean"].as_f64().unwrap_or(0.0).clamp(lo, hi);
    let iv = &r["mean_interval"];
    let interval = iv["low"]
        .as_f64()
        .zip(iv["high"].as_f64())
        .map(|(l, h)| (l.clamp(lo, hi), h.clamp(lo, hi)));
    if interval.is_some() {
        let conf = iv["confidence"].as_f64().unwrap_or(0.0) * 100.0;
        let bars = vec![Bar {
            label: format!("mean {name}"),
            value: mean,
            interval,
        }];
        charts.push(view! { <BarChart title=format!("{name}: mean with its {conf:.0}% DP interval") bars=bars /> }.into_any());
    }
    let sum_text = match (
        r["sum_interval"]["low"].as_f64(),
        r["sum_interval"]["high"].as_f64(),
    ) {
        (Some(l), Some(h)) => format!(
            "{} (noisy; {}–{})",
            r["sum"],
            fmt_num(l.clamp(lo * n as f64, hi * n as f64)),
            fmt_num(h.clamp(lo * n as f64, hi * n as f64))
        ),
        _ => r["sum"].to_string(),
    };
    let mean_text = match interval {
        Some((l, h)) => format!(
            "{} ({:.0}% DP interval {}–{})",
            fmt_num(mean),
            iv["confidence"].as_f64().unwrap_or(0.0) * 100.0,
            fmt_num(l),
            fmt_num(h)
        ),
        None => fmt_num(mean),
    };
    let counts_text = if counts.is_empty() {
        "—".to_owned()
    } else {
        thresholds
            .iter()
            .zip(&counts)
            .map(|(t, c)| format!("≥ {t}: {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let row = view! {
        <tr>
            <th scope="row">{name.clone()}</th>
            <td class="num">{n}</td>
            <td class="num" data-testid=format!("sum-{name}")>{sum_text}</td>
            <td class="num">{mean_text}</td>
            <td>{bins_text}</td>
            <td>{counts_text}</td>
        </tr>
    };
    (row.into_any(), charts)
}

#[component]
fn Results(study: Value) -> impl IntoView {
    let passphrase = RwSignal::new(String::new());
    let out = RwSignal::new(None::<Value>);
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let id = study["id"].as_str().unwrap_or_default().to_owned();
    let spec = study["spec"].clone();
    let n = study["folded"].as_u64().unwrap_or(0);
    let decrypt = {
        let spec = spec.clone();
        move || {
            let (id, spec) = (id.clone(), spec.clone());
            let p = passphrase.get_untracked();
            act(busy, err, async move {
                let pass = (!p.is_empty()).then_some(p.as_str());
                out.set(Some(
                    crate::fhe::decrypt(&id, &id, &spec, pass, 0.95).await?,
                ));
                Ok(())
            });
        }
    };
    view! {
        <form class="row" on:submit=move |ev| {
            ev.prevent_default();
            decrypt();
        }>
            <div class="grow">
                <label for=format!("pass-{}", study["id"].as_str().unwrap_or_default())>"Study passphrase (not needed in the tab that made the keys)"</label>
                <input id=format!("pass-{}", study["id"].as_str().unwrap_or_default()) type="password" autocomplete="current-password" bind:value=passphrase />
            </div>
            <button type="submit" disabled=move || busy.get()>"Decrypt the totals here"</button>
        </form>
        {move || busy.get().then(|| view! { <Spinner label="Decrypting in this browser…" /> })}
        <ErrorBox err=err />
        {move || out.get().map(|res| {
            let fields = spec["fields"].as_array().cloned().unwrap_or_default();
            let (rows, charts): (Vec<AnyView>, Vec<Vec<AnyView>>) = res
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .zip(&fields)
                .map(|(r, f)| field_view(f, r, n))
                .unzip();
            view! {
                <div class="scroll">
                    <table class="results" data-testid="results">
                        {crate::ui::head(&["Field", "n", "Sum", "Mean", "Histogram (patients per range)", "Patients at or above each threshold"])}
                        <tbody>{rows}</tbody>
                    </table>
                </div>
                <div class="chart-row" data-testid="charts">{charts.into_iter().flatten().collect_view()}</div>
            }
        })}
    }
}
