//! PII/PHI detection and redaction for free-text clinical notes.
//!
//! Covers the HIPAA Safe Harbor identifiers (45 CFR 164.514(b)(2)) that free text can
//! carry: names (dictionaries plus context cues), every date element except a bare year,
//! ages over 89, telephone and fax numbers, e-mail addresses, social security numbers
//! (with the SSA's validity rules), medical record, health-plan and account numbers
//! (context patterns plus caller-configured patterns), licence/certificate numbers (DEA
//! and NPI checksums), vehicle identifiers (VIN check digit, plates), device
//! identifiers and serial numbers, URLs, IP addresses, street addresses, cities in an
//! address and ZIP codes.
//!
//! Detection produces scored [`Finding`]s: each recognizer has a base confidence,
//! validators (Luhn, SSN area/group/serial rules, VIN check digit, DEA checksum, IP
//! octets) reject impossible candidates, and context words near a candidate raise or
//! lower its confidence. Findings below the policy's threshold are dropped; overlapping
//! findings are resolved in favour of the more confident, then the longer one.
//!
//! Redaction applies a per-entity [`Action`]: block (an error), mask, pseudonymize with a
//! keyed HMAC (the same identifier maps to the same token inside one patient's data, and
//! to unrelated tokens under another key), generalize (a date keeps its year, a ZIP its
//! first three digits unless the three-digit area is one of the Census-restricted ones,
//! an age over 89 becomes "90+") or keep (report only). The output is the redacted text
//! and a span report; the report never contains the identifiers themselves.
//!
//! Offsets are byte offsets into the UTF-8 input; the JavaScript binding converts them to
//! UTF-16 code units.

mod lexicon;
mod names;
mod recognizers;
mod strict;

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// The kinds of identifier the detector knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Entity {
    /// A person's name (patient, relative, clinician).
    Person,
    /// Any date element except a bare year (dates, month + year, month + day).
    Date,
    /// An age over 89.
    Age,
    /// A telephone number.
    Phone,
    /// A fax number (a telephone number introduced by "fax").
    Fax,
    /// An e-mail address.
    Email,
    /// A US social security number that passes the SSA's validity rules.
    Ssn,
    /// A medical record number.
    Mrn,
    /// A health-plan beneficiary, member, policy or group number.
    HealthPlan,
    /// An account number.
    Account,
    /// A payment card number (Luhn-valid), an account number under Safe Harbor.
    CreditCard,
    /// A certificate or licence number (driver's licence, DEA, NPI, state licence).
    License,
    /// A vehicle identifier: VIN or licence plate.
    Vehicle,
    /// A device identifier or serial number (including UDIs).
    Device,
    /// A web URL.
    Url,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// A street address, PO box, or a city named in an address.
    Address,
    /// A ZIP code.
    Zip,
    /// Any other unique identifying number or code (Safe Harbor's last category): an
    /// identifier known by its label or its shape ("Hosp #: E2045503", "ZLE-137-3722-K").
    Id,
}

impl Entity {
    /// Every entity, in a stable order.
    pub const ALL: [Entity; 19] = [
        Entity::Person,
        Entity::Date,
        Entity::Age,
        Entity::Phone,
        Entity::Fax,
        Entity::Email,
        Entity::Ssn,
        Entity::Mrn,
        Entity::HealthPlan,
        Entity::Account,
        Entity::CreditCard,
        Entity::License,
        Entity::Vehicle,
        Entity::Device,
        Entity::Url,
        Entity::IpAddress,
        Entity::Address,
        Entity::Zip,
        Entity::Id,
    ];

