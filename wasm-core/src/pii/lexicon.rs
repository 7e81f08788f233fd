//! The "known safe" vocabulary and name lists of the strict profile, as one compressed
//! finite-state map (`lexicon.fst`, sources and licences in `lexicon/SOURCES.md`).

use std::sync::OnceLock;

/// An ordinary English or medical word that may stay in the text.
pub(super) const SAFE: u64 = 1;
/// A frequent English word: a name that is also one ("Will", "Hope") needs a cue.
pub(super) const COMMON: u64 = 2;
/// A given name.
pub(super) const FIRST: u64 = 4;
/// A surname.
pub(super) const LAST: u64 = 8;
/// Stays even when capitalized mid-sentence: eponyms, drug names, months, states.
pub(super) const CAPSAFE: u64 = 16;
/// A given name from phiveil's own short list of common given names (the large lists
/// also hold words such as "driver"): capitalized mid-sentence it is a name even when it
/// is also a frequent word ("Grace").
pub(super) const FIRST_CORE: u64 = 32;
/// A US city or town (the USPS city names). A name of two or three words is one entry,
/// its lower-case words joined by one space: see [`place_name`].
pub(super) const PLACE: u64 = 64;

static BYTES: &[u8] = include_bytes!("lexicon.fst");

fn map() -> Option<&'static fst::Map<&'static [u8]>> {
    static MAP: OnceLock<Option<fst::Map<&'static [u8]>>> = OnceLock::new();
    MAP.get_or_init(|| fst::Map::new(BYTES).ok()).as_ref()
}

/// Words of up to this many bytes have their flags remembered (see [`flags`]).
const MEMO_WORD: usize = 32;

/// The most words remembered at once: 16,384 words take about a megabyte (the table and
/// the words), and the memory is emptied when it is full.
const MEMO_WORDS: usize = 1 << 14;

thread_local! {
    /// Flags of words looked up lately, so that a word is looked up in the map once
    /// while it recurs (the detector reads most words several times, and notes share
    /// most of their words).
    static MEMO: std::cell::RefCell<std::collections::HashMap<Box<str>, u64>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The flags of a lower-case word (0 when the lexicon does not know it). Curly
/// apostrophes and a possessive `'s` are normalized first.
pub(super) fn flags(lower: &str) -> u64 {
    if lower.len() > MEMO_WORD {
        return lookup(lower);
    }
    if let Some(f) = MEMO.with(|m| m.borrow().get(lower).copied()) {
        return f;
    }
    let f = lookup(lower);
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MEMO_WORDS {
            m.clear();
        }
        m.insert(lower.into(), f);
    });
    f
}

/// [`flags`], looked up in the map.
fn lookup(lower: &str) -> u64 {
    let Some(map) = map() else { return 0 };
    // Most words have no curly apostrophe: only those are copied to normalize it.
    let word: std::borrow::Cow<'_, str> = if lower.contains('’') {
        lower.replace('’', "'").into()
    } else {
        lower.into()
    };
    let word = word.strip_suffix("'s").unwrap_or(&word);
    if let Some(f) = map.get(word) {
        return f;
    }
    // A hyphenated compound of known words ("follow-up", "x-ray") is safe as a whole;
    // one of unknown parts ("Smith-Okafor") keeps the parts' name flags.
    if word.contains('-') {
        // A word broken by a hyphen where a line was wrapped ("ori-ented",
        // "bilater-ally") is that word, when no name list has it.
        let joined: String = word.chars().filter(|&c| c != '-').collect();
        if let Some(f) = map.get(&joined) {
            if f & SAFE != 0 && f & (FIRST | LAST) == 0 {
                return f;
            }
        }
        let mut all_safe = true;
        let mut all_common = true;
        let mut names = 0u64;
        let mut any_eponym = false;
        let mut any_plain = false;
        // One-letter parts ("x-ray", "e-mail", "t-cell") are prefixes, not words.
        for part in word.split('-').filter(|p| p.chars().count() > 1) {
            let f = map.get(part).unwrap_or(0);
            all_safe &= f & SAFE != 0;
            all_common &= f & COMMON != 0;
            names |= f & (FIRST | LAST);
            any_eponym |= f & CAPSAFE != 0 && f & FIRST == 0;
            any_plain |= f & SAFE != 0 && f & (FIRST | LAST) == 0;
        }
        // A compound of frequent words is safe even when one is also a surname
        // ("long-term"), and so is one of known words with a part nobody is named
        // ("GU-foley", "stooling-brown": a nursing note's section head or a word glued
        // to the next), and an eponym with a part that only names a condition
        // ("Creutzfeldt-Jakob", "Prader-Willi", "Arnold-Chiari"); otherwise a part that
        // is a name keeps it a name ("Brown-Smith", "Forman-Lyons").
        return if any_eponym {
            SAFE | CAPSAFE
        } else if all_safe && (names == 0 || all_common || any_plain) {
            SAFE | COMMON
        } else {
            names
        };
    }
    0
}

