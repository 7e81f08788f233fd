//! The strict profile's recall-first tagger for names and places: "keep only what is
//! known safe".
//!
//! Every word is looked up in the lexicon (`lexicon.rs`: ordinary English and medical
//! words, drug names, eponyms, given names and surnames). A word in a name or place
//! position that the lexicon does not know as safe is redacted, so a surname or a town
//! that no dictionary lists ("Okafor", "Fernbrook") is caught as well as a listed one.
//! Which positions count depends on how the line is written:
//!
//! * ordinary mixed-case text: capitalized words (a known name that is not also a
//!   frequent English word, or any unknown word of three or more letters);
//! * a line typed in lower case (patient messages): every unknown word that is not one
//!   edit away from a frequent word (a typo), and every given name or surname that is
//!   not also an English word;
//! * an ALL-CAPS line (registration forms): unknown words and uncommon names.
//!
//! Names that are also frequent words ("Will", "Grace", "Brown") count only after a cue
//! (a title, "Re:", "cc:", a kinship word, "Dear"), next to another name, or after a
//! place word for places ("driving in from Larch Hollow"). Drug names, eponyms, months
//! and states stay even when capitalized ("Parkinson's", "Foley", "Lasix"), unless a
//! title names a person ("Dr. Foley"). Runs of name words are joined with their
//! initials and particles, and every word redacted once is redacted everywhere else in
//! the text (document-level propagation).
//!
//! More rules come from real clinical notes (the i2b2 2014 notes in
//! `scripts/pii/i2b2_dev_set.py`):
//!
//! * an unknown word with the shape of a medical term (a medical ending from nine
//!   letters, a medical beginning from ten, or a common prefix before a known word:
//!   "Hydroxychloroquine", "Normocephalic", "reintubation") is no name;
//! * a surname that is also a dictionary word and is found only by the name lists stays
//!   when the same note writes it in lower case ("Sternal pain." over "no sternal wires");
//! * the capitalized words in front of a care facility word are the facility's name
//!   ("SILVER RIDGE EMERGENCY DEPT", "Briar Creek Medical Center"), unless they only
//!   describe it ("the Cardiology Clinic"); likewise the words in front of a capitalized
//!   landform word, which is then part of the place's name ("Silver Ridge", "Cedar
//!   Falls").
//!
//! US towns come from the USPS city names in the lexicon (`PLACE`): a town that is not a
//! frequent word is a place capitalized inside a sentence ("a retired Fresno teacher"),
//! and after a place word in lower case ("moved to oswego"); a town of two or three
//! ordinary words is one entry ("Silver Spring", "lake oswego"), found where it is
//! capitalized inside a sentence or follows a place word (`town_names`).

use std::collections::HashSet;

use super::lexicon::{self, CAPSAFE, COMMON, FIRST, FIRST_CORE, LAST, PLACE, SAFE};
use super::names::{Token, CUES, TITLES};
use super::{Entity, Finding, Spans};

/// Words after which the following name-like words are a person: the name
/// recognizer's titles and cues (`names::TITLES`, `names::CUES`) and these.
const MORE_PERSON_CUES: &[&str] = &[
    "sir",
    "madam",
    "lady",
    "lord",
    "dame",
    "re",
    "attn",
    "dear",
    "hi",
    "hello",
    "caller",
    // "hi its marguerite", "it's gus".
    "its",
    "it's",
    "grandma",
    "grandpa",
    "boyfriend",
    "girlfriend",
    "from",
    "to",
    "per",
    "with",
    "thanks",
    "regards",
    "w",
    // A physician named by the degree ("ORDER CHECKED W/MD SPEARS"); "MD" is also
    // Maryland, which a name seldom follows.
    "md",
];

fn person_cue(word: &str) -> bool {
    // Asked of nearly every word: one hash lookup instead of scanning three lists.
    static ALL: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        TITLES
            .iter()
            .chain(CUES)
            .chain(MORE_PERSON_CUES)
            .copied()
            .collect()
    })
    .contains(word)
}

/// Cues that are weak on their own ("from", "to", "with"): they make a capitalized
/// known name count, not a frequent word in lower case.
const WEAK_CUES: &[&str] = &["from", "to", "by", "per", "with", "w", "thanks", "regards"];

/// Words after which the following capitalized words are a place.
const PLACE_CUES: &[&str] = &[
    "from", "in", "near", "at", "to", "lives", "moved", "town", "city", "village", "visiting",
    "of", "outside", "toward", "towards",
];

/// Place words that are weak on their own ("to", "at", "of"): after them only a known
/// name or an unknown word is a place, not any uncommon word ("booster of Tdap").
const WEAK_PLACE_CUES: &[&str] = &["to", "at", "of"];

/// Given names that are also verbs, which "to" makes the verb ("to mark hall b", "to
/// bill medicare").
const GIVEN_VERBS: &[&str] = &[
    "mark", "bill", "will", "jack", "pat", "sue", "rob", "bob", "hope", "grace", "may", "dawn",
    "nick", "drew", "chase", "carol", "frank", "ray", "sky", "skip", "rusty", "wade", "sally",
];

/// Verbs of speaking to or reaching someone, which the name of whom they reach follows
/// ("please ask mary white", "spoke john smith"): evidence for a given name and surname
/// in lower case.
const ADDRESSING: &[&str] = &[
    "ask",
    "asked",
    "tell",
    "told",
    "thank",
    "call",
    "called",
    "text",
    "texted",
    "email",
    "emailed",
    "page",
    "paged",
    "saw",
    "see",
    "seen",
    "meet",
    "met",
    "spoke",
    "talked",
    "messaged",
    "contact",
    "contacted",
    "notify",
    "notified",
    "inform",
    "informed",
    "remind",
];

/// Honorifics: the word right after one is a name, whatever else it is.
const HONORIFICS: &[&str] = &[
    "dr", "mr", "mrs", "ms", "mx", "miss", "prof", "sr", "sra", "srta",
];

/// Whether `title` is a Spanish title ("Sr.", "Sra.", "Srta."), which counts only with its
/// period: "sr" alone is sinus rhythm in notes ("sr no ectopy").
fn spanish_title(title: &str) -> bool {
    matches!(title, "sr" | "sra" | "srta")
}

/// Kinship words: a given name right after one is the relative's.
const KIN: &[&str] = &[
    "son",
    "daughter",
    "dtr",
    "wife",
    "husband",
    "mother",
    "father",
    "mom",
    "dad",
    "sister",
    "brother",
    "grandson",
    "granddaughter",
    "niece",
    "nephew",
    "aunt",
    "uncle",
    "spouse",
    "partner",
    // Plurals: the names after them are the relatives' ("daughters sarah and margie").
    "sons",
    "daughters",
    "dtrs",
    "sisters",
    "brothers",
    "grandsons",
    "granddaughters",
    "nieces",
    "nephews",
];

/// Verbs of living somewhere or moving there, before "in", "to", "from" or "near".
const RESIDING: &[&str] = &[
    "lives",
    "live",
    "living",
    "lived",
    "resides",
    "reside",
    "residing",
    "resided",
    "moved",
    "moving",
    "relocated",
    "relocating",
    "born",
    "raised",
    "grew",
];

/// What is done with a drug, after its abbreviation ("ms given", "ms held").
const DOSING: &[&str] = &[
    "given",
    "held",
    "started",
    "stopped",
    "increased",
    "decreased",
    "titrated",
    "weaned",
    "ordered",
    "iv",
    "po",
    "sq",
    "sc",
    "im",
    "ivp",
    "prn",
    "gtt",
    "drip",
];

/// Where someone lives or stays, after its owner's name ("black's house").
const DWELLINGS: &[&str] = &[
    "house",
    "home",
    "place",
    "apartment",
    "apt",
    "farm",
    "condo",
];

/// Words that follow a title or kinship word without being a name ("dr. on call",
/// "son will visit", "dr. notified", "husband CEO of").
const AFTER_CUE_FUNCTION: &[&str] = &[
    "a",
    "an",
    "the",
    "and",
    "or",
    "of",
    "on",
    "in",
    "at",
    "to",
    "for",
    "with",
    "by",
    "from",
    "is",
    "was",
    "are",
    "were",
    "be",
    "been",
    "has",
    "had",
    "have",
    "will",
    "would",
    "can",
    "could",
    "may",
    "might",
    "must",
    "should",
    "shall",
    "did",
    "does",
    "do",
    "not",
    "who",
    "that",
    "this",
    "also",
    "aware",
    "notified",
    "paged",
    "called",
    "updated",
    "informed",
    "consulted",
    "here",
    "there",
    "said",
    "says",
    "states",
    "stated",
    "reports",
    "visited",
    "visiting",
    "at",
    "bedside",
    "present",
    // "ONE CONTACT PERSON (CHARLIE)": the noun the cue word heads.
    "person",
    "persons",
    "people",
    "in-law",
    "team",
    "office",
    "orders",
    "order",
    "now",
    "still",
    "then",
    "again",
    // What someone is, not who ("HUSBAND CEO OF ...", "son owner of the shop").
    "ceo",
    "cfo",
    "president",
    "owner",
    "founder",
    "chairman",
];

/// Titles written with a period ("Dr. Okafor"): the period does not end the cue.
const TITLE_ABBREVIATIONS: &[&str] = &["dr", "mr", "mrs", "ms", "mx", "prof", "st"];

/// Words that end a town's name after the name itself ("Milford Mill", "Glens Falls").
const PLACE_SUFFIXES: &[&str] = &[
    "mill", "mills", "falls", "springs", "heights", "hills", "creek", "valley", "village",
    "junction", "landing", "ridge", "grove", "beach", "harbor", "park", "city", "township",
];

/// Words that open a place name ("New Harwick", "Port Ellis").
const PLACE_PREFIXES: &[&str] = &[
    "new", "north", "south", "east", "west", "port", "fort", "ft", "saint", "st", "san", "santa",
    "los", "las", "el", "mount", "mt", "lake", "glen", "upper", "lower", "little", "great",
];

/// Verbs that, after a sentence's first word, make a given name that is also a frequent
/// word the subject ("Hope called back", "Will says").
const PERSON_VERBS: &[&str] = &[
    "tolerated",
    "tolerates",
    "called",
    "calls",
    "reports",
    "reported",
    "states",
    "stated",
    "said",
    "says",
    "asked",
    "asks",
    "wants",
    "wanted",
    "came",
    "comes",
    "arrived",
    "visited",
    "visits",
    "lives",
    "drives",
    "drove",
    "brought",
    "brings",
    "declined",
    "agreed",
    "agrees",
    "denies",
    "denied",
    "fell",
    "presents",
    "presented",
    "complains",
    "texted",
    "emailed",
    "phoned",
    "signed",
    "consented",
    "refused",
    "requested",
    "requests",
    "is",
    "was",
    "has",
    "had",
];

/// What a clinician named by an initial and a surname does ("J SMITH ORDERED").
const CLINICIAN_ACTS: &[&str] = &[
    "ordered",
    "aware",
    "notified",
    "informed",
    "paged",
    "updated",
    "saw",
    "examined",
    "placed",
    "consulted",
    "wrote",
    "came",
    "called",
    "stated",
    "requested",
    "approved",
    "recommended",
    "recommends",
    "evaluated",
    "assessed",
    "discussed",
    "spoke",
];

/// Greetings a writer names themself after ("hi its jimmy").
const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "morning",
    "afternoon",
    "evening",
    "nurse",
    "doctor",
    "doc",
];

/// Words a capital letter follows as a name of its own, not as a given name's initial
/// ("Hepatitis B. Long-term …", "vitamin D. Young adults …").
const LETTER_NAMED: &[&str] = &[
    "vitamin",
    "hepatitis",
    "hep",
    "type",
    "class",
    "grade",
    "stage",
    "phase",
    "factor",
    "group",
    "plan",
    "part",
    "section",
    "lead",
    "level",
    "zone",
    "wing",
    "tower",
    "unit",
    "room",
    "bay",
    "pod",
    "team",
    "cluster",
    "strep",
    "influenza",
    "flu",
    "protein",
    "complex",
    "apo",
    "hemoglobin",
    "hgb",
    "step",
    "option",
    "category",
    "schedule",
    "appendix",
    "exhibit",
    "figure",
    "table",
    "form",
    "list",
    "suite",
    "floor",
    "building",
    "bldg",
    "area",
    "lot",
    "row",
    "seat",
    "gate",
    "door",
    "line",
    "track",
];

/// Lower-case name particles ("Maria de la Cruz").
const PARTICLES: &[&str] = &[
    "de", "del", "la", "van", "von", "der", "den", "da", "di", "le", "du", "al", "el", "bin",
    "ibn", "ben", "dos", "das", "mc", "mac", "o",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Mixed,
    /// Mixed case with most words capitalized: a heading ("Chief Complaint: Chest
    /// Pain"), where a capitalized frequent word is no sign of a name.
    Title,
    Lower,
    Upper,
}

/// How each line is written, by the share of capitalized and all-capitals words. A line
/// of fewer than three words says little by itself; it is written as the text around it
/// is when nearly all of the text's longer lines are in lower case or in capitals (a
/// name alone on its line in a message typed in lower case, "girresnet , diedreo a"; a
/// typist's initials under their label in a note in capitals, "TR :" / "QP / BMOT"), and
/// is read as ordinary text otherwise.
fn line_modes(tokens: &[Token]) -> Vec<Mode> {
    let mut modes = vec![Mode::Mixed; tokens.len()];
    let mut short = Vec::new();
    let (mut lower_words, mut upper_words, mut all_words) = (0usize, 0usize, 0usize);
    let mut start = 0usize;
    while start < tokens.len() {
        let mut end = start.saturating_add(1);
        while tokens.get(end).is_some_and(|t| !t.newline_before) {
            end = end.saturating_add(1);
        }
        let words: Vec<(usize, &Token)> = (start..end)
            .filter_map(|k| tokens.get(k).map(|t| (k, t)))
            .filter(|(_, t)| t.letters >= 2)
            .collect();
        let n = words.len();
        let upper = words.iter().filter(|(_, t)| t.first_upper).count();
        let caps = words.iter().filter(|(_, t)| t.allcaps).count();
        // A capital that opens a sentence or a field ("Plan: increase dose") says
        // nothing about how the writer spells names; only one inside a sentence does.
        let upper_inside = words
            .iter()
            .filter(|(k, t)| t.first_upper && !sentence_start(tokens, *k))
            .count();
        let mode = if n >= 3 && caps.saturating_mul(10) >= n.saturating_mul(7) {
            Mode::Upper
        } else if n >= 3 && upper_inside.saturating_mul(10) <= n {
            Mode::Lower
        } else if n >= 2 && upper.saturating_mul(10) >= n.saturating_mul(6) {
            Mode::Title
        } else {
            Mode::Mixed
        };
        if n >= 3 {
            all_words = all_words.saturating_add(n);
            match mode {
                Mode::Lower => lower_words = lower_words.saturating_add(n),
                Mode::Upper => upper_words = upper_words.saturating_add(n),
                _ => {}
            }
        } else if n > 0 {
            short.push((start, end));
        }
        for m in modes.get_mut(start..end).unwrap_or_default() {
            *m = mode;
        }
        start = end;
    }
    // Nine words in ten of the longer lines, and at least two such lines' worth; in a
    // text of short lines only (an address block, "roko katić" / "65 muscat street"),
    // four words or more and every one of them.
    let most = |k: usize| all_words >= 6 && k.saturating_mul(10) >= all_words.saturating_mul(9);
    let words = || tokens.iter().filter(|t| t.letters >= 2);
    let only =
        |case: fn(&Token) -> bool| all_words < 6 && words().count() >= 4 && words().all(case);
    let text_mode = if most(lower_words) || only(|t| !t.first_upper && !t.allcaps) {
        Some(Mode::Lower)
    } else if most(upper_words) || only(|t| t.allcaps) {
        Some(Mode::Upper)
    } else {
        None
    };
    if let Some(text_mode) = text_mode {
        for (start, end) in short {
            // A short line in lower case in a text in capitals, or capitalized in one in
            // lower case, is written apart from the rest: it stays ordinary text.
            let apart = tokens.get(start..end).unwrap_or_default().iter().any(|t| {
                t.letters >= 2
                    && match text_mode {
                        Mode::Upper => !t.allcaps,
                        _ => t.first_upper && !t.allcaps,
                    }
            });
            if !apart {
                for m in modes.get_mut(start..end).unwrap_or_default() {
                    *m = text_mode;
                }
            }
        }
    }
    modes
}

fn sentence_start(tokens: &[Token], i: usize) -> bool {
    let Some(t) = tokens.get(i) else { return false };
    let prev_initial = i
        .checked_sub(1)
        .and_then(|p| tokens.get(p))
        .is_some_and(|p| p.initial);
    i == 0
        || t.newline_before
        || (!prev_initial
            && t.gap
                .contains(['.', '!', '?', ':', ';', '*', '•', '(', '"']))
}

fn is_name(f: u64) -> bool {
    f & (FIRST | LAST) != 0
}

/// Why a token was redacted (the span's recognizer name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Unknown,
    Name,
    Cue,
    Place,
    Joined,
    Propagated,
}

impl Why {
    fn recognizer(self) -> &'static str {
        match self {
            Why::Unknown => "vocab_unknown_word",
            Why::Name => "vocab_name",
            Why::Cue => "vocab_after_cue",
            Why::Place => "vocab_after_place_word",
            Why::Joined => "vocab_joined_name",
            Why::Propagated => "vocab_propagated",
        }
    }

    fn confidence(self) -> f32 {
        match self {
            Why::Cue => 0.85,
            Why::Unknown | Why::Name | Why::Place | Why::Joined => 0.7,
            Why::Propagated => 0.65,
        }
    }
}

/// A word of a label that ends its line with a colon, every word of it capitalized and
/// at most five ("Patient States Complaint :", "Discharge Status :"): a frequent word
/// there is the label's, not a name after "patient".
fn label_heading(tokens: &[Token], i: usize) -> bool {
    let capital = |k: usize| tokens.get(k).is_some_and(|t| t.first_upper);
    if !capital(i) {
        return false;
    }
    // Back to the line's start and on to the colon, over capitalized words only, five
    // at most: a few steps whatever the line's length.
    let mut start = i;
    while tokens.get(start).is_some_and(|t| !t.newline_before)
        && start > 0
        && i.saturating_sub(start) < 5
    {
        start = start.saturating_sub(1);
        if !capital(start) {
            return false;
        }
    }
    let mut end = i.saturating_add(1);
    while tokens
        .get(end)
        .is_some_and(|t| !t.newline_before && t.gap.is_empty() && t.first_upper)
        && end.saturating_sub(start) < 5
    {
        end = end.saturating_add(1);
    }
    // The colon stands before the next line's first word.
    let colon = tokens
        .get(end)
        .is_some_and(|n| n.newline_before && n.gap.starts_with(':'));
    let opens_line = tokens.get(start).is_some_and(|t| t.newline_before) || start == 0;
    opens_line && colon && (2..=5).contains(&end.saturating_sub(start))
}

/// An acronym used as a verb or a plural with an apostrophe ("MRI'ed", "CT'd", "EKG's",
/// "dc'd", in capitals "CHG'D", "SX'ING"): capitals, or an abbreviation the lexicon
/// knows, before the apostrophe, an inflection after it.
fn acronym_inflected(text: &str, t: &Token) -> bool {
    let word = text.get(t.start..t.end).unwrap_or_default();
    let Some((stem, ending)) = word.split_once(['\'', '’']) else {
        return false;
    };
    (2..=5).contains(&stem.len())
        && (stem.bytes().all(|b| b.is_ascii_uppercase())
            || lexicon::word_only(&stem.to_lowercase()))
        && matches!(
            ending.to_ascii_lowercase().as_str(),
            "ed" | "d" | "ing" | "s"
        )
}

/// A unit right before a rate or a dose per weight ("dopamine 8 mcq/kg/min", "KCL
/// meq/hr"): whatever its spelling, what stands before "/kg", "/min" or "/hr" is a unit.
fn rate_unit(text: &str, t: &Token) -> bool {
    let Some(after) = text.get(t.end..).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    let unit: String = after
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        unit.as_str(),
        "kg" | "min" | "hr" | "hrs" | "day" | "dl" | "ml"
    )
}

/// An ordinal's suffix written apart from its number ("3 RD UNIT", "2 nd dose").
fn ordinal_suffix(text: &str, t: &Token) -> bool {
    if !matches!(t.lower.as_str(), "st" | "nd" | "rd" | "th") {
        return false;
    }
    let before = text
        .get(..t.start)
        .unwrap_or_default()
        .trim_end_matches(' ');
    let number = before
        .len()
        .saturating_sub(before.trim_end_matches(|c: char| c.is_ascii_digit()).len());
    (1..=3).contains(&number)
        && before.len() < t.start
        && !before
            .get(..before.len().saturating_sub(number))
            .unwrap_or_default()
            .ends_with(|c: char| c.is_alphanumeric())
}

