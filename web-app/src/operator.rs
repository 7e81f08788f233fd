//! The operator's views: audit log search and chain verification, live alerts (SSE),
//! the relay's metrics, and accounts for clinicians and operators.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde_json::{json, Value};

use crate::net::{self, AppError};
use crate::ui::{act, load, show, Empty, ErrorBox, Load, RefreshHeading, Tabs};

#[component]
pub fn OperatorView() -> impl IntoView {
    let tab = RwSignal::new(0usize);
    // Alerts are collected from sign-in on, whichever tab is shown.
    let alerts = RwSignal::new(Vec::<Value>::new());
    let feed = RwSignal::new(Load::<()>::Loading);
    leptos::task::spawn_local(async move {
        // The feed stops when this view goes (sign-out): `alerts` is disposed then.
        let r = net::sse(
            "/v1/alerts/stream",
            move || !alerts.is_disposed(),
            move |event, data| match event {
                "open" => feed.set(Load::Ready(())),
                "alert" => {
                    if let Ok(v) = serde_json::from_str::<Value>(data) {
                        alerts.update(|a| a.insert(0, v));
                    }
                }
                _ => {}
            },
        )
        .await;
        // (`set` on a disposed signal does nothing.)
        feed.set(Load::Failed(r.err().unwrap_or_else(|| {
            AppError::local("network", "the alert feed closed; reload to reconnect")
        })));
    });
    view! {
        <Tabs labels=vec!["Audit log", "Alerts", "Metrics", "Accounts"] current=tab />
        <div role="tabpanel">
            {move || match tab.get() {
                0 => view! { <Audit /> }.into_any(),
                1 => view! { <Alerts alerts=alerts feed=feed /> }.into_any(),
                2 => view! { <Metrics /> }.into_any(),
                _ => view! { <Accounts /> }.into_any(),
            }}
        </div>
    }
}

fn query_string(pairs: &[(&str, String)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| {
            format!(
                "{k}={}",
                String::from(js_sys::encode_uri_component(v.trim()))
            )
        })
        .collect();
    q.join("&")
}

