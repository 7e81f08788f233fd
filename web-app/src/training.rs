//! Federated training in the browser. The owner (a clinician) declares a training, runs
//! the key ceremony on its first round, publishes the initial model, releases each
//! round, decrypts the round's encrypted sum here, applies FedAvg, evaluates the model
//! on a held-out test file that never leaves the tab, and publishes the next model;
//! the curves (loss, accuracy, AUC, ε) come from the relay. A participant (a patient
//! or a site's account) loads a local CSV that never leaves the tab, computes a DP-SGD
//! update on the current model with `phiveil_core::fl`, and submits it encrypted and
//! proven through the TFHE worker, as a study submission of the round.

use std::time::Duration;

use leptos::prelude::*;
use phiveil_core::dp::Privacy;
use phiveil_core::fl::{self, Evaluation, Example, LogReg, NoiseMode, TrainingConfig};
use serde_json::{json, Value};
use wasm_bindgen::JsCast;

use crate::charts::{fmt_num, LineChart};
use crate::clinician::{Ceremony, Release};
use crate::net::{self, AppError};
use crate::ui::{act, load, show_each, ConfirmButton, ErrorBox, Load, RefreshHeading, Spinner};

fn config(t: &Value) -> Result<TrainingConfig, AppError> {
    serde_json::from_value(t["config"].clone())
        .map_err(|_| AppError::local("InvalidConfig", "the relay sent an unreadable training"))
}

fn core_err(e: &phiveil_core::Error) -> AppError {
    AppError::local(e.code(), e.to_string())
}

/// The latest published model (zeros before the first).
fn current_model(t: &Value, cfg: &TrainingConfig) -> LogReg {
    match serde_json::from_value::<Vec<f64>>(t["weights"].clone()) {
        Ok(w) if w.len() == cfg.dim() => LogReg { w },
        _ => LogReg::zeros(cfg.dim().saturating_sub(1)),
    }
}

/// A file input's CSV (features, then the 0/1 label), parsed in this tab into `into`.
fn read_csv(
    ev: &leptos::ev::Event,
    into: RwSignal<Option<Vec<Example>>>,
    err: RwSignal<Option<AppError>>,
) {
    let Some(file) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .and_then(|i| i.files())
        .and_then(|f| f.get(0))
    else {
        return;
    };
    err.set(None);
    leptos::task::spawn_local(async move {
        let parsed = match wasm_bindgen_futures::JsFuture::from(file.text()).await {
            Ok(t) => fl::parse_csv(&t.as_string().unwrap_or_default()).map_err(|e| core_err(&e)),
            Err(_) => Err(AppError::local(
                "InvalidRecord",
                "the file could not be read",
            )),
        };
        match parsed {
            Ok(rows) if !rows.is_empty() => into.set(Some(rows)),
            Ok(_) => err.set(Some(AppError::local(
                "InvalidRecord",
                "the file has no rows",
            ))),
            Err(e) => {
                into.set(None);
                err.set(Some(e));
            }
        }
    });
}

thread_local! {
    /// Held-out test rows per training, for the tab's life: a card drawn again (a
    /// list refresh, a release, a new round) finds the file it was given, so the
    /// owner is never asked again for a file the picker still names.
    static HELD_OUT: std::cell::RefCell<std::collections::HashMap<String, Vec<Example>>> =
        std::cell::RefCell::default();
}

/// The held-out rows of training `id`, kept across redraws of its card.
fn held_out(id: &str) -> RwSignal<Option<Vec<Example>>> {
    // Keyed by the signed-in user as well: another user of the tab never gets them.
    let id = format!("{}/{id}", net::tab_owner());
    let rows = RwSignal::new(HELD_OUT.with(|h| h.borrow().get(&id).cloned()));
    Effect::new(move |_| {
        if let Some(r) = rows.get() {
            HELD_OUT.with(|h| h.borrow_mut().insert(id.clone(), r));
        }
    });
    rows
}

fn ready_hint(rows: RwSignal<Option<Vec<Example>>>) -> impl IntoView {
    move || {
        rows.get().map(|r| {
            let pos = r.iter().filter(|e| e.y).count();
            view! {
                <p class="hint" data-testid="csv-loaded">{format!(
                    "{} rows loaded ({pos} positive); they stay in this browser.",
                    r.len()
                )}</p>
            }
        })
    }
}