/// How many of the lower-case `words` (two or three) the longest US town name they begin
/// with spans ("silver spring", "grand rapids", "st louis"), if any. One walk down the
/// map, without building the key: most words begin no town's name, and the walk stops at
/// the first byte no key continues with.
pub(super) fn place_name_len(words: &[&str]) -> Option<usize> {
    let fst = map()?.as_fst();
    let mut node = fst.root();
    let mut out = fst::raw::Output::zero();
    let mut best = None;
    for (k, w) in words.iter().take(3).enumerate() {
        let sep: &[u8] = if k == 0 { b"" } else { b" " };
        for &b in sep.iter().chain(w.as_bytes()) {
            let Some(i) = node.find_input(b) else {
                return best;
            };
            let t = node.transition(i);
            out = out.cat(t.out);
            node = fst.node(t.addr);
        }
        if k >= 1 && node.is_final() && out.cat(node.final_output()).value() & PLACE != 0 {
            best = Some(k.saturating_add(1));
        }
    }
    best
}

/// Endings of medical words outside the lexicon (diseases, procedures, drug classes).
const MEDICAL_SUFFIXES: &[&str] = &[
    "itis", "emia", "aemia", "osis", "oses", "ectomy", "ostomy", "otomy", "plasty", "scopy",
    "scopic", "graphy", "ization", "isation", "algia", "cephalic", "lateral", "ectasis", "ectasia",
    "penia", "trophy", "plasia", "pathy", "megaly", "rrhea", "rrhoea", "rrhage", "thiazide",
    "amide", "oxide", "chloride", "pril", "sartan", "olol", "statin", "mycin", "micin", "cillin",
    "floxacin", "azole", "oquine", "amine", "azine", "idine", "oxine", "prazole", "tidine",
    "dipine", "parin", "cycline", "uria", "emic", "ologist", "ology", "ological", "plegia",
    "paresis", "cytosis", "cytes", "genesis", "lysis", "lytic", "ectomies", "otomies", "ographic",
    "ometry", "etic", "atic", "ular", "ical", "iasis", "ogram", "ograms",
];

/// Beginnings of medical words outside the lexicon ("hydroxy…", "inferio…").
const MEDICAL_PREFIXES: &[&str] = &[
    "hydro",
    "hyper",
    "hypo",
    "chloro",
    "fluoro",
    "cardio",
    "gastro",
    "neuro",
    "nephro",
    "hepato",
    "pneumo",
    "broncho",
    "cyclo",
    "methyl",
    "inferio",
    "postero",
    "antero",
    "infero",
    "supero",
    "intra",
    "osteo",
    "arthro",
    "angio",
    "cholecyst",
    "colono",
    "esophag",
    "laparo",
    "thoraco",
    "thrombo",
    "leuko",
    "erythro",
    "immuno",
    "pharmaco",
    "electro",
    "dextro",
    "dihydro",
    "ortho",
    "psycho",
    "micro",
    "macro",
    "endo",
    "peri",
    "trans",
    "anti",
    "pseudo",
    "tachy",
    "brady",
    "hemi",
    "ventriculo",
    "atrio",
    "pyelo",
    "uretero",
    "cysto",
];

/// Whether the lexicon knows a lower-case word as a word and as nobody's name ("muse" is
/// also a surname, "mentating" only a word).
pub(super) fn word_only(lower: &str) -> bool {
    let f = flags(lower);
    f & SAFE != 0 && f & (FIRST | LAST) == 0
}

/// Prefixes that make a known word another word ("reintubation", "nonsmoker").
const WORD_PREFIXES: &[&str] = &[
    "re", "non", "pre", "post", "un", "de", "dis", "over", "under", "counter", "anti", "multi",
    "semi", "intra", "inter",
];

