//! The service's own routes: liveness, readiness and metrics (the OpenAPI document is
//! served by [`crate::http`], which assembles it from every feature's routes).

use crate::error::{ApiError, ApiResult};
use crate::{now, AppState};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use utoipa_axum::{router::OpenApiRouter, routes};

/// The routes of this feature.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database is reachable.
#[utoipa::path(get, path = "/readyz", tag = "service", responses(
    (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
    (status = 503, description = "`database unavailable`", body = String, content_type = "text/plain")))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.db.ready().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}

/// Prometheus metrics in the OpenMetrics text format.
///
/// For the operator's scraper (the configured metrics token) or an
/// operator's session token; route names and counts say how the service is used, so
/// they are not public. Scrapes are not audited (one every few seconds).
#[utoipa::path(get, path = "/metrics", tag = "service", security(("bearer" = [])), responses(
    (status = 200, description = "OpenMetrics text", body = String,
     content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    use subtle::ConstantTimeEq as _;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    let scraper = state
        .config
        .metrics_token_sha256
        .is_some_and(|want| bool::from(Sha256::digest(bearer.as_bytes()).as_slice().ct_eq(&want)));
    let operator = || {
        state
            .tokens
            .verify(bearer, now())
            .is_ok_and(|c| c.role == "operator")
    };
    if !scraper && !operator() {
        return Err(ApiError::Unauthorized);
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response())
}
