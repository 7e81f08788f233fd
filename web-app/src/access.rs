//! The patient's access log: every access to the patient's data the relay recorded (who,
//! when, what, the outcome), each row checked here against a checkpoint the relay
//! signed (`phiveil_core::audit_proof`), and the checkpoints compared with those this
//! browser saw before (kept in local storage): an edited row, rows deleted from the end,
//! a rewritten history or another signing key are shown, not hidden.

use leptos::prelude::*;
use phiveil_core::audit_proof::{check_access_log, AccessLog, Checked, Checkpoint, RowCheck};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::net::{self, AppError};
use crate::ui::{load, show, Load, RefreshHeading};

/// What this browser remembers of an account's log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Seen {
    /// The checkpoint key's fingerprint.
    key: Option<String>,
    /// Window checkpoints seen (newest 32).
    checkpoints: Vec<Checkpoint>,
}

fn storage_key(user: &str) -> String {
    format!("phiveil.audit-checkpoints.{user}")
}

fn load_seen(user: &str) -> Seen {
    net::local_get(&storage_key(user))
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save_seen(user: &str, seen: &Seen) {
    net::local_set(
        &storage_key(user),
        &serde_json::to_string(seen).unwrap_or_default(),
    );
}

/// A checked log, with the names of the accounts in it.
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    log: AccessLog,
    checked: Checked,
    names: Value,
}

/// Fetches the log, checks it against what this browser saw, and remembers its
/// checkpoints (the first key seen stays the one compared with).
async fn fetch() -> Result<Shown, AppError> {
    let user = net::session()
        .get_untracked()
        .map(|s| s.user_id)
        .unwrap_or_default();
    let mut seen = load_seen(&user);
    let since = seen.checkpoints.iter().map(|c| c.seq).max();
    let path = match since {
        Some(s) => format!("/v1/me/access-log?since={s}"),
        None => "/v1/me/access-log".to_owned(),
    };
    let body = net::api("GET", &path, None).await?;
    let log: AccessLog = serde_json::from_value(body.clone())
        .map_err(|e| AppError::local("bad-answer", e.to_string()))?;
    let checked = check_access_log(&log, &seen.checkpoints, seen.key.as_deref());
    if seen.key.is_none() {
        seen.key = Some(checked.key_fingerprint.clone());
    }
    if checked.alarms.is_empty() {
        for c in &checked.remember {
            if !seen.checkpoints.iter().any(|s| s.seq == c.seq) {
                seen.checkpoints.push(c.clone());
            }
        }
        seen.checkpoints.sort_by_key(|c| std::cmp::Reverse(c.seq));
        seen.checkpoints.truncate(32);
        save_seen(&user, &seen);
    }
    Ok(Shown {
        log,
        checked,
        names: body["names"].clone(),
    })
}

/// What an audit action means, for the patient.
fn describe(action: &str) -> &str {
    match action {
        "data-key" => "data key issued",
        "unwrap" => "data key unwrapped",
        "download-url" => "record downloaded",
        "upload-url" | "upload-complete" => "record uploaded",
        "list-records" => "records listed",
        "grant" => "access granted",
        "revoke" => "access revoked",
        "public-key" => "public key published",
        "key-backup" | "key-backup-fetch" => "key backup stored or read",
        "key-share" => "record key shared",
        "key-share-fetch" => "record key share read",
        "escrow-recover" => "record recovered through escrow",
        "vital-alert" => "vital-sign alert",
        "vital-alerts-read" | "vital-alerts-subscribe" => "vital-sign alerts read",
        "study-submit" | "study-submit-complete" => "study submission",
        "study-fold" => "study submission aggregated",
        "access-log" => "access log read",
        other => other,
    }
}

/// The "Access log" tab.
#[component]
pub fn AccessLogTab() -> impl IntoView {
    let state = RwSignal::new(Load::<Shown>::Loading);
    let reload = move || load(state, fetch);
    reload();
    view! {
        <section class="card" aria-labelledby="access-h">
            <RefreshHeading id="access-h" title="Who accessed your data" on_refresh=reload />
            <p class="hint">
                "Every access the relay recorded to your records, keys and grants. This browser checks each row against a checkpoint the relay signed and against the checkpoints it saw before, so an edited or deleted row shows here."
            </p>
            {show(state, |s: Shown| {
                let proven = s.checked.rows.iter().filter(|r| matches!(r, RowCheck::Proven { .. })).count();
                let broken = s.checked.rows.iter().filter(|r| matches!(r, RowCheck::Broken { .. })).count();
                let names = s.names.clone();
                let summary_class = if broken > 0 { "error" } else { "ok" };
                view! {
                    {s.checked.alarms.iter().map(|a| view! {
                        <p class="error" role="alert" data-testid="access-alarm">{a.clone()}</p>
                    }).collect_view()}
                    <p data-testid="access-summary" class=summary_class>
                        {format!(
                            "{} row(s): {} proven against the relay's signed checkpoints{}. Checkpoint key {}.",
                            s.log.rows.len(),
                            proven,
                            if broken > 0 { format!(", {broken} NOT matching: the log was altered") } else { String::new() },
                            s.checked.key_fingerprint,
                        )}
                    </p>
                    <div class="scroll">
                        <table data-testid="access-log">
                            {crate::ui::head(&["When", "Who", "What", "Outcome", "Row", "Check"])}
                            <tbody>
                                {s.log.rows.iter().zip(&s.checked.rows).map(|(r, c)| {
                                    let who = names[&r.content.actor].as_str().map_or_else(
                                        || r.content.actor.clone(),
                                        str::to_owned,
                                    );
                                    let (mark, class, title) = match c {
                                        RowCheck::Proven { checkpoint } => ("✓", "", format!("proven to checkpoint {checkpoint}")),
                                        RowCheck::Earlier => ("–", "", "recorded before proofs began".to_owned()),
                                        RowCheck::Broken { reason } => ("✗", "broken", reason.clone()),
                                    };
                                    view! {
                                        <tr class=class data-testid="access-row">
                                            <td>{crate::fmt_time(r.content.ts)}</td>
                                            <td>{format!("{who} ({})", r.content.role)}</td>
                                            <td>{describe(&r.content.action).to_owned()}</td>
                                            <td>{r.content.outcome.clone()}</td>
                                            <td class="num" title=r.hash.clone()>{format!("#{} {}", r.content.seq, r.hash.get(..8).unwrap_or_default())}</td>
                                            <td title=title.clone() aria-label=title>{mark}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
            })}
        </section>
    }
}