/// Whether an unknown lower-case word is a known word behind a common prefix
/// ("reintubated", "postextubation"): the rest has five or more letters, is an ordinary
/// word and nobody's name.
pub(super) fn prefixed_word(lower: &str) -> bool {
    WORD_PREFIXES.iter().any(|p| {
        lower
            .strip_prefix(p)
            .is_some_and(|rest| rest.chars().count() >= 5 && word_only(rest))
    })
}

/// Whether an unknown lower-case word is a known word with an English ending
/// ("dopplerable", "heparinized", "diuresing", "hematocrits", "systolically"): a word made
/// with "-able" or "-ized" from any known word (an eponym included: no name ends so), with
/// "-ing", "-ed", "-ly", "-ally", "-ness", "-ment" or a plural "-s"/"-es" from a known word
/// that is nobody's name. The base keeps four or more letters; a final "e" dropped by the
/// ending is tried back ("sedating"), though not behind a plural "-s" ("Lyss" is no plural
/// of "lyse").
pub(super) fn derived_word(lower: &str) -> bool {
    // (ending, the base must be nobody's name, a dropped "e" is tried back)
    const ENDINGS: &[(&str, bool, bool)] = &[
        ("able", false, true),
        ("ible", false, true),
        ("ably", false, true),
        ("ized", false, true),
        ("ization", false, true),
        ("ing", true, true),
        ("ed", true, true),
        ("ly", true, true),
        ("ally", true, false),
        ("ness", true, true),
        ("ment", true, true),
        ("s", true, false),
        ("es", true, true),
    ];
    ENDINGS.iter().any(|(ending, not_a_name, e_back)| {
        lower.strip_suffix(ending).is_some_and(|base| {
            let known = |b: &str| {
                b.chars().count() >= 4 && b.chars().all(|c| c.is_ascii_lowercase()) && {
                    let f = flags(b);
                    f & SAFE != 0 && (!not_a_name || f & (FIRST | LAST) == 0)
                }
            };
            known(base) || (*e_back && known(&format!("{base}e")))
        })
    })
}

/// Whether an unknown lower-case word has the shape of a medical term: at least nine
/// letters with a medical ending, or ten with a medical beginning. Given names and
/// surnames this long with these affixes are rare; the lexicon's names are checked first.
pub(super) fn medical_shape(lower: &str) -> bool {
    let letters = lower.chars().filter(|c| c.is_ascii_lowercase()).count();
    if letters != lower.chars().filter(|c| *c != '-').count() {
        return false;
    }
    (letters >= 9 && MEDICAL_SUFFIXES.iter().any(|s| lower.ends_with(s)))
        || (letters >= 10 && MEDICAL_PREFIXES.iter().any(|p| lower.starts_with(p)))
}

/// Whether one edit (deletion, transposition, substitution or insertion of a letter)
/// turns `word` into a frequent English word: an unknown word in a lower-case message
/// that is that close to one is taken for a typo.
pub(super) fn near_common(word: &str) -> bool {
    one_edit_from(word, 0, &|f| f & COMMON != 0)
}

/// Whether one edit turns an unknown word of seven letters or more into a capital-safe
/// term of seven or more that is nobody's name nor a town: a drug, an eponym or a device
/// misspelt ("LOPRESSER", "percocett", "yankaur"). The lexicon keeps every given name and
/// surname of its lists that is that close to one ("adeline" to "adenine"), so a listed
/// name is never read as such a typo.
pub(super) fn near_capsafe(word: &str) -> bool {
    word.chars().count() >= 7
        && one_edit_from(word, 7, &|f| {
            f & CAPSAFE != 0 && f & SAFE != 0 && f & (FIRST | LAST | PLACE) == 0
        })
}

