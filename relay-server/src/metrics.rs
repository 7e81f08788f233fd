//! Request metrics in the Prometheus text format: counts by route and status, and a
//! latency histogram by route; and the study aggregation's time per phase (claim, fold,
//! checkpoint store, commit, merge at release) and checkpoint sizes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    total: u64,
}

/// Collected metrics.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// Seconds (sum, count) per study aggregation phase.
    study: Mutex<BTreeMap<&'static str, (f64, u64)>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, secs: f64) {
        if let Ok(mut m) = self.requests.lock() {
            let n = m
                .entry((method.to_owned(), route.to_owned(), status))
                .or_default();
            *n = n.saturating_add(1);
        }
        if let Ok(mut l) = self.latency.lock() {
            let h = l.entry(route.to_owned()).or_default();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    if let Some(c) = h.counts.get_mut(i) {
                        *c = c.saturating_add(1);
                    }
                }
            }
            h.sum += secs;
            h.total = h.total.saturating_add(1);
        }
    }

    /// Adds `value` to the study aggregation's running sum for `phase` (seconds, or
    /// bytes for `checkpoint_bytes`).
    pub fn record_study(&self, phase: &'static str, value: f64) {
        if let Ok(mut m) = self.study.lock() {
            let e = m.entry(phase).or_default();
            e.0 += value;
            e.1 = e.1.saturating_add(1);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP phiveil_study_phase Study aggregation work by phase: seconds (acquire, load, claim, fold, store, commit, merge, release) or bytes (checkpoint_bytes), summed, with the number of times.\n");
        out.push_str("# TYPE phiveil_study_phase summary\n");
        if let Ok(m) = self.study.lock() {
            for (phase, (sum, n)) in m.iter() {
                out.push_str(&format!(
                    "phiveil_study_phase_sum{{phase=\"{phase}\"}} {sum}\nphiveil_study_phase_count{{phase=\"{phase}\"}} {n}\n"
                ));
            }
        }
        out.push_str("# HELP phiveil_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE phiveil_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                out.push_str(&format!(
                    "phiveil_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}\n"
                ));
            }
        }
        out.push_str("# HELP phiveil_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE phiveil_http_request_duration_seconds histogram\n");
        if let Ok(l) = self.latency.lock() {
            for (route, h) in l.iter() {
                for (b, c) in BUCKETS.iter().zip(h.counts.iter()) {
                    out.push_str(&format!(
                        "phiveil_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {c}\n"
                    ));
                }
                out.push_str(&format!(
                    "phiveil_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n",
                    h.total
                ));
                out.push_str(&format!(
                    "phiveil_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n",
                    h.sum
                ));
                out.push_str(&format!(
                    "phiveil_http_request_duration_seconds_count{{route=\"{route}\"}} {}\n",
                    h.total
                ));
            }
        }
        out
    }
}

/// Middleware: counts and times every request by its matched route (never the raw
/// path or query, which may carry signatures).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    state
        .metrics
        .record(&method, &route, resp.status().as_u16(), secs);
    if resp.status() == axum::http::StatusCode::REQUEST_TIMEOUT {
        // Work cut off by the request limit is an operational event: logged as a
        // warning and audited, not only counted.
        tracing::warn!(method = %method, route = %route, "request timed out");
        let event = crate::audit::AuditEvent {
            actor: "relay".into(),
            role: "none".into(),
            action: "request-timeout".into(),
            patient: None,
            outcome: "failed".into(),
            detail: format!("{method} {route}"),
        };
        if let Err(err) = crate::audit::append(&state.db, &state.alerts, &event).await {
            tracing::error!(error = ?err, "audit append failed");
        }
    }
    tracing::info!(method = %method, route = %route, status = resp.status().as_u16(), ms = secs * 1e3, "request");
    resp
}
