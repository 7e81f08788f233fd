//! `phiveil-sim`: a vital-sign device simulator and telemetry client.
//!
//! ```text
//! phiveil-sim generate [OPTIONS]                     readings as JSON Lines on stdout
//! phiveil-sim stream --relay URL --token T [OPTIONS] readings -> FHIR -> rules ->
//!                                                    encrypted chunks (presigned PUT)
//!                                                    + alert metadata to the relay
//! OPTIONS: --seed N (1)  --start UNIX (now)  --seconds N (600)  --hz N (1)
//!          --anomaly KIND:START:DURATION:VALUE (repeatable; KIND = hr|spo2|rr|temp|bp)
//!          --artefacts P (0.002)  --session ID (random)  --readings-per-chunk N (120)
//!          --realtime (sleep between ticks, as a device would)
//! ```
//! `stream` prints a JSON summary: readings, chunks, record ids, alerts posted.
// `value["key"]` on serde_json values returns Null for a missing key; it never panics.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::indexing_slicing)]

use std::process::ExitCode;
use std::sync::Arc;

use phiveil_core::esdk::{CacheLimits, CachingCmm};
use phiveil_core::fhir::VitalKind;
use phiveil_core::rules::{default_rules, RuleEngine};
use phiveil_core::telemetry::{Anomaly, Reading, SessionConfig, Simulator, TelemetrySession};
use serde_json::{json, Value};

struct Opts {
    seed: u64,
    start: i64,
    seconds: i64,
    hz: u32,
    anomalies: Vec<Anomaly>,
    artefacts: f64,
    session: String,
    per_chunk: usize,
    relay: Option<String>,
    token: Option<String>,
    realtime: bool,
}

fn kind(s: &str) -> Result<VitalKind, String> {
    Ok(match s {
        "hr" => VitalKind::HeartRate,
        "spo2" => VitalKind::SpO2,
        "rr" => VitalKind::RespiratoryRate,
        "temp" => VitalKind::BodyTemperature,
        "bp" => VitalKind::BloodPressure,
        _ => return Err(format!("unknown vital {s:?} (hr, spo2, rr, temp, bp)")),
    })
}

