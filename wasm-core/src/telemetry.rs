//! Vital-sign telemetry: a device simulator and the client-side session that turns
//! readings into FHIR Observations, runs the rules, and seals the stream into encrypted
//! chunks.
//!
//! A [`TelemetrySession`] validates each reading (impossible values are refused), feeds
//! it to the [`RuleEngine`], and buffers its Observation; every `readings_per_chunk`
//! readings it seals a chunk: a FHIR `Bundle` (with `identifier` = `<session>/<seq>` so a
//! reader detects a missing, replayed or reordered chunk) encrypted as one ESDK message
//! under the context `{patient, record_type: "vitals-stream", session}`. The context is
//! the same for every chunk of a session, so a [`crate::esdk::CachingCmm`] in front of
//! the keyring gives the whole session one data key (one relay round trip). Alerts
//! carry no values; the readings leave only inside the chunks.

use serde_json::{json, Value};

use crate::esdk::{self, EncryptOptions, EncryptionContext, MaterialsProvider};
use crate::fhir::{self, Vital, VitalKind};
use crate::rules::{Alert, RuleEngine, Sample};
use crate::{Error, Result};

/// The record type of telemetry chunks (and of the grant that lets a clinician read
/// them and see the session's alerts).
pub const RECORD_TYPE: &str = "vitals-stream";

/// One reading from a device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// What was measured.
    pub kind: VitalKind,
    /// The value (systolic for blood pressure).
    pub value: f64,
    /// Diastolic pressure, for blood pressure only.
    pub diastolic: Option<f64>,
    /// When (Unix seconds).
    pub t: i64,
}

/// Formats Unix seconds as an RFC 3339 / FHIR `dateTime` in UTC (`2026-11-23T15:04:05Z`).
// Every intermediate is bounded once `t` is clamped to years 0..=9999.
#[allow(clippy::arithmetic_side_effects)]
pub fn rfc3339(t: i64) -> String {
    let t = t.clamp(-62_167_219_200, 253_402_300_799);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Settings of a telemetry session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The patient's pseudonym.
    pub patient: String,
    /// A session id (1–64 of `A-Z a-z 0-9 . _ -`), unique per patient.
    pub session: String,
    /// Readings per encrypted chunk (default 60).
    pub readings_per_chunk: usize,
    /// ESDK frame length of each chunk (default 4096).
    pub frame_length: u32,
}

impl SessionConfig {
    /// Defaults for `patient` and `session`.
    pub fn new(patient: &str, session: &str) -> Self {
        Self {
            patient: patient.to_owned(),
            session: session.to_owned(),
            readings_per_chunk: 60,
            frame_length: 4096,
        }
    }
}

/// One sealed chunk of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Position in the session, from 0.
    pub seq: u64,
    /// How many readings it holds.
    pub readings: usize,
    /// The ESDK message.
    pub message: Vec<u8>,
}

/// What pushing one reading produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pushed {
    /// Alert transitions caused by this reading (no values).
    pub alerts: Vec<Alert>,
    /// A chunk, when this reading filled one.
    pub chunk: Option<Chunk>,
}

/// The client side of one telemetry stream.
pub struct TelemetrySession<P: MaterialsProvider> {
    provider: P,
    config: SessionConfig,
    rules: RuleEngine,
    buffer: Vec<Vital>,
    seq: u64,
}

