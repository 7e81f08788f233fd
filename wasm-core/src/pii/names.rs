//! Person names: dictionaries of common given names and surnames, context cues
//! (titles, "Patient:", kinship words, "seen by"), "Surname, Given" order, and
//! propagation of a name found with confidence to its other mentions in the text.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::{Entity, Finding, Spans};

const FIRST_NAMES: &str = include_str!("first_names.txt");
const LAST_NAMES: &str = include_str!("last_names.txt");

/// Titles that introduce a name ("Dr. Okafor", "Mrs. Lee").
pub(super) const TITLES: &[&str] = &[
    "dr", "mr", "mrs", "ms", "mx", "miss", "prof", "doctor", "nurse", "sr", "sra", "srta",
];

/// Cue words that are credentials written after a name ("Lisa Roe, RN").
const CREDENTIAL_CUES: &[&str] = &["rn", "np", "pa", "lpn", "cna", "md", "do"];

/// Whether cue word `cue`, followed by `gap_after`, lists credentials rather than
/// introduces a name: after a credential and a comma come more credentials ("Lisa Roe,
/// RN, CDCES"). Both profiles' cue rules ask this.
pub(super) fn credential_list(cue: &str, gap_after: &str) -> bool {
    gap_after == "," && CREDENTIAL_CUES.contains(&cue)
}

/// Whether `t` follows a number, glued or one space apart ("4L", "4 L").
pub(super) fn glued_or_after_number(text: &str, t: &Token) -> bool {
    text.get(..t.start).is_some_and(|b| {
        b.strip_suffix(' ')
            .unwrap_or(b)
            .ends_with(|c: char| c.is_ascii_digit())
    })
}

/// Whether cue word `p` is "NP" after an oxygen flow (`before`, the token before it):
/// nasal prongs, not a nurse practitioner ("4L NP GOOD BREATH SOUNDS"). Both profiles'
/// cue rules ask this.
pub(super) fn nasal_prongs(text: &str, p: &Token, before: Option<&Token>) -> bool {
    p.lower == "np"
        && before.is_some_and(|q| {
            matches!(q.lower.as_str(), "l" | "lpm" | "liters") && glued_or_after_number(text, q)
        })
}

/// Whether `t` is a unit glued to its number ("50cc", "250CC"): no cue ("cc:") then.
/// Both profiles' cue rules ask this.
pub(super) fn glued_to_number(text: &str, t: &Token) -> bool {
    text.get(..t.start)
        .is_some_and(|b| b.ends_with(|c: char| c.is_ascii_digit()))
}

/// Words that, right before a capitalized word, mark it as a name.
pub(super) const CUES: &[&str] = &[
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

/// Verbs that, followed by "with"/"to", introduce a person ("spoke with Maria"); after a
/// cue they are what the person did, not a name ("WIFE SAID PT HAD NO OTHER BELONGINGS").
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
    "said",
    "says",
    "asked",
];

/// Verbs that, after a sentence's capitalized subject, mark the subject as a person.
pub(super) const NARRATIVE_VERBS: &[&str] = &[
    "tolerated",
    "reports",
    "reported",
    "denies",
    "denied",
    "presents",
    "presented",
    "states",
    "stated",
    "complains",
    "complained",
    "returns",
    "returned",
    "underwent",
    "agrees",
    "agreed",
    "declined",
    "endorses",
    "endorsed",
    "feels",
    "felt",
    "lives",
    "works",
    "smokes",
    "drinks",
    "ambulates",
    "remains",
    "requests",
    "requested",
    "prefers",
];

/// Verbs of coming and going: after a cue they are what the person did ("PT CAME TO
/// VISIT", "FRIEND CAME IN"), not a name. Unlike the narrative verbs they do not make
/// the capitalized words before them a name ("Foley came out", "The Princess Royal
/// arrived").
const MOTION_VERBS: &[&str] = &["came", "comes", "went", "arrived", "arrives"];

/// Nouns a cue word often heads, which are no name however they are written ("ONE
/// CONTACT PERSON", "patient people", "contact number").
const CUE_NOUNS: &[&str] = &[
    "person",
    "persons",
    "people",
    "number",
    "info",
    "information",
];

