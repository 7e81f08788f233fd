//! Private statistics in the browser: the study owner's key ceremony, a patient's proven
//! submission and the release's decryption run in a module worker (`fhe-worker.js`) on
//! the `phiveil/fhe` bundle, so TFHE work (seconds) never freezes the page and the app's
//! own bundle stays small. The study flows around it (relay calls, uploads) are here.

use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::net::{self, AppError, Payload};

#[wasm_bindgen(module = "/fhe-client.js")]
extern "C" {
    #[wasm_bindgen(js_name = fheCall)]
    fn fhe_call(op: &str, args: JsValue, on_progress: &JsValue) -> js_sys::Promise;
    #[wasm_bindgen(js_name = fheCallPooled)]
    fn fhe_call_pooled(op: &str, args: JsValue, on_progress: &JsValue) -> js_sys::Promise;
    /// How many workers proofs may use in this browser (1: no proof pool).
    #[wasm_bindgen(js_name = proofWorkers)]
    pub fn proof_workers() -> u32;
}

/// Arguments: JSON parts plus byte arrays.
fn args(json: &Value, bytes: &[(&str, &[u8])]) -> Result<JsValue, AppError> {
    let obj = js_sys::JSON::parse(&json.to_string())
        .map_err(|_| AppError::local("InvalidConfig", "arguments"))?;
    for (k, b) in bytes {
        js_sys::Reflect::set(&obj, &JsValue::from_str(k), &js_sys::Uint8Array::from(*b))
            .map_err(|_| AppError::local("InvalidConfig", "arguments"))?;
    }
    Ok(obj)
}

fn worker_err(e: JsValue) -> AppError {
    let code = js_sys::Reflect::get(&e, &"code".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_else(|| "Fhe".into());
    let message = js_sys::Reflect::get(&e, &"message".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_else(|| "TFHE worker error".into());
    AppError::local(&code, message)
}

async fn call(op: &str, args: JsValue) -> Result<JsValue, AppError> {
    JsFuture::from(fhe_call(op, args, &JsValue::UNDEFINED))
        .await
        .map_err(worker_err)
}

fn field(v: &JsValue, k: &str) -> JsValue {
    js_sys::Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

fn bytes(v: &JsValue, k: &str) -> Vec<u8> {
    js_sys::Uint8Array::new(&field(v, k)).to_vec()
}

fn to_json(v: &JsValue) -> Value {
    js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null)
}

/// Downloads artifact `kind` of study `id` through the presigned GET the relay signs.
async fn artifact(id: &str, kind: &str) -> Result<Vec<u8>, AppError> {
    let target = net::api("GET", &format!("/v1/studies/{id}/artifacts/{kind}"), None).await?;
    net::download(&target).await
}

/// What one submission to `spec` costs a patient (`{kind, epsilon|rho}`), if anything.
pub async fn cost(spec: &Value) -> Result<Option<phiveil_core::dp::Privacy>, AppError> {
    let out = call("cost", args(&json!({ "spec": spec }), &[])?).await?;
    Ok(serde_json::from_value(to_json(&out)).ok())
}

/// Steps of the owner's study setup, reported to the progress indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// TFHE client, compressed server and public keys (seconds).
    Keys,
    /// The client key wrapped under the passphrase (Argon2id).
    Wrap,
    /// The public keys and wrapped key uploaded.
    Upload,
    /// The relay's self-test and CRS.
    Open,
    /// Finished.
    Done,
}

impl Step {
    /// All steps in order.
    pub const ALL: [Step; 4] = [Step::Keys, Step::Wrap, Step::Upload, Step::Open];

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            Step::Keys => "Generate TFHE keys in this browser",
            Step::Wrap => "Wrap the study key with your passphrase",
            Step::Upload => "Upload the public keys and the wrapped key",
            Step::Open => "Relay self-test and proof parameters",
            Step::Done => "Done",
        }
    }
}

