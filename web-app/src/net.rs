//! Every request the app sends goes through this module: it attaches the session's
//! token, turns problem+json answers into [`AppError`]s, and records each request in the
//! outbox ("what left this browser"): endpoint, size and what the body was.

use std::cell::RefCell;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A signed-in user (the relay's login answer plus the name typed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Bearer token (15 minutes).
    pub token: String,
    /// The relay's user id.
    pub user_id: String,
    /// `patient`, `clinician` or `operator`.
    pub role: String,
    /// A patient's pseudonym.
    #[serde(default)]
    pub pseudonym: Option<String>,
    /// The name the user signed in with.
    #[serde(default)]
    pub username: String,
    /// Token expiry (Unix seconds).
    #[serde(default)]
    pub expires_at: i64,
    /// The token's lifetime when it was issued, in seconds (set by the app).
    #[serde(default)]
    pub ttl_secs: i64,
}

/// An error to show: what failed, and the relay's status when it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct AppError {
    /// HTTP status, when the relay answered.
    pub status: Option<u16>,
    /// Short code (`forbidden`, `DecryptFailed`, `network`, …).
    pub code: String,
    /// What to tell the user.
    pub message: String,
}

impl AppError {
    /// An error raised in the browser (not by the relay).
    pub fn local(code: &str, message: impl Into<String>) -> Self {
        Self {
            status: None,
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl AppError {
    /// What a person reads: a sentence. Codes whose own message is technical get
    /// one written for people; others get their message as a sentence.
    pub fn sentence(&self) -> String {
        let written = match self.code.as_str() {
            "DecryptFailed" => Some("The passphrase is wrong, or the data was changed after it was encrypted."),
            "network" => Some("The relay could not be reached. Check the connection and try again."),
            "internal" => Some("The relay could not complete the request. Try again in a moment."),
            "bad-answer" => Some("The relay sent an answer this page could not read. Reload the page and try again."),
            "unauthorized" => Some("The username or password is wrong, or your session ended."),
            "timeout" => Some("The relay took too long to answer. Try again; long work goes on in the background."),
            _ => None,
        };
        written.map_or_else(|| as_sentence(&self.message), str::to_owned)
    }
}

/// `text` with a capital first letter and a full stop.
fn as_sentence(text: &str) -> String {
    let t = text.trim();
    let mut chars = t.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The sentence, then the code kept for support.
impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(
                f,
                "{} (Support code: {}, HTTP {s}.)",
                self.sentence(),
                self.code
            ),
            None => write!(f, "{} (Support code: {}.)", self.sentence(), self.code),
        }
    }
}

impl From<phiveil_core::Error> for AppError {
    fn from(e: phiveil_core::Error) -> Self {
        Self::local(e.code(), e.to_string())
    }
}

/// What a request body was, as the outbox reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// No body.
    Empty,
    /// JSON metadata (field names are listed).
    Json,
    /// An AWS Encryption SDK message whose header parsed.
    Esdk,
    /// A TFHE compact list with its zero-knowledge proof.
    ProvenList,
    /// Public TFHE key material (server key, public key).
    PublicKey,
    /// The study's client key, wrapped under an Argon2id passphrase key (AES-GCM).
    WrappedKey,
}

impl Payload {
    /// Whether the body is ciphertext.
    pub fn is_ciphertext(self) -> bool {
        matches!(self, Self::Esdk | Self::ProvenList | Self::WrappedKey)
    }
}

/// One request the app sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// Sequence number in this tab.
    pub seq: usize,
    /// HTTP method.
    pub method: String,
    /// Path without the query (presigned queries carry signatures).
    pub path: String,
    /// Body size in bytes.
    pub size: usize,
    /// What the body was.
    pub payload: Payload,
    /// For JSON bodies, the top-level field names; for ciphertext, a description.
    pub detail: String,
}

/// A request body.
pub enum Out {
    /// None.
    Empty,
    /// JSON.
    Json(Value),
    /// Bytes (`application/octet-stream` unless the upload signed another type).
    Bytes(Vec<u8>, Payload),
}

thread_local! {
    // Reference-counted signals: they belong to no component, so they live as long as
    // the tab (arena signals created inside a view are disposed with it).
    static SESSION: ArcRwSignal<Option<Session>> = ArcRwSignal::new(load_session());
    static OUTBOX: ArcRwSignal<Vec<Sent>> = ArcRwSignal::new(Vec::new());
    static NOTICE: ArcRwSignal<Option<String>> = ArcRwSignal::new(None);
    static ORIGIN: RefCell<String> = RefCell::new(
        web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default(),
    );
}

