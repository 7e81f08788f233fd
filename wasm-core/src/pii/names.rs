//! Person names: dictionaries of common given names and surnames, context cues
//! (titles, "Patient:", kinship words, "seen by"), "Surname, Given" order, and
//! propagation of a name found with confidence to its other mentions in the text.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::{Entity, Finding};

const FIRST_NAMES: &str = include_str!("first_names.txt");
const LAST_NAMES: &str = include_str!("last_names.txt");

/// Titles that introduce a name ("Dr. Okafor", "Mrs. Lee").
const TITLES: &[&str] = &[
    "dr", "mr", "mrs", "ms", "mx", "miss", "prof", "doctor", "nurse", "sr", "sra", "srta",
];

/// Words that, right before a capitalized word, mark it as a name.
const CUES: &[&str] = &[
    "patient",
    "pt",
    "name",
    "attending",
    "pcp",
    "provider",
    "physician",
    "surgeon",
    "resident",
    "intern",
    "fellow",
    "np",
    "pa",
    "rn",
    "lpn",
    "cna",
    "contact",
    "nok",
    "guardian",
    "by",
    "daughter",
    "son",
    "wife",
    "husband",
    "mother",
    "father",
    "sister",
    "brother",
    "spouse",
    "partner",
    "caregiver",
    "friend",
    "neighbor",
    "neighbour",
    "grandson",
    "granddaughter",
    "grandmother",
    "grandfather",
    "aunt",
    "uncle",
    "niece",
    "nephew",
    "cousin",
    "mom",
    "dad",
    "fiancé",
    "fiance",
    "roommate",
    "cc",
    "signed",
    "dictated",
    "cosigned",
    "mrs",
    "mr",
];

/// Verbs that, followed by "with"/"to", introduce a person ("spoke with Maria").
const TALK_VERBS: &[&str] = &[
    "spoke",
    "speak",
    "talked",
    "met",
    "discussed",
    "called",
    "consulted",
    "messaged",
    "emailed",
    "paged",
];

/// Verbs that, followed by "by", introduce a person ("seen by Lee").
const BY_VERBS: &[&str] = &[
    "seen",
    "referred",
    "signed",
    "accompanied",
    "dictated",
    "examined",
    "evaluated",
    "reviewed",
    "brought",
    "visited",
    "written",
    "prescribed",
    "cosigned",
    "approved",
    "transcribed",
    "driven",
    "escorted",
    "attended",
    "treated",
    "followed",
];