/// Loads a training, its key study (before round 1, while the ceremony may still be due;
/// `Null` once rounds run, as their keys are set) and its current round's study.
async fn fetch(id: &str) -> Result<(Value, Value, Option<Value>), AppError> {
    let t = net::api("GET", &format!("/v1/trainings/{id}"), None).await?;
    let key = match t["key_study"].as_str() {
        Some(ks) if t["round"] == 0 => net::api("GET", &format!("/v1/studies/{ks}"), None).await?,
        _ => Value::Null,
    };
    let cur = match t["current_study"].as_str() {
        Some(cs) if t["state"] == "running" => {
            Some(net::api("GET", &format!("/v1/studies/{cs}"), None).await?)
        }
        _ => None,
    };
    Ok((t, key, cur))
}

/// The clinician's trainings: declare one, then run it round by round.
#[component]
pub fn OwnerTrainings() -> impl IntoView {
    let list = RwSignal::new(Load::<Vec<Value>>::Loading);
    let reload = move || load(list, || net::api_mine("/v1/trainings"));
    reload();
    let title = RwSignal::new(String::new());
    let rounds = RwSignal::new("10".to_owned());
    let clients = RwSignal::new("5".to_owned());
    let min_clients = RwSignal::new("3".to_owned());
    let examples = RwSignal::new("455".to_owned());
    let epsilon = RwSignal::new("3".to_owned());
    let rate = RwSignal::new("0.2".to_owned());
    let noise = RwSignal::new("distributed".to_owned());
    let reference = RwSignal::new(None::<Vec<Example>>);
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let create = move || {
        let num = |s: RwSignal<String>, what: &str| -> Result<f64, AppError> {
            s.get_untracked()
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| {
                    AppError::local("InvalidConfig", format!("{what}: enter a positive number"))
                })
        };
        let whole = |s: RwSignal<String>, what: &str| -> Result<u32, AppError> {
            s.get_untracked().trim().parse::<u32>().map_err(|_| {
                AppError::local("InvalidConfig", format!("{what}: enter a whole number"))
            })
        };
        let decl = (|| -> Result<Value, AppError> {
            let mode = if noise.get_untracked() == "per-client" {
                NoiseMode::PerClient
            } else {
                NoiseMode::Distributed
            };
            let reference = reference.get_untracked().ok_or_else(|| {
                AppError::local(
                    "InvalidConfig",
                    "choose the reference CSV whose feature means and spreads every site uses",
                )
            })?;
            let mut cfg = fl::training::wdbc_config(
                whole(rounds, "rounds")?,
                whole(clients, "clients per round")?,
                whole(min_clients, "minimum clients")?,
                num(rate, "sampling rate")?,
                whole(examples, "expected training rows")?,
                num(epsilon, "target ε")?,
                mode,
            )
            .map_err(|e| core_err(&e))?;
            let features = reference.first().map_or(0, |e| e.x.len());
            cfg.features = u32::try_from(features).unwrap_or(u32::MAX);
            cfg.scaling = Some(fl::Standardizer::fit(&reference).map_err(|e| core_err(&e))?);
            cfg.validate().map_err(|e| core_err(&e))?;
            Ok(json!({ "title": title.get_untracked().trim(), "config": cfg }))
        })();
        act(busy, err, async move {
            net::api("POST", "/v1/trainings", Some(decl?)).await?;
            title.set(String::new());
            reload();
            Ok(())
        });
    };
    let input =
        |id: &'static str, label: &'static str, sig: RwSignal<String>, step: &'static str| {
            view! {
                <div>
                    <label for=id>{label}</label>
                    <input id=id class="narrow" type="number" step=step min="0" bind:value=sig />
                </div>
            }
        };
    view! {
        <section class="card" aria-labelledby="new-training-h">
            <h2 id="new-training-h">"Start a federated training"</h2>
            <p class="hint">"Logistic regression trained with DP-SGD at the sites; each round's updates are summed under TFHE on the relay and only the sum is decrypted, in this browser. The noise multiplier is set from the target ε (δ = 1e-5) for the planned rounds."</p>
            <form on:submit=move |ev| {
                ev.prevent_default();
                create();
            }>
                <div class="row">
                    <div class="grow">
                        <label for="training-title">"Title"</label>
                        <input id="training-title" bind:value=title required />
                    </div>
                    {input("training-rounds", "Rounds", rounds, "1")}
                    {input("training-clients", "Clients per round", clients, "1")}
                    {input("training-min", "Minimum clients", min_clients, "1")}
                </div>
                <div class="row">
                    {input("training-epsilon", "Target ε", epsilon, "0.1")}
                    {input("training-rate", "Sampling rate", rate, "0.01")}
                    {input("training-examples", "Expected training rows (all sites)", examples, "1")}
                    <div>
                        <label for="training-noise">"Noise"</label>
                        <select id="training-noise" prop:value=move || noise.get() on:change=move |ev| noise.set(event_target_value(&ev))>
                            <option value="distributed">"distributed shares (the sum carries σ)"</option>
                            <option value="per-client">"per client (each update carries σ)"</option>
                        </select>
                    </div>
                </div>
                <label for="training-reference">"Feature scaling: a reference CSV (features, then the 0/1 label). Its per-feature means and spreads are published to the sites; its rows are not."</label>
                <input id="training-reference" type="file" accept=".csv,text/csv" on:change=move |ev| read_csv(&ev, reference, err) />
                {ready_hint(reference)}
                <button type="submit" disabled=move || busy.get()>"Start the training"</button>
            </form>
            <ErrorBox err=err />
        </section>
        <section class="card" aria-labelledby="my-trainings-h">
            <RefreshHeading id="my-trainings-h" title="My trainings" on_refresh=reload />
            {show_each(list, "You have not started a training yet.", |t| view! { <OwnerCard training=t /> })}
        </section>
    }
}

