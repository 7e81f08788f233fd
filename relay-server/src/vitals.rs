//! The vital-sign alert feed. A patient's client runs the rules in the browser (or a
//! device gateway) and sends only alert metadata here: the rule, the vital's LOINC code,
//! severity, raised/cleared and times, under the patient's pseudonym. No reading ever
//! reaches the relay in clear: the request schema has no field for a value, and unknown
//! fields are refused. Clinicians holding a `vitals-stream` grant for the patient read the
//! feed (list, or live over server-sent events); every post and read is audited.

use std::convert::Infallible;

use crate::db::Val;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::handler::{audited, json_body, random_id};
use crate::name::Name;
use crate::{now, AppState};

/// The routes of this feature.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts, post_alert))
        .routes(routes!(alerts_stream))
}

/// The record type of encrypted telemetry chunks; a grant on it also opens the alert feed.
pub const VITALS_RECORD_TYPE: &str = "vitals-stream";

/// Most alerts returned by one list call.
const MAX_LIST: i64 = 500;

/// What a patient's client posts: metadata only (there is no field for a reading,
/// and unknown fields are refused).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AlertIn {
    /// The telemetry session it came from.
    session: String,
    /// The rule's name (`spo2-low`).
    rule: String,
    /// LOINC code of the vital sign.
    loinc: String,
    /// `warning` or `critical`.
    severity: String,
    /// `raised` or `cleared`.
    transition: String,
    /// When the episode began (Unix seconds).
    episode_start: i64,
    /// When this transition happened (Unix seconds).
    at: i64,
}

/// One alert on the feed (metadata only).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct VitalAlert {
    /// Relay-assigned id.
    pub id: String,
    /// The patient's pseudonym.
    pub patient: String,
    /// The telemetry session it came from.
    pub session: String,
    /// The rule's name (`spo2-low`).
    pub rule: String,
    /// LOINC code of the vital sign.
    pub loinc: String,
    /// `warning` or `critical`.
    pub severity: String,
    /// `raised` or `cleared`.
    pub transition: String,
    /// When the episode began (Unix seconds).
    pub episode_start: i64,
    /// When this transition happened (Unix seconds).
    pub at: i64,
    /// When the relay received it (Unix seconds).
    pub received_at: i64,
}

/// The live feed (one broadcast channel; each subscriber filters by its grants).
#[derive(Debug)]
pub struct VitalFeed {
    tx: broadcast::Sender<VitalAlert>,
}

impl VitalFeed {
    /// A feed that keeps up to 256 undelivered alerts per slow subscriber.
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(256).0,
        }
    }
}

impl Default for VitalFeed {
    fn default() -> Self {
        Self::new()
    }
}

fn validate(a: &AlertIn) -> ApiResult<()> {
    Name::parse("session", &a.session)?;
    Name::parse("rule", &a.rule)?;
    let loinc_ok = a.loinc.len() <= 10
        && a.loinc.split_once('-').is_some_and(|(num, check)| {
            !num.is_empty()
                && num.bytes().all(|b| b.is_ascii_digit())
                && check.len() == 1
                && check.bytes().all(|b| b.is_ascii_digit())
        });
    if !loinc_ok {
        return Err(ApiError::BadRequest("loinc must be a LOINC code".into()));
    }
    if !matches!(a.severity.as_str(), "warning" | "critical") {
        return Err(ApiError::BadRequest(
            "severity must be warning or critical".into(),
        ));
    }
    if !matches!(a.transition.as_str(), "raised" | "cleared") {
        return Err(ApiError::BadRequest(
            "transition must be raised or cleared".into(),
        ));
    }
    let now = now();
    let sane = |t: i64| (0..=now.saturating_add(86_400)).contains(&t);
    if !sane(a.episode_start) || !sane(a.at) || a.at < a.episode_start {
        return Err(ApiError::BadRequest(
            "times must be Unix seconds, episode_start <= at, not in the future".into(),
        ));
    }
    Ok(())
}

async fn insert(state: &AppState, a: &VitalAlert) -> ApiResult<()> {
    state
        .db
        .exec(
            "INSERT INTO vital_alerts (id, patient, session, rule, loinc, severity, transition, episode_start, at, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            &[
                a.id.as_str().into(),
                a.patient.as_str().into(),
                a.session.as_str().into(),
                a.rule.as_str().into(),
                a.loinc.as_str().into(),
                a.severity.as_str().into(),
                a.transition.as_str().into(),
                a.episode_start.into(),
                a.at.into(),
                a.received_at.into(),
            ],
        )
        .await
        .map(|_| ())
}

