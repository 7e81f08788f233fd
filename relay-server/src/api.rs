//! HTTP API. Every data, key, grant, login and admin action is audited, allowed or
//! refused. Request bodies are size-limited JSON; errors are problem+json.

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{middleware, Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use phiveil_core::esdk::{
    BrokeredKmsKeyring, EncryptedDataKey, EncryptionContext, Header, Limits, StreamDecryptor,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt as _;
use tower_http::timeout::TimeoutLayer;

use crate::audit::{self, AuditEvent, AuditQuery};
use crate::auth::{self, Caller, Claims};
use crate::db::{Grant, Record, User};
use crate::error::{ApiError, ApiResult};
use crate::name::Name;
use crate::store::{valid_key, SignedQuery};
use crate::{now, AppState};

/// Largest message header accepted for unwrapping.
const HEADER_LIMIT: usize = 64 * 1024;

/// The router.
pub fn router(state: AppState) -> Router {
    // Study server keys (~60 MB compressed) arrive through the same presigned PUTs.
    let max_upload = usize::try_from(
        state
            .config
            .max_upload_bytes
            .max(crate::studies::MAX_ARTIFACT_BYTES),
    )
    .unwrap_or(usize::MAX);
    let api = Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/users", post(create_user))
        .route("/v1/me", get(me))
        .route("/v1/clinicians", get(clinicians))
        .route("/v1/invitations", post(create_invitation))
        .route("/v1/enroll", post(enroll))
        .route("/v1/grants", get(list_grants).post(add_grant))
        .route(
            "/v1/grants/{clinician_id}/{record_type}",
            delete(revoke_grant),
        )
        .route("/v1/keys/data-key", post(data_key))
        .route("/v1/keys/unwrap", post(unwrap))
        .route("/v1/records", get(list_records).post(create_record))
        .route("/v1/records/{id}", get(get_record))
        .route("/v1/records/{id}/complete", post(complete_record))
        .route("/v1/audit", get(audit_query))
        .route("/v1/audit/verify", get(audit_verify))
        .route("/v1/alerts/stream", get(alerts_stream))
        .route(
            "/v1/vitals/alerts",
            get(crate::vitals::list_alerts).post(crate::vitals::post_alert),
        )
        .route(
            "/v1/vitals/alerts/stream",
            get(crate::vitals::alerts_stream),
        )
        .route(
            "/v1/studies",
            get(crate::studies::list).post(crate::studies::create),
        )
        .route(
            "/v1/studies/{id}",
            get(crate::studies::get).delete(crate::studies::cancel),
        )
        .route("/v1/studies/{id}/keys", post(crate::studies::keys))
        .route("/v1/studies/{id}/open", post(crate::studies::open))
        .route(
            "/v1/studies/{id}/artifacts/{kind}",
            get(crate::studies::artifact),
        )
        .route("/v1/studies/{id}/submissions", post(crate::studies::submit))
        .route(
            "/v1/studies/{id}/submissions/{sid}/complete",
            post(crate::studies::complete),
        )
        .route("/v1/studies/{id}/submission", get(crate::studies::mine))
        .route("/v1/studies/{id}/release", post(crate::studies::release))
        .route(
            "/v1/trainings",
            get(crate::training::list).post(crate::training::create),
        )
        .route(
            "/v1/trainings/{id}",
            get(crate::training::get).delete(crate::training::cancel),
        )
        .route("/v1/trainings/{id}/model", post(crate::training::publish))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(state.config.limits.max_json_bytes));
    let store = Router::new()
        .route("/store/{*key}", put(store_put).get(store_get))
        .layer(DefaultBodyLimit::max(max_upload));
    let mut router = api.merge(store);
    if let Some(dir) = &state.config.static_dir {
        let files = Router::new()
            .fallback_service(tower_http::services::ServeDir::new(dir).precompressed_gzip())
            .layer(middleware::map_response(static_headers));
        router = router.fallback_service(files);
    }
    // The metrics layer sits outside the timeout, so a request cut off at the
    // limit is counted (and audited) with its 408.
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.config.limits.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(middleware::from_fn(crate::http::common_headers))
        .with_state(state)
}

/// The content security policy of the web app and the embedding example: scripts,
/// workers and wasm from this origin only (`wasm-unsafe-eval` lets wasm compile, nothing
/// else is evaluated), no plugins, no framing. `connect-src` admits `https:` because
/// presigned URLs point at S3 when the relay uses it.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' https:; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Security headers on the static files (the web app).
async fn static_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    res
}

