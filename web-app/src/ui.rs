//! Shared pieces: loading/empty/error states, tabs, the outbox panel, async helpers.

use std::future::Future;

use leptos::prelude::*;

use crate::net::{self, AppError};

/// State of something loaded from the relay.
#[derive(Debug, Clone, PartialEq)]
pub enum Load<T> {
    /// In flight.
    Loading,
    /// Arrived.
    Ready(T),
    /// Failed.
    Failed(AppError),
}

/// Loads `fetch()` into `into`, now and each time it is called again.
pub fn load<T, F, Fut>(into: RwSignal<Load<T>>, fetch: F)
where
    T: Send + Sync + 'static,
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = Result<T, AppError>> + 'static,
{
    // `into` may belong to a view that is gone by the time an answer arrives (a
    // reload after an action, a tab switched): then nothing is shown or set.
    match into.try_with_untracked(|l| matches!(l, Load::Ready(_))) {
        None => return,
        Some(false) => into.set(Load::Loading),
        Some(true) => {}
    }
    leptos::task::spawn_local(async move {
        into.set(match fetch().await {
            Ok(v) => Load::Ready(v),
            Err(e) => Load::Failed(e),
        });
    });
}

/// Runs an action: marks `busy`, clears `err`, sets `err` if it fails.
pub fn act<Fut>(busy: RwSignal<bool>, err: RwSignal<Option<AppError>>, fut: Fut)
where
    Fut: Future<Output = Result<(), AppError>> + 'static,
{
    busy.set(true);
    err.set(None);
    leptos::task::spawn_local(async move {
        if let Err(e) = fut.await {
            err.set(Some(e));
        }
        busy.set(false);
    });
}

/// Renders a [`Load`]: a spinner while loading, an error box when it failed, `ready`
/// otherwise.
pub fn show<T, V>(
    state: RwSignal<Load<T>>,
    ready: impl Fn(T) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    move || match state.get() {
        Load::Loading => view! { <Spinner label="Loading…" /> }.into_any(),
        Load::Failed(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
        Load::Ready(v) => ready(v).into_any(),
    }
}

/// Renders a loaded list like [`show`]: `empty` when it has no items, `item`'s view of
/// each otherwise.
pub fn show_each<T, V>(
    state: RwSignal<Load<Vec<T>>>,
    empty: &'static str,
    item: impl Fn(T) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    show(state, move |list: Vec<T>| {
        if list.is_empty() {
            return view! { <Empty text=empty /> }.into_any();
        }
        list.into_iter().map(&item).collect_view().into_any()
    })
}

/// A table's header row.
pub fn head(columns: &[&'static str]) -> impl IntoView {
    view! {
        <thead>
            <tr>{columns.iter().map(|c| view! { <th scope="col">{*c}</th> }).collect_view()}</tr>
        </thead>
    }
}

/// A card's heading with a "Refresh" button beside it.
#[component]
pub fn RefreshHeading(
    #[prop(into)] id: String,
    #[prop(into)] title: String,
    on_refresh: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="row spread">
            <h2 id=id>{title}</h2>
            <button class="secondary" on:click=move |_| on_refresh()>"Refresh"</button>
        </div>
    }
}

/// An error message, when there is one; it scrolls itself into view, so on a phone
/// it is not left below the screen's edge.
#[component]
pub fn ErrorBox(err: RwSignal<Option<AppError>>) -> impl IntoView {
    let node = NodeRef::<leptos::html::P>::new();
    Effect::new(move |_| {
        if err.get().is_some() {
            if let Some(el) = node.get() {
                let opts = web_sys::ScrollIntoViewOptions::new();
                opts.set_block(web_sys::ScrollLogicalPosition::Nearest);
                el.scroll_into_view_with_scroll_into_view_options(&opts);
            }
        }
    });
    move || {
        err.get().map(|e| {
            view! { <p class="error" role="alert" data-testid="error" node_ref=node>{e.to_string()}</p> }
        })
    }
}

/// A button for an action that cannot be undone: the first click asks `question`,
/// and only the second, explicit button (`confirm`) runs `action`.
#[component]
pub fn ConfirmButton<F, Fut>(
    #[prop(into)] label: String,
    #[prop(into)] question: String,
    #[prop(into)] confirm: String,
    busy: RwSignal<bool>,
    err: RwSignal<Option<AppError>>,
    action: F,
) -> impl IntoView
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), AppError>> + 'static,
{
    let asking = RwSignal::new(false);
    view! {
        {move || (!asking.get()).then(|| view! {
            <button class="secondary" disabled=move || busy.get() on:click=move |_| asking.set(true)>
                {label.clone()}
            </button>
        })}
        {move || asking.get().then(|| {
            let (question, confirm, action) = (question.clone(), confirm.clone(), action.clone());
            view! {
                <div class="confirm" role="alertdialog">
                    <p>{question}</p>
                    <button
                        disabled=move || busy.get()
                        on:click=move |_| {
                            asking.set(false);
                            act(busy, err, action());
                        }
                    >
                        {confirm}
                    </button>
                    <button class="secondary" on:click=move |_| asking.set(false)>"Keep it"</button>
                </div>
            }
        })}
    }
}

