//! End-to-end keys: each account's ECDH public key, published and bound to the account;
//! its private key's passphrase-wrapped backup; and records' key shares, a record's
//! data key wrapped in the patient's browser for a clinician granted after the record
//! was written.
//!
//! The relay holds nothing here that opens a record: public keys are public, a backup
//! is wrapped under a passphrase the relay never sees, and a share is wrapped for its
//! reader's public key (the ESDK raw ECDH keyring's `raw-ecdh` entry). It checks what it
//! can without a key: that a public key is a P-256 or P-384 point, that a share is
//! addressed to the reader's published key, and that the reader holds a grant.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::grants::authorize;
use crate::handler::{audit, audited, json_body};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use phiveil_core::esdk::ecdh::{addressed_to, RAW_ECDH_PROVIDER_ID};
use phiveil_core::esdk::{EcPublicKey, EncryptedDataKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use zeroize::Zeroizing;

/// The routes of this feature.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_public_key))
        .routes(routes!(get_public_key))
        .routes(routes!(set_backup, get_backup))
        .routes(routes!(set_share, get_share))
        .routes(routes!(key_mode))
        .routes(routes!(recover))
}

/// Who can open the records a deployment stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum KeyMode {
    /// Data keys are made in browsers and wrapped for the patient's and the granted
    /// clinicians' public keys (and, with escrow, the KMS's escrow key); the relay
    /// refuses `/v1/keys/data-key` (records written before a switch to this mode keep
    /// their brokered entries, which `/v1/keys/unwrap` still opens for granted readers).
    EndToEnd,
    /// The relay's KMS makes and unwraps data keys for authorized callers (the AWS KMS
    /// trust model: whoever runs the relay and its KMS can open every record).
    Brokered,
}

impl std::str::FromStr for KeyMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "end-to-end" => Ok(Self::EndToEnd),
            "brokered" => Ok(Self::Brokered),
            _ => Err(format!("{s:?}: the key mode is end-to-end or brokered")),
        }
    }
}

/// Refuses a new brokered data key on an end-to-end deployment.
pub(crate) fn require_brokered(state: &AppState) -> ApiResult<()> {
    match state.config.key_mode {
        KeyMode::Brokered => Ok(()),
        KeyMode::EndToEnd => Err(ApiError::Conflict(
            "this relay runs end-to-end: data keys are made and wrapped in the browser, \
             and the relay brokers none"
                .into(),
        )),
    }
}

/// The deployment's key mode, for the app to follow and show.
#[derive(Serialize, ToSchema)]
struct ModeResp {
    /// `end-to-end` or `brokered`.
    mode: KeyMode,
    /// In end-to-end mode with escrow: the KMS's escrow public key, which browsers
    /// wrap each record's data key for as well.
    #[serde(skip_serializing_if = "Option::is_none")]
    escrow: Option<EscrowKey>,
}

/// The institutional escrow key.
#[derive(Serialize, ToSchema)]
struct EscrowKey {
    /// DER SubjectPublicKeyInfo, base64.
    public_key: String,
    /// Its fingerprint.
    fingerprint: String,
}

/// The deployment's key mode and, with escrow, the escrow public key.
#[utoipa::path(get, path = "/v1/keys/mode", tag = "end-to-end", security(("bearer" = [])),
    responses((status = 200, description = "The key mode", body = ModeResp)))]
async fn key_mode(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<ModeResp>> {
    let mode = state.config.key_mode;
    let escrow = match (mode, state.config.escrow) {
        (KeyMode::EndToEnd, true) => {
            let key = state.kms.escrow_public_key().ok_or_else(|| {
                ApiError::Internal("escrow is configured but the KMS holds no escrow key".into())
            })?;
            Some(EscrowKey {
                public_key: B64.encode(key.to_spki_der()?),
                fingerprint: key.fingerprint()?,
            })
        }
        _ => None,
    };
    Ok(Json(ModeResp { mode, escrow }))
}

/// An escrow recovery's justification.
#[derive(Deserialize, ToSchema)]
struct RecoverReq {
    /// Why the institution recovers this record (a ticket, a court order): 1 to 120
    /// printable characters, kept in the audit log.
    reason: String,
}

/// A recovered data key.
#[derive(Serialize, ToSchema)]
struct RecoverResp {
    /// The data key, base64 (never stored or logged by the relay).
    #[schema(value_type = String)]
    data_key: Zeroizing<String>,
    /// The escrow entry it was unwrapped from (to decrypt the message with a brokered
    /// keyring).
    encrypted_data_key: Share,
}

/// Institutional recovery of an end-to-end record through the escrow key: an operator
/// names a reason, the relay unwraps the record's escrow entry with the KMS (the
/// header must authenticate under the key) and returns the data key. Every attempt is
/// audited with the reason, under the record's patient.
#[utoipa::path(post, path = "/v1/records/{id}/recover", tag = "end-to-end",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Record id")),
    request_body = RecoverReq,
    responses((status = 200, description = "The data key (`Cache-Control: no-store`)", body = RecoverResp)))]
