//! FHIR R4 vital signs: Observation builders following the FHIR vital-signs profile
//! (category `vital-signs`, LOINC codes, UCUM units), a Bundle of them, and parsing of
//! the same back into typed values. Impossible values are refused with a clear error.
//!
//! | vital | LOINC | UCUM |
//! |---|---|---|
//! | heart rate | 8867-4 | `/min` |
//! | oxygen saturation (pulse oximetry) | 59408-5 | `%` |
//! | blood pressure panel | 85354-9 (systolic 8480-6, diastolic 8462-4) | `mm[Hg]` |
//! | body temperature | 8310-5 | `Cel` |
//! | respiratory rate | 9279-1 | `/min` |

use serde_json::{json, Value};

use crate::error::{Error, Result};

const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// A kind of vital sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VitalKind {
    /// Heart rate, beats per minute.
    HeartRate,
    /// Oxygen saturation by pulse oximetry, percent.
    SpO2,
    /// Blood pressure (systolic and diastolic), mm Hg.
    BloodPressure,
    /// Body temperature, degrees Celsius.
    BodyTemperature,
    /// Respiratory rate, breaths per minute.
    RespiratoryRate,
}

impl VitalKind {
    /// LOINC code, display text, UCUM code and unit text.
    pub const fn coding(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            VitalKind::HeartRate => ("8867-4", "Heart rate", "/min", "beats/minute"),
            VitalKind::SpO2 => (
                "59408-5",
                "Oxygen saturation in Arterial blood by Pulse oximetry",
                "%",
                "%",
            ),
            VitalKind::BloodPressure => (
                "85354-9",
                "Blood pressure panel with all children optional",
                "mm[Hg]",
                "mmHg",
            ),
            VitalKind::BodyTemperature => ("8310-5", "Body temperature", "Cel", "C"),
            VitalKind::RespiratoryRate => ("9279-1", "Respiratory rate", "/min", "breaths/minute"),
        }
    }

    /// Values outside this range are physiologically impossible and refused.
    pub const fn plausible(self) -> (f64, f64) {
        match self {
            VitalKind::HeartRate => (1.0, 350.0),
            VitalKind::SpO2 => (1.0, 100.0),
            VitalKind::BloodPressure => (10.0, 350.0),
            VitalKind::BodyTemperature => (20.0, 46.0),
            VitalKind::RespiratoryRate => (1.0, 120.0),
        }
    }

    fn from_loinc(code: &str) -> Option<Self> {
        [
            VitalKind::HeartRate,
            VitalKind::SpO2,
            VitalKind::BloodPressure,
            VitalKind::BodyTemperature,
            VitalKind::RespiratoryRate,
        ]
        .into_iter()
        .find(|k| k.coding().0 == code)
    }
}

/// One vital-sign reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Vital {
    /// What was measured.
    pub kind: VitalKind,
    /// The value (systolic for blood pressure).
    pub value: f64,
    /// Diastolic pressure, for blood pressure only.
    pub diastolic: Option<f64>,
    /// When, as an RFC 3339 / FHIR `dateTime` with seconds and a zone.
    pub time: String,
    /// The patient's pseudonymous id (`Patient/<id>` in FHIR).
    pub patient: String,
}

fn bad(why: impl Into<String>) -> Error {
    Error::InvalidRecord(why.into())
}

fn check_time(t: &str) -> Result<()> {
    // YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm)
    let b = t.as_bytes();
    let digits =
        |r: core::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let ok_head = b.len() >= 20
        && digits(0..4)
        && at(4, b'-')
        && digits(5..7)
        && at(7, b'-')
        && digits(8..10)
        && at(10, b'T')
        && digits(11..13)
        && at(13, b':')
        && digits(14..16)
        && at(16, b':')
        && digits(17..19);
    if !ok_head {
        return Err(bad(format!(
            "not a FHIR dateTime with seconds and zone: {t:?}"
        )));
    }
    let mut rest = t.get(19..).unwrap_or_default();
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad("empty fraction of a second"));
        }
        rest = frac.get(n..).unwrap_or_default();
    }
    let zone_ok = rest == "Z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes().get(3) == Some(&b':')
            && rest
                .bytes()
                .enumerate()
                .all(|(i, c)| matches!(i, 0 | 3) || c.is_ascii_digit()));
    if !zone_ok {
        return Err(bad(format!("dateTime needs a zone (Z or ±hh:mm): {t:?}")));
    }
    Ok(())
}