/// The owner's key ceremony for study `id` (its `spec` as the relay returned it), then
/// the uploads and the opening. `on_step` is told each step as it starts. Returns the
/// ceremony's timings (ms).
pub async fn setup_study(
    id: &str,
    spec: &Value,
    passphrase: &str,
    on_step: impl Fn(Step) + 'static,
) -> Result<Value, AppError> {
    on_step(Step::Keys);
    let on_step = std::rc::Rc::new(on_step);
    let progress = {
        let on_step = on_step.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |p: JsValue| {
            if field(&p, "step").as_string().as_deref() == Some("wrap") {
                on_step(Step::Wrap);
            }
        })
    };
    let a = args(&json!({ "spec": spec, "passphrase": passphrase }), &[])?;
    let out = JsFuture::from(fhe_call("ceremony", a, progress.as_ref()))
        .await
        .map_err(worker_err);
    drop(progress);
    let out = out?;
    on_step(Step::Upload);
    let (server, public, wrapped) = (
        bytes(&out, "serverKey"),
        bytes(&out, "publicKey"),
        bytes(&out, "wrapped"),
    );
    let k = net::api(
        "POST",
        &format!("/v1/studies/{id}/keys"),
        Some(json!({
            "server_key": server.len(), "public_key": public.len(),
            "wrapped_client_key": wrapped.len(),
        })),
    )
    .await?;
    let ups = &k["uploads"];
    net::upload(&ups["server-key"], server, Payload::PublicKey).await?;
    net::upload(&ups["public-key"], public, Payload::PublicKey).await?;
    net::upload(&ups["wrapped-client-key"], wrapped, Payload::WrappedKey).await?;
    on_step(Step::Open);
    // Opening is a job on the relay (checking the keys, making the CRS): a slow one
    // answers 202 and is polled until the study is open or says why it failed; a
    // failed ceremony is run again from the start (new upload URLs each time).
    // A replica that does not run the job (behind a load balancer) or a relay that
    // restarted shows neither `opening` nor `open_error`: asking it to open again is
    // safe (one opening wins; the study is then open for every replica).
    let open_path = format!("/v1/studies/{id}/open");
    let open = || net::api("POST", &open_path, Some(json!({})));
    let mut study = open().await?;
    let mut asked: u32 = 1;
    while study["state"] != "open" {
        if let Some(why) = study["open_error"].as_str() {
            return Err(AppError::local("open-failed", why));
        }
        net::sleep_ms(1000).await;
        study = net::api("GET", &format!("/v1/studies/{id}"), None).await?;
        if study["state"] != "open" && study["opening"] != true && study["open_error"].is_null() {
            if asked >= 5 {
                return Err(AppError::local(
                    "open-interrupted",
                    "The relay did not finish opening the study. Run the key ceremony again.",
                ));
            }
            asked = asked.saturating_add(1);
            study = match open().await {
                Ok(s) => s,
                // Another replica opened it meanwhile.
                Err(e) if e.status == Some(409) => {
                    net::api("GET", &format!("/v1/studies/{id}"), None).await?
                }
                Err(e) => return Err(e),
            };
        }
    }
    on_step(Step::Done);
    Ok(to_json(&field(&out, "timings")))
}

/// A patient's submission: the study's public key and CRS from the relay, the values
/// encrypted and proven in the worker (the ledger is charged there first, refusing past
/// `budget`), the upload, and the relay's proof check. Returns the new ledger JSON and
/// the proving time in ms and the number of workers the proof used.
pub async fn submit(
    id: &str,
    spec: &Value,
    patient: &str,
    values: &[i64],
    ledger: Option<String>,
    budget: phiveil_core::dp::Privacy,
) -> Result<(String, f64, u32), AppError> {
    // One live submission per patient and study (the relay enforces it too): refuse
    // here, before the ledger is charged for a list that would be turned away.
    let mine = net::api_list(&format!("/v1/studies/{id}/submission")).await?;
    if mine
        .iter()
        .any(|s| matches!(s["state"].as_str(), Some("pending" | "accepted" | "folded")))
    {
        return Err(AppError::local(
            "DuplicateSubmission",
            "you have already submitted to this study; nothing was spent",
        ));
    }
    let pk = artifact(id, "public-key").await?;
    let crs = artifact(id, "crs").await?;
    let a = args(
        &json!({ "spec": spec, "patient": patient, "values": values, "ledger": ledger, "budget": budget }),
        &[("publicKey", &pk), ("crs", &crs)],
    )?;
    let out = JsFuture::from(fhe_call_pooled("submit", a, &JsValue::UNDEFINED))
        .await
        .map_err(worker_err)?;
    let list = bytes(&out, "bytes");
    let ledger = field(&out, "ledger").as_string().unwrap_or_default();
    let ms = field(&out, "ms").as_f64().unwrap_or(0.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let workers = field(&out, "workers")
        .as_f64()
        .unwrap_or(1.0)
        .clamp(1.0, 64.0) as u32;
    // The ledger was charged before the list left the worker; keep it even if the
    // upload fails (a retry spends again — the conservative side).
    crate::patient::save_ledger(patient, &ledger);
    let reg = net::api(
        "POST",
        &format!("/v1/studies/{id}/submissions"),
        Some(json!({ "size": list.len() })),
    )
    .await?;
    let sid = reg["submission"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    net::upload(&reg["upload"], list, Payload::ProvenList).await?;
    net::api(
        "POST",
        &format!("/v1/studies/{id}/submissions/{sid}/complete"),
        Some(json!({})),
    )
    .await?;
    Ok((ledger, ms, workers))
}

/// The owner: downloads the release of study `id` and decrypts it in the worker with
/// the client key of study `key_id` (the study itself, or a training's first round):
/// the key made in this tab, or the wrapped key from the relay and `passphrase`.
/// Returns the per-field results.
pub async fn decrypt(
    id: &str,
    key_id: &str,
    spec: &Value,
    passphrase: Option<&str>,
    confidence: f64,
) -> Result<Value, AppError> {
    let release = artifact(id, "release").await?;
    let has = call(
        "hasKey",
        args(&json!({ "spec": spec, "keyId": key_id }), &[])?,
    )
    .await?;
    let mut parts: Vec<(&str, &[u8])> = vec![("release", &release)];
    let wrapped;
    if !has.as_bool().unwrap_or(false) {
        let Some(_) = passphrase else {
            return Err(AppError::local(
                "NeedPassphrase",
                "the study key is not in this tab: enter the study passphrase",
            ));
        };
        wrapped = artifact(key_id, "wrapped-client-key").await?;
        parts.push(("wrapped", &wrapped));
    }
    let a = args(
        &json!({ "spec": spec, "keyId": key_id, "passphrase": passphrase, "confidence": confidence }),
        &parts,
    )?;
    Ok(to_json(&call("decrypt", a).await?))
}