async fn recover(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let c = &caller.0;
    let record = if c.role == "operator" {
        state.db.record(&id).await?
    } else {
        None
    };
    let patient = record.as_ref().map(|r| r.patient.clone());
    let outcome = async || {
        caller.require("operator")?;
        let reason = json_body::<RecoverReq>(&body)?.reason;
        if reason.is_empty() || reason.chars().count() > 120 || reason.chars().any(char::is_control)
        {
            return Err(ApiError::BadRequest(
                "reason: 1 to 120 printable characters".into(),
            ));
        }
        let record = record
            .clone()
            .filter(|r| r.state == "complete")
            .ok_or(ApiError::NotFound)?;
        let message = state
            .store
            .get(&record.object_key, state.config.max_upload_bytes)
            .await?;
        let (key, header) = state.kms.escrow_open(&message)?.ok_or_else(|| {
            ApiError::Conflict("the record has no escrow entry this KMS can open".into())
        })?;
        if header.context.get("patient") != Some(&record.patient)
            || header.context.get("record_type") != Some(&record.record_type)
        {
            return Err(ApiError::BadRequest(
                "the message's context does not name this record".into(),
            ));
        }
        let escrow = state.kms.escrow_public_key().ok_or(ApiError::NotFound)?;
        let edk = header
            .encrypted_data_keys
            .iter()
            .find(|e| addressed_to(e, &escrow))
            .ok_or(ApiError::NotFound)?;
        Ok((
            reason,
            RecoverResp {
                data_key: Zeroizing::new(B64.encode(key.expose_secret())),
                encrypted_data_key: Share {
                    provider_id: edk.provider_id.clone(),
                    provider_info: B64.encode(&edk.provider_info),
                    ciphertext: B64.encode(&edk.ciphertext),
                },
            },
        ))
    };
    match outcome().await {
        Ok((reason, resp)) => {
            audit(
                &state,
                Some(c),
                "escrow-recover",
                patient.as_deref(),
                "allowed",
                &format!("record {id}; reason: {reason}"),
            )
            .await;
            Ok(([(header::CACHE_CONTROL, "no-store")], Json(resp)).into_response())
        }
        Err(e) => {
            audit(
                &state,
                Some(c),
                "escrow-recover",
                patient.as_deref(),
                "refused",
                e.code(),
            )
            .await;
            Err(e)
        }
    }
}

/// Largest passphrase-wrapped private key accepted (base64 characters).
const MAX_BACKUP_CHARS: usize = 16 * 1024;

/// A public key to publish.
#[derive(Deserialize, ToSchema)]
struct PublicKeyReq {
    /// The account's P-256 or P-384 ECDH public key: DER SubjectPublicKeyInfo, base64
    /// (WebCrypto `spki`).
    public_key: String,
    /// Replace a key already published (a new device without the backup, a lost
    /// passphrase): readers see the new fingerprint, and records wrapped for the old key
    /// stay readable only with the old key.
    #[serde(default)]
    replace: bool,
}

/// An account's published public key.
#[derive(Serialize, ToSchema)]
struct PublicKeyResp {
    /// The account's user id.
    user_id: String,
    /// `patient` or `clinician`.
    role: String,
    /// A patient's pseudonym (what records and grants name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pseudonym: Option<String>,
    /// DER SubjectPublicKeyInfo, base64.
    public_key: String,
    /// The key's fingerprint (ten groups of four hex digits) to compare out of band:
    /// a relay that substituted a key would show another one.
    fingerprint: String,
}

/// The caller publishes its ECDH public key (once; again only with `replace`).
#[utoipa::path(put, path = "/v1/keys/public", tag = "end-to-end", security(("bearer" = [])),
    request_body = PublicKeyReq,
    responses((status = 200, description = "The published key", body = PublicKeyResp),
              (status = 409, description = "A key is already published (send `replace`)")))]