/// Name and place findings of the strict profile that do not overlap `claimed` spans;
/// `tokens` are `text`'s words as [`super::names::tokenize`] splits them.
pub(super) fn find(text: &str, tokens: &[Token], claimed: &Spans) -> Vec<Finding> {
    let modes = line_modes(tokens);
    let flags: Vec<u64> = tokens.iter().map(|t| lexicon::flags(&t.lower)).collect();
    let free: Vec<bool> = tokens
        .iter()
        .map(|t| !claimed.overlaps(t.start, t.end))
        .collect();
    let mut tag: Vec<Option<Why>> = vec![None; tokens.len()];
    let mut place = vec![false; tokens.len()];
    // A word a line break cut after a hyphen, as copied text leaves it ("antihype-\n
    // rtensive", "ident-\nifying"): both halves are the word the lexicon knows.
    let mut wrapped = vec![false; tokens.len()];
    for (i, t) in tokens.iter().enumerate().skip(1) {
        let Some(p) = i.checked_sub(1).and_then(|p| tokens.get(p)) else {
            continue;
        };
        if t.newline_before && t.gap == "-" && !p.has_digit && !t.has_digit {
            let whole = format!("{}{}", p.lower, t.lower);
            if lexicon::word_only(&whole) || lexicon::medical_shape(&whole) {
                for k in [i.saturating_sub(1), i] {
                    if let Some(w) = wrapped.get_mut(k) {
                        *w = true;
                    }
                }
            }
        }
    }

    let flag_of = |i: usize| flags.get(i).copied().unwrap_or(0);
    let word = |i: usize| tokens.get(i).map(|t| t.lower.as_str()).unwrap_or_default();
    // A cue governs the next words on its line: up to three of them.
    let cue_before = |i: usize, is_cue: &dyn Fn(&str) -> bool| -> Option<bool> {
        for back in 1..=3usize {
            let j = i.checked_sub(back)?;
            let p = tokens.get(j)?;
            let between_newline = (j.saturating_add(1)..=i)
                .filter_map(|k| tokens.get(k))
                .any(|k| k.newline_before);
            if between_newline {
                return None;
            }
            // A cue does not reach across the end of a sentence ("... daily. Foley
            // catheter removed"), except the period of a title ("Dr. Okafor"), nor out of
            // the parentheses it stands in ("DICK CUCCHIARA (RESIDENT) WORKING ON THIS").
            let next_gap = tokens
                .get(j.saturating_add(1))
                .map(|n| n.gap.as_str())
                .unwrap_or("");
            let title_period = next_gap == "." && TITLE_ABBREVIATIONS.contains(&p.lower.as_str());
            if next_gap.contains(['.', '!', '?', ';', ')']) && !title_period {
                return None;
            }
            // A comma does not follow a title ("ST TO SR,V PACED": sinus rhythm), and
            // "sr" is sinus rhythm unless its period makes it Señor or Sister.
            if HONORIFICS.contains(&p.lower.as_str())
                && (next_gap.contains(',') || (spanish_title(&p.lower) && next_gap != "."))
            {
                return None;
            }
            let credential_list = super::names::credential_list(&p.lower, next_gap);
            // "w/" is "with"; a lone "w" is not ("W Main St").
            if is_cue(p.lower.as_str())
                && (p.lower != "w" || next_gap == "/")
                // "MD" after a comma is the degree of the name before it ("Signed: Ana
                // Ruiz, MD Card on file").
                && (p.lower != "md" || !p.gap.contains(','))
                && !super::names::nasal_prongs(text, p, j.checked_sub(1).and_then(|q| tokens.get(q)))
                && !credential_list
                && !super::names::glued_to_number(text, p)
            {
                return Some(
                    !WEAK_CUES.contains(&p.lower.as_str())
                        && !WEAK_PLACE_CUES.contains(&p.lower.as_str()),
                );
            }
            // Only name-like words may stand between the cue and this word, not what
            // people do ("SON BROUGHT HIM").
            let f = flag_of(j);
            // A frequent word that is no given name breaks the chain ("PT STILL
            // ALKYLOTIC": "still" is also a surname).
            let frequent_word = f & COMMON != 0 && f & FIRST == 0;
            let namey = (p.initial || (is_name(f) && !frequent_word) || f & SAFE == 0)
                && !PERSON_VERBS.contains(&p.lower.as_str());
            // "a" without a period is the article ("MAKE PATIENT A COMFORT MEASURES
            // ONLY"), unless a capitalized word follows it in mixed case ("Dr A Smith").
            let article = p.lower == "a"
                && !p.initial
                && tokens
                    .get(j.saturating_add(1))
                    .is_some_and(|n| !n.first_upper || n.allcaps);
            if !namey || p.has_digit || article {
                return None;
            }
        }
        None
    };

    // A capital letter alone right after a title in lower case or capitalized is the
    // initial of the one it names, even "I" or "A" ("mr I remained on pressors", "Ms. A
    // declined"); "MR" in capitals is mitral regurgitation.
    let initial_after_title = |i: usize| {
        tokens.get(i).is_some_and(|t| {
            t.letters == 1
                && t.lower.len() == 1
                && t.first_upper
                && !t.newline_before
                && (t.gap.is_empty() || t.gap == ".")
        }) && i
            .checked_sub(1)
            .and_then(|p| tokens.get(p))
            .is_some_and(|p| {
                HONORIFICS.contains(&p.lower.as_str()) && !p.allcaps && !spanish_title(&p.lower)
            })
    };
    // Whether the word at `k` is a kinship word; "significant other" is kin too ("visited
    // by significant other charlie").
    let kin_at = |k: Option<usize>| {
        k.is_some_and(|k| {
            tokens.get(k).is_some_and(|p| {
                KIN.contains(&p.lower.as_str())
                    || (p.lower == "other"
                        && k.checked_sub(1)
                            .and_then(|q| tokens.get(q))
                            .is_some_and(|q| q.lower == "significant" && !p.newline_before))
            })
        })
    };
    // A modal's word capitalized in mixed case right after a kinship word, or as the
    // second of two names after one, is a name ("Son Will called", "Sons Mark and Will");
    // in lower case or capitals it is the verb ("son will call back", "SON WILL CALL").
    let kin_named = |i: usize| {
        let after_and = i
            .checked_sub(1)
            .and_then(|p| tokens.get(p))
            .is_some_and(|p| p.lower == "and");
        tokens
            .get(i)
            .is_some_and(|t| t.first_upper && !t.allcaps && !t.newline_before)
            && (kin_at(i.checked_sub(1)) || (after_and && kin_at(i.checked_sub(3))))
    };
    for (i, t) in tokens.iter().enumerate() {
        if t.has_digit
            || wrapped.get(i).copied().unwrap_or(false)
            || !free.get(i).copied().unwrap_or(false)
            || (t.letters < 2 && !initial_after_title(i))
            || (super::names::modal_verb(tokens, i) && !kin_named(i))
            || super::names::eponym_use(tokens, i)
            || super::names::term_before_noun(tokens, i)
            || super::names::colour_of_a_finding(tokens, i)
            || super::names::pupils_shorthand(tokens, i)
            || acronym_inflected(text, t)
            || (flag_of(i) & COMMON != 0 && label_heading(tokens, i))
            // A length of time after its number ("RETURN TO WORK : IN 12 WEEKS").
            || (DURATION_UNITS.contains(&t.lower.as_str())
                && super::names::glued_or_after_number(text, t))
            || super::names::eponym_run(tokens, i)
            || ordinal_suffix(text, t)
            || rate_unit(text, t)
            // A word the name lists lack glued to the number before it is its unit,
            // however misspelled ("dopa up to 10mcq", "KCL 40meqIV").
            || (super::names::glued_to_number(text, t) && !is_name(flag_of(i)))
            // A kinship or title word is a cue, not the name after one
            // ("CALLED SON/DAUGHTER/FIANCE").
            || person_cue(t.lower.as_str())
            || i.checked_sub(1)
                .and_then(|p| tokens.get(p))
                .is_some_and(|p| super::names::morphine_brand(p, t))
        {
            continue;
        }
        let f = flag_of(i);
        let capitalized = t.first_upper;
        // In a line written in lower case, a word written capitalized is judged as in
        // ordinary text ("what did you put on Fuse TV").
        let mode = match modes.get(i).copied().unwrap_or(Mode::Mixed) {
            Mode::Lower if capitalized => Mode::Mixed,
            m => m,
        };
        let name = is_name(f);
        let capsafe = f & CAPSAFE != 0;
        let common = f & COMMON != 0;
        // A US town that is not also a frequent word ("Oswego", "tacoma").
        let town = f & PLACE != 0 && !common && !capsafe;
        // A town the lexicon lists stays unknown whatever its ending ("Springs").
        let unknown = f & SAFE == 0
            && (is_name(f)
                || f & PLACE != 0
                || !(lexicon::medical_shape(&t.lower)
                    || lexicon::prefixed_word(&t.lower)
                    || lexicon::derived_word(&t.lower)));
        let person_cue = cue_before(i, &person_cue);
        let strong_cue = person_cue == Some(true);
        let any_cue = person_cue.is_some();
        let place_word = cue_before(i, &|w: &str| PLACE_CUES.contains(&w));
        let place_cue = place_word.is_some();
        let strong_place = place_word == Some(true) || moved_to(tokens, i) || moved_from(tokens, i);
        // Right after a capitalized eponym or drug name the word is part of a term
        // ("Glasgow Coma Scale", "Apgar Score").
        let after_term = i.checked_sub(1).is_some_and(|p| {
            tokens.get(p).is_some_and(|pt| {
                pt.first_upper && flag_of(p) & CAPSAFE != 0 && t.gap.is_empty() && !t.newline_before
            })
        });
        // Right after an honorific ("dr. brown", "mrs. white") a word is the name even
        // when it is a frequent word, a drug or an eponym; right after a kinship word
        // ("son bill called", "his son, bill,") a given name is, even a frequent one.
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
        let prev2 = i.checked_sub(2).and_then(|p| tokens.get(p));
        let plain_gap = |gaps: &[&str]| !t.newline_before && gaps.contains(&t.gap.as_str());
        let not_function = !AFTER_CUE_FUNCTION.contains(&t.lower.as_str());
        // "MR" in capitals without its period is mitral regurgitation or magnetic
        // resonance in ordinary text ("an MR scan"), not "Mr.".
        let after_honorific = not_function
            && prev.is_some_and(|p| {
                HONORIFICS.contains(&p.lower.as_str())
                    && (!p.allcaps || t.gap == "." || mode == Mode::Upper)
                    && (!spanish_title(&p.lower) || t.gap == ".")
                    // "ms" without its period before what is done with a drug is
                    // morphine sulfate ("ms given for back pain").
                    && !(p.lower == "ms" && t.gap.is_empty() && DOSING.contains(&t.lower.as_str()))
                    // In lower case "ms.", "sr." and "mr." are also mental status, sinus
                    // rhythm and mitral regurgitation: a word no name list has follows
                    // them as it would any word ("monitor ms. replete lytes", "st/sr. no
                    // ectopy").
                    && (p.first_upper
                        || !matches!(p.lower.as_str(), "ms" | "sr" | "mr")
                        || name
                        || unknown)
                    // In capitals before a word in lower case they are sinus rhythm,
                    // mitral regurgitation or mental status ("HR 83-90 SR. occas. PAC",
                    // "80's SR. started on po lopressor").
                    && !(p.allcaps
                        && matches!(p.lower.as_str(), "ms" | "sr" | "mr")
                        && !t.first_upper
                        && mode != Mode::Lower)
            })
            && plain_gap(&["", "."]);
        // The second of two given names after a kinship word ("daughters sarah and
        // margie") is a relative's too.
        let second_of_two = prev.is_some_and(|p| matches!(p.lower.as_str(), "and" | "&"))
            && plain_gap(&[""])
            && prev2.is_some_and(|q| {
                let fq = flag_of(i.saturating_sub(2));
                !q.newline_before && q.gap.is_empty() && (fq & FIRST != 0 || fq & SAFE == 0)
            })
            && kin_at(i.checked_sub(3));
        // A frequent word after a kinship word is a name only when it is a common given
        // name ("son bill called"), not a verb or adverb ("my wife likes it"). The
        // lexicon leaves out given names that no typo rule needs ("sarah"): an unknown
        // word after a kinship word counts as one.
        // A given name the lexicon also keeps as a term counts after kin when the person
        // acts next ("daughter mae called": not "moves all extremities").
        let after_kin = (not_function || kin_named(i))
            && (name || unknown)
            && (!capsafe || (f & FIRST != 0 && acts_next(tokens, i)))
            && (!common || f & FIRST_CORE != 0)
            && ((kin_at(i.checked_sub(1)) && plain_gap(&["", ","])) || second_of_two);
        // A surname after a given name's initial ("employee J. Bowers", "per M. Young"),
        // the initial opening the name: at the line's start, after punctuation or after
        // a word in lower case that no letter names ("vitamin D. Young adults").
        let after_initial = name
            && f & LAST != 0
            && !capsafe
            && plain_gap(&["."])
            && prev.is_some_and(|p| {
                p.initial
                    && prev2.is_none_or(|q| {
                        p.newline_before
                            || p.gap.contains([',', '(', ':', ';'])
                            || (!q.first_upper && !LETTER_NAMED.contains(&q.lower.as_str()))
                    })
            });
        // A writer naming themself ("hi its marguerite", "good morning nurse, its
        // jimmy"): a common given name even when it is a frequent word, right after
        // "its" that opens the message or follows a greeting.
        let self_named = not_function
            && name
            && !capsafe
            && f & FIRST_CORE != 0
            && plain_gap(&[""])
            && prev.is_some_and(|p| {
                matches!(p.lower.as_str(), "its" | "it's")
                    && (i == 1
                        || p.newline_before
                        || p.gap.contains([',', '.', '!'])
                        || prev2.is_some_and(|q| GREETINGS.contains(&q.lower.as_str())))
            });
        // A given name in lower case opening a sentence or a field, then what people do
        // ("social: bill called once").
        let opens_acting = name
            && f & FIRST_CORE != 0
            && !capsafe
            && sentence_start(tokens, i)
            && acts_next(tokens, i);
        // Whose house it is ("at seymour black's house", "stays at Rose's place"): a
        // name-list word, however frequent, owning a dwelling.
        let dwelling_owner = name
            && !capsafe
            && text
                .get(t.end..)
                .is_some_and(|r| r.starts_with("'s") || r.starts_with("’s"))
            && tokens
                .get(i.saturating_add(1))
                .is_some_and(|n| !n.newline_before && DWELLINGS.contains(&n.lower.as_str()));
        // Where someone lives, moved or comes from ("lives in Salem", "MOVED TO DOVER"):
        // a town the lexicon lists, however frequent or capital-safe the word (a state
        // alone is no identifier).
        let residence_place = f & PLACE != 0
            && !super::recognizers::is_state_name(&t.lower)
            && plain_gap(&[""])
            && prev.is_some_and(|p| {
                matches!(p.lower.as_str(), "in" | "to" | "from" | "near")
                    && !p.newline_before
                    && p.gap.is_empty()
            })
            && prev2.is_some_and(|q| RESIDING.contains(&q.lower.as_str()));
        // A common given name after a role, then being told ("NP grace made aware", "rn
        // mark notified"): the name of the one told.
        let cued_given_informed =
            name && f & FIRST_CORE != 0 && !capsafe && not_function && informed_next(tokens, i);
        // A word after a title and its period that says what the doctor did, not who
        // ("DR. AWARE", "Dr. notified").
        let says_what_was_done = || {
            PERSON_VERBS.contains(&t.lower.as_str())
                || super::names::NARRATIVE_VERBS.contains(&t.lower.as_str())
                || matches!(
                    t.lower.as_str(),
                    "aware" | "notified" | "paged" | "informed" | "updated" | "here" | "note"
                )
        };
        // After "DR." with its period in capitals, what follows is a name, however
        // ordinary the word ("PER DR.GATEMAN."), unless it says what the doctor did.
        // After "MR." or "MRS." only a word no list knows, a name that is no frequent
        // word, or any word before what people do ("MR. DRUB REPORTS"); a finding after
        // mitral regurgitation stays ("MILD MR. MILD TR.").
        let after_title_period = mode == Mode::Upper
            && prev.is_some_and(|p| {
                p.lower == "dr"
                    || (matches!(p.lower.as_str(), "mr" | "mrs")
                        && (unknown || (name && !common) || acts_next(tokens, i)))
            })
            && t.gap == "."
            && not_function
            && t.letters >= 3
            && !capsafe
            && !says_what_was_done();
        // On a short line in capitals, "DR." and its period, spaced or not, then a word
        // no list knows or a name ("DR. OCK" alone on its line): too few words for the
        // line to read as capitals.
        let after_dr_short = mode != Mode::Upper
            && prev.is_some_and(|p| p.allcaps && p.lower == "dr")
            && t.allcaps
            && t.gap.trim() == "."
            && !t.newline_before
            && not_function
            && (unknown || name)
            && !capsafe
            && !says_what_was_done();
        let honorific_initial = initial_after_title(i) && mode != Mode::Upper;
        // Right after a capitalized title and its period, a capitalized word is the
        // surname however ordinary ("care by Dr. Stable", "Mr. Rule on March 26"), unless
        // it says what was done ("Dr. Aware"); two letters are enough ("Mr. Po").
        let titled_surname = not_function
            && capitalized
            && !t.allcaps
            && t.letters >= 2
            && t.gap == "."
            && !t.newline_before
            && prev.is_some_and(|p| {
                p.first_upper && matches!(p.lower.as_str(), "dr" | "mr" | "mrs" | "ms" | "prof")
            })
            && !says_what_was_done();
        // Right after "Pt" capitalized, a word in lower case that no name list has is what
        // the patient did, however misspelt ("Pt lightenedup significantly", "Pt reciving
        // 1mg ativan"); in capitals a short one is an abbreviation ("PATIENT WGT.").
        // In lower case, one that is one edit from a frequent word is a misspelt verb too
        // ("pt recived 10 mg").
        let after_pt = prev.is_some_and(|p| matches!(p.lower.as_str(), "pt" | "patient"));
        let verb_after_pt = after_pt
            && !name
            && (prev.is_some_and(|p| p.first_upper) && !t.first_upper
                || (mode == Mode::Upper && t.letters <= 3)
                || (!t.first_upper && lexicon::near_common(&t.lower)));
        // After a cue, a word no list has right after a given name is the surname,
        // though it is one letter from a word ("will consult with patty hoeller").
        let unknown_after_given = any_cue
            && f & SAFE == 0
            && !name
            && t.letters >= 4
            && plain_gap(&[""])
            && prev.is_some_and(|p| {
                !p.newline_before
                    && p.gap.is_empty()
                    && !p.has_digit
                    && !AFTER_CUE_FUNCTION.contains(&p.lower.as_str())
            })
            && !i
                .checked_sub(1)
                .is_some_and(|p| super::names::modal_verb(tokens, p))
            && i.checked_sub(1).is_some_and(|p| {
                let fp = flag_of(p);
                fp & FIRST != 0 && fp & CAPSAFE == 0
            })
            && not_function;
        let why = match mode {
            _ if dwelling_owner => Some(Why::Cue),
            _ if honorific_initial => Some(Why::Cue),
            _ if after_title_period || after_dr_short => Some(Why::Cue),
            Mode::Mixed | Mode::Title if titled_surname => Some(Why::Cue),
            _ if residence_place => Some(Why::Place),
            Mode::Mixed | Mode::Title if capitalized && after_initial => Some(Why::Name),
            Mode::Mixed | Mode::Title if capitalized => {
                // "ECG", "COPD", and their plurals ("CEOs").
                let acronym = (t.allcaps && t.letters <= 4) || plural_acronym(tokens, i, text);
                let mid = !sentence_start(tokens, i);
                let prose = mode == Mode::Mixed;
                // After a kinship word, a given name and the second of two given names
                // ("Sons Mark and Will visited", "Daughters Ruby and Rose").
                if ((strong_cue && (name || unknown)) || (any_cue && name && !capsafe) || after_kin)
                    && !acronym
                {
                    Some(Why::Cue)
                } else if acronym {
                    // "flew to OSLO": an all-capitals word after a place word; a city or a
                    // medical center known by its initials, though the lexicon knows them
                    // ("from NYC", "admitted to UCSF").
                    // After "to the", "at the" or "from the" too ("from house to the
                    // CMH"), unless the initials name a unit or a system ("to the CVICU",
                    // "access to the EHR").
                    let after_the = prev
                        .is_some_and(|p| p.lower == "the" && !p.newline_before && p.gap.is_empty())
                        && plain_gap(&[""])
                        && prev2.is_some_and(|q| {
                            matches!(q.lower.as_str(), "to" | "at" | "from" | "into")
                        })
                        && !NOT_PLACE_INITIALS.contains(&t.lower.as_str());
                    (mid && (place_cue || after_the)
                        && (unknown || KNOWN_INITIALS.contains(&t.lower.as_str()))
                        && t.letters >= 3)
                        .then_some(Why::Place)
                } else if unknown && t.letters >= 3 {
                    Some(Why::Unknown)
                } else if after_term {
                    None
                } else if name
                    && !capsafe
                    && (!common
                        || kin_in_parentheses(tokens, i)
                        || (f & FIRST_CORE != 0
                            && (if mid {
                                prose
                            } else {
                                person_verb_follows(tokens, i)
                                    || surname_then_verb(tokens, &flags, i)
                            })))
                {
                    // A common given name capitalized inside a sentence is a name even
                    // when it is also a frequent word ("and Grace agreed").
                    Some(Why::Name)
                } else if mid
                    && !capsafe
                    && ((strong_place && !common && (t.letters >= 4 || f & SAFE == 0))
                        || (place_cue && name)
                        || (town && !name)
                        || ((strong_place || prev.is_some_and(|p| p.lower == "from"))
                            && common_town(f, &t.lower)))
                {
                    // After a place word, a capitalized uncommon word is a place the
                    // lexicon lists as a word ("lives in Deventer"); a known word of
                    // three letters is shorthand ("discrepancy in Hct value"), a town
                    // the lexicon lists as one is found as a town.
                    Some(Why::Place)
                } else {
                    None
                }
            }
            Mode::Mixed | Mode::Title => {
                // Lower case inside ordinary text: a name only right after a kinship or
                // title cue ("my son tomas", "dr. brown").
                if (strong_cue && name && !common && !capsafe)
                    || (strong_cue && cued_given_informed)
                    || after_honorific
                    || after_kin
                    || self_named
                    || unknown_after_given
                {
                    Some(Why::Cue)
                } else if opens_acting {
                    Some(Why::Name)
                } else {
                    // A town in lower case after a place word ("lives in oswego").
                    (strong_place && town && t.letters >= 4).then_some(Why::Place)
                }
            }
            Mode::Lower => {
                // Lower case: after a cue, a name-list word that is not also a frequent
                // word ("my mom beatriz fell": not "fell") nor a nationality or a drug
                // ("daughter, russian speaking"), or one written capitalized ("lytes
                // checked Dr B Muse").
                if (strong_cue
                    && !verb_after_pt
                    && (unknown || (name && ((!common && !capsafe) || capitalized))))
                    || (strong_cue && cued_given_informed)
                    || after_honorific
                    || after_kin
                    || self_named
                    || unknown_after_given
                {
                    Some(Why::Cue)
                } else if unknown
                    && t.letters >= 3
                    && (f & PLACE != 0 || !lexicon::near_common(&t.lower))
                    && (is_name(f) || !lexicon::near_capsafe(&t.lower))
                {
                    // A town the lexicon knows only as a town ("reno") is no typo; a
                    // drug misspelt is ("percocett"), a listed name never.
                    Some(Why::Unknown)
                } else if (name && unknown) || opens_acting {
                    Some(Why::Name)
                } else if (strong_place && town && t.letters >= 4)
                    || (place_cue && KNOWN_INITIALS.contains(&t.lower.as_str()))
                {
                    // A town after a strong place word; a city or a medical center known
                    // by its initials after any ("seen at mgh", "she goes to bwh").
                    Some(Why::Place)
                } else {
                    None
                }
            }
            Mode::Upper => {
                // After a weak cue a frequent word is that word ("CALLED OUT TO FLOOR").
                // After a weak cue a drug or eponym is that term ("PRIOR TO PACER"); what
                // people do is no name ("SON BROUGHT HIM").
                // An unknown word of three letters after a weak cue is an abbreviation
                // ("DSG TO RLA"); a longer one is taken as unknown, not for the cue, so
                // a typo pulls in no frequent word beside it ("W/ GOOD RESPONCE").
                if any_cue
                    && not_function
                    && !PERSON_VERBS.contains(&t.lower.as_str())
                    && ((unknown && strong_cue && !verb_after_pt)
                        // Right after "PT", a nationality, drug or device that is
                        // nobody's given name stays ("PT RUSSIAN SPEAKING", "PT
                        // FOLEY DRAINING"), and so does a frequent word that is no
                        // common given name ("PT BLIND IN THAT EYE"); after a title or
                        // kin it is a name.
                        || (name
                            && ((strong_cue
                                && !((capsafe && f & FIRST == 0
                                    || common && f & FIRST_CORE == 0)
                                    && prev.is_some_and(|p| {
                                        matches!(p.lower.as_str(), "pt" | "patient")
                                    })))
                                || (!common && !capsafe))))
                    && t.letters >= 2
                {
                    Some(Why::Cue)
                } else if after_honorific
                    && prev.is_some_and(|p| matches!(p.lower.as_str(), "dr" | "mrs"))
                    && f & PLACE != 0
                    && !capsafe
                    && t.letters >= 3
                    && !PERSON_VERBS.contains(&t.lower.as_str())
                    && !super::names::NARRATIVE_VERBS.contains(&t.lower.as_str())
                {
                    // After "DR" or "MRS" in capitals, a word the lexicon knows as a town
                    // is a surname, however frequent ("PER DR TYRO DR KLEIN"; towns are
                    // named after people); "DR AWARE", "DR HERE" stay.
                    Some(Why::Cue)
                } else if prev.is_some_and(|p| {
                    p.initial
                        // After the letters of a side, a rhythm, "sinus" or a dose's
                        // "every", a word the lexicon knows is that word ("R. NARE", "S.
                        // BRADY", "PO Q. DAY").
                        && (f & SAFE == 0
                            || !matches!(p.lower.as_str(), "r" | "l" | "a" | "v" | "s" | "q"))
                }) && plain_gap(&["."])
                    && not_function
                    && !PERSON_VERBS.contains(&t.lower.as_str())
                    // A unit after a dose's letter is that unit ("P.O. P.DAY").
                    && !DURATION_UNITS.contains(&t.lower.as_str())
                    && (f & LAST != 0 || (unknown && t.letters >= 4))
                {
                    // A surname after an initial and its period ("Z. MILLER AWARE", "M.
                    // PEPPLER PLACING STITCH", "E. WELSH AWARE"); a side, a rhythm or an
                    // organism after a letter is no surname ("R. GROIN", "A. FIB", "S.
                    // AUREUS", "E. COLI").
                    Some(Why::Name)
                } else if unknown
                    && t.letters >= 4
                    && (t.letters < 7 || f & PLACE != 0 || !lexicon::near_common(&t.lower))
                    && (is_name(f) || !lexicon::near_capsafe(&t.lower))
                {
                    // A long word one edit from a frequent word, a drug or an eponym is a
                    // typo in capitals too ("REPSONSE", "WITHDRAWEL", "LOPRESSER"); a short
                    // one may be a name, and a listed name is one.
                    Some(Why::Unknown)
                } else if name
                    && !capsafe
                    && !common
                    && plain_gap(&["."])
                    && prev.is_some_and(|p| p.initial)
                    && prev2.is_some_and(|q| self::person_cue(&q.lower))
                {
                    // A surname after a cue and an initial ("CVL BY C. BERTHA").
                    Some(Why::Cue)
                } else if name && !capsafe && !common && f & SAFE == 0 && t.letters >= 3 {
                    // A rare surname that is also a known word is that word in capitals
                    // without a cue ("WITHOUT A BOLUS").
                    Some(Why::Name)
                } else if place_cue && town && t.letters >= 4 {
                    Some(Why::Place)
                } else if opens_acting {
                    // A common given name opening a sentence, then what people do ("RICK
                    // TOLERATED THE PROCEDURE WELL").
                    Some(Why::Name)
                } else {
                    None
                }
            }
        };
        if let Some(why) = why {
            if let Some(slot) = tag.get_mut(i) {
                *slot = Some(why);
            }
            // ... and the given name before such a surname with it ("patty hoeller").
            if unknown_after_given {
                if let Some(slot) = i.checked_sub(1).and_then(|p| tag.get_mut(p)) {
                    slot.get_or_insert(Why::Cue);
                }
            }
            if let Some(p) = place.get_mut(i) {
                *p = (place_cue || (town && !name)) && !strong_cue;
            }
        }
    }

    // A capital letter alone, a surname, then what a clinician does ("PAPS, J SMITH
    // ORDERED EPI DRIP", "per K Lind aware"): the initial and the surname name someone,
    // however frequent the surname's word. Likewise a letter in lower case, its period,
    // and a surname or a word no list knows, then what a clinician does or their
    // credential ("z. miller aware", "m. peppler placing stitch", "s. roberto rrt"), or
    // after "by" or "per" ("placed by c. bertha"): a side, a rhythm or an organism after
    // a letter stays ("r. groin", "e. coli").
    for i in 1..tokens.len() {
        let (Some(l), Some(s)) = (tokens.get(i.saturating_sub(1)), tokens.get(i)) else {
            continue;
        };
        let f = flag_of(i);
        let acts = |more: &[&str]| {
            tokens.get(i.saturating_add(1)).is_some_and(|n| {
                n.gap.is_empty()
                    && !n.newline_before
                    && (CLINICIAN_ACTS.contains(&n.lower.as_str())
                        || more.contains(&n.lower.as_str()))
            })
        };
        let single = l.letters == 1 && l.lower.len() == 1;
        let capital = single
            && l.first_upper
            && !matches!(l.lower.as_str(), "a" | "i" | "o")
            && f & LAST != 0
            && f & CAPSAFE == 0
            && s.letters >= 3
            && s.first_upper
            && !s.newline_before
            && s.gap.is_empty()
            && acts(&[]);
        let lower = single
            && !l.first_upper
            && !text
                .get(..l.start)
                .and_then(|b| b.chars().next_back())
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '\'' | '’' | '/'))
            && !matches!(
                l.lower.as_str(),
                "a" | "i" | "o" | "r" | "l" | "s" | "e" | "q" | "p" | "x"
            )
            && !s.first_upper
            && !s.newline_before
            && s.gap == "."
            && !s.has_digit
            && f & CAPSAFE == 0
            && (f & LAST != 0 || (f & SAFE == 0 && s.letters >= 4))
            && !PERSON_VERBS.contains(&s.lower.as_str())
            && (acts(&[
                "rrt", "rn", "md", "np", "pa", "placing", "in", "agrees", "agreed",
            ]) || i
                .checked_sub(2)
                .and_then(|p| tokens.get(p))
                .is_some_and(|p| {
                    matches!(p.lower.as_str(), "by" | "per")
                        && l.gap.is_empty()
                        && !l.newline_before
                }));
        let both_free = free.get(i).copied().unwrap_or(false)
            && free.get(i.saturating_sub(1)).copied().unwrap_or(false);
        if (capital || lower) && both_free {
            for k in [i.saturating_sub(1), i] {
                if let Some(slot) = tag.get_mut(k) {
                    slot.get_or_insert(Why::Name);
                }
            }
        }
    }

    // In a line typed in lower case, a common given name and a surname side by side
    // after a cue for a person or before what people do ("i talked to john smith",
    // "john smith called"), even when both are also words; not a verb after "to" that
    // a given name spells ("to mark hall"), nor a phrase of words ("grace period").
    for i in 0..tokens.len().saturating_sub(1) {
        let j = i.saturating_add(1);
        let (Some(g), Some(s)) = (tokens.get(i), tokens.get(j)) else {
            continue;
        };
        let lower_line = [i, j]
            .iter()
            .all(|&k| modes.get(k).copied() == Some(Mode::Lower));
        let untagged = [i, j].iter().all(|&k| {
            free.get(k).copied().unwrap_or(false) && tag.get(k).copied().flatten().is_none()
        });
        let (fg, fs) = (flag_of(i), flag_of(j));
        let shaped = !g.first_upper
            && !s.first_upper
            && !g.has_digit
            && !s.has_digit
            && g.letters >= 3
            && s.letters >= 3
            && s.gap.is_empty()
            && !s.newline_before
            && !s.column_before
            && fg & FIRST_CORE != 0
            && fs & LAST != 0
            && fs & CAPSAFE == 0
            && ![g, s].iter().any(|t| {
                let w = t.lower.as_str();
                PERSON_VERBS.contains(&w)
                    || super::names::NARRATIVE_VERBS.contains(&w)
                    || AFTER_CUE_FUNCTION.contains(&w)
            });
        if !(lower_line && untagged && shaped) {
            continue;
        }
        let before = i.checked_sub(1).and_then(|p| tokens.get(p));
        let cued = (cue_before(i, &person_cue).is_some()
            && !(before.is_some_and(|p| p.lower == "to")
                && GIVEN_VERBS.contains(&g.lower.as_str())))
            || before.is_some_and(|p| {
                !g.newline_before && g.gap.is_empty() && ADDRESSING.contains(&p.lower.as_str())
            });
        let acts = tokens.get(j.saturating_add(1)).is_some_and(|n| {
            !n.newline_before
                && n.gap.is_empty()
                && (PERSON_VERBS.contains(&n.lower.as_str())
                    || super::names::NARRATIVE_VERBS.contains(&n.lower.as_str()))
        });
        if cued || acts {
            for k in [i, j] {
                if let Some(slot) = tag.get_mut(k) {
                    *slot = Some(Why::Name);
                }
            }
        }
    }

    // The other direction: a surname that is also a dictionary word, found only by the
    // name lists, is that word when the same note writes it in lower case in prose
    // ("Sternal pain." as a heading, "no sternal wire" below).
    let lower_in_prose: HashSet<&str> = tokens
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            !t.first_upper
                && matches!(modes.get(*i).copied(), Some(Mode::Mixed | Mode::Lower))
                && t.letters >= 3
        })
        .map(|(_, t)| t.lower.as_str())
        .collect();
    for (i, t) in tokens.iter().enumerate() {
        let f = flag_of(i);
        let word_and_surname = f & SAFE != 0 && f & LAST != 0 && f & FIRST == 0;
        if tag.get(i).copied().flatten() == Some(Why::Name)
            && word_and_surname
            && lower_in_prose.contains(t.lower.as_str())
        {
            if let Some(slot) = tag.get_mut(i) {
                *slot = None;
            }
        }
    }

    // A letter glued to a number or an apostrophe is a unit or a plural ending, not an
    // initial ("sbp goal 90-130's. labatelol").
    let glued_letter = |i: usize| {
        tokens.get(i).is_some_and(|t| {
            t.letters == 1
                && text
                    .get(..t.start)
                    .and_then(|b| b.chars().next_back())
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, '\'' | '’'))
        })
    };
    // Join runs: a tagged word pulls in the name words, initials and particles beside it
    // on the same line ("Rose Okafor", "J. Okafor", "Larch Hollow", "new harwick").
    let joinable = |i: usize, toward_tagged_is_place: bool| -> bool {
        let Some(t) = tokens.get(i) else { return false };
        if t.has_digit || !free.get(i).copied().unwrap_or(false) {
            return false;
        }
        let f = flag_of(i);
        let mode = modes.get(i).copied().unwrap_or(Mode::Mixed);
        let lower = t.lower.as_str();
        if t.initial {
            return true;
        }
        // A modal and its verb go on with the sentence ("MR. MARKER WILL BE RESTARTED").
        if glued_letter(i) || super::names::modal_verb(tokens, i) {
            return false;
        }
        if toward_tagged_is_place && PLACE_PREFIXES.contains(&lower) {
            return true;
        }
        let namey = is_name(f) || f & SAFE == 0;
        match mode {
            Mode::Mixed | Mode::Title | Mode::Upper => {
                t.first_upper && namey && f & CAPSAFE == 0 && !(t.allcaps && t.letters <= 1)
            }
            // The article and the pronoun are no initials ("resection of a Klatskin
            // tumor").
            Mode::Lower => {
                (namey && f & COMMON == 0 && !matches!(lower, "a" | "i"))
                    // A surname that is also a frequent word, right after a given name
                    // and closing the clause or before what the person does ("my
                    // daughter keisha brown will pick me up").
                    || (f & LAST != 0
                        && !toward_tagged_is_place
                        && t.gap.is_empty()
                        && !t.newline_before
                        && i.checked_sub(1).is_some_and(|p| {
                            let g = flag_of(p);
                            tokens
                                .get(p)
                                .is_some_and(|q| !q.first_upper && !q.possessive && !q.has_digit)
                                && (g & FIRST != 0 || g & SAFE == 0)
                        })
                        && tokens.get(i.saturating_add(1)).is_none_or(|n| {
                            n.newline_before
                                || !n.gap.is_empty()
                                || super::names::modal_verb(tokens, i.saturating_add(1))
                                || PERSON_VERBS.contains(&n.lower.as_str())
                        }))
            }
        }
    };
    // Lower-case particles from `j` on, then a capitalized surname on the same line that is
    // not a drug or an eponym: such a surname is part of the name even when the lexicon
    // knows its word ("Fenna de Vries", "Luis de la Cruz").
    let particles_then_surname = |j: usize| -> bool {
        let mut end = j;
        while tokens
            .get(end)
            .is_some_and(|t| !t.first_upper && PARTICLES.contains(&t.lower.as_str()))
        {
            end = end.saturating_add(1);
        }
        end > j
            && tokens
                .get(end)
                .is_some_and(|t| t.first_upper && !t.has_digit && flag_of(end) & CAPSAFE == 0)
            && (j..=end).all(|k| {
                tokens
                    .get(k)
                    .is_some_and(|t| !t.newline_before && t.gap.is_empty())
                    && free.get(k).copied().unwrap_or(false)
            })
    };
    let adjacent = |a: usize, b: usize| -> bool {
        // b follows a directly on the same line.
        let (Some(x), Some(y)) = (tokens.get(a), tokens.get(b)) else {
            return false;
        };
        !y.newline_before
            && !y.column_before
            && (y.gap.is_empty()
                || (x.initial && y.gap == ".")
                || y.gap == "-"
                || (y.gap == "," && is_name(flag_of(a)) && is_name(flag_of(b))))
    };
    // Tags spread to neighbours in the direction of a sweep, so a forward sweep, a
    // backward one and a last forward one reach every joinable word of a run (linear in
    // the text, whatever its length).
    let mut try_join = |i: usize, j: usize, tag: &mut Vec<Option<Why>>| {
        let Some(why) = tag.get(i).copied().flatten() else {
            return;
        };
        if j >= tokens.len() || tag.get(j).copied().flatten().is_some() {
            return;
        }
        let (a, b) = if j < i { (j, i) } else { (i, j) };
        let is_place = place.get(i).copied().unwrap_or(false);
        // An initial written in lower case with its period, right before a surname found
        // in lower case ("s. roberto rrt").
        let lower_initial = j.checked_add(1) == Some(i)
            && !is_place
            && tokens.get(j).is_some_and(|t| {
                t.letters == 1
                    && t.lower.len() == 1
                    && !t.first_upper
                    && free.get(j).copied().unwrap_or(false)
            })
            && !glued_letter(j)
            && tokens.get(i).is_some_and(|s| {
                s.gap == "." && !s.newline_before && !s.column_before && !s.first_upper
            });
        if !adjacent(a, b) && !lower_initial {
            return;
        }
        let particle = PARTICLES.contains(&word(j));
        // A particle joins backward when a word stands before it, forward only when a
        // tagged name or a surname follows it ("Maria de la Cruz"); that surname then joins
        // the particle before it.
        // A word taken only for being unknown (often a typo) pulls in no frequent word in
        // capitals ("SUCTINING THICK WHITE") and, in any case, no drug, device or eponym
        // that is no common given name ("permenant pacer": "pacer" would then be
        // redacted wherever the note says it).
        let typo_pull = why == Why::Unknown
            && ((modes.get(j).copied() == Some(Mode::Upper) && flag_of(j) & COMMON != 0)
                || (flag_of(j) & CAPSAFE != 0 && flag_of(j) & FIRST_CORE == 0));
        // A common given name in lower case right before a surname the rules found
        // ("grace dudak aware"), though it is also a frequent word; not a modal or
        // other function word ("will", "may"). In capitals too, before a surname of five
        // letters or more ("GRACE DUDAK AWARE"). A role in parentheses right after the
        // surname makes any given name before it one ("DICK CUCCHIARA (RESIDENT)").
        let role_after = tokens.get(i.saturating_add(1)).is_some_and(|r| {
            r.gap.ends_with('(')
                && !r.newline_before
                && person_cue(&r.lower)
                && !WEAK_CUES.contains(&r.lower.as_str())
                && tokens
                    .get(i.saturating_add(2))
                    .is_none_or(|n| n.gap.starts_with(')'))
        });
        let given_then_surname = j.checked_add(1) == Some(i)
            && !is_place
            && matches!(why, Why::Unknown | Why::Name | Why::Cue)
            && tokens.get(i).is_some_and(|t| t.letters >= 4)
            && tokens.get(j).is_some_and(|t| {
                let case = !t.first_upper
                    || (t.allcaps && tokens.get(i).is_some_and(|s| s.allcaps && s.letters >= 5));
                case && !t.has_digit && free.get(j).copied().unwrap_or(false)
            })
            && (flag_of(j) & FIRST_CORE != 0 || (role_after && flag_of(j) & FIRST != 0))
            && flag_of(j) & CAPSAFE == 0
            && !AFTER_CUE_FUNCTION.contains(&word(j));
        // A surname the name lists have after a given name right after a title, however
        // frequent the word ("pt of dr. john bowman"); not what the doctor does.
        let surname_after_given = i.checked_add(1) == Some(j)
            && why == Why::Cue
            && !is_place
            && flag_of(i) & FIRST != 0
            && i.checked_sub(1)
                .and_then(|h| tokens.get(h))
                .is_some_and(|h| {
                    HONORIFICS.contains(&h.lower.as_str()) && !spanish_title(&h.lower)
                })
            && tokens
                .get(j)
                .is_some_and(|t| !t.has_digit && free.get(j).copied().unwrap_or(false))
            && flag_of(j) & LAST != 0
            && flag_of(j) & CAPSAFE == 0
            && !AFTER_CUE_FUNCTION.contains(&word(j))
            && !PERSON_VERBS.contains(&word(j));
        // A town's last word after a place found ("IN MILFORD MILL BY EMS", "Glen
        // Falls"), in the case of the place.
        let town_suffix = is_place
            && i.checked_add(1) == Some(j)
            && PLACE_SUFFIXES.contains(&word(j))
            && tokens.get(j).is_some_and(|t| {
                tokens
                    .get(i)
                    .is_some_and(|p| p.allcaps == t.allcaps && p.first_upper == t.first_upper)
                    && free.get(j).copied().unwrap_or(false)
            });
        let ok = (joinable(j, is_place && j < i) && !typo_pull)
            || town_suffix
            || given_then_surname
            || lower_initial
            || surname_after_given
            || (particle && j < i && j > 0)
            || (particle
                && j > i
                && (tag.get(j.saturating_add(1)).copied().flatten().is_some()
                    || particles_then_surname(j)))
            || (j > i && particles_then_surname(i));
        if ok {
            if let Some(slot) = tag.get_mut(j) {
                *slot = Some(if why == Why::Cue {
                    Why::Cue
                } else {
                    Why::Joined
                });
            }
            if let Some(p) = place.get_mut(j) {
                *p = is_place;
            }
        }
    };
    for i in 0..tokens.len() {
        try_join(i, i.saturating_add(1), &mut tag);
    }
    for i in (1..tokens.len()).rev() {
        try_join(i, i.saturating_sub(1), &mut tag);
    }
    for i in 0..tokens.len() {
        try_join(i, i.saturating_add(1), &mut tag);
    }

    // Propagation: a word redacted once is redacted everywhere in the text; a word that
    // is also a frequent English word only where it is capitalized again, or followed by
    // what people do in notes ("son bill called … later bill called again").
    let seen: HashSet<&str> = tokens
        .iter()
        .zip(&tag)
        .filter(|(t, why)| why.is_some() && t.letters >= 3 && !t.initial)
        .map(|(t, _)| t.lower.as_str())
        .filter(|w| !PLACE_PREFIXES.contains(w) && !PARTICLES.contains(w))
        .collect();
    for (i, t) in tokens.iter().enumerate() {
        let frequent = flag_of(i) & COMMON != 0;
        // A ward's number glued to a name found in the text ("QUARTERMAIN3 DEVELOPED"
        // where "QUARTERMAIN 3" was found).
        let word = if t.has_digit {
            let stem = t.lower.trim_end_matches(|c: char| c.is_ascii_digit());
            if stem.chars().all(char::is_alphabetic) && stem.chars().count() >= 4 {
                stem
            } else {
                t.lower.as_str()
            }
        } else {
            t.lower.as_str()
        };
        if tag.get(i).copied().flatten().is_none()
            && free.get(i).copied().unwrap_or(false)
            && seen.contains(word)
            && !super::names::known_eponym_use(tokens, i)
            && (!frequent
                || t.first_upper
                || (person_verb_follows(tokens, i) && !determiner_before(tokens, i)))
        {
            if let Some(slot) = tag.get_mut(i) {
                *slot = Some(Why::Propagated);
            }
        }
    }

    // Spans: consecutive tagged words on a line become one finding.
    let mut out: Vec<Finding> = Vec::new();
    let mut i = 0usize;
    while i < tokens.len() {
        let Some(why) = tag.get(i).copied().flatten() else {
            i = i.saturating_add(1);
            continue;
        };
        let mut j = i;
        let mut strongest = why;
        while tag.get(j.saturating_add(1)).copied().flatten().is_some()
            && adjacent(j, j.saturating_add(1))
        {
            j = j.saturating_add(1);
            if let Some(w) = tag.get(j).copied().flatten() {
                if w.confidence() > strongest.confidence() {
                    strongest = w;
                }
            }
        }
        let is_place = (i..=j).any(|k| place.get(k).copied().unwrap_or(false));
        if let (Some(a), Some(b)) = (tokens.get(i), tokens.get(j)) {
            // An initial's period belongs to the name.
            let mut end = if b.initial && text.get(b.end..).is_some_and(|r| r.starts_with('.')) {
                b.end.saturating_add(1)
            } else {
                b.end
            };
            let mut start = a.start;
            // A house number belongs to the street word it stands before ("32
            // Chausseestr."), or after ("Robotnicza 144,").
            if let Some(n) = number_before(text, start) {
                start = n;
            } else if let Some(n) = number_after(text, end) {
                end = n;
            }
            out.push(Finding {
                entity: if is_place {
                    Entity::Address
                } else {
                    Entity::Person
                },
                start,
                end,
                confidence: strongest.confidence(),
                recognizer: strongest.recognizer(),
            });
        }
        i = j.saturating_add(1);
    }
    out.extend(facilities(tokens));
    out.extend(hospital_initials(tokens));
    out.extend(town_names(tokens, &modes, &free));
    out.extend(lowercase_facilities(tokens));
    out.extend(residence_phrases(tokens));
    out.extend(wards_with_numbers(text, tokens));
    out.extend(employers(text, tokens));
    out.extend(record_header(text));
    let lines = nonblank_lines(text);
    let header = header_lines(lines.get(..10).unwrap_or(&lines));
    out.extend(initials_elsewhere(text, tokens, &header));
    out.extend(header);
    out.extend(record_number_runs(&lines));
    out.extend(trailer_lines(&lines));
    out.extend(dates_by_scan(text));
    out.extend(agency_initials(tokens));
    out.extend(surname_then_initial(text, tokens));
    out.extend(list_entry_users(text, tokens));
    out.extend(titled_full_names(tokens));
    out.extend(self_introductions(tokens, &free));
    out.extend(streets_after_cue(text, tokens));
    out
}

