//! API errors as RFC 9457 `application/problem+json`. Clients get a generic title
//! and a safe detail; internal causes go to the log only.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The body of every error response (RFC 9457 problem details).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:phiveil:problem:<code>`; the code names the kind of refusal.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What was wrong, safe to show (never an internal cause).
    pub detail: String,
}

/// Every error a handler can return.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed (bad JSON, missing field, bad value).
    BadRequest(String),
    /// No or invalid credentials.
    Unauthorized,
    /// Authenticated, but not allowed.
    Forbidden(String),
    /// No such resource (or not visible to the caller).
    NotFound,
    /// The request conflicts with the current state (replayed code, duplicate name).
    Conflict(String),
    /// A body or declared size over the limit.
    PayloadTooLarge(u64),
    /// A presigned URL that expired.
    Expired,
    /// Well-formed request, refused for its content (a submission whose proof fails).
    Unprocessable(String),
    /// Too many attempts: try again after this many seconds (`Retry-After`).
    TooManyRequests(i64),
    /// A per-user limit on open items (pending uploads, invitations, streams).
    TooManyPending(String),
    /// A failure on our side; the message is logged, never sent.
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::BadRequest(d) => (StatusCode::BAD_REQUEST, "bad-request", d.clone()),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "valid credentials are required".into(),
            ),
            ApiError::Forbidden(d) => (StatusCode::FORBIDDEN, "forbidden", d.clone()),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "not-found",
                "no such resource".into(),
            ),
            ApiError::Conflict(d) => (StatusCode::CONFLICT, "conflict", d.clone()),
            ApiError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                format!("the limit is {limit} bytes"),
            ),
            ApiError::Expired => (
                StatusCode::FORBIDDEN,
                "expired",
                "the presigned URL has expired".into(),
            ),
            ApiError::Unprocessable(d) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", d.clone())
            }
            ApiError::TooManyRequests(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                format!("too many failed attempts; try again in {secs} s"),
            ),
            ApiError::TooManyPending(d) => (StatusCode::TOO_MANY_REQUESTS, "limit", d.clone()),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the relay could not complete the request".into(),
            ),
        }
    }

    /// The problem type's short code.
    pub fn code(&self) -> &'static str {
        self.parts().1
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(cause = %cause, "internal error");
        }
        let (status, code, detail) = self.parts();
        let body = Problem {
            kind: format!("urn:phiveil:problem:{code}"),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail,
        };
        let mut res = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            serde_json::to_string(&body).unwrap_or_default(),
        )
            .into_response();
        if let ApiError::TooManyRequests(secs) = &self {
            if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}

impl From<phiveil_core::Error> for ApiError {
    fn from(e: phiveil_core::Error) -> Self {
        ApiError::BadRequest(format!("{} ({})", e, e.code()))
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