/// Capitalized words that are never names (sentence starters, clinical and calendar
/// words), and given names that are also common words.
const NOT_NAMES: &[&str] = &[
    "the",
    "a",
    "an",
    "he",
    "she",
    "his",
    "her",
    "hers",
    "him",
    "they",
    "their",
    "them",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "we",
    "our",
    "i",
    "my",
    "you",
    "your",
    "patient",
    "pt",
    "no",
    "not",
    "none",
    "denies",
    "reports",
    "states",
    "notes",
    "on",
    "in",
    "at",
    "of",
    "for",
    "to",
    "and",
    "or",
    "but",
    "with",
    "without",
    "per",
    "plan",
    "history",
    "hx",
    "assessment",
    "impression",
    "diagnosis",
    "dx",
    "hospital",
    "clinic",
    "center",
    "centre",
    "medical",
    "emergency",
    "department",
    "unit",
    "ward",
    "room",
    "street",
    "avenue",
    "road",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "today",
    "yesterday",
    "tomorrow",
    "also",
    "will",
    "may",
    "can",
    "mg",
    "iv",
    "ed",
    "er",
    "icu",
    "md",
    "rn",
    "np",
    "bp",
    "hr",
    "rr",
    "o2",
    "ekg",
    "ecg",
    "ct",
    "mri",
    "cbc",
    "follow",
    "followup",
    "return",
    "continue",
    "start",
    "stop",
    "discharge",
    "admit",
    "admitted",
    "seen",
    "called",
    "spoke",
    "called",
    "referred",
    "signed",
    "mother",
    "father",
    "daughter",
    "son",
    "wife",
    "husband",
    "family",
    "social",
    "past",
    "medications",
    "allergies",
    "vitals",
    "exam",
    "labs",
    "chief",
    "complaint",
    "present",
    "illness",
    "review",
    "systems",
    "physical",
    "general",
    "heent",
    "neck",
    "lungs",
    "heart",
    "abdomen",
    "extremities",
    "neuro",
    "skin",
    "psych",
    "subjective",
    "objective",
    "note",
    "progress",
    "nursing",
    "summary",
    "instructions",
    "orders",
    "dr",
    "mr",
    "mrs",
    "ms",
    "mx",
    "miss",
    "prof",
    "doctor",
    "nurse",
    "is",
    "was",
    "has",
    "had",
    "been",
    "be",
    "are",
    "were",
    "if",
    "then",
    "after",
    "before",
    "during",
    "while",
    "when",
    "where",
    "who",
    "what",
    "which",
    "how",
    "why",
    "there",
    "here",
    "yes",
    "ok",
    "okay",
    "please",
    "thank",
    "thanks",
    "dear",
    "regards",
    "sincerely",
    "call",
    "phone",
    "fax",
    "email",
    "address",
    "mrn",
    "dob",
    "ssn",
    "age",
    "sex",
    "male",
    "female",
    "english",
    "spanish",
    "christmas",
    "easter",
    "thanksgiving",
    "mark",
    "grace",
    "hope",
    "faith",
    "joy",
    "rose",
    "bill",
    "sue",
    "pat",
    "art",
    "dawn",
    "summer",
    "page",
    "long",
    "young",
    "brown",
    "white",
    "black",
    "green",
    "gray",
    "grey",
    "king",
    "hill",
    "wood",
    "bell",
    "price",
    "cook",
    "rice",
    "chase",
    "case",
    "best",
    "small",
    "strong",
    "short",
    "little",
    "good",
    "love",
    "day",
    "hall",
    "lane",
    "ward",
    "west",
    "stone",
    "fox",
    "hunt",
    "fields",
    "banks",
    "park",
    "wall",
    "house",
    "church",
    "branch",
    "snow",
    "frost",
    "glass",
    "rich",
    "golden",
    "cross",
    "moss",
    "walls",
    "french",
    "noble",
    "north",
    "south",
    "east",
    "new",
    "saint",
    "st",
    "medicare",
    "medicaid",
    "insurance",
    "aspirin",
    "tylenol",
    "advil",
    "motrin",
    "lasix",
    "coumadin",
    "metformin",
    "insulin",
    "lisinopril",
    "normal",
    "stable",
    "negative",
    "positive",
    "pain",
    "fever",
    "cough",
    "nausea",
    "covid",
    "type",
    "diabetes",
    "hypertension",
    "disease",
    "syndrome",
    "cancer",
    "oncology",
    "cardiology",
    "neurology",
    "pediatrics",
    "surgery",
    "radiology",
    "pharmacy",
    "lab",
    "laboratory",
    "health",
    "care",
    "services",
    "university",
    "memorial",
    "general",
    "regional",
    "community",
    "county",
    "state",
    "city",
    "united",
    "states",
    "america",
    "usa",
    "us",
    "am",
    "pm",
    "id",
    "apt",
    "suite",
    "box",
    "po",
    "lives",
    "resides",
    "moved",
    "from",
    "visit",
    "visited",
    "date",
    "time",
    "nkda",
    "prn",
    "bid",
    "tid",
    "qid",
    "po",
    "sig",
    "mrs.",
    "per",
    "via",
    "re",
    "see",
    "sent",
    "left",
    "right",
    "bilateral",
    "upper",
    "lower",
];

/// Lower-case name particles allowed inside a name ("Maria de la Cruz").
const PARTICLES: &[&str] = &[
    "de", "del", "la", "van", "von", "der", "den", "da", "di", "le", "du", "al", "el", "bin",
    "ibn", "ben", "dos", "das", "y",
];

struct Dicts {
    first: HashSet<&'static str>,
    last: HashSet<&'static str>,
    not_names: HashSet<&'static str>,
}

fn dicts() -> &'static Dicts {
    static DICTS: OnceLock<Dicts> = OnceLock::new();
    DICTS.get_or_init(|| Dicts {
        first: FIRST_NAMES.split_whitespace().collect(),
        last: LAST_NAMES.split_whitespace().collect(),
        not_names: NOT_NAMES.iter().copied().collect(),
    })
}