const SESSION_KEY: &str = "phiveil.session";

fn load_session() -> Option<Session> {
    let s = web_sys::window()?.session_storage().ok()??;
    let text = s.get_item(SESSION_KEY).ok()??;
    let session: Session = serde_json::from_str(&text).ok()?;
    (session.expires_at > crate::now_secs()).then_some(session)
}

/// A value this browser keeps in local storage (survives the tab), if any.
pub fn local_get(key: &str) -> Option<String> {
    web_sys::window()?
        .local_storage()
        .ok()??
        .get_item(key)
        .ok()?
}

/// Keeps `value` in local storage (nothing happens where the browser refuses it).
pub fn local_set(key: &str, value: &str) {
    if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = s.set_item(key, value);
    }
}

/// The signed-in user (a signal).
pub fn session() -> ArcRwSignal<Option<Session>> {
    SESSION.with(Clone::clone)
}

/// Requests sent from this tab (a signal).
pub fn outbox() -> ArcRwSignal<Vec<Sent>> {
    OUTBOX.with(Clone::clone)
}

/// A message shown on the sign-in page (e.g. "session expired").
pub fn notice() -> ArcRwSignal<Option<String>> {
    NOTICE.with(Clone::clone)
}

thread_local! {
    /// The user this tab last signed in as.
    static LAST_USER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The user this tab's held state (request log, held-out files) belongs to: signing
/// back in as the same user keeps it all; another user starts from nothing.
pub fn tab_owner() -> String {
    let last = LAST_USER.with(|u| u.borrow().clone());
    if last.is_empty() {
        // A session restored from this tab's storage after a reload.
        session()
            .get_untracked()
            .map(|s| s.user_id)
            .unwrap_or_default()
    } else {
        last
    }
}

/// Signs in (keeps the session in this tab's session storage, never in local storage).
/// What the tab holds (the request log, loaded files, a study key in the worker) stays
/// across a sign-out and a sign-in as the same user; a different user does not see
/// this tab's request log.
pub fn set_session(s: Option<Session>) {
    if let Some(new) = &s {
        let changed = LAST_USER.with(|u| {
            let mut u = u.borrow_mut();
            let changed = !u.is_empty() && *u != new.user_id;
            new.user_id.clone_into(&mut u);
            changed
        });
        if changed {
            outbox().set(Vec::new());
        }
    }
    if let Some(storage) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) {
        let _ = match &s {
            Some(s) => storage.set_item(SESSION_KEY, &serde_json::to_string(s).unwrap_or_default()),
            None => storage.remove_item(SESSION_KEY),
        };
    }
    session().set(s);
}

fn token() -> Option<String> {
    session().get_untracked().map(|s| s.token)
}

/// `url` without its query, relative to this origin when it is one.
fn display_path(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or_default();
    let origin = ORIGIN.with(|o| o.borrow().clone());
    no_query
        .strip_prefix(origin.as_str())
        .unwrap_or(no_query)
        .to_owned()
}

fn describe(out: &Out) -> (usize, Payload, String) {
    match out {
        Out::Empty => (0, Payload::Empty, String::new()),
        Out::Json(v) => {
            let text = v.to_string();
            let keys = v
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            let detail = if keys.is_empty() {
                "empty".to_owned()
            } else {
                format!("fields: {keys}")
            };
            (text.len(), Payload::Json, detail)
        }
        Out::Bytes(b, p) => {
            let detail = match p {
                Payload::Esdk => match phiveil_core::esdk::Header::parse(b, &Default::default()) {
                    Ok((h, _)) => format!(
                        "ESDK v2 message, suite 0x{:04x}, {} encrypted data key(s)",
                        h.suite.id(),
                        h.encrypted_data_keys.len()
                    ),
                    Err(_) => "not an ESDK message".to_owned(),
                },
                Payload::ProvenList => "TFHE compact ciphertext list + zero-knowledge proof".into(),
                Payload::PublicKey => "TFHE public key material".into(),
                Payload::WrappedKey => "client key wrapped (Argon2id + AES-256-GCM)".into(),
                Payload::Empty | Payload::Json => String::new(),
            };
            (b.len(), *p, detail)
        }
    }
}

fn record(method: &str, url: &str, out: &Out) {
    let (size, payload, detail) = describe(out);
    outbox().update(|v| {
        let seq = v.len().saturating_add(1);
        v.push(Sent {
            seq,
            method: method.to_owned(),
            path: display_path(url),
            size,
            payload,
            detail,
        });
    });
}

