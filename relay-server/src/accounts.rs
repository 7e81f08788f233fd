//! Accounts: login and token refresh (with the login throttle), the caller's profile,
//! the clinician directory, operator-created users, clinicians' invitations and
//! patients' enrolment with one.

use crate::auth::{self, Caller, Claims};
use crate::db::User;
use crate::error::{ApiError, ApiResult};
use crate::handler::{audit, audited, json_body, random_id};
use crate::name::Name;
use crate::{now, AppState};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The routes of this feature.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(create_user))
        .routes(routes!(me))
        .routes(routes!(clinicians))
        .routes(routes!(create_invitation))
        .routes(routes!(enroll))
}

/// A password login.
#[derive(Deserialize, ToSchema)]
struct LoginReq {
    /// Login name.
    username: String,
    /// Password.
    password: String,
}

/// A session token and who it names.
#[derive(Serialize, ToSchema)]
struct LoginResp {
    /// Bearer token.
    token: String,
    /// The user's id.
    user_id: String,
    /// `patient`, `clinician` or `operator`.
    role: String,
    /// A patient's pseudonym.
    #[serde(skip_serializing_if = "Option::is_none")]
    pseudonym: Option<String>,
    /// When the token expires (Unix seconds).
    expires_at: i64,
}

/// A refreshed token.
#[derive(Serialize, ToSchema)]
struct TokenResp {
    /// Bearer token.
    token: String,
    /// When it expires (Unix seconds).
    expires_at: i64,
}

/// Password login; 429 with `Retry-After` while the name or source is throttled.
#[utoipa::path(post, path = "/v1/auth/login", tag = "accounts", request_body = LoginReq,
    responses((status = 200, description = "Signed in", body = LoginResp)))]
async fn login(
    State(state): State<AppState>,
    crate::handler::PeerIp(source): crate::handler::PeerIp,
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
        .unwrap_or_else(|| auth::DUMMY_HASH.to_owned());
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

/// A fresh token for the caller's session.
///
/// Sessions slide: the web app refreshes while its user is active. The session's
/// start is kept, so no session outlives 12 hours (`auth::MAX_SESSION_SECS`); portal
/// JWTs are refreshed by their portal.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "A fresh token", body = TokenResp)))]
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
    Ok(Json(TokenResp {
        token,
        expires_at: claims.exp,
    })
    .into_response())
}

/// The caller's user (id, role, pseudonym).
#[utoipa::path(get, path = "/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = User)))]
async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<User>> {
    state
        .db
        .user_by_id(&caller.0.sub)
        .await?
        .map(Json)
        .ok_or(ApiError::Unauthorized)
}

/// The clinician directory (id and username), so a patient can pick whom to grant.
#[utoipa::path(get, path = "/v1/clinicians", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "Every clinician", body = Vec<crate::db::Clinician>)))]
async fn clinicians(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Vec<crate::db::Clinician>>> {
    Ok(Json(state.db.clinicians().await?))
}

/// A new clinician or operator.
#[derive(Deserialize, ToSchema)]
struct CreateUserReq {
    /// Login name.
    username: String,
    /// Initial password (the password policy applies).
    password: String,
    /// `clinician` or `operator`.
    role: String,
}

/// An operator creates a clinician or an operator (patients enroll).
#[utoipa::path(post, path = "/v1/users", tag = "accounts", security(("bearer" = [])),
    request_body = CreateUserReq, responses((status = 201, description = "Created", body = User)))]
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

/// A one-time invitation code.
#[derive(Serialize, ToSchema)]
struct InvitationResp {
    /// The code the patient enrolls with (shown once; stored hashed).
    code: String,
    /// When it expires (Unix seconds).
    expires_at: i64,
}

/// A clinician creates a one-time invitation code for a patient.
#[utoipa::path(post, path = "/v1/invitations", tag = "accounts", security(("bearer" = [])),
    responses((status = 201, description = "The code", body = InvitationResp)))]
async fn create_invitation(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<impl IntoResponse> {
    let c = &caller.0;
    let (code, expires_at) = audited(&state, Some(c), "invite", None, async || {
        caller.require("clinician")?;
        let max = state.config.limits.max_open_invitations_per_clinician;
        if state.db.open_invitations(&c.sub, now(), max).await? >= max {
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
        Json(InvitationResp { code, expires_at }),
    ))
}

/// A patient's enrolment.
#[derive(Deserialize, ToSchema)]
struct EnrollReq {
    /// The clinician's invitation code.
    code: String,
    /// Login name.
    username: String,
    /// Password (the password policy applies).
    password: String,
}

/// The enrolled patient.
#[derive(Serialize, ToSchema)]
struct EnrollResp {
    /// The new user's id.
    user_id: String,
    /// The patient's pseudonym.
    pseudonym: Option<String>,
    /// The inviting clinician's user id.
    invited_by: String,
}

/// A patient enrolls with an invitation code.
#[utoipa::path(post, path = "/v1/enroll", tag = "accounts", request_body = EnrollReq,
    responses((status = 201, description = "Enrolled", body = EnrollResp)))]
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
        Json(EnrollResp {
            user_id: user.0.id,
            pseudonym: user.0.pseudonym,
            invited_by: user.1,
        }),
    ))
}