#[component]
fn Audit() -> impl IntoView {
    let actor = RwSignal::new(String::new());
    let patient = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let outcome = RwSignal::new(String::new());
    let rows = RwSignal::new(Load::<Vec<Value>>::Loading);
    let verify = RwSignal::new(None::<Value>);
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    let search = move || {
        let q = query_string(&[
            ("actor", actor.get_untracked()),
            ("patient", patient.get_untracked()),
            ("action", action.get_untracked()),
            ("outcome", outcome.get_untracked()),
            ("limit", "200".into()),
        ]);
        load(rows, move || async move {
            net::api_list(&format!("/v1/audit?{q}")).await
        });
    };
    search();
    view! {
        <section class="card" aria-labelledby="audit-h">
            <h2 id="audit-h">"Audit log"</h2>
            <form class="row wrap" on:submit=move |ev| {
                ev.prevent_default();
                search();
            }>
                <div><label for="a-actor">"Actor (user id)"</label><input id="a-actor" bind:value=actor /></div>
                <div><label for="a-patient">"Patient (pseudonym)"</label><input id="a-patient" bind:value=patient /></div>
                <div><label for="a-action">"Action"</label><input id="a-action" placeholder="e.g. unwrap" bind:value=action /></div>
                <div>
                    <label for="a-outcome">"Outcome"</label>
                    <select id="a-outcome" on:change=move |ev| outcome.set(event_target_value(&ev))>
                        <option value="">"any"</option>
                        <option value="allowed">"allowed"</option>
                        <option value="refused">"refused"</option>
                    </select>
                </div>
                <button type="submit">"Search"</button>
                <button type="button" class="secondary" disabled=move || busy.get() on:click=move |_| {
                    act(busy, err, async move {
                        verify.set(Some(net::api("GET", "/v1/audit/verify", None).await?));
                        Ok(())
                    })
                }>"Verify the hash chain"</button>
            </form>
            {move || verify.get().map(|v| {
                let ok = v["first_broken"].is_null();
                let text = if ok {
                    format!("Chain intact: {} rows verified.", v["rows"])
                } else {
                    format!("Chain broken at row {}: {}", v["first_broken"], v["reason"].as_str().unwrap_or_default())
                };
                view! { <p class=if ok { "ok" } else { "error" } role="status" data-testid="verify">{text}</p> }
            })}
            <ErrorBox err=err />
            {show(rows, |list| {
                if list.is_empty() {
                    return view! { <Empty text="No audit rows match." /> }.into_any();
                }
                view! {
                    <div class="scroll">
                        <table class="wide" data-testid="audit">
                            {crate::ui::head(&["#", "Time", "Actor", "Role", "Action", "Patient", "Outcome", "Detail"])}
                            <tbody>
                                {list.into_iter().map(|r| {
                                    let refused = r["outcome"] == "refused";
                                    view! {
                                        <tr class=if refused { "refused" } else { "" }>
                                            <td class="num">{r["seq"].as_i64().unwrap_or(0)}</td>
                                            <td>{crate::fmt_time(r["ts"].as_i64().unwrap_or(0))}</td>
                                            <td><code>{r["actor"].as_str().unwrap_or_default().to_owned()}</code></td>
                                            <td>{r["role"].as_str().unwrap_or_default().to_owned()}</td>
                                            <td>{r["action"].as_str().unwrap_or_default().to_owned()}</td>
                                            <td><code>{r["patient"].as_str().unwrap_or_default().to_owned()}</code></td>
                                            <td>{r["outcome"].as_str().unwrap_or_default().to_owned()}</td>
                                            <td>{r["detail"].as_str().unwrap_or_default().to_owned()}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                .into_any()
            })}
        </section>
    }
}

#[component]
fn Alerts(alerts: RwSignal<Vec<Value>>, feed: RwSignal<Load<()>>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="alerts-h">
            <h2 id="alerts-h">"Live alerts"</h2>
            <p class="hint" data-testid="feed-state">
                {move || match feed.get() {
                    Load::Loading => "Connecting to the alert feed…".to_owned(),
                    Load::Ready(()) => "Connected: alerts appear here as the relay raises them.".to_owned(),
                    Load::Failed(e) => format!("Alert feed unavailable: {e}"),
                }}
            </p>
            {move || {
                let list = alerts.get();
                if list.is_empty() {
                    return view! { <Empty text="No alert since you signed in." /> }.into_any();
                }
                view! {
                    <ul class="alerts" data-testid="alerts" aria-live="polite">
                        {list.into_iter().map(|a| view! {
                            <li>
                                <strong>{a["rule"].as_str().unwrap_or_default().to_owned()}</strong>
                                {format!(" — actor {} ({} events) at {}", a["actor"].as_str().unwrap_or_default(), a["count"], crate::fmt_time(a["ts"].as_i64().unwrap_or(0)))}
                            </li>
                        }).collect_view()}
                    </ul>
                }
                .into_any()
            }}
        </section>
    }
}

/// Per-route figures from the relay's Prometheus text.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RouteStats {
    /// Requests.
    pub requests: u64,
    /// 4xx answers.
    pub client_errors: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Total seconds spent.
    pub seconds: f64,
    /// Requests timed.
    pub timed: u64,
}

fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    let start = labels
        .find(&format!("{key}=\""))?
        .checked_add(key.len())?
        .checked_add(2)?;
    let rest = labels.get(start..)?;
    rest.get(..rest.find('"')?)
}

/// Reads `phiveil_http_requests_total` and the latency sums/counts by route.
pub fn parse_metrics(text: &str) -> BTreeMap<String, RouteStats> {
    let mut out: BTreeMap<String, RouteStats> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((head, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((name, labels)) = head.split_once('{') else {
            continue;
        };
        let Some(route) = label(labels, "route") else {
            continue;
        };
        let e = out.entry(route.to_owned()).or_default();
        match name {
            "phiveil_http_requests_total" => {
                let n: u64 = value.parse().unwrap_or(0);
                e.requests = e.requests.saturating_add(n);
                match label(labels, "status").and_then(|s| s.chars().next()) {
                    Some('4') => e.client_errors = e.client_errors.saturating_add(n),
                    Some('5') => e.server_errors = e.server_errors.saturating_add(n),
                    _ => {}
                }
            }
            "phiveil_http_request_duration_seconds_sum" => e.seconds = value.parse().unwrap_or(0.0),
            "phiveil_http_request_duration_seconds_count" => e.timed = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    out
}

#[component]
fn Metrics() -> impl IntoView {
    let stats = RwSignal::new(Load::Loading);
    let reload = move || {
        load(stats, || async {
            Ok(parse_metrics(&net::get_text("/metrics").await?))
        })
    };
    reload();
    view! {
        <section class="card" aria-labelledby="metrics-h">
            <RefreshHeading id="metrics-h" title="Relay metrics" on_refresh=reload />
            {show(stats, |m| {
                if m.is_empty() {
                    return view! { <Empty text="No requests recorded yet." /> }.into_any();
                }
                let total: u64 = m.values().map(|s| s.requests).sum();
                let errors: u64 = m.values().map(|s| s.server_errors).sum();
                let refused: u64 = m.values().map(|s| s.client_errors).sum();
                view! {
                    <div class="tiles" data-testid="metric-tiles">
                        <div class="tile"><span class="big">{total}</span>" requests"</div>
                        <div class="tile"><span class="big">{refused}</span>" refused (4xx)"</div>
                        <div class="tile"><span class="big">{errors}</span>" server errors (5xx)"</div>
                    </div>
                    <div class="scroll">
                        <table class="wide" data-testid="metrics">
                            {crate::ui::head(&["Route", "Requests", "4xx", "5xx", "Mean latency"])}
                            <tbody>
                                {m.into_iter().map(|(route, s)| {
                                    let mean = if s.timed > 0 { format!("{:.1} ms", s.seconds * 1000.0 / s.timed as f64) } else { "–".into() };
                                    view! {
                                        <tr>
                                            <td><code>{route}</code></td>
                                            <td class="num">{s.requests}</td>
                                            <td class="num">{s.client_errors}</td>
                                            <td class="num">{s.server_errors}</td>
                                            <td class="num">{mean}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                .into_any()
            })}
        </section>
    }
}

#[component]
fn Accounts() -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new("clinician".to_owned());
    let done = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let err = RwSignal::new(None::<AppError>);
    view! {
        <section class="card" aria-labelledby="acct-h">
            <h2 id="acct-h">"Create a clinician or operator account"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                let (u, p, r) = (username.get_untracked(), password.get_untracked(), role.get_untracked());
                done.set(None);
                act(busy, err, async move {
                    net::api("POST", "/v1/users", Some(json!({ "username": u, "password": p, "role": r }))).await?;
                    done.set(Some(format!("Account {u} ({r}) created.")));
                    username.set(String::new());
                    password.set(String::new());
                    Ok(())
                });
            }>
                <label for="u-name">"Username"</label>
                <input id="u-name" bind:value=username required />
                <label for="u-pass">"Initial password (10+ characters)"</label>
                <input id="u-pass" type="password" autocomplete="new-password" bind:value=password required />
                <label for="u-role">"Role"</label>
                <select id="u-role" on:change=move |ev| role.set(event_target_value(&ev))>
                    <option value="clinician">"clinician"</option>
                    <option value="operator">"operator"</option>
                </select>
                <button type="submit" disabled=move || busy.get()>"Create"</button>
            </form>
            {move || done.get().map(|d| view! { <p class="ok" role="status">{d}</p> })}
            <ErrorBox err=err />
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_by_route() {
        let text = "# HELP x\n\
            phiveil_http_requests_total{method=\"GET\",route=\"/v1/records\",status=\"200\"} 5\n\
            phiveil_http_requests_total{method=\"GET\",route=\"/v1/records\",status=\"403\"} 2\n\
            phiveil_http_requests_total{method=\"POST\",route=\"/v1/records\",status=\"500\"} 1\n\
            phiveil_http_request_duration_seconds_sum{route=\"/v1/records\"} 0.8\n\
            phiveil_http_request_duration_seconds_count{route=\"/v1/records\"} 8\n";
        let m = parse_metrics(text);
        let r = &m["/v1/records"];
        assert_eq!(
            (r.requests, r.client_errors, r.server_errors, r.timed),
            (8, 2, 1, 8)
        );
        assert!((r.seconds - 0.8).abs() < 1e-12);
    }

    #[test]
    fn query_skips_empty_fields() {
        // encode_uri_component needs a JS engine; only empty fields are checked here.
        assert_eq!(query_string(&[("a", " ".into())]), "");
    }
}