    /// The stable upper-case name (`PERSON`, `IP_ADDRESS`, …) used in reports and tokens.
    pub fn name(self) -> &'static str {
        match self {
            Entity::Person => "PERSON",
            Entity::Date => "DATE",
            Entity::Age => "AGE",
            Entity::Phone => "PHONE",
            Entity::Fax => "FAX",
            Entity::Email => "EMAIL",
            Entity::Ssn => "SSN",
            Entity::Mrn => "MRN",
            Entity::HealthPlan => "HEALTH_PLAN",
            Entity::Account => "ACCOUNT",
            Entity::CreditCard => "CREDIT_CARD",
            Entity::License => "LICENSE",
            Entity::Vehicle => "VEHICLE",
            Entity::Device => "DEVICE",
            Entity::Url => "URL",
            Entity::IpAddress => "IP_ADDRESS",
            Entity::Address => "ADDRESS",
            Entity::Zip => "ZIP",
            Entity::Id => "ID",
        }
    }

    /// Parses a name as written by [`Entity::name`].
    pub fn from_name(name: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// Byte spans that words may not overlap, indexed for O(log n) overlap queries (a
/// token-by-span scan is quadratic on long hostile text).
#[derive(Debug, Default)]
pub(crate) struct Spans {
    /// Span starts, ascending.
    starts: Vec<usize>,
    /// The largest end among the spans up to each index.
    max_end: Vec<usize>,
}

impl Spans {
    /// Indexes `spans` (start, end), in any order.
    pub(crate) fn new(mut spans: Vec<(usize, usize)>) -> Self {
        spans.sort_unstable();
        let mut max_end = Vec::with_capacity(spans.len());
        let mut m = 0usize;
        for &(_, e) in &spans {
            m = m.max(e);
            max_end.push(m);
        }
        Spans {
            starts: spans.into_iter().map(|(s, _)| s).collect(),
            max_end,
        }
    }

    /// Whether any span overlaps `start..end`.
    pub(crate) fn overlaps(&self, start: usize, end: usize) -> bool {
        let before_end = self.starts.partition_point(|&s| s < end);
        before_end
            .checked_sub(1)
            .and_then(|i| self.max_end.get(i))
            .is_some_and(|&m| m > start)
    }
}

/// Pattern findings at least this confident keep the name recognizer off their text
/// (street names inside an address are not people).
const CLAIM_CONFIDENCE: f32 = 0.75;

/// How hard the detector looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Safe Harbor, recall first (the default): everything `balanced` finds, plus every
    /// word in a name or place position that the bundled lexicon does not know as safe
    /// (see the `strict` module), identifiers known only by their label or shape, bare
    /// ten-digit phone numbers, compact and month-name dates, ages in words and
    /// shorthand, rural routes and named streets without a number. For anything that
    /// leaves the care relationship.
    #[default]
    Strict,
    /// Precision first: dictionaries, context cues and patterns only. For previews
    /// where a false alarm costs more than a miss.
    Balanced,
}

/// What to do with a detected identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Refuse the whole text: [`Redactor::redact`] returns [`Error::PiiBlocked`].
    Block,
    /// Replace with `[ENTITY]`.
    Mask,
    /// Replace with `[ENTITY-xxxxxxxxxx]`, a keyed HMAC-SHA-256 of the normalized value:
    /// stable for one key, unlinkable across keys.
    Pseudonymize,
    /// Keep the part Safe Harbor allows: a date's year (not a birth date's where the note
    /// states an age over 89 or its latest date is 89 years or more after the birth), a
    /// ZIP's first three digits (`000` for restricted areas), `90+` for an age; other
    /// entities are masked.
    Generalize,
    /// Leave the text as it is; the span is still reported.
    Keep,
}

