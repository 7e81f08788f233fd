//! Data keys: issuance bound to an encryption context (patient, record type) and
//! unwrapping of a record's encrypted data key for an authorized reader.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::grants::authorize;
use crate::handler::{audit, audited, json_body};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use phiveil_core::esdk::{
    BrokeredKmsKeyring, EncryptedDataKey, EncryptionContext, Header, Limits, StreamDecryptor,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use zeroize::Zeroizing;

/// The routes of this feature.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(data_key))
        .routes(routes!(unwrap))
}

/// Largest message header accepted for unwrapping.
const HEADER_LIMIT: usize = 64 * 1024;

/// `patient` and `record_type` of an encryption context.
fn context_subject(ctx: &EncryptionContext) -> ApiResult<(String, String)> {
    let patient = ctx.get("patient").ok_or_else(|| {
        ApiError::BadRequest("the encryption context needs a patient entry".into())
    })?;
    let rt = ctx.get("record_type").ok_or_else(|| {
        ApiError::BadRequest("the encryption context needs a record_type entry".into())
    })?;
    Ok((patient.clone(), rt.clone()))
}

/// A data key request.
#[derive(Deserialize, ToSchema)]
struct DataKeyReq {
    /// The encryption context the key is bound to; names `patient` and `record_type`.
    #[schema(value_type = BTreeMap<String, String>)]
    context: EncryptionContext,
}

/// An encrypted data key entry in JSON (binary fields base64).
#[derive(Serialize, Deserialize, ToSchema)]
struct EdkJson {
    /// The key provider's id (`aws-kms` or the embedded KMS's).
    provider_id: String,
    /// The provider's key information (base64).
    provider_info: String,
    /// The wrapped data key (base64).
    ciphertext: String,
}

/// A new data key: the plaintext for this caller, and its wrapped form for the message
/// header.
#[derive(Serialize, ToSchema)]
struct DataKeyResp {
    /// The KMS key that wrapped it.
    key_id: String,
    /// The plaintext data key (base64); never stored or logged by the relay, wiped from
    /// its memory when the response is dropped.
    #[schema(value_type = String)]
    data_key: Zeroizing<String>,
    /// The wrapped data key for the message header.
    encrypted_data_key: EdkJson,
}

/// A record's data key, unwrapped for an authorized reader.
#[derive(Serialize, ToSchema)]
struct UnwrapResp {
    /// The plaintext data key (base64), wiped when the response is dropped.
    #[schema(value_type = String)]
    data_key: Zeroizing<String>,
    /// The header's encrypted data key it came from.
    encrypted_data_key: EdkJson,
}

impl From<&EncryptedDataKey> for EdkJson {
    fn from(e: &EncryptedDataKey) -> Self {
        Self {
            provider_id: e.provider_id.clone(),
            provider_info: B64.encode(&e.provider_info),
            ciphertext: B64.encode(&e.ciphertext),
        }
    }
}

/// KMS GenerateDataKey bound to the encryption context (the caller must be allowed to
/// write that patient's records of that type).
#[utoipa::path(post, path = "/v1/keys/data-key", tag = "keys", security(("bearer" = [])),
    request_body = DataKeyReq,
    responses((status = 200, description = "The data key (`Cache-Control: no-store`)", body = DataKeyResp)))]