#[derive(Debug, Clone)]
struct Token {
    start: usize,
    end: usize,
    lower: String,
    /// First letter upper-case and not all upper-case beyond one letter (or an initial).
    capitalized: bool,
    /// A single letter followed by a period ("J.").
    initial: bool,
    /// The non-space characters between the previous token and this one.
    gap: String,
    /// Whether a line break separates this token from the previous one.
    newline_before: bool,
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut gap = String::new();
    let mut newline = false;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c.is_alphabetic() {
            let start = i;
            let mut end = i.saturating_add(c.len_utf8());
            while let Some(&(j, d)) = iter.peek() {
                let joiner = matches!(d, '\'' | '’' | '-');
                if d.is_alphabetic() || d.is_ascii_digit() {
                    end = j.saturating_add(d.len_utf8());
                    iter.next();
                } else if joiner {
                    // Keep the joiner only when a letter follows it.
                    let next_is_letter = text
                        .get(j.saturating_add(d.len_utf8())..)
                        .and_then(|rest| rest.chars().next())
                        .is_some_and(char::is_alphabetic);
                    if next_is_letter {
                        end = j.saturating_add(d.len_utf8());
                        iter.next();
                    } else {
                        break;
                    }
                } else {
                    break;
                }
            }
            let Some(word) = text.get(start..end) else {
                continue;
            };
            let mut chars = word.chars();
            let first_upper = chars.next().is_some_and(char::is_uppercase);
            let letters = word.chars().filter(|c| c.is_alphabetic()).count();
            let any_lower = word.chars().any(char::is_lowercase);
            let followed_by_period = text.get(end..).is_some_and(|r| r.starts_with('.'));
            let initial = letters == 1 && first_upper && followed_by_period;
            // Strip a possessive "'s" from the span.
            let end = if word.ends_with("'s") || word.ends_with("’s") {
                end.saturating_sub(if word.ends_with("'s") { 2 } else { 4 })
            } else {
                end
            };
            let lower = text.get(start..end).unwrap_or_default().to_lowercase();
            // An all-capitals word counts as a name only when the dictionaries know it
            // ("ANA RUIZ"), so acronyms (ECG, COPD) do not.
            let known_caps = letters >= 2 && !any_lower && {
                let d = dicts();
                d.first.contains(lower.as_str()) || d.last.contains(lower.as_str())
            };
            tokens.push(Token {
                start,
                end,
                lower,
                capitalized: first_upper && (any_lower || initial || known_caps),
                initial,
                gap: std::mem::take(&mut gap),
                newline_before: std::mem::take(&mut newline),
            });
        } else {
            if c == '\n' {
                newline = true;
            }
            if !c.is_whitespace() {
                gap.push(c);
            }
        }
    }
    tokens
}

/// The name recognizer (dictionaries are shared; per-policy extra names).
#[derive(Debug)]
pub(super) struct NameRecognizer {
    extra: Vec<Vec<String>>,
}

impl NameRecognizer {
    pub(super) fn new(extra: &[String]) -> Self {
        NameRecognizer {
            extra: extra
                .iter()
                .map(|n| n.split_whitespace().map(str::to_lowercase).collect())
                .filter(|v: &Vec<String>| !v.is_empty())
                .collect(),
        }
    }