/// A redaction policy: confidence threshold, action per entity, extra patterns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// `strict` (default, recall first) or `balanced` (precision first).
    pub profile: Profile,
    /// Findings with a confidence below this (0..=1) are ignored. Default 0.5.
    pub threshold: f32,
    /// The action for entities not listed in `actions`. Default mask.
    pub default_action: Action,
    /// Per-entity actions. Defaults: ZIP, DATE and AGE generalize, everything else masks.
    pub actions: BTreeMap<Entity, Action>,
    /// Extra regular expressions for medical record numbers (the whole match, or capture
    /// group 1 when the pattern has one, is the identifier).
    pub mrn_patterns: Vec<String>,
    /// Extra regular expressions for health-plan numbers.
    pub health_plan_patterns: Vec<String>,
    /// Extra regular expressions for account numbers.
    pub account_patterns: Vec<String>,
    /// Extra names to treat as people (matched case-insensitively as whole words), e.g.
    /// the patient's own name known from the record.
    pub names: Vec<String>,
    /// Words never reported as identifiers (matched case-insensitively), e.g. a clinic's
    /// public name.
    pub allow: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        let mut actions = BTreeMap::new();
        actions.insert(Entity::Zip, Action::Generalize);
        actions.insert(Entity::Date, Action::Generalize);
        actions.insert(Entity::Age, Action::Generalize);
        Policy {
            profile: Profile::Strict,
            threshold: 0.5,
            default_action: Action::Mask,
            actions,
            mrn_patterns: Vec::new(),
            health_plan_patterns: Vec::new(),
            account_patterns: Vec::new(),
            names: Vec::new(),
            allow: Vec::new(),
        }
    }
}

impl Policy {
    /// The default policy with the `strict` profile (Safe Harbor, recall first).
    pub fn strict() -> Self {
        Policy::default()
    }

    /// The default policy with the `balanced` profile (precision first).
    pub fn balanced() -> Self {
        Policy {
            profile: Profile::Balanced,
            ..Policy::default()
        }
    }

    /// The action for `entity` under this policy.
    pub fn action(&self, entity: Entity) -> Action {
        self.actions
            .get(&entity)
            .copied()
            .unwrap_or(self.default_action)
    }
}

/// One detected identifier, before any action.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What was found.
    pub entity: Entity,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// Confidence in 0..=1 after context adjustment.
    pub confidence: f32,
    /// Which recognizer produced it (for diagnostics).
    pub recognizer: &'static str,
}

/// One span of the redaction report. Carries no identifier text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    /// What was found.
    pub entity: Entity,
    /// Byte offset of the first byte in the input.
    pub start: usize,
    /// Byte offset one past the last byte in the input.
    pub end: usize,
    /// Confidence in 0..=1.
    pub confidence: f32,
    /// What was done.
    pub action: Action,
    /// Which recognizer produced it.
    pub recognizer: &'static str,
    /// Which kind of signal found it: `pattern` (structure, checksums), `label` (a
    /// label such as "MRN:" or "serial"), `context` (a title, cue word or sentence
    /// position), `dictionary` (name lists), `vocabulary` (a word the lexicon does not
    /// know as safe), `propagation` (the same word found elsewhere in the text) or
    /// `policy` (the caller's own names and patterns).
    pub signal: &'static str,
}

/// The kind of signal behind a recognizer (see [`Span::signal`]).
pub fn signal_of(recognizer: &str) -> &'static str {
    match recognizer {
        r if r.starts_with("custom_") || r == "name_policy" => "policy",
        r if r.ends_with("propagated") => "propagation",
        "vocab_unknown_word" => "vocabulary",
        "vocab_name" | "name_dictionary" | "name_surname_given" => "dictionary",
        r if r.starts_with("vocab_") || r.starts_with("name_") => "context",
        r if r.ends_with("_label") => "label",
        _ => "pattern",
    }
}

/// The result of [`Redactor::redact`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Redaction {
    /// The text with every reported span replaced according to its action.
    pub text: String,
    /// The spans, in text order, with offsets into the input.
    pub spans: Vec<Span>,
}

/// A per-patient pseudonymization key (HMAC-SHA-256). Zeroized on drop.
pub struct PseudonymKey(Zeroizing<Vec<u8>>);

impl PseudonymKey {
    /// Wraps key bytes; at least 16 bytes (32 recommended).
    pub fn new(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 16 {
            return Err(Error::InvalidKey("a pseudonym key needs at least 16 bytes"));
        }
        Ok(PseudonymKey(Zeroizing::new(bytes.to_vec())))
    }