fn js_err(e: JsValue) -> AppError {
    let msg = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "request failed".to_owned());
    AppError::local("network", msg)
}

/// Sends one request; a non-2xx answer becomes an [`AppError`] (a 401 also signs out).
async fn send(
    method: &str,
    url: &str,
    auth: bool,
    out: Out,
    signed: &[(String, String)],
) -> Result<web_sys::Response, AppError> {
    record(method, url, &out);
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(js_err)?;
    if auth {
        if let Some(t) = token() {
            headers
                .set("authorization", &format!("Bearer {t}"))
                .map_err(js_err)?;
        }
    }
    match out {
        Out::Empty => {}
        Out::Json(v) => {
            headers
                .set("content-type", "application/json")
                .map_err(js_err)?;
            init.set_body(&JsValue::from_str(&v.to_string()));
        }
        Out::Bytes(b, _) => {
            headers
                .set("content-type", "application/octet-stream")
                .map_err(js_err)?;
            init.set_body(&js_sys::Uint8Array::from(b.as_slice()).into());
        }
    }
    for (name, value) in signed {
        headers.set(name, value).map_err(js_err)?;
    }
    init.set_headers(&headers);
    let req = web_sys::Request::new_with_str_and_init(url, &init).map_err(js_err)?;
    let window = web_sys::window().ok_or_else(|| AppError::local("network", "no window"))?;
    let resp: web_sys::Response = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(js_err)?
        .dyn_into()
        .map_err(js_err)?;
    if resp.ok() {
        return Ok(resp);
    }
    let status = resp.status();
    let body = match resp.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let problem: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let code = problem["type"]
        .as_str()
        .and_then(|t| t.rsplit(':').next())
        .unwrap_or("error")
        .to_owned();
    let message = problem["detail"]
        .as_str()
        .or_else(|| problem["title"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| resp.status_text());
    if status == 401 && auth {
        set_session(None);
        notice().set(Some("Your session ended; please sign in again.".into()));
    }
    Err(AppError {
        status: Some(status),
        code,
        message,
    })
}

async fn read_text(resp: web_sys::Response) -> Result<String, AppError> {
    JsFuture::from(resp.text().map_err(js_err)?)
        .await
        .map_err(js_err)?
        .as_string()
        .ok_or_else(|| AppError::local("network", "not text"))
}

/// Calls the relay's JSON API at `path` (with the session's token).
pub async fn api(method: &str, path: &str, body: Option<Value>) -> Result<Value, AppError> {
    let out = body.map_or(Out::Empty, Out::Json);
    let resp = send(method, path, true, out, &[]).await?;
    let text = read_text(resp).await?;
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| AppError::local("bad-answer", e.to_string()))
}

/// Waits `ms` milliseconds on a browser timer.
pub async fn sleep_ms(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(p).await;
}

/// GETs a JSON list from the relay's API (an answer that is not a list reads as empty).
pub async fn api_list(path: &str) -> Result<Vec<Value>, AppError> {
    let v = api("GET", path, None).await?;
    Ok(match v {
        Value::Array(items) => items,
        _ => Vec::new(),
    })
}

/// GETs a JSON list and keeps the items whose `owner` is the signed-in user.
pub async fn api_mine(path: &str) -> Result<Vec<Value>, AppError> {
    let me = session()
        .get_untracked()
        .map(|s| s.user_id)
        .unwrap_or_default();
    Ok(api_list(path)
        .await?
        .into_iter()
        .filter(|item| item["owner"] == me.as_str())
        .collect())
}

/// GETs a text resource (e.g. `/metrics`).
pub async fn get_text(path: &str) -> Result<String, AppError> {
    read_text(send("GET", path, true, Out::Empty, &[]).await?).await
}