fn badge(t: &Value) -> String {
    match t["state"].as_str() {
        Some("running") => format!("round {} of {}", t["round"], t["config"]["rounds"]),
        Some(s) => s.to_owned(),
        None => String::new(),
    }
}

fn budget_line(t: &Value) -> String {
    let target = t["config"]["target_epsilon"].as_f64().unwrap_or(0.0);
    let next = t["next_round_epsilon"]
        .as_f64()
        .map(|e| format!("; after the next round at most ε = {e:.2}"))
        .unwrap_or_default();
    format!(
        "ε spent {:.2} of {} (δ = {:e}){next}.",
        t["epsilon"].as_f64().unwrap_or(0.0),
        fmt_num(target),
        t["config"]["delta"].as_f64().unwrap_or(0.0)
    )
}

#[component]
fn OwnerCard(training: Value) -> impl IntoView {
    let id = training["id"].as_str().unwrap_or_default().to_owned();
    let state = RwSignal::new(None::<(Value, Value, Option<Value>)>);
    let err = RwSignal::new(None::<AppError>);
    let refresh = {
        let id = id.clone();
        move || {
            let id = id.clone();
            leptos::task::spawn_local(async move {
                match fetch(&id).await {
                    // Set only what changed (the forms below keep what was typed); the
                    // card may be gone by the time the answer arrives.
                    Ok(s) => {
                        if state.try_with_untracked(|cur| cur.as_ref() != Some(&s)) == Some(true) {
                            let _ = state.try_set(Some(s));
                        }
                    }
                    Err(e) => {
                        let _ = err.try_set(Some(e));
                    }
                }
            });
        }
    };
    refresh();
    // While a round collects updates or its release is being computed, poll.
    {
        let refresh = refresh.clone();
        if let Ok(h) = set_interval_with_handle(
            move || {
                let live = state.with_untracked(|s| {
                    s.as_ref()
                        .and_then(|(_, _, c)| c.as_ref())
                        .is_some_and(|c| c["state"] == "open")
                });
                if live {
                    refresh();
                }
            },
            Duration::from_secs(3),
        ) {
            on_cleanup(move || h.clear());
        }
    }
    let test_rows = held_out(&id);
    let cancel_busy = RwSignal::new(false);
    let (id_for_cancel, refresh_for_cancel) = (id.clone(), refresh.clone());
    let timings = RwSignal::new(None::<Value>);
    let title = training["title"].as_str().unwrap_or_default().to_owned();
    view! {
        <article class="study" data-testid="training-card">
            <div class="row spread">
                <h3>{title}</h3>
                <span class="badge" data-testid="training-state">
                    {move || state.get().map(|(t, _, _)| badge(&t)).unwrap_or_default()}
                </span>
            </div>
            {move || state.get().map(|(t, _, _)| view! { <p class="hint" data-testid="training-budget">{budget_line(&t)}</p> })}
            {move || state.get().filter(|(t, _, _)| t["state"] == "running").map(|(_, key, _)| {
                let never_began = key["state"] == "keys-pending";
                let (id, refresh) = (id_for_cancel.clone(), refresh_for_cancel.clone());
                let question = if never_began {
                    "Cancel this training? Its keys were never made, so nothing has been collected; it will be removed."
                } else {
                    "Stop this training now? No further round opens; the models published so far stay."
                };
                view! {
                    <ConfirmButton
                        label=if never_began { "Cancel the training" } else { "Stop the training" }
                        question=question
                        confirm=if never_began { "Yes, cancel it" } else { "Yes, stop it" }
                        busy=cancel_busy
                        err=err
                        action=move || {
                            let (id, refresh) = (id.clone(), refresh.clone());
                            async move {
                                net::api("DELETE", &format!("/v1/trainings/{id}"), None).await?;
                                refresh();
                                Ok(())
                            }
                        }
                    />
                }
            })}
            <label for=format!("test-{id}")>"Held-out test data (CSV; evaluated in this browser, never uploaded)"</label>
            <input id=format!("test-{id}") data-testid="training-test-file" type="file" accept=".csv,text/csv" on:change=move |ev| read_csv(&ev, test_rows, err) />
            {ready_hint(test_rows)}
            {move || {
                let refresh = refresh.clone();
                state.get().map(|(t, key, cur)| {
                    if key["state"] == "keys-pending" {
                        return view! { <Ceremony study=key timings=timings on_done=refresh /> }.into_any();
                    }
                    if t["state"] != "running" {
                        return view! { <p class="ok">"The training is finished; the last model is published."</p> }.into_any();
                    }
                    if t["round"] == 0 {
                        return view! { <Publish training=t sums=false test_rows=test_rows on_done=refresh /> }.into_any();
                    }
                    let Some(cur) = cur else { return ().into_any() };
                    match cur["state"].as_str().unwrap_or_default() {
                        "open" => view! {
                            <p class="hint" data-testid="round-progress">{format!(
                                "Round {}: {} updates folded, {} queued; released at {} or more.",
                                t["round"], cur["folded"], cur["queued"], cur["spec"]["min_cohort"]
                            )}</p>
                            <Release study=cur on_done=refresh />
                        }.into_any(),
                        "released" => view! { <Publish training=t sums=true test_rows=test_rows on_done=refresh /> }.into_any(),
                        _ => ().into_any(),
                    }
                })
            }}
            {move || timings.get().map(|t| view! {
                <p class="ok" data-testid="ceremony-timings">{format!(
                    "Keys made in this browser: server key {} ms, public key {} ms, client key {} ms; wrapped in {} ms.",
                    t["server_key_ms"], t["public_key_ms"], t["client_key_ms"], t["wrap_ms"]
                )}</p>
            })}
            <ErrorBox err=err />
            {move || state.get().map(|(t, _, _)| view! { <Curves training=t /> })}
        </article>
    }
}