    fn token(&self, entity: Entity, normalized: &str) -> Result<String> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .map_err(|_| Error::InvalidKey("pseudonym key"))?;
        mac.update(entity.name().as_bytes());
        mac.update(&[0]);
        mac.update(normalized.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(10);
        for byte in tag.iter().take(5) {
            hex.push_str(&format!("{byte:02x}"));
        }
        Ok(format!("[{}-{hex}]", entity.name()))
    }
}

impl core::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

/// A compiled detector + policy. Build once, use for many texts.
#[derive(Debug)]
pub struct Redactor {
    policy: Policy,
    patterns: recognizers::Patterns,
    names: names::NameRecognizer,
    allow: Vec<String>,
}

impl Redactor {
    /// Compiles `policy` (its extra patterns and names).
    pub fn new(policy: Policy) -> Result<Self> {
        if !(0.0..=1.0).contains(&policy.threshold) {
            return Err(Error::InvalidConfig("threshold must be within 0..=1"));
        }
        let patterns = recognizers::Patterns::new(&policy)?;
        let names = names::NameRecognizer::new(&policy.names);
        let allow = policy.allow.iter().map(|w| w.to_lowercase()).collect();
        Ok(Redactor {
            policy,
            patterns,
            names,
            allow,
        })
    }

    /// The policy this redactor applies.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Every finding at or above the threshold, overlaps resolved, in text order.
    pub fn analyze(&self, text: &str) -> Vec<Finding> {
        let mut all = self.patterns.find(text);
        let claimed = Spans::new(
            all.iter()
                .filter(|f| f.confidence >= CLAIM_CONFIDENCE.max(self.policy.threshold))
                .map(|f| (f.start, f.end))
                .collect(),
        );
        // Names and the strict profile's scans read the same words.
        let tokens = names::tokenize(text);
        all.extend(self.names.find(text, &tokens, &claimed));
        if self.policy.profile == Profile::Strict {
            all.extend(strict::find(text, &tokens, &claimed));
        }
        all.retain(|f| f.confidence >= self.policy.threshold && !self.allowed(text, f));
        if self.policy.profile == Profile::Strict {
            let towns = strict::towns_after_addresses(text, &all);
            all.extend(towns.into_iter().filter(|f| !self.allowed(text, f)));
            let tails = strict::facility_tails(text, &all);
            all.extend(tails.into_iter().filter(|f| !self.allowed(text, f)));
            let ranges = strict::date_range_ends(text, &all);
            all.extend(ranges.into_iter().filter(|f| !self.allowed(text, f)));
            let heads = strict::date_list_heads(text, &all);
            all.extend(heads.into_iter().filter(|f| !self.allowed(text, f)));
            let initials = strict::initials_beside_names(text, &all);
            all.extend(initials.into_iter().filter(|f| !self.allowed(text, f)));
        }
        match self.policy.profile {
            // Strict redacts the union of overlapping findings: "88 HAWTHORNE" found as a
            // name and "88 HAWTHORNE CIR" as an address leave nothing of either behind.
            Profile::Strict => merge_overlaps(all),
            Profile::Balanced => resolve_overlaps(all),
        }
    }

    fn allowed(&self, text: &str, f: &Finding) -> bool {
        !self.allow.is_empty()
            && text
                .get(f.start..f.end)
                .is_some_and(|s| self.allow.iter().any(|a| *a == s.to_lowercase()))
    }