fn check_value(kind: VitalKind, v: f64) -> Result<()> {
    let (lo, hi) = kind.plausible();
    if !v.is_finite() || v < lo || v > hi {
        return Err(bad(format!(
            "{} of {v} is outside {lo}..{hi}",
            kind.coding().1
        )));
    }
    Ok(())
}

fn check_patient(p: &str) -> Result<()> {
    // FHIR id: [A-Za-z0-9\-\.]{1,64}
    if p.is_empty()
        || p.len() > 64
        || !p
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(bad(format!("not a FHIR id: {p:?}")));
    }
    Ok(())
}

fn quantity(kind: VitalKind, v: f64) -> Value {
    let (_, _, code, unit) = kind.coding();
    json!({ "value": v, "unit": unit, "system": UCUM, "code": code })
}

fn concept(code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": LOINC, "code": code, "display": display }], "text": display })
}

/// Builds a FHIR R4 `Observation` (vital-signs profile) for a reading, after checking
/// that the value is plausible and the time and patient id are well-formed.
pub fn observation(v: &Vital) -> Result<Value> {
    check_time(&v.time)?;
    check_patient(&v.patient)?;
    check_value(v.kind, v.value)?;
    let (code, display, _, _) = v.kind.coding();
    let mut obs = json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{ "coding": [{ "system": CATEGORY, "code": "vital-signs", "display": "Vital Signs" }], "text": "Vital Signs" }],
        "code": concept(code, display),
        "subject": { "reference": format!("Patient/{}", v.patient) },
        "effectiveDateTime": v.time,
    });
    let o = obs
        .as_object_mut()
        .ok_or(Error::InvalidState("observation is an object"))?;
    if v.kind == VitalKind::BloodPressure {
        let dia = v
            .diastolic
            .ok_or_else(|| bad("blood pressure needs a diastolic value"))?;
        check_value(v.kind, dia)?;
        if dia >= v.value {
            return Err(bad(format!(
                "diastolic {dia} is not below systolic {}",
                v.value
            )));
        }
        o.insert(
            "component".into(),
            json!([
                { "code": concept("8480-6", "Systolic blood pressure"), "valueQuantity": quantity(v.kind, v.value) },
                { "code": concept("8462-4", "Diastolic blood pressure"), "valueQuantity": quantity(v.kind, dia) },
            ]),
        );
    } else {
        if v.diastolic.is_some() {
            return Err(bad("only blood pressure has a diastolic value"));
        }
        o.insert("valueQuantity".into(), quantity(v.kind, v.value));
    }
    Ok(obs)
}

/// A FHIR R4 `Bundle` of type `collection` holding an Observation per reading.
/// `ids` gives each entry's `fullUrl` (`urn:uuid:<id>`), one per reading.
pub fn bundle(readings: &[Vital], ids: &[String]) -> Result<Value> {
    if ids.len() != readings.len() {
        return Err(Error::InvalidConfig("one id per reading"));
    }
    let mut entries = Vec::with_capacity(readings.len());
    for (v, id) in readings.iter().zip(ids) {
        entries.push(json!({ "fullUrl": format!("urn:uuid:{id}"), "resource": observation(v)? }));
    }
    Ok(json!({ "resourceType": "Bundle", "type": "collection", "entry": entries }))
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(*k))
}

fn loinc_code(concept: &Value) -> Option<&str> {
    concept
        .get("coding")?
        .as_array()?
        .iter()
        .find(|c| c.get("system").and_then(Value::as_str) == Some(LOINC))?
        .get("code")?
        .as_str()
}

fn read_quantity(kind: VitalKind, q: &Value) -> Result<f64> {
    let (_, _, code, _) = kind.coding();
    if q.get("system").and_then(Value::as_str) != Some(UCUM)
        || q.get("code").and_then(Value::as_str) != Some(code)
    {
        return Err(bad(format!("{} must be in UCUM {code}", kind.coding().1)));
    }
    let v = q
        .get("value")
        .and_then(Value::as_f64)
        .ok_or_else(|| bad("valueQuantity.value missing"))?;
    check_value(kind, v)?;
    Ok(v)
}