    /// Name findings that do not overlap `claimed` spans (other entities found with
    /// confidence, such as street names inside an address).
    pub(super) fn find(&self, text: &str, claimed: &[(usize, usize)]) -> Vec<Finding> {
        let d = dicts();
        let tokens = tokenize(text);
        let free = |t: &Token| !claimed.iter().any(|&(s, e)| t.start < e && s < t.end);
        let nameish = |t: &Token| {
            t.capitalized && free(t) && (t.initial || !d.not_names.contains(t.lower.as_str()))
        };
        let mut out: Vec<Finding> = Vec::new();
        let push = |out: &mut Vec<Finding>, from: usize, to: usize, score: f32, rec| {
            if let (Some(a), Some(b)) = (tokens.get(from), tokens.get(to)) {
                out.push(Finding {
                    entity: Entity::Person,
                    start: a.start,
                    end: b.end,
                    confidence: score,
                    recognizer: rec,
                });
            }
        };
        // Extend a name from token `i` over following name tokens on the same line.
        let extend = |i: usize, max: usize| -> usize {
            let mut j = i;
            let mut taken = 1usize;
            while taken < max {
                let Some(next) = tokens.get(j.saturating_add(1)) else {
                    break;
                };
                let cur = tokens.get(j);
                let joined =
                    next.gap.is_empty() || cur.is_some_and(|c| c.initial && next.gap == ".");
                if next.newline_before || !joined {
                    break;
                }
                if nameish(next) {
                    j = j.saturating_add(1);
                    taken = taken.saturating_add(1);
                } else if PARTICLES.contains(&next.lower.as_str()) {
                    // A particle counts only when a capitalized part follows it.
                    let mut k = j.saturating_add(1);
                    while tokens
                        .get(k)
                        .is_some_and(|t| PARTICLES.contains(&t.lower.as_str()) && t.gap.is_empty())
                    {
                        k = k.saturating_add(1);
                    }
                    match tokens.get(k) {
                        Some(t) if t.gap.is_empty() && nameish(t) => {
                            j = k;
                            taken = taken.saturating_add(1);
                        }
                        _ => break,
                    }
                } else {
                    break;
                }
            }
            j
        };

        // Extra names from the policy, in any case.
        for i in 0..tokens.len() {
            for parts in &self.extra {
                let all = parts.iter().enumerate().all(|(k, p)| {
                    tokens
                        .get(i.saturating_add(k))
                        .is_some_and(|tk| &tk.lower == p && free(tk))
                });
                if all {
                    let j = i.saturating_add(parts.len()).saturating_sub(1);
                    push(&mut out, i, j, 0.95, "name_policy");
                }
            }
        }
        for (i, t) in tokens.iter().enumerate() {
            if !nameish(t) {
                continue;
            }
            let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
            let prev2 = i.checked_sub(2).and_then(|p| tokens.get(p));
            let gap_ok = |g: &str| g.is_empty() || g == "." || g == ":" || g == ",";
            // 1. A title right before: "Dr. Okafor", "Mrs. J. Lee".
            if let Some(p) = prev {
                if TITLES.contains(&p.lower.as_str()) && p.capitalized && gap_ok(&t.gap) {
                    let j = extend(i, 3);
                    push(&mut out, i, j, 0.9, "name_title");
                    continue;
                }
                // 2. A cue word: "Patient: Ana Ruiz", "daughter Maria", "seen by Lee".
                let cue = CUES.contains(&p.lower.as_str())
                    && (p.lower != "by"
                        || prev2.is_some_and(|q| BY_VERBS.contains(&q.lower.as_str())))
                    && (t.gap.is_empty() || t.gap == ":" || t.gap == "-" || t.gap == ",");
                let talk = matches!(p.lower.as_str(), "with" | "to")
                    && prev2.is_some_and(|q| TALK_VERBS.contains(&q.lower.as_str()));
                if (cue || talk) && !t.newline_before {
                    let j = extend(i, 3);
                    push(&mut out, i, j, 0.85, "name_cue");
                    continue;
                }
            }
            // 4. "Surname, Given" with a known given name.
            if let Some(next) = tokens.get(i.saturating_add(1)) {
                if next.gap == ","
                    && !next.newline_before
                    && nameish(next)
                    && d.first.contains(next.lower.as_str())
                    && d.last.contains(t.lower.as_str())
                {
                    let j = extend(i.saturating_add(1), 2);
                    push(&mut out, i, j, 0.8, "name_surname_given");
                    continue;
                }
            }
            // 5. Dictionaries.
            let is_first = d.first.contains(t.lower.as_str());
            let is_last = d.last.contains(t.lower.as_str());
            if is_first || is_last {
                let j = extend(i, 3);
                let multi = j > i;
                let tail_known =
                    (i.saturating_add(1)..=j)
                        .filter_map(|k| tokens.get(k))
                        .any(|tk| {
                            d.last.contains(tk.lower.as_str())
                                || d.first.contains(tk.lower.as_str())
                        });
                let score = match (is_first, multi, tail_known) {
                    (true, true, _) => 0.8,
                    (false, true, true) => 0.7,
                    (true, false, _) => 0.6,
                    (false, true, false) => 0.45,
                    (false, false, _) => 0.4,
                };
                push(&mut out, i, j, score, "name_dictionary");
            }
        }

        // 6. Propagation: a name part found with confidence marks its other mentions.
        let confident: HashSet<String> = out
            .iter()
            .filter(|f| f.confidence >= 0.7)
            .flat_map(|f| {
                tokens
                    .iter()
                    .filter(move |t| t.start >= f.start && t.end <= f.end)
                    .filter(|t| !t.initial && t.lower.chars().count() >= 3)
                    .map(|t| t.lower.clone())
            })
            .collect();
        if !confident.is_empty() {
            for t in &tokens {
                if nameish(t)
                    && confident.contains(&t.lower)
                    && !out
                        .iter()
                        .any(|f| t.start < f.end && f.start < t.end && f.confidence >= 0.7)
                {
                    out.push(Finding {
                        entity: Entity::Person,
                        start: t.start,
                        end: t.end,
                        confidence: 0.75,
                        recognizer: "name_propagated",
                    });
                }
            }
        }
        out
    }
}