    /// Redacts `text`. `key` is needed only when some finding's action is
    /// [`Action::Pseudonymize`]; without it that is [`Error::InvalidConfig`].
    pub fn redact(&self, text: &str, key: Option<&PseudonymKey>) -> Result<Redaction> {
        let findings = self.analyze(text);
        if let Some(blocked) = findings
            .iter()
            .find(|f| self.policy.action(f.entity) == Action::Block)
        {
            return Err(Error::PiiBlocked {
                entity: blocked.entity.name(),
                count: findings
                    .iter()
                    .filter(|f| self.policy.action(f.entity) == Action::Block)
                    .count(),
            });
        }
        // Safe Harbor removes every element of a date that tells an age over 89, the year
        // included: a birth date keeps its year only when the note's own latest date
        // shows the person younger than that, and never in a note that states an age
        // over 89.
        let old_age = findings.iter().any(|f| f.entity == Entity::Age);
        let latest_year = findings
            .iter()
            .filter(|f| f.entity == Entity::Date)
            .filter_map(|f| text.get(f.start..f.end))
            .filter_map(|v| recognizers::year_of(v)?.parse::<u32>().ok())
            .max();
        let mut out = String::with_capacity(text.len());
        let mut spans = Vec::with_capacity(findings.len());
        let mut cursor = 0usize;
        for f in findings {
            let (Some(before), Some(value)) = (text.get(cursor..f.start), text.get(f.start..f.end))
            else {
                continue;
            };
            out.push_str(before);
            let action = self.policy.action(f.entity);
            match action {
                Action::Keep => out.push_str(value),
                Action::Mask | Action::Block => mask(&mut out, f.entity),
                Action::Generalize
                    if f.entity == Entity::Date
                        && birth_date(text, f.start)
                        && recognizers::year_of(value)
                            .and_then(|y| y.parse::<u32>().ok())
                            .is_some_and(|born| {
                                old_age || latest_year.is_some_and(|r| r.saturating_sub(born) >= 89)
                            }) =>
                {
                    mask(&mut out, f.entity);
                }
                Action::Generalize => generalize(&mut out, f.entity, value),
                Action::Pseudonymize => {
                    let key = key.ok_or(Error::InvalidConfig(
                        "the policy pseudonymizes but no pseudonym key was given",
                    ))?;
                    out.push_str(&key.token(f.entity, &normalize(f.entity, value))?);
                }
            }
            cursor = f.end;
            spans.push(Span {
                entity: f.entity,
                start: f.start,
                end: f.end,
                confidence: f.confidence,
                action,
                recognizer: f.recognizer,
                signal: signal_of(f.recognizer),
            });
        }
        out.push_str(text.get(cursor..).unwrap_or_default());
        Ok(Redaction { text: out, spans })
    }
}

/// Whether the date at byte `start` is a birth date: a word of birth just before it
/// ("DOB: 03/14/1931", "born in 1931", "Date of Birth 1931").
fn birth_date(text: &str, start: usize) -> bool {
    let from = start.saturating_sub(24);
    let before = (from..=start)
        .find(|&k| text.is_char_boundary(k))
        .and_then(|k| text.get(k..start))
        .unwrap_or_default()
        .to_ascii_lowercase();
    ["dob", "d.o.b", "birth", "born", "yob"]
        .iter()
        .any(|w| before.contains(w))
}

fn mask(out: &mut String, entity: Entity) {
    out.push('[');
    out.push_str(entity.name());
    out.push(']');
}

/// The three-digit ZIP areas with 20,000 or fewer people (2000 Census), which Safe
/// Harbor requires to be replaced by `000`.
const RESTRICTED_ZIP3: [&str; 17] = [
    "036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878",
    "879", "884", "890", "893",
];

fn generalize(out: &mut String, entity: Entity, value: &str) {
    match entity {
        Entity::Zip => {
            let zip3 = value.get(..3).unwrap_or("000");
            if RESTRICTED_ZIP3.contains(&zip3) || !zip3.bytes().all(|b| b.is_ascii_digit()) {
                out.push_str("000**");
            } else {
                out.push_str(zip3);
                out.push_str("**");
            }
        }
        Entity::Date => match recognizers::year_of(value) {
            Some(year) => out.push_str(year),
            None => mask(out, entity),
        },
        Entity::Age => out.push_str("90+"),
        _ => mask(out, entity),
    }
}