fn kind_name(k: VitalKind) -> &'static str {
    match k {
        VitalKind::HeartRate => "hr",
        VitalKind::SpO2 => "spo2",
        VitalKind::RespiratoryRate => "rr",
        VitalKind::BodyTemperature => "temp",
        _ => "bp",
    }
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let mut o = Opts {
        seed: 1,
        start: i64::try_from(now).map_err(|e| e.to_string())?,
        seconds: 600,
        hz: 1,
        anomalies: Vec::new(),
        artefacts: 0.002,
        session: format!("s-{}", now),
        per_chunk: 120,
        relay: None,
        token: None,
        realtime: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        let num = |v: String| {
            v.parse::<i64>()
                .map_err(|_| format!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--seed" => o.seed = val()?.parse().map_err(|_| "--seed: not a number")?,
            "--start" => o.start = num(val()?)?,
            "--seconds" => o.seconds = num(val()?)?,
            "--hz" => o.hz = val()?.parse().map_err(|_| "--hz: not a number")?,
            "--artefacts" => {
                o.artefacts = val()?.parse().map_err(|_| "--artefacts: not a number")?
            }
            "--session" => o.session = val()?,
            "--readings-per-chunk" => {
                o.per_chunk = val()?
                    .parse()
                    .map_err(|_| "--readings-per-chunk: not a number")?
            }
            "--relay" => o.relay = Some(val()?.trim_end_matches('/').to_owned()),
            "--token" => o.token = Some(val()?),
            "--realtime" => o.realtime = true,
            "--anomaly" => {
                let v = val()?;
                let p: Vec<&str> = v.split(':').collect();
                let [k, s, d, x] = p.as_slice() else {
                    return Err("--anomaly KIND:START:DURATION:VALUE".into());
                };
                o.anomalies.push(Anomaly {
                    kind: kind(k)?,
                    start: s.parse().map_err(|_| "--anomaly START")?,
                    duration: d.parse().map_err(|_| "--anomaly DURATION")?,
                    value: x.parse().map_err(|_| "--anomaly VALUE")?,
                });
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.seconds <= 0 {
        return Err("--seconds must be positive".into());
    }
    Ok(o)
}

fn readings(o: &Opts) -> Result<Vec<Reading>, String> {
    let mut sim = Simulator::new(o.seed, o.start, o.hz, o.anomalies.clone())
        .map_err(|e| e.to_string())?
        .with_artefact_rate(o.artefacts);
    let ticks = o.seconds.saturating_mul(i64::from(o.hz));
    Ok((0..ticks).flat_map(|_| sim.next_tick()).collect())
}

fn reading_json(r: &Reading) -> Value {
    json!({ "kind": kind_name(r.kind), "value": r.value, "diastolic": r.diastolic, "t": r.t })
}

struct Relay {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Relay {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("{path}: {status} {v}"));
        }
        Ok(v)
    }
}

async fn stream(o: Opts) -> Result<Value, String> {
    let relay = Relay {
        http: phiveil_tests::relay::http_client(),
        base: o.relay.clone().ok_or("--relay is required")?,
        token: o.token.clone().ok_or("--token is required")?,
    };
    let me = relay.call(reqwest::Method::GET, "/v1/me", None).await?;
    let patient = me["pseudonym"]
        .as_str()
        .ok_or("the token is not a patient's")?
        .to_owned();
    // One data key for the whole session, from the relay's key broker.
    let mut ctx = phiveil_core::esdk::EncryptionContext::new();
    ctx.insert("patient".into(), patient.clone());
    ctx.insert(
        "record_type".into(),
        phiveil_core::telemetry::RECORD_TYPE.into(),
    );
    ctx.insert("session".into(), o.session.clone());
    let key = relay
        .call(
            reqwest::Method::POST,
            "/v1/keys/data-key",
            Some(json!({ "context": ctx })),
        )
        .await?;
    let keyring = phiveil_tests::relay::keyring_from(&key);
    let cmm = CachingCmm::new(
        Arc::new(keyring),
        CacheLimits {
            max_messages: 100_000,
            ..CacheLimits::with_max_age_ms(24 * 3600 * 1000)
        },
        "telemetry",
    )
    .map_err(|e| e.to_string())?;
    let config = SessionConfig {
        readings_per_chunk: o.per_chunk,
        ..SessionConfig::new(&patient, &o.session)
    };
    let rules = RuleEngine::new(default_rules()).map_err(|e| e.to_string())?;
    let mut session = TelemetrySession::new(cmm, config, rules).map_err(|e| e.to_string())?;
    let mut rng = rand_core::OsRng;
    let (mut n, mut records, mut alerts, mut bytes) = (0usize, Vec::new(), Vec::new(), 0usize);
    let all = readings(&o)?;
    let mut last_t = None;
    for r in all {
        if o.realtime && last_t.is_some_and(|t| t != r.t) {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        last_t = Some(r.t);
        let pushed = session.push(r, &mut rng).map_err(|e| e.to_string())?;
        n = n.saturating_add(1);
        for a in pushed.alerts {
            let body = json!({
                "session": o.session, "rule": a.rule, "loinc": a.loinc,
                "severity": a.severity, "transition": a.transition,
                "episode_start": a.episode_start, "at": a.at,
            });
            let posted = relay
                .call(reqwest::Method::POST, "/v1/vitals/alerts", Some(body))
                .await?;
            alerts.push(posted["id"].clone());
        }
        if let Some(chunk) = pushed.chunk {
            bytes = bytes.saturating_add(chunk.message.len());
            records.push(upload(&relay, chunk.message).await?);
        }
    }
    if let Some(chunk) = session.flush(&mut rng).map_err(|e| e.to_string())? {
        bytes = bytes.saturating_add(chunk.message.len());
        records.push(upload(&relay, chunk.message).await?);
    }
    Ok(json!({
        "session": o.session, "patient": patient, "readings": n, "chunks": records.len(),
        "records": records, "alerts": alerts, "ciphertext_bytes": bytes,
    }))
}

async fn upload(relay: &Relay, message: Vec<u8>) -> Result<Value, String> {
    let created = relay
        .call(
            reqwest::Method::POST,
            "/v1/records",
            Some(json!({ "record_type": phiveil_core::telemetry::RECORD_TYPE, "size": message.len() })),
        )
        .await?;
    let upload = &created["upload"];
    let url = upload["url"].as_str().ok_or("no upload URL")?;
    let url = if url.starts_with("http") {
        url.to_owned()
    } else {
        format!("{}{url}", relay.base)
    };
    let status = relay
        .http
        .put(url)
        .header("content-type", "application/octet-stream")
        .body(message)
        .send()
        .await
        .map_err(|e| format!("upload: {e}"))?
        .status();
    if !status.is_success() {
        return Err(format!("upload: {status}"));
    }
    let id = created["record"]["id"]
        .as_str()
        .ok_or("no record id")?
        .to_owned();
    // The local store completes on PUT; S3 uploads are confirmed here.
    if created["record"]["state"] != "complete" {
        let _ = relay
            .call(
                reqwest::Method::POST,
                &format!("/v1/records/{id}/complete"),
                None,
            )
            .await;
    }
    Ok(Value::String(id))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("usage: phiveil-sim generate|stream [OPTIONS] (see the source header)");
        return ExitCode::from(2);
    };
    let opts = match parse(rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("phiveil-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cmd.as_str() {
        "generate" => readings(&opts).map(|rs| {
            for r in rs {
                println!("{}", reading_json(&r));
            }
            Value::Null
        }),
        "stream" => stream(opts).await,
        other => Err(format!("unknown command {other}")),
    };
    match result {
        Ok(Value::Null) => ExitCode::SUCCESS,
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("phiveil-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
