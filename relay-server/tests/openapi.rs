//! The OpenAPI document a running relay serves: generated from the handlers
//! (utoipa), valid OpenAPI 3.1 by an outside validator (`openapi-spec-validator`,
//! PyPI), and true to the router: every documented operation is routed, secured
//! operations refuse an anonymous caller, and the request schemas match what the
//! handlers accept.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn python() -> String {
    std::env::var("PHIVEIL_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        let cache = std::env::var("PHIVEIL_CACHE").unwrap_or(format!("{home}/.cache/phiveil"));
        format!("{cache}/venv/bin/python")
    })
}

/// The validator's verdict on `doc`.
fn validate(doc: &Value) -> Value {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/openapi_validate.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python peer (scripts/setup.sh installs openapi-spec-validator)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "validator exited with {}", out.status);
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn served_document() -> (std::process::Child, String, Value) {
    let dir = temp_dir("openapi");
    let port = free_port();
    let child = start(&dir, None, port, false);
    let base = format!("http://127.0.0.1:{port}");
    let resp = reqwest::get(format!("{base}/openapi.json")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = resp.json().await.unwrap();
    (child, base, doc)
}

/// `(method, path)` of every documented operation.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            ops.push((method.clone(), path.clone()));
        }
    }
    ops
}

#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1() {
    let (mut child, _, doc) = served_document().await;
    let verdict = validate(&doc);
    child.kill().ok();
    child.wait().ok();
    assert_eq!(verdict["version"], "3.1.0", "{verdict}");
    assert_eq!(verdict["errors"], json!([]), "{}", verdict["peer"]);
    // Generated, not a stub: every feature's routes are there with typed schemas.
    let ops = operations(&doc);
    assert!(ops.len() >= 40, "{} operations", ops.len());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Problem",
        "Record",
        "Grant",
        "Study",
        "StudySpec",
        "FieldSpec",
        "Training",
        "TrainingConfig",
        "AuditRow",
        "VitalAlert",
        "Presigned",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}");
    }
    // Every operation names its failures as problem+json.
    for (method, path) in &ops {
        let r = &doc["paths"][path][method]["responses"];
        assert_eq!(
            r["4XX"]["$ref"], "#/components/responses/Problem",
            "{method} {path}"
        );
    }
    // Request bodies resolve to their own handler's type (two types of one name would
    // silently share a schema).
    let body_schema = |path: &str| {
        let r = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        schemas[&r]["properties"].clone()
    };
    assert!(body_schema("/v1/studies").get("fields").is_some());
    assert!(body_schema("/v1/trainings").get("config").is_some());
    assert!(body_schema("/v1/grants").get("clinician_id").is_some());
    // The telemetry alert schema has no field for a reading and refuses unknown ones.
    let alert_in = &schemas["AlertIn"];
    assert_eq!(alert_in["additionalProperties"], false, "{alert_in}");
    assert!(alert_in["properties"].get("value").is_none());
    // The plaintext password never appears in a response schema.
    assert!(schemas["User"]["properties"].get("pw_hash").is_none());
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_secured_as_documented() {
    let (mut child, base, doc) = served_document().await;
    let http = common::http_client();
    let mut checked = 0;
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let secured = op.get("security").is_some();
        let url = format!(
            "{base}{}",
            path.replace("{key}", "nobody/x.bin")
                .replace(['{', '}'], "")
        );
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        // An anonymous call without a body: a routed operation answers with a problem
        // of its own (401 when secured), never the router's bare 404 or 405.
        let resp = http.request(m, &url).send().await.unwrap();
        let status = resp.status();
        let problem = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("application/problem+json"));
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if secured {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
        if status == StatusCode::NOT_FOUND {
            assert!(
                problem,
                "{method} {path}: the router's 404, not the handler's"
            );
        }
        checked += 1;
    }
    // And the other way round: an undocumented route is not served.
    let resp = http
        .get(format!("{base}/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    child.kill().ok();
    child.wait().ok();
    assert!(checked >= 40);
}