/// Follows a presigned GET (`{url}` as the relay returned it).
pub async fn download(target: &Value) -> Result<Vec<u8>, AppError> {
    let url = target["url"]
        .as_str()
        .ok_or_else(|| AppError::local("bad-answer", "no download URL"))?;
    let resp = send("GET", url, false, Out::Empty, &[]).await?;
    let buf = JsFuture::from(resp.array_buffer().map_err(js_err)?)
        .await
        .map_err(js_err)?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

/// PUTs `bytes` to a presigned upload (`{url, headers: [[name, value], …]}` as the
/// relay returned it), sending every signed header.
pub async fn upload(target: &Value, bytes: Vec<u8>, payload: Payload) -> Result<(), AppError> {
    let url = target["url"]
        .as_str()
        .ok_or_else(|| AppError::local("bad-answer", "no upload URL"))?;
    let headers: Vec<(String, String)> = target["headers"]
        .as_array()
        .map(|hs| {
            hs.iter()
                .filter_map(|h| {
                    let (name, value) = (h.get(0)?.as_str()?, h.get(1)?.as_str()?);
                    Some((name.to_owned(), value.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    send("PUT", url, false, Out::Bytes(bytes, payload), &headers).await?;
    Ok(())
}

/// Signs in with a password.
pub async fn login(username: &str, password: &str) -> Result<Session, AppError> {
    let body = serde_json::json!({ "username": username, "password": password });
    let resp = send("POST", "/v1/auth/login", false, Out::Json(body), &[]).await?;
    let mut s: Session = serde_json::from_str(&read_text(resp).await?)
        .map_err(|e| AppError::local("bad-answer", e.to_string()))?;
    s.username = username.to_owned();
    s.ttl_secs = s.expires_at.saturating_sub(crate::now_secs()).max(1);
    Ok(s)
}

/// Trades the session's token for a fresh one (sliding sessions); the session keeps
/// everything else, so nothing the tab holds is lost.
pub async fn refresh_session() -> Result<(), AppError> {
    let v = api("POST", "/v1/auth/refresh", Some(serde_json::json!({}))).await?;
    let (Some(token), Some(exp)) = (v["token"].as_str(), v["expires_at"].as_i64()) else {
        return Err(AppError::local("bad-answer", "no token"));
    };
    if let Some(mut s) = session().get_untracked() {
        s.token = token.to_owned();
        s.expires_at = exp;
        s.ttl_secs = exp.saturating_sub(crate::now_secs()).max(1);
        set_session(Some(s));
    }
    Ok(())
}

/// Opens a Server-Sent-Events stream with the session's token (an `EventSource` cannot
/// send one), calls `on_event("open", "")` once connected and `on_event(event, data)` for
/// each event until, checked at each chunk (events and keep-alives), `alive()` turns
/// false; then the stream is cancelled. The relay ends a stream when the token that
/// opened it expires: while the tab is signed in it reconnects with the refreshed
/// token.
pub async fn sse(
    path: &str,
    alive: impl Fn() -> bool,
    mut on_event: impl FnMut(&str, &str),
) -> Result<(), AppError> {
    loop {
        sse_once(path, &alive, &mut on_event).await?;
        if !alive() || token().is_none() {
            return Ok(());
        }
        sleep_ms(500).await;
    }
}

async fn sse_once(
    path: &str,
    alive: &impl Fn() -> bool,
    on_event: &mut impl FnMut(&str, &str),
) -> Result<(), AppError> {
    let resp = send("GET", path, true, Out::Empty, &[]).await?;
    on_event("open", "");
    let body = resp
        .body()
        .ok_or_else(|| AppError::local("network", "no stream"))?;
    let reader: web_sys::ReadableStreamDefaultReader = body
        .get_reader()
        .dyn_into()
        .map_err(|_| AppError::local("network", "no stream reader"))?;
    let mut buf = String::new();
    let decoder = Utf8Stream::default();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(js_err)?;
        let done = js_sys::Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(());
        }
        if !alive() {
            let _ = reader.cancel();
            return Ok(());
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(js_err)?;
        buf.push_str(&decoder.push(&js_sys::Uint8Array::new(&value).to_vec()));
        for (event, data) in crate::sse_events(&mut buf) {
            on_event(&event, &data);
        }
    }
}

/// UTF-8 decoding of a byte stream whose chunks may split characters.
#[derive(Default)]
struct Utf8Stream {
    pending: RefCell<Vec<u8>>,
}

impl Utf8Stream {
    fn push(&self, bytes: &[u8]) -> String {
        let mut p = self.pending.borrow_mut();
        p.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&p) {
            Ok(_) => p.len(),
            Err(e) => e.valid_up_to(),
        };
        let rest = p.split_off(valid);
        let text = String::from_utf8_lossy(&p).into_owned();
        *p = rest;
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_sentences_and_keep_their_code() {
        let e = AppError {
            status: Some(409),
            code: "conflict".into(),
            message: "the object already exists".into(),
        };
        assert_eq!(
            e.to_string(),
            "The object already exists. (Support code: conflict, HTTP 409.)"
        );
        let d = AppError::local("DecryptFailed", "aead tag mismatch");
        assert!(d.to_string().starts_with("The passphrase is wrong"));
        assert!(d.to_string().ends_with("(Support code: DecryptFailed.)"));
    }
}
