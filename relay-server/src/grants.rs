//! Grants: a patient lets a clinician read one record type, and revokes it; the one
//! authorization rule every record and key route applies ([`authorize`]).

use crate::auth::{Caller, Claims};
use crate::db::Grant;
use crate::error::{ApiError, ApiResult};
use crate::handler::{audited, json_body};
use crate::name::Name;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The routes of this feature.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_grants, add_grant))
        .routes(routes!(revoke_grant))
}

/// May `caller` read or write `record_type` records of `patient`?
/// A patient: only its own; a clinician: only under a grant; an operator: never.
pub(crate) async fn authorize(
    state: &AppState,
    caller: &Claims,
    patient: &str,
    record_type: &str,
) -> ApiResult<()> {
    match caller.role.as_str() {
        "patient" if caller.pseudonym.as_deref() == Some(patient) => Ok(()),
        "clinician"
            if state
                .db
                .has_grant(patient, &caller.sub, record_type)
                .await? =>
        {
            Ok(())
        }
        _ => Err(ApiError::Forbidden(
            "no right to this patient's records of this type".into(),
        )),
    }
}

/// A patient's grant of one record type to one clinician.
#[derive(Deserialize, utoipa::ToSchema)]
struct GrantReq {
    /// The clinician's user id (from `GET /v1/clinicians`).
    clinician_id: String,
    /// The record type the clinician may read.
    record_type: String,
}

/// The patient grants a clinician one record type.
#[utoipa::path(post, path = "/v1/grants", tag = "grants", security(("bearer" = [])),
    request_body = GrantReq, responses((status = 201, description = "The grant", body = Grant)))]
async fn add_grant(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = &caller.0;
    let grant = audited(
        &state,
        Some(c),
        "grant",
        c.pseudonym.as_deref(),
        async || {
            let patient = caller.pseudonym()?.to_owned();
            let req: GrantReq = json_body(&body)?;
            Name::parse("record_type", &req.record_type)?;
            match state.db.user_by_id(&req.clinician_id).await? {
                Some(u) if u.role == "clinician" => {}
                _ => return Err(ApiError::BadRequest("no such clinician".into())),
            }
            let g = Grant {
                patient,
                clinician_id: req.clinician_id,
                record_type: req.record_type,
            };
            state.db.add_grant(&g).await?;
            Ok(g)
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

/// The patient revokes a grant (effective at once).
#[utoipa::path(delete, path = "/v1/grants/{clinician_id}/{record_type}", tag = "grants",
    security(("bearer" = [])),
    params(("clinician_id" = String, Path, description = "The clinician's user id"),
           ("record_type" = String, Path, description = "The record type")),
    responses((status = 204, description = "Revoked")))]
async fn revoke_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((clinician_id, record_type)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let c = &caller.0;
    audited(
        &state,
        Some(c),
        "revoke",
        c.pseudonym.as_deref(),
        async || {
            let patient = caller.pseudonym()?.to_owned();
            let g = Grant {
                patient,
                clinician_id,
                record_type,
            };
            if state.db.revoke_grant(&g).await? {
                Ok(StatusCode::NO_CONTENT)
            } else {
                Err(ApiError::NotFound)
            }
        },
    )
    .await
}

/// Grants given (a patient) or held (a clinician).
#[utoipa::path(get, path = "/v1/grants", tag = "grants", security(("bearer" = [])),
    responses((status = 200, description = "The grants", body = Vec<Grant>)))]
async fn list_grants(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Grant>>> {
    let c = &caller.0;
    let grants = match c.role.as_str() {
        "patient" => state.db.grants(Some(caller.pseudonym()?), None).await?,
        "clinician" => state.db.grants(None, Some(&c.sub)).await?,
        _ => return Err(ApiError::Forbidden("operators do not hold grants".into())),
    };
    Ok(Json(grants))
}