/// US state names that are also given names.
const STATE_NAMES_ALSO_GIVEN: &[&str] = &[
    "georgia", "virginia", "carolina", "dakota", "montana", "indiana", "florida", "nevada",
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

/// Whether token `i` is a modal verb that is also a given name, followed on its line by
/// the verb it governs ("PT MAY BE TRANSFERRED", "pt will need rehab"): the sentence goes
/// on, no name stands there.
pub(super) fn modal_verb(tokens: &[Token], i: usize) -> bool {
    let next = tokens
        .get(i.saturating_add(1))
        .filter(|n| !n.newline_before && n.gap.is_empty());
    // "f / u" is "follow up" ("PATIENT WILL F / U WITH DR. ROE").
    let follow_up = next.is_some_and(|n| n.lower == "f")
        && tokens
            .get(i.saturating_add(2))
            .is_some_and(|u| u.lower == "u" && u.gap == "/" && !u.newline_before);
    let verb = next.is_some_and(|n| AFTER_MODAL.contains(&n.lower.as_str())) || follow_up;
    let title = i
        .checked_sub(1)
        .and_then(|p| tokens.get(p))
        .map(|p| p.lower.as_str())
        .filter(|p| TITLES.contains(p));
    tokens
        .get(i)
        .is_some_and(|t| MODALS.contains(&t.lower.as_str()))
        && (verb || next.is_some_and(plain_word_after))
        // After a title it is the name ("Mr. May reports"); after "doctor" or "nurse"
        // only while no verb a modal governs follows ("HIS VISITING NURSE WILL BE
        // INSTRUCTED"; "Nurse Will called").
        && title.is_none_or(|p| verb && matches!(p, "doctor" | "nurse"))
}

/// A frequent word that is no given name and, in ordinary or all-capital text, not
/// capitalized as a name ("WILL DEFER", "may resume"; "defer" is also a surname, but a
/// frequent word): after a modal it is the verb. "Will Smith" and "May Okafor" (a
/// surname that is no frequent word, or a capitalized word in mixed case) stay names.
fn plain_word_after(n: &Token) -> bool {
    use super::lexicon::{COMMON, FIRST, LAST, SAFE};
    let f = super::lexicon::flags(&n.lower);
    f & SAFE != 0
        && f & FIRST == 0
        && (f & LAST == 0 || f & COMMON != 0)
        && (!n.first_upper || n.allcaps)
        && n.lower.len() > 2
}

/// Whether token `i` names a condition, sign or procedure after a person (an eponym:
/// "Todd's paralysis", "Gilbert's syndrome", "Addison's disease"): a possessive directly
/// before a word such conditions are named by.
pub(super) fn eponym_use(tokens: &[Token], i: usize) -> bool {
    let noun = |k: usize| {
        tokens.get(k).is_some_and(|n| {
            !n.newline_before && n.gap.is_empty() && EPONYM_NOUNS.contains(&n.lower.as_str())
        })
    };
    // The possessive may stand apart, as tokenized text writes it ("Addison 's disease").
    let spaced = tokens.get(i.saturating_add(1)).is_some_and(|s| {
        s.lower == "s" && matches!(s.gap.as_str(), "'" | "’") && !s.newline_before
    });
    (tokens.get(i).is_some_and(|t| t.possessive) && noun(i.saturating_add(1)))
        || (spaced && noun(i.saturating_add(2)))
}

/// A capitalized word of a run that names a syndrome or a disease after people, one of
/// them an eponym the lexicon knows ("Wolf Parkinson White Syndrome", "Guillain Barre
/// syndrome"): up to four words joined by spaces or hyphens on one line.
pub(super) fn eponym_run(tokens: &[Token], i: usize) -> bool {
    use super::lexicon::{flags, CAPSAFE};
    let capital = |k: usize| {
        tokens
            .get(k)
            .is_some_and(|t| t.first_upper && t.letters >= 2)
    };
    let joined = |k: usize| {
        tokens
            .get(k)
            .is_some_and(|t| !t.newline_before && (t.gap.is_empty() || t.gap == "-"))
    };
    let disease = |k: usize| {
        tokens.get(k).is_some_and(|n| {
            matches!(
                n.lower.as_str(),
                "syndrome" | "syndromes" | "disease" | "phenomenon" | "anomaly" | "malformation"
            )
        })
    };
    let word = |k: usize| capital(k) && !disease(k);
    if !word(i) {
        return false;
    }
    let mut start = i;
    while start > 0 && i.saturating_sub(start) < 3 && joined(start) && word(start.saturating_sub(1))
    {
        start = start.saturating_sub(1);
    }
    let mut end = i;
    while end.saturating_sub(start) < 3
        && joined(end.saturating_add(1))
        && word(end.saturating_add(1))
    {
        end = end.saturating_add(1);
    }
    let noun = end.saturating_add(1);
    joined(noun)
        && disease(noun)
        && end > start
        && (start..=end).any(|k| {
            tokens
                .get(k)
                .is_some_and(|t| flags(&t.lower) & CAPSAFE != 0)
        })
}

/// Nouns a device or product is named before ("Jackson-Pratt drain", "Philadelphia
/// collar", "Midas bur").
const DEVICE_NOUNS: &[&str] = &[
    "drain",
    "drains",
    "collar",
    "bur",
    "burr",
    "catheter",
    "clamp",
    "clamps",
    "retractor",
    "retractors",
    "forceps",
    "holder",
    "splint",
    "brace",
    "boot",
    "boots",
    "stockings",
    "stent",
    "pump",
    "plate",
    "screw",
    "screws",
    "graft",
    "mesh",
    "suture",
    "sutures",
    "dressing",
    "tube",
    "valve",
    "elevator",
    "scissors",
    "reamer",
    "rongeur",
    "cautery",
    "frame",
    "needle",
    "headrest",
    "bandage",
    "system",
    "anchor",
    "anchors",
    "block",
    "blade",
    "wire",
    "wires",
    "pin",
    "pins",
    "technique",
];

/// Whether capitalized token `i` names a device, product or sign by what directly follows
/// it on its line ("Jackson-Pratt drain", "Philadelphia collar", "Battle sign"): such a
/// word is a term, not a person, unless a title or a cue stands before it.
///
/// A word the name lists know stays a name there ("had Maria sign the form"); device
/// names that are surnames ("Foley", "Penrose") stay by the lexicon's eponyms.
pub(super) fn term_before_noun(tokens: &[Token], i: usize) -> bool {
    use super::lexicon::{flags, FIRST, LAST, PLACE, SAFE};
    let (Some(t), Some(n)) = (tokens.get(i), tokens.get(i.saturating_add(1))) else {
        return false;
    };
    let noun = n.lower.as_str();
    let device = DEVICE_NOUNS.contains(&noun);
    if !t.first_upper
        || t.possessive
        || n.newline_before
        || n.column_before
        || !n.gap.is_empty()
        || !(device || TERM_NOUNS.contains(&noun))
    {
        return false;
    }
    // Before "drain" a word is a product; before "scale" or "score" it names a clinical
    // scale, even when it is also a surname ("Riker scale 4", "Braden score 14").
    if matches!(noun, "scale" | "score") {
        return true;
    }
    let f = flags(&t.lower);
    if f & (FIRST | LAST) != 0 {
        return false;
    }
    // A word no list has before a reflex, a syndrome, a lesion… names the eponym
    // ("positive Chaddock reflex"); before "sign" only where a finding is read
    // ("positive Kanavel signs", "a Tinel sign"), not where someone signs ("had
    // Marisol sign the form"); before a procedure it may be the surgeon's name.
    let finding = !matches!(noun, "sign" | "signs" | "procedure" | "operation")
        || i.checked_sub(1)
            .and_then(|p| tokens.get(p))
            .is_some_and(|p| {
                matches!(
                    p.lower.as_str(),
                    "positive" | "negative" | "pos" | "neg" | "a" | "the" | "no" | "equivocal"
                )
            });
    device || f & (SAFE | PLACE) != 0 || finding
}

/// Colours that are also given names.
const COLOUR_NAMES: &[&str] = &["amber", "rose", "hazel", "olive", "ruby", "coral", "ivory"];

/// What a colour describes in a note, or the words around one that describe a finding.
const COLOURED: &[&str] = &[
    "urine",
    "color",
    "colored",
    "colour",
    "coloured",
    "drainage",
    "drng",
    "fluid",
    "sputum",
    "stool",
    "stools",
    "secretions",
    "emesis",
    "tinged",
    "sedimentous",
    "sediment",
];

/// Whether the word at `i` is a colour that is also a given name, describing a finding:
/// before what it colours, or after a shade or a clarity ("DRAINING AMBER COLOR URINE",
/// "CLEAR AMBER"). After "and" or a time it may be a name ("Ruby and Rose visited", "at
/// 2pm Hazel RN aware").
pub(super) fn colour_of_a_finding(tokens: &[Token], i: usize) -> bool {
    let Some(t) = tokens.get(i) else {
        return false;
    };
    if !COLOUR_NAMES.contains(&t.lower.as_str()) {
        return false;
    }
    let next = tokens
        .get(i.saturating_add(1))
        .filter(|n| !n.newline_before && matches!(n.gap.as_str(), "" | "-" | "/"));
    let prev = i
        .checked_sub(1)
        .and_then(|p| tokens.get(p))
        .filter(|_| !t.newline_before && matches!(t.gap.as_str(), "" | "/" | "-" | ","));
    // What a urine is, right after the note says what it measures ("GU: UOP marginal 20-90
    // cc/hr. Amber.", "URINE OUTPUT MARG. AMBER W/ SEDIMENT"); not after a kinship word or
    // a title ("GU: foley. Daughter Amber called").
    let after_kin_or_title = i
        .checked_sub(1)
        .and_then(|p| tokens.get(p))
        .is_some_and(|p| {
            matches!(
                p.lower.as_str(),
                "daughter"
                    | "son"
                    | "wife"
                    | "husband"
                    | "mother"
                    | "father"
                    | "sister"
                    | "brother"
                    | "friend"
                    | "niece"
                    | "nephew"
                    | "dr"
                    | "nurse"
                    | "rn"
                    | "np"
                    | "ms"
                    | "mrs"
                    | "miss"
            )
        });
    // ... nor before what people do ("GU: voiding well. Amber visited.").
    let acts = tokens.get(i.saturating_add(1)).is_some_and(|n| {
        !n.newline_before
            && (NARRATIVE_VERBS.contains(&n.lower.as_str())
                || matches!(
                    n.lower.as_str(),
                    "visited" | "called" | "phoned" | "came" | "was" | "is" | "will" | "aware"
                ))
    });
    let mut urine_before = false;
    if t.lower == "amber" && !after_kin_or_title && !acts {
        let mut j = i;
        for _ in 0..6 {
            let (Some(cur), Some(p)) = (tokens.get(j), j.checked_sub(1)) else {
                break;
            };
            if cur.newline_before {
                break;
            }
            if tokens.get(p).is_some_and(|w| {
                matches!(
                    w.lower.as_str(),
                    "urine" | "uop" | "uo" | "output" | "foley" | "voiding" | "voided" | "gu"
                )
            }) {
                urine_before = true;
                break;
            }
            j = p;
        }
    }
    urine_before
        || next.is_some_and(|n| COLOURED.contains(&n.lower.as_str()))
        || prev.is_some_and(|p| {
            matches!(
                p.lower.as_str(),
                "clear"
                    | "dark"
                    | "light"
                    | "pale"
                    | "cloudy"
                    | "concentrated"
                    | "yellow"
                    | "deep"
                    | "bright"
            )
        })
}

/// "PEARL" standing for pupils equal and reactive ("MAE. PEARL.", "Pearl 2-3 mm brisk",
/// "PEARL BUT R SLUGGISH"): the word alone as a clause, or before a size or "but", with no
/// cue before it ("Daughter Pearl called" stays a name).
pub(super) fn pupils_shorthand(tokens: &[Token], i: usize) -> bool {
    let Some(t) = tokens.get(i) else {
        return false;
    };
    if t.lower != "pearl" {
        return false;
    }
    // ... not a signature after a closing or a greeting ("Thanks, Pearl.").
    let greeted = i
        .checked_sub(1)
        .and_then(|p| tokens.get(p))
        .is_some_and(|p| {
            matches!(
                p.lower.as_str(),
                "thanks"
                    | "thank"
                    | "regards"
                    | "sincerely"
                    | "best"
                    | "cheers"
                    | "love"
                    | "hi"
                    | "hello"
                    | "dear"
                    | "from"
                    | "by"
                    | "per"
                    | "with"
                    | "to"
                    | "you"
            )
        });
    let opens = !greeted && (i == 0 || t.newline_before || t.gap.contains(['.', ',', ':', ';']));
    let next = tokens.get(i.saturating_add(1));
    let closes = next.is_none_or(|n| {
        n.newline_before
            || n.gap.contains(['.', ',', ';'])
            || matches!(
                n.lower.as_str(),
                "but" | "and" | "mm" | "brisk" | "bilat" | "sluggish"
            )
    });
    // A line of its own is a signature ("...\nPearl\n").
    let own_line = (i == 0 || t.newline_before) && next.is_none_or(|n| n.newline_before);
    opens && closes && !own_line
}

/// Eponym nouns that name a sign or a condition when they follow a name without a
/// possessive ("Siegert sign", "Dieulafoy lesion").
const TERM_NOUNS: &[&str] = &[
    "sign",
    "signs",
    "syndrome",
    "disease",
    "maneuver",
    "manoeuvre",
    "reflex",
    "fracture",
    "lesion",
    "procedure",
    "operation",
    "phenomenon",
    "classification",
    "scale",
    "score",
];

/// Whether token `i` is an eponym the lexicon knows used as one ("Parkinson's disease"),
/// so that a patient's surname propagates to it no more than to a drug's name; a name it
/// does not know as an eponym stays a name ("Maruf's test data").
pub(super) fn known_eponym_use(tokens: &[Token], i: usize) -> bool {
    eponym_use(tokens, i)
        && tokens
            .get(i)
            .is_some_and(|t| super::lexicon::flags(&t.lower) & super::lexicon::CAPSAFE != 0)
}

/// Words that a condition, sign, test or procedure named after a person ends with.
const EPONYM_NOUNS: &[&str] = &[
    // A herb named after a saint ("St. John's wort").
    "wort",
    "gangrene",
    "syndrome",
    "disease",
    "paralysis",
    "palsy",
    "sign",
    "signs",
    "phenomenon",
    "test",
    "maneuver",
    "manoeuvre",
    "ulcer",
    "node",
    "nodes",
    "sarcoma",
    "lymphoma",
    "tear",
    "malformation",
    "anomaly",
    "criteria",
    "score",
    "scale",
    "classification",
    "fracture",
    "contracture",
    "triad",
    "reflex",
    "law",
    "procedure",
    "operation",
    "repair",
    "thyroiditis",
    "encephalopathy",
    "dementia",
    "chorea",
    "ataxia",
    "neuroma",
    "tumor",
    "tumour",
    "cyst",
    "esophagus",
    "diverticulum",
    "angina",
    "arteritis",
    "disorder",
    "deformity",
    "contractions",
    "point",
    "spots",
    "line",
    "lines",
    "position",
    "incision",
    "knot",
    "solution",
    "stain",
];

/// Modal verbs that are also given names ("May", "Will").
const MODALS: &[&str] = &["may", "will", "can", "might", "must", "shall"];

/// Words that follow a modal verb in a note ("may be", "will need").
const AFTER_MODAL: &[&str] = &[
    "be", "have", "go", "need", "require", "benefit", "not", "get", "return", "receive",
    "continue", "also", "now", "start", "stay", "remain", "call", "come", "follow", "see", "try",
    "use", "take", "resume", "undergo", "consider", "discuss", "do", "eat", "walk", "transfer",
    "dc", "wean", "cont",
];

/// Capitalized words that are never names (sentence starters, clinical and calendar
/// words), and given names that are also common words.
const NOT_NAMES: &[&str] = &[
    "npi",
    "dea",
    "dob",
    "udi",
    "vin",
    "iban",
    "icd",
    "cpt",
    "ems",
    "gcs",
    "copd",
    "adls",
    "ra",
    "ssn",
    "mrn",
    "nka",
    "hpi",
    "ros",
    "pmh",
    "psh",
    "fh",
    "sh",
    "tdap",
    "bmi",
    "wbc",
    "hgb",
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
    "room",
    "street",
    "avenue",
    "road",
    "january",
    "february",
    "march",
    "july",
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
    // Services a consult comes from ("Seen by Psychiatry consult", "by Renal, recs").
    "nephrology",
    "renal",
    "psychiatry",
    "psych",
    "ortho",
    "orthopedics",
    "orthopaedics",
    "urology",
    "dermatology",
    "endocrine",
    "endocrinology",
    "hematology",
    "heme",
    "rheumatology",
    "gastroenterology",
    "hepatology",
    "pulmonary",
    "pulmonology",
    "neurosurgery",
    "otolaryngology",
    "ophthalmology",
    "podiatry",
    "geriatrics",
    "palliative",
    "anesthesia",
    "anesthesiology",
    "transplant",
    "nutrition",
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
    "regional",
    "community",
    "county",
    "state",
    "city",
    "united",
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
    "sig",
    "mrs.",
    "via",
    "re",
    "see",
    "sent",
    "left",
    "right",
    "bilateral",
    "upper",
    "lower",
    "name",
    "names",
    "signed",
    "dictated",
    "tolerated",
];

/// Given names and surnames that are also common words ("Will", "May", "Brown"): names
/// only after a title or cue ("Mrs. Brown", "his wife April"), never from the
/// dictionaries alone.
const COMMON_WORD_NAMES: &[&str] = &[
    "april", "art", "august", "banks", "bell", "best", "bill", "black", "branch", "brown", "case",
    "chase", "church", "cook", "cross", "dawn", "day", "faith", "fields", "fox", "french", "frost",
    "glass", "golden", "good", "grace", "gray", "green", "grey", "hall", "hill", "hope", "house",
    "hunt", "joy", "june", "king", "lane", "little", "long", "love", "mark", "may", "moss",
    "noble", "page", "park", "pat", "price", "rice", "rich", "rose", "short", "small", "snow",
    "stone", "strong", "sue", "summer", "wall", "walls", "ward", "west", "white", "will", "wood",
    "young",
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
    common: HashSet<&'static str>,
}

fn dicts() -> &'static Dicts {
    static DICTS: OnceLock<Dicts> = OnceLock::new();
    DICTS.get_or_init(|| Dicts {
        first: FIRST_NAMES.split_whitespace().collect(),
        last: LAST_NAMES.split_whitespace().collect(),
        not_names: NOT_NAMES.iter().copied().collect(),
        common: COMMON_WORD_NAMES.iter().copied().collect(),
    })
}