/// The owner's step after a release (or before round 1 with `sums = false`): decrypt
/// the round's sum, FedAvg, evaluate on the test file, publish.
#[component]
fn Publish(
    training: Value,
    sums: bool,
    test_rows: RwSignal<Option<Vec<Example>>>,
    on_done: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let passphrase = RwSignal::new(String::new());
    let last = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let done = RwSignal::new(None::<String>);
    let id = training["id"].as_str().unwrap_or_default().to_owned();
    let run = {
        let training = training.clone();
        move || {
            let (t, on_done) = (training.clone(), on_done.clone());
            let p = passphrase.get_untracked();
            let last = last.get_untracked();
            let test = test_rows.get_untracked();
            act(busy, err, async move {
                let cfg = config(&t)?;
                let test = test.ok_or_else(|| {
                    AppError::local("InvalidConfig", "choose the held-out test data first")
                })?;
                let test = cfg.prepare(&test).map_err(|e| core_err(&e))?;
                let mut model = current_model(&t, &cfg);
                if sums {
                    let study = t["current_study"].as_str().unwrap_or_default();
                    let key = t["key_study"].as_str().unwrap_or_default();
                    let round = net::api("GET", &format!("/v1/studies/{study}"), None).await?;
                    let pass = (!p.is_empty()).then_some(p.as_str());
                    let t0 = js_sys::Date::now();
                    let res = crate::fhe::decrypt(study, key, &round["spec"], pass, 0.95).await?;
                    let ms = js_sys::Date::now() - t0;
                    let sum: Vec<i64> = res
                        .as_array()
                        .map(|a| a.iter().map(|f| f["sum"].as_i64().unwrap_or(0)).collect())
                        .unwrap_or_default();
                    model = cfg.apply(&model, &sum).map_err(|e| core_err(&e))?;
                    done.set(Some(format!(
                        "Round {} decrypted in this browser in {:.1} s ({} updates).",
                        t["round"],
                        ms / 1000.0,
                        round["folded"]
                    )));
                }
                let evaluation = Evaluation::of(&model, &test);
                let tid = t["id"].as_str().unwrap_or_default();
                net::api(
                    "POST",
                    &format!("/v1/trainings/{tid}/model"),
                    Some(json!({ "weights": model.w, "evaluation": evaluation, "last": last })),
                )
                .await?;
                on_done();
                Ok(())
            });
        }
    };
    let label = if sums {
        "Decrypt, average and publish the next model"
    } else {
        "Publish the initial model (zeros) and open round 1"
    };
    view! {
        <form class="row" data-testid="training-publish" on:submit=move |ev| {
            ev.prevent_default();
            run();
        }>
            {sums.then(|| view! {
                <div class="grow">
                    <label for=format!("tpass-{id}")>"Training passphrase (not needed in the tab that made the keys)"</label>
                    <input id=format!("tpass-{id}") type="password" autocomplete="current-password" bind:value=passphrase />
                </div>
            })}
            <label class="check">
                <input type="checkbox" bind:checked=last />
                "Last model (finish the training)"
            </label>
            <button type="submit" disabled=move || busy.get()>{label}</button>
        </form>
        {move || busy.get().then(|| view! { <Spinner label="Decrypting and evaluating in this browser…" /> })}
        {move || done.get().map(|d| view! { <p class="ok">{d}</p> })}
        <ErrorBox err=err />
    }
}

