//! Records: presigned uploads into the object store (pending until complete), the
//! record index a patient or granted clinician lists, presigned downloads, and the
//! relay-signed store URLs of the embedded object store.

use crate::audit::{self, AuditEvent};
use crate::auth::Caller;
use crate::db::Record;
use crate::error::{ApiError, ApiResult};
use crate::grants::authorize;
use crate::handler::{audit, audited, json_body, random_id};
use crate::name::Name;
use crate::store::Presigned;
use crate::store::{valid_key, SignedQuery};
use crate::{now, AppState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi as _, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// The routes of this feature (JSON bodies).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_records, create_record))
        .routes(routes!(get_record))
        .routes(routes!(complete_record))
}

/// The embedded store's presigned URLs (bodies up to the upload limit). The object
/// key may hold slashes, so axum matches it as a wildcard; the document names it as
/// one path parameter.
pub(crate) fn store_routes() -> OpenApiRouter<AppState> {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(store_put, store_get))]
    struct StoreDoc;
    OpenApiRouter::with_openapi(StoreDoc::openapi())
        .route("/store/{*key}", put(store_put).get(store_get))
}

/// A new record's upload.
#[derive(Deserialize, ToSchema)]
struct CreateRecordReq {
    /// The patient's pseudonym (a patient's own by default).
    #[serde(default)]
    patient: Option<String>,
    /// The record type (part of the encryption context).
    record_type: String,
    /// The ciphertext's exact size in bytes.
    size: u64,
    /// The ciphertext's content type.
    #[serde(default = "default_content_type")]
    #[schema(default = "application/octet-stream")]
    content_type: String,
}

/// A pending record and where to upload its ciphertext.
#[derive(Serialize, ToSchema)]
struct CreatedRecord {
    /// The record, `pending` until its upload completes.
    record: Record,
    /// The presigned PUT.
    upload: Presigned,
}

/// A record and where to download its ciphertext.
#[derive(Serialize, ToSchema)]
struct RecordDownload {
    /// The record.
    record: Record,
    /// The presigned GET.
    download: Presigned,
}

fn default_content_type() -> String {
    "application/octet-stream".into()
}

/// Creates a pending record; returns a presigned PUT for its ciphertext.
#[utoipa::path(post, path = "/v1/records", tag = "records", security(("bearer" = [])),
    request_body = CreateRecordReq,
    responses((status = 201, description = "The pending record and its upload", body = CreatedRecord)))]
async fn create_record(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = &caller.0;
    let req: ApiResult<CreateRecordReq> = json_body(&body);
    let patient = req
        .as_ref()
        .ok()
        .and_then(|r| r.patient.clone())
        .or_else(|| c.pseudonym.clone());
    let checked: ApiResult<Record> = async {
        let req = req?;
        let patient = patient
            .clone()
            .ok_or_else(|| ApiError::BadRequest("which patient?".into()))?;
        Name::parse("patient", &patient)?;
        Name::parse("record_type", &req.record_type)?;
        if req.size > state.config.max_upload_bytes {
            return Err(ApiError::PayloadTooLarge(state.config.max_upload_bytes));
        }
        if req.content_type.len() > 100
            || req.content_type.bytes().any(|b| !(0x21..0x7f).contains(&b))
        {
            return Err(ApiError::BadRequest("invalid content type".into()));
        }
        authorize(&state, c, &patient, &req.record_type).await?;
        let max = state.config.limits.max_pending_records_per_patient;
        if state.db.pending_count(&patient, now(), max).await? >= max {
            return Err(ApiError::TooManyPending(format!(
                "at most {max} uploads may be pending for one patient; finish or wait for the others"
            )));
        }
        let id = random_id("r-", 12);
        let created_at = now();
        let expires_at = created_at.saturating_add(state.config.presign_ttl_secs);
        // The relay picks the object key, under the patient's prefix.
        let object_key = format!("{patient}/{}/{id}.esdk", req.record_type);
        let record = Record {
            id,
            patient,
            record_type: req.record_type,
            object_key,
            content_type: req.content_type,
            size: req.size,
            state: "pending".into(),
            created_at,
            expires_at,
        };
        Ok(record)
    }.await;
    // The pending row and its audit row commit together (one transaction).
    let record = match checked {
        Ok(record) => {
            let e = AuditEvent {
                actor: c.sub.clone(),
                role: c.role.clone(),
                action: "upload-url".into(),
                patient: Some(record.patient.clone()),
                outcome: "allowed".into(),
                detail: String::new(),
            };
            audit::append_pending(&state.db, &state.alerts, &e, Some(&record)).await?;
            record
        }
        Err(err) => {
            audit(
                &state,
                Some(c),
                "upload-url",
                patient.as_deref(),
                "refused",
                err.code(),
            )
            .await;
            return Err(err);
        }
    };
    let upload = state
        .store
        .presign_put(
            &record.object_key,
            record.size,
            &record.content_type,
            record.expires_at,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedRecord { record, upload })))
}