async fn set_public_key(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Json<PublicKeyResp>> {
    let c = &caller.0;
    audited(
        &state,
        Some(c),
        "public-key",
        c.pseudonym.as_deref(),
        async || {
            if !["patient", "clinician"].contains(&c.role.as_str()) {
                return Err(ApiError::Forbidden(
                    "only patients and clinicians hold end-to-end keys".into(),
                ));
            }
            let req: PublicKeyReq = json_body(&body)?;
            let (canonical, fingerprint) = parse_public_key(&req.public_key)?;
            if !state
                .db
                .set_public_key(&c.sub, &canonical, &fingerprint, req.replace)
                .await?
            {
                return Err(ApiError::Conflict(
                    "a public key is already published for this account".into(),
                ));
            }
            Ok(Json(PublicKeyResp {
                user_id: c.sub.clone(),
                role: c.role.clone(),
                pseudonym: c.pseudonym.clone(),
                public_key: canonical,
                fingerprint,
            }))
        },
    )
    .await
}

/// (canonical base64 DER, fingerprint) of a base64 SubjectPublicKeyInfo.
fn parse_public_key(b64: &str) -> ApiResult<(String, String)> {
    let der = B64
        .decode(b64.as_bytes())
        .map_err(|_| ApiError::BadRequest("public_key is not base64".into()))?;
    let key = EcPublicKey::from_spki_der(&der).map_err(|_| {
        ApiError::BadRequest("public_key is not a P-256 or P-384 SubjectPublicKeyInfo".into())
    })?;
    let der = key.to_spki_der()?;
    Ok((B64.encode(der), key.fingerprint()?))
}

/// The public key of an account, by user id or patient pseudonym: one's own, any
/// clinician's (the clinician directory is open to signed-in accounts), and a patient's
/// for a clinician the patient has granted. Anything else answers `404`, so pseudonyms
/// cannot be probed.
#[utoipa::path(get, path = "/v1/keys/public/{id}", tag = "end-to-end", security(("bearer" = [])),
    params(("id" = String, Path, description = "A user id or a patient's pseudonym")),
    responses((status = 200, description = "The published key", body = PublicKeyResp)))]
async fn get_public_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PublicKeyResp>> {
    let c = &caller.0;
    let user = match state.db.user_by_id(&id).await? {
        Some(u) => Some(u),
        None => state.db.user_by_pseudonym(&id).await?,
    }
    .ok_or(ApiError::NotFound)?;
    let visible = user.id == c.sub
        || user.role == "clinician"
        || (user.role == "patient"
            && c.role == "clinician"
            && match &user.pseudonym {
                Some(p) => !state.db.grants(Some(p), Some(&c.sub)).await?.is_empty(),
                None => false,
            });
    if !visible {
        return Err(ApiError::NotFound);
    }
    let (public_key, fingerprint) = state
        .db
        .public_key(&user.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(PublicKeyResp {
        user_id: user.id,
        role: user.role,
        pseudonym: user.pseudonym,
        public_key,
        fingerprint,
    }))
}

/// A passphrase-wrapped private key.
#[derive(Serialize, Deserialize, ToSchema)]
struct Backup {
    /// The private key wrapped in the browser under the account's passphrase (base64,
    /// at most 16 KiB); the relay cannot open it.
    backup: String,
}

/// The caller stores its passphrase-wrapped private key (replacing an earlier one).
#[utoipa::path(put, path = "/v1/keys/backup", tag = "end-to-end", security(("bearer" = [])),
    request_body = Backup, responses((status = 204, description = "Stored")))]
async fn set_backup(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let c = &caller.0;
    audited(
        &state,
        Some(c),
        "key-backup",
        c.pseudonym.as_deref(),
        async || {
            let req: Backup = json_body(&body)?;
            if req.backup.len() > MAX_BACKUP_CHARS {
                return Err(ApiError::PayloadTooLarge(MAX_BACKUP_CHARS as u64));
            }
            if req.backup.is_empty() || B64.decode(req.backup.as_bytes()).is_err() {
                return Err(ApiError::BadRequest("backup is not base64".into()));
            }
            state.db.set_key_backup(&c.sub, &req.backup).await?;
            Ok(StatusCode::NO_CONTENT)
        },
    )
    .await
}

/// The caller's own passphrase-wrapped private key (to restore it on another device).
#[utoipa::path(get, path = "/v1/keys/backup", tag = "end-to-end", security(("bearer" = [])),
    responses((status = 200, description = "The backup (`Cache-Control: no-store`)", body = Backup)))]
async fn get_backup(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let c = &caller.0;
    let backup = audited(
        &state,
        Some(c),
        "key-backup-fetch",
        c.pseudonym.as_deref(),
        async || state.db.key_backup(&c.sub).await?.ok_or(ApiError::NotFound),
    )
    .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(Backup { backup }),
    )
        .into_response())
}

