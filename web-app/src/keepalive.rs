//! Sliding sessions: while the person at this tab is active, the token is traded for
//! a fresh one before it expires, so a long training or ceremony is never cut off by
//! a sign-out, and the study key, loaded files and request log held in the tab stay.
//! When nobody has touched the tab since the token was issued, a warning counts down
//! the last minute and offers to stay signed in; at expiry the tab signs out.

use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use crate::net;

thread_local! {
    static LAST_ACTIVE: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
    static REFRESHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static WARNING: ArcRwSignal<Option<i64>> = ArcRwSignal::new(None);
}

/// Seconds left before an idle sign-out, while the warning shows.
pub fn warning() -> ArcRwSignal<Option<i64>> {
    WARNING.with(Clone::clone)
}

fn touch() {
    LAST_ACTIVE.with(|t| t.set(crate::now_secs()));
}

/// Refreshes now (the warning's "Stay signed in").
pub fn stay() {
    touch();
    refresh();
}

fn refresh() {
    if REFRESHING.with(|r| r.replace(true)) {
        return;
    }
    leptos::task::spawn_local(async {
        if net::refresh_session().await.is_ok() {
            warning().set(None);
        }
        REFRESHING.with(|r| r.set(false));
    });
}

/// One check, every second.
fn tick() {
    let Some(s) = net::session().get_untracked() else {
        warning().set(None);
        return;
    };
    let now = crate::now_secs();
    let left = s.expires_at.saturating_sub(now);
    let ttl = s.ttl_secs.max(1);
    let issued = s.expires_at.saturating_sub(ttl);
    let active = LAST_ACTIVE.with(std::cell::Cell::get) >= issued;
    if left <= 0 {
        warning().set(None);
        net::set_session(None);
        net::notice().set(Some(
            "You were signed out after a period without activity. Sign in again to go on.".into(),
        ));
    } else if active && left <= (ttl / 3).max(5) {
        refresh();
    } else if !active && left <= (ttl / 2).min(60) {
        warning().set(Some(left));
    } else {
        warning().set(None);
    }
}

/// Starts watching activity and the token's expiry (once, for the tab's life).
pub fn start() {
    touch();
    let Some(w) = web_sys::window() else {
        return;
    };
    let on_activity = Closure::<dyn Fn()>::new(touch);
    for event in ["pointerdown", "keydown", "input", "wheel", "touchstart"] {
        let _ = w.add_event_listener_with_callback(event, on_activity.as_ref().unchecked_ref());
    }
    on_activity.forget();
    let on_tick = Closure::<dyn Fn()>::new(tick);
    let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
        on_tick.as_ref().unchecked_ref(),
        1000,
    );
    on_tick.forget();
}

/// The idle warning, when it shows.
#[component]
pub fn IdleWarning() -> impl IntoView {
    move || {
        warning().get().map(|left| {
            view! {
                <div class="idle-warning" role="alertdialog" aria-live="assertive" data-testid="idle-warning">
                    <p>{format!(
                        "You will be signed out in {left} s because this tab has been idle. Anything held in this tab (a study key, a loaded file) would be lost."
                    )}</p>
                    <button on:click=move |_| stay()>"Stay signed in"</button>
                </div>
            }
        })
    }
}