/// Marks an upload complete once the object is in the store with the declared size.
///
/// With S3 the browser calls this after its PUT; the embedded store completes on PUT.
#[utoipa::path(post, path = "/v1/records/{id}/complete", tag = "records",
    security(("bearer" = [])), params(("id" = String, Path, description = "Record id")),
    responses((status = 200, description = "The completed record", body = Record)))]
async fn complete_record(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Record>> {
    let c = &caller.0;
    let record = state.db.record(&id).await?;
    let patient = record.as_ref().map(|r| r.patient.clone());
    let record = audited(
        &state,
        Some(c),
        "upload-complete",
        patient.as_deref(),
        async || {
            let record = record.ok_or(ApiError::NotFound)?;
            authorize(&state, c, &record.patient, &record.record_type).await?;
            Ok(record)
        },
    )
    .await?;
    if record.state == "pending" {
        match state.store.size(&record.object_key).await? {
            Some(size) if size == record.size => state.complete(&record).await?,
            _ => {
                audit(
                    &state,
                    Some(c),
                    "upload-complete",
                    Some(&record.patient),
                    "refused",
                    "object-missing-or-wrong-size",
                )
                .await;
                return Err(ApiError::Conflict(
                    "the object is missing or has another size".into(),
                ));
            }
        }
    }
    state
        .db
        .record(&id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Which records to list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The patient's pseudonym (a patient's own by default).
    patient: Option<String>,
    /// Only this record type.
    record_type: Option<String>,
}

/// The records of a patient the caller may see (own, or granted record types).
#[utoipa::path(get, path = "/v1/records", tag = "records", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, description = "The records", body = Vec<Record>)))]
async fn list_records(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Record>>> {
    let c = &caller.0;
    let patient = q.patient.clone().or_else(|| c.pseudonym.clone());
    audited(
        &state,
        Some(c),
        "list-records",
        patient.as_deref(),
        async || {
            let patient = patient
                .clone()
                .ok_or_else(|| ApiError::BadRequest("which patient?".into()))?;
            let all = state.db.records(&patient, q.record_type.as_deref()).await?;
            // Only what the caller may see: own records, or granted record types. One
            // authorization per record type, not per record.
            let mut allowed: std::collections::BTreeMap<String, bool> =
                std::collections::BTreeMap::new();
            let mut visible = Vec::new();
            for r in all {
                let ok = match allowed.get(&r.record_type) {
                    Some(ok) => *ok,
                    None => {
                        let ok = authorize(&state, c, &r.patient, &r.record_type)
                            .await
                            .is_ok();
                        allowed.insert(r.record_type.clone(), ok);
                        ok
                    }
                };
                if ok {
                    visible.push(r);
                }
            }
            if visible.is_empty()
                && c.pseudonym.as_deref() != Some(patient.as_str())
                && c.role != "clinician"
            {
                return Err(ApiError::Forbidden(
                    "no right to this patient's records".into(),
                ));
            }
            Ok(Json(visible))
        },
    )
    .await
}

/// A complete record's metadata and a presigned GET for its ciphertext.
#[utoipa::path(get, path = "/v1/records/{id}", tag = "records", security(("bearer" = [])),
    params(("id" = String, Path, description = "Record id")),
    responses((status = 200, description = "The record and its download", body = RecordDownload)))]