/// A small activity indicator with a label.
#[component]
pub fn Spinner(#[prop(into)] label: String) -> impl IntoView {
    view! {
        <p class="loading" role="status" aria-live="polite">
            <span class="spinner" aria-hidden="true"></span>
            {label}
        </p>
    }
}

/// An empty state.
#[component]
pub fn Empty(#[prop(into)] text: String) -> impl IntoView {
    view! { <p class="empty">{text}</p> }
}

/// A row of tabs (buttons with `aria-selected`); `current` holds the selected index.
#[component]
pub fn Tabs(labels: Vec<&'static str>, current: RwSignal<usize>) -> impl IntoView {
    view! {
        <nav class="tabs" role="tablist">
            {labels
                .into_iter()
                .enumerate()
                .map(|(i, label)| {
                    view! {
                        <button
                            role="tab"
                            class="tab"
                            aria-selected=move || (current.get() == i).to_string()
                            on:click=move |_| current.set(i)
                        >
                            {label}
                        </button>
                    }
                })
                .collect_view()}
        </nav>
    }
}

/// "What left this browser": every request this tab sent, with its size and whether
/// the body was ciphertext.
#[component]
pub fn Outbox() -> impl IntoView {
    let rows = move || net::outbox().get();
    view! {
        <section class="card" aria-labelledby="outbox-h">
            <h2 id="outbox-h">"What left this browser"</h2>
            <p class="hint">
                "Every request this tab sent to the relay. Records and study values leave only as ciphertext; JSON requests carry metadata (ids, sizes, record types)."
            </p>
            {move || {
                let list = rows();
                let total: usize = list.iter().map(|r| r.size).sum();
                let cipher: usize = list
                    .iter()
                    .filter(|r| r.payload.is_ciphertext())
                    .map(|r| r.size)
                    .sum();
                view! {
                    <p data-testid="outbox-summary">
                        {format!(
                            "{} requests, {} bytes sent, {} bytes of them ciphertext.",
                            list.len(),
                            total,
                            cipher,
                        )}
                    </p>
                }
            }}
            {move || {
                let patient = net::session().get().and_then(|s| s.pseudonym)?;
                let ledger: phiveil_core::dp::PrivacyLedger =
                    serde_json::from_str(&crate::patient::load_ledger(&patient)?).ok()?;
                let rows: Vec<_> = ledger
                    .studies()
                    .map(|(id, a)| {
                        format!(
                            "Study {id}: {} spent, {} left.",
                            crate::patient::fmt_privacy(&a.spent()),
                            crate::patient::fmt_privacy(&a.remaining())
                        )
                    })
                    .collect();
                (!rows.is_empty()).then(|| {
                    view! {
                        <h3>"Privacy budget spent from this browser"</h3>
                        <ul data-testid="outbox-privacy">
                            {rows.into_iter().map(|r| view! { <li>{r}</li> }).collect_view()}
                        </ul>
                    }
                })
            }}
            <div class="scroll">
                <table class="outbox" data-testid="outbox">
                    {crate::ui::head(&["#", "Request", "Bytes", "Body"])}
                    <tbody>
                        {move || {
                            rows()
                                .into_iter()
                                .rev()
                                .map(|r| {
                                    let kind = match r.payload {
                                        net::Payload::Empty => "none".to_owned(),
                                        net::Payload::Json => format!("JSON metadata ({})", r.detail),
                                        p if p.is_ciphertext() => format!("ciphertext: {}", r.detail),
                                        _ => r.detail.clone(),
                                    };
                                    let class = if r.payload.is_ciphertext() { "cipher" } else { "" };
                                    view! {
                                        <tr class=class>
                                            <td>{r.seq}</td>
                                            <td>
                                                <code>{format!("{} {}", r.method, r.path)}</code>
                                            </td>
                                            <td class="num">{r.size}</td>
                                            <td>{kind}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()
                        }}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