impl<P: MaterialsProvider> core::fmt::Debug for TelemetrySession<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TelemetrySession")
            .field("session", &self.config.session)
            .field("buffered", &self.buffer.len())
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl<P: MaterialsProvider> TelemetrySession<P> {
    /// A session encrypting through `provider` (put a caching CMM in front of a
    /// brokered keyring for one data key per session) and watching with `rules`.
    pub fn new(provider: P, config: SessionConfig, rules: RuleEngine) -> Result<Self> {
        if !valid_name(&config.session) {
            return Err(Error::InvalidConfig(
                "session must be 1-64 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        if !valid_name(&config.patient) {
            return Err(Error::InvalidConfig("patient must be a pseudonym"));
        }
        if config.readings_per_chunk == 0 || config.readings_per_chunk > 100_000 {
            return Err(Error::InvalidConfig(
                "readings_per_chunk must be within 1..=100000",
            ));
        }
        Ok(Self {
            provider,
            config,
            rules,
            buffer: Vec::new(),
            seq: 0,
        })
    }

    /// The encryption context of every chunk of this session.
    pub fn context(&self) -> EncryptionContext {
        let mut ctx = crate::esdk::context::record_context(&self.config.patient, RECORD_TYPE);
        ctx.insert("session".into(), self.config.session.clone());
        ctx
    }

    /// Readings buffered and not yet sealed.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Validates and records one reading; returns its alerts and, when it filled one, a
    /// sealed chunk. An impossible value is refused and changes nothing.
    pub fn push(
        &mut self,
        reading: Reading,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<Pushed> {
        let vital = Vital {
            kind: reading.kind,
            value: reading.value,
            diastolic: reading.diastolic,
            time: rfc3339(reading.t),
            patient: self.config.patient.clone(),
        };
        fhir::observation(&vital)?;
        let alerts = self.rules.push(Sample {
            kind: reading.kind,
            value: reading.value,
            t: reading.t,
        })?;
        self.buffer.push(vital);
        let chunk = if self.buffer.len() >= self.config.readings_per_chunk {
            self.seal(rng)?
        } else {
            None
        };
        Ok(Pushed { alerts, chunk })
    }

    /// Seals what is buffered (end of session, or a timer); `None` when empty.
    pub fn flush(&mut self, rng: &mut dyn rand_core::CryptoRngCore) -> Result<Option<Chunk>> {
        self.seal(rng)
    }

    fn seal(&mut self, rng: &mut dyn rand_core::CryptoRngCore) -> Result<Option<Chunk>> {
        if self.buffer.is_empty() {
            return Ok(None);
        }
        let seq = self.seq;
        let ids: Vec<String> = (0..self.buffer.len()).map(|_| uuid_v4(rng)).collect();
        let mut bundle = fhir::bundle(&self.buffer, &ids)?;
        if let Some(b) = bundle.as_object_mut() {
            b.insert(
                "identifier".into(),
                json!({ "system": "urn:phiveil:telemetry", "value": format!("{}/{seq}", self.config.session) }),
            );
        }
        let plaintext = serde_json::to_vec(&bundle)
            .map_err(|e| Error::InvalidRecord(format!("bundle: {e}")))?;
        let options = EncryptOptions {
            frame_length: self.config.frame_length,
            ..EncryptOptions::default()
        };
        let message = esdk::encrypt(&self.provider, &plaintext, &self.context(), &options, rng)?;
        let readings = self.buffer.len();
        self.buffer.clear();
        self.seq = self.seq.saturating_add(1);
        Ok(Some(Chunk {
            seq,
            readings,
            message,
        }))
    }
}

/// A random (version 4) UUID for an entry's `fullUrl` (`urn:uuid:…`).
fn uuid_v4(rng: &mut dyn rand_core::CryptoRngCore) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8).unwrap_or_default(),
        hex.get(8..12).unwrap_or_default(),
        hex.get(12..16).unwrap_or_default(),
        hex.get(16..20).unwrap_or_default(),
        hex.get(20..32).unwrap_or_default()
    )
}

/// Reads a decrypted chunk back: its sequence number (from `identifier`, checked against
/// `session`) and readings.
pub fn read_chunk(plaintext: &[u8], session: &str) -> Result<(u64, Vec<Vital>)> {
    let bundle: Value = serde_json::from_slice(plaintext)
        .map_err(|e| Error::InvalidRecord(format!("chunk is not JSON: {e}")))?;
    let id = bundle
        .pointer("/identifier/value")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::InvalidRecord("chunk has no identifier".into()))?;
    let seq = id
        .strip_prefix(session)
        .and_then(|r| r.strip_prefix('/'))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Error::InvalidRecord("chunk belongs to another session".into()))?;
    Ok((seq, fhir::parse_bundle(&bundle)?))
}

