//! The audit log's routes: operators query and verify the chain and follow the live
//! alert feed.

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
