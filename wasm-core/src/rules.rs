//! Vital-sign rules: thresholds held for a minimum duration, rate of change, and
//! hysteresis so one noisy sample neither raises nor clears an alert. Alerts are
//! values (rule, kind, severity, episode window) — they carry no raw vitals, so they
//! can go to the relay's alert feed while the readings stay encrypted.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::fhir::VitalKind;

/// Alert severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Warning,
    /// Needs attention now.
    Critical,
}

/// Which side of the threshold is abnormal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Values below the threshold are abnormal (for example SpO2).
    Below,
    /// Values above the threshold are abnormal (for example heart rate).
    Above,
}

/// What a rule watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The value stays beyond `threshold` for `min_duration_s`; the episode ends once
    /// the value is back past `clear_at` (hysteresis) for `clear_duration_s`.
    Threshold {
        /// Abnormal side.
        direction: Direction,
        /// Where abnormal starts.
        threshold: f64,
        /// Where normal starts again (beyond the threshold, on the normal side).
        clear_at: f64,
        /// Seconds the value must stay abnormal before the alert is raised.
        min_duration_s: i64,
        /// Seconds the value must stay normal before the alert clears.
        clear_duration_s: i64,
    },
    /// The value moves by at least `max_change` within `window_s` seconds: the median of
    /// the last sixth of the window differs from the median of its first sixth (each
    /// with at least three samples), so one outlier never counts as a change.
    RateOfChange {
        /// Absolute change that is abnormal.
        max_change: f64,
        /// The window, in seconds.
        window_s: i64,
    },
}

/// A rule on one kind of vital sign.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Stable name, reported in alerts (for example `spo2-low`).
    pub name: String,
    /// Which vital sign.
    pub kind: VitalKind,
    /// What to watch.
    pub condition: Condition,
    /// Severity of its alerts.
    pub severity: Severity,
}

/// Whether an alert starts or ends an episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// The episode started (reported once).
    Raised,
    /// The episode ended (reported once).
    Cleared,
}

/// An alert: no raw vitals, only what the rule concluded and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// The rule's name.
    pub rule: String,
    /// The vital sign, as its LOINC code.
    pub loinc: &'static str,
    /// Severity.
    pub severity: Severity,
    /// Raised or cleared.
    pub transition: Transition,
    /// When the episode began (Unix seconds).
    pub episode_start: i64,
    /// When this transition happened (Unix seconds).
    pub at: i64,
}

/// One reading for the rules: kind, value and time (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Which vital sign.
    pub kind: VitalKind,
    /// The value (systolic for blood pressure).
    pub value: f64,
    /// Unix seconds.
    pub t: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Normal,
    Pending { since: i64 },
    Active { since: i64 },
    Clearing { since: i64, clear_since: i64 },
}

/// Runs rules over time-ordered samples and returns alert transitions.
#[derive(Debug, Clone)]
pub struct RuleEngine {
    rules: Vec<Rule>,
    states: Vec<State>,
    history: BTreeMap<u8, VecDeque<(i64, f64)>>,
    last_t: BTreeMap<u8, i64>,
}

fn kind_key(k: VitalKind) -> u8 {
    match k {
        VitalKind::HeartRate => 0,
        VitalKind::SpO2 => 1,
        VitalKind::BloodPressure => 2,
        VitalKind::BodyTemperature => 3,
        VitalKind::RespiratoryRate => 4,
    }
}