/// Appends one event to the audit log (a failure is logged, never returned).
pub(crate) async fn audit(
    state: &AppState,
    caller: Option<&Claims>,
    action: &str,
    patient: Option<&str>,
    outcome: &str,
    detail: &str,
) {
    let e = AuditEvent {
        actor: caller.map_or_else(|| "anonymous".to_owned(), |c| c.sub.clone()),
        role: caller.map_or_else(|| "none".to_owned(), |c| c.role.clone()),
        action: action.to_owned(),
        patient: patient.map(str::to_owned),
        outcome: outcome.to_owned(),
        detail: detail.to_owned(),
    };
    if let Err(err) = audit::append(&state.db, &state.alerts, &e).await {
        tracing::error!(error = ?err, action, "audit append failed");
    }
}

/// Runs `f`; audits `allowed` on success, `refused` with the error's code otherwise.
pub(crate) async fn audited<T>(
    state: &AppState,
    caller: Option<&Claims>,
    action: &str,
    patient: Option<&str>,
    f: impl AsyncFnOnce() -> ApiResult<T>,
) -> ApiResult<T> {
    let res = f().await;
    match &res {
        Ok(_) => audit(state, caller, action, patient, "allowed", "").await,
        Err(e) => audit(state, caller, action, patient, "refused", e.code()).await,
    }
    res
}

pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

pub(crate) fn random_id(prefix: &str, bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{prefix}{hex}")
}