/// Alerts of one patient, or of every patient who granted `clinician` the vitals
/// stream, received at or after `since`, oldest first.
async fn list(
    state: &AppState,
    patient: Option<&str>,
    clinician: Option<&str>,
    since: i64,
) -> ApiResult<Vec<VitalAlert>> {
    let rows = state
        .db
        .query(
            "SELECT a.id, a.patient, a.session, a.rule, a.loinc, a.severity, a.transition, a.episode_start, a.at, a.received_at
             FROM vital_alerts a WHERE a.received_at >= ?1
               AND (CAST(?2 AS TEXT) IS NULL OR a.patient = ?2)
               AND (CAST(?3 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM grants g WHERE g.patient = a.patient AND g.clinician_id = ?3 AND g.record_type = ?4))
             ORDER BY a.received_at, a.at, a.id LIMIT ?5",
            &[
                since.into(),
                patient.into(),
                clinician.into(),
                VITALS_RECORD_TYPE.into(),
                MAX_LIST.into(),
            ],
            10,
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let get = |i: usize| r.get(i).cloned().unwrap_or(Val::Null);
            VitalAlert {
                id: get(0).text(),
                patient: get(1).text(),
                session: get(2).text(),
                rule: get(3).text(),
                loinc: get(4).text(),
                severity: get(5).text(),
                transition: get(6).text(),
                episode_start: get(7).int(),
                at: get(8).int(),
                received_at: get(9).int(),
            }
        })
        .collect())
}

/// Posts one vital-sign alert transition of the caller, metadata only (patient).
#[utoipa::path(post, path = "/v1/vitals/alerts", tag = "vitals", operation_id = "post_vital_alert", security(("bearer" = [])),
    request_body = AlertIn, responses((status = 201, description = "The stored alert", body = VitalAlert)))]
pub(crate) async fn post_alert(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let c = &caller.0;
    let alert = audited(
        &state,
        Some(c),
        "vital-alert",
        c.pseudonym.as_deref(),
        async || {
            caller.require("patient")?;
            let patient = caller.pseudonym()?.to_owned();
            let a: AlertIn = json_body(&body)?;
            validate(&a)?;
            let alert = VitalAlert {
                id: random_id("va-", 12),
                patient,
                session: a.session,
                rule: a.rule,
                loinc: a.loinc,
                severity: a.severity,
                transition: a.transition,
                episode_start: a.episode_start,
                at: a.at,
                received_at: now(),
            };
            insert(&state, &alert).await?;
            Ok(alert)
        },
    )
    .await?;
    // No subscriber is not an error.
    let _ = state.vital_feed.tx.send(alert.clone());
    Ok((StatusCode::CREATED, Json(alert)))
}

/// Query of `GET /v1/vitals/alerts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only alerts received after this time (Unix seconds).
    #[serde(default)]
    since: i64,
}

/// Vital-sign alert metadata: a patient's own, or a clinician's granted patients'.
#[utoipa::path(get, path = "/v1/vitals/alerts", tag = "vitals", operation_id = "list_vital_alerts", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, description = "Alerts", body = Vec<VitalAlert>)))]
pub(crate) async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<VitalAlert>>> {
    let c = &caller.0;
    let alerts = audited(
        &state,
        Some(c),
        "vital-alerts-read",
        None,
        async || match c.role.as_str() {
            "patient" => list(&state, Some(caller.pseudonym()?), None, q.since).await,
            "clinician" => list(&state, None, Some(&c.sub), q.since).await,
            _ => Err(ApiError::Forbidden(
                "the vital-sign feed is for patients and their clinicians".into(),
            )),
        },
    )
    .await?;
    Ok(Json(alerts))
}

/// Live vital-sign alerts of granted patients as server-sent events (clinician).
///
/// An alert is sent when the clinician holds the patient's `vitals-stream` grant at
/// the time it arrives; each event `vital-alert` carries one alert as JSON.
#[utoipa::path(get, path = "/v1/vitals/alerts/stream", tag = "vitals",
    operation_id = "vital_alerts_stream", security(("bearer" = [])),
    responses((status = 200, description = "`text/event-stream` of `vital-alert` events",
        content((VitalAlert = "text/event-stream")))))]
pub(crate) async fn alerts_stream(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>> {
    let c = caller.0.clone();
    audited(
        &state,
        Some(&c),
        "vital-alerts-subscribe",
        None,
        async || caller.require("clinician"),
    )
    .await?;
    let rx = state.vital_feed.tx.subscribe();
    let db = state.db.clone();
    let stream = futures_util::StreamExt::filter_map(
        tokio_stream::wrappers::BroadcastStream::new(rx),
        move |a| {
            let (db, sub) = (db.clone(), c.sub.clone());
            async move {
                let alert = a.ok()?;
                let granted = db
                    .has_grant(&alert.patient, &sub, VITALS_RECORD_TYPE)
                    .await
                    .ok()?;
                granted
                    .then(|| Event::default().event("vital-alert").json_data(&alert).ok())
                    .flatten()
                    .map(Ok)
            }
        },
    );
    let stream = Box::pin(stream);
    let stream = crate::handler::live_stream(&state, &caller.0, stream)?;
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