/// Whether a lower-case word is one of the postal service's street suffixes
/// (`recognizers::STREET_SUFFIX`, a plural "s" where it allows one).
fn street_suffix(lower: &str) -> bool {
    static SUFFIXES: std::sync::OnceLock<HashSet<String>> = std::sync::OnceLock::new();
    SUFFIXES
        .get_or_init(|| {
            let mut set = HashSet::new();
            for s in super::recognizers::STREET_SUFFIX.split('|') {
                let word = s.trim_end_matches('?').to_ascii_lowercase();
                if s.ends_with("s?") {
                    set.insert(word.trim_end_matches('s').to_string());
                }
                set.insert(word);
            }
            set
        })
        .contains(lower)
}

/// A house number and street in any case after what says it is an address, with any of
/// the postal service's street suffixes ("lives at 6725 chapman garden", "mailing
/// address 4879 miller ferry"): one to three words between the number and the suffix,
/// on one line. Without such a cue only the common suffixes count (the
/// `street_lower` pattern), since "2 l via", "3 walks" and "4 cm neck" are no streets.
/// A scan over the words: as a pattern, the suffixes in any case made the redactor
/// more than twice as slow.
fn streets_after_cue(text: &str, tokens: &[Token]) -> Vec<Finding> {
    let mut out = Vec::new();
    let word = |k: usize| tokens.get(k).map(|t| t.lower.as_str()).unwrap_or_default();
    for (k, t) in tokens.iter().enumerate() {
        // The house number is the gap before the street's first word, after the colon
        // of "address:".
        let digits = t.gap.strip_prefix(':').unwrap_or(&t.gap);
        let number = digits.len() <= 6
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !t.newline_before;
        if !number {
            continue;
        }
        let p = word(k.saturating_sub(1));
        let q = k.checked_sub(2).map(word).unwrap_or_default();
        let cue = k > 0
            && match p {
                "at" => {
                    digits.len() == t.gap.len()
                        && matches!(
                            q,
                            "lives" | "live" | "living" | "resides" | "reside" | "residing"
                        )
                }
                "to" => digits.len() == t.gap.len() && matches!(q, "moved" | "ship"),
                "address" => true,
                "is" => q == "address",
                _ => false,
            };
        if !cue {
            continue;
        }
        let Some(end) = (k.saturating_add(1)..k.saturating_add(4)).find(|&e| {
            tokens
                .get(e)
                .is_some_and(|s| !s.newline_before && s.gap.is_empty() && street_suffix(&s.lower))
                && (k..e).all(|m| {
                    tokens.get(m).is_some_and(|w| {
                        !w.has_digit && (m == k || (w.gap.is_empty() && !w.newline_before))
                    })
                })
        }) else {
            continue;
        };
        let start = text
            .get(..t.start)
            .map(|b| b.trim_end().len().saturating_sub(digits.len()))
            .unwrap_or(t.start);
        if let Some(last) = tokens.get(end) {
            out.push(Finding {
                entity: Entity::Address,
                start,
                end: last.end,
                confidence: 0.6,
                recognizer: "strict_street_after_cue",
            });
        }
    }
    out
}

/// Words that end a message before its writer's name ("thanks, dirk", "regards,\nana").
const SIGN_OFFS: &[&str] = &[
    "thanks",
    "thx",
    "regards",
    "best",
    "cheers",
    "sincerely",
    "love",
    "respectfully",
];

/// Whether token `i` may be a name a writer gives: a listed name, however frequent a word
/// it also is ("maria"), or a word no list knows ("tuva", "lóa"), of two letters or more,
/// and no function word.
fn introduced(tokens: &[Token], i: usize) -> bool {
    tokens.get(i).is_some_and(|t| {
        let f = lexicon::flags(&t.lower);
        !t.has_digit
            && t.letters >= 2
            && t.letters == t.lower.chars().count()
            && !AFTER_CUE_FUNCTION.contains(&t.lower.as_str())
            && !PERSON_VERBS.contains(&t.lower.as_str())
            && (is_name(f) || f & SAFE == 0)
    })
}

