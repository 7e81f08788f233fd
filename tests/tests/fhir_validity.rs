//! Every FHIR resource the core emits validates with the `fhir.resources` package
//! (PyPI, its R4B models), and parses back to the same readings.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::io::Write;
use std::process::{Command, Stdio};

use phiveil_core::fhir::{self, Vital, VitalKind};
use phiveil_tests::Peer;
use serde_json::{json, Value};

/// Each resource's validation by the peer: `{"ok": true}` or `{"ok": false, "error"}`.
pub fn validate(resources: &[Value]) -> Vec<Value> {
    let py = std::env::var("PHIVEIL_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/.cache/phiveil/venv/bin/python",
            std::env::var("HOME").unwrap()
        )
    });
    let mut child = Command::new(py)
        .arg(phiveil_tests::repo_root().join("tests/peers/fhir_validate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python peer (scripts/setup.sh installs fhir.resources)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(resources.to_vec()).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["results"].as_array().unwrap().clone()
}

fn readings() -> Vec<Vital> {
    let mut v = Vec::new();
    for (i, (kind, value, dia)) in [
        (VitalKind::HeartRate, 72.0, None),
        (VitalKind::HeartRate, 188.5, None),
        (VitalKind::SpO2, 91.0, None),
        (VitalKind::BloodPressure, 141.0, Some(92.0)),
        (VitalKind::BodyTemperature, 38.4, None),
        (VitalKind::RespiratoryRate, 22.0, None),
    ]
    .into_iter()
    .enumerate()
    {
        v.push(Vital {
            kind,
            value,
            diastolic: dia,
            time: format!("2026-03-11T08:{:02}:00.5+01:00", i),
            patient: "p-7f3a9c".into(),
        });
    }
    v
}

#[test]
fn emitted_observations_and_bundles_validate_with_fhir_resources() {
    if Peer::skipped() {
        return;
    }
    let vitals = readings();
    let mut resources: Vec<Value> = vitals
        .iter()
        .map(|v| fhir::observation(v).unwrap())
        .collect();
    let ids: Vec<String> = (0..vitals.len())
        .map(|i| format!("6f1c2d3e-0000-4000-8000-{i:012}"))
        .collect();
    let bundle = fhir::bundle(&vitals, &ids).unwrap();
    resources.push(bundle.clone());
    resources.push(telemetry_chunk_bundle());
    assert_eq!(resources.len(), vitals.len() + 2);
    for (i, r) in validate(&resources).iter().enumerate() {
        assert_eq!(r["ok"], true, "resource {i}: {}", r["error"]);
    }
    assert_eq!(fhir::parse_bundle(&bundle).unwrap(), vitals);
    // The validator does reject broken resources (so the check above means something).
    let mut broken = fhir::observation(&vitals[0]).unwrap();
    broken["effectiveDateTime"] = json!("yesterday");
    broken["valueQuantity"]["value"] = json!("seventy-two");
    assert_eq!(validate(&[broken])[0]["ok"], false);
}

/// The plaintext of a telemetry chunk: simulated readings of every kind through a session.
fn telemetry_chunk_bundle() -> Value {
    use phiveil_core::esdk::{decrypt, DecryptOptions, RawAesKeyring};
    use phiveil_core::rules::{default_rules, RuleEngine};
    use phiveil_core::secret::WrappingKey;
    use phiveil_core::telemetry::{SessionConfig, Simulator, TelemetrySession};
    let kr = std::sync::Arc::new(
        RawAesKeyring::new("t", "k", WrappingKey::from_slice(&[9; 32]).unwrap()).unwrap(),
    );
    let mut session = TelemetrySession::new(
        kr.clone(),
        SessionConfig {
            readings_per_chunk: 10_000,
            ..SessionConfig::new("p-7f3a9c", "night-1")
        },
        RuleEngine::new(default_rules()).unwrap(),
    )
    .unwrap();
    let mut sim = Simulator::new(3, 1_795_446_000, 1, Vec::new()).unwrap();
    let mut rng = rand_core::OsRng;
    for _ in 0..301 {
        for r in sim.next_tick() {
            assert!(session.push(r, &mut rng).unwrap().chunk.is_none());
        }
    }
    let chunk = session.flush(&mut rng).unwrap().unwrap();
    let plain = decrypt(
        &*kr,
        &chunk.message,
        &DecryptOptions::expecting(session.context()),
    )
    .unwrap()
    .plaintext;
    let bundle: Value = serde_json::from_slice(&plain).unwrap();
    let kinds: std::collections::BTreeSet<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["code"]["coding"][0]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.len(),
        5,
        "every vital kind is in the chunk: {kinds:?}"
    );
    bundle
}
