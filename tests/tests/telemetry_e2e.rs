//! Telemetry end to end: the `phiveil-sim` CLI (device simulator + client) streams a
//! ten-minute recording with an SpO2 desaturation to a relay on embedded defaults; the
//! chunks are stored encrypted (no reading in the stored bytes), a granted clinician
//! decrypts them back to exactly the simulated readings, and the alert is on the feed —
//! live over SSE and in the list — for that clinician only, without any value.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::process::Command;

use phiveil_core::esdk::{decrypt, DecryptOptions};
use phiveil_core::fhir::VitalKind;
use phiveil_core::telemetry::{read_chunk, Anomaly, Simulator};
use phiveil_tests::relay::TestRelay;
use reqwest::StatusCode;
use serde_json::{json, Value};

const START: i64 = 1_795_446_000;

fn all_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_to_relay_to_clinician() {
    let relay = TestRelay::start(|_| {}).await;
    let (_op, dr, alice) = relay.cast().await;
    // A second clinician without the grant.
    let op = relay.user("operator2", "operator").await;
    let (s, _) = op
        .post(
            "/v1/users",
            &json!({"username": "dr-no", "password": "correct horse battery", "role": "clinician"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let dr_no = relay
        .anonymous()
        .login("dr-no", "correct horse battery")
        .await;
    let (s, body) = alice
        .post(
            "/v1/grants",
            &json!({"clinician_id": dr.user_id, "record_type": "vitals-stream"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");

    // The granted clinician subscribes to the live feed before the stream starts.
    let sse = dr
        .http
        .get(format!("{}/v1/vitals/alerts/stream", relay.base))
        .bearer_auth(dr.token.as_ref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), StatusCode::OK);
    let live = tokio::spawn(async move {
        let mut sse = sse;
        let mut text = String::new();
        while let Ok(Some(chunk)) =
            tokio::time::timeout(std::time::Duration::from_secs(20), sse.chunk())
                .await
                .unwrap_or(Ok(None))
        {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("\"cleared\"") {
                break;
            }
        }
        text
    });

    let args = [
        "--seed",
        "7",
        "--start",
        &START.to_string(),
        "--seconds",
        "600",
        "--hz",
        "1",
        "--anomaly",
        "spo2:200:120:85",
        "--artefacts",
        "0.01",
        "--session",
        "night-1",
        "--readings-per-chunk",
        "120",
    ];
    let bin = env!("CARGO_BIN_EXE_phiveil-sim");
    let out = tokio::task::spawn_blocking({
        let base = relay.base.clone();
        let token = alice.token.clone().unwrap();
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        move || {
            Command::new(bin)
                .arg("stream")
                .args(&args)
                .args(["--relay", &base, "--token", &token])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();

    // What the device produced (the same seed, in process).
    let mut sim = Simulator::new(
        7,
        START,
        1,
        vec![Anomaly {
            kind: VitalKind::SpO2,
            start: 200,
            duration: 120,
            value: 85.0,
        }],
    )
    .unwrap()
    .with_artefact_rate(0.01);
    let expected: Vec<_> = (0..600).flat_map(|_| sim.next_tick()).collect();
    assert_eq!(summary["readings"], expected.len());
    let chunks = summary["chunks"].as_u64().unwrap() as usize;
    assert_eq!(chunks, expected.len().div_ceil(120));

    // Stored bytes: ciphertext only.
    let mut files = Vec::new();
    all_files(&relay.dir, &mut files);
    let stored: Vec<Vec<u8>> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "esdk"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(stored.len(), chunks);
    for bytes in &stored {
        for needle in ["Observation", "59408-5", "valueQuantity", "night-1/"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in stored bytes"
            );
        }
    }

    // The granted clinician lists, downloads, unwraps and decrypts every chunk.
    let patient = summary["patient"].as_str().unwrap();
    let (s, list) = dr
        .get(&format!(
            "/v1/records?patient={patient}&record_type=vitals-stream"
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), chunks);
    let mut got = Vec::new();
    let mut seqs = Vec::new();
    let mut edks = std::collections::BTreeSet::new();
    for rec in list {
        let (s, r) = dr
            .get(&format!("/v1/records/{}", rec["id"].as_str().unwrap()))
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, message) = dr.presigned_get(&r["download"]).await;
        assert_eq!(s, StatusCode::OK);
        let header = phiveil_core::esdk::Header::parse(&message, &Default::default())
            .unwrap()
            .0;
        edks.insert(header.encrypted_data_keys[0].ciphertext.clone());
        assert_eq!(
            header.context.get("session").map(String::as_str),
            Some("night-1")
        );
        let kr = dr.unwrap(&message).await.unwrap();
        let d = decrypt(&kr, &message, &DecryptOptions::default()).unwrap();
        let (seq, vitals) = read_chunk(&d.plaintext, "night-1").unwrap();
        seqs.push(seq);
        got.push((seq, vitals));
    }
    assert_eq!(edks.len(), 1, "one data key for the whole session");
    seqs.sort_unstable();
    assert_eq!(seqs, (0..chunks as u64).collect::<Vec<_>>());
    got.sort_by_key(|(seq, _)| *seq);
    let vitals: Vec<_> = got.into_iter().flat_map(|(_, v)| v).collect();
    assert_eq!(vitals.len(), expected.len());
    for (v, r) in vitals.iter().zip(&expected) {
        assert_eq!(
            (v.kind, v.value, v.diastolic),
            (r.kind, r.value, r.diastolic)
        );
        assert_eq!(v.time, phiveil_core::telemetry::rfc3339(r.t));
    }

    // The alert feed: one desaturation episode, raised then cleared, no values.
    let (s, alerts) = dr.get("/v1/vitals/alerts").await;
    assert_eq!(s, StatusCode::OK);
    let alerts = alerts.as_array().unwrap().clone();
    let spo2: Vec<&Value> = alerts.iter().filter(|a| a["rule"] == "spo2-low").collect();
    assert_eq!(spo2.len(), 2, "{alerts:?}");
    assert_eq!(spo2[0]["transition"], "raised");
    assert_eq!(spo2[1]["transition"], "cleared");
    assert_eq!(spo2[0]["patient"], patient);
    assert_eq!(spo2[0]["severity"], "critical");
    assert!(spo2[0]["episode_start"].as_i64().unwrap() >= START + 200);
    assert!(
        alerts.iter().all(|a| a["rule"] == "spo2-low"),
        "artefacts alerted: {alerts:?}"
    );
    for a in &alerts {
        let keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(!keys.iter().any(|k| k.contains("value")), "{a}");
    }
    let live = live.await.unwrap();
    assert!(
        live.contains("event: vital-alert") && live.contains("spo2-low"),
        "{live}"
    );

    // Nobody else sees it; the patient sees their own.
    let (s, none) = dr_no.get("/v1/vitals/alerts").await;
    assert_eq!((s, none), (StatusCode::OK, json!([])));
    let (s, own) = alice.get("/v1/vitals/alerts").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(own.as_array().unwrap().len(), alerts.len());
    let (s, _) = op.get("/v1/vitals/alerts").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The feed refuses values, unknown fields, clinicians posting, and nonsense.
    let good = json!({"session": "night-1", "rule": "spo2-low", "loinc": "59408-5", "severity": "critical",
                      "transition": "raised", "episode_start": START, "at": START + 60});
    let mut with_value = good.clone();
    with_value["value"] = json!(85);
    for (who, body, want) in [
        (&alice, with_value, StatusCode::BAD_REQUEST),
        (
            &alice,
            json!({"session": "night-1"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            &alice,
            {
                let mut b = good.clone();
                b["loinc"] = json!("SpO2 85");
                b
            },
            StatusCode::BAD_REQUEST,
        ),
        (
            &alice,
            {
                let mut b = good.clone();
                b["at"] = json!(START - 10);
                b
            },
            StatusCode::BAD_REQUEST,
        ),
        (&dr, good.clone(), StatusCode::FORBIDDEN),
    ] {
        let (s, body) = who.post("/v1/vitals/alerts", &body).await;
        assert_eq!(s, want, "{body}");
    }
    let (s, audit) = op.get("/v1/audit?action=vital-alert").await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let text = audit.to_string();
    assert!(
        text.contains("refused") && text.contains("allowed"),
        "{text}"
    );
}