/// Names that writers give of themselves or others, in any case: after "name is" ("my
/// name is maria", "her maiden name is ronner"), "call me", a "name:" label ("name:
/// porter, wendy") and "dictated by", "created by" and the like ("dictated by perla h.
/// tapia"); after "this is", "i'm", "im" or "i am" that open the message or follow a
/// greeting or a comma, a given name or a word no list knows ("hi im ana"; not "i am
/// diabetic"); a common given name after "spoke with" or "called" that closes the phrase
/// ("spoke with jane by phone"); and a name alone (with a surname) closing the text after
/// a sign-off ("thanks, dirk").
fn self_introductions(tokens: &[Token], free: &[bool]) -> Vec<Finding> {
    let mut out = Vec::new();
    let word = |k: usize| tokens.get(k).map(|t| t.lower.as_str()).unwrap_or_default();
    let same_line = |k: usize| {
        tokens
            .get(k)
            .is_some_and(|t| !t.newline_before && t.gap.is_empty())
    };
    let opens = |k: usize| {
        k == 0
            || tokens
                .get(k)
                .is_some_and(|t| t.newline_before || t.gap.contains([',', '.', '!', '?', ':']))
            || k.checked_sub(1)
                .is_some_and(|p| GREETINGS.contains(&word(p)) && same_line(k))
    };
    let mut push = |a: usize, b: usize| {
        if let (Some(x), Some(y)) = (tokens.get(a), tokens.get(b)) {
            if (a..=b).all(|k| free.get(k).copied().unwrap_or(false)) {
                out.push(Finding {
                    entity: Entity::Person,
                    start: x.start,
                    end: y.end,
                    confidence: 0.7,
                    recognizer: "strict_self_introduction",
                });
            }
        }
    };
    // Whether the word after `k` ends the phrase: a line break, punctuation, or one of
    // `words`.
    let closes = |k: usize, words: &[&str]| {
        tokens.get(k.saturating_add(1)).is_none_or(|n| {
            n.newline_before || !n.gap.is_empty() || words.contains(&n.lower.as_str())
        })
    };
    // A second word of the name, right after the first on its line.
    let surname = |k: usize| {
        same_line(k) && introduced(tokens, k) && {
            let f = lexicon::flags(word(k));
            f & LAST != 0 || f & SAFE == 0
        }
    };
    for i in 1..tokens.len() {
        let gap = tokens.get(i).map(|t| t.gap.as_str()).unwrap_or_default();
        if tokens.get(i).is_none_or(|t| t.newline_before) || !(gap.is_empty() || gap == ":") {
            continue;
        }
        let prev = word(i.saturating_sub(1));
        let prev2 = i.checked_sub(2).map(word).unwrap_or_default();
        let named_as = (gap.is_empty() && prev == "is" && prev2 == "name" && same_line(i.saturating_sub(1)))
            || (gap.is_empty() && prev == "me" && prev2 == "call")
            // A label's name after its colon, and whoever dictated, typed or signed
            // ("name: porter, wendy", "dictated by perla h. tapia", "this report was
            // created by shuff , osi").
            || (prev == "name" && gap == ":")
            || (gap.is_empty()
                && prev == "by"
                && matches!(
                    prev2,
                    "dictated" | "transcribed" | "typed" | "signed" | "entered" | "created" | "prepared"
                ));
        // Whom someone spoke with, a common given name closing the phrase ("spoke with
        // jane by phone about the results").
        let spoken_to = gap.is_empty()
            && ((matches!(prev, "with" | "to")
                && matches!(prev2, "spoke" | "talked" | "speaking" | "spoken"))
                || matches!(prev, "called" | "paged" | "texted" | "emailed" | "messaged"))
            && lexicon::flags(word(i)) & FIRST_CORE != 0
            && closes(
                i,
                &[
                    "by",
                    "about",
                    "re",
                    "regarding",
                    "today",
                    "yesterday",
                    "and",
                ],
            );
        if spoken_to && introduced(tokens, i) {
            push(i, i);
            continue;
        }
        let opener = gap.is_empty()
            && i.checked_sub(1).is_some_and(|p| {
                let pair = i.checked_sub(2);
                (matches!(prev, "im" | "i'm" | "i’m") && opens(p))
                    || (prev == "is" && prev2 == "this" && pair.is_some_and(&opens))
                    || (prev == "am" && prev2 == "i" && pair.is_some_and(&opens))
            });
        if !(named_as || opener) || !introduced(tokens, i) {
            continue;
        }
        // After an opener, a word no list knows must end the clause ("im tuva and",
        // "this is lea from"), not lead on ("im gona call").
        let f = lexicon::flags(word(i));
        let ends = closes(i, &["and", "from", "here", "again", "with", "at"]);
        if opener && !named_as && f & FIRST == 0 && !ends {
            continue;
        }
        // "i am diabetic", "this is urgent", "i am well": a word the lexicon knows that is
        // no given name, or a frequent word that is no common one, says what, not who.
        let what = f & SAFE != 0 && (f & FIRST == 0 || (f & COMMON != 0 && f & FIRST_CORE == 0));
        if opener && !named_as && what {
            continue;
        }
        let mut last = if surname(i.saturating_add(1)) {
            i.saturating_add(1)
        } else {
            i
        };
        // Surname first, then the given name after a comma ("name: porter, wendy"), or
        // a middle initial and the surname ("perla h. tapia").
        let next = last.saturating_add(1);
        if named_as
            && tokens
                .get(next)
                .is_some_and(|n| n.gap == "," && !n.newline_before && introduced(tokens, next))
        {
            last = next;
        } else if named_as
            && tokens
                .get(next)
                .is_some_and(|n| n.letters == 1 && same_line(next))
            && tokens
                .get(next.saturating_add(1))
                .is_some_and(|n| n.gap == "." && !n.newline_before)
            && introduced(tokens, next.saturating_add(1))
        {
            last = next.saturating_add(1);
        }
        push(i, last);
    }
    // A sign-off, a comma, and the writer's name closing the text.
    for i in 1..tokens.len() {
        let t = tokens.get(i);
        let after_sign_off = i.checked_sub(1).is_some_and(|p| {
            SIGN_OFFS.contains(&word(p))
                || (word(p) == "you" && word(p.saturating_sub(1)) == "thank")
        }) && t.is_some_and(|t| t.gap.contains(',') || t.newline_before);
        if !after_sign_off || !introduced(tokens, i) {
            continue;
        }
        let last = if surname(i.saturating_add(1)) {
            i.saturating_add(1)
        } else {
            i
        };
        if tokens.get(last.saturating_add(1)).is_none() {
            push(i, last);
        }
    }
    out
}

/// A city and academic medical centers known by initials that dictionaries also list:
/// after a place word they name the place ("from NYC", "seen at UCSF,"). Initials that
/// are also clinical terms ("MSK", "UVA") are not here.
const KNOWN_INITIALS: &[&str] = &[
    "nyc", "ucsf", "ucla", "ucsd", "uci", "mgh", "bwh", "bidmc", "upmc", "ohsu", "nyu", "unc",
    "vumc", "mskcc", "ummc", "uwmc",
];

/// Initials after "to the", "at the" or "from the" that name no place: a hospital's
/// units ("transferred to the CVICU") and the systems an audit names ("access to the
/// EHR").
const NOT_PLACE_INITIALS: &[&str] = &[
    "cvicu", "tsicu", "ctic", "cticu", "msicu", "nsicu", "ncicu", "neuroicu", "sdu", "rcu", "ccu",
    "micu", "sicu", "picu", "nicu", "pacu", "csru", "cvru", "tcu", "ltac", "ltach", "snf", "ecf",
    "rehab", "ptu", "cdu", "obs", "edou", "cmu", "ehr", "emr", "sso", "mfa", "ris", "lis", "mar",
];

/// Words the name lists carry that name a class, a stage or a part before a letter
/// ("Group A. strep", "Type B. personality").
const CLASS_WORDS: &[&str] = &[
    "group",
    "type",
    "class",
    "factor",
    "stage",
    "grade",
    "lead",
    "plan",
    "vitamin",
    "phase",
    "level",
    "zone",
    "part",
    "section",
    "schedule",
    "category",
    "form",
    "hepatitis",
    "room",
    "bed",
    "ward",
    "unit",
    "team",
    "block",
    "wing",
    "pod",
    "exhibit",
    "figure",
    "table",
];

/// A full name after a title and its period, given name, initial and surname ("DR. NU L.
/// GALL", "Dr. Lenni E. Cage"), however ordinary each word: the initial between them
/// makes the three a name.
fn titled_full_names(tokens: &[Token]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if !matches!(t.lower.as_str(), "dr" | "mr" | "mrs" | "ms") || !t.first_upper {
            continue;
        }
        let (Some(given), Some(initial), Some(surname)) = (
            tokens.get(i.saturating_add(1)),
            tokens.get(i.saturating_add(2)),
            tokens.get(i.saturating_add(3)),
        ) else {
            continue;
        };
        let word = |w: &Token| {
            w.first_upper
                && !w.has_digit
                && w.letters >= 2
                && !w.newline_before
                && !AFTER_CUE_FUNCTION.contains(&w.lower.as_str())
        };
        if given.gap == "."
            && word(given)
            && initial.initial
            && initial.gap.is_empty()
            && !initial.newline_before
            && surname.gap == "."
            && word(surname)
        {
            out.push(Finding {
                entity: Entity::Person,
                start: given.start,
                end: surname.end,
                confidence: 0.7,
                recognizer: "strict_titled_full_name",
            });
        }
    }
    out
}

/// The user who entered a line of an electronic record's allergy or medication list,
/// in lower case at the line's end: after the entry's date ("No Known Drug Allergies
/// 05/21/2087 ostrowski") or after its status ("... - 02/02/2090 ACT : ostrowski"). Only
/// a word no list knows as an ordinary word: "05/21/2087 daily" stays.
fn list_entry_users(text: &str, tokens: &[Token]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let ends_line = tokens
            .get(i.saturating_add(1))
            .is_none_or(|n| n.newline_before);
        if !ends_line
            || t.first_upper
            || t.has_digit
            || t.newline_before
            || t.letters < 3
            || t.letters != t.lower.len()
            || lexicon::flags(&t.lower) & (SAFE | COMMON) != 0
        {
            continue;
        }
        let status = t.gap == ":"
            && i.checked_sub(1)
                .and_then(|p| tokens.get(p))
                .is_some_and(|p| p.allcaps && p.lower == "act");
        // A date written in full right before it, a space between.
        let before = text.get(..t.start).unwrap_or_default();
        let date = before.ends_with(' ')
            && before.trim_end().rsplit(' ').next().is_some_and(|w| {
                let parts: Vec<&str> = w.split('/').collect();
                parts.len() == 3
                    && parts
                        .iter()
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    && parts.get(2).is_some_and(|y| y.len() == 4)
            });
        if status || date {
            out.push(Finding {
                entity: Entity::Person,
                start: t.start,
                end: t.end,
                confidence: 0.6,
                recognizer: "strict_list_entry_user",
            });
        }
    }
    out
}

/// A surname the name lists know, even one that is also a word, with a given name's
/// initial after it, then a comma or a word in lower case ("Smith J., visited", "Brown
/// K. called back"); not "Vitamin D. Levels", "Group A. strep".
fn surname_then_initial(text: &str, tokens: &[Token]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let Some(n) = tokens.get(i.saturating_add(1)) else {
            continue;
        };
        if !t.first_upper
            || t.letters < 3
            || t.has_digit
            || lexicon::flags(&t.lower) & LAST == 0
            || CLASS_WORDS.contains(&t.lower.as_str())
            || !n.initial
            || !n.gap.is_empty()
            || n.newline_before
        {
            continue;
        }
        // The letter's period, then a comma or a word in lower case on the line.
        let after = text.get(n.end..).unwrap_or_default();
        let Some(rest) = after.strip_prefix('.') else {
            continue;
        };
        let goes_on = rest.starts_with(',')
            || rest
                .strip_prefix(' ')
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_lowercase()));
        if goes_on {
            out.push(Finding {
                entity: Entity::Person,
                start: t.start,
                end: n.end.saturating_add(1),
                confidence: 0.7,
                recognizer: "strict_surname_initial",
            });
        }
    }
    out
}

/// The header line an EHR export puts before a note, its fields between pipes
/// ("121547079 | CMH | 18332143 | | 268595 | 2/17/1995 12:00:00 AM | Discharge Summary |
/// Signed | DIS | Admission Date: …"): in a line that opens with a number of six digits
/// or more and has a field with a time of day, every field of five digits or more is a
/// record number and a field of one to six capitals before the first of them is the
/// facility's initials. The note's kind and status ("DIS", "Signed") come after them.
fn record_header(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let base = offset;
        offset = offset.saturating_add(line.len());
        let fields: Vec<(usize, &str)> = line
            .split('|')
            .scan(base, |at, f| {
                let start = *at;
                *at = at.saturating_add(f.len()).saturating_add(1);
                Some((start, f))
            })
            .collect();
        let opens_with_number = fields.first().is_some_and(|(_, f)| {
            f.split_whitespace()
                .next_back()
                .map(|w| w.trim_start_matches('#'))
                .is_some_and(|w| w.len() >= 6 && w.bytes().all(|b| b.is_ascii_digit()))
        });
        let timed = fields.iter().any(|(_, f)| {
            let f = f.trim();
            (f.ends_with(" AM") || f.ends_with(" PM")) && f.contains(':')
        });
        if fields.len() < 5 || !opens_with_number || !timed {
            continue;
        }
        let mut seen_number = false;
        for (k, (start, field)) in fields.iter().enumerate() {
            let trimmed = field.trim();
            let lead = field.len().saturating_sub(field.trim_start().len());
            let begin = start.saturating_add(lead);
            let end = begin.saturating_add(trimmed.len());
            let digits = trimmed.len() >= 5 && trimmed.bytes().all(|b| b.is_ascii_digit());
            // The first field's number ends it ("RECORD #155092 121547079").
            let last_word = trimmed
                .split_whitespace()
                .next_back()
                .unwrap_or_default()
                .trim_start_matches('#');
            let first_number = k == 0 && last_word.bytes().all(|b| b.is_ascii_digit());
            if digits || first_number {
                let begin = if first_number {
                    end.saturating_sub(last_word.len())
                } else {
                    begin
                };
                out.push(Finding {
                    entity: Entity::Id,
                    start: begin,
                    end,
                    confidence: 0.8,
                    recognizer: "strict_record_header",
                });
                seen_number = k > 0 || seen_number;
            } else if !seen_number
                && k > 0
                && (1..=6).contains(&trimmed.len())
                && trimmed.bytes().all(|b| b.is_ascii_uppercase())
            {
                out.push(Finding {
                    entity: Entity::Address,
                    start: begin,
                    end,
                    confidence: 0.7,
                    recognizer: "strict_record_header",
                });
            }
        }
    }
    out
}

/// Lines that name what kind of report follows, not where it was written ("DIS").
const REPORT_KINDS: &[&str] = &[
    "DIS", "DS", "ED", "ER", "NEU", "RAD", "ORD", "HPI", "CC", "SOAP", "YES", "NO", "NA", "SIGNED",
    "FINAL", "ICU", "PT", "OT", "OP", "DC", "HP",
];

/// A line that is one number of at least `min` digits and nothing else ("977146916").
fn lone_number(line: &str, min: usize) -> bool {
    line.len() >= min && line.bytes().all(|b| b.is_ascii_digit())
}

/// A line that opens with a date written with two slashes ("10/13/1997 12:00:00 AM").
fn slashed_date_first(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or_default();
    first.matches('/').count() == 2
        && first.bytes().all(|b| b.is_ascii_digit() || b == b'/')
        && first.len() >= 6
}

/// A line that is a date and nothing else, or a date and a time of day ("05-10-94",
/// "12/11/2002", "01/09/2003 16:56").
fn date_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or_default();
    let parts: Vec<&str> = first.split(['/', '-']).collect();
    let numeric = parts.len() == 3
        && parts
            .iter()
            .all(|p| (1..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    numeric
        && words.all(|w| {
            w.bytes().all(|b| b.is_ascii_digit() || b == b':')
                || matches!(w, "AM" | "PM" | "A" | "P")
        })
}

/// A date stamped with a time of day ("10/13/1997 12:00:00 AM").
fn stamped_date(line: &str) -> bool {
    slashed_date_first(line)
        && (line.ends_with(" AM") || line.ends_with(" PM"))
        && line.contains(':')
}

/// Record numbers written one a line anywhere in a text, where an export's records are
/// run together and a record's header stands in the middle ("301443520" / "448922" /
/// "Report Status :"): lone numbers of five digits or more on consecutive lines, one of
/// them six digits or more; and such numbers or codes of capitals and digits on the
/// lines right before or after a line that is only a date ("901425" / "05-10-94",
/// "05/01/91" / "X398" / "KZ848I9"). A single lone number elsewhere stays to the other
/// rules (a result written on its own line). `lines` are the text's non-blank lines.
fn record_number_runs(lines: &[(usize, &str)]) -> Vec<Finding> {
    // A report's or a batch's code alone on its line ("X398", "KZ848I9"): capitals and
    // digits, two digits or more.
    let code = |l: &str| {
        (4..=12).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && l.bytes().filter(u8::is_ascii_digit).count() >= 2
            && l.bytes().any(|b| b.is_ascii_uppercase())
    };
    let lone = |l: &str| lone_number(l, 5) || code(l);
    let mut out = Vec::new();
    let mut k = 0usize;
    while k < lines.len() {
        if !lines.get(k).is_some_and(|&(_, l)| lone(l)) {
            k = k.saturating_add(1);
            continue;
        }
        let mut end = k;
        while lines
            .get(end.saturating_add(1))
            .is_some_and(|&(_, l)| lone(l))
        {
            end = end.saturating_add(1);
        }
        let run = lines.get(k..=end).unwrap_or_default();
        let date_beside = k
            .checked_sub(1)
            .and_then(|p| lines.get(p))
            .is_some_and(|&(_, l)| date_line(l))
            || lines
                .get(end.saturating_add(1))
                .is_some_and(|&(_, l)| date_line(l));
        let long = run.iter().any(|&(_, l)| lone_number(l, 6));
        if (run.len() >= 2 && long) || date_beside {
            for &(start, line) in run {
                out.push(Finding {
                    entity: Entity::Id,
                    start,
                    end: start.saturating_add(line.len()),
                    confidence: 0.7,
                    recognizer: "strict_record_header",
                });
            }
        }
        k = end.saturating_add(1);
    }
    out
}

/// The opening lines of a hospital export written one field a line (the discharge
/// summaries of the i2b2 2006 challenge: "977146916" / "HLGMC" / "2878891" /
/// "10/13/1997 12:00:00 AM"): where a lone record number of six digits or more or a date
/// stamped with a time of day stands among the first six lines, every lone number of five
/// digits or more there is a record number; and a line of two to six capitals alone is
/// the facility's initials when it follows such a number, when it opens the text before a
/// number or a date, or when it opens the text and no list knows it ("NVH" /
/// "CONGESTIVE HEART FAILURE"). A report kind ("DIS") or a heading ("HPI") stays. In
/// such a header a dictation code or a room alone on one of the first ten lines ("ARF32
/// FA", "2N-867") is a record number too. `lines` are the text's first ten non-blank
/// lines.
fn header_lines(lines: &[(usize, &str)]) -> Vec<Finding> {
    let number = lone_number;
    let dated = slashed_date_first;
    let stamped = stamped_date;
    let initials = |s: &str| {
        (2..=6).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_uppercase())
            && !REPORT_KINDS.contains(&s)
    };
    // A dictation code alone on its line ("ARF32 FA"): letters, then two digits or more,
    // then at most a short group of letters.
    let code = |s: &str| {
        let mut words = s.split(' ');
        let first = words.next().unwrap_or_default();
        let letters = first.bytes().take_while(|b| b.is_ascii_uppercase()).count();
        let digits = first.len().saturating_sub(letters);
        (2..=4).contains(&letters)
            && (digits >= 2 || (digits == 1 && letters >= 3))
            && first.bytes().skip(letters).all(|b| b.is_ascii_digit())
            && words
                .all(|w| (1..=3).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_uppercase()))
            && s.split(' ').count() <= 2
    };
    // A room alone on its line ("2N-867", "25Y-975"): digits and letters, a hyphen,
    // digits.
    let room = |s: &str| {
        let Some((head, tail)) = s.split_once('-') else {
            return false;
        };
        let digits = head.bytes().take_while(u8::is_ascii_digit).count();
        (1..=2).contains(&digits)
            && (1..=2).contains(&head.len().saturating_sub(digits))
            && head.bytes().skip(digits).all(|b| b.is_ascii_uppercase())
            && (3..=4).contains(&tail.len())
            && tail.bytes().all(|b| b.is_ascii_digit())
    };
    let header = lines
        .iter()
        .take(6)
        .any(|&(_, l)| number(l, 6) || stamped(l));
    let mut out = Vec::new();
    for (k, &(start, line)) in lines.iter().enumerate() {
        let end = start.saturating_add(line.len());
        if header && ((k < 6 && number(line, 5)) || code(line) || room(line)) {
            out.push(Finding {
                entity: Entity::Id,
                start,
                end,
                confidence: 0.7,
                recognizer: "strict_record_header",
            });
            continue;
        }
        // A record number and the facility's initials on one line ("099435738 EH").
        if let Some((head, tail)) = line.split_once(' ') {
            if header && k < 6 && number(head, 6) && initials(tail) {
                let split = start.saturating_add(head.len());
                out.push(Finding {
                    entity: Entity::Id,
                    start,
                    end: split,
                    confidence: 0.7,
                    recognizer: "strict_record_header",
                });
                out.push(Finding {
                    entity: Entity::Address,
                    start: end.saturating_sub(tail.len()),
                    end,
                    confidence: 0.6,
                    recognizer: "strict_record_header",
                });
                continue;
            }
        }
        if k >= 4 || !initials(line) {
            continue;
        }
        let after_number = k
            .checked_sub(1)
            .and_then(|j| lines.get(j))
            .is_some_and(|&(_, p)| number(p, 6));
        let next = lines.get(k.saturating_add(1)).map(|&(_, n)| n);
        // Before the number, a date, or the report's kind ("CMC" / "DIS").
        let opens_record = k == 0 && next.is_some_and(|n| number(n, 5) || dated(n) || n == "DIS");
        let unknown = k == 0
            && next.is_some()
            && lexicon::flags(&line.to_ascii_lowercase()) & (SAFE | CAPSAFE) == 0;
        if after_number || opens_record || unknown {
            out.push(Finding {
                entity: Entity::Address,
                start,
                end,
                confidence: 0.6,
                recognizer: "strict_record_header",
            });
        }
    }
    out
}

/// Every other mention, in capitals, of the facility initials a record's header names
/// ("099435738 PUMC" … "If you would like an PUMC primary care physician"), and in lower
/// case after a word for going there ("transferred to yc").
fn initials_elsewhere(text: &str, tokens: &[Token], header: &[Finding]) -> Vec<Finding> {
    let named: HashSet<&str> = header
        .iter()
        .filter(|f| f.entity == Entity::Address)
        .filter_map(|f| text.get(f.start..f.end))
        .collect();
    let lower: HashSet<String> = named.iter().map(|w| w.to_ascii_lowercase()).collect();
    let mention = |i: usize, t: &Token| {
        let same = text.get(t.start..t.end).is_some_and(|w| named.contains(w));
        // In lower case after a word for going somewhere ("transferred to yc").
        let lowered = !t.first_upper
            && lower.contains(&t.lower)
            && !t.newline_before
            && i.checked_sub(1)
                .and_then(|p| tokens.get(p))
                .is_some_and(|p| matches!(p.lower.as_str(), "to" | "at" | "from" | "into"));
        (t.allcaps && same) || lowered
    };
    initials_mentions(tokens, mention, 0.6, "strict_record_header")
}

/// A place finding for every token `mention` picks (by its index and itself): the
/// mentions of a facility's or an agency's initials once they are known.
fn initials_mentions(
    tokens: &[Token],
    mention: impl Fn(usize, &Token) -> bool,
    confidence: f32,
    recognizer: &'static str,
) -> Vec<Finding> {
    tokens
        .iter()
        .enumerate()
        .filter(|&(i, t)| mention(i, t))
        .map(|(_, t)| Finding {
            entity: Entity::Address,
            start: t.start,
            end: t.end,
            confidence,
            recognizer,
        })
        .collect()
}

/// The text's non-blank lines, trimmed, each with the offset where its trimmed text
/// starts.
fn nonblank_lines(text: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if !trimmed.is_empty() {
            let lead = line.len().saturating_sub(line.trim_start().len());
            lines.push((offset.saturating_add(lead), trimmed));
        }
        offset = offset.saturating_add(line.len());
    }
    lines
}