/// An encrypted data key in JSON (binary fields base64).
#[derive(Serialize, Deserialize, ToSchema)]
struct Share {
    /// `raw-ecdh`.
    provider_id: String,
    /// Version, recipient and sender public keys (base64).
    provider_info: String,
    /// Salt, commitment key, wrapped data key and tag (base64).
    ciphertext: String,
}

/// Largest share accepted (base64 characters of its two binary fields).
const MAX_SHARE_CHARS: usize = 1024;

/// The record's patient stores a key share for `reader`, a clinician who holds a grant
/// for the record's type; the share must be addressed to the reader's published key.
#[utoipa::path(put, path = "/v1/records/{id}/shares/{reader}", tag = "end-to-end",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Record id"),
           ("reader" = String, Path, description = "The clinician's user id")),
    request_body = Share, responses((status = 204, description = "Stored")))]
async fn set_share(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, reader)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let c = &caller.0;
    audited(
        &state,
        Some(c),
        "key-share",
        c.pseudonym.as_deref(),
        async || {
            let patient = caller.pseudonym()?;
            let record = state
                .db
                .record(&id)
                .await?
                .filter(|r| r.patient == patient && r.state == "complete")
                .ok_or(ApiError::NotFound)?;
            if !state
                .db
                .has_grant(patient, &reader, &record.record_type)
                .await?
            {
                return Err(ApiError::Forbidden(
                    "the reader holds no grant for this record's type".into(),
                ));
            }
            let req: Share = json_body(&body)?;
            let (public_key, _) =
                state.db.public_key(&reader).await?.ok_or_else(|| {
                    ApiError::BadRequest("the reader has published no key".into())
                })?;
            check_share(&req, &public_key)?;
            let json =
                serde_json::to_string(&req).map_err(|_| ApiError::BadRequest("share".into()))?;
            state.db.set_key_share(&record.id, &reader, &json).await?;
            Ok(StatusCode::NO_CONTENT)
        },
    )
    .await
}

/// A share is a `raw-ecdh` entry addressed to `public_key` (base64 DER): its provider
/// info parses and names that key as the recipient.
fn check_share(share: &Share, public_key: &str) -> ApiResult<()> {
    let bad = |m: &str| ApiError::BadRequest(format!("the share {m}"));
    if share.provider_id != RAW_ECDH_PROVIDER_ID {
        return Err(bad("is not a raw-ecdh encrypted data key"));
    }
    if share
        .provider_info
        .len()
        .saturating_add(share.ciphertext.len())
        > MAX_SHARE_CHARS
    {
        return Err(ApiError::PayloadTooLarge(MAX_SHARE_CHARS as u64));
    }
    let edk = EncryptedDataKey {
        provider_id: share.provider_id.clone(),
        provider_info: B64
            .decode(share.provider_info.as_bytes())
            .map_err(|_| bad("provider_info is not base64"))?,
        ciphertext: B64
            .decode(share.ciphertext.as_bytes())
            .map_err(|_| bad("ciphertext is not base64"))?,
    };
    let der = B64
        .decode(public_key.as_bytes())
        .map_err(|_| bad("reader key is unreadable"))?;
    if !addressed_to(&edk, &EcPublicKey::from_spki_der(&der)?) {
        return Err(bad("is not addressed to the reader's published key"));
    }
    Ok(())
}

/// The caller's key share of a record, while it holds a grant for the record's type.
#[utoipa::path(get, path = "/v1/records/{id}/shares/{reader}", tag = "end-to-end",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Record id"),
           ("reader" = String, Path, description = "The caller's own user id")),
    responses((status = 200, description = "The share", body = Share)))]
async fn get_share(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, reader)): Path<(String, String)>,
) -> ApiResult<Json<Share>> {
    let c = &caller.0;
    let record = state.db.record(&id).await?;
    let patient = record.as_ref().map(|r| r.patient.clone());
    audited(
        &state,
        Some(c),
        "key-share-fetch",
        patient.as_deref(),
        async || {
            if reader != c.sub {
                return Err(ApiError::Forbidden("a share is its reader's only".into()));
            }
            let record = record
                .filter(|r| r.state == "complete")
                .ok_or(ApiError::NotFound)?;
            authorize(&state, c, &record.patient, &record.record_type).await?;
            let json = state
                .db
                .key_share(&record.id, &c.sub)
                .await?
                .ok_or(ApiError::NotFound)?;
            serde_json::from_str(&json)
                .map(Json)
                .map_err(|_| ApiError::Internal("a stored key share does not parse".into()))
        },
    )
    .await
}