/// Whether one edit turns `word` into another word of the lexicon, of `min_len` letters or
/// more, whose flags `wanted` accepts.
///
/// The edits are those of a typo: a character deleted, two neighbours swapped, one
/// replaced by a letter `a`–`z`, or a letter inserted. Rather than spelling out each of
/// the some 54 candidates a letter and looking each up from the root, one walk down the
/// map follows the word's exact prefix and, at each of its characters, tries the edits
/// from the node reached so far: a replacement or an insertion only through the letters
/// that node has a transition for. It accepts the same words as looking every candidate
/// up (the test `one_edit_walk_accepts_what_the_candidates_do` holds it to that).
fn one_edit_from(word: &str, min_len: usize, wanted: &dyn Fn(u64) -> bool) -> bool {
    use fst::raw::{Node, Output};
    let Some(map) = map() else { return false };
    let fst = map.as_fst();
    let bytes = word.as_bytes();
    // The byte offset where each character starts, and the word's end.
    let bounds: Vec<usize> = word
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(bytes.len()))
        .collect();
    let chars = bounds.len().saturating_sub(1);
    let char_at = |i: usize| -> &[u8] {
        match (bounds.get(i), bounds.get(i.saturating_add(1))) {
            (Some(&a), Some(&b)) => bytes.get(a..b).unwrap_or_default(),
            _ => &[],
        }
    };
    let from = |i: usize| -> &[u8] {
        bounds
            .get(i)
            .and_then(|&a| bytes.get(a..))
            .unwrap_or_default()
    };
    // Follows `parts` from `node` (with the output gathered so far); the value of the
    // word that ends there, if one does.
    let step = |(node, out): (Node<'_>, Output), b: u8| -> Option<(Node<'_>, Output)> {
        let t = node.transition(node.find_input(b)?);
        Some((fst.node(t.addr), out.cat(t.out)))
    };
    let walk = |mut at: (Node<'_>, Output), parts: &[&[u8]]| -> Option<u64> {
        for &b in parts.iter().flat_map(|p| p.iter()) {
            at = step(at, b)?;
        }
        let (node, out) = at;
        node.is_final()
            .then(|| out.cat(node.final_output()).value())
    };
    let hit = |value: Option<u64>, len: usize| len >= min_len && value.is_some_and(wanted);
    let mut at = (fst.root(), Output::zero());
    for i in 0..=chars {
        let here = char_at(i);
        let next = i.saturating_add(1);
        if i < chars {
            // Deleted.
            if hit(walk(at, &[from(next)]), chars.saturating_sub(1)) {
                return true;
            }
            // Swapped with the next (two equal characters swapped are the word itself).
            let after = char_at(next);
            if next < chars
                && here != after
                && hit(
                    walk(at, &[after, here, from(next.saturating_add(1))]),
                    chars,
                )
            {
                return true;
            }
        }
        let (node, out) = at;
        for t in node.transitions() {
            if !t.inp.is_ascii_lowercase() {
                continue;
            }
            let child = (fst.node(t.addr), out.cat(t.out));
            // Replaced by this letter (by itself, the word itself).
            if i < chars && here != [t.inp] && hit(walk(child, &[from(next)]), chars) {
                return true;
            }
            // This letter inserted.
            if hit(walk(child, &[from(i)]), chars.saturating_add(1)) {
                return true;
            }
        }
        // On along the word itself; where the map has no word with this prefix, no edit
        // further on can make one.
        match here.iter().try_fold(at, |a, &b| step(a, b)) {
            Some(a) if i < chars => at = a,
            _ => break,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`one_edit_from`] as it was first written: every candidate spelt out and looked up.
    fn one_edit_by_candidates(word: &str, min_len: usize, wanted: &dyn Fn(u64) -> bool) -> bool {
        let Some(map) = map() else { return false };
        let chars: Vec<char> = word.chars().collect();
        let hit =
            |s: &str| s != word && s.chars().count() >= min_len && map.get(s).is_some_and(wanted);
        let build = |f: &dyn Fn(&mut Vec<char>)| {
            let mut c = chars.clone();
            f(&mut c);
            c.into_iter().collect::<String>()
        };
        for i in 0..=chars.len() {
            if i < chars.len() {
                if hit(&build(&|c| {
                    c.remove(i);
                })) {
                    return true;
                }
                let next = i.saturating_add(1);
                if next < chars.len() && hit(&build(&|c| c.swap(i, next))) {
                    return true;
                }
            }
            for letter in 'a'..='z' {
                if i < chars.len()
                    && hit(&build(&|c| {
                        if let Some(x) = c.get_mut(i) {
                            *x = letter;
                        }
                    }))
                {
                    return true;
                }
                if hit(&build(&|c| c.insert(i, letter))) {
                    return true;
                }
            }
        }
        false
    }

    #[test]
    fn one_edit_walk_accepts_what_the_candidates_do() {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
        let mut pick = |n: usize| (rng.next_u32() as usize) % n.max(1);
        // Words of the lexicon with one or two random edits, words as they are, and
        // strings no language has, with apostrophes, hyphens and non-ASCII letters.
        let mut words: Vec<String> = Vec::new();
        let known: Vec<String> = map()
            .unwrap()
            .stream()
            .into_str_keys()
            .unwrap()
            .into_iter()
            .step_by(401)
            .collect();
        let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz'-é ".chars().collect();
        for w in &known {
            words.push(w.clone());
            for _ in 0..2 {
                let mut c: Vec<char> = w.chars().collect();
                for _ in 0..=pick(2) {
                    let at = pick(c.len() + 1);
                    let letter = alphabet[pick(alphabet.len())];
                    match pick(4) {
                        0 if at < c.len() => {
                            c.remove(at);
                        }
                        1 if at + 1 < c.len() => c.swap(at, at + 1),
                        2 if at < c.len() => c[at] = letter,
                        _ => c.insert(at, letter),
                    }
                }
                words.push(c.into_iter().collect());
            }
        }
        for _ in 0..2_000 {
            let len = 1 + pick(10);
            words.push((0..len).map(|_| alphabet[pick(alphabet.len())]).collect());
        }
        words.extend(
            [
                "",
                "a",
                "becuase",
                "confussed",
                "lopresser",
                "ativn",
                "okafor",
            ]
            .map(String::from),
        );
        let wants: [(usize, &dyn Fn(u64) -> bool); 3] = [
            (0, &|f| f & COMMON != 0),
            (7, &|f| {
                f & CAPSAFE != 0 && f & SAFE != 0 && f & (FIRST | LAST | PLACE) == 0
            }),
            (0, &|_| true),
        ];
        let mut hits = 0usize;
        for w in &words {
            for (min_len, wanted) in &wants {
                let walk = one_edit_from(w, *min_len, wanted);
                assert_eq!(
                    walk,
                    one_edit_by_candidates(w, *min_len, wanted),
                    "{w:?} {min_len}"
                );
                hits += usize::from(walk);
            }
        }
        // Both answers occur: otherwise this test shows nothing.
        assert!(
            hits > words.len() / 2 && hits < words.len() * 3,
            "{hits} of {}",
            words.len()
        );
    }

    #[test]
    fn lexicon_loads_and_knows_its_classes() {
        assert!(flags("the") & COMMON != 0);
        assert!(flags("metoprolol") & SAFE != 0);
        assert!(flags("parkinson's") & CAPSAFE != 0);
        assert!(flags("lasix") & CAPSAFE != 0);
        assert!(flags("tomas") & FIRST != 0 && flags("tomas") & SAFE == 0);
        assert_eq!(flags("okafor"), 0);
        assert_eq!(flags("fernbrook"), 0);
        assert!(flags("follow-up") & SAFE != 0);
        assert!(flags("will") & COMMON != 0 && flags("will") & FIRST != 0);
        assert!(flags("long-term") & SAFE != 0);
        assert!(flags("smith-okafor") & SAFE == 0);
        // A word broken where a line was wrapped is that word; a double name stays one.
        assert!(flags("ori-ented") & SAFE != 0 && flags("bilater-ally") & SAFE != 0);
        assert!(flags("ann-marie") & SAFE == 0);
    }

    #[test]
    fn medical_words_outside_the_lexicon_are_recognized_by_shape() {
        for w in [
            "hydroxychloroquine",
            "hydrochlorothiazide",
            "inferiolateral",
            "normocephalic",
            "hyperlipidemia",
            "catheterization",
        ] {
            assert!(medical_shape(w), "{w}");
        }
        for w in [
            "okafor",
            "harwick",
            "fernbrook",
            "jacqueline",
            "vanderbilt",
            "okonkwo-smith",
        ] {
            assert!(!medical_shape(w), "{w}");
        }
    }

    #[test]
    fn typos_of_common_words_are_recognized() {
        assert!(near_common("becuase"));
        assert!(near_common("confussed"));
        assert!(!near_common("harwick"));
        assert!(!near_common("okafor"));
    }

    #[test]
    fn typos_of_drugs_are_recognized_and_listed_names_kept_as_names() {
        assert!(near_capsafe("lopresser"));
        assert!(near_capsafe("percocett"));
        assert!(near_capsafe("propfol"));
        assert!(!near_capsafe("ativn"), "a word keeps seven letters");
        assert!(!near_capsafe("okafor"));
        assert!(!near_capsafe("fernbrook"));
        // A listed name that close to a drug is in the lexicon as a name.
        assert!(flags("adeline") & FIRST != 0);
        assert!(flags("abeling") & LAST != 0);
    }
}