/// An injected anomaly: from `start` (seconds into the run) for `duration` seconds the
/// vital moves to `value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anomaly {
    /// Which vital.
    pub kind: VitalKind,
    /// Seconds from the start of the run.
    pub start: i64,
    /// How long.
    pub duration: i64,
    /// The level during the episode.
    pub value: f64,
}

/// A deterministic simulator of a bedside/wearable monitor: heart rate and SpO2 at
/// `hz`, respiratory rate every 5 s, temperature every minute, blood pressure every
/// 5 minutes; physiological noise and slow drift, rare single-sample artefacts (which
/// the rules must ignore), and injected anomaly episodes.
#[derive(Debug, Clone)]
pub struct Simulator {
    state: u64,
    start: i64,
    hz: u32,
    tick: u64,
    anomalies: Vec<Anomaly>,
    artefact_rate: f64,
}

impl Simulator {
    /// A simulator seeded with `seed`, starting at Unix time `start`, sampling heart rate
    /// and SpO2 `hz` times per second (1..=250).
    pub fn new(seed: u64, start: i64, hz: u32, anomalies: Vec<Anomaly>) -> Result<Self> {
        if !(1..=250).contains(&hz) {
            return Err(Error::InvalidConfig("hz must be within 1..=250"));
        }
        Ok(Self {
            state: seed ^ 0x9e37_79b9_7f4a_7c15,
            start,
            hz,
            tick: 0,
            anomalies,
            artefact_rate: 0.002,
        })
    }

    /// Probability of a single-sample artefact per heart-rate/SpO2 sample (default 0.002).
    pub fn with_artefact_rate(mut self, p: f64) -> Self {
        self.artefact_rate = p.clamp(0.0, 1.0);
        self
    }