/// A dictation trailer's lines: a typist's initials in lower case alone on the line after
/// a dictation stamp or before its date stamp ("TR :" / "tm", "Electronically Signed" /
/// "war", "TR :" / "ye / bmot", "uev" / "DD :"), and a report's code alone on the line
/// after its label ("Report :" / "RZ878Y3": letters and three digits or more; "Batch :" /
/// "349", "U886"); `lines` are the text's non-blank lines.
fn trailer_lines(lines: &[(usize, &str)]) -> Vec<Finding> {
    // Whether a line is one of a few labels, in any case.
    fn one_of(line: &str, labels: &[&str]) -> bool {
        labels.iter().any(|l| line.eq_ignore_ascii_case(l))
    }
    let mut out = Vec::new();
    let mut previous = "";
    for (k, &(start, trimmed)) in lines.iter().enumerate() {
        let end = start.saturating_add(trimmed.len());
        let mut push = |entity: Entity, start: usize, end: usize, recognizer: &'static str| {
            out.push(Finding {
                entity,
                start,
                end,
                confidence: 0.55,
                recognizer,
            });
        };
        let short = trimmed.len() <= 16;
        // One set of initials or several joined by slashes ("ye / bmot"); in capitals
        // under a label in capitals ("TR :" / "TFV"), as a note typed in capitals has them.
        let cased = |case: fn(&u8) -> bool| {
            short
                && trimmed.split('/').all(|w| {
                    let w = w.trim();
                    (2..=5).contains(&w.len()) && w.bytes().all(|b| case(&b))
                })
        };
        let capitals = cased(u8::is_ascii_uppercase)
            && !previous.bytes().any(|b| b.is_ascii_lowercase())
            && previous.bytes().any(|b| b.is_ascii_uppercase());
        let initials = cased(u8::is_ascii_lowercase) || capitals;
        if initials {
            // The dictation's date stamp on the next line ("uev" / "DD :").
            let stamp = lines
                .get(k.saturating_add(1))
                .is_some_and(|&(_, n)| one_of(n, &["dd :", "dd:", "td :", "td:"]))
                || one_of(
                    previous,
                    &[
                        "tr :",
                        "tr:",
                        "electronically signed",
                        "transcribed by :",
                        "transcribed by:",
                    ],
                );
            // After the label of whom a dictation was for or by, a group no list knows
            // ("DICTATING FOR :" / "zbb"; not "none").
            let dictated = one_of(
                previous,
                &[
                    "dictating for :",
                    "dictating for:",
                    "dictated by :",
                    "dictated by:",
                ],
            ) && lexicon::flags(&trimmed.to_ascii_lowercase()) & (SAFE | COMMON)
                == 0;
            // Which of the groups no list knows, each looked up once.
            let unknown: Vec<bool> = trimmed
                .split('/')
                .map(|w| lexicon::flags(&w.trim().to_ascii_lowercase()) & (SAFE | COMMON) == 0)
                .collect();
            // After a signature line, or joined by slashes with a group no list knows
            // ("iek / bmot"; not "and / or").
            let signed = previous.ends_with("M.D.") || previous.ends_with(", MD");
            // Before the dictation's date alone on its line, initials no list knows
            // ("rc" / "05/22/1999").
            let dated = lines
                .get(k.saturating_add(1))
                .is_some_and(|&(_, n)| date_line(n))
                && unknown.iter().all(|&u| u);
            let slashed = unknown.len() > 1 && unknown.iter().any(|&u| u);
            if stamp || dictated || (!capitals && (dated || signed || slashed)) {
                push(Entity::Person, start, end, "strict_typist_line");
            }
        }
        // A batch's number, however short ("Batch :" / "349", "U886"), and a report's
        // code ("Report :" / "RZ878Y3").
        if (3..=12).contains(&trimmed.len())
            && trimmed
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            let digits = trimmed.bytes().filter(u8::is_ascii_digit).count();
            let report = one_of(previous, &["report :", "report:"])
                && trimmed.len() >= 4
                && digits >= 3
                && digits < trimmed.len();
            let batch = one_of(previous, &["batch :", "batch:"]) && digits >= 2;
            if report || batch {
                push(Entity::Id, start, end, "strict_trailer_code");
            }
        }
        // A dictation code alone on the line after the signer's ("ANNA MOST , M.D. XC45" /
        // "XKSVMJ44 MR"), or after the job's number that follows the signer's, a label
        // between them or not ("... , M.D. MY4 PO734/8975" / "6571" / "OIYOVF2 JEX"):
        // capitals with a digit, and a short group of capitals.
        let after_job_number = (3..=6).contains(&previous.len())
            && previous.bytes().all(|b| b.is_ascii_digit())
            && (2..=3).any(|back| {
                k.checked_sub(back)
                    .and_then(|j| lines.get(j))
                    .is_some_and(|&(_, l)| l.contains("M.D."))
            });
        if short && (previous.contains("M.D.") || after_job_number) {
            let (head, tail) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
            let signer_code = (6..=12).contains(&head.len())
                && head
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                && head.bytes().filter(u8::is_ascii_uppercase).count() >= 3
                && head.bytes().any(|b| b.is_ascii_digit())
                && (tail.is_empty()
                    || ((2..=3).contains(&tail.len())
                        && tail.bytes().all(|b| b.is_ascii_uppercase())));
            if signer_code {
                push(Entity::Id, start, end, "strict_trailer_code");
            }
        }
        // A room alone on the line after its label ("Room :" / "9Y-298"), as a header
        // writes it (`header_lines`).
        if one_of(previous, &["room :", "room:"])
            && (3..=12).contains(&trimmed.len())
            && trimmed.bytes().any(|b| b.is_ascii_digit())
            && trimmed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            push(Entity::Id, start, end, "strict_record_header");
        }
        // A name alone on the line after a person's label ("Patient Name :" / "Rose
        // Grant", "PCP :" / "DR. ADA K. MOSS").
        if let Some(span) = labelled_name(previous, trimmed) {
            push(
                Entity::Person,
                start,
                start.saturating_add(span),
                "strict_labelled_name",
            );
        }
        // A code of capitals and digits after a date stamp ("07/09/99 HP8") or alone on
        // its line ("ARF32 FA"; see `code_line`); not a lab's name ("CO2", "CA125").
        if let Some((a, b)) = code_line(trimmed) {
            push(
                Entity::Id,
                start.saturating_add(a),
                start.saturating_add(b),
                "strict_trailer_code",
            );
        }
        // A name alone on its line, surname first in capitals ("NIQUE , TOYA N"), where
        // one of the two is a word no list knows or a listed name, or before the
        // dictation's number ("SECOND , CA Dictation ID 0750210").
        if trimmed.contains(" , ") {
            if let Some(span) = surname_first_line(trimmed) {
                push(
                    Entity::Person,
                    start,
                    start.saturating_add(span),
                    "strict_surname_first_line",
                );
            }
        }
        if trimmed.contains(',') {
            if let Some((a, b)) = signature_name(trimmed) {
                push(
                    Entity::Person,
                    start.saturating_add(a),
                    start.saturating_add(b),
                    "strict_signature_line",
                );
            }
            // A second signer after a slash on the same line ("NIA TREM , M.D. KV518/0392
            // / ADA LUNE , M.D.").
            for (k, _) in trimmed.match_indices(" / ") {
                let from = k.saturating_add(3);
                let rest = trimmed.get(from..).unwrap_or_default();
                if let Some((a, b)) = signature_name(rest) {
                    push(
                        Entity::Person,
                        start.saturating_add(from).saturating_add(a),
                        start.saturating_add(from).saturating_add(b),
                        "strict_signature_line",
                    );
                }
            }
        }
        previous = trimmed;
    }
    out
}

/// Labels of a person written alone on their line, the name on the next ("Patient Name
/// :" / "Rose Grant").
const PERSON_LABELS: &[&str] = &[
    "name",
    "patient name",
    "pt name",
    "pcp",
    "pcp name",
    "attending",
    "attending physician",
    "provider",
    "physician",
    "primary care physician",
    "referring physician",
    "doctor",
    "emergency contact",
    "guardian",
    "next of kin",
    "nok",
    "nurse",
    "resident",
    "surgeon",
    "mother",
    "father",
    "spouse",
    "caregiver",
    "interpreter",
];

/// The length of a name alone on the line after a person's label (`PERSON_LABELS`, then
/// a colon): one to four words, each capitalized or in capitals, or an initial, maybe
/// after a title and with commas between ("Rose Grant", "DR. ADA K. MOSS", "GRANT ,
/// ROSE"), one of them a listed name or a word no list knows, none a word that says
/// there is no name ("NONE , PHYSICIAN", "Unknown"). Where label and line are both typed
/// in lower case, the words may be too ("pcp name :" / "riveshew , shasta").
fn labelled_name(previous: &str, line: &str) -> Option<usize> {
    let label = previous.trim_end_matches([' ', ':']).to_ascii_lowercase();
    if !previous.ends_with(':') || !PERSON_LABELS.contains(&label.as_str()) {
        return None;
    }
    let lower_typed = |s: &str| !s.bytes().any(|b| b.is_ascii_uppercase());
    let lower = lower_typed(previous) && lower_typed(line);
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let shaped = |w: &str| {
        let body = w.trim_end_matches('.');
        let mut chars = body.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || (lower && c.is_ascii_lowercase()))
            && chars.all(|c| c.is_ascii_alphabetic() || c == '\'' || c == '-')
    };
    let empty = |w: &str| {
        matches!(
            w.to_ascii_lowercase().as_str(),
            "none" | "unknown" | "self" | "na" | "n/a" | "physician" | "not" | "no" | "yes"
        )
    };
    let titled = words.first().is_some_and(|w| {
        matches!(
            w.to_ascii_lowercase().trim_end_matches('.'),
            "dr" | "mr" | "mrs" | "ms" | "miss"
        )
    });
    let named = words.len().saturating_sub(usize::from(titled));
    // A listed name or a word no list knows among them ("Stable" is neither).
    let namey = words.iter().skip(usize::from(titled)).any(|w| {
        let f = lexicon::flags(&w.trim_end_matches('.').to_ascii_lowercase());
        is_name(f) || f & SAFE == 0
    });
    ((1..=4).contains(&named)
        && namey
        && words.iter().all(|w| shaped(w) && !empty(w))
        && !line.bytes().any(|b| b.is_ascii_digit()))
    .then_some(line.len())
}

/// Where a line's code of capitals and digits is (see `trailer_lines`): the last word
/// after a date stamp ("07/09/99 HP8", "09/26/01 10:15 A XC45"), or the whole line when it
/// is such a code with two digits or more, its capitals first, and a group of one to
/// three capitals after it ("ARF32 FA") or three capitals or more that no list knows.
fn code_line(line: &str) -> Option<(usize, usize)> {
    let code = |w: &str, min_digits: usize| {
        let upper = w.bytes().filter(u8::is_ascii_uppercase).count();
        let digits = w.bytes().filter(u8::is_ascii_digit).count();
        (3..=12).contains(&w.len())
            && w.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && w.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
            && upper >= 2
            && digits >= min_digits
    };
    if let Some((head, last)) = line.rsplit_once(' ') {
        if date_line(head) && code(last, 1) {
            let start = line.len().saturating_sub(last.len());
            return Some((start, line.len()));
        }
    }
    let (head, tail) = line.split_once(' ').unwrap_or((line, ""));
    let capitals_first = head.bytes().take_while(u8::is_ascii_uppercase).count() >= 2;
    let short_tail = (1..=3).contains(&tail.len()) && tail.bytes().all(|b| b.is_ascii_uppercase());
    // Alone, three capitals or more that no list knows ("XKR25"; not "CA125", "COVID19").
    let lone = tail.is_empty()
        && head.bytes().filter(u8::is_ascii_uppercase).count() >= 3
        && lexicon::flags(&head.to_ascii_lowercase()) & (SAFE | COMMON) == 0
        && !head.to_ascii_lowercase().starts_with("covid");
    (code(head, 2) && capitals_first && (short_tail || lone)).then_some((0, line.len()))
}

/// The length of a line's opening name written surname first in capitals ("NIQUE , TOYA
/// N", "SECOND , CA Dictation ID 0750210"): the whole line, or the name before "Dictation
/// ID". One of the two words must be unknown to the lists or a listed name, unless the
/// dictation's number follows; a heading of two findings ("HYPERTENSION , DIABETES")
/// stays.
fn surname_first_line(line: &str) -> Option<usize> {
    let (name, dictation) = match line.find(" Dictation ID ") {
        Some(k) => (line.get(..k)?, true),
        None => (line, false),
    };
    let (surname, given) = name.split_once(" , ")?;
    let given_words: Vec<&str> = given.split(' ').collect();
    let capitals = |w: &str| w.bytes().all(|b| b.is_ascii_uppercase());
    if surname.len() < 2
        || !capitals(surname)
        || given_words.is_empty()
        || given_words.len() > 3
        || !given_words.iter().all(|w| !w.is_empty() && capitals(w))
        || given_words.first().is_none_or(|w| w.len() < 2)
    {
        return None;
    }
    let namey = |w: &str| {
        let f = lexicon::flags(&w.to_ascii_lowercase());
        f & SAFE == 0 || (is_name(f) && f & COMMON == 0)
    };
    let first_given = given_words.first().copied().unwrap_or_default();
    (dictation || namey(surname) || namey(first_given)).then_some(name.len())
}

/// The word of ASCII letters that ends, whitespace skipped, right before `end`, with
/// its start; `None` without whitespace between or when the word is glued to a digit.
fn word_before(text: &str, end: usize) -> Option<(usize, &str)> {
    let head = text.get(..end)?;
    let trimmed = head.trim_end();
    if trimmed.len() == head.len() {
        return None;
    }
    let start = trimmed
        .char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_ascii_alphabetic())
        .last()
        .map(|(k, _)| k)?;
    let glued = trimmed
        .get(..start)
        .and_then(|h| h.chars().next_back())
        .is_some_and(|c| c.is_alphanumeric());
    (!glued).then(|| (start, trimmed.get(start..).unwrap_or_default()))
}

/// Units a range of numbers counts in ("in 05-10 minutes").
const DURATION_UNITS: &[&str] = &[
    "minutes", "minute", "min", "mins", "hours", "hour", "hrs", "hr", "days", "day", "weeks",
    "week", "wks", "months", "month", "years", "year", "yrs", "mg", "mcg", "mm", "cm", "kg", "lbs",
    "units", "percent", "beats", "bpm", "seconds", "sec", "times", "cc", "ml",
];

/// Prepositions before a month and day written with a leading zero.
const ZERO_DATE_PREPS: &[&str] = &[
    "in", "on", "since", "from", "until", "by", "of", "after", "before",
];

/// What a month and year after "of", "from", "on" or "dated" dates.
const DATED_EVENTS: &[&str] = &[
    "study",
    "studies",
    "scan",
    "exam",
    "examination",
    "film",
    "films",
    "visit",
    "admission",
    "surgery",
    "procedure",
    "ct",
    "mri",
    "mra",
    "echo",
    "echocardiogram",
    "biopsy",
    "note",
    "report",
    "ray",
    "ultrasound",
    "ekg",
    "ecg",
    "colonoscopy",
    "endoscopy",
    "egd",
];

/// Dates the patterns would find only at a cost (a pattern for each made the pattern set's
/// search 4 % slower): read at each "/" or "-" between digits instead.
/// - a month and day with a leading zero after a preposition ("severe pain in 07/24 ."):
///   no score or fraction is written "07/24";
/// - a month and year after the study or visit they date ("compared with a previous
///   study of 12/92", "CT from 3/04"); "titer of 1/80" stays, no study before it;
/// - a month and two-digit year joined by a hyphen after "in" or "since", the clause
///   ending there ("omentectomy at CTMC in 10-90 ."); "in 10-90%" stays.
fn dates_by_scan(text: &str) -> Vec<Finding> {
    let bytes = text.as_bytes();
    let digits_back = |k: usize| {
        let mut i = k;
        while i
            .checked_sub(1)
            .and_then(|p| bytes.get(p))
            .is_some_and(u8::is_ascii_digit)
        {
            i = i.saturating_sub(1);
        }
        i
    };
    let digits_on = |k: usize| {
        let mut j = k;
        while bytes.get(j).is_some_and(u8::is_ascii_digit) {
            j = j.saturating_add(1);
        }
        j
    };
    let mut out = Vec::new();
    for (k, &c) in bytes.iter().enumerate() {
        if c != b'/' && c != b'-' {
            continue;
        }
        let start = digits_back(k);
        let end = digits_on(k.saturating_add(1));
        let (Some(left), Some(right)) = (text.get(start..k), text.get(k.saturating_add(1)..end))
        else {
            continue;
        };
        if left.is_empty() || left.len() > 2 || right.is_empty() {
            continue;
        }
        // Whitespace before the number, and a number that is not part of a longer one.
        let spaced = start
            .checked_sub(1)
            .and_then(|p| bytes.get(p))
            .is_some_and(u8::is_ascii_whitespace);
        if !spaced
            || matches!(bytes.get(end), Some(b'/' | b'-' | b'.'))
                && bytes
                    .get(end.saturating_add(1))
                    .is_some_and(u8::is_ascii_digit)
        {
            continue;
        }
        let month: u32 = left.parse().unwrap_or(0);
        let second: u32 = right.parse().unwrap_or(0);
        let Some((word_start, word)) = word_before(text, start) else {
            continue;
        };
        let word = word.to_ascii_lowercase();
        let after = bytes.get(end).copied();
        let closes = |b: Option<u8>| {
            b.is_none_or(|b| {
                b.is_ascii_whitespace() || matches!(b, b')' | b'.' | b',' | b';' | b':')
            })
        };
        let found = if c == b'/' {
            let zero_day = left.len() == 2
                && left.starts_with('0')
                && (1..=9).contains(&month)
                && right.len() == 2
                && (1..=31).contains(&second)
                && closes(after)
                && ZERO_DATE_PREPS.contains(&word.as_str());
            let dated_event = (1..=12).contains(&month)
                && (right.len() == 2
                    || (right.len() == 4 && (right.starts_with("19") || right.starts_with("20"))))
                && after != Some(b'/')
                && matches!(word.as_str(), "of" | "from" | "on" | "dated")
                && word_before(text, word_start)
                    .is_some_and(|(_, e)| DATED_EVENTS.contains(&e.to_ascii_lowercase().as_str()));
            zero_day || dated_event
        } else {
            // "in 10-90 .": the clause ends after the number, spaces allowed; or the
            // month is written with its leading zero and a word follows that is no unit
            // ("In 07-90 he was shown"; "in 05-10 minutes" stays).
            let rest = text
                .get(end..)
                .unwrap_or_default()
                .trim_start_matches([' ', '\t']);
            let next_word: String = rest
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect::<String>()
                .to_ascii_lowercase();
            let zero_month = left.len() == 2
                && left.starts_with('0')
                && after == Some(b' ')
                && !next_word.is_empty()
                && !DURATION_UNITS.contains(&next_word.as_str());
            (1..=12).contains(&month)
                && right.len() == 2
                && (32..=99).contains(&second)
                && (rest.is_empty()
                    || rest.starts_with(['.', ',', ';', ':', ')', '\n', '\r'])
                    || zero_month)
                && matches!(word.as_str(), "in" | "since" | "from" | "until" | "dated")
        };
        if found {
            out.push(Finding {
                entity: Entity::Date,
                start,
                end,
                confidence: 0.55,
                recognizer: "strict_date_scan",
            });
        }
    }
    out
}

/// A care agency named by its initials before what it provides, after a word that says
/// who provides or opening a line ("discharged to home with AH Services", "AH services
/// from Ha have been arranged"); a unit, a therapy, a generic agency or an office stays
/// ("with PT Services", "DME services", "IT services"). Initials shaped like a
/// hospital's or an agency's (`facility_shaped`) need less: any word for care after
/// them ("has LRAH care", "with SMH follow up", "seen by the OLH Service"), or being
/// what a patient goes home with ("discharged with WH and dressing changes"). Every
/// other mention of initials found so is theirs too ("LRAH then called").
fn agency_initials(tokens: &[Token]) -> Vec<Finding> {
    let mut found: HashSet<&str> = HashSet::new();
    for (i, t) in tokens.iter().enumerate() {
        let letters_only = t.lower.bytes().all(|b| b.is_ascii_lowercase());
        if !t.allcaps || !letters_only || !(2..=5).contains(&t.letters) {
            continue;
        }
        // A unit, a therapy, a kind of care or a generic agency ("PT services", "DME
        // services").
        if matches!(
            t.lower.as_str(),
            "icu"
                | "ed"
                | "er"
                | "pt"
                | "ot"
                | "st"
                | "slp"
                | "rt"
                | "sw"
                | "pcp"
                | "it"
                | "hr"
                | "ehr"
                | "emr"
                | "vna"
                | "snf"
                | "id"
                | "gi"
                | "dme"
                | "ems"
                | "hha"
                | "hh"
                | "pca"
                | "iv"
                | "cm"
        ) {
            continue;
        }
        let joined = |k: usize| {
            tokens
                .get(k)
                .filter(|n| n.gap.is_empty() && !n.newline_before)
        };
        let prev = |k: usize| {
            i.checked_sub(k)
                .and_then(|p| tokens.get(p))
                .filter(|_| !t.newline_before && t.gap.is_empty())
        };
        let prev_is = |words: &[&str]| prev(1).is_some_and(|p| words.contains(&p.lower.as_str()));
        // After a word that says who provides, or opening a line ("AH services from
        // Ha have been arranged").
        let opens_line = i == 0 || t.newline_before;
        let before = opens_line || prev_is(&["with", "by", "from", "to", "via"]);
        let next = joined(i.saturating_add(1));
        let provides = next.is_some_and(|n| {
            (n.first_upper || n.lower == "services")
                && (matches!(n.lower.as_str(), "services" | "homecare" | "hospice")
                    || (n.lower == "home"
                        && joined(i.saturating_add(2)).is_some_and(|m| {
                            m.first_upper && matches!(m.lower.as_str(), "care" | "health")
                        })))
        });
        // With a vowel inside only where no dictionary knows the word ("LRAH"; not
        // "BATH", "MOUTH").
        let shaped = (facility_shaped(t)
            || ((t.lower.ends_with('h') || t.lower.ends_with("mc"))
                && t.letters >= 3
                && lexicon::flags(&t.lower) == 0))
            && !MEDICAL_H_INITIALS.contains(&t.lower.as_str());
        let care_after = next.is_some_and(|n| {
            AGENCY_CARE.contains(&n.lower.as_str())
                || (n.lower == "follow"
                    && joined(i.saturating_add(2)).is_some_and(|m| m.lower == "up"))
        });
        let care_before = opens_line
            || prev_is(&[
                "with", "by", "from", "to", "via", "has", "had", "have", "the", "and", "per",
            ]);
        // What the patient goes home with, the clause ending there.
        let sent_home_with = prev_is(&["with"])
            && prev(2).is_some_and(|v| {
                matches!(
                    v.lower.as_str(),
                    "discharged" | "home" | "arranged" | "set" | "up"
                )
            })
            && tokens.get(i.saturating_add(1)).is_none_or(|n| {
                n.newline_before
                    || !n.gap.is_empty()
                    || matches!(n.lower.as_str(), "and" | "for" | "to")
            });
        if (before && provides) || (shaped && ((care_before && care_after) || sent_home_with)) {
            found.insert(t.lower.as_str());
        }
    }
    initials_mentions(
        tokens,
        |_, t| t.allcaps && found.contains(t.lower.as_str()),
        0.55,
        "strict_agency_initials",
    )
}

/// Words for the care an agency or a hospital gives, after its initials ("LRAH care",
/// "the OLH Service", "SMH nursing").
const AGENCY_CARE: &[&str] = &[
    "care", "homecare", "service", "services", "hospice", "nursing", "nurse", "nurses", "agency",
    "visits", "followup",
];

/// Medical initials shaped like a facility's (a hormone, a finding, an insulin, a
/// generic service): "TSH follow up", "discharged with NPH and regular insulin".
const MEDICAL_H_INITIALS: &[&str] = &[
    "tsh", "pth", "acth", "adh", "fsh", "lh", "hgh", "nph", "bph", "lvh", "rvh", "ich", "sah",
    "sdh", "edh", "ivh", "pph", "ldh", "mch", "cah", "bh", "mh", "hh", "ph", "nh", "rh", "oh",
    "ah", "eh", "uh", "osh", "dh",
];

