//! The relay's metrics, kept and exposed in the Prometheus text format by the
//! `prometheus-client` crate: requests by method, route and status; request latency by
//! route; the study aggregation's time per phase (acquire, load, claim, fold, store,
//! commit, merge, release) and its checkpoint sizes.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::AppState;

/// Request latency buckets, in seconds (0.5 ms to 1 s).
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Collected metrics and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    study_phase: HistogramFamily<PhaseLabels>,
    checkpoint_bytes: Histogram,
    replica_backlog: Gauge,
    replica_copied: Counter,
    replica_failed: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("phiveil");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        let latency: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(|| Histogram::new(BUCKETS));
        registry.register_with_unit(
            "http_request_duration",
            "Request latency by route",
            Unit::Seconds,
            latency.clone(),
        );
        // 1 ms to ~9 min: a claim takes milliseconds, a fold of a batch minutes.
        let study_phase: HistogramFamily<PhaseLabels> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 4.0, 10)));
        registry.register_with_unit(
            "study_phase_duration",
            "Study aggregation work by phase: acquire, load, claim, fold, store, commit (per batch), merge (per lane) and release",
            Unit::Seconds,
            study_phase.clone(),
        );
        // 64 KiB to 1 GiB.
        let checkpoint_bytes = Histogram::new(exponential_buckets(65_536.0, 4.0, 8));
        registry.register_with_unit(
            "study_checkpoint",
            "Size of each lane checkpoint written",
            Unit::Bytes,
            checkpoint_bytes.clone(),
        );
        let replica_backlog = Gauge::default();
        registry.register(
            "replica_backlog",
            "Objects waiting to be copied to the replica store",
            replica_backlog.clone(),
        );
        let replica_copied = Counter::default();
        registry.register(
            "replica_copied",
            "Objects copied to the replica store",
            replica_copied.clone(),
        );
        let replica_failed = Counter::default();
        registry.register(
            "replica_failed",
            "Failed copies to the replica store (retried with backoff)",
            replica_failed.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            study_phase,
            checkpoint_bytes,
            replica_backlog,
            replica_copied,
            replica_failed,
        }
    }
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, secs: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(secs);
    }

    /// Records `secs` spent in the study aggregation's `phase`.
    pub fn record_study(&self, phase: &'static str, secs: f64) {
        self.study_phase
            .get_or_create(&PhaseLabels { phase })
            .observe(secs);
    }

    /// Records the size of a lane checkpoint written.
    pub fn record_checkpoint(&self, bytes: usize) {
        #[allow(clippy::cast_precision_loss)]
        self.checkpoint_bytes.observe(bytes as f64);
    }

    /// Counts one copy to the replica, done or failed.
    pub fn replica_copy(&self, ok: bool) {
        if ok {
            self.replica_copied.inc();
        } else {
            self.replica_failed.inc();
        }
    }

    /// Sets the replica backlog.
    pub fn replica_backlog(&self, n: i64) {
        self.replica_backlog.set(n);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("cannot encode the metrics");
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
