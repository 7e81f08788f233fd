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
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;

/// The routes of this feature.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/grants", get(list_grants).post(add_grant))
        .route(
            "/v1/grants/{clinician_id}/{record_type}",
            delete(revoke_grant),
        )
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

#[derive(Deserialize)]
struct GrantReq {
    clinician_id: String,
    record_type: String,
}

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

async fn list_grants(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Grant>>> {
    let c = &caller.0;
    let grants = match c.role.as_str() {
        "patient" => state.db.grants(Some(caller.pseudonym()?), None).await?,
        "clinician" => state.db.grants(None, Some(&c.sub)).await?,
        _ => return Err(ApiError::Forbidden("operators do not hold grants".into())),
    };
    Ok(Json(grants))
}