/// Initials with a hospital's or an agency's shape: letters only, in one case, no vowel
/// after the first letter, ending in "h" (two to four letters: "GH", "SMH", "LRAH") or
/// in "mc" (three to five: "BMC", "PUOMC").
fn facility_shaped(t: &Token) -> bool {
    let lower = t.lower.as_str();
    let letters_only = lower.chars().all(|c| c.is_ascii_lowercase());
    let one_case = t.allcaps || !t.first_upper;
    let shaped = (lower.ends_with('h') && (2..=4).contains(&t.letters))
        || (lower.ends_with("mc") && (3..=5).contains(&t.letters));
    // Initials have no vowel but a leading one ("UCH"); "cath" or "bath" is a word.
    let inner_vowel = lower
        .chars()
        .skip(1)
        .any(|c| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u'));
    letters_only && one_case && shaped && !inner_vowel
}

/// The name of a signature line: at the line's start (after underscores, "Electronically
/// Signed" or a dictation's job code), two to four words capitalized or in capitals, or
/// initials, then a comma and the degree ("ZIE M. ZONE , M.D.", "_____ Ana K. Ruiz, MD",
/// "J DRAKE , M.D.", "Electronically Signed OLE STREET , M.D.", "MJ092/0660 A L. OR ,
/// M.D."); its start and end in the line. A line typed in lower case may sign in lower
/// case ("zie m. zone , m.d.", "rod end , m.d."), where the degree ends the line or only a
/// date or a code follows it ("na jesc , md 05/26/2002"; not "called pharmacy, md ok").
fn signature_name(line: &str) -> Option<(usize, usize)> {
    let lower = !line.bytes().any(|b| b.is_ascii_uppercase());
    let body = line.trim_start_matches([' ', '\t', '_']);
    // The number of a list of signers ("2. nae f. speed , m.d.").
    let body = body
        .split_once(". ")
        .filter(|(n, _)| (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
        .map_or(body, |(_, rest)| rest.trim_start_matches([' ', '\t']));
    let body = body
        .strip_prefix(if lower {
            "electronically signed"
        } else {
            "Electronically Signed"
        })
        .map(|r| r.trim_start_matches([' ', '\t', ':']))
        .unwrap_or(body);
    // A dictation's job code before the name ("MJ092/0660 A L. OR , M.D."): capitals,
    // digits, a slash, digits.
    let body = body
        .split_once(' ')
        .filter(|(code, _)| {
            let letters = code.bytes().take_while(u8::is_ascii_uppercase).count();
            code.split_once('/').is_some_and(|(head, tail)| {
                (2..=4).contains(&letters)
                    && head.len() > letters
                    && head.bytes().skip(letters).all(|b| b.is_ascii_digit())
                    && (3..=5).contains(&tail.len())
                    && tail.bytes().all(|b| b.is_ascii_digit())
            })
        })
        .map(|(_, rest)| rest.trim_start_matches([' ', '\t']))
        .unwrap_or(body);
    // After a signer's label and its colon ("dictated by:  filbert bright, m.d.").
    let body = body
        .split_once(':')
        .filter(|(head, _)| {
            let words = head.split_whitespace();
            words.clone().count() > 0 && words.clone().all(signer_label)
        })
        .map(|(_, rest)| rest.trim_start_matches([' ', '\t']))
        .unwrap_or(body);
    let start = line.len().saturating_sub(body.len());
    let comma = body.find(',')?;
    let name = body.get(..comma)?.trim_end_matches([' ', '\t']);
    let after = body
        .get(comma.saturating_add(1)..)?
        .trim_start_matches([' ', '\t']);
    let degrees: &[&str] = if lower {
        &["m.d.", "md", "d.o.", "r.n.", "n.p.", "ph.d."]
    } else {
        &[
            "M.D.", "MD", "D.O.", "R.N.", "N.P.", "P.A.", "Ph.D.", "PH.D.",
        ]
    };
    let degree = degrees.iter().any(|d| {
        after.strip_prefix(d).is_some_and(|rest| {
            !lower || {
                let rest = rest.trim_start_matches([' ', '\t', ',']);
                rest.is_empty()
                    || rest.starts_with(|c: char| c.is_ascii_digit())
                    || rest.starts_with("ph.d")
                    || rest
                        .split(' ')
                        .next()
                        .is_some_and(|w| w.bytes().any(|b| b.is_ascii_digit()))
            }
        })
    });
    let words: Vec<&str> = name.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    let shaped = |w: &str| {
        let mut chars = w.chars();
        let first = chars
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || (lower && c.is_ascii_lowercase()));
        let rest = chars.as_str();
        first
            && (rest.is_empty()
                || rest == "."
                || rest
                    .chars()
                    .all(|c| c.is_ascii_alphabetic() || c == '\'' || c == '-'))
    };
    // In lower case, no word of what people do or of medicine ("called pharmacy, md").
    let plain = |w: &str| {
        !lower
            || !(PERSON_VERBS.contains(&w)
                || super::names::NARRATIVE_VERBS.contains(&w)
                || lexicon::medical_shape(w))
    };
    (degree
        && (2..=4).contains(&words.len())
        && words.iter().all(|w| shaped(w) && plain(w))
        && !words.iter().any(|w| signer_label(w)))
    .then(|| (start, start.saturating_add(name.len())))
}

/// Words of the label before a signer's name ("Electronically Signed", "Dictated by",
/// "Attending"), which no signature's name holds.
fn signer_label(w: &str) -> bool {
    matches!(
        w.to_ascii_lowercase().as_str(),
        "signed"
            | "electronically"
            | "by"
            | "attending"
            | "physician"
            | "dictated"
            | "dictating"
            | "for"
            | "resident"
            | "intern"
            | "fellow"
            | "the"
            | "and"
            | "cc"
            | "provider"
    )
}

/// Words after an employer cue that say there is no employer ("Employer: retired").
const NO_EMPLOYER: &[&str] = &[
    "none",
    "na",
    "self",
    "retired",
    "unemployed",
    "disabled",
    "student",
    "homemaker",
    "unknown",
    "not",
    "no",
    "home",
    "night",
    "nights",
    "present",
    "this",
    "that",
    "all",
];

/// An employer's name, one of Safe Harbor's names: the capitalized words after
/// "Employer:", or after "works at", "worked for", "employed by" ("works at Harrow &
/// Finch Logistics", "EMPLOYER: NORTHFIELD PAPER MILL"), or after "his business" ("his
/// business Genentech"), however ordinary the words.
/// Up to five words on the line, joined by a space or "&"; an article ends the cue
/// ("works for the city"), and so does a form's next field.
fn employers(text: &str, tokens: &[Token]) -> Vec<Finding> {
    let mut out = Vec::new();
    for i in 0..tokens.len() {
        let Some(t) = tokens.get(i) else { continue };
        let next = tokens.get(i.saturating_add(1));
        let label =
            t.lower == "employer" && next.is_some_and(|n| n.gap.contains(':') || n.gap == "-");
        // "works at X", "works as a forklift driver at X", "worked nights for X": the
        // first "at", "for" or "by" within six words on the line, before a capital; the
        // head of a company ("CEO of IBM", "owner of Dunmore Bakery") and where someone
        // retired from ("retired from Bethlehem Steel") right after the word.
        // "WORKED UP FOR BORDERLINE HYPOADRENALISM" is a diagnostic work-up, not a job.
        let work_up = next.is_some_and(|n| n.lower == "up" && !n.newline_before);
        let (prepositions, reach): (&[&str], usize) = match t.lower.as_str() {
            "works" | "worked" | "working" if work_up => (&[], 0),
            "works" | "worked" | "working" | "employed" | "employee" => (&["at", "for", "by"], 6),
            "ceo" | "cfo" | "president" | "owner" | "founder" | "chairman" => (&["of", "at"], 1),
            "retired" => (&["from"], 1),
            _ => (&[], 0),
        };
        let via = (i.saturating_add(1)..=i.saturating_add(reach))
            .find(|&k| {
                tokens.get(k).is_some_and(|w| {
                    prepositions.contains(&w.lower.as_str())
                        && tokens.get(k.saturating_add(1)).is_some_and(|n| {
                            n.first_upper
                                && !n.newline_before
                                // In capitals, an ordinary word says what, not where
                                // ("RETIRED FROM TEACHING", "OWNER OF RECORD").
                                && !(n.allcaps
                                    && reach == 1
                                    && lexicon::word_only(&n.lower)
                                    && lexicon::flags(&n.lower) & lexicon::COMMON != 0)
                        })
                })
            })
            .filter(|&k| {
                (i.saturating_add(1)..=k)
                    .filter_map(|j| tokens.get(j))
                    .all(|w| !w.newline_before && !w.gap.contains(['.', ';', ':']))
            });
        // Someone's own business named right after the word ("concerned about his
        // business Genentech", "runs her company Alder & Finch").
        let own_business = matches!(t.lower.as_str(), "business" | "company" | "firm")
            && i.checked_sub(1)
                .and_then(|j| tokens.get(j))
                .is_some_and(|p| matches!(p.lower.as_str(), "his" | "her" | "their" | "own"))
            && next.is_some_and(|n| {
                n.first_upper && !n.allcaps && n.gap.is_empty() && !n.newline_before
            });
        // In lower case, a person who works for a name written in lower case too ("he
        // works for vista health."): the words up to the clause's end, after "he", "she",
        // the patient or kin working "at" or "for", not a pronoun or an article.
        let via_lower = (prepositions.len() > 1
            && !t.first_upper
            && i.checked_sub(1)
                .and_then(|j| tokens.get(j))
                .is_some_and(|p| {
                    matches!(p.lower.as_str(), "he" | "she" | "pt" | "patient" | "who")
                        || KIN.contains(&p.lower.as_str())
                }))
        .then(|| i.saturating_add(1))
        .filter(|&k| {
            tokens.get(k).is_some_and(|w| {
                matches!(w.lower.as_str(), "at" | "for") && w.gap.is_empty() && !w.newline_before
            }) && tokens.get(k.saturating_add(1)).is_some_and(|n| {
                !n.first_upper
                    && n.gap.is_empty()
                    && !n.newline_before
                    && !n.has_digit
                    && !FACILITY_STOPS.contains(&n.lower.as_str())
                    && !NO_EMPLOYER.contains(&n.lower.as_str())
                    && !AFTER_CUE_FUNCTION.contains(&n.lower.as_str())
                    && !matches!(
                        n.lower.as_str(),
                        "him" | "her" | "them" | "himself" | "herself" | "me" | "us" | "you"
                    )
            })
        });
        let first = if label || own_business {
            i.saturating_add(1)
        } else if let Some(k) = via.or(via_lower) {
            k.saturating_add(1)
        } else {
            continue;
        };
        let lower_run = via.is_none() && via_lower.is_some();
        let mut last = None;
        for k in first..first.saturating_add(if lower_run { 3 } else { 5 }) {
            let Some(w) = tokens.get(k) else { break };
            // A run of spaces or a tab separates form fields ("MILL   EMERG CONTACT").
            let field_break = k > first
                && tokens
                    .get(k.saturating_sub(1))
                    .and_then(|p| text.get(p.end..w.start))
                    .is_some_and(|between| between.contains("  ") || between.contains('\t'));
            let joined = k == first || ((w.gap.is_empty() || w.gap == "&") && !field_break);
            let cased = if lower_run {
                !w.first_upper
                    && !FACILITY_STOPS.contains(&w.lower.as_str())
                    && !AFTER_CUE_FUNCTION.contains(&w.lower.as_str())
            } else {
                w.first_upper
            };
            if w.newline_before || !joined || !cased || w.has_digit {
                break;
            }
            if k == first
                && (NO_EMPLOYER.contains(&w.lower.as_str())
                    || FACILITY_STOPS.contains(&w.lower.as_str()))
            {
                break;
            }
            last = Some(k);
        }
        // In lower case a name of one frequent word is what the work is about ("works at
        // school", "works for pay"), and so is a time ("works night shifts").
        let lower_enough = !lower_run
            || last.is_some_and(|k| {
                let words = tokens.get(first..=k).unwrap_or_default();
                !words.iter().any(|w| {
                    matches!(
                        w.lower.as_str(),
                        "night"
                            | "nights"
                            | "day"
                            | "days"
                            | "home"
                            | "shift"
                            | "shifts"
                            | "times"
                            | "weekends"
                            | "school"
                            | "pay"
                            | "present"
                    )
                }) && (words.len() >= 2
                    || words
                        .first()
                        .is_some_and(|w| lexicon::flags(&w.lower) & COMMON == 0))
            });
        if let (true, Some(a), Some(b)) = (
            lower_enough,
            tokens.get(first),
            last.and_then(|k| tokens.get(k)),
        ) {
            out.push(Finding {
                entity: Entity::Person,
                start: a.start,
                end: b.end,
                confidence: 0.75,
                recognizer: "strict_employer",
            });
        }
    }
    out
}

/// Words that end a facility's name ("Sacred Heart Memorial", "Harford Memorial
/// Hospital", "Union Medical Ctr").
const FACILITY_TAIL: &[&str] = &[
    "memorial",
    "hospital",
    "hosp",
    "center",
    "centre",
    "ctr",
    "rehab",
    "rehabilitation",
    "clinic",
    "infirmary",
    "hospice",
    // Hospitals named for a church ("from Kessler Adventist for cath", "Sinai Baptist").
    "adventist",
    "baptist",
    "methodist",
    "presbyterian",
    "lutheran",
    "episcopal",
];

/// Whether `w` is a month/day and nothing else ("8/2", "12/31"; not "8/2/4", "13/2").
fn month_day(w: &str) -> bool {
    w.split_once('/').is_some_and(|(m, d)| {
        let ok = |x: &str, hi: u32| {
            (1..=2).contains(&x.len()) && x.parse::<u32>().is_ok_and(|n| (1..=hi).contains(&n))
        };
        ok(m, 12) && ok(d, 31)
    })
}

/// The length of the run of digits and slashes that opens `s` ("8/10-8/12" gives 4).
fn digits_and_slashes(s: &str) -> usize {
    s.find(|c: char| !(c.is_ascii_digit() || c == '/'))
        .unwrap_or(s.len())
}

/// The other end of a range of dates whose first end was found ("ceftaz rec'd 8/2 -
/// 8/10", "8/2 to 8/10"): a month/day right after a found date and a dash or "to"; and
/// the second of two dates joined by "and" or "or" ("examined on both 4/3 and 4/4").
pub(super) fn date_range_ends(text: &str, found: &[Finding]) -> Vec<Finding> {
    let range_end = |start: usize, end: usize| Finding {
        entity: Entity::Date,
        start,
        end,
        confidence: 0.7,
        recognizer: "strict_date_range_end",
    };
    let mut out = Vec::new();
    for f in found.iter().filter(|f| f.entity == Entity::Date) {
        let Some(rest) = text.get(f.end..) else {
            continue;
        };
        let after = rest.trim_start_matches([' ', '\t']);
        // Only the connector's bytes are compared, never the rest of the note.
        let starts = |p: &str| {
            after
                .get(..p.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(p))
        };
        let skip = if after.starts_with('-') {
            1
        } else if starts("to ") || starts("or ") {
            3
        } else if starts("thru ") {
            5
        } else if starts("and ") {
            4
        } else {
            continue;
        };
        let Some(after) = after.get(skip..) else {
            continue;
        };
        let body = after.trim_start_matches([' ', '\t']);
        let len = digits_and_slashes(body);
        let word = body.get(..len).unwrap_or("");
        // Not a chain of readings ("8/2-8/10/4").
        let chained = body.get(len..).is_some_and(|r| r.starts_with(['/', '-']));
        if month_day(word) && !chained && month_day(text.get(f.start..f.end).unwrap_or("")) {
            let start = text.len().saturating_sub(body.len());
            out.push(range_end(start, start.saturating_add(len)));
        }
    }
    // ... and the first end of a range whose second end was found ("abx 3/4 to 3/9",
    // "summary of 6/26 to 6/28/99": the second end may carry the year).
    for f in found.iter().filter(|f| f.entity == Entity::Date) {
        let second = text.get(f.start..f.end).unwrap_or("");
        let with_year = second.rsplit_once('/').is_some_and(|(md, y)| {
            month_day(md) && matches!(y.len(), 2 | 4) && y.bytes().all(|b| b.is_ascii_digit())
        });
        if !(month_day(second) || with_year) {
            continue;
        }
        let before = text
            .get(..f.start)
            .unwrap_or("")
            .trim_end_matches([' ', '\t']);
        let ends = |p: &str| {
            before
                .len()
                .checked_sub(p.len())
                .and_then(|k| before.get(k..))
                .is_some_and(|t| t.eq_ignore_ascii_case(p))
        };
        let cut = if before.ends_with('-') {
            1
        } else if ends(" to") {
            3
        } else if ends(" thru") {
            5
        } else {
            continue;
        };
        let Some(before) = before.get(..before.len().saturating_sub(cut)) else {
            continue;
        };
        let body = before.trim_end_matches([' ', '\t']);
        let len = body.len().saturating_sub(
            body.trim_end_matches(|c: char| c.is_ascii_digit() || c == '/')
                .len(),
        );
        let start = body.len().saturating_sub(len);
        let word = body.get(start..).unwrap_or("");
        let chained = body.get(..start).is_some_and(|r| r.ends_with(['/', '-']));
        if month_day(word) && !chained {
            out.push(range_end(start, body.len()));
        }
    }
    // ... and the first day of a range of days in one month whose second end was found
    // with its month ("1->2 nov, 96", "28-29 Oct").
    const MONTHS: &[&str] = &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    for f in found.iter().filter(|f| f.entity == Entity::Date) {
        let span = text.get(f.start..f.end).unwrap_or("");
        let digits = span.bytes().take_while(u8::is_ascii_digit).count();
        let month = span
            .get(digits..)
            .map(|r| r.trim_start_matches(' ').to_ascii_lowercase())
            .is_some_and(|r| MONTHS.iter().any(|m| r.starts_with(m)));
        if !(1..=2).contains(&digits) || !month {
            continue;
        }
        let before = text
            .get(..f.start)
            .unwrap_or("")
            .trim_end_matches([' ', '\t']);
        let Some(before) = before
            .strip_suffix("->")
            .or_else(|| before.strip_suffix('-'))
            .or_else(|| before.strip_suffix(" to"))
        else {
            continue;
        };
        let body = before.trim_end_matches([' ', '\t']);
        let day = body
            .len()
            .saturating_sub(body.trim_end_matches(|c: char| c.is_ascii_digit()).len());
        let start = body.len().saturating_sub(day);
        let is_day = body
            .get(start..)
            .and_then(|d| d.parse::<u32>().ok())
            .is_some_and(|d| (1..=31).contains(&d));
        // The day stands alone: no reading or fraction runs into it ("7.2-8 nov").
        let alone = body
            .get(..start)
            .is_none_or(|r| r.is_empty() || r.ends_with([' ', '\t', '\n', '(']));
        if (1..=2).contains(&day) && is_day && alone {
            out.push(range_end(start, body.len()));
        }
    }
    // ... and the days listed after a found date that ends with a day written as an
    // ordinal ("on June 25th , 26th and 27th of 1996"): each ordinal joined to the one
    // before by a comma, "and", "or" or "&".
    for f in found.iter().filter(|f| f.entity == Entity::Date) {
        if ordinal_day_len(text.get(f.start..f.end).unwrap_or(""), true).is_none() {
            continue;
        }
        let mut at = f.end;
        while let Some(rest) = text.get(at..) {
            let after = rest.trim_start_matches([' ', '\t']);
            let comma = after.strip_prefix(',');
            let after = comma.unwrap_or(after).trim_start_matches([' ', '\t']);
            let joined = ["and ", "or ", "& "].iter().find_map(|j| {
                after
                    .get(..j.len())
                    .filter(|h| h.eq_ignore_ascii_case(j))
                    .and_then(|_| after.get(j.len()..))
            });
            // Something must join them: two ordinals side by side are no list.
            if comma.is_none() && joined.is_none() {
                break;
            }
            let body = joined.unwrap_or(after).trim_start_matches([' ', '\t']);
            let Some(len) = ordinal_day_len(body, false) else {
                break;
            };
            let start = text.len().saturating_sub(body.len());
            at = start.saturating_add(len);
            out.push(range_end(start, at));
        }
    }
    out
}

/// The length of a day of the month written as an ordinal ("25th", "1st") that opens
/// `s` and ends at a word's end, or with `at_end`, that ends `s`.
fn ordinal_day_len(s: &str, at_end: bool) -> Option<usize> {
    let word = if at_end {
        s.rsplit(|c: char| !c.is_ascii_alphanumeric()).next()?
    } else {
        s.split(|c: char| !c.is_ascii_alphanumeric()).next()?
    };
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let (day, suffix) = word.split_at_checked(digits)?;
    let day: u32 = day.parse().ok()?;
    let suffix = suffix.to_ascii_lowercase();
    ((1..=2).contains(&digits)
        && (1..=31).contains(&day)
        && matches!(suffix.as_str(), "st" | "nd" | "rd" | "th"))
    .then_some(word.len())
}

/// The days of a chronology: where two or more lines of a note open with a month/day
/// found as a date ("9/8 RETURNED TO CATH LAB", "9/9 ABX DCED"), every line that opens
/// with a month/day is a date, one of the shape of a score ("9/10 PROCAN DCED") or glued
/// to a dash ("9/7-ADMITTED TO CCU") too.
pub(super) fn date_list_heads(text: &str, found: &[Finding]) -> Vec<Finding> {
    // The length of a month/day opening `s`, when what follows it ends it.
    let head = |s: &str| -> Option<usize> {
        let len = digits_and_slashes(s);
        let ends = s
            .as_bytes()
            .get(len)
            .is_none_or(|c| matches!(c, b' ' | b'\t' | b'-' | b'\n' | b'\r' | b':' | b','));
        (month_day(s.get(..len).unwrap_or("")) && ends).then_some(len)
    };
    let mut heads: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0usize;
    for line in text.split_inclusive('\n') {
        let body = line.trim_start_matches([' ', '\t']);
        let start = pos.saturating_add(line.len().saturating_sub(body.len()));
        if let Some(len) = head(body) {
            heads.push((start, start.saturating_add(len)));
        }
        pos = pos.saturating_add(line.len());
    }
    let dated = |(s, e): &(usize, usize)| {
        found
            .iter()
            .any(|f| f.entity == Entity::Date && f.start <= *s && f.end >= *e)
    };
    if heads.iter().filter(|h| dated(h)).count() < 2 {
        return Vec::new();
    }
    heads
        .into_iter()
        .filter(|(s, e)| !found.iter().any(|f| f.start < *e && f.end > *s))
        .map(|(start, end)| Finding {
            entity: Entity::Date,
            start,
            end,
            confidence: 0.6,
            recognizer: "strict_date_list_head",
        })
        .collect()
}

/// Initials written right beside a name found: before it ("(R.J. Smith)", "J.M.
/// Carter") or in parentheses after it ("Nguyen, Alice (A.N.)"). A run of one to three
/// capitals each with its period.
pub(super) fn initials_beside_names(text: &str, found: &[Finding]) -> Vec<Finding> {
    // The length of a run of initials ("R.J.", "A.N.", "J.") that `s` ends or begins with.
    fn run_len(s: &str, backwards: bool) -> usize {
        let b = s.as_bytes();
        let mut n = 0usize;
        let mut count = 0usize;
        loop {
            let (letter, dot) = if backwards {
                (
                    b.len()
                        .checked_sub(n.saturating_add(2))
                        .and_then(|k| b.get(k)),
                    b.len()
                        .checked_sub(n.saturating_add(1))
                        .and_then(|k| b.get(k)),
                )
            } else {
                (b.get(n), b.get(n.saturating_add(1)))
            };
            match (letter, dot) {
                (Some(l), Some(b'.')) if l.is_ascii_uppercase() && count < 3 => {
                    n = n.saturating_add(2);
                    count = count.saturating_add(1);
                }
                _ => break,
            }
        }
        // A run read backwards must start a word.
        if backwards && n > 0 {
            let before = b
                .len()
                .checked_sub(n.saturating_add(1))
                .and_then(|k| b.get(k));
            if before.is_some_and(|c| c.is_ascii_alphanumeric()) {
                return 0;
            }
        }
        n
    }
    let mut out = Vec::new();
    for f in found.iter().filter(|f| f.entity == Entity::Person) {
        let before = text.get(..f.start).unwrap_or_default();
        let head = before.trim_end_matches(' ');
        let gap = before.len().saturating_sub(head.len());
        if (1..=2).contains(&gap) {
            let n = run_len(head, true);
            // A degree before a user name is no one's initials ("JAJI , M.D. HK19").
            let degree = head.get(head.len().saturating_sub(n)..).is_some_and(|r| {
                matches!(r, "M.D." | "D.O." | "R.N." | "N.P." | "P.A." | "D.D.S.")
            });
            if n > 0 && !degree {
                out.push(Finding {
                    entity: Entity::Person,
                    start: head.len().saturating_sub(n),
                    end: head.len(),
                    confidence: 0.7,
                    recognizer: "strict_initials_beside_name",
                });
            }
        }
        let after = text.get(f.end..).unwrap_or_default();
        let rest = after.trim_start_matches(' ');
        if let Some(inner) = rest.strip_prefix('(') {
            let n = run_len(inner, false);
            if n >= 4 && inner.as_bytes().get(n) == Some(&b')') {
                let start = f
                    .end
                    .saturating_add(after.len().saturating_sub(rest.len()))
                    .saturating_add(1);
                out.push(Finding {
                    entity: Entity::Person,
                    start,
                    end: start.saturating_add(n),
                    confidence: 0.7,
                    recognizer: "strict_initials_beside_name",
                });
            }
        }
    }
    out.retain(|g| !found.iter().any(|f| f.start <= g.start && f.end >= g.end));
    out
}

/// Words inside a facility's name before the word that ends it ("Medical Center",
/// "General Hospital"); alone they end nothing ("Suite 404 Medical record").
const FACILITY_INNER: &[&str] = &["medical", "med", "general", "regional", "community"];

/// The rest of a facility's name after a place found by its name ("Sacred Heart" in
/// "to Sacred Heart Memorial at 4pm"): the facility words that follow it on its line,
/// one space apart, up to the last that ends a name, so that no part of it is left.
pub(super) fn facility_tails(text: &str, found: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in found.iter().filter(|f| f.entity == Entity::Address) {
        let (mut at, mut end) = (f.end, f.end);
        while let Some(word) = text.get(at..).and_then(|r| r.strip_prefix(' ')) {
            let len = word
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(word.len());
            let w = word.get(..len).unwrap_or_default().to_ascii_lowercase();
            let ends = FACILITY_TAIL.contains(&w.as_str());
            if len == 0 || !(ends || FACILITY_INNER.contains(&w.as_str())) {
                break;
            }
            at = at.saturating_add(1).saturating_add(len);
            if ends {
                end = at;
            }
        }
        if end > f.end {
            out.push(Finding {
                entity: Entity::Address,
                start: f.start,
                end,
                confidence: f.confidence,
                recognizer: "strict_facility_tail",
            });
        }
    }
    out
}

/// Words that end a town's name written in lower case after an address: what follows
/// is a sentence, not a town ("12 elm st, and my son lives there").
const TOWN_STOP_WORDS: &[&str] = &[
    "and",
    "or",
    "but",
    "so",
    "then",
    "where",
    "which",
    "who",
    "that",
    "the",
    "a",
    "an",
    "my",
    "his",
    "her",
    "their",
    "our",
    "your",
    "is",
    "was",
    "apt",
    "apartment",
    "suite",
    "unit",
    "please",
    "thanks",
    "thank",
    "i",
    "we",
    "he",
    "she",
    "they",
    "it",
    "near",
    "by",
];

/// The town after a street address and a comma ("99 Wharf St, NIAGARA PARK",
/// "221 Elm Street, Spring Valley"): up to three capitalized words on the same line,
/// found as part of the address even when each is an ordinary word. In an address
/// written over several lines the town is the next line when it holds only those words,
/// with at most a state or a postal code after them ("2309 Loop St, Apt. 977\nKaapstad").
pub(super) fn towns_after_addresses(text: &str, found: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in found.iter().filter(|f| f.entity == Entity::Address) {
        let Some(rest) = text.get(f.end..) else {
            continue;
        };
        // After a town or a hospital's initials found alone (one word, no number) the
        // words after the comma are a region only when a postal code or the sentence's
        // end follows them ("Lovenjoel, VBR 3360"), not the sentence going on ("SON IN
        // PIKESVILLE, THE DECISION WAS MADE", "NEED TO LEAVE GH, HAVE SURGERY AND"), and
        // the next line is no town ("LIVES IN Hampton\n PAST SMOKER.").
        let address = text.get(f.start..f.end).unwrap_or("");
        let lone_word =
            !address.contains(char::is_whitespace) && !address.bytes().any(|b| b.is_ascii_digit());
        // The text after the comma, or the next line after an address that ends its own.
        let (skip, after_comma, next_line) = if let Some(a) = rest.strip_prefix(',') {
            (1usize, a, false)
        } else {
            let line_end = rest.find('\n').unwrap_or(rest.len());
            let tail = rest.get(..line_end).unwrap_or("");
            if line_end == rest.len()
                || !tail
                    .chars()
                    .all(|c| matches!(c, ' ' | '\t' | '.' | ',' | '\r'))
            {
                continue;
            }
            let next = rest.get(line_end.saturating_add(1)..).unwrap_or("");
            // Quoting marks of a forwarded message ("> ", "??? ").
            let body = next.trim_start_matches([' ', '\t', '>', '?', '*', '-']);
            (
                line_end
                    .saturating_add(1)
                    .saturating_add(next.len().saturating_sub(body.len())),
                body,
                true,
            )
        };
        let lead = after_comma
            .len()
            .saturating_sub(after_comma.trim_start_matches([' ', '\t']).len());
        // An address written all in lower case ("12 alder way, larch hollow") is
        // followed by its town in lower case too.
        let lower_address = !next_line
            && !text
                .get(f.start..f.end)
                .unwrap_or("")
                .chars()
                .any(char::is_uppercase);
        let mut pos = lead;
        let mut end = None;
        for _ in 0..3 {
            let word = after_comma.get(pos..).unwrap_or("");
            let len = word
                .char_indices()
                .find(|(_, c)| !(c.is_alphabetic() || matches!(c, '\'' | '’' | '.' | '-')))
                .map_or(word.len(), |(k, _)| k);
            let w = word.get(..len).unwrap_or("");
            let starts_upper = w.chars().next().is_some_and(char::is_uppercase);
            if !(starts_upper
                || (lower_address
                    && w.chars().next().is_some_and(char::is_lowercase)
                    && !TOWN_STOP_WORDS.contains(&w.trim_end_matches('.'))))
                || w.chars().count() < 2
                || (w.bytes().all(|b| b.is_ascii_uppercase() || b == b'.')
                    && super::recognizers::is_state_abbr(w.trim_end_matches('.')))
            {
                break;
            }
            end = Some(pos.saturating_add(len));
            pos = pos.saturating_add(len);
            // A sentence's period ends the town ("AREA WEEPING. OPSITE"); an
            // abbreviation's does not ("Mt. Vernon").
            if w.ends_with('.') && w.chars().count() > 4 {
                break;
            }
            match after_comma.get(pos..).and_then(|r| r.strip_prefix(' ')) {
                Some(_) => pos = pos.saturating_add(1),
                None => break,
            }
        }
        // States and countries stay (Safe Harbor removes only smaller units).
        let all_capsafe = |e: usize| {
            after_comma
                .get(lead..e)
                .unwrap_or("")
                .split(' ')
                .all(|w| lexicon::flags(&w.to_lowercase().replace('.', "")) & CAPSAFE != 0)
        };
        // On its own line the town is all the line holds, but for a state or a code.
        let whole_line = |e: usize| {
            let line = after_comma.get(e..).unwrap_or("");
            let line = line
                .get(..line.find('\n').unwrap_or(line.len()))
                .unwrap_or("");
            let rest: Vec<&str> = line
                .trim_start_matches([' ', ','])
                .split_whitespace()
                .collect();
            let code = |w: &&str| w.len() <= 10 && w.bytes().any(|b| b.is_ascii_digit());
            let state = |w: &&str| w.len() == 2 && w.bytes().all(|b| b.is_ascii_uppercase());
            // A town's name, not an ordinary word ("Smoked 1 ppd" on the next line).
            let named = after_comma.get(lead..e).unwrap_or("").split(' ').any(|w| {
                let f = lexicon::flags(&w.to_lowercase());
                f & COMMON == 0 || f & (PLACE | FIRST | LAST) != 0
            });
            named
                && match rest.as_slice() {
                    [] => true,
                    [a] => code(a) || state(a),
                    [a, b] => state(a) && code(b),
                    _ => false,
                }
        };
        // In lower case the words must end there: at the line's end, a period or comma,
        // or a state or code ("larch hollow pa 19000"), not run on as a sentence
        // ("12 elm st, where my son lives").
        let ends_there = |e: usize| {
            let after = after_comma.get(e..).unwrap_or("");
            let after = after
                .get(..after.find('\n').unwrap_or(after.len()))
                .unwrap_or("");
            let after = after.trim_start_matches(' ');
            after.is_empty()
                || after.starts_with(['.', ',', ';', ')'])
                || after.split_whitespace().next().is_some_and(|w| {
                    let w = w.trim_end_matches([',', '.']);
                    (w.len() == 2 && super::recognizers::is_state_abbr(&w.to_ascii_uppercase()))
                        || (w.len() == 5 && w.bytes().all(|b| b.is_ascii_digit()))
                })
        };
        let code_or_end = |e: usize| {
            let after = after_comma.get(e..).unwrap_or("");
            let after = after
                .get(..after.find('\n').unwrap_or(after.len()))
                .unwrap_or("")
                .trim_start_matches([' ', ',']);
            after.is_empty()
                || after.starts_with(|c: char| c.is_ascii_digit() || ".?!;)".contains(c))
        };
        if let Some(e) = end.filter(|e| {
            !all_capsafe(*e)
                && (!next_line || whole_line(*e))
                && (!lower_address || ends_there(*e))
                && (!lone_word || (!next_line && code_or_end(*e)))
        }) {
            let start = f.end.saturating_add(skip).saturating_add(lead);
            out.push(Finding {
                entity: Entity::Address,
                start,
                end: f.end.saturating_add(skip).saturating_add(e),
                confidence: 0.7,
                recognizer: "strict_town_after_address",
            });
        }
    }
    out
}

/// The last words of a care facility's name ("Silver Ridge Hospital", "SILVER RIDGE
/// EMERGENCY DEPT", "Calvert Medical Center").
const FACILITY_HEADS: &[&[&str]] = &[
    &["hospital"],
    &["hospitals"],
    &["hosp"],
    &["home", "health"],
    &["llc"],
    // Hospitals named for a church ("seen at New York Presbyterian on 11/02").
    &["presbyterian"],
    &["methodist"],
    &["adventist"],
    &["baptist"],
    &["memorial"],
    &["clinic"],
    &["infirmary"],
    &["hospice"],
    &["sanatorium"],
    &["healthcare"],
    &["medical", "center"],
    &["medical", "centre"],
    &["med", "ctr"],
    &["med", "center"],
    &["medical", "group"],
    &["health", "center"],
    &["health", "centre"],
    &["health", "system"],
    &["emergency", "dept"],
    &["emergency", "department"],
    &["emergency", "room"],
    &["nursing", "home"],
    &["urgent", "care"],
    &["surgery", "center"],
    &["rehabilitation", "center"],
    &["rehab", "center"],
    &["care", "center"],
    &["family", "practice"],
    // Where people live: a named building is an address ("the Riverside Apartments").
    &["apartments"],
    &["apts"],
    &["condominiums"],
    &["condos"],
    &["townhomes"],
    &["trailer", "park"],
    &["mobile", "home", "park"],
    &["assisted", "living"],
    &["senior", "living"],
    &["retirement", "community"],
    &["memory", "care"],
];

/// Words that describe a facility without naming it ("the Cardiology Clinic", "the
/// Emergency Department"): a run of only these before a facility word is no name. Words
/// that hospitals are named by ("Memorial Hospital", "General Hospital", "University
/// Medical Center", "Children's Hospital") are not here: capitalized before a facility
/// word, they name one.
const FACILITY_GENERIC: &[&str] = &[
    "nearest",
    "teaching",
    "state",
    "veterans",
    "va",
    "mental",
    "psychiatric",
    "pediatric",
    "private",
    "public",
    "main",
    "primary",
    "care",
    "family",
    "internal",
    "medicine",
    "medical",
    "surgical",
    "surgery",
    "cardiology",
    "oncology",
    "orthopedic",
    "orthopaedic",
    "rehab",
    "rehabilitation",
    "dental",
    "eye",
    "heart",
    "cancer",
    "diabetes",
    "wound",
    "pain",
    "sleep",
    "lung",
    "kidney",
    "liver",
    "transplant",
    "dialysis",
    "infusion",
    "behavioral",
    "health",
    "urgent",
    "emergency",
    "walk-in",
    "free",
    "methadone",
    "fertility",
    "neurology",
    "dermatology",
    "urology",
    "gi",
    "ent",
    "ob",
    "gyn",
    "obgyn",
    "anticoagulation",
    "coumadin",
    "lipid",
    "hypertension",
    "asthma",
    "allergy",
    "travel",
    "vein",
    "spine",
    "sports",
    "geriatric",
    "hiv",
    "std",
    "tb",
    "er",
    "ed",
    "icu",
    "new",
    "device",
    "pacemaker",
    "arrhythmia",
    "memory",
    "headache",
    "epilepsy",
    "stroke",
    "endocrine",
    "renal",
    "hepatology",
    "rheumatology",
    "pulmonary",
    "vascular",
    "nephrology",
    "hematology",
    "infectious",
    "disease",
    "diseases",
    "women's",
    "children's",
    "outpatient",
    "specialty",
];

/// Towns named by a frequent word that a note capitalizes after "in" or "from" for
/// something else ("admitted from Home", "in Recovery", "from Transfer"): these stay.
const NOT_TOWNS_AFTER_PLACE_WORDS: &[&str] = &[
    "home",
    "center",
    "central",
    "transfer",
    "normal",
    "standard",
    "supply",
    "universal",
    "university",
    "institute",
    "mission",
    "union",
    "delta",
    "range",
    "index",
    "monitor",
    "model",
    "mode",
    "issue",
    "rescue",
    "light",
    "power",
    "energy",
    "gap",
    "point",
    "hygiene",
    "interior",
    "oral",
    "colon",
    "early",
    "only",
    "okay",
    "many",
    "start",
    "welcome",
    "comfort",
    "friendship",
    "hope",
    "faith",
    "grace",
    "justice",
    "liberty",
    "unity",
    "media",
    "commerce",
    "industry",
    "trade",
    "export",
    "exchange",
    "section",
    "register",
    "reserve",
    "ideal",
    "premium",
    "success",
    "triumph",
    "progress",
    "protection",
    "relief",
    "reform",
    "council",
    "congress",
    "bureau",
    "house",
    "hall",
    "day",
    "art",
    "fine",
    "check",
    "circle",
    "loop",
    "cross",
    "page",
    "post",
    "mark",
    "pace",
    "price",
    "rule",
    "spring",
    "summit",
    "plaza",
    "village",
    "valley",
    "harbor",
    "island",
    "lake",
    "river",
    "park",
    "forest",
    "garden",
    "united",
    "shock",
    "saline",
    "lead",
    "ward",
    "organ",
    "hurt",
    "rest",
];

/// A US town named by a frequent word ("Anchorage", "Mobile", "Portage"), capitalized
/// inside a sentence right after a place word other than "to", "at" and "of" (or right
/// after "from"): a place, except for the words above.
fn common_town(f: u64, lower: &str) -> bool {
    f & PLACE != 0
        && f & COMMON != 0
        && f & CAPSAFE == 0
        && !NOT_TOWNS_AFTER_PLACE_WORDS.contains(&lower)
}

/// Verbs of going somewhere: "to" after one is a place word as strong as "in" ("moved
/// to oswego", "driving back to tacoma").
const MOVING: &[&str] = &[
    "moved",
    "move",
    "moving",
    "relocated",
    "relocating",
    "drove",
    "drive",
    "driving",
    "going",
    "went",
    "flew",
    "fly",
    "flying",
    "back",
    "home",
    "trip",
    "travel",
    "traveled",
    "travelled",
    "traveling",
    "headed",
    "heading",
    "returned",
    "returning",
    "visit",
];

/// Whether the word at `i` follows "from" after a verb of living or moving, maybe with an
/// adverb between ("moved here from Paulista", "relocated from Deventer", "originally
/// from Tuva"): a place word as strong as "in", where "from" alone also cues a sender.
fn moved_from(tokens: &[Token], i: usize) -> bool {
    let (Some(t), Some(from)) = (tokens.get(i), i.checked_sub(1).and_then(|j| tokens.get(j)))
    else {
        return false;
    };
    if from.lower != "from" || t.newline_before || !t.gap.is_empty() {
        return false;
    }
    let before = |k: usize| i.checked_sub(k).and_then(|j| tokens.get(j));
    let verb = |v: &Token| {
        RESIDING.contains(&v.lower.as_str())
            || MOVING.contains(&v.lower.as_str())
            || v.lower == "originally"
    };
    let plain = |a: &Token| !a.newline_before && a.gap.is_empty();
    match before(2) {
        Some(v) if plain(from) && verb(v) => true,
        Some(adv)
            if plain(from)
                && plain(adv)
                && matches!(
                    adv.lower.as_str(),
                    "here" | "there" | "back" | "over" | "away"
                ) =>
        {
            before(3).is_some_and(verb)
        }
        _ => false,
    }
}

/// Whether the word at `i` follows "to" after a verb of going ("moved to", "back to").
fn moved_to(tokens: &[Token], i: usize) -> bool {
    let (Some(t), Some(to), Some(verb)) = (
        tokens.get(i),
        i.checked_sub(1).and_then(|j| tokens.get(j)),
        i.checked_sub(2).and_then(|j| tokens.get(j)),
    ) else {
        return false;
    };
    to.lower == "to"
        && MOVING.contains(&verb.lower.as_str())
        && !t.newline_before
        && !to.newline_before
        && t.gap.is_empty()
        && to.gap.is_empty()
}

/// The name of a US town of two or three words ("Silver Spring", "grand rapids", "St.
/// Louis"): words the lexicon knows one by one, so no other rule takes them for a name.
/// Capitalized inside a sentence it is the town; at a sentence's start, in a heading or
/// in capitals only after a place word or before a state ("GRAND RAPIDS, MI"); in lower
/// case only right after a place word other than "to", "at" and "of" ("moved here from
/// silver spring") or after a verb of going and "to" ("moved to grand rapids").
fn town_names(tokens: &[Token], modes: &[Mode], free: &[bool]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while i < tokens.len() {
        // The place word right before the word, if any.
        let place_word = i
            .checked_sub(1)
            .and_then(|p| tokens.get(p))
            .filter(|p| PLACE_CUES.contains(&p.lower.as_str()));
        // Only a capitalized word or one after a place word can open a town's name: the
        // lexicon is not asked about the others.
        if !tokens.get(i).is_some_and(|t| t.first_upper) && place_word.is_none() {
            i = i.saturating_add(1);
            continue;
        }
        // Up to three words joined by one space, or by a title's period ("St. Louis").
        let mut words = [""; 3];
        let mut n = 0usize;
        while n < 3 {
            let k = i.saturating_add(n);
            let Some(t) = tokens.get(k) else { break };
            let spaced =
                n == 0
                    || (!t.newline_before
                        && (t.gap.is_empty()
                            || (t.gap == "."
                                && k.checked_sub(1).and_then(|j| tokens.get(j)).is_some_and(
                                    |p| TITLE_ABBREVIATIONS.contains(&p.lower.as_str()),
                                ))));
            if t.has_digit || !free.get(k).copied().unwrap_or(false) || !spaced {
                break;
            }
            if let Some(slot) = words.get_mut(n) {
                *slot = t.lower.as_str();
            }
            n = n.saturating_add(1);
        }
        let found = lexicon::place_name_len(words.get(..n).unwrap_or_default());
        let Some(len) = found else {
            i = i.saturating_add(1);
            continue;
        };
        let last = i.saturating_add(len).saturating_sub(1);
        let (Some(first_t), Some(last_t)) = (tokens.get(i), tokens.get(last)) else {
            break;
        };
        let run = tokens.get(i..=last).unwrap_or_default();
        let caps = run.iter().all(|t| t.first_upper);
        let lower = run.iter().all(|t| !t.first_upper);
        // The place word right before the name, on its line and in its sentence.
        let cue = place_word
            .filter(|_| !first_t.newline_before && !first_t.gap.contains(['.', '!', '?', ';', ':']))
            .map(|p| !WEAK_PLACE_CUES.contains(&p.lower.as_str()) || moved_to(tokens, i));
        let state_after = tokens.get(last.saturating_add(1)).is_some_and(|n| {
            !n.newline_before
                && matches!(n.gap.as_str(), "" | ",")
                && n.allcaps
                && super::recognizers::is_state_abbr(&n.lower)
        });
        // "St. John's wort" is a herb; "in left hand" is a side of the body, whatever
        // West Virginia calls a town.
        let herb = tokens
            .get(last.saturating_add(1))
            .is_some_and(|n| n.lower == "wort")
            || (len > 1 && matches!(first_t.lower.as_str(), "left" | "right"));
        // A state is no town, however its words are cased ("has 3 children in new
        // hampshire and maine").
        let state = super::recognizers::is_state_name(
            &run.iter()
                .map(|t| t.lower.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
        let mode = modes.get(i).copied().unwrap_or(Mode::Mixed);
        let town = !herb
            && !state
            && if caps {
                (mode == Mode::Mixed && !sentence_start(tokens, i)) || cue.is_some() || state_after
            } else {
                lower && (cue == Some(true) || state_after)
            };
        if town {
            out.push(Finding {
                entity: Entity::Address,
                start: first_t.start,
                end: last_t.end,
                confidence: 0.7,
                recognizer: "strict_town_name",
            });
            i = last.saturating_add(1);
        } else {
            i = i.saturating_add(1);
        }
    }
    out
}

/// Landform words that end a place name ("Silver Ridge", "Larch Hollow").
const PLACE_TAILS: &[&str] = &[
    "city", "square", "sq", "ridge", "hollow", "hill", "hills", "valley", "creek", "falls",
    "springs", "heights", "grove", "harbor", "harbour", "bay", "lake", "woods", "glen", "meadows",
    "crossing", "junction", "landing", "beach", "bluff", "cove", "village", "township", "mills",
    "forge", "brook", "ford", "haven", "shores", "pines", "oaks", "county", "parish", "borough",
];

/// Words that end a facility's name when reading back from the facility word.
const FACILITY_STOPS: &[&str] = &[
    "the", "a", "an", "at", "to", "from", "in", "into", "of", "and", "or", "for", "by", "with",
    "on", "under", "via", "per", "our", "his", "her", "their", "this", "that", "same", "other",
    "outside", "local", "previous", "usual",
    // Who goes and what they do there, in a text in capitals ("HE WILL CALL CLINIC").
    "he", "she", "they", "we", "you", "will", "may", "can", "must", "call", "calls", "called",
    "see", "seen", "visit", "follow", "return", "go", "went",
];

/// The name in front of a care facility word, and a place named by a landform word
/// with the words in front of it: up to four capitalized words on the same line,
/// separated only by spaces, and not all of them generic ("the Cardiology Clinic").
fn facilities(tokens: &[Token]) -> Vec<Finding> {
    let mut out = Vec::new();
    for i in 1..tokens.len() {
        let facility = FACILITY_HEADS.iter().any(|head| {
            head.iter().enumerate().all(|(k, w)| {
                tokens.get(i.saturating_add(k)).is_some_and(|t| {
                    t.lower == *w && (k == 0 || (!t.newline_before && t.gap.is_empty()))
                })
            })
        });
        // "Rehab" alone is mostly a kind of care ("Acute Rehab", "Cardiac Rehab"): it
        // ends a name only after a state, a town or a word the lexicon does not know
        // ("Maryland Rehab", "Keswick Rehab").
        let facility = facility
            || tokens.get(i).is_some_and(|t| {
                matches!(t.lower.as_str(), "rehab" | "rehabilitation")
                    && tokens.get(i.saturating_sub(1)).is_some_and(|p| {
                        let f = lexicon::flags(&p.lower);
                        p.first_upper
                            && t.gap.is_empty()
                            && !t.newline_before
                            && (super::recognizers::is_state_name(&p.lower)
                                || f & PLACE != 0
                                || f & SAFE == 0)
                    })
            });
        // A place named by a landform ("Silver Ridge", "Cedar Falls"): the landform word
        // is part of the name, capitalized in ordinary text. "City" and "Square" end a
        // name only after a town, a state, a name or a word the lexicon does not know
        // ("New York City", "Codman Sq"; not "Quality City" chocolates).
        let place = !facility
            && tokens.get(i).is_some_and(|t| {
                t.capitalized && !t.allcaps && PLACE_TAILS.contains(&t.lower.as_str())
            })
            && (tokens
                .get(i)
                .is_some_and(|t| !matches!(t.lower.as_str(), "city" | "square" | "sq"))
                || tokens.get(i.saturating_sub(1)).is_some_and(|p| {
                    let f = lexicon::flags(&p.lower);
                    p.first_upper
                        && (!lexicon::word_only(&p.lower)
                            || f & PLACE != 0
                            || super::recognizers::is_state_name(&p.lower))
                }));
        // A hospital called by its town and "General" after a place word ("admitted to
        // Mass General on 10/12"), not a department ("to General Surgery").
        let general = !facility
            && tokens
                .get(i)
                .is_some_and(|t| t.lower == "general" && t.first_upper)
            && tokens
                .get(i.saturating_add(1))
                .is_none_or(|n| n.newline_before || !n.gap.is_empty() || !n.first_upper)
            && i.checked_sub(1)
                .and_then(|p| tokens.get(p))
                .is_some_and(|p| {
                    let f = lexicon::flags(&p.lower);
                    p.first_upper
                        && (f & SAFE == 0
                            || f & PLACE != 0
                            || p.lower == "mass"
                            || super::recognizers::is_state_name(&p.lower))
                })
            && i.checked_sub(2)
                .and_then(|p| tokens.get(p))
                .is_some_and(|p| matches!(p.lower.as_str(), "at" | "to" | "from" | "in" | "into"));
        let place = place || general;
        if !facility && !place {
            continue;
        }
        let mut first = i;
        while first > 0 && i.saturating_sub(first) < 4 {
            let (Some(prev), Some(next)) = (tokens.get(first.saturating_sub(1)), tokens.get(first))
            else {
                break;
            };
            // Words separated by spaces only, or by "St." and "&" ("St. Luke's", "Mercy &
            // Grace").
            let joined = next.gap.is_empty()
                || next.gap == "&"
                || (next.gap == "." && ["st", "mt", "ft"].contains(&prev.lower.as_str()));
            let spaced = !next.newline_before && joined;
            // Articles and prepositions end the name ("TRANSFER FROM CALVERT HOSPITAL"),
            // and so does a verb's form the lexicon knows only as a word ("FOUND
            // WANDERING HOSPITAL BY SOCIAL WORKER").
            let verb_form = prev.letters >= 5
                && (prev.lower.ends_with("ing") || prev.lower.ends_with("ed"))
                && lexicon::word_only(&prev.lower);
            // "of" inside a university's name goes on ("University of Vermont Medical
            // Center", "PH UNIVERSITY OF MEDICAL CENTER").
            let university_of = prev.lower == "of"
                && first
                    .checked_sub(2)
                    .and_then(|k| tokens.get(k))
                    .is_some_and(|u| {
                        u.first_upper
                            && matches!(u.lower.as_str(), "university" | "college")
                            && !prev.newline_before
                            && prev.gap.is_empty()
                    });
            let stop =
                (FACILITY_STOPS.contains(&prev.lower.as_str()) && !university_of) || verb_form;
            if !spaced || stop || !(prev.first_upper || university_of) || prev.has_digit {
                break;
            }
            first = first.saturating_sub(1);
        }
        // "HOSP" is also shorthand for the stay ("PRIOR HOSP COURSE"): it ends a name
        // only after a word no dictionary has, a name or a town ("FROM WASHINGTON
        // ADVENTIST HOSP").
        let abbreviated = tokens.get(i).is_some_and(|t| t.lower == "hosp");
        let named = (first..i).any(|k| {
            tokens.get(k).is_some_and(|t| {
                let f = lexicon::flags(&t.lower);
                !FACILITY_GENERIC.contains(&t.lower.as_str())
                    && (!abbreviated || f & SAFE == 0 || f & PLACE != 0 || is_name(f))
            })
        });
        // A hospital named only by what kind it is, capitalized as a name after a place
        // word ("seen at General Hosp. last Thursday", "to Community Hospital"): deid
        // corpora count it as the hospital's name.
        let after_place_word = first
            .checked_sub(1)
            .and_then(|p| tokens.get(p))
            .is_some_and(|p| matches!(p.lower.as_str(), "at" | "to" | "from" | "in" | "into"));
        let titled_kind = facility
            && first < i
            && (first..i).all(|k| {
                tokens.get(k).is_some_and(|t| {
                    t.first_upper && !t.allcaps && FACILITY_INNER.contains(&t.lower.as_str())
                })
            })
            && after_place_word;
        // A church's name ends a hospital's only after a place word ("at New York
        // Presbyterian"), not a faith ("Pt is Seventh Day Adventist").
        let church = tokens.get(i).is_some_and(|t| {
            matches!(
                t.lower.as_str(),
                "presbyterian" | "methodist" | "adventist" | "baptist"
            )
        });
        let named = named && (!church || after_place_word);
        let last = if place { i } else { i.saturating_sub(1) };
        if let (true, Some(a), Some(b)) =
            (named || titled_kind, tokens.get(first), tokens.get(last))
        {
            out.push(Finding {
                entity: Entity::Address,
                start: a.start,
                end: b.end,
                confidence: 0.7,
                recognizer: "strict_facility_name",
            });
        }
    }
    out
}

/// Verbs of coming to or leaving a care facility, and their nouns and shorthand
/// ("arrival", "TX"), before "to", "at" or "from".
const CARE_MOVES: &[&str] = &[
    "arrival",
    "admission",
    "readmission",
    "transfer",
    "transferred",
    "transfered",
    "trans",
    "xfer",
    "xferred",
    "tx",
    "txd",
    "tx'd",
    "txfr",
    "medflight",
    "medflighted",
    "medflighting",
    "airlifted",
    "lifeflight",
    "lifeflighted",
    "referred",
    "admitted",
    "readmitted",
    "sent",
    "taken",
    "brought",
    "came",
    "come",
    "comes",
    "coming",
    "return",
    "returned",
    "returns",
    "returning",
    "arrived",
    "arrives",
    "followed",
    "seen",
    "treated",
    "discharged",
    "presented",
    "presents",
    "transported",
    "flown",
    "went",
    "back",
];

/// Where care is given, before "at" and a facility's initials ("clinic at CPI").
const CARE_SITES: &[&str] = &[
    "clinic",
    "appointment",
    "appt",
    "visit",
    "surgery",
    "evaluated",
];

/// What follows initials when they name a department, not a facility ("at HIV clinic").
const DEPARTMENTS: &[&str] = &[
    "clinic",
    "center",
    "centre",
    "office",
    "dept",
    "department",
    "service",
    "team",
    "lab",
    "unit",
    "ward",
    "floor",
    "program",
    "programme",
];

/// Initials that name no particular facility: outside hospital, nursing home.
const GENERIC_INITIALS: &[&str] = &["osh", "nh", "snf", "vna", "pcp", "ph"];

/// A hospital's departments, named after its initials ("to gh cath lab", "at BMC ED").
const HOSPITAL_UNITS: &[&str] = &[
    "cath",
    "ed",
    "er",
    "ew",
    "ccu",
    "micu",
    "sicu",
    "icu",
    "csru",
    "tcu",
    "or",
    "emergency",
];

/// The hospital's own staff and offices, named after its initials ("when GH attorneys
/// can review", "GH security called", "his VLH Hematologist").
const HOSPITAL_STAFF: &[&str] = &[
    "attorney",
    "attorneys",
    "lawyer",
    "lawyers",
    "legal",
    "security",
    "police",
    "chaplain",
    "chaplaincy",
    "administration",
    "hematologist",
    "oncologist",
    "cardiologist",
    "neurologist",
    "nephrologist",
    "pulmonologist",
    "gastroenterologist",
    "endocrinologist",
    "rheumatologist",
    "urologist",
    "surgeon",
];

/// Being somewhere: before "in" and a hospital's initials ("I know I'm in GH").
const BEING_IN: &[&str] = &[
    "i'm",
    "im",
    "is",
    "was",
    "were",
    "been",
    "be",
    "stay",
    "stays",
    "stayed",
    "remains",
    "remained",
    "hospitalized",
    "admitted",
    "seen",
    "treated",
    "here",
];

/// A hospital written by its initials after "to", "at" or "from" that follows a verb of
/// coming or going or that precedes one of its departments ("REFERRED TO GH", "followed
/// at gh by dr healey", "transferred from BMC", "to gh cath lab"):
/// two to four letters ending in "h" (General Hospital) or "mc" (Medical Center). Once
/// found, the same initials are that hospital everywhere in the text ("GH ED"). Also
/// before the hospital's staff ("GH attorneys") or its records after "per" ("As per RMC
/// patient notes"), and after being "in" it ("I'm in GH.").
fn hospital_initials(tokens: &[Token]) -> Vec<Finding> {
    let mut found: HashSet<&str> = HashSet::new();
    for (i, t) in tokens.iter().enumerate().skip(2) {
        let lower = t.lower.as_str();
        let letters_only = lower.chars().all(|c| c.is_ascii_lowercase());
        let at = |k: usize| i.checked_sub(k).and_then(|j| tokens.get(j));
        // Any initials in capitals after "at" where care was given, ending their phrase
        // ("seen in the walk-in clinic at CPI yesterday", "followed at UCH"); not a
        // department ("at HIV clinic"), a unit or a time ("at ICU", "at HS").
        let care_at = t.allcaps
            && letters_only
            && (2..=5).contains(&t.letters)
            && !t.newline_before
            && t.gap.is_empty()
            && at(1).is_some_and(|p| p.lower == "at" && !p.newline_before)
            && at(2).is_some_and(|v| {
                CARE_MOVES.contains(&v.lower.as_str()) || CARE_SITES.contains(&v.lower.as_str())
            })
            && tokens.get(i.saturating_add(1)).is_none_or(|n| {
                n.newline_before
                    || !n.gap.is_empty()
                    || !(n.allcaps || n.first_upper || DEPARTMENTS.contains(&n.lower.as_str()))
            })
            && !HOSPITAL_UNITS.contains(&lower)
            && !GENERIC_INITIALS.contains(&lower)
            && !matches!(lower, "am" | "pm" | "hs" | "qhs" | "noon");
        if !care_at
            && (!facility_shaped(t)
                || lexicon::flags(lower) & COMMON != 0
                || GENERIC_INITIALS.contains(&lower))
        {
            continue;
        }
        let prep_word = at(1).is_some_and(|p| {
            matches!(p.lower.as_str(), "to" | "at" | "from" | "into") && !t.newline_before
        });
        let prep = prep_word && at(1).is_some_and(|p| !p.newline_before);
        let verb = |k: usize| at(k).is_some_and(|v| CARE_MOVES.contains(&v.lower.as_str()));
        let object =
            at(2).is_some_and(|o| matches!(o.lower.as_str(), "pt" | "patient" | "her" | "him"));
        // ... or before one of its departments ("to gh cath lab").
        let next_in = |words: &[&str]| {
            tokens.get(i.saturating_add(1)).is_some_and(|n| {
                !n.newline_before && n.gap.is_empty() && words.contains(&n.lower.as_str())
            })
        };
        let unit = next_in(HOSPITAL_UNITS);
        let staff = next_in(HOSPITAL_STAFF);
        // Its records ("As per RMC patient notes", "GH records reviewed").
        let records = next_in(&["records", "record", "notes", "chart", "patient"])
            && at(1).is_some_and(|p| matches!(p.lower.as_str(), "per" | "from" | "the" | "see"));
        // "in" only after being somewhere, "at" after what was done there, with the clause
        // ending there ("I'm in GH and its 2019", "CABG that she had at gh."; not "a rise
        // in GH levels").
        let being_in = at(1).is_some_and(|p| {
            (p.lower == "in"
                || (p.lower == "at"
                    && at(2).is_some_and(|v| {
                        matches!(v.lower.as_str(), "had" | "done" | "performed" | "born")
                    })))
                && !t.newline_before
        }) && at(2).is_some_and(|v| {
            BEING_IN.contains(&v.lower.as_str())
                || matches!(v.lower.as_str(), "had" | "done" | "performed" | "born")
        }) && tokens.get(i.saturating_add(1)).is_none_or(|n| {
            n.newline_before
                || !n.gap.is_empty()
                || matches!(n.lower.as_str(), "and" | "since" | "for" | "until" | "x")
        });
        // Leaving it, the clause ending there ("WOULD NEED TO LEAVE GH, HAVE SURGERY AND
        // RETURN"); not "left", which is as often the side.
        let leaving = at(1).is_some_and(|v| {
            matches!(v.lower.as_str(), "leave" | "leaves" | "leaving") && !t.newline_before
        }) && tokens
            .get(i.saturating_add(1))
            .is_none_or(|n| n.newline_before || !n.gap.is_empty());
        // An arrow is a move ("found unresponsive-> GH EW today").
        let arrow = t.gap.ends_with("->") && !t.newline_before;
        // "at" and initials in capitals that end their clause ("blasts on diff at GH..",
        // "So far at GH, pt has"; not "at GH levels").
        let at_clause_end = t.allcaps
            && at(1).is_some_and(|p| p.lower == "at")
            && !t.newline_before
            && tokens
                .get(i.saturating_add(1))
                .is_none_or(|n| n.newline_before || n.gap.contains([',', '.', ';', ':', ')']));
        if (prep && (verb(2) || (object && verb(3))))
            || ((prep_word || arrow) && unit)
            || staff
            || records
            || being_in
            || leaving
            || at_clause_end
            || care_at
        {
            found.insert(lower);
        }
    }
    initials_mentions(
        tokens,
        |_, t| (t.allcaps || !t.first_upper) && found.contains(t.lower.as_str()),
        0.6,
        "strict_hospital_initials",
    )
}

/// A ward or building named by an unknown word and its number, glued or apart, after a
/// move to it ("transfer to quartermain2", "sent to Harlowe4", "transfer to quartermain
/// 2"): the words the lexicon knows and short lab names ("spo2", "b12") are not such
/// names.
fn wards_with_numbers(text: &str, tokens: &[Token]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate().skip(2) {
        let letters: String = t
            .lower
            .chars()
            .take_while(char::is_ascii_lowercase)
            .collect();
        let glued = t.lower.get(letters.len()..).unwrap_or_default();
        // The number one space after the word, ending there ("quartermain 2,").
        let apart = text
            .get(t.end..)
            .and_then(|r| r.strip_prefix(' '))
            .map(|r| {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                // Not a decimal, a ratio or a time ("2.5", "2/3", "2:30").
                let ends = r.get(n..).is_none_or(|rest| {
                    let mut c = rest.chars();
                    match (c.next(), c.next()) {
                        (Some(a), _) if a.is_alphanumeric() => false,
                        (Some('.' | '/' | ':' | '-'), Some(b)) => !b.is_ascii_digit(),
                        _ => true,
                    }
                });
                if ends {
                    r.get(..n).unwrap_or_default()
                } else {
                    ""
                }
            })
            .unwrap_or_default();
        let digits = if glued.is_empty() { apart } else { glued };
        if letters.len() < 5
            || !(1..=2).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || lexicon::flags(&letters) & SAFE != 0
            || lexicon::medical_shape(&letters)
        {
            continue;
        }
        let at = |k: usize| i.checked_sub(k).and_then(|j| tokens.get(j));
        let moved = at(1)
            .is_some_and(|p| matches!(p.lower.as_str(), "to" | "at" | "from") && !t.newline_before)
            && at(2).is_some_and(|v| CARE_MOVES.contains(&v.lower.as_str()) && !v.newline_before);
        if moved {
            out.push(Finding {
                entity: Entity::Address,
                start: t.start,
                end: t.end,
                confidence: 0.6,
                recognizer: "strict_ward_number",
            });
        }
    }
    out
}

/// Words that may stand in lower case between a preposition and "hospital" without
/// naming one ("to the outside hospital", "from another hospital", "at a rehab hospital").
const HOSPITAL_DESCRIBERS: &[&str] = &[
    "another",
    "prior",
    "previous",
    "receiving",
    "sending",
    "referring",
    "admitting",
    "community",
    "general",
    "county",
    "city",
    "regional",
    "university",
    "academic",
    "tertiary",
    "rural",
    "small",
    "large",
    "nearby",
    "different",
    "osh",
    "psych",
    "children's",
    "women's",
    "home",
    "day",
    "acute",
    "chronic",
    "specialty",
    "inpatient",
    "outpatient",
    "treating",
    "current",
    "old",
    "my",
    "your",
    "its",
    "closest",
    "any",
    "each",
    "one",
    "both",
    "some",
    "no",
    "which",
    "what",
    "whichever",
    "local",
    "outside",
    "other",
    "same",
    "this",
    "that",
    "the",
    "a",
    "an",
    "his",
    "her",
    "their",
    "our",
    "area",
    "affiliated",
    "nursing",
    "long-term",
    "short-term",
    "hospital",
    "hospitals",
];

/// Nouns after "hospital" that make it a descriptor, not a place ("hospital course").
const HOSPITAL_NOUNS: &[&str] = &[
    "course",
    "stay",
    "stays",
    "admission",
    "admissions",
    "day",
    "days",
    "visit",
    "visits",
    "record",
    "records",
    "bed",
    "beds",
    "acquired",
    "policy",
    "staff",
    "discharge",
    "setting",
    "follow-up",
    "followup",
    "transfer",
    "team",
    "care",
    "based",
    "gown",
    "grade",
];

/// Two-word ends of a facility's name that `lowercase_facilities` reads in lower case
/// too: the words before them must hold one that no list knows as a word, a town or a
/// listed name that is not also a frequent word ("transferred to retelk county medical
/// center"; not "to the regional medical center").
const LOWER_FACILITY_HEADS: &[[&str; 2]] = &[
    ["medical", "center"],
    ["medical", "centre"],
    ["medical", "ctr"],
    ["med", "center"],
    ["med", "ctr"],
    ["health", "center"],
    ["health", "centre"],
    ["nursing", "home"],
    ["rehab", "center"],
    ["rehabilitation", "center"],
    ["surgery", "center"],
    ["family", "practice"],
    ["urgent", "care"],
];

/// A care facility named in lower case after a preposition or an opening parenthesis
/// ("plans for pt to go to sacred heart hospital", "rehab(sacred heart Memorial)"): up
/// to three lower-case words before "hospital", "memorial" or "campus", not all of them
/// words that only describe a hospital; and before the ends of `LOWER_FACILITY_HEADS`,
/// also alone on a line ("care site :" / "dachi medical center").
fn lowercase_facilities(tokens: &[Token]) -> Vec<Finding> {
    const PREPOSITIONS: &[&str] = &[
        "to", "at", "from", "in", "into", "via", "towards", "toward", "on",
    ];
    let mut out = Vec::new();
    for i in 1..tokens.len() {
        let Some(head) = tokens.get(i) else { continue };
        // A campus is named by a word no dictionary has, a name or a town ("bed on
        // mackerer campus"), not by a direction or a kind ("on the main campus").
        let campus = head.lower == "campus";
        let two_words = tokens.get(i.saturating_add(1)).filter(|n| {
            !head.first_upper
                && !n.first_upper
                && !n.newline_before
                && n.gap.is_empty()
                && LOWER_FACILITY_HEADS
                    .iter()
                    .any(|[a, b]| head.lower == *a && n.lower == *b)
        });
        if !(["hospital", "memorial"].contains(&head.lower.as_str())
            || campus
            || two_words.is_some())
            || !head.gap.is_empty()
        {
            continue;
        }
        let Some(last) = two_words.or(Some(head)) else {
            continue;
        };
        if campus
            && !i.checked_sub(1).is_some_and(|p| {
                let f = lexicon::flags(tokens.get(p).map(|t| t.lower.as_str()).unwrap_or("the"));
                f & SAFE == 0 || f & PLACE != 0 || (is_name(f) && f & COMMON == 0)
            })
        {
            continue;
        }
        let described = two_words.is_none()
            && tokens.get(i.saturating_add(1)).is_some_and(|n| {
                !n.newline_before && n.gap.is_empty() && HOSPITAL_NOUNS.contains(&n.lower.as_str())
            });
        if described {
            continue;
        }
        let mut first = i;
        let mut opened = false;
        while first > 0 && i.saturating_sub(first) < 3 {
            let Some(prev) = tokens.get(first.saturating_sub(1)) else {
                break;
            };
            let Some(cur) = tokens.get(first) else { break };
            if cur.newline_before || !(cur.gap.is_empty() || (first < i && cur.gap == "(")) {
                break;
            }
            if first < i && cur.gap == "(" {
                opened = true;
                break;
            }
            if prev.first_upper || prev.has_digit || PREPOSITIONS.contains(&prev.lower.as_str()) {
                break;
            }
            first = first.saturating_sub(1);
            if tokens.get(first).is_some_and(|t| t.gap == "(") {
                opened = true;
                break;
            }
        }
        if first == i {
            continue;
        }
        let after_preposition = first
            .checked_sub(1)
            .and_then(|p| tokens.get(p))
            .is_some_and(|p| PREPOSITIONS.contains(&p.lower.as_str()))
            && tokens
                .get(first)
                .is_some_and(|t| t.gap.is_empty() && !t.newline_before);
        let named = (first..i).any(|k| {
            tokens.get(k).is_some_and(|t| {
                let f = lexicon::flags(&t.lower);
                !FACILITY_GENERIC.contains(&t.lower.as_str())
                    && !HOSPITAL_DESCRIBERS.contains(&t.lower.as_str())
                    && !FACILITY_STOPS.contains(&t.lower.as_str())
                    && (two_words.is_none()
                        || (t.letters >= 2
                            && (f & SAFE == 0
                                || f & PLACE != 0
                                || (is_name(f) && f & COMMON == 0))))
            })
        });
        // Alone on its line, the name is the line ("care site :" / "dachi medical
        // center").
        let own_line = two_words.is_some()
            && tokens.get(first).is_some_and(|t| t.newline_before)
            && tokens
                .get(i.saturating_add(2))
                .is_none_or(|n| n.newline_before);
        let all_plain = (first..i).all(|k| {
            tokens.get(k).is_some_and(|t| {
                !t.first_upper && !t.has_digit && !FACILITY_STOPS.contains(&t.lower.as_str())
            })
        });
        if let (true, true, Some(a), Some(b)) = (
            named && all_plain,
            after_preposition || opened || own_line,
            tokens.get(first),
            Some(last),
        ) {
            out.push(Finding {
                entity: Entity::Address,
                start: a.start,
                end: b.end,
                confidence: 0.6,
                recognizer: "strict_facility_lower",
            });
        }
    }
    out
}

/// Words that may stand between a verb of living and its place ("lives alone in").
const RESIDING_FILLERS: &[&str] = &[
    "alone",
    "here",
    "now",
    "currently",
    "still",
    "independently",
];

/// Where someone lives, in a few words right after "lives in" up to the end of the
/// phrase, when one of them is a word no dictionary has, a name or a town ("lives alone
/// in white amrsh, daughter pat lives close by"): a misspelt town is still the town. A
/// kind of home stays ("lives in senior housing", "lives in a nursing home").
fn residence_phrases(tokens: &[Token]) -> Vec<Finding> {
    let mut out = Vec::new();
    for i in 1..tokens.len() {
        let Some(prep) = tokens.get(i) else { continue };
        if !matches!(prep.lower.as_str(), "in" | "near" | "outside") {
            continue;
        }
        // Back over the fillers to the verb of living.
        let mut k = i;
        let mut verb = false;
        while let Some(p) = k.checked_sub(1).and_then(|q| tokens.get(q)) {
            let Some(cur) = tokens.get(k) else { break };
            if cur.newline_before || !cur.gap.is_empty() {
                break;
            }
            if RESIDING.contains(&p.lower.as_str()) {
                verb = true;
                break;
            }
            if !RESIDING_FILLERS.contains(&p.lower.as_str()) || i.saturating_sub(k) >= 2 {
                break;
            }
            k = k.saturating_sub(1);
        }
        if !verb {
            continue;
        }
        // Forward over at most three words to the end of the phrase.
        let mut last = i;
        while last.saturating_sub(i) < 3 {
            let Some(n) = tokens.get(last.saturating_add(1)) else {
                break;
            };
            if n.newline_before || !n.gap.is_empty() || n.has_digit {
                break;
            }
            if FACILITY_STOPS.contains(&n.lower.as_str())
                || PERSON_VERBS.contains(&n.lower.as_str())
            {
                break;
            }
            last = last.saturating_add(1);
        }
        if last == i {
            continue;
        }
        // The phrase ends at punctuation or the line's end, not inside a longer clause.
        let ends = tokens
            .get(last.saturating_add(1))
            .is_none_or(|n| n.newline_before || !n.gap.is_empty());
        // A state alone is no identifier ("lives in florida").
        let named = (i.saturating_add(1)..=last).any(|k| {
            let lower = tokens.get(k).map(|t| t.lower.as_str()).unwrap_or("the");
            let f = lexicon::flags(lower);
            (f & SAFE == 0 || (f & PLACE != 0 && f & COMMON == 0))
                && !super::recognizers::is_state_name(lower)
        });
        if let (true, true, Some(a), Some(b)) = (
            ends,
            named,
            tokens.get(i.saturating_add(1)),
            tokens.get(last),
        ) {
            out.push(Finding {
                entity: Entity::Address,
                start: a.start,
                end: b.end,
                confidence: 0.6,
                recognizer: "strict_residence",
            });
        }
    }
    out
}

/// Whether a person verb directly follows token `i` on its line ("Hope called").
/// Whether an article or possessive comes right before token `i` ("the bill was paid").
fn determiner_before(tokens: &[Token], i: usize) -> bool {
    i.checked_sub(1)
        .and_then(|p| tokens.get(p))
        .is_some_and(|p| {
            matches!(
                p.lower.as_str(),
                "the"
                    | "a"
                    | "an"
                    | "this"
                    | "that"
                    | "his"
                    | "her"
                    | "my"
                    | "your"
                    | "their"
                    | "our"
                    | "its"
                    | "each"
                    | "every"
                    | "any"
                    | "no"
            )
        })
}

fn person_verb_follows(tokens: &[Token], i: usize) -> bool {
    tokens.get(i.saturating_add(1)).is_some_and(|n| {
        n.gap.is_empty() && !n.newline_before && PERSON_VERBS.contains(&n.lower.as_str())
    })
}

/// Being told follows ("grace aware", "mark made aware", "ana notified").
fn informed_next(tokens: &[Token], i: usize) -> bool {
    let next = |k: usize| {
        tokens
            .get(i.saturating_add(k))
            .filter(|n| n.gap.is_empty() && !n.newline_before)
            .map(|n| n.lower.as_str())
    };
    matches!(next(1), Some("aware" | "notified" | "informed" | "updated"))
        || (next(1) == Some("made") && next(2) == Some("aware"))
}

/// What a person does follows, beyond being or having ("bill called", not "bill is").
fn acts_next(tokens: &[Token], i: usize) -> bool {
    person_verb_follows(tokens, i)
        && tokens
            .get(i.saturating_add(1))
            .is_some_and(|n| !matches!(n.lower.as_str(), "is" | "was" | "has" | "had"))
}

/// A capitalized surname follows, and then what a person does ("Faith Long is her case
/// manager"): a given name that is also a frequent word opens a full name.
fn surname_then_verb(tokens: &[Token], flags: &[u64], i: usize) -> bool {
    let next = i.saturating_add(1);
    tokens.get(next).is_some_and(|n| {
        n.first_upper
            && n.gap.is_empty()
            && !n.newline_before
            && flags
                .get(next)
                .is_some_and(|f| f & LAST != 0 && f & CAPSAFE == 0)
    }) && person_verb_follows(tokens, next)
}

/// A kinship word in parentheses follows the word ("Summer (sister) will call").
fn kin_in_parentheses(tokens: &[Token], i: usize) -> bool {
    tokens.get(i.saturating_add(1)).is_some_and(|n| {
        !n.newline_before && n.gap.starts_with('(') && KIN.contains(&n.lower.as_str())
    })
}

/// An acronym's plural: capitals and a final lower-case "s" ("CEOs", "MRIs").
fn plural_acronym(tokens: &[Token], i: usize, text: &str) -> bool {
    tokens.get(i).is_some_and(|t| {
        text.get(t.start..t.end).is_some_and(|w| {
            w.len() >= 3
                && w.ends_with('s')
                && w.get(..w.len().saturating_sub(1))
                    .is_some_and(|stem| stem.bytes().all(|b| b.is_ascii_uppercase()))
        })
    })
}

/// The start of a house number (1-6 digits, optionally one letter) that stands right
/// before `at`, after a line start, a comma or a word such as "at".
fn number_before(text: &str, at: usize) -> Option<usize> {
    let before = text.get(..at)?;
    let trimmed = before.strip_suffix(' ')?;
    let digits = trimmed.bytes().rev().take_while(u8::is_ascii_digit).count();
    if !(1..=6).contains(&digits) {
        return None;
    }
    let start = trimmed.len().checked_sub(digits)?;
    let prev = trimmed.get(..start)?.chars().next_back();
    matches!(prev, None | Some(' ' | '\n' | ',' | '\t' | '>')).then_some(start)
}

/// The end of a house number (1-6 digits) that follows `at` and ends a line or a
/// comma-separated part ("Robotnicza 144, Wrocław").
fn number_after(text: &str, at: usize) -> Option<usize> {
    let rest = text.get(at..)?.strip_prefix(' ')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=6).contains(&digits) {
        return None;
    }
    let next = rest.get(digits..)?.chars().next();
    matches!(next, None | Some('\n' | ',' | '\r'))
        .then(|| at.saturating_add(1).saturating_add(digits))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn spans(text: &str) -> Vec<&str> {
        find(
            text,
            &super::super::names::tokenize(text),
            &Spans::default(),
        )
        .into_iter()
        .map(|f| &text[f.start..f.end])
        .collect()
    }

    #[test]
    fn unknown_capitalized_words_and_initials() {
        assert_eq!(spans("Seen with J. Okafor today."), vec!["J. Okafor"]);
        assert_eq!(
            spans("Caller reports Ingrid is more confused."),
            vec!["Ingrid"]
        );
    }

    #[test]
    fn lower_case_messages() {
        let s = spans("my son tomas drives me from new harwick every week");
        assert!(s.contains(&"tomas"), "{s:?}");
        assert!(s.iter().any(|x| x.contains("harwick")), "{s:?}");
    }

    #[test]
    fn distractors_stay() {
        assert!(
            spans("History of Parkinson's disease, Foley catheter placed, on Lasix.").is_empty()
        );
        assert!(spans("Patient will return in two weeks. Hope to taper the dose.").is_empty());
    }
}