async fn data_key(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Response> {
    let c = &caller.0;
    let req: ApiResult<DataKeyReq> = json_body(&body);
    let patient = req
        .as_ref()
        .ok()
        .and_then(|r| r.context.get("patient").cloned());
    let checked = audited(
        &state,
        Some(c),
        "data-key",
        patient.as_deref(),
        async || {
            crate::e2e::require_brokered(&state)?;
            let req = req?;
            phiveil_core::esdk::context::check_caller_context(&req.context)?;
            let (patient, record_type) = context_subject(&req.context)?;
            authorize(&state, c, &patient, &record_type).await?;
            Ok(req.context)
        },
    )
    .await?;
    let key = state.kms.generate_data_key(&checked).await?;
    // The plaintext data key goes to the caller over this authenticated channel and
    // is never stored or logged.
    let body = DataKeyResp {
        key_id: key.key_id.clone(),
        data_key: Zeroizing::new(B64.encode(key.plaintext.expose_secret())),
        encrypted_data_key: EdkJson::from(&key.edk),
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// An unwrap request.
#[derive(Deserialize, ToSchema)]
struct UnwrapReq {
    /// The message header (base64), as it starts the stored message.
    header: String,
    /// The context the caller expects; must equal the header's.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    context: Option<EncryptionContext>,
}

/// KMS Decrypt of a message header's encrypted data key, for a caller allowed to read
/// the record; the header must authenticate under the key.
#[utoipa::path(post, path = "/v1/keys/unwrap", tag = "keys", security(("bearer" = [])),
    request_body = UnwrapReq,
    responses((status = 200, description = "The data key (`Cache-Control: no-store`)", body = UnwrapResp)))]
async fn unwrap(State(state): State<AppState>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    let c = &caller.0;
    let parsed = (|| -> ApiResult<(Header, Vec<u8>)> {
        let req: UnwrapReq = json_body(&body)?;
        let bytes = B64
            .decode(req.header.as_bytes())
            .map_err(|_| ApiError::BadRequest("header is not base64".into()))?;
        if bytes.len() > HEADER_LIMIT {
            return Err(ApiError::PayloadTooLarge(HEADER_LIMIT as u64));
        }
        let limits = Limits {
            max_header_len: HEADER_LIMIT,
            ..Limits::default()
        };
        let (header, len) = Header::parse(&bytes, &limits)?;
        if let Some(ctx) = req.context {
            if ctx != header.context {
                return Err(ApiError::BadRequest(
                    "the context does not match the message header".into(),
                ));
            }
        }
        let head = bytes.get(..len).map(<[u8]>::to_vec).unwrap_or_default();
        Ok((header, head))
    })();
    let patient = parsed
        .as_ref()
        .ok()
        .and_then(|(h, _)| h.context.get("patient").cloned());
    // In end-to-end mode too: a record written before the switch (brokered) stays
    // readable by those it is granted to; an end-to-end record holds no entry the KMS
    // can unwrap.
    let (header, head) = audited(&state, Some(c), "unwrap", patient.as_deref(), async || {
        let (header, head) = parsed?;
        let (patient, record_type) = context_subject(&header.context)?;
        authorize(&state, c, &patient, &record_type).await?;
        Ok((header, head))
    })
    .await?;
    let key = state
        .kms
        .decrypt(&header.encrypted_data_keys, &header.context)
        .await;
    let key = match key {
        Ok(Some(k)) => k,
        Ok(None) => {
            audit(
                &state,
                Some(c),
                "unwrap",
                patient.as_deref(),
                "failed",
                "no-key-unwrapped",
            )
            .await;
            return Err(ApiError::BadRequest(
                "no encrypted data key in the header could be unwrapped".into(),
            ));
        }
        Err(e) => return Err(e),
    };
    // The header must authenticate under the unwrapped key: the context the rights
    // were checked against is the one bound in the message.
    let edk = header
        .encrypted_data_keys
        .iter()
        .find(|e| {
            BrokeredKmsKeyring::from_encrypted_data_key((*e).clone(), key.clone())
                .ok()
                .is_some_and(|kr| {
                    let mut dec =
                        StreamDecryptor::new(&kr, EncryptionContext::new(), Limits::default());
                    let mut sink = Vec::new();
                    dec.update(&head, &mut sink).is_ok() && dec.info().is_some()
                })
        })
        .cloned();
    let Some(edk) = edk else {
        audit(
            &state,
            Some(c),
            "unwrap",
            patient.as_deref(),
            "failed",
            "header-not-authentic",
        )
        .await;
        return Err(ApiError::BadRequest(
            "the message header does not authenticate".into(),
        ));
    };
    let body = UnwrapResp {
        data_key: Zeroizing::new(B64.encode(key.expose_secret())),
        encrypted_data_key: EdkJson::from(&edk),
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