/// Rules for common adult monitoring: SpO2 < 90 % for 60 s, heart rate > 120 or < 40
/// for 60 s, heart rate change ≥ 30 /min within 60 s, temperature ≥ 38.0 °C for
/// 5 min, respiratory rate > 24 for 60 s, systolic ≥ 180 mm Hg for 60 s.
pub fn default_rules() -> Vec<Rule> {
    let th =
        |direction, threshold, clear_at, min_duration_s, clear_duration_s| Condition::Threshold {
            direction,
            threshold,
            clear_at,
            min_duration_s,
            clear_duration_s,
        };
    vec![
        Rule {
            name: "spo2-low".into(),
            kind: VitalKind::SpO2,
            condition: th(Direction::Below, 90.0, 92.0, 60, 30),
            severity: Severity::Critical,
        },
        Rule {
            name: "hr-high".into(),
            kind: VitalKind::HeartRate,
            condition: th(Direction::Above, 120.0, 110.0, 60, 30),
            severity: Severity::Warning,
        },
        Rule {
            name: "hr-low".into(),
            kind: VitalKind::HeartRate,
            condition: th(Direction::Below, 40.0, 45.0, 60, 30),
            severity: Severity::Critical,
        },
        Rule {
            name: "hr-jump".into(),
            kind: VitalKind::HeartRate,
            condition: Condition::RateOfChange {
                max_change: 30.0,
                window_s: 60,
            },
            severity: Severity::Warning,
        },
        Rule {
            name: "fever".into(),
            kind: VitalKind::BodyTemperature,
            condition: th(Direction::Above, 38.0, 37.7, 300, 300),
            severity: Severity::Warning,
        },
        Rule {
            name: "rr-high".into(),
            kind: VitalKind::RespiratoryRate,
            condition: th(Direction::Above, 24.0, 22.0, 60, 30),
            severity: Severity::Warning,
        },
        Rule {
            name: "bp-systolic-high".into(),
            kind: VitalKind::BloodPressure,
            condition: th(Direction::Above, 180.0, 170.0, 60, 60),
            severity: Severity::Critical,
        },
    ]
}