/// Per-round figures and curves from the relay.
#[component]
fn Curves(training: Value) -> impl IntoView {
    let metrics = training["metrics"].as_array().cloned().unwrap_or_default();
    if metrics.is_empty() {
        return ().into_any();
    }
    let series = |f: &dyn Fn(&Value) -> Option<f64>| -> Vec<(String, f64)> {
        metrics
            .iter()
            .filter_map(|m| Some((m["after_round"].to_string(), f(m)?)))
            .collect()
    };
    let acc = series(&|m| m["evaluation"]["accuracy"].as_f64());
    let auc = series(&|m| m["evaluation"]["auc"].as_f64());
    let loss = series(&|m| m["evaluation"]["loss"].as_f64());
    let eps = series(&|m| m["epsilon"].as_f64());
    let cell = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "—".to_owned(), |x| format!("{x:.3}"))
    };
    let rows = metrics
        .iter()
        .map(|m| {
            view! {
                <tr>
                    <td class="num">{m["after_round"].to_string()}</td>
                    <td class="num">{m["folded"].to_string()}</td>
                    <td class="num">{cell(&m["sigma"])}</td>
                    <td class="num">{cell(&m["evaluation"]["loss"])}</td>
                    <td class="num">{cell(&m["evaluation"]["accuracy"])}</td>
                    <td class="num">{cell(&m["evaluation"]["auc"])}</td>
                    <td class="num">{cell(&m["epsilon"])}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="scroll">
            <table class="results" data-testid="training-metrics">
                {crate::ui::head(&["After round", "Updates", "σ (effective)", "Test loss", "Accuracy", "AUC", "ε spent"])}
                <tbody>{rows}</tbody>
            </table>
        </div>
        <div class="chart-row" data-testid="training-curves">
            <LineChart title="Test accuracy" points=acc />
            <LineChart title="Test AUC" points=auc />
            <LineChart title="Test log loss" points=loss />
            <LineChart title="ε spent" points=eps />
        </div>
    }
    .into_any()
}

/// A participant's trainings: contribute an update to each open round.
#[component]
pub fn ParticipantTrainings() -> impl IntoView {
    let list = RwSignal::new(Load::<Vec<Value>>::Loading);
    let reload = move || {
        load(list, || async {
            Ok(net::api_list("/v1/trainings")
                .await?
                .into_iter()
                .filter(|t| t["state"] == "running" && t["round"].as_u64().unwrap_or(0) > 0)
                .collect())
        })
    };
    reload();
    view! {
        <section class="card" aria-labelledby="trainings-h">
            <RefreshHeading id="trainings-h" title="Federated trainings" on_refresh=reload />
            <p class="hint">"Your rows never leave this browser: the update is computed here with differential privacy (clipped, noised), then encrypted and proven before it is uploaded. The relay only ever adds encrypted updates; the study owner decrypts the sum of a round, never yours."</p>
            {show_each(list, "No training has an open round.", |t| view! { <Contribute training=t /> })}
        </section>
    }
}

#[component]
fn Contribute(training: Value) -> impl IntoView {
    let rows = RwSignal::new(None::<Vec<Example>>);
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let done = RwSignal::new(None::<String>);
    let id = training["id"].as_str().unwrap_or_default().to_owned();
    let run = {
        let id = id.clone();
        move || {
            let id = id.clone();
            let data = rows.get_untracked();
            done.set(None);
            act(busy, err, async move {
                let data = data.ok_or_else(|| {
                    AppError::local("InvalidRecord", "choose your data file first")
                })?;
                // The model and the round as they are now.
                let t = net::api("GET", &format!("/v1/trainings/{id}"), None).await?;
                let cfg = config(&t)?;
                let Some(study) = t["current_study"]
                    .as_str()
                    .filter(|_| t["state"] == "running")
                else {
                    return Err(AppError::local(
                        "Conflict",
                        "the training has no open round",
                    ));
                };
                let round = net::api("GET", &format!("/v1/studies/{study}"), None).await?;
                if round["state"] != "open" {
                    return Err(AppError::local(
                        "Conflict",
                        "this round is closed; wait for the next one",
                    ));
                }
                let data = cfg.prepare(&data).map_err(|e| core_err(&e))?;
                let model = current_model(&t, &cfg);
                let t0 = js_sys::Date::now();
                let (update, sampled) = fl::client_update(
                    &model,
                    &data,
                    &cfg.dp_sgd(),
                    cfg.client_noise(),
                    &mut rand_core::OsRng,
                )
                .map_err(|e| core_err(&e))?;
                let (update, clamped) = cfg.clamp_update(&update).map_err(|e| core_err(&e))?;
                let compute = js_sys::Date::now() - t0;
                let me = net::session()
                    .get_untracked()
                    .and_then(|s| s.pseudonym.or(Some(s.user_id)))
                    .unwrap_or_default();
                let (_, prove, _) = crate::fhe::submit(
                    study,
                    &round["spec"],
                    &me,
                    &update,
                    crate::patient::load_ledger(&me),
                    Privacy::Pure { epsilon: 0.0 },
                )
                .await?;
                done.set(Some(format!(
                    "Round {}: update computed in {:.0} ms on {sampled} sampled rows{}, encrypted and proven in {:.1} s; the relay verified the proof.",
                    t["round"],
                    compute,
                    if clamped > 0 { format!(" ({clamped} coordinates clamped)") } else { String::new() },
                    prove / 1000.0
                )));
                Ok(())
            });
        }
    };
    let title = training["title"].as_str().unwrap_or_default().to_owned();
    view! {
        <article class="study" data-testid="training-contribute">
            <div class="row spread">
                <h3>{title}</h3>
                <span class="badge">{badge(&training)}</span>
            </div>
            <p class="hint">{budget_line(&training)}</p>
            <form on:submit=move |ev| {
                ev.prevent_default();
                run();
            }>
                <label for=format!("data-{id}")>"Your training data (CSV: features, then the 0/1 label)"</label>
                <input id=format!("data-{id}") data-testid="training-data-file" type="file" accept=".csv,text/csv" on:change=move |ev| read_csv(&ev, rows, err) />
                {ready_hint(rows)}
                <button type="submit" disabled=move || busy.get()>"Train here and submit the encrypted update"</button>
            </form>
            {move || busy.get().then(|| view! { <Spinner label="Training, encrypting and proving in this browser…" /> })}
            {move || done.get().map(|d| view! { <p class="ok" data-testid="training-submitted">{d}</p> })}
            <ErrorBox err=err />
        </article>
    }
}