/// May `caller` read or write `record_type` records of `patient`?
/// A patient: only its own; a clinician: only under a grant; an operator: never.
async fn authorize(
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

#[derive(Deserialize)]
struct LoginReq {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct LoginResp {
    token: String,
    user_id: String,
    role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pseudonym: Option<String>,
    expires_at: i64,
}

async fn login(
    State(state): State<AppState>,
    crate::http::PeerIp(source): crate::http::PeerIp,
    body: Bytes,
) -> ApiResult<Response> {
    let req: LoginReq = json_body(&body)?;
    let throttle = &state.login_throttle;
    let wait = throttle.wait_secs(&req.username, source, now());
    if wait > 0 {
        audit(&state, None, "login", None, "refused", "throttled").await;
        return Ok(ApiError::TooManyRequests(wait).into_response());
    }
    let user = state.db.user_by_name(&req.username).await?;
    // Every refusal costs one Argon2id verification, whether the name is unknown,
    // has no password (a portal subject) or the password is wrong: the answer's
    // timing says nothing about which accounts exist.
    let hash = user
        .as_ref()
        .and_then(|u| u.pw_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_owned());
    let ok = auth::verify_password_off_thread(&state, &req.password, &hash).await?
        && user.as_ref().is_some_and(|u| u.pw_hash.is_some());
    let Some(user) = user.clone().filter(|_| ok) else {
        let outcome = throttle.failed(&req.username, source, now());
        // The targeted account is named only when it exists, so a password typed
        // into the name field is never stored.
        let (detail, patient) = match user {
            Some(u) => (format!("bad-credentials; account={}", u.id), u.pseudonym),
            None => ("bad-credentials; unknown-account".to_owned(), None),
        };
        audit(
            &state,
            None,
            "login",
            patient.as_deref(),
            "refused",
            &detail,
        )
        .await;
        if outcome.account_now_throttled {
            state.alerts.raise(
                format!(
                    "{}+ failed logins for one account",
                    outcome.account_failures
                ),
                detail,
                usize::try_from(outcome.account_failures).unwrap_or(usize::MAX),
            );
        }
        return Err(ApiError::Unauthorized);
    };
    throttle.succeeded(&req.username);
    let claims = Claims {
        sub: user.id.clone(),
        role: user.role.clone(),
        pseudonym: user.pseudonym.clone(),
        exp: now().saturating_add(state.config.token_ttl_secs),
        auth_time: now(),
    };
    let token = state.tokens.issue(&claims)?;
    audit(
        &state,
        Some(&claims),
        "login",
        user.pseudonym.as_deref(),
        "allowed",
        "",
    )
    .await;
    Ok(Json(LoginResp {
        token,
        user_id: user.id,
        role: user.role,
        pseudonym: user.pseudonym,
        expires_at: claims.exp,
    })
    .into_response())
}

/// `POST /v1/auth/refresh`: a fresh token for the caller's session (sliding
/// sessions: the web app refreshes while its user is active). The session's start
/// is kept, so no session outlives [`auth::MAX_SESSION_SECS`]; portal JWTs are
/// refreshed by their portal.
async fn refresh(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let c = &caller.0;
    let claims = audited(
        &state,
        Some(c),
        "token-refresh",
        c.pseudonym.as_deref(),
        async || {
            if c.auth_time == 0 {
                return Err(ApiError::BadRequest(
                    "portal tokens are refreshed by the portal".into(),
                ));
            }
            let cap = c.auth_time.saturating_add(auth::MAX_SESSION_SECS);
            if now() >= cap {
                return Err(ApiError::Unauthorized);
            }
            Ok(Claims {
                exp: now().saturating_add(state.config.token_ttl_secs).min(cap),
                ..c.clone()
            })
        },
    )
    .await?;
    let token = state.tokens.issue(&claims)?;
    Ok(Json(json!({ "token": token, "expires_at": claims.exp })).into_response())
}

/// An Argon2id hash of a random password, verified against for unknown users.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$x3fkYhYdWgtKXjs8IjxCSyyALgu2lZdbX3hn8Zv0d4Q";

async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<User>> {
    state
        .db
        .user_by_id(&caller.0.sub)
        .await?
        .map(Json)
        .ok_or(ApiError::Unauthorized)
}

/// The clinician directory (id and username), so a patient can pick whom to grant.
async fn clinicians(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Vec<crate::db::Clinician>>> {
    Ok(Json(state.db.clinicians().await?))
}

#[derive(Deserialize)]
struct CreateUserReq {
    username: String,
    password: String,
    role: String,
}

async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = &caller.0;
    // Cheap checks first; the password policy and Argon2id (off the async workers)
    // only for a request that passed them; one audit row for the whole outcome.
    let checked = (|| {
        caller.require("operator")?;
        let req: CreateUserReq = json_body(&body)?;
        Name::parse("username", &req.username)?;
        if req.role != "clinician" && req.role != "operator" {
            return Err(ApiError::BadRequest(
                "operators create clinicians and operators; patients enroll".into(),
            ));
        }
        Ok(req)
    })();
    let hashed = hash_if_checked(&state, &checked, |r| (&r.password, &r.username)).await;
    let user = audited(&state, Some(c), "create-user", None, async || {
        let req = checked?;
        let pw_hash = hashed?;
        let user = User {
            id: random_id("u-", 8),
            username: req.username,
            role: req.role,
            pseudonym: None,
            pw_hash: Some(pw_hash),
        };
        state.db.create_user(&user).await?;
        Ok(user)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Creates a user directly (the operator CLI's first operator).
pub async fn create_user_direct(
    state: &AppState,
    username: &str,
    password: &str,
    role: &str,
) -> ApiResult<User> {
    Name::parse("username", username)?;
    let user = User {
        id: random_id("u-", 8),
        username: username.to_owned(),
        role: role.to_owned(),
        pseudonym: (role == "patient").then(|| random_id("p-", 8)),
        pw_hash: Some(auth::hash_password(password, username)?),
    };
    state.db.create_user(&user).await?;
    audit(
        state,
        None,
        "create-user",
        user.pseudonym.as_deref(),
        "allowed",
        &format!("cli {role}"),
    )
    .await;
    Ok(user)
}

/// The new password's hash (policy checked, Argon2id off the async workers) for a
/// request whose cheap checks passed. When they did not, the request's own error is
/// what the caller reports; the placeholder returned here is never seen.
async fn hash_if_checked<T>(
    state: &AppState,
    checked: &ApiResult<T>,
    credentials: impl Fn(&T) -> (&str, &str),
) -> ApiResult<String> {
    match checked {
        Ok(req) => {
            let (password, username) = credentials(req);
            auth::hash_password_off_thread(state, password, username).await
        }
        Err(_) => Err(ApiError::Internal(
            "not hashed: the request was refused".into(),
        )),
    }
}

fn code_hash(code: &str) -> String {
    Sha256::digest(code.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn create_invitation(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<impl IntoResponse> {
    let c = &caller.0;
    let (code, expires_at) = audited(&state, Some(c), "invite", None, async || {
        caller.require("clinician")?;
        let max = state.config.limits.max_open_invitations_per_clinician;
        if state.db.open_invitations(&c.sub, now()).await? >= max {
            return Err(ApiError::TooManyPending(format!(
                "at most {max} unused invitations may be open at once"
            )));
        }
        let code = random_id("inv-", 16);
        let expires_at = now().saturating_add(7 * 24 * 3600);
        state
            .db
            .create_invitation(&code_hash(&code), &c.sub, expires_at)
            .await?;
        Ok((code, expires_at))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "code": code, "expires_at": expires_at })),
    ))
}

#[derive(Deserialize)]
struct EnrollReq {
    code: String,
    username: String,
    password: String,
}

async fn enroll(State(state): State<AppState>, body: Bytes) -> ApiResult<impl IntoResponse> {
    // Cheap checks first (the body, the name, the password policy, a live code);
    // Argon2id only for a request that passed them.
    let checked: ApiResult<EnrollReq> = async {
        let req: EnrollReq = json_body(&body)?;
        Name::parse("username", &req.username)?;
        // A weak password is named before a bad code (then checked once more, cheaply,
        // where it is hashed).
        auth::check_password(&req.password, &req.username)?;
        if !state
            .db
            .invitation_open(&code_hash(&req.code), now())
            .await?
        {
            return Err(ApiError::Conflict(
                "the invitation code is unknown, used or expired".into(),
            ));
        }
        Ok(req)
    }
    .await;
    let hashed = hash_if_checked(&state, &checked, |r| (&r.password, &r.username)).await;
    let mut patient_ps = None;
    let user = audited(&state, None, "enroll", None, async || {
        let req = checked?;
        let pw_hash = hashed?;
        let user = User {
            id: random_id("u-", 8),
            username: req.username,
            role: "patient".into(),
            pseudonym: Some(random_id("p-", 8)),
            pw_hash: Some(pw_hash),
        };
        let clinician = state
            .db
            .redeem_invitation(&code_hash(&req.code), &user)
            .await?;
        patient_ps = user.pseudonym.clone();
        Ok((user, clinician))
    })
    .await?;
    tracing::info!(patient = ?patient_ps, "patient enrolled");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user_id": user.0.id, "pseudonym": user.0.pseudonym, "invited_by": user.1 })),
    ))
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

#[derive(Deserialize)]
struct DataKeyReq {
    context: EncryptionContext,
}

/// An encrypted data key entry in JSON (binary fields base64).
#[derive(Serialize, Deserialize)]
struct EdkJson {
    provider_id: String,
    provider_info: String,
    ciphertext: String,
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
    let body = json!({
        "key_id": key.key_id,
        "data_key": B64.encode(key.plaintext.expose_secret()),
        "encrypted_data_key": EdkJson::from(&key.edk),
    });
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

#[derive(Deserialize)]
struct UnwrapReq {
    /// The message header (base64), as it starts the stored message.
    header: String,
    /// The context the caller expects; must equal the header's.
    #[serde(default)]
    context: Option<EncryptionContext>,
}

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
    let body = json!({
        "data_key": B64.encode(key.expose_secret()),
        "encrypted_data_key": EdkJson::from(&edk),
    });
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

#[derive(Deserialize)]
struct CreateRecordReq {
    #[serde(default)]
    patient: Option<String>,
    record_type: String,
    size: u64,
    #[serde(default = "default_content_type")]
    content_type: String,
}

fn default_content_type() -> String {
    "application/octet-stream".into()
}

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
        if state.db.pending_count(&patient, now()).await? >= max {
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
    Ok((
        StatusCode::CREATED,
        Json(json!({ "record": record, "upload": upload })),
    ))
}

/// Marks an upload complete once the object is in the store with the declared size
/// (S3: the browser calls this after its PUT; the local store completes on PUT).
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
            Some(size) if size == record.size => state.db.complete(&record.id).await?,
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

#[derive(Deserialize)]
struct ListQuery {
    patient: Option<String>,
    record_type: Option<String>,
}

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
    let download = state.store.presign_get(&record.object_key, expires).await?;
    Ok(Json(json!({ "record": record, "download": download })).into_response())
}

/// What a presigned PUT uploads.
enum PutTarget {
    Record(Record),
    Study,
}

/// `PUT /store/{key}` (local store): everything is checked before a byte of the
/// body is read (signature, expiry, the declared `Content-Length` against the
/// signed length, the object still pending, the content type), then exactly the
/// signed number of bytes is read. A bad request costs the relay no memory.
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
            state.db.complete(&r.id).await?;
        }
        Ok(StatusCode::CREATED)
    })
    .await
}

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

/// Bounds a live event stream by its caller's session: it ends when the token that
/// opened it expires (the client reconnects with a fresh one), and holds one of the
/// caller's `max_streams_per_user` slots while open.
pub(crate) fn live_stream<S: futures_util::Stream + Send + 'static>(
    state: &AppState,
    caller: &Claims,
    stream: S,
) -> ApiResult<impl futures_util::Stream<Item = S::Item> + Send + 'static> {
    let max = state.config.limits.max_streams_per_user;
    let slot = state.streams.take(&caller.sub, max).ok_or_else(|| {
        ApiError::TooManyPending(format!("at most {max} live streams may be open at once"))
    })?;
    let left = u64::try_from(caller.exp.saturating_sub(now())).unwrap_or(0);
    let end = tokio::time::sleep(std::time::Duration::from_secs(left));
    Ok(futures_util::StreamExt::map(
        futures_util::StreamExt::take_until(stream, end),
        move |item| {
            let _held = &slot;
            item
        },
    ))
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
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
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
