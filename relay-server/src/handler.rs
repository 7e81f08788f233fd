//! What every feature's handlers share: the audit wrapper that records each action as
//! allowed or refused, JSON body parsing, random ids, and live (SSE) streams bounded
//! per user and by the caller's token.

use crate::audit::{self, AuditEvent};
use crate::auth::Claims;
use crate::error::{ApiError, ApiResult};
use crate::{now, AppState};
use axum::body::Bytes;

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

/// The peer address of a request, when it came through [`crate::http::serve_connections`]
/// (`None` for requests driven in-process, as the unit tests do).
#[derive(Debug, Clone, Copy)]
pub struct PeerIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}