/// Parses an `Observation` made by [`observation`] (or another conforming source)
/// back into a typed reading.
pub fn parse_observation(obs: &Value) -> Result<Vital> {
    if obs.get("resourceType").and_then(Value::as_str) != Some("Observation") {
        return Err(bad("not an Observation"));
    }
    let code = obs
        .get("code")
        .and_then(loinc_code)
        .ok_or_else(|| bad("no LOINC code"))?;
    let kind = VitalKind::from_loinc(code)
        .ok_or_else(|| bad(format!("LOINC {code} is not a supported vital sign")))?;
    let time = obs
        .get("effectiveDateTime")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("effectiveDateTime missing"))?
        .to_owned();
    check_time(&time)?;
    let patient = get(obs, &["subject", "reference"])
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("Patient/"))
        .ok_or_else(|| bad("subject must reference a Patient"))?
        .to_owned();
    check_patient(&patient)?;
    let (value, diastolic) = if kind == VitalKind::BloodPressure {
        let comps = obs
            .get("component")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("blood pressure needs components"))?;
        let find = |c: &str| {
            comps
                .iter()
                .find(|x| x.get("code").and_then(loinc_code) == Some(c))
                .and_then(|x| x.get("valueQuantity"))
                .ok_or_else(|| bad(format!("component {c} missing")))
        };
        let sys = read_quantity(kind, find("8480-6")?)?;
        let dia = read_quantity(kind, find("8462-4")?)?;
        if dia >= sys {
            return Err(bad(format!("diastolic {dia} is not below systolic {sys}")));
        }
        (sys, Some(dia))
    } else {
        let q = obs
            .get("valueQuantity")
            .ok_or_else(|| bad("valueQuantity missing"))?;
        (read_quantity(kind, q)?, None)
    };
    Ok(Vital {
        kind,
        value,
        diastolic,
        time,
        patient,
    })
}

/// Parses every Observation of a Bundle.
pub fn parse_bundle(b: &Value) -> Result<Vec<Vital>> {
    if b.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(bad("not a Bundle"));
    }
    b.get("entry")
        .and_then(Value::as_array)
        .map(|es| {
            es.iter()
                .filter_map(|e| e.get("resource"))
                .map(parse_observation)
                .collect()
        })
        .unwrap_or_else(|| Ok(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hr(v: f64) -> Vital {
        Vital {
            kind: VitalKind::HeartRate,
            value: v,
            diastolic: None,
            time: "2026-03-11T08:15:00Z".into(),
            patient: "p-1a2b".into(),
        }
    }

    #[test]
    fn round_trips_every_kind() {
        let mut vitals = vec![hr(72.0)];
        for (kind, v, d) in [
            (VitalKind::SpO2, 97.0, None),
            (VitalKind::BloodPressure, 128.0, Some(82.0)),
            (VitalKind::BodyTemperature, 37.2, None),
            (VitalKind::RespiratoryRate, 16.0, None),
        ] {
            vitals.push(Vital {
                kind,
                value: v,
                diastolic: d,
                time: "2026-03-11T08:15:00.250+01:00".into(),
                patient: "p-1a2b".into(),
            });
        }
        let ids: Vec<String> = (0..vitals.len())
            .map(|i| format!("00000000-0000-4000-8000-00000000000{i}"))
            .collect();
        let b = bundle(&vitals, &ids).unwrap();
        assert_eq!(parse_bundle(&b).unwrap(), vitals);
    }

    #[test]
    fn refuses_impossible_values_and_bad_fields() {
        assert!(observation(&hr(0.0)).is_err());
        assert!(observation(&hr(f64::NAN)).is_err());
        assert!(observation(&hr(400.0)).is_err());
        let mut bp = hr(120.0);
        bp.kind = VitalKind::BloodPressure;
        bp.diastolic = Some(130.0);
        assert!(observation(&bp).is_err(), "diastolic above systolic");
        let mut t = hr(70.0);
        t.time = "2026-03-11 08:15".into();
        assert!(observation(&t).is_err());
        t.time = "2026-03-11T08:15:00".into();
        assert!(observation(&t).is_err(), "no zone");
        let mut p = hr(70.0);
        p.patient = "Zoë Ünal".into();
        assert!(
            observation(&p).is_err(),
            "patient must be a pseudonymous id"
        );
        let mut o = observation(&hr(70.0)).unwrap();
        o["valueQuantity"]["code"] = json!("Hz");
        assert!(parse_observation(&o).is_err(), "wrong unit");
        o["valueQuantity"]["code"] = json!("/min");
        o["valueQuantity"]["value"] = json!(-5);
        assert!(parse_observation(&o).is_err(), "impossible value on parse");
    }
}