    fn next_u64(&mut self) -> u64 {
        // splitmix64: a simulator needs reproducibility, not secrecy.
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        u
    }

    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * core::f64::consts::PI * u2).cos()
    }

    fn level(&self, kind: VitalKind, offset: i64, base: f64) -> f64 {
        self.anomalies
            .iter()
            .find(|a| {
                a.kind == kind && offset >= a.start && offset < a.start.saturating_add(a.duration)
            })
            .map_or(base, |a| a.value)
    }

    /// The readings of the next sampling tick (1/hz s); times are whole seconds, so at
    /// hz > 1 several readings share a second.
    pub fn next_tick(&mut self) -> Vec<Reading> {
        let tick = self.tick;
        self.tick = self.tick.saturating_add(1);
        let hz = u64::from(self.hz);
        let offset = i64::try_from(tick.checked_div(hz).unwrap_or(0)).unwrap_or(i64::MAX);
        let t = self.start.saturating_add(offset);
        let new_second = tick.checked_rem(hz) == Some(0);
        #[allow(clippy::cast_precision_loss)]
        let drift = (offset as f64 / 600.0).sin();
        let mut out = Vec::with_capacity(5);
        let hr_base = self.level(VitalKind::HeartRate, offset, 74.0 + 4.0 * drift);
        let mut hr = hr_base + 2.0 * self.normal();
        let spo2_base = self.level(VitalKind::SpO2, offset, 97.0);
        let mut spo2 = spo2_base + 0.6 * self.normal();
        if self.uniform() < self.artefact_rate {
            // A motion artefact: one implausible-looking but possible sample.
            if self.uniform() < 0.5 {
                hr = 160.0 + 10.0 * self.uniform();
            } else {
                spo2 = 78.0 + 5.0 * self.uniform();
            }
        }
        out.push(Reading {
            kind: VitalKind::HeartRate,
            value: (hr.clamp(20.0, 250.0) * 10.0).round() / 10.0,
            diastolic: None,
            t,
        });
        out.push(Reading {
            kind: VitalKind::SpO2,
            value: spo2.clamp(50.0, 100.0).round(),
            diastolic: None,
            t,
        });
        if new_second && offset % 5 == 0 {
            let rr = self.level(VitalKind::RespiratoryRate, offset, 15.0) + self.normal();
            out.push(Reading {
                kind: VitalKind::RespiratoryRate,
                value: rr.clamp(4.0, 60.0).round(),
                diastolic: None,
                t,
            });
        }
        if new_second && offset % 60 == 0 {
            let temp = self.level(VitalKind::BodyTemperature, offset, 36.8) + 0.1 * self.normal();
            out.push(Reading {
                kind: VitalKind::BodyTemperature,
                value: (temp.clamp(30.0, 43.0) * 10.0).round() / 10.0,
                diastolic: None,
                t,
            });
        }
        if new_second && offset % 300 == 0 {
            let sys = self.level(VitalKind::BloodPressure, offset, 122.0) + 4.0 * self.normal();
            let dia = (sys * 0.65 + 2.0 * self.normal()).round();
            out.push(Reading {
                kind: VitalKind::BloodPressure,
                value: sys.round(),
                diastolic: Some(dia),
                t,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esdk::{decrypt, DecryptOptions, RawAesKeyring};
    use crate::rules::{default_rules, Transition};
    use crate::secret::WrappingKey;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_446_245), "2026-11-23T15:04:05Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn session_seals_chunks_and_raises_one_alert_per_episode() {
        let kr = std::sync::Arc::new(
            RawAesKeyring::new("t", "k", WrappingKey::from_slice(&[3; 32]).unwrap()).unwrap(),
        );
        let mut s = TelemetrySession::new(
            kr.clone(),
            SessionConfig {
                readings_per_chunk: 100,
                ..SessionConfig::new("p-1", "s-1")
            },
            RuleEngine::new(default_rules()).unwrap(),
        )
        .unwrap();
        let anomalies = vec![Anomaly {
            kind: VitalKind::SpO2,
            start: 120,
            duration: 120,
            value: 85.0,
        }];
        let mut sim = Simulator::new(1, 1_795_446_000, 1, anomalies)
            .unwrap()
            .with_artefact_rate(0.01);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let (mut alerts, mut chunks, mut n) = (Vec::new(), Vec::new(), 0usize);
        for _ in 0..600 {
            for r in sim.next_tick() {
                n += 1;
                let p = s.push(r, &mut rng).unwrap();
                alerts.extend(p.alerts);
                chunks.extend(p.chunk);
            }
        }
        chunks.extend(s.flush(&mut rng).unwrap());
        let spo2: Vec<_> = alerts.iter().filter(|a| a.rule == "spo2-low").collect();
        assert_eq!(spo2.len(), 2, "{alerts:?}");
        assert_eq!(spo2[0].transition, Transition::Raised);
        assert_eq!(spo2[1].transition, Transition::Cleared);
        assert!(
            alerts.iter().all(|a| a.rule == "spo2-low"),
            "artefacts alone alert: {alerts:?}"
        );
        let mut total = 0;
        for (i, c) in chunks.iter().enumerate() {
            let d = decrypt(&*kr, &c.message, &DecryptOptions::expecting(s.context())).unwrap();
            let (seq, vitals) = read_chunk(&d.plaintext, "s-1").unwrap();
            assert_eq!(seq, i as u64);
            total += vitals.len();
            assert!(read_chunk(&d.plaintext, "s-2").is_err());
        }
        assert_eq!(total, n);
        // An impossible value is refused and not buffered.
        let before = s.buffered();
        let bad = Reading {
            kind: VitalKind::SpO2,
            value: 140.0,
            diastolic: None,
            t: 1_795_447_000,
        };
        assert!(s.push(bad, &mut rng).is_err());
        assert_eq!(s.buffered(), before);
    }
}
