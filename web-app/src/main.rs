//! # phiveil-web
//!
//! The phiveil web app: a Leptos (client-side rendered) front end compiled to wasm and
//! served by `phiveil-relay serve` at `/`. It links `phiveil-core` directly: records are
//! redacted, encrypted and decrypted in the browser; study keys, proven submissions and
//! released aggregates are handled in a worker on the `phiveil/fhe` bundle. Views:
//! patient (records, sharing, studies, federated trainings fed from local data, what
//! left this browser), clinician (granted records, invitations, studies with charts,
//! federated trainings with their curves) and operator (audit log, alerts, metrics,
//! users).
#![forbid(unsafe_code)]
// The views read relay answers as `serde_json::Value`, whose `v["key"]` indexing returns
// `Null` for a missing key or a non-object and never panics; clippy cannot tell it from
// slice indexing. The app indexes no slices (it uses `get`), and writes through
// `as_object_mut`, never `IndexMut`.
#![allow(clippy::indexing_slicing)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::arithmetic_side_effects
    )
)]

mod access;
mod charts;
mod clinician;
mod export;
mod fhe;
mod keepalive;
mod keys;
mod net;
mod operator;
mod patient;
mod records;
mod training;
mod ui;

use leptos::prelude::*;
use serde_json::json;

use crate::net::{session, AppError};
use crate::ui::ErrorBox;

/// Seconds since the Unix epoch (browser clock).
pub fn now_secs() -> i64 {
    #[allow(clippy::cast_possible_truncation)]
    let s = (js_sys::Date::now() / 1000.0) as i64;
    s
}

/// A Unix time as `YYYY-MM-DD HH:MM` (UTC).
pub fn fmt_time(secs: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(secs as f64 * 1000.0));
    let iso: String = d.to_iso_string().into();
    iso.get(..16).unwrap_or(&iso).replace('T', " ")
}

/// Takes the complete Server-Sent Events out of `buf` as `(event, data)` pairs and
/// leaves an incomplete one in it. Comments and keep-alives are skipped.
pub fn sse_events(buf: &mut String) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let normalized = buf.replace("\r\n", "\n");
    let mut rest = normalized.as_str();
    while let Some(end) = rest.find("\n\n") {
        let (block, tail) = rest.split_at(end);
        rest = tail.get(2..).unwrap_or_default();
        let (mut event, mut data) = ("message".to_owned(), Vec::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
            }
        }
        if !data.is_empty() {
            out.push((event, data.join("\n")));
        }
    }
    *buf = rest.to_owned();
    out
}

fn main() {
    // A bug should say what it was in the console rather than "unreachable".
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("phiveil-web: {info}").into());
    }));
    keepalive::start();
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let role = move || session().get().map(|s| s.role);
    // The page reports when it is interactive (the end-to-end tests and the
    // time-to-interactive measurement wait for this).
    Effect::new(move |_| {
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            let _ = body.set_attribute("data-ready", "true");
        }
        if let Some(perf) = web_sys::window().and_then(|w| w.performance()) {
            let _ = perf.mark("phiveil-interactive");
        }
    });
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="top">
            <span class="brand">"phiveil"</span>
            <span class="tagline">"private health data: plaintext stays in this browser"</span>
            {move || {
                session()
                    .get()
                    .map(|s| {
                        view! {
                            <span class="who" data-testid="who">
                                {format!("{} · {}", s.username, s.role)}
                            </span>
                            <button
                                class="secondary"
                                on:click=move |_| net::set_session(None)
                            >
                                "Sign out"
                            </button>
                        }
                    })
            }}
        </header>
        <keepalive::IdleWarning />
        <main id="main">
            {move || match role().as_deref() {
                None => view! { <SignIn /> }.into_any(),
                Some("patient") => view! { <patient::PatientView /> }.into_any(),
                Some("clinician") => view! { <clinician::ClinicianView /> }.into_any(),
                Some("operator") => view! { <operator::OperatorView /> }.into_any(),
                Some(other) => {
                    view! { <p class="error">{format!("Unknown role {other}")}</p> }.into_any()
                }
            }}
        </main>
    }
}

#[component]
fn SignIn() -> impl IntoView {
    let user = RwSignal::new(String::new());
    let pass = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let new_user = RwSignal::new(String::new());
    let new_pass = RwSignal::new(String::new());
    let err = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let sign_in = move |username: String, password: String| {
        busy.set(true);
        err.set(None);
        leptos::task::spawn_local(async move {
            match net::login(&username, &password).await {
                Ok(s) => {
                    net::notice().set(None);
                    net::set_session(Some(s));
                }
                Err(e) => err.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let enroll = move || {
        busy.set(true);
        err.set(None);
        let (c, u, p) = (code.get(), new_user.get(), new_pass.get());
        leptos::task::spawn_local(async move {
            let body = json!({ "code": c.trim(), "username": u, "password": p });
            match net::api("POST", "/v1/enroll", Some(body)).await {
                Ok(_) => sign_in(u, p),
                Err(e) => {
                    err.set(Some(e));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <div class="signin">
            {move || net::notice().get().map(|n| view! { <p class="notice" role="status">{n}</p> })}
            <section class="card">
                <h1>"Sign in"</h1>
                <form on:submit=move |ev| {
                    ev.prevent_default();
                    sign_in(user.get(), pass.get());
                }>
                    <label for="login-user">"Username"</label>
                    <input id="login-user" autocomplete="username" bind:value=user required />
                    <label for="login-pass">"Password"</label>
                    <input
                        id="login-pass"
                        type="password"
                        autocomplete="current-password"
                        bind:value=pass
                        required
                    />
                    <button type="submit" disabled=move || busy.get()>
                        "Sign in"
                    </button>
                </form>
            </section>
            <section class="card">
                <h2>"New patient? Enroll with your invitation"</h2>
                <form on:submit=move |ev| {
                    ev.prevent_default();
                    enroll();
                }>
                    <label for="enroll-code">"Invitation code"</label>
                    <input id="enroll-code" bind:value=code required />
                    <label for="enroll-user">"Choose a username"</label>
                    <input id="enroll-user" autocomplete="username" bind:value=new_user required />
                    <label for="enroll-pass">"Choose a password (10+ characters)"</label>
                    <input
                        id="enroll-pass"
                        type="password"
                        autocomplete="new-password"
                        bind:value=new_pass
                        required
                    />
                    <button type="submit" disabled=move || busy.get()>
                        "Enroll"
                    </button>
                </form>
            </section>
            <ErrorBox err=err />
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_and_keep_the_tail() {
        let mut buf =
            ": keep-alive\n\nevent: alert\ndata: {\"a\":1}\n\nevent: alert\ndata: {".to_owned();
        let ev = sse_events(&mut buf);
        assert_eq!(ev, vec![("alert".to_owned(), "{\"a\":1}".to_owned())]);
        assert_eq!(buf, "event: alert\ndata: {");
        buf.push_str("}\r\n\r\n");
        assert_eq!(
            sse_events(&mut buf),
            vec![("alert".to_owned(), "{}".to_owned())]
        );
        assert!(buf.is_empty());
    }
}