/// "MS Contin" (and "MS IR", "MS ER", "MS Elixir") is morphine sulfate, not Ms. Contin:
/// `p` is "MS" in capitals and `t` the word right after it.
pub(super) fn morphine_brand(p: &Token, t: &Token) -> bool {
    p.allcaps
        && p.lower == "ms"
        && t.gap.is_empty()
        && !t.newline_before
        && matches!(
            t.lower.as_str(),
            "contin" | "cr" | "er" | "ir" | "sr" | "elixir" | "elix"
        )
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) lower: String,
    /// The first character is upper-case.
    pub(super) first_upper: bool,
    /// Alphabetic characters in the word.
    pub(super) letters: usize,
    /// The word contains a digit ("B12", "E2045503").
    pub(super) has_digit: bool,
    /// First letter upper-case and not all upper-case beyond one letter (or an initial).
    pub(super) capitalized: bool,
    /// Two or more letters, none lower-case ("ZIRME").
    pub(super) allcaps: bool,
    /// A single letter followed by a period ("J.").
    pub(super) initial: bool,
    /// The non-space characters between the previous token and this one.
    pub(super) gap: String,
    /// Whether a line break separates this token from the previous one.
    pub(super) newline_before: bool,
    /// Whether a column break separates this token from the previous one on its line: a
    /// tab, or three spaces and more ("Req Phys: FELKLEY,KENNETH E     Pat Loc: …"). A
    /// name does not run across one.
    pub(super) column_before: bool,
    /// Written with a possessive "'s" (stripped from the span).
    pub(super) possessive: bool,
}

