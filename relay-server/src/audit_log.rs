//! The audit log's routes: operators query and verify the chain and follow the live
//! alert feed.

use crate::audit::{self, AuditQuery};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::handler::{audited, live_stream};
use crate::AppState;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use std::convert::Infallible;
use tokio_stream::StreamExt as _;

/// The routes of this feature.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/audit", get(audit_query))
        .route("/v1/audit/verify", get(audit_verify))
        .route("/v1/alerts/stream", get(alerts_stream))
}

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
