//! The HTTP surface below the routes: the connection loop with its limits (header
//! read and keep-alive timeout, connection caps in total and per source address)
//! and the headers and error shape every response shares.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use tower_http::timeout::TimeoutLayer;

use crate::limits::Limits;
use crate::AppState;

/// Open connections per source address.
#[derive(Debug, Default, Clone)]
struct Sources(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// A connection's place in [`Sources`], given back on drop.
struct SourceSlot(Sources, IpAddr);

impl Sources {
    fn take(&self, ip: IpAddr, max: usize) -> Option<SourceSlot> {
        let mut m = self.0.lock().ok()?;
        let n = m.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n = n.saturating_add(1);
        Some(SourceSlot(self.clone(), ip))
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = (self.0).0.lock() {
            if let Some(n) = m.get_mut(&self.1) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&self.1);
                }
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests
/// finish (at most 10 s). Each request carries its peer address as
/// [`ConnectInfo`].
pub async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let total = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let sources = Sources::default();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(100);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = total.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = sources.take(peer.ip(), limits.max_connections_per_source) else {
            tracing::warn!(source = %peer.ip(), "connection refused: per-source limit");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = app
            .clone()
            .map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            });
        let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("connections still open at shutdown were closed");
        }
    }
    Ok(())
}

/// Headers every response carries, and one error shape: `nosniff` everywhere,
/// `no-store` on the API (tokens, keys and invitation codes must not sit in a
/// cache), and any error the framework produced before a handler ran (a malformed
/// path or query, a wrong method, an unknown route, a body over the limit) rewritten
/// as `application/problem+json` like the handlers' own errors.
pub async fn common_headers(req: Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/v1/");
    let res = next.run(req).await;
    let mut res = into_problem(res).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Rewrites a plain-text error response as problem+json (others pass through).
async fn into_problem(res: Response) -> Response {
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let detail: String = String::from_utf8_lossy(&text)
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    let detail = if detail.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        detail
    };
    let code = match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        s if s.is_server_error() => "internal",
        _ => "bad-request",
    };
    let body = serde_json::json!({
        "type": format!("urn:phiveil:problem:{code}"),
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut res = Response::from_parts(parts, Body::from(body.to_string()));
    res.headers_mut().remove(header::CONTENT_LENGTH);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

/// The whole HTTP surface: every feature's routes, the embedded store's presigned
/// URLs, the web app's static files, and the layers every request passes (timeout,
/// metrics, common headers).
pub fn router(state: AppState) -> Router {
    // Study server keys (~60 MB compressed) arrive through the same presigned PUTs.
    let max_upload = usize::try_from(
        state
            .config
            .max_upload_bytes
            .max(crate::studies::MAX_ARTIFACT_BYTES),
    )
    .unwrap_or(usize::MAX);
    // The document is made once, at start, from the same routers that serve, and
    // served as is.
    let (api, mut doc) = api().split_for_parts();
    let (store, store_doc) = crate::records::store_routes().split_for_parts();
    doc.merge(store_doc);
    with_problems(&mut doc);
    let document = OpenApiJson(bytes::Bytes::from(
        serde_json::to_vec(&doc).unwrap_or_default(),
    ));
    let api = api
        .layer(axum::Extension(document))
        .layer(DefaultBodyLimit::max(state.config.limits.max_json_bytes));
    let store = store.layer(DefaultBodyLimit::max(max_upload));
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

/// Every feature's routes with the OpenAPI operations their handlers declare (the
/// embedded store's presigned URLs included, under their own body limit in [`router`]).
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::accounts::routes())
        .merge(crate::grants::routes())
        .merge(crate::keys::routes())
        .merge(crate::e2e::routes())
        .merge(crate::records::routes())
        .merge(crate::replica::routes())
        .merge(crate::audit_log::routes())
        .merge(crate::vitals::routes())
        .merge(crate::studies::routes())
        .merge(crate::training::routes())
        .merge(crate::service::routes())
        .routes(utoipa_axum::routes!(openapi_json))
}

/// The OpenAPI document, serialized once by [`router`].
#[derive(Clone)]
struct OpenApiJson(bytes::Bytes);

/// This document (OpenAPI 3.1).
///
/// Generated from the handlers' annotations and their request and response types.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object,
        content_type = "application/json")))]
async fn openapi_json(
    axum::Extension(doc): axum::Extension<OpenApiJson>,
) -> impl axum::response::IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc.0)
}

/// The document's frame: title, version, the bearer scheme and the problem shape.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "phiveil relay",
        description = "Key broker, upload broker, identity and grants, studies on ciphertexts and the hash-chained audit log. Errors are RFC 9457 problem+json."
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&Frame)
)]
struct ApiDoc;

/// Adds the bearer scheme and the shared problem response ([`with_problems`] makes it
/// every operation's `4XX` and `5XX`).
struct Frame;

impl utoipa::Modify for Frame {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        use utoipa::openapi::{Ref, RefOr, ResponseBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.responses.insert(
            "Problem".into(),
            RefOr::T(
                ResponseBuilder::new()
                    .description("A refusal or failure (RFC 9457 problem details)")
                    .content(
                        "application/problem+json",
                        utoipa::openapi::content::Content::new(Some(Ref::from_schema_name(
                            "Problem",
                        ))),
                    )
                    .build(),
            ),
        );
    }
}

/// An opaque byte body (a ciphertext object) in the OpenAPI document: a string whose
/// content is `application/octet-stream` (OpenAPI 3.1 / JSON Schema 2020-12).
pub struct OctetStream;

impl utoipa::PartialSchema for OctetStream {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .content_media_type("application/octet-stream")
            .into()
    }
}

impl utoipa::ToSchema for OctetStream {}

/// Gives every operation of `doc` the shared problem response for `4XX` and `5XX`.
fn with_problems(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Ref, RefOr};
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            for class in ["4XX", "5XX"] {
                op.responses.responses.insert(
                    class.into(),
                    RefOr::Ref(Ref::new("#/components/responses/Problem")),
                );
            }
        }
    }
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
