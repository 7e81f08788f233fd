//! The audit log's routes: operators query and verify the chain and follow the live
//! alert feed; a patient reads every access to its data, with the proofs its browser
//! checks (`phiveil_core::audit_proof`).

use crate::audit::{self, AuditQuery};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::handler::{audited, live_stream};
use crate::AppState;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use std::convert::Infallible;
use tokio_stream::StreamExt as _;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The routes of this feature.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_query))
        .routes(routes!(audit_verify))
        .routes(routes!(alerts_stream))
        .routes(routes!(access_log))
}

/// A patient's access log query.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AccessLogQuery {
    /// A window checkpoint (a multiple of 256) this browser saw before: the answer
    /// includes the relay's checkpoint there, to compare.
    since: Option<i64>,
}

/// An access log with the names of the accounts in it.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct AccessLogResp {
    /// The rows, proofs and checkpoints (`phiveil_core::audit_proof::AccessLog`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    log: phiveil_core::audit_proof::AccessLog,
    /// User id → user name and role of each actor in the rows (not part of the proof).
    names: std::collections::BTreeMap<String, String>,
}

/// Every access to the caller's data (newest 200): who, when, what, the outcome, with
/// each row's sequence number and hash, the digests that tie it to a signed checkpoint,
/// and the head signed now. The browser checks them; see `phiveil_core::audit_proof`.
#[utoipa::path(get, path = "/v1/me/access-log", tag = "audit", security(("bearer" = [])),
    params(AccessLogQuery),
    responses((status = 200, description = "The access log and its proofs", body = AccessLogResp)))]
async fn access_log(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AccessLogQuery>,
) -> ApiResult<Json<AccessLogResp>> {
    let c = &caller.0;
    let log = audited(
        &state,
        Some(c),
        "access-log",
        c.pseudonym.as_deref(),
        async || {
            let patient = caller.pseudonym()?;
            audit::access_log(&state.db, &state.checkpoint_key, patient, q.since).await
        },
    )
    .await?;
    let mut names = std::collections::BTreeMap::new();
    for r in &log.rows {
        let id = &r.content.actor;
        if !names.contains_key(id) {
            if let Some(u) = state.db.user_by_id(id).await? {
                names.insert(id.clone(), u.username);
            }
        }
    }
    Ok(Json(AccessLogResp { log, names }))
}

/// Audit log search, newest first (operator).
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditQuery), responses((status = 200, description = "Matching rows", body = Vec<audit::AuditRow>)))]
async fn audit_query(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<audit::AuditRow>>> {
    let c = &caller.0;
    audited(
        &state,
        Some(c),
        "audit-query",
        q.patient.as_deref(),
        async || {
            caller.require("operator")?;
            Ok(Json(audit::query(&state.db, &q).await?))
        },
    )
    .await
}

/// Recomputes the audit hash chain and names the first broken row (operator).
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "The verification", body = audit::Verification)))]
async fn audit_verify(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<audit::Verification>> {
    let c = &caller.0;
    audited(&state, Some(c), "audit-verify", None, async || {
        caller.require("operator")?;
        Ok(Json(audit::verify(&state.db).await?))
    })
    .await
}

/// Live alerts as server-sent events (operator); each event `alert` carries one
/// alert as JSON. The stream ends when the caller's token expires.
#[utoipa::path(get, path = "/v1/alerts/stream", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "`text/event-stream` of `alert` events",
        content((audit::Alert = "text/event-stream")))))]
async fn alerts_stream(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>> {
    let c = &caller.0;
    audited(&state, Some(c), "alerts-subscribe", None, async || {
        caller.require("operator")
    })
    .await?;
    let rx = state.alerts.subscribe();
    let stream = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|a| {
        a.ok()
            .and_then(|alert| Event::default().event("alert").json_data(alert).ok())
            .map(Ok)
    });
    Ok(Sse::new(live_stream(&state, c, stream)?).keep_alive(KeepAlive::default()))
}