/// Median of the window's last sixth minus the median of its first sixth; `None` while
/// either has fewer than three samples.
fn level_shift(hist: &VecDeque<(i64, f64)>, now: i64, window_s: i64) -> Option<f64> {
    let edge = (window_s / 6).max(1);
    let median = |mut v: Vec<f64>| -> Option<f64> {
        if v.len() < 3 {
            return None;
        }
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let in_window = |t: i64| now.saturating_sub(t) <= window_s;
    let recent = hist
        .iter()
        .filter(|(t, _)| now.saturating_sub(*t) < edge)
        .map(|(_, v)| *v)
        .collect();
    let early = hist
        .iter()
        .filter(|(t, _)| in_window(*t) && now.saturating_sub(*t) > window_s.saturating_sub(edge))
        .map(|(_, v)| *v)
        .collect();
    Some(median(recent)? - median(early)?)
}

impl RuleEngine {
    /// An engine over `rules`. Threshold rules must have `clear_at` on the normal side
    /// of `threshold` and non-negative durations.
    pub fn new(rules: Vec<Rule>) -> Result<Self> {
        for r in &rules {
            match &r.condition {
                Condition::Threshold {
                    direction,
                    threshold,
                    clear_at,
                    min_duration_s,
                    clear_duration_s,
                } => {
                    let normal_side = match direction {
                        Direction::Below => clear_at >= threshold,
                        Direction::Above => clear_at <= threshold,
                    };
                    if !normal_side || *min_duration_s < 0 || *clear_duration_s < 0 {
                        return Err(Error::InvalidConfig(
                            "threshold rule: clear_at must be on the normal side, durations non-negative",
                        ));
                    }
                }
                Condition::RateOfChange {
                    max_change,
                    window_s,
                } => {
                    if *max_change <= 0.0 || *window_s <= 0 {
                        return Err(Error::InvalidConfig(
                            "rate rule: change and window must be positive",
                        ));
                    }
                }
            }
        }
        Ok(Self {
            states: vec![State::Normal; rules.len()],
            rules,
            history: BTreeMap::new(),
            last_t: BTreeMap::new(),
        })
    }

    /// Feeds one sample; returns the alert transitions it causes. Samples of one kind
    /// must come in time order.
    pub fn push(&mut self, s: Sample) -> Result<Vec<Alert>> {
        if !s.value.is_finite() {
            return Err(Error::InvalidRecord("sample value is not finite".into()));
        }
        let key = kind_key(s.kind);
        if self.last_t.get(&key).is_some_and(|last| s.t < *last) {
            return Err(Error::InvalidRecord("samples out of time order".into()));
        }
        self.last_t.insert(key, s.t);
        let window = self
            .rules
            .iter()
            .filter(|r| r.kind == s.kind)
            .filter_map(|r| match r.condition {
                Condition::RateOfChange { window_s, .. } => Some(window_s),
                Condition::Threshold { .. } => None,
            })
            .max()
            .unwrap_or(0);
        let hist = self.history.entry(key).or_default();
        hist.push_back((s.t, s.value));
        while hist
            .front()
            .is_some_and(|(t, _)| s.t.saturating_sub(*t) > window)
        {
            hist.pop_front();
        }
        let mut out = Vec::new();
        for (rule, state) in self.rules.iter().zip(self.states.iter_mut()) {
            if rule.kind != s.kind {
                continue;
            }
            let (abnormal, normal, min_d, clear_d) = match &rule.condition {
                Condition::Threshold {
                    direction,
                    threshold,
                    clear_at,
                    min_duration_s,
                    clear_duration_s,
                } => {
                    let (ab, no) = match direction {
                        Direction::Below => (s.value < *threshold, s.value >= *clear_at),
                        Direction::Above => (s.value > *threshold, s.value <= *clear_at),
                    };
                    (ab, no, *min_duration_s, *clear_duration_s)
                }
                Condition::RateOfChange {
                    max_change,
                    window_s,
                } => {
                    let moved = level_shift(hist, s.t, *window_s)
                        .is_some_and(|shift| shift.abs() >= *max_change);
                    (moved, !moved, 0, 0)
                }
            };
            let alert = |transition, episode_start| Alert {
                rule: rule.name.clone(),
                loinc: rule.kind.coding().0,
                severity: rule.severity,
                transition,
                episode_start,
                at: s.t,
            };
            *state = match *state {
                State::Normal if abnormal && min_d == 0 => {
                    out.push(alert(Transition::Raised, s.t));
                    State::Active { since: s.t }
                }
                State::Normal if abnormal => State::Pending { since: s.t },
                State::Normal => State::Normal,
                // An isolated outlier or a dip shorter than the minimum duration.
                State::Pending { .. } if !abnormal => State::Normal,
                State::Pending { since } if s.t.saturating_sub(since) >= min_d => {
                    out.push(alert(Transition::Raised, since));
                    State::Active { since }
                }
                State::Pending { since } => State::Pending { since },
                State::Active { since } if normal && clear_d == 0 => {
                    out.push(alert(Transition::Cleared, since));
                    State::Normal
                }
                State::Active { since } if normal => State::Clearing {
                    since,
                    clear_since: s.t,
                },
                State::Active { since } => State::Active { since },
                State::Clearing { since, .. } if !normal => State::Active { since },
                State::Clearing { since, clear_since }
                    if s.t.saturating_sub(clear_since) >= clear_d =>
                {
                    out.push(alert(Transition::Cleared, since));
                    State::Normal
                }
                State::Clearing { since, clear_since } => State::Clearing { since, clear_since },
            };
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(engine: &mut RuleEngine, kind: VitalKind, series: &[(i64, f64)]) -> Vec<Alert> {
        series
            .iter()
            .flat_map(|&(t, value)| engine.push(Sample { kind, value, t }).unwrap())
            .collect()
    }

    /// 1 Hz samples: `secs` seconds of `value` starting at `t0`.
    fn span(t0: i64, secs: i64, value: f64) -> Vec<(i64, f64)> {
        (0..secs).map(|i| (t0 + i, value)).collect()
    }

    #[test]
    fn spo2_episode_fires_once_and_clears_once_with_hysteresis() {
        let mut e = RuleEngine::new(default_rules()).unwrap();
        let mut s = span(0, 120, 97.0);
        s.extend(span(120, 30, 88.0)); // 30 s dip: too short
        s.extend(span(150, 60, 97.0));
        s.extend(span(210, 90, 87.0)); // 90 s episode
                                       // Noisy recovery between threshold and clear level: no flapping.
        s.extend((300..360).map(|t| (t, if t % 2 == 0 { 89.5 } else { 91.0 })));
        s.extend(span(360, 60, 96.0)); // recovered for 60 s
        let alerts = run(&mut e, VitalKind::SpO2, &s);
        let names: Vec<_> = alerts
            .iter()
            .map(|a| (a.rule.as_str(), a.transition))
            .collect();
        assert_eq!(
            names,
            [
                ("spo2-low", Transition::Raised),
                ("spo2-low", Transition::Cleared)
            ]
        );
        assert_eq!(alerts[0].episode_start, 210);
        assert_eq!(alerts[0].at, 270, "raised after 60 s below 90 %");
        assert_eq!(alerts[1].at, 390, "cleared after 30 s at or above 92 %");
        assert_eq!(alerts[0].severity, Severity::Critical);
    }

    #[test]
    fn isolated_outliers_raise_nothing() {
        let mut e = RuleEngine::new(default_rules()).unwrap();
        let mut s = span(0, 300, 97.0);
        s[100].1 = 70.0;
        s[200].1 = 60.0;
        assert!(run(&mut e, VitalKind::SpO2, &s).is_empty());
        let mut hr = span(0, 300, 70.0);
        hr[150].1 = 180.0; // a motion artefact, one sample
        hr[151].1 = 175.0; // and a second one right after
        assert!(run(&mut e, VitalKind::HeartRate, &hr).is_empty());
    }

    #[test]
    fn sustained_heart_rate_jump_raises_once_and_clears() {
        let mut e = RuleEngine::new(default_rules()).unwrap();
        let mut hr = span(0, 120, 70.0);
        hr.extend(span(120, 240, 105.0)); // +35 /min, held, below the hr-high threshold
        let alerts = run(&mut e, VitalKind::HeartRate, &hr);
        let jump: Vec<_> = alerts.iter().filter(|a| a.rule == "hr-jump").collect();
        assert_eq!(jump.len(), 2, "{alerts:?}");
        assert_eq!(jump[0].transition, Transition::Raised);
        assert_eq!(jump[1].transition, Transition::Cleared);
        assert!(jump[0].at >= 120 && jump[0].at <= 135, "{:?}", jump[0]);
    }

    #[test]
    fn two_episodes_fire_twice() {
        let mut e = RuleEngine::new(default_rules()).unwrap();
        let mut s = span(0, 100, 130.0);
        s.extend(span(100, 100, 80.0));
        s.extend(span(200, 100, 135.0));
        let raised = run(&mut e, VitalKind::HeartRate, &s)
            .into_iter()
            .filter(|a| a.rule == "hr-high" && a.transition == Transition::Raised)
            .count();
        assert_eq!(raised, 2);
    }

    #[test]
    fn alerts_carry_no_vitals() {
        let mut e = RuleEngine::new(default_rules()).unwrap();
        let alerts = run(&mut e, VitalKind::SpO2, &span(0, 100, 83.25));
        let json = serde_json::to_string(&alerts).unwrap();
        assert!(!json.contains("83.25") && !json.contains("83"), "{json}");
    }

    #[test]
    fn bad_rules_and_samples_are_refused() {
        let mut r = default_rules();
        r[0].condition = Condition::Threshold {
            direction: Direction::Below,
            threshold: 90.0,
            clear_at: 85.0,
            min_duration_s: 60,
            clear_duration_s: 30,
        };
        assert!(RuleEngine::new(r).is_err());
        let mut e = RuleEngine::new(default_rules()).unwrap();
        e.push(Sample {
            kind: VitalKind::SpO2,
            value: 97.0,
            t: 10,
        })
        .unwrap();
        assert!(e
            .push(Sample {
                kind: VitalKind::SpO2,
                value: 97.0,
                t: 9
            })
            .is_err());
        assert!(e
            .push(Sample {
                kind: VitalKind::SpO2,
                value: f64::NAN,
                t: 11
            })
            .is_err());
    }
}