async fn get_record(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let c = &caller.0;
    let record = state
        .db
        .record(&id)
        .await?
        .filter(|r| r.state == "complete");
    let patient = record.as_ref().map(|r| r.patient.clone());
    let record = audited(
        &state,
        Some(c),
        "download-url",
        patient.as_deref(),
        async || {
            let record = record.ok_or(ApiError::NotFound)?;
            authorize(&state, c, &record.patient, &record.record_type).await?;
            Ok(record)
        },
    )
    .await?;
    let expires = now().saturating_add(state.config.presign_ttl_secs);
    // With a replica, a primary that cannot serve the object (down, or the object lost)
    // hands the download to the replica.
    if state.replica.is_some()
        && state.store.size(&record.object_key).await.ok().flatten() != Some(record.size)
    {
        let download = crate::replica::fallback_download(&state, &record.object_key)?;
        return Ok(Json(RecordDownload { record, download }).into_response());
    }
    let download = state.store.presign_get(&record.object_key, expires).await?;
    Ok(Json(RecordDownload { record, download }).into_response())
}

/// What a presigned PUT uploads.
enum PutTarget {
    Record(Record),
    Study,
}

/// Presigned upload into the embedded store.
///
/// Everything is checked before a byte of the body is read (signature, expiry, the
/// declared `Content-Length` against the signed length, the object still pending, the
/// content type), then exactly the signed number of bytes is read.
#[utoipa::path(put, path = "/store/{key}", tag = "store",
    params(("key" = String, Path, description = "Object key (may contain `/`)"), SignedQuery),
    request_body(content = crate::http::OctetStream, content_type = "application/octet-stream",
        description = "Exactly the signed length, with the signed content type"),
    responses((status = 201, description = "Stored")))]
async fn store_put(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<SignedQuery>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<StatusCode> {
    let local = state.local_store.clone().ok_or(ApiError::NotFound)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let record = if valid_key(&key) {
        state.db.record_by_key(&key).await?
    } else {
        None
    };
    let study = match (&record, valid_key(&key)) {
        (None, true) => crate::studies::upload_target(&state, &key).await?,
        _ => None,
    };
    let (action, patient) = match (&record, &study) {
        (Some(r), _) => ("upload", Some(r.patient.clone())),
        (None, Some(t)) => ("study-upload", t.patient.clone()),
        (None, None) => ("upload", None),
    };
    let target = (|| -> ApiResult<(PutTarget, usize)> {
        local.verify("PUT", &key, &q, now())?;
        let declared = declared.ok_or_else(|| {
            ApiError::BadRequest("a Content-Length equal to the signed length is required".into())
        })?;
        let target = match (record, study) {
            (Some(r), _) => {
                let max = state.config.max_upload_bytes;
                if r.size > max || u64::try_from(declared).unwrap_or(u64::MAX) > max {
                    return Err(ApiError::PayloadTooLarge(max));
                }
                q.check_body(
                    &headers,
                    declared,
                    "record",
                    r.state == "pending",
                    &r.content_type,
                    r.size,
                )?;
                PutTarget::Record(r)
            }
            (None, Some(t)) => {
                q.check_body(
                    &headers,
                    declared,
                    "object",
                    t.pending,
                    crate::studies::STUDY_CONTENT_TYPE,
                    t.size,
                )?;
                PutTarget::Study
            }
            (None, None) => return Err(ApiError::NotFound),
        };
        Ok((target, declared))
    })();
    let refuse = async |detail: &str| {
        audit(&state, None, action, patient.as_deref(), "refused", detail).await
    };
    let (target, len) = match target {
        Ok(t) => t,
        Err(e) => {
            refuse(e.code()).await;
            return Err(e);
        }
    };
    let bytes = match axum::body::to_bytes(body, len).await {
        Ok(b) if b.len() == len => b,
        _ => {
            refuse("body-length").await;
            return Err(ApiError::BadRequest(
                "the body ended before, or ran past, the signed length".into(),
            ));
        }
    };
    audited(&state, None, action, patient.as_deref(), async || {
        local.put(&key, &bytes)?;
        if let PutTarget::Record(r) = &target {
            state.complete(r).await?;
        }
        Ok(StatusCode::CREATED)
    })
    .await
}

/// Presigned download from the embedded store.
#[utoipa::path(get, path = "/store/{key}", tag = "store",
    params(("key" = String, Path, description = "Object key (may contain `/`)"), SignedQuery),
    responses((status = 200, description = "The object",
        content((crate::http::OctetStream = "application/octet-stream")))))]
async fn store_get(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<SignedQuery>,
) -> ApiResult<Response> {
    let patient = key.split('/').next().map(str::to_owned);
    let local = state.local_store.clone().ok_or(ApiError::NotFound)?;
    let bytes = audited(&state, None, "download", patient.as_deref(), async || {
        local.verify("GET", &key, &q, now())?;
        local.get(&key)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}