/// Whether a ZIP code follows (a state name such as "Georgia 30301" is not a person).
fn before_zip(text: &str, end: usize) -> bool {
    let rest = text
        .get(end..)
        .unwrap_or_default()
        .trim_start_matches([' ', ',']);
    rest.len() >= 5 && rest.bytes().take(5).all(|b| b.is_ascii_digit())
}

pub(super) fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut gap = String::new();
    let mut newline = false;
    let mut spaces = 0usize;
    let mut column = false;
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
            // "X3." is a count, not an initial ("A&O X3. MAE.") ...
            // ... and so is the last letter of "A&O." or "A/O." (alert and oriented).
            let joined_letter = text
                .get(..start)
                .and_then(|b| b.chars().next_back())
                .is_some_and(|c| matches!(c, '&' | '/'));
            let initial = letters == 1
                && first_upper
                && followed_by_period
                && !joined_letter
                && !word.bytes().any(|b| b.is_ascii_digit());
            // Strip a possessive "'s" from the span.
            let possessive = word.ends_with("'s") || word.ends_with("’s");
            let end = if possessive {
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
                first_upper,
                letters,
                has_digit: word.bytes().any(|b| b.is_ascii_digit()),
                capitalized: first_upper && (any_lower || initial || known_caps),
                allcaps: letters >= 2 && !any_lower,
                initial,
                gap: std::mem::take(&mut gap),
                newline_before: std::mem::take(&mut newline),
                column_before: std::mem::take(&mut column),
                possessive,
            });
            spaces = 0;
        } else {
            if c == '\n' {
                newline = true;
            }
            if c == ' ' {
                spaces = spaces.saturating_add(1);
                column |= spaces >= 3;
            } else {
                spaces = 0;
                column |= c == '\t';
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
    /// confidence, such as street names inside an address); `tokens` are `text`'s words
    /// as [`tokenize`] splits them.
    pub(super) fn find(&self, text: &str, tokens: &[Token], claimed: &Spans) -> Vec<Finding> {
        let d = dicts();
        let free = |t: &Token| !claimed.overlaps(t.start, t.end);
        // After a title or cue: any capitalized or all-capitals word but the stop words.
        // In capitals, a frequent English word that is nobody's name is that word ("PT
        // COMFORTABLE", "PA LINE DC").
        let plain_word = |t: &Token| {
            let f = super::lexicon::flags(&t.lower);
            let (safe, common) = (super::lexicon::SAFE, super::lexicon::COMMON);
            let names = super::lexicon::FIRST | super::lexicon::LAST;
            f & safe != 0 && f & common != 0 && f & names == 0
        };
        // A nationality, drug or eponym that is nobody's given name.
        let capsafe_word = |t: &Token| {
            let f = super::lexicon::flags(&t.lower);
            f & super::lexicon::CAPSAFE != 0 && f & super::lexicon::FIRST == 0
        };
        // A word with a digit is a code, not a name ("Pt AOx3"). In capitals, a word the
        // lexicon knows only as a word, or a nationality, drug or eponym that is nobody's
        // given name, is that word ("PT MENTATING", "PT RUSSIAN SPEAKING ONLY").
        let after_cue = |t: &Token| {
            (t.capitalized
                || (t.allcaps
                    && t.lower.chars().count() > 3
                    && !super::lexicon::word_only(&t.lower)
                    && !capsafe_word(t)))
                && !t.has_digit
                && free(t)
                && (t.initial || !d.not_names.contains(t.lower.as_str()))
                && !before_zip(text, t.end)
        };
        let particle = |t: &Token| PARTICLES.contains(&t.lower.as_str());
        // Without a cue: capitalized, and not also a common word.
        let nameish = |t: &Token| {
            t.capitalized
                && free(t)
                && (t.initial
                    || (!d.not_names.contains(t.lower.as_str())
                        && !d.common.contains(t.lower.as_str())))
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
        let extend = |i: usize, max: usize, cued: bool| -> usize {
            let ok = |t: &Token| {
                if cued {
                    after_cue(t)
                } else {
                    nameish(t) || after_cue(t) && d.last.contains(t.lower.as_str())
                }
            };
            let mut j = i;
            let mut taken = 1usize;
            while taken < max {
                let Some(next) = tokens.get(j.saturating_add(1)) else {
                    break;
                };
                let cur = tokens.get(j);
                let joined =
                    next.gap.is_empty() || cur.is_some_and(|c| c.initial && next.gap == ".");
                if next.newline_before || next.column_before || !joined {
                    break;
                }
                // A third unknown capitalized word followed by a lower-case word starts
                // the next sentence ("Patient: Ana Ruiz Hearing test normal").
                let sentence_after = taken >= 2
                    && !cur.is_some_and(|c| c.initial)
                    && !d.first.contains(next.lower.as_str())
                    && !d.last.contains(next.lower.as_str())
                    && tokens.get(j.saturating_add(2)).is_some_and(|w| {
                        w.gap.is_empty()
                            && !w.newline_before
                            && w.lower.chars().next().is_some_and(char::is_lowercase)
                            && !PARTICLES.contains(&w.lower.as_str())
                    });
                // A modal and its verb go on with the sentence ("MR. MARKER WILL BE
                // RESTARTED").
                if sentence_after || modal_verb(tokens, j.saturating_add(1)) {
                    break;
                }
                // After a middle initial the surname follows, in capitals too ("EARL
                // N. RAND, RRT").
                let after_middle_initial = j > i && cur.is_some_and(|c| c.initial);
                if ok(next) || (after_middle_initial && after_cue(next)) {
                    j = j.saturating_add(1);
                    taken = taken.saturating_add(1);
                } else if PARTICLES.contains(&next.lower.as_str()) {
                    // A particle counts only when a capitalized part follows it.
                    let mut k = j.saturating_add(2);
                    while tokens
                        .get(k)
                        .is_some_and(|t| PARTICLES.contains(&t.lower.as_str()) && t.gap.is_empty())
                    {
                        k = k.saturating_add(1);
                    }
                    match tokens.get(k) {
                        Some(t) if t.gap.is_empty() && ok(t) => {
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
        let mut skip_until = 0usize;
        for (i, t) in tokens.iter().enumerate() {
            if i < skip_until || modal_verb(tokens, i) {
                continue;
            }
            // A name that opens with particles after a title or cue: "Mr. de la Torre".
            let (first, t) = if particle(t) {
                let mut k = i.saturating_add(1);
                while tokens
                    .get(k)
                    .is_some_and(|tk| particle(tk) && tk.gap.is_empty())
                {
                    k = k.saturating_add(1);
                }
                match tokens.get(k) {
                    Some(tk) if tk.gap.is_empty() && after_cue(tk) => (k, t),
                    _ => continue,
                }
            } else if after_cue(t) {
                (i, t)
            } else {
                continue;
            };
            let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
            let prev2 = i.checked_sub(2).and_then(|p| tokens.get(p));
            let gap_ok = |g: &str| g.is_empty() || g == "." || g == ":" || g == ",";
            if let Some(p) = prev {
                // 1. A title right before: "Dr. Okafor", "Mrs. J. Lee", "Mrs. Brown".
                // A title in lower case counts before a capitalized name ("mrs. Park").
                // "MS:" and "MR:" before a word are section labels (mental status,
                // mitral regurgitation: "MS:Sleeping most of night"), not titles.
                let label = t.gap == ":" && matches!(p.lower.as_str(), "ms" | "mr");
                let morphine = morphine_brand(p, t);
                if TITLES.contains(&p.lower.as_str())
                    && !label
                    && !morphine
                    && !modal_verb(tokens, i)
                    && (p.capitalized || p.allcaps || (t.first_upper && !t.allcaps))
                    && gap_ok(&t.gap)
                    && !t.newline_before
                    && !t.column_before
                {
                    let j = extend(first, 3, true);
                    push(&mut out, i, j, 0.9, "name_title");
                    skip_until = j.saturating_add(1);
                    continue;
                }
                // 2. A cue word: "Patient: Ana Ruiz", "daughter Maria", "seen by Lee",
                //    "Name: Ruiz, Ana".
                // A role after the cue is another cue, not a name ("reviewed by
                // Attending Physician").
                // Nor is a verb ("SON BROUGHT HIM", "wife called").
                let role = [
                    CUES,
                    TITLES,
                    NARRATIVE_VERBS,
                    MOTION_VERBS,
                    CUE_NOUNS,
                    TALK_VERBS,
                    BY_VERBS,
                ]
                .iter()
                .any(|l| l.contains(&t.lower.as_str()));
                // A frequent word after "PT" says how the patient is, in capitals unless
                // it is a common given name ("PT BLIND IN THAT EYE"), capitalized when no
                // name list has it ("Pt Alert cooperative").
                let patient_state = matches!(p.lower.as_str(), "pt" | "patient") && {
                    use super::lexicon::{flags, word_only, COMMON, FIRST_CORE};
                    let f = flags(&t.lower);
                    (t.allcaps && f & COMMON != 0 && f & FIRST_CORE == 0)
                        || (f & COMMON != 0 && word_only(&t.lower))
                };
                // After "CC:" (chief complaint) or a role in a heading ("Team 1 Intern
                // Admission Note", "CC: Chest pain", "CC: Lightheadedness, vertigo"), a
                // word the lexicon knows only as a word, or one followed by words in
                // lower case, is what the note is about; a copy's recipient is a name
                // ("cc: Marguerite Vasquez", "cc: Okafor, Ada").
                let heading = matches!(
                    p.lower.as_str(),
                    "cc" | "intern" | "resident" | "attending" | "fellow"
                ) && (super::lexicon::word_only(&t.lower)
                    || (p.lower == "cc"
                        && tokens
                            .get(first.saturating_add(1))
                            .is_some_and(|n| !n.newline_before && !n.first_upper && !n.has_digit)));
                let cue = CUES.contains(&p.lower.as_str())
                    && !role
                    && !heading
                    && !patient_state
                    && !nasal_prongs(text, p, prev2)
                    && !glued_to_number(text, p)
                    && (p.lower != "by"
                        || prev2.is_some_and(|q| BY_VERBS.contains(&q.lower.as_str())))
                    && (t.gap.is_empty() || t.gap == ":" || t.gap == "-" || t.gap == ",")
                    && !credential_list(&p.lower, &t.gap);
                let talk = matches!(p.lower.as_str(), "with" | "to")
                    && prev2.is_some_and(|q| TALK_VERBS.contains(&q.lower.as_str()));
                if (cue || talk) && !t.newline_before && !modal_verb(tokens, i) {
                    let mut j = extend(first, 3, true);
                    // Frequent words that are nobody's name, closing a label or a heading,
                    // name a field ("Patient Signature:", "Provider License (referring):",
                    // "Patient Portal Secure Message").
                    // A number right after them names its kind ("Contact: Mobile +1 480…").
                    let number_after = tokens.get(j).is_some_and(|last| {
                        let rest = text
                            .get(last.end..)
                            .unwrap_or_default()
                            .trim_start_matches(' ');
                        let rest = rest.strip_prefix(['+', '(']).unwrap_or(rest);
                        rest.starts_with(|c: char| c.is_ascii_digit())
                    });
                    let label_end = number_after
                        || tokens
                            .get(j.saturating_add(1))
                            .is_none_or(|n| n.newline_before || n.gap.starts_with([':', '(']));
                    if label_end
                        && tokens
                            .get(first..=j)
                            .is_some_and(|r| r.iter().all(plain_word))
                    {
                        skip_until = j.saturating_add(1);
                        continue;
                    }
                    if let Some(next) = tokens.get(j.saturating_add(1)) {
                        if next.gap == "," && !next.newline_before && after_cue(next) && j == first
                        {
                            j = extend(j.saturating_add(1), 2, true);
                        }
                    }
                    push(&mut out, i, j, 0.85, "name_cue");
                    skip_until = j.saturating_add(1);
                    continue;
                }
            }
            if first != i
                || !(nameish(t) || (t.allcaps && t.capitalized))
                || eponym_use(tokens, i)
                || eponym_run(tokens, i)
            {
                continue;
            }
            // 3. "Surname, Given" with a known given name.
            if let Some(next) = tokens.get(i.saturating_add(1)) {
                if next.gap == ","
                    && !next.newline_before
                    && nameish(next)
                    && d.first.contains(next.lower.as_str())
                    && d.last.contains(t.lower.as_str())
                {
                    let j = extend(i.saturating_add(1), 2, false);
                    push(&mut out, i, j, 0.8, "name_surname_given");
                    skip_until = j.saturating_add(1);
                    continue;
                }
            }
            // "Max temp 101", "min HR 48": maximum and minimum before a reading.
            if matches!(t.lower.as_str(), "max" | "min")
                && tokens.get(i.saturating_add(1)).is_some_and(|n| {
                    !n.newline_before
                        && super::recognizers::VITAL_SIGN_WORDS.contains(&n.lower.as_str())
                })
            {
                continue;
            }
            // A colour that is also a given name, describing what a note measures ("FOLEY
            // DRAINING AMBER COLOR URINE", "clear amber urine").
            if colour_of_a_finding(tokens, i) || pupils_shorthand(tokens, i) {
                continue;
            }
            // A state after a city ("Macon, Georgia") is not a person.
            if t.gap == "," && STATE_NAMES_ALSO_GIVEN.contains(&t.lower.as_str()) {
                continue;
            }
            // 4. Dictionaries.
            let is_first = d.first.contains(t.lower.as_str());
            let is_last = d.last.contains(t.lower.as_str());
            let j = extend(i, 3, false);
            let mut best: Option<(f32, &'static str)> = None;
            // A lone word of three capitals is an abbreviation ("ANA titer"); in an
            // all-capitals note the strict profile judges it with the line.
            let abbreviation = t.allcaps && t.letters <= 3 && j == i;
            // In capitals, frequent words side by side are those words ("HAS GOOD
            // STRONG COUGH"), whatever surnames they also are.
            let frequent_in_caps = (i..=j).all(|k| {
                tokens
                    .get(k)
                    .is_some_and(|tk| tk.allcaps && d.common.contains(tk.lower.as_str()))
            });
            if frequent_in_caps {
                continue;
            }
            if (is_first || is_last) && !abbreviation {
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
                best = Some((score, "name_dictionary"));
            }
            // 5. A name as the subject of a clinical-narrative verb: "Jakub tolerated the
            //    procedure", "Luca Valentino is a 41-year-old".
            let verb = tokens.get(j.saturating_add(1));
            let after = tokens.get(j.saturating_add(2));
            let narrative = verb.is_some_and(|v| {
                v.gap.is_empty()
                    && !v.newline_before
                    && (NARRATIVE_VERBS.contains(&v.lower.as_str())
                        || (matches!(v.lower.as_str(), "is" | "was")
                            && after.is_some_and(|a| matches!(a.lower.as_str(), "a" | "an"))))
            });
            // An English word the lexicon knows as nobody's name is the subject of its
            // sentence, not a person ("Circulation returned to the fingers"); so is a
            // drug, device or eponym that is no common given name ("Foley came out").
            let plain_english = || {
                (i..=j).all(|k| {
                    tokens.get(k).is_some_and(|tk| {
                        let f = super::lexicon::flags(&tk.lower);
                        super::lexicon::word_only(&tk.lower)
                            || (f & super::lexicon::CAPSAFE != 0
                                && f & super::lexicon::FIRST_CORE == 0)
                    })
                })
            };
            if narrative && !plain_english() {
                let sentence_start =
                    i == 0 || t.newline_before || t.gap.ends_with(['.', '!', '?', ':', ')']);
                let score = if sentence_start { 0.75 } else { 0.65 };
                if best.is_none_or(|(b, _)| b < score) {
                    best = Some((score, "name_sentence_subject"));
                }
            }
            if let Some((score, rec)) = best {
                push(&mut out, i, j, score, rec);
                skip_until = j.saturating_add(1);
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
            let named = Spans::new(
                out.iter()
                    .filter(|f| f.confidence >= 0.7)
                    .map(|f| (f.start, f.end))
                    .collect(),
            );
            for (i, t) in tokens.iter().enumerate() {
                // The patient Mr. Parkinson does not make "Parkinson's disease" his name.
                if nameish(t)
                    && confident.contains(&t.lower)
                    && !named.overlaps(t.start, t.end)
                    && !known_eponym_use(tokens, i)
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