/// The form of a value that pseudonymization hashes: the same identifier written
/// differently ("(555) 010-2030" / "555.010.2030", "SMITH" / "Smith") gets one token.
fn normalize(entity: Entity, value: &str) -> String {
    match entity {
        Entity::Phone | Entity::Fax | Entity::Ssn | Entity::CreditCard | Entity::Zip => {
            value.chars().filter(char::is_ascii_digit).collect()
        }
        Entity::Person | Entity::Address => value
            .split(|c: char| c.is_whitespace() || c == ',' || c == '.')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" "),
        Entity::Email | Entity::Url => value.to_lowercase(),
        _ => value
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_uppercase)
            .collect(),
    }
}

/// Merges overlapping findings into one span each, labelled by the best-ranked of them
/// (most confident, then longest), in text order. O(n log n).
fn merge_overlaps(all: Vec<Finding>) -> Vec<Finding> {
    let mut sorted: Vec<Finding> = all.into_iter().filter(|f| f.start < f.end).collect();
    sorted.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Finding> = Vec::with_capacity(sorted.len());
    for f in sorted {
        match out.last_mut() {
            Some(last) if f.start < last.end => {
                let better = f.confidence > last.confidence
                    || (f.confidence == last.confidence
                        && f.end.saturating_sub(f.start) > last.end.saturating_sub(last.start));
                if better {
                    last.entity = f.entity;
                    last.confidence = f.confidence;
                    last.recognizer = f.recognizer;
                }
                last.end = last.end.max(f.end);
            }
            _ => out.push(f),
        }
    }
    out
}

fn rank(all: &mut [Finding]) {
    all.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(
                b.end
                    .saturating_sub(b.start)
                    .cmp(&a.end.saturating_sub(a.start)),
            )
            .then(a.start.cmp(&b.start))
    });
}

/// Keeps the most confident (then longest, then earliest) of overlapping findings.
/// O(n log n): the kept spans are disjoint, so only the kept span starting last before
/// a candidate's end can overlap it.
fn resolve_overlaps(mut all: Vec<Finding>) -> Vec<Finding> {
    rank(&mut all);
    let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
    let mut kept: Vec<Finding> = Vec::with_capacity(all.len());
    for f in all {
        let overlaps = taken
            .range(..f.end)
            .next_back()
            .is_some_and(|(_, &end)| end > f.start);
        if f.start < f.end && !overlaps {
            taken.insert(f.start, f.end);
            kept.push(f);
        }
    }
    kept.sort_by_key(|f| f.start);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_index_finds_every_overlap() {
        let spans = Spans::new(vec![(12, 14), (0, 10), (3, 5), (30, 31)]);
        assert!(spans.overlaps(5, 8));
        assert!(spans.overlaps(9, 13));
        assert!(spans.overlaps(13, 20));
        assert!(!spans.overlaps(10, 12));
        assert!(!spans.overlaps(14, 30));
        assert!(spans.overlaps(0, 100));
        assert!(!Spans::default().overlaps(0, 100));
    }

    fn finding(start: usize, end: usize, confidence: f32) -> Finding {
        Finding {
            entity: Entity::Person,
            start,
            end,
            confidence,
            recognizer: "t",
        }
    }

    #[test]
    fn overlap_rules_of_both_profiles() {
        let all = vec![
            finding(0, 10, 0.6),
            finding(5, 12, 0.9),
            finding(20, 25, 0.7),
        ];
        // Balanced keeps the most confident of overlapping findings.
        let kept = resolve_overlaps(all.clone());
        let spans: Vec<(usize, usize)> = kept.iter().map(|f| (f.start, f.end)).collect();
        assert_eq!(spans, vec![(5, 12), (20, 25)]);
        // Strict redacts their union, labelled by the most confident.
        let merged = merge_overlaps(all);
        let spans: Vec<(usize, usize, f32)> = merged
            .iter()
            .map(|f| (f.start, f.end, f.confidence))
            .collect();
        assert_eq!(spans, vec![(0, 12, 0.9), (20, 25, 0.7)]);
    }
}
