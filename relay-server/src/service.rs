//! The service's own routes: liveness, readiness, metrics and the OpenAPI document.

use crate::error::{ApiError, ApiResult};
use crate::{now, AppState};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The routes of this feature.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.db.ready().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}

/// `GET /metrics`: for the operator's scraper (the configured metrics token) or an
/// operator's session token; route names and counts say how the service is used, so
/// they are not public. Scrapes are not audited (one every few seconds).
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

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// The OpenAPI 3.1 description of the API.
pub fn openapi_document() -> Value {
    let bearer = json!([{ "bearer": [] }]);
    let op = |summary: &str, secured: bool| {
        let mut o = json!({
            "summary": summary,
            "responses": {
                "200": { "description": "success" },
                "4XX": { "description": "problem", "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } }
            }
        });
        if let (true, Some(obj)) = (secured, o.as_object_mut()) {
            obj.insert("security".into(), bearer.clone());
        }
        o
    };
    let mut paths = BTreeMap::new();
    paths.insert(
        "/v1/auth/login",
        json!({ "post": op("Password login; returns a bearer token (15 minutes by default); 429 with Retry-After while throttled", false) }),
    );
    paths.insert(
        "/v1/auth/refresh",
        json!({ "post": op("A fresh token for the caller's session (at most 12 hours after the login)", true) }),
    );
    paths.insert(
        "/v1/users",
        json!({ "post": op("Operator creates a clinician or operator", true) }),
    );
    paths.insert(
        "/v1/me",
        json!({ "get": op("The caller's user (id, role, pseudonym)", true) }),
    );
    paths.insert(
        "/v1/clinicians",
        json!({ "get": op("Clinician directory (id, username) for granting", true) }),
    );
    paths.insert(
        "/v1/invitations",
        json!({ "post": op("Clinician creates a one-time invitation code", true) }),
    );
    paths.insert(
        "/v1/enroll",
        json!({ "post": op("Patient enrolls with an invitation code", false) }),
    );
    paths.insert("/v1/grants", json!({ "get": op("Grants given (patient) or held (clinician)", true), "post": op("Patient grants a clinician a record type", true) }));
    paths.insert(
        "/v1/grants/{clinician_id}/{record_type}",
        json!({ "delete": op("Patient revokes a grant (effective at once)", true) }),
    );
    paths.insert(
        "/v1/keys/data-key",
        json!({ "post": op("KMS GenerateDataKey bound to the encryption context", true) }),
    );
    paths.insert(
        "/v1/keys/unwrap",
        json!({ "post": op("KMS Decrypt of a message header's encrypted data key", true) }),
    );
    paths.insert("/v1/records", json!({ "get": op("List records visible to the caller", true), "post": op("Create a record; returns a presigned PUT", true) }));
    paths.insert(
        "/v1/records/{id}",
        json!({ "get": op("Record metadata and a presigned GET", true) }),
    );
    paths.insert("/store/{key}", json!({ "put": op("Presigned upload (embedded store)", false), "get": op("Presigned download (embedded store)", false) }));
    paths.insert(
        "/v1/audit",
        json!({ "get": op("Audit log search (operator)", true) }),
    );
    paths.insert(
        "/v1/audit/verify",
        json!({ "get": op("Verify the audit hash chain (operator)", true) }),
    );
    paths.insert(
        "/v1/alerts/stream",
        json!({ "get": op("Live alerts as server-sent events (operator)", true) }),
    );
    paths.insert(
        "/v1/vitals/alerts",
        json!({
            "get": op("Vital-sign alert metadata: own (patient) or of patients with a vitals-stream grant (clinician)", true),
            "post": op("Post one vital-sign alert transition, metadata only (patient)", true),
        }),
    );
    paths.insert(
        "/v1/vitals/alerts/stream",
        json!({ "get": op("Live vital-sign alerts of granted patients as server-sent events (clinician)", true) }),
    );
    for (path, ops) in [
        (
            "/v1/studies",
            json!({
                "get": op("Studies, newest first (any signed-in user)", true),
                "post": op("Declare a study: title, fields (integer ranges, bins, thresholds, DP), minimum cohort (clinician)", true),
            }),
        ),
        (
            "/v1/studies/{id}",
            json!({
                "get": op("One study: state, folded and queued submissions; opening and open_error while its keys are checked", true),
                "delete": op("The owner cancels a study that never opened", true),
            }),
        ),
        (
            "/v1/studies/{id}/keys",
            json!({ "post": op("Presigned PUTs for the ceremony's server key, public key, optional CRS and wrapped client key (owner)", true) }),
        ),
        (
            "/v1/studies/{id}/open",
            json!({ "post": op("Check the uploaded keys with a self-test (making the CRS if absent) and open the study (owner)", true) }),
        ),
        (
            "/v1/studies/{id}/artifacts/{kind}",
            json!({ "get": op("Presigned GET: public-key and crs (anyone once open); server-key, wrapped-client-key, release (owner)", true) }),
        ),
        (
            "/v1/studies/{id}/submissions",
            json!({ "post": op("Register the patient's one submission; presigned PUT for the proven list (patient)", true) }),
        ),
        (
            "/v1/studies/{id}/submissions/{sid}/complete",
            json!({ "post": op("Verify the uploaded list's proof and queue it (patient); 422 with the reason when refused", true) }),
        ),
        (
            "/v1/studies/{id}/submission",
            json!({ "get": op("The caller's submissions to the study with their state (patient)", true) }),
        ),
        (
            "/v1/studies/{id}/release",
            json!({ "post": op("Ask for the encrypted release; refused below the minimum cohort (owner)", true) }),
        ),
        (
            "/v1/trainings",
            json!({
                "get": op("Federated trainings, newest first, with their rounds, ε and training curves (any signed-in user)", true),
                "post": op("Declare a federated training: model, rounds, clients, clipping, noise, sampling, target ε and δ; creates round 1's study for the key ceremony (clinician)", true),
            }),
        ),
        (
            "/v1/trainings/{id}",
            json!({
                "get": op("One training: rounds, the current round's study, ε spent and planned, metrics per round, the latest model", true),
                "delete": op("The owner cancels a training: removed while its keys never opened, stopped otherwise", true),
            }),
        ),
        (
            "/v1/trainings/{id}/model",
            json!({ "post": op("Publish the model after the released round with its evaluation; charges the round and opens the next one, refused (409) past the target ε (owner)", true) }),
        ),
    ] {
        paths.insert(path, ops);
    }
    paths.insert("/healthz", json!({ "get": op("Liveness", false) }));
    paths.insert(
        "/readyz",
        json!({ "get": op("Readiness (database reachable)", false) }),
    );
    paths.insert(
        "/metrics",
        json!({ "get": op("Prometheus metrics (an operator token or the scraper token)", true) }),
    );
    json!({
        "openapi": "3.1.0",
        "info": { "title": "phiveil relay", "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": { "Problem": { "type": "object", "properties": {
                "type": { "type": "string" }, "title": { "type": "string" },
                "status": { "type": "integer" }, "detail": { "type": "string" } } } }
        }
    })
}
