//! Pattern recognizers: regular expressions, validators and context words.

use std::net::{Ipv4Addr, Ipv6Addr};

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::{Entity, Finding, Policy, Profile};
use crate::{Error, Result};

/// How much a context word near a candidate raises its confidence.
const CONTEXT_BOOST: f32 = 0.35;
/// Bytes of text before a candidate searched for context words.
const CONTEXT_BEFORE: usize = 48;
/// Bytes of text after a candidate searched for context words.
const CONTEXT_AFTER: usize = 16;

type Validator = fn(&str) -> bool;

#[derive(Debug)]
struct Rec {
    name: &'static str,
    entity: Entity,
    re: Regex,
    /// The capture group that is the identifier (0 = whole match).
    group: usize,
    score: f32,
    context: &'static [&'static str],
    /// Words near which a candidate is not this entity ("CPT 99213" is no ZIP code,
    /// "version 10.2.0.1" no IP address).
    anti: &'static [&'static str],
    validate: Option<Validator>,
}

/// The compiled pattern recognizers of one policy.
#[derive(Debug)]
pub(super) struct Patterns {
    recs: Vec<Rec>,
    /// One [`RegexSet`] per [`GATE_CHUNK`] recognizers, with the indices of those
    /// recognizers: a single pass over the text says which of them match anywhere, and
    /// only those are run for their captures (`None` where a set could not be built: all
    /// of its recognizers run).
    gates: Vec<(Vec<usize>, Option<RegexSet>)>,
}

/// Recognizers per gate. The strict profile has some 140 patterns; running each over a
/// note was most of `strict`'s time in wasm, where the regex crate has no SIMD
/// prefilters, though most patterns find nothing in a given note. One set of all of
/// them is the fastest on text it has seen, but its lazy DFA builds new states on every
/// new note, and the more patterns a set holds the more it builds: on 100 PhysioNet
/// notes after 100 others, sets of 32 spent half of the redactor's time building
/// states. Sets of 16 build far fewer (the redactor's instructions there fell 17 %, and
/// 21 % on notes that are the first it sees) for 4 % more on a batch it has seen. The
/// sets take the patterns in the order of their text, so that patterns that begin alike
/// (labels, digit runs, month names) share a set and its states.
const GATE_CHUNK: usize = 16;

/// Patterns that, in a set with others, multiply the states its lazy DFA builds on new
/// text (a city in lower case before a state and ZIP; the long list of identifier
/// labels): each has a gate of its own. Found by leaving each pattern out of its set in
/// turn, on 100 PhysioNet notes after 100 others: without either, its set built its
/// states in a third to a half of the time (the redactor's instructions there fell 7 %).
const SOLO_GATES: &[&str] = &["city_lower_before_state_zip", "id_label"];

const MONTH: &str = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)";

/// A month's name in lower case that is no other word: not "may", "march" or "mar" (a
/// verb), nor "dec" (decreased).
const MONTH_LOWER: &str = r"(?:jan(?:uary)?|feb(?:ruary)?|apr(?:il)?|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|december)";

/// The year that may follow a month and day, after a comma with or without a space or
/// after a space ("Aug 9, 2022", "Aug 9,2022", "9 Aug 2022").
const YEAR_AFTER_DAY: &str = r"(?:(?:,\s*|\s+)(?:18|19|20)\d{2}\b)?";

/// A day of the month as an ordinal word ("first" … "thirty-first").
const ORDINAL: &str = r"(?i:(?:(?:twenty|thirty)[-\s])?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth)";

/// US state, district and territory abbreviations (USPS), as a regex alternation.
pub(super) const STATE_ABBR: &str = "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP|AA|AE|AP";

/// Whether `word` is a USPS state abbreviation, ignoring ASCII case ("MI", "mi").
pub(super) fn is_state_abbr(word: &str) -> bool {
    // Every abbreviation has two letters.
    word.len() == 2 && STATE_ABBR.split('|').any(|c| c.eq_ignore_ascii_case(word))
}

/// Whether a lower-case word is a one-word US state's name ("ohio", "virginia").
pub(super) fn is_state_name(lower: &str) -> bool {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| STATE_NAME.split('|').collect())
        .iter()
        .any(|c| c.eq_ignore_ascii_case(lower))
}

/// State abbreviations that are not also clinical credentials ("Lee, MD", "Kim, PA",
/// "Roy, MA"): a city without a ZIP is only recognized before these.
const STATE_ABBR_NOT_CREDENTIAL: &str = "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI";

const STATE_NAME: &str = "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|Puerto Rico";

/// USPS Publication 28 street suffixes (full names and standard abbreviations).
pub(super) const STREET_SUFFIX: &str = "Alley|Aly|Annex|Anx|Arcade|Arc|Avenue|Ave|Av|Bayou|Byu|Beach|Bch|Bend|Bnd|Bluffs?|Blf|Bottom|Btm|Boulevard|Blvd|Branch|Br|Bridge|Brg|Brooks?|Brk|Burgs?|Bg|Bypass|Byp|Camp|Cp|Canyon|Cyn|Cape|Cpe|Causeway|Cswy|Centers?|Ctr|Circles?|Cir|Cliffs?|Clf|Club|Clb|Commons?|Cmn|Corners?|Cor|Course|Crse|Courts?|Ct|Coves?|Cv|Creek|Crk|Crescent|Cres|Crest|Crst|Crossing|Xing|Crossroads?|Xrd|Curve|Curv|Dale|Dl|Dam|Dm|Divide|Dv|Drives?|Dr|Estates?|Est|Expressway|Expy|Extensions?|Ext|Falls?|Fls|Ferry|Fry|Fields?|Fld|Flats?|Flt|Fords?|Frd|Forest|Frst|Forges?|Frg|Forks?|Frk|Fort|Ft|Freeway|Fwy|Gardens?|Gdn|Gateway|Gtwy|Glens?|Gln|Greens?|Grn|Groves?|Grv|Harbors?|Hbr|Haven|Hvn|Heights|Hts|Highway|Hwy|Hills?|Hl|Hollow|Holw|Inlet|Inlt|Islands?|Is|Isle|Junctions?|Jct|Keys?|Ky|Knolls?|Knl|Lakes?|Lk|Land|Landing|Lndg|Lane|Ln|Lights?|Lgt|Loaf|Lf|Locks?|Lck|Lodge|Ldg|Loop|Mall|Manors?|Mnr|Meadows?|Mdw|Mews|Mills?|Ml|Mission|Msn|Motorway|Mtwy|Mount|Mt|Mountains?|Mtn|Neck|Nck|Orchard|Orch|Oval|Overpass|Opas|Parks?|Parkways?|Pkwy|Pass|Passage|Psge|Path|Pike|Pines?|Pne|Place|Pl|Plains?|Pln|Plaza|Plz|Points?|Pt|Ports?|Prt|Prairie|Pr|Radial|Radl|Ramp|Ranch|Rnch|Rapids?|Rpd|Rest|Rst|Ridges?|Rdg|River|Riv|Roads?|Rd|Route|Rte|Row|Rue|Run|Shoals?|Shl|Shores?|Shr|Skyway|Skwy|Springs?|Spg|Spurs?|Squares?|Sq|Station|Sta|Stravenue|Stra|Stream|Strm|Streets?|St|Summit|Smt|Terrace|Ter|Throughway|Trwy|Trace|Trce|Track|Trak|Trafficway|Trfy|Trail|Trl|Trailer|Trlr|Tunnel|Tunl|Turnpike|Tpke|Underpass|Upas|Unions?|Un|Valleys?|Vly|Via|Viaduct|Vias|Views?|Vw|Villages?|Vlg|Ville|Vl|Vista|Vis|Walks?|Wall|Ways?|Wells?|Wl";

const ID: &str = r"([A-Za-z0-9][A-Za-z0-9-]{3,24})";
const LABEL_TAIL: &str = r"\s*(?:number|no\.?|num|#|id)?\s*(?:is|:|#|=)?\s*#?\s*";

fn build(pattern: &str) -> Result<Regex> {
    // The regex crate's byte API without its Unicode tables: ASCII semantics for \b, \d,
    // \s and case folding (the identifiers are ASCII; names are tokenized by hand with
    // Unicode rules), a lazy DFA with literal prefilters (several times faster than
    // regex-lite over the ~60 patterns of the strict profile), and no Unicode tables in
    // the wasm bundle. Matches are cut back to character boundaries by the caller.
    RegexBuilder::new(pattern)
        .unicode(false)
        .crlf(true)
        .size_limit(1 << 23)
        .dfa_size_limit(1 << 22)
        .build()
        .map_err(|e| Error::InvalidPattern(e.to_string()))
}

/// Compiles one recognizer.
#[allow(clippy::too_many_arguments)]
fn rec(
    name: &'static str,
    entity: Entity,
    pattern: &str,
    group: usize,
    score: f32,
    context: &'static [&'static str],
    anti: &'static [&'static str],
    validate: Option<Validator>,
) -> Result<Rec> {
    Ok(Rec {
        name,
        entity,
        re: build(pattern)?,
        group,
        score,
        context,
        anti,
        validate,
    })
}

impl Patterns {
    pub(super) fn new(policy: &Policy) -> Result<Self> {
        use Entity::*;
        let mut recs = Vec::new();
        let mut add = |name: &'static str,
                       entity: Entity,
                       pattern: &str,
                       group: usize,
                       score: f32,
                       context: &'static [&'static str],
                       validate: Option<Validator>|
         -> Result<()> {
            recs.push(rec(
                name,
                entity,
                pattern,
                group,
                score,
                context,
                &[],
                validate,
            )?);
            Ok(())
        };

        // Contact details.
        add(
            "email",
            Email,
            r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
            0,
            0.95,
            &[],
            None,
        )?;
        add(
            "url",
            Url,
            r#"(?i)\b(?:https?://|ftp://|www\.)[^\s<>"'()\[\]{}]+"#,
            0,
            0.9,
            &[],
            None,
        )?;
        add(
            "domain",
            Url,
            r"(?i)\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.(?:com|org|net|edu|gov|io|info|health|biz|us|co\.uk|me)\b(?:/[^\s<>]*)?",
            0,
            0.5,
            &["website", "site", "portal", "url", "online"],
            None,
        )?;
        add(
            "phone_us",
            Phone,
            r"(?:(?:\+1|001|\b1)[-.\s]?)?(?:\(\d{3}\)\s?|\b\d{3}(?:[-.]\s?|\s))\d{3}(?:[-.]\s?|\s)\d{4}(?:\s?(?:x|ext\.?|extension)\s?\d{1,6})?\b",
            0,
            0.75,
            PHONE_CONTEXT,
            None,
        )?;
        add(
            "phone_intl",
            Phone,
            r"\+[2-9]\d{0,2}[-.\s]?(?:\(?\d{1,4}\)?[-.\s]?){2,5}\d{2,4}\b",
            0,
            0.7,
            PHONE_CONTEXT,
            Some(|s| digits(s) >= 8),
        )?;
        add(
            "phone_bare",
            Phone,
            r"\b\d{10}\b",
            0,
            0.3,
            PHONE_CONTEXT,
            None,
        )?;

        // Government and financial numbers.
        add(
            "ssn",
            Ssn,
            r"\b\d{3}-\d{2}-\d{4}\b",
            0,
            0.85,
            SSN_CONTEXT,
            Some(valid_ssn),
        )?;
        add(
            "ssn_spaced",
            Ssn,
            r"\b\d{3} \d{2} \d{4}\b",
            0,
            0.6,
            SSN_CONTEXT,
            Some(valid_ssn),
        )?;
        add(
            "ssn_bare",
            Ssn,
            r"\b\d{9}\b",
            0,
            0.3,
            SSN_CONTEXT,
            Some(valid_ssn),
        )?;
        add(
            "credit_card",
            CreditCard,
            r"\b(?:\d[ -]?){12,18}\d\b",
            0,
            0.85,
            &[
                "card",
                "visa",
                "mastercard",
                "amex",
                "discover",
                "credit",
                "cc",
            ],
            Some(valid_card),
        )?;
        add(
            "iban",
            Account,
            r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
            0,
            0.85,
            &["iban", "account", "bank"],
            Some(valid_iban),
        )?;
        add(
            "account_label",
            Account,
            &format!(r"(?i:\b(?:bank\s+)?(?:account|acct|a/c){LABEL_TAIL}){ID}"),
            1,
            0.85,
            &[],
            // "a/c 500x12", "A/C 450cc": assist-control settings, not an account.
            Some(|s| has_digit(s) && !dimensions(s) && !is_measure(s)),
        )?;
        add(
            "mrn_label",
            Mrn,
            &format!(
                r"(?i:\b(?:MRN|MR\s?#|med(?:ical)?\s+rec(?:ord)?s?|chart|patient\s+(?:id|identifier|number|no\.?)|hospital\s+(?:id|number|no\.?)){LABEL_TAIL}){ID}"
            ),
            1,
            0.9,
            &[],
            Some(has_digit),
        )?;
        add(
            "health_plan_label",
            HealthPlan,
            &format!(
                r"(?i:\b(?:member|policy|group|subscriber|insurance|insurer|beneficiary|medicare|medicaid|health\s+plan|plan|hicn|mbi|coverage){LABEL_TAIL}){ID}"
            ),
            1,
            0.85,
            &[],
            Some(has_digit),
        )?;
        add(
            "medicare_mbi",
            HealthPlan,
            r"\b[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d[AC-HJKMNP-RT-Y]{2}\d{2}\b",
            0,
            0.7,
            &["medicare", "mbi", "beneficiary"],
            None,
        )?;
        add(
            "license_label",
            License,
            &format!(
                r"(?i:\b(?:driver'?s?\s+licen[cs]e|licen[cs]e|DL|lic\.?|DEA|NPI|certificate|cert\.?|registration|passport){LABEL_TAIL}){ID}"
            ),
            1,
            0.85,
            &[],
            Some(has_digit),
        )?;
        add(
            "dea",
            License,
            r"\b[ABCDEFGHJKLMPRSTUX][A-Z9]\d{7}\b",
            0,
            0.8,
            &["dea"],
            Some(valid_dea),
        )?;
        add(
            "npi",
            License,
            r"\b\d{10}\b",
            0,
            0.45,
            &["npi", "provider"],
            Some(valid_npi),
        )?;
        add(
            "vin",
            Vehicle,
            r"\b[A-HJ-NPR-Z0-9]{17}\b",
            0,
            0.45,
            &["vin", "vehicle", "car", "truck"],
            Some(plausible_vin),
        )?;
        add(
            "vin_checked",
            Vehicle,
            r"\b[A-HJ-NPR-Z0-9]{17}\b",
            0,
            0.85,
            &["vin", "vehicle"],
            Some(valid_vin),
        )?;
        add(
            "plate",
            Vehicle,
            r"(?i:\b(?:licen[cs]e\s+plate|plate|tag)\b\s*(?:number|no\.?|#)?\s*(?:is|:|#)?\s*)([A-Za-z0-9]{1,4}(?:[ -]|\xE2\x80\xA2|\xC2\xB7)?[A-Za-z0-9]{1,7})\b",
            1,
            0.9,
            &[],
            // A frequent word and a count after an implant's plate are no plate ("plate and 6
            // screws").
            Some(|s| {
                let first = s.split([' ', '-']).next().unwrap_or_default();
                let word = first.bytes().all(|b| b.is_ascii_alphabetic())
                    && super::lexicon::flags(&first.to_ascii_lowercase()) & super::lexicon::COMMON
                        != 0;
                has_digit(s) && !word
            }),
        )?;
        add(
            "device_label",
            Device,
            r"(?i:\b(?:(?:device|pacemaker|implant|pump|monitor|defibrillator|icd|generator|lead|sensor)\s+(?:serial|id|identifier|s/n|sn|udi)|serial|s/n|udi|imei)(?:\s*(?:number|no\.?|num|#))?\s*(?:is|:|#|=)?\s*#?\s*)([A-Za-z0-9(][A-Za-z0-9()./-]{3,40}[A-Za-z0-9)])",
            1,
            0.85,
            &[],
            Some(has_digit),
        )?;
        add(
            "udi_gs1",
            Device,
            r"\(01\)\d{14}(?:\(\d{2}\)[A-Za-z0-9-]+)*",
            0,
            0.9,
            &[],
            None,
        )?;

        // Network identifiers.
        add(
            "ipv4",
            IpAddress,
            r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
            0,
            0.85,
            &["ip", "address", "host", "server"],
            Some(|s| s.parse::<Ipv4Addr>().is_ok()),
        )?;
        add(
            "ipv6",
            IpAddress,
            r"(?i)(?:\b[0-9a-f]{1,4}|::?)(?::{1,2}[0-9a-f]{1,4}){2,7}(?:::)?|\b[0-9a-f]{1,4}::",
            0,
            0.85,
            &["ip", "address", "host"],
            Some(|s| s.len() >= 6 && s.parse::<Ipv6Addr>().is_ok()),
        )?;

        // Dates (every element but the year) and ages over 89.
        add(
            "date_iso",
            Date,
            r"\b(?:18|19|20)\d{2}[-/](?:0?[1-9]|1[0-2])[-/](?:0?[1-9]|[12]\d|3[01])(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b",
            0,
            0.95,
            &[],
            None,
        )?;
        add(
            "date_numeric",
            Date,
            r"\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b",
            0,
            0.85,
            DATE_CONTEXT,
            Some(valid_numeric_date),
        )?;
        add(
            "date_month_year_numeric",
            Date,
            r"\b(?:0?[1-9]|1[0-2])[/-](?:19|20)\d{2}\b",
            0,
            0.7,
            DATE_CONTEXT,
            None,
        )?;
        add(
            "date_month_day_after_preposition",
            Date,
            r"(?i:\b(?:on|since|from|until|till|by|before|after|post|around|dated?|due|admitted|discharged|dob|born|seen|visit|surgery|last\s+[a-z]+|(?:week|weekend|am|pm|morning|afternoon|evening|eve|night|noc|day|as|(?:electrocardiogram|ekg|ecg|echo(?:cardiogram)?|cxr|film|study|scan|ct|mri|ultrasound|labs?|cultures?|biopsy|note|exam|examination|admission|visit)s?)\s+of|(?:scheduled|rescheduled|planned|booked|set|slated|moved)\s+(?:for|to))\s*:?\s+)((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))\b",
            1,
            0.75,
            &[],
            None,
        )?;
        // The same with a dash, only where a sentence goes on after it with no unit
        // ("returned to OR on 7-8 for coiling"; not "on 2-4 L NC" or "on 5-10 mcg").
        add(
            "date_month_day_dash_after_preposition",
            Date,
            r"(?i:\b(?:on|since|until|till|dated?|admitted|discharged|returned)\s*:?\s+)((?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01]))(?:[.,;)]|(?m:[ \t]*$)|\s+(?i:for|and|at|when|after|before|with|then|but)\b)",
            1,
            0.7,
            &[],
            None,
        )?;
        // A month/day heading a note, before its unit or shift ("4/5 CSRU 7P-7A SHIFT
        // SUMMARY", "3/12 MICU NPN"); "4/5 strength" stays.
        add(
            "date_note_heading",
            Date,
            r"(?im)^[ \t]*((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))[ \t]+(?:csru|micu|sicu|ccu|ticu|cvicu|icu|npn|nursing|nsg|shift|night|nights|days|7a|7p|11p|3p|note|progress|update|addendum|events)\b",
            1,
            0.75,
            &[],
            None,
        )?;
        // A culture named by the day it was drawn ("BC FROM 3-5 GREW STAPH", "cx of
        // 9/2 neg").
        add(
            "date_of_culture",
            Date,
            r"(?i:\b(?:bc|bcs|bcx|cx|cxs|cultures?|specimens?)\s+(?:from|of|on|dated)\s+)((?:0?[1-9]|1[0-2])[-/](?:0?[1-9]|[12]\d|3[01]))\b",
            1,
            0.75,
            &[],
            None,
        )?;
        add(
            "date_month_name",
            Date,
            &format!(
                r"\b(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\s+)?{MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b{YEAR_AFTER_DAY}"
            ),
            0,
            0.85,
            DATE_CONTEXT,
            None,
        )?;
        add(
            "date_day_month",
            Date,
            &format!(r"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH}\b\.?{YEAR_AFTER_DAY}"),
            0,
            0.85,
            DATE_CONTEXT,
            Some(first_number_is_a_day),
        )?;
        add(
            "date_month_year",
            Date,
            &format!(r"\b{MONTH}\.?,?\s+(?:of\s+)?(?:18|19|20)\d{{2}}\b"),
            0,
            0.8,
            DATE_CONTEXT,
            None,
        )?;
        add(
            "age_years",
            Age,
            r"(?i)\b(\d{2,3})(?:\s|-)?(?:years?|yrs?|y)(?:\s|-)?(?:old|of\s+age)\b",
            1,
            0.9,
            &[],
            Some(over_89),
        )?;
        add(
            "age_yo",
            Age,
            r"(?i)\b(\d{2,3})\s?(?:yo|y/o|y\.o\.?)(?:\W|$)",
            1,
            0.9,
            &[],
            Some(over_89),
        )?;
        add(
            "age_label",
            Age,
            r"(?i)\b(?:age|aged)\s*:?\s*(\d{2,3})\b",
            1,
            0.9,
            &[],
            Some(over_89),
        )?;
        add(
            "age_decade",
            Age,
            r"(?i)\bin\s+(?:his|her|their|the)\s+((?:9\d|1[01]\d)s)\b",
            1,
            0.8,
            &[],
            None,
        )?;

        // Geography: street addresses, PO boxes, cities in an address, ZIP codes.
        add(
            "street_address",
            Address,
            &format!(
                r"\b\d{{1,6}}[A-Za-z]?\s+(?:(?:[NSEW]|N[EW]|S[EW]|North|South|East|West)\.?\s+)?(?:(?:(?:\x22|\xE2\x80\x9C)?[A-Z][A-Za-z'-]*(?:\x22|\xE2\x80\x9D)?|\d+(?:st|nd|rd|th))\.?\s+){{1,3}}(?:{STREET_SUFFIX})\b\.?(?:\s+(?:[NSEW]|N[EW]|S[EW])\b\.?)?(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Bldg|Building|Fl|Floor|Rm|Room|Lot|#)\.?\s*#?\s*[A-Za-z0-9-]+\b)?"
            ),
            0,
            0.75,
            &["address", "lives", "resides", "home", "street"],
            // A sentence that ends right before the suffix is no street ("1 U FFP. Pt
            // noted", "24-32 BPM. Pt was alert": "Pt" is the patient, not a point), and
            // an address does not run across a blank line ("Note 7p - 7a \n \nCV Pt
            // afebrile").
            Some(|s| {
                let blank_line = s
                    .split('\n')
                    .skip(1)
                    .collect::<Vec<_>>()
                    .split_last()
                    .is_some_and(|(_, middle)| middle.iter().any(|l| l.trim().is_empty()));
                let words: Vec<&str> = s.split_whitespace().collect();
                !blank_line
                    && !words.windows(2).skip(1).any(|w| {
                        let (Some(a), Some(b)) = (w.first(), w.get(1)) else {
                            return false;
                        };
                        let stem = a.trim_end_matches('.');
                        a.ends_with('.')
                            && stem.chars().count() >= 2
                            && stem.chars().all(|c| c.is_ascii_uppercase())
                            && matches!(b.trim_end_matches('.'), "Pt" | "PT" | "Dr" | "DR")
                    })
            }),
        )?;
        add(
            "po_box",
            Address,
            r"(?i)\b(?:P\.?\s?O\.?\s*Box|Post\s+Office\s+Box)\s+\d{1,6}\b",
            0,
            0.85,
            &[],
            None,
        )?;
        add(
            "military_address",
            Address,
            r"\b(?:(?:USNS|USNV|USS|USCGC)\s+[A-Z][a-z]+|PSC\s+\d{4},\s+Box\s+\d{4}|Unit\s+\d{4}\s+Box\s+\d{4})\b",
            0,
            0.85,
            &[],
            None,
        )?;
        add(
            "city_state_zip",
            Address,
            &format!(r"{CITY},\s*(?:{STATE_ABBR}|{STATE_NAME})\b\.?,?\s+\d{{5}}(?:-\d{{4}})?\b"),
            1,
            0.85,
            CITY_CONTEXT,
            Some(|s| !matches!(s, "APO" | "FPO" | "DPO")),
        )?;
        add(
            "city_state",
            Address,
            &format!(r"{CITY},[ \t]*(?:{STATE_ABBR_NOT_CREDENTIAL}|{STATE_NAME})\b\.?"),
            1,
            0.6,
            CITY_CONTEXT,
            // An abdominal exam ("Soft, ND, NT": non-distended) is no city and state.
            Some(|s| {
                !matches!(s, "APO" | "FPO" | "DPO")
                    && !EXAM_WORDS.contains(&s.to_ascii_lowercase().as_str())
            }),
        )?;
        add(
            "zip_after_state",
            Zip,
            &format!(r"\b(?:{STATE_ABBR}|{STATE_NAME})\.?,?\s+(\d{{5}}(?:-\d{{4}})?)\b"),
            1,
            0.9,
            &[],
            None,
        )?;
        add(
            "zip",
            Zip,
            r"\b\d{5}(?:-\d{4})?\b",
            0,
            0.2,
            &["zip", "postal", "zipcode"],
            None,
        )?;

        if policy.profile == Profile::Strict {
            strict_patterns(&mut recs)?;
        }
        for rec in &mut recs {
            if rec.name == "ipv4" {
                rec.anti = VERSION_WORDS;
            }
        }

        // Caller-configured identifier patterns.
        for p in &policy.mrn_patterns {
            recs.push(custom("custom_mrn", Mrn, p)?);
        }
        for p in &policy.health_plan_patterns {
            recs.push(custom("custom_health_plan", HealthPlan, p)?);
        }
        for p in &policy.account_patterns {
            recs.push(custom("custom_account", Account, p)?);
        }
        // Code-shaped words are found by a scan that costs less than a gate would save
        // (nearly every note has one): no gate. The solo patterns have a gate each.
        let name_of = |i: &usize| recs.get(*i).map_or("", |r| r.name);
        let mut by_pattern: Vec<usize> = (0..recs.len())
            .filter(|i| name_of(i) != ID_SHAPE && !SOLO_GATES.contains(&name_of(i)))
            .collect();
        by_pattern.sort_by(|&a, &b| {
            let pattern = |i: usize| recs.get(i).map(|r| r.re.as_str());
            pattern(a).cmp(&pattern(b))
        });
        let solos: Vec<Vec<usize>> = (0..recs.len())
            .filter(|i| SOLO_GATES.contains(&name_of(i)))
            .map(|i| vec![i])
            .collect();
        let gates = by_pattern
            .chunks(GATE_CHUNK)
            .chain(solos.iter().map(Vec::as_slice))
            .map(|chunk| {
                let set = RegexSetBuilder::new(
                    chunk
                        .iter()
                        .filter_map(|&i| recs.get(i))
                        .map(|r| r.re.as_str()),
                )
                .unicode(false)
                .crlf(true)
                .size_limit(1 << 26)
                .dfa_size_limit(1 << 22)
                .build()
                .ok();
                (chunk.to_vec(), set)
            })
            .collect();
        Ok(Patterns { recs, gates })
    }

    /// Which recognizers match anywhere in `text`, by index: the gates' verdicts.
    fn live(&self, text: &str) -> Vec<bool> {
        let mut live = vec![true; self.recs.len()];
        for (members, gate) in &self.gates {
            let Some(set) = gate else { continue };
            let hits = set.matches(text.as_bytes());
            for (k, &i) in members.iter().enumerate() {
                if let Some(l) = live.get_mut(i) {
                    *l = hits.matched(k);
                }
            }
        }
        live
    }

    /// Every candidate with its context-adjusted confidence (no threshold applied).
    pub(super) fn find(&self, text: &str) -> Vec<Finding> {
        let live = self.live(text);
        self.find_in(text, |i| live.get(i).copied().unwrap_or(true))
    }

    /// [`Patterns::find`] over the recognizers for which `run` holds.
    fn find_in(&self, text: &str, run: impl Fn(usize) -> bool) -> Vec<Finding> {
        let mut out = Vec::new();
        let lower = text.to_lowercase();
        // Offsets into `lower` equal offsets into `text` only when lower-casing kept
        // every byte length; otherwise context is read from `text` case-insensitively.
        let same_len = lower.len() == text.len();
        // Each match as (start, end) of the identifier and the end of the whole match.
        let mut matches: Vec<(usize, usize, usize)> = Vec::new();
        for (i, rec) in self.recs.iter().enumerate() {
            if !run(i) {
                continue;
            }
            matches.clear();
            if rec.name == ID_SHAPE {
                // Every word of a note is a candidate: a scan of the bytes finds what the
                // pattern finds without the regex engine's cost per match.
                matches.extend(IdShapeScan::new(text.as_bytes()).map(|(s, e)| (s, e, e)));
            } else if rec.group == 0 {
                // The whole match is the identifier: no capture groups to resolve, which
                // costs a second pass over each match.
                matches.extend(
                    rec.re
                        .find_iter(text.as_bytes())
                        .map(|m| (m.start(), m.end(), m.end())),
                );
            } else {
                matches.extend(rec.re.captures_iter(text.as_bytes()).filter_map(|caps| {
                    let m = caps.get(rec.group)?;
                    let whole_end = caps.get(0).map_or(m.end(), |m0| m0.end());
                    Some((m.start(), m.end(), whole_end))
                }));
            }
            for &(m_start, m_end, whole_end) in &matches {
                // A byte pattern may start or end inside a multi-byte character (a URL
                // with non-ASCII text): widen the span to whole characters.
                let start = floor_boundary(text, m_start);
                let mut end = ceil_boundary(text, m_end);
                if rec.entity == Entity::Url {
                    while end > start
                        && matches!(
                            text.as_bytes().get(end.saturating_sub(1)),
                            Some(b'.' | b',' | b';' | b':' | b'!' | b'?')
                        )
                    {
                        end = end.saturating_sub(1);
                    }
                }
                let Some(value) = text.get(start..end) else {
                    continue;
                };
                if rec.validate.is_some_and(|v| !v(value)) {
                    continue;
                }
                // A state abbreviation that is also an English word, followed by another
                // word, after a word no town is called, is that word ("INS VERIFIED: PPO,
                // IN NETWORK"; not "moved from Salem, OR with her son").
                if rec.name == "city_state" {
                    let full_end = whole_end;
                    let state = text
                        .get(end..full_end)
                        .unwrap_or_default()
                        .trim_start_matches([',', ' ', '\t'])
                        .trim_end_matches('.');
                    let next_word = text.get(full_end..).is_some_and(|r| {
                        r.strip_prefix(' ')
                            .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_alphabetic()))
                    });
                    let lower_city = value.to_lowercase();
                    let words: Vec<&str> = lower_city.split_whitespace().collect();
                    // Any word of the run may be the town ("LIVES IN SALEM").
                    let a_town = (0..words.len()).any(|k| {
                        let rest = words.get(k..).unwrap_or_default();
                        rest.first()
                            .is_some_and(|w| super::lexicon::flags(w) & super::lexicon::PLACE != 0)
                            || super::lexicon::place_name_len(rest).is_some()
                    });
                    // ... and only ordinary words ("PPO"), no name ("Port Sheilaland").
                    let ordinary = words.iter().all(|w| super::lexicon::word_only(w));
                    if next_word
                        && ordinary
                        && !a_town
                        && matches!(state, "IN" | "OR" | "ME" | "OK" | "HI" | "OH")
                    {
                        continue;
                    }
                    // In capitals "CT" after ordinary words is a chest tube or a scan
                    // ("ATIVAN AS PER ORDERS, CT DRAINAGE"), not Connecticut.
                    if state == "CT" && value == value.to_uppercase() && ordinary && !a_town {
                        continue;
                    }
                    // ... and so is "CT" before what a scan did or found ("LFTs WNL, CT
                    // showed peripancreatic fluid").
                    let scan_word = matches!(
                        word_after(text, full_end).as_str(),
                        "showed"
                            | "shows"
                            | "show"
                            | "scan"
                            | "revealed"
                            | "reveals"
                            | "done"
                            | "negative"
                            | "neg"
                            | "positive"
                            | "pending"
                            | "results"
                            | "read"
                            | "report"
                            | "findings"
                    );
                    if state == "CT" && scan_word && !a_town {
                        continue;
                    }
                    // "MI" after an abbreviation in a list of conditions is an infarction
                    // ("CABG 84, MVR,MI 81,HTN"), not Michigan.
                    if state == "MI"
                        && value.len() <= 4
                        && value.bytes().all(|b| b.is_ascii_uppercase())
                        && !a_town
                    {
                        continue;
                    }
                }
                // Numbers in a chain of slashes are readings, not a date ("AC/400/12/5/60%",
                // "CO/CI/SVR 5.3/2.77/1147"), as is one that goes on with decimals
                // ("co/ci/svr 5/2.7/784").
                let bytes = text.as_bytes();
                if rec.entity == Entity::Date
                    && (start
                        .checked_sub(1)
                        .and_then(|p| bytes.get(p))
                        .is_some_and(|&b| b == b'/')
                        || matches!(bytes.get(end), Some(b'/' | b'%'))
                        || (bytes.get(end) == Some(&b'.')
                            && bytes
                                .get(end.saturating_add(1))
                                .is_some_and(u8::is_ascii_digit)))
                {
                    continue;
                }
                let window = context_window(text, &lower, same_len, start, end);
                // A fraction of a dose, a length or a solution, whatever the words before
                // it ("take 1/2 tab", "3/4 inch", "conts on 1/4 NS at 320cc/hr").
                if rec.entity == Entity::Date
                    && FRACTION_UNITS.contains(&word_after(text, end).as_str())
                {
                    continue;
                }
                // A murmur's grade out of six (or four) before the murmur ("1/6 systolic
                // murmur", "2/6 SEM"), not a day.
                if rec.entity == Entity::Date
                    && matches!(fraction_parts(value), (n, d) if matches!(d, 4 | 6) && n <= d)
                    && matches!(
                        word_after(text, end).as_str(),
                        "systolic"
                            | "diastolic"
                            | "holosystolic"
                            | "murmur"
                            | "sem"
                            | "hsm"
                            | "blowing"
                            | "harsh"
                    )
                {
                    continue;
                }
                // A range of two numbers right after a vital's label is its readings,
                // however wide ("TV 250-1000", "SBP 85-170").
                if rec.name == "id_shape"
                    && value.split_once('-').is_some_and(|(a, b)| {
                        [a, b].iter().all(|n| {
                            (2..=4).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_digit())
                        })
                    })
                    && window_before(text, &lower, same_len, start, 8)
                        .split_whitespace()
                        .next_back()
                        .is_some_and(|w| VITAL_LABELS.contains(&w))
                {
                    continue;
                }
                // A postcode of another country's shape ends an address line after a place
                // written capitalized ("Wrocław,  53-608"), not after a word in lower case
                // ("aline prssures 93-149").
                if rec.name == "zip_line_end"
                    && value.len() != 5
                    && text
                        .get(..start)
                        .and_then(|b| b.split_whitespace().next_back())
                        .is_some_and(|w| w.starts_with(|c: char| c.is_lowercase()))
                {
                    continue;
                }
                if rec.entity == Entity::Zip || rec.name == "id_label" {
                    // A signed number is a balance or a change, no postcode or labelled
                    // identifier ("+13175 los", "pt -5600 since admission"); four digits
                    // after "at" or "@" are a time of day ("given at 1600").
                    let signed =
                        start
                            .checked_sub(1)
                            .and_then(|p| bytes.get(p))
                            .is_some_and(|&b| {
                                matches!(b, b'+' | b'-')
                                    && start.checked_sub(2).and_then(|q| bytes.get(q)).is_none_or(
                                        |c| {
                                            c.is_ascii_whitespace()
                                                || matches!(c, b'(' | b',' | b':')
                                        },
                                    )
                            });
                    let clock = value.len() == 4
                        && value
                            .parse::<u32>()
                            .is_ok_and(|n| n / 100 <= 23 && n % 100 <= 59);
                    let before = window_before(text, &lower, same_len, start, 8);
                    let at_time = clock
                        && (before.trim_end().ends_with('@')
                            || before.split_whitespace().next_back().is_some_and(|w| {
                                matches!(w, "at" | "by" | "until" | "till" | "since" | "around")
                            }));
                    if signed || at_time {
                        continue;
                    }
                }
                if !rec.anti.is_empty() {
                    let mut before = window_before(text, &lower, same_len, start, 20);
                    // For a date, a word that makes a fraction a score or a dose governs
                    // only the numbers right after it: a reading between them is what
                    // the word was about ("fever of 103 8/31", "cultured x 2 8/15": the
                    // fraction is a date), unless the number can be the whole part of a
                    // mixed number ("ratio 1 to 1/2", "take 2 1/2 tabs").
                    if rec.entity == Entity::Date {
                        let words: Vec<&str> = before.split_whitespace().collect();
                        if let Some(k) = words
                            .iter()
                            .rposition(|w| w.bytes().any(|b| b.is_ascii_digit()))
                        {
                            // "x 2 8/15": after a count, a fraction no recipe uses.
                            let odd_fraction = !RECIPE_DENOMINATORS
                                .contains(&value.rsplit('/').next().unwrap_or_default());
                            let reading = words.get(k).is_some_and(|w| {
                                let w = w.trim_matches(|c: char| !c.is_ascii_digit());
                                w.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                                    && (w.contains('.')
                                        || odd_fraction
                                        || w.parse::<u32>().is_ok_and(|n| n > 31))
                            });
                            if reading {
                                before = words
                                    .get(k.saturating_add(1)..)
                                    .unwrap_or_default()
                                    .join(" ");
                            }
                        }
                    }
                    // A ventilator word governs only the numbers right after it ("PS
                    // 10/5", "bipap at 10/5"), not a date a clause later ("wean from vent
                    // and extubate 3/11").
                    let in_last_two = |w: &str| {
                        before
                            .split(|c: char| !c.is_alphanumeric())
                            .filter(|x| !x.is_empty())
                            .rev()
                            .take(2)
                            .any(|x| x == w)
                    };
                    // "of" makes a fraction a share or a titre only right before it
                    // ("titer of 1/40"), not a clause earlier ("saw Dr Foust of gyn in
                    // 4/66").
                    let last_word = before
                        .split(|c: char| !c.is_alphanumeric())
                        .rfind(|x| !x.is_empty())
                        .unwrap_or_default();
                    if rec.anti.iter().any(|w| {
                        if rec.entity == Entity::Date && VENT_WORDS.contains(w) {
                            in_last_two(w)
                        } else if rec.entity == Entity::Date && *w == "of" {
                            last_word == "of"
                        } else {
                            has_word(&before, w)
                        }
                    }) {
                        continue;
                    }
                    if rec.entity == Entity::Date {
                        let next = word_after(text, end);
                        // A proper fraction a recipe uses, as the part of a mixed number
                        // ("Captopril 1 1/2 hrs later") or a share of something ("2/3 of
                        // the tablets").
                        let (num, den) = fraction_parts(value);
                        let den_text = value.split('/').nth(1).unwrap_or_default();
                        if RECIPE_DENOMINATORS.contains(&den_text.trim_start_matches('0'))
                            && num < den
                        {
                            let whole = window_before(text, &lower, same_len, start, 6)
                                .split_whitespace()
                                .next_back()
                                .is_some_and(|w| {
                                    w.len() <= 2 && w.bytes().all(|b| b.is_ascii_digit())
                                });
                            if whole || next == "of" {
                                continue;
                            }
                        }
                    }
                }
                let mut confidence = rec.score;
                if rec.context.iter().any(|w| window.contains(w)) {
                    confidence = (confidence + CONTEXT_BOOST).min(1.0);
                }
                let mut entity = rec.entity;
                if entity == Entity::Phone {
                    let before = window_before(text, &lower, same_len, start, 24);
                    if before.contains("fax") {
                        entity = Entity::Fax;
                    }
                }
                out.push(Finding {
                    entity,
                    start,
                    end,
                    confidence,
                    recognizer: rec.name,
                });
            }
        }
        out
    }
}

/// Findings of an examination that precede an abbreviation shaped like a state code
/// ("Soft, ND, NT", "Obese, NT").
const EXAM_WORDS: &[&str] = &[
    "soft",
    "firm",
    "flat",
    "obese",
    "round",
    "benign",
    "tender",
    "nontender",
    "non-tender",
    "distended",
    "nondistended",
    "supple",
    "clear",
    "normal",
    "warm",
    "dry",
    "intact",
    // Non-tender, non-distended ("ABD SOFT, NT,ND").
    "nt",
    "nd",
];

/// A city name of one to three capitalized words (capture group 1).
const CITY: &str = r"\b([A-Z][A-Za-z.'-]+(?:\s[A-Z][A-Za-z.'-]+){0,2})";
const CITY_CONTEXT: &[&str] = &[
    "lives",
    "resides",
    "from",
    "moved",
    "address",
    "located",
    "relocated",
];
const PHONE_CONTEXT: &[&str] = &[
    "phone",
    "tel",
    "call",
    "cell",
    "mobile",
    "fax",
    "contact",
    "reach",
    "pager",
    "number",
    "text",
    "dial",
    "registered",
    "answering",
    "message",
];
const SSN_CONTEXT: &[&str] = &["ssn", "social security", "ss#", "soc sec", "social"];
const DATE_CONTEXT: &[&str] = &[
    "date",
    "dob",
    "born",
    "birth",
    "admitted",
    "admission",
    "discharged",
    "discharge",
    "seen on",
    "visit",
    "surgery",
    "since",
    "dated",
    "until",
    "follow-up",
    "appointment",
];

/// Words before a dotted quad that make it a version, not an address.
const VERSION_WORDS: &[&str] = &[
    "version", "ver", "v", "build", "release", "firmware", "software", "app", "update",
];

/// Denominators of the fractions recipes and doses use: halves, thirds, quarters,
/// eighths, sixteenths ("1/2 tab", "3/4 inch").
const RECIPE_DENOMINATORS: [&str; 5] = ["2", "3", "4", "8", "16"];

/// Whether a month/day cannot be a score: a score's numerator never exceeds its
/// denominator, and scores are out of 4, 5 or 10 ("strength 4/5", "pain 6/10").
fn not_a_score(s: &str) -> bool {
    let (m, d) = fraction_parts(s);
    // A score is not written with a leading zero ("Starting Today ( 01/05 )").
    s.starts_with('0') || !(matches!(d, 4 | 5 | 10) && m <= d)
}

/// A month's name or short name in lower case ("june", "sept").
fn is_month_word(w: &str) -> bool {
    matches!(
        w,
        "january"
            | "jan"
            | "february"
            | "feb"
            | "march"
            | "mar"
            | "april"
            | "apr"
            | "may"
            | "june"
            | "jun"
            | "july"
            | "jul"
            | "august"
            | "aug"
            | "september"
            | "sept"
            | "sep"
            | "october"
            | "oct"
            | "november"
            | "nov"
            | "december"
            | "dec"
    )
}

/// The two numbers of a fraction or month/day ("3/4" → 3 and 4; 0 for a missing part).
fn fraction_parts(s: &str) -> (u32, u32) {
    let mut parts = s.split('/').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Ventilator modes and settings, which write pressures as fractions ("PS 10/5"), and
/// lung sounds heard some way up ("crackles up 1/2 from lung bases").
const VENT_WORDS: &[&str] = &[
    "ps", "psv", "peep", "cpap", "bipap", "ipap", "epap", "vent", "settings", "simv", "imv",
    "prvc", "ac", "crackles", "rales", "rhonchi",
];

/// Words after a fraction that make it an amount, not a date.
const FRACTION_UNITS: &[&str] = &[
    "tab",
    "tabs",
    "tablet",
    "tablets",
    "pill",
    "pills",
    "cap",
    "caps",
    "capsule",
    "capsules",
    "cup",
    "cups",
    "dose",
    "doses",
    "tsp",
    "tbsp",
    "teaspoon",
    "teaspoons",
    "tablespoon",
    "tablespoons",
    "inch",
    "inches",
    "mile",
    "miles",
    "strength",
    // How far up the lungs a sound is heard ("RALES 1/3 UP BILAT", "crackles 1/2 way
    // up").
    "up",
    "way",
    // How far up both lungs ("has crackles 1/2 bilat").
    "bilat",
    "bilaterally",
    // A share of an ampoule or a vial ("1/2 AMP EPI").
    "amp",
    "amps",
    "vial",
    "vials",
    // Saline of a fraction of normal strength ("1/2 NS", "1/4 ns").
    "ns",
    "nss",
    // What is drunk or smoked ("usual amt 1/2 gallon vodka/day", "1/2 ppd").
    "gallon",
    "gallons",
    "quart",
    "quarts",
    "pint",
    "pints",
    "liter",
    "liters",
    "litre",
    "litres",
    "bottle",
    "bottles",
    "glass",
    "glasses",
    "pack",
    "packs",
    "ppd",
];

/// The word after byte `end`, in lower case, without trailing punctuation.
fn word_after(text: &str, end: usize) -> String {
    text.get(end..)
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_end_matches(|c: char| !c.is_alphanumeric())
        .to_ascii_lowercase()
}

/// Whether `word` occurs in `haystack` as a whole word.
fn has_word(haystack: &str, word: &str) -> bool {
    haystack
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| w == word)
}

/// The strict profile's extra recognizers: identifiers known by their label or shape,
/// bare phone numbers and ZIP codes, compact and month-name dates, ages in words and
/// shorthand, rural routes and streets without a number.
/// Temperature words: "F" after a reading is Fahrenheit, not the sex ("T 98.6 F, 92").
const TEMPERATURE_WORDS: &[&str] = &[
    "temp",
    "temperature",
    "t",
    "fever",
    "febrile",
    "afebrile",
    "tmax",
];

/// Vital signs and readings: a number right after one of these is a reading, not an age
/// ("O2 sat at 94, he was placed on 2L").
pub(super) const VITAL_SIGN_WORDS: &[&str] = &[
    "sat",
    "sats",
    "spo2",
    "o2",
    "saturation",
    "hr",
    "pulse",
    "rate",
    "bp",
    "temp",
    "glucose",
    "bg",
    "fsbs",
    "sugar",
    "rr",
    "weight",
    "wt",
    "map",
    "sbp",
    "dbp",
];

fn strict_patterns(recs: &mut Vec<Rec>) -> Result<()> {
    use Entity::*;
    #[allow(clippy::too_many_arguments)]
    let mut add = |name: &'static str,
                   entity: Entity,
                   pattern: &str,
                   group: usize,
                   score: f32,
                   context: &'static [&'static str],
                   anti: &'static [&'static str],
                   validate: Option<Validator>|
     -> Result<()> {
        recs.push(rec(
            name, entity, pattern, group, score, context, anti, validate,
        )?);
        Ok(())
    };
    // Identifiers known by a label: "Hosp #: E2045503", "Unit No. B-60680",
    // "temporary ID 7D60-CW4-HM86", "driver's license 306 590 798", "State medical
    // license 35.322097", "Acct 4410-22", "workstation WS-ER-114", "ext 4417".
    add(
        "id_label",
        Id,
        r"(?i:\b(?:hosp(?:ital)?|unit|acct|account|case|encounter|enc|visit|fin|csn|accession|acc|specimen|order|claim|ref(?:erence)?|confirmation|conf|ticket|badge|employee|emp|temporary\s+id|temp\s+id|id|identifier|record|rec|file|serial|s/n|sn|lot|license|licence|lic|permit|certificate|cert|passport|dl|plate|tag|vin|member|policy|group|subscriber|medicaid|medicare|insurance|mrn|mr|chart|patient|pt|device|imei|udi|registration|reg|routing|card|ins|workstation|terminal|host|hostname|computer|station|ext|extension)\.?(?:\s+(?:number|numbers|no\.?|num|nos\.?|#|id))?\s*(?:is|was|:|#|=|-)?\s*#?\s*:?\s*)([A-Za-z0-9](?:[A-Za-z0-9./-]| [0-9])*[A-Za-z0-9])",
        1,
        0.85,
        &[],
        &[],
        Some(|s| {
            // The value starts with a code ("E2045503", "306 590 798"), not a word
            // ("Temperature 38.2" after "Patient").
            // A lab value after a label that is also a test ("PT 12.2") is no identifier.
            let first = s.split_whitespace().next().unwrap_or_default();
            // A name-like code of three parts in one case needs only one digit
            // ("workstation ED-TRIAGE-03", "ed-triage-03"; not "ICD-10").
            let one_case = |case: fn(&u8) -> bool| {
                first
                    .bytes()
                    .all(|b| case(&b) || b.is_ascii_digit() || b == b'-')
                    && first.bytes().filter(case).count() >= 3
            };
            let hyphen_code = first.len() >= 6
                && first.matches('-').count() >= 2
                && (one_case(u8::is_ascii_uppercase) || one_case(u8::is_ascii_lowercase));
            (digits(s) >= 3 || hyphen_code) && has_digit(first) && !is_measure(s) && !lab_value(s)
        }),
    )?;
    // A dictation system's index number ("Index No. T0DUWD0PBV", "Index No. WZGE1
    // XNHQ"): a code in capitals with a digit, in one group or two.
    add(
        "index_number",
        Id,
        r"(?i:\bindex\s+(?:no\.?|number|#)\s*:?\s*)([A-Z0-9]{6,}|[A-Z0-9]{4,}[ \t][A-Z0-9]{2,6})\b",
        1,
        0.8,
        &[],
        &[],
        Some(|s| s.bytes().any(|b| b.is_ascii_digit())),
    )?;
    // Identifier-shaped tokens: letters and at least five digits, or seven digits and
    // more in groups ("SN3528128", "ZLE-137-3722-K", "7D60-CW4-HM86").
    add(
        ID_SHAPE,
        Id,
        ID_SHAPE_PATTERN,
        0,
        0.6,
        &[],
        &[
            "cpt", "hcpcs", "loinc", "icd", "ndc", "snomed", "rxnorm", "code", "codes",
        ],
        Some(id_shaped),
    )?;
    add(
        "phone_bare_strict",
        Phone,
        r"\b\d{10}\b",
        0,
        0.6,
        PHONE_CONTEXT,
        &["npi", "account", "acct", "mrn"],
        None,
    )?;
    add(
        "phone_local",
        Phone,
        r"\b\d{3}[-. ]\d{4}\b",
        0,
        0.45,
        PHONE_CONTEXT,
        &[],
        None,
    )?;
    add(
        "zip_bare_strict",
        Zip,
        r"\b\d{5}(?:-\d{4})?\b",
        0,
        0.55,
        &["zip", "postal"],
        &[
            "cpt", "hcpcs", "loinc", "icd", "ndc", "code", "codes", "lot", "units",
        ],
        Some(|s| !s.starts_with("000")),
    )?;
    add(
        "zip_after_state_lower",
        Zip,
        &format!(r"(?i:\b(?:{STATE_ABBR}|{STATE_NAME})\.?,?\s+)(\d{{5}}(?:-\d{{4}})?)\b"),
        1,
        0.85,
        &[],
        &[],
        None,
    )?;
    // Dates: "20240919", "30-MAY-1958", "2024.09.19", "sept 3rd" in lower case.
    add(
        "date_compact",
        Date,
        r"\b(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b",
        0,
        0.8,
        DATE_CONTEXT,
        &[],
        None,
    )?;
    add(
        "date_compact_us",
        Date,
        r"\b(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:19|20)\d{2}\b",
        0,
        0.6,
        DATE_CONTEXT,
        &[],
        None,
    )?;
    add(
        "date_day_mon_year",
        Date,
        &format!(r"(?i)\b\d{{1,2}}[-\s./]{MONTH}\.?[-\s./,]+(?:\d{{4}}|\d{{2}})\b"),
        0,
        0.9,
        &[],
        &[],
        None,
    )?;
    add(
        "date_dotted",
        Date,
        r"\b(?:18|19|20)\d{2}\.(?:0?[1-9]|1[0-2])\.(?:0?[1-9]|[12]\d|3[01])\b",
        0,
        0.9,
        &[],
        &[],
        None,
    )?;
    add(
        "date_month_name_lower",
        Date,
        &format!(r"(?i)\b{MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b{YEAR_AFTER_DAY}"),
        0,
        0.75,
        DATE_CONTEXT,
        &[],
        Some(first_number_is_a_day),
    )?;
    // A day and a month's short name joined by a hyphen or a slash, or a month and a
    // year, in any case ("rtc 14-Mar", "returned on 6/May", "last visit Mar-24",
    // "DEC-2023", "seen 9/jun").
    add(
        "date_day_month_hyphen",
        Date,
        &format!(
            r"\b(?:(?:[0-2]?\d|3[01])[-/](?i:{MONTH})|(?i:{MONTH})-(?:\d{{2}}|(?:19|20)\d{{2}}))\b"
        ),
        0,
        0.6,
        &[],
        &[],
        None,
    )?;
    // A day of the month alone, as an ordinal after a preposition ("discharged on the
    // 5th", "until the 21st.") or what the day is ("it's the 11th.", an orientation
    // answer), not the 5th toe, floor, percentile or dose.
    add(
        "date_day_alone",
        Date,
        r"(?i)\b(?:on|by|until|till|since|from|before|after|through|is|was|it'?s|(?:morning|afternoon|evening|night|weekend|course)\s+of|(?:mon|tues|wednes|thurs|fri|satur|sun)day\s*,?)\s+the\s+((?:[12]?\d|3[01])(?:st|nd|rd|th))\b(?:$|\s*[.,;:)]|\s+(?:at|and|or|to|on|by|after|before|until|but|because|following|due|when|while|where|which|with|without|for|she|he|they|we|i|pt|patient|per|as|in|morning|afternoon|evening|night|the|showed|revealed|demonstrated|underwent|had|was|were)\b)",
        1,
        0.6,
        &[],
        &[],
        None,
    )?;
    // A day with its ordinal before its month, in lower case ("seen 12th of nov"), or a
    // day and a month in lower case that is no other word ("next visit 3 feb", "seen 29
    // oct"; not "hr 80 dec", "the 5 of us may", nor the end of a range, "K 7.2-8 nov").
    add(
        "date_ordinal_month_lower",
        Date,
        &format!(
            r"(?i)(?:^|[^0-9a-z.\-/])(\d{{1,2}}(?:(?:st|nd|rd|th)\s+(?:of\s+)?{MONTH}\b|\s+{MONTH_LOWER}\b)\.?{YEAR_AFTER_DAY})"
        ),
        1,
        0.75,
        &[],
        &[],
        Some(first_number_is_a_day),
    )?;
    add(
        "date_month_year_lower",
        Date,
        &format!(r"(?i)\b{MONTH}\.?,?\s+(?:of\s+)?(?:18|19|20)\d{{2}}\b"),
        0,
        0.75,
        DATE_CONTEXT,
        &[],
        None,
    )?;
    // Ages over 89 in shorthand and in words: "(96M)", "96F", "96yoF", "95 years",
    // "ninety-five-year-old", "aged ninety two".
    add(
        "age_sex",
        Age,
        r"(?i)(?:\(|\b)(\d{2,3})\s?(?:[mf]|yo\s?[mf]|y/o\s?[mf]|y\s?[mf])(?:\)|\b)",
        1,
        0.8,
        &[],
        TEMPERATURE_WORDS,
        Some(over_89),
    )?;
    // An age opening a line's history before "s/p" or "h/o" ("98 s/p left hip fx comp
    // with CHF").
    add(
        "age_line_history",
        Age,
        r"(?im)^[ \t]*(\d{2,3})[ \t]+(?:s/p|h/o|w/|with\s+(?:a\s+)?(?:h/o|hx|history|pmh))",
        1,
        0.7,
        &[],
        &[],
        Some(over_89),
    )?;
    // A region named by a compass word and a coast or valley ("family arrived from the
    // Eastern Shore", "lives on the north shore"): a place smaller than a state, or one
    // that names where a person lives.
    add(
        "region_by_compass",
        Address,
        r"(?i)\bthe\s+((?:north|south|east|west)(?:ern)?\s+(?:shore|coast|peninsula|panhandle|valley|slope))\b",
        1,
        0.7,
        &[],
        &[],
        None,
    )?;
    // A university named by its state ("University of Maryland hospital", "UNIVERSITY
    // OF MD MEDICAL CENTER", "U OF MD MED CENTER"): a place like the hospital it runs.
    // A state's abbreviation counts only in capitals ("university of or" is no Oregon).
    add(
        "university_of_state",
        Address,
        r"(?i)\b(?:university|univ\.?|u\.?)\s+of\s+((?:new|north|south|west|rhode)\s+[a-z]+|[a-z]+)\b",
        0,
        0.7,
        &[],
        &[],
        Some(|s| {
            let lower = s.to_ascii_lowercase();
            let Some(at) = lower.find(" of ") else {
                return false;
            };
            let written = s.get(at.saturating_add(4)..).unwrap_or("").trim();
            let tail = written
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase();
            is_state_name(&tail)
                || (tail.len() == 2
                    && written.bytes().all(|b| b.is_ascii_uppercase())
                    && is_state_abbr(written))
        }),
    )?;
    // A university named by "U" and its state ("U Maryland scale", "per U. Maryland
    // md"), a place like the hospital it runs.
    add(
        "university_initial",
        Address,
        r"\bU\.?[ \t]+(?:of[ \t]+)?((?:New|North|South|West|Rhode)[ \t]+[A-Z][a-z]+|[A-Z][a-z]+)\b",
        0,
        0.7,
        &[],
        &[],
        Some(|s| {
            let tail = s
                .strip_prefix('U')
                .unwrap_or(s)
                .trim_start_matches(['.', ' ', '\t']);
            let tail = tail.strip_prefix("of").unwrap_or(tail).trim_start();
            is_state_name(&tail.split_whitespace().collect::<Vec<_>>().join(" "))
        }),
    )?;
    add(
        "age_yo_strict",
        Age,
        r"(?i)\b(\d{2,3})[\s-]?(?:yo|y/o|y\.o\.?|yr|yrs|y)\b",
        1,
        0.8,
        &[],
        &[],
        Some(over_89),
    )?;
    add(
        "age_years_strict",
        Age,
        r"(?i)\b(\d{2,3})[-\s]+(?:years?|yrs?)\b",
        1,
        0.6,
        &["age", "aged", "old", "is", "was", "turned", "turns"],
        &["for", "over", "past", "last", "since", "ago"],
        Some(over_89),
    )?;
    add(
        "age_words",
        Age,
        r"(?i)\b((?:ninety|one[-\s]hundred(?:[-\s]and)?|a[-\s]hundred(?:[-\s]and)?|hundred)(?:[-\s](?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty))?)(?:[-\s](?:years?|yrs?)(?:[-\s](?:old|of\s+age))?|[-\s]?(?:yo|y/o))",
        1,
        0.85,
        &[],
        &[],
        None,
    )?;
    add(
        "age_words_label",
        Age,
        r"(?i)\b(?:age|aged|turned|turns|turning|is|was|now)\s*:?\s+((?:ninety|one[-\s]hundred|a\s+hundred)(?:[-\s](?:one|two|three|four|five|six|seven|eight|nine))?)\b",
        1,
        0.85,
        &[],
        &[],
        None,
    )?;
    // A day written as an ordinal word, before or after its month ("the twelfth of
    // March", "March twenty-first", "the ninth of june", "july twenty-second"; not "we
    // may first try").
    add(
        "date_ordinal_words",
        Date,
        &format!(
            r"\b(?:(?i:the\s+)?{ORDINAL}\s+(?i:of\s+)?(?i:{MONTH})\b|(?:{MONTH}|(?i:{MONTH_LOWER}))\.?\s+(?i:the\s+)?{ORDINAL}\b){YEAR_AFTER_DAY}"
        ),
        0,
        0.8,
        &[],
        &[],
        None,
    )?;
    // A town before its state and ZIP with no comma, in any case ("staying in port
    // orchard wa 98366", "… indian school rd apt 14 phoenix az 85033", "RD APT 14
    // PHOENIX AZ 85033"): the words after a place preposition or the end of a street
    // address, however ordinary.
    add(
        "city_lower_before_state_zip",
        Address,
        &format!(
            r"(?i:\b(?:in|from|to|near|at|of)|\b(?:st|rd|ave|dr|ln|ct|blvd|way|pl|hwy|(?:apt|unit|ste|suite|#)\s*[0-9a-z]{{1,5}})\.?,?)\s+((?:[A-Za-z][A-Za-z'.-]*\s+){{0,2}}[A-Za-z][A-Za-z'.-]*),?\s+(?i:{STATE_ABBR})\.?,?\s+\d{{5}}(?:-\d{{4}})?\b"
        ),
        1,
        0.75,
        &[],
        &[],
        None,
    )?;
    // A pager number, however short ("Pager 4-7712", "pgr #31184").
    add(
        "pager",
        Phone,
        r"(?i)\b(?:pager|beeper|pgr|bpr)\.?\s*(?:#|no\.?|number)?\s*:?\s*#?\s*(\d[\d-]{2,12}\d)\b",
        1,
        0.8,
        &[],
        &[],
        None,
    )?;
    // A partly masked social security number still shows its last four digits
    // ("SSN XXX-XX-4412", "ss# ***-**-1187").
    add(
        "ssn_masked",
        Ssn,
        r"(?i)(?:^|[\s:#(])((?:x{3}|\*{3})[- ]?(?:x{2}|\*{2})[- ]?\d{4})\b",
        1,
        0.8,
        SSN_CONTEXT,
        &[],
        None,
    )?;
    // A street named in lower case in a message ("my pharmacy on birch st"): after "on",
    // "at" or "off", one or two words and a street word. Determiners and pronouns are no
    // street names ("on the way", "on my way"); "dr" is a doctor here.
    add(
        "street_named_lower",
        Address,
        r"\b(?:on|at|off)\s+((?:[a-z][a-z'-]+\s+){1,2}(?:st|street|ave|avenue|rd|road|ln|lane|blvd|boulevard|way|ct|court|pl|place|ter|terrace|pkwy|parkway|hwy|highway|pike|row|drive|circle|cir|trail|trl|loop|crescent)\b\.?)",
        1,
        0.6,
        &[],
        &[],
        Some(|s| {
            let first = s.split_whitespace().next().unwrap_or_default();
            !matches!(
                first,
                "the"
                    | "a"
                    | "an"
                    | "my"
                    | "your"
                    | "his"
                    | "her"
                    | "its"
                    | "our"
                    | "their"
                    | "this"
                    | "that"
                    | "one"
                    | "either"
                    | "any"
                    | "no"
                    | "each"
                    | "every"
                    | "same"
                    | "other"
                    | "which"
                    | "what"
                    | "some"
                    | "all"
            )
        }),
    )?;
    // A web address with a path under any top-level domain ("bit.ly/3xYzQ9",
    // "carepages.ly/maeve"): the path makes it an address, not an abbreviation.
    add(
        "url_any_domain_path",
        Url,
        r"(?i)\b[a-z0-9][a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,6}/[a-z0-9_~%+/?=&#.-]{2,}",
        0,
        0.7,
        &[],
        &[],
        None,
    )?;
    // A numbered street without a house number ("last seen on SE 82nd Ave", "W 34th
    // Street"). "Dr" is left out: after an ordinal it is as often a doctor.
    add(
        "street_numbered",
        Address,
        r"(?i)\b(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?\d{1,3}(?:st|nd|rd|th)\s+(?:St(?:reet)?|Ave(?:nue)?|Rd|Road|Blvd|Boulevard|Drive|Pl(?:ace)?|Ter(?:race)?|Way|Ln|Lane|Ct|Court|Pkwy|Parkway)\b\.?",
        0,
        0.7,
        &[],
        &[],
        None,
    )?;
    // A house number and the words after it, after a word that says it is where someone
    // lives ("lives at 87 Im Wingert", "his address: 47 C/ Eras", "resides at 40 Larkspur
    // Bend"), whatever the street's words: capitalized, or name particles.
    add(
        "address_after_cue",
        Address,
        r"(?i:\b(?:lives|living|resides|residing|located|address|addr|staying|mailing)\s*(?:is\s+)?(?:at|:)\s*)(\d{1,6}[A-Za-z]?,?[ \t]+(?:[A-Z][^\s,;:()]*|C/)(?:[ \t]+(?:[A-Z][^\s,;:()]*|de|la|del|du|van|von|der|di|da|le|des|am|im)){0,4})",
        1,
        0.75,
        &[],
        &[],
        None,
    )?;
    // The street line of an address written over lines: a house number and words on a
    // line of their own, with the apartment or suite on the next ("36 Rue Pain Leve\n
    // Apt. 558", "86 ul. Cicha\nApt. 722").
    add(
        "street_line_before_unit",
        Address,
        r"(?m)^[ \t>?*]*(\d{1,6}[A-Za-z]?[ \t]+[^\n]{2,40}?)[ \t]*\r?\n[ \t>?*]*(?:Apt|Apartment|Suite|Ste|Unit|Flat|Rm|Room)\b\.?[ \t]*#?[ \t]*[A-Za-z0-9]",
        1,
        0.75,
        &[],
        &[],
        None,
    )?;
    // A postal code after its label, in any country's shape ("ZIP: PH2 5HL").
    add(
        "postal_code_label",
        Zip,
        r"(?i:\b(?:zip(?:\s*code)?|postal\s*code|post\s*code|postcode)\s*[:#]?\s*)([A-Z0-9]{2,4}(?:[ -][A-Z0-9]{3,4})?)\b",
        1,
        0.8,
        &[],
        &[],
        Some(has_digit),
    )?;
    // An e-mail address written out to dodge scrapers ("maeve dot hollister at gmail dot
    // com", "j.doe [at] example [dot] org"): a top-level domain after "dot" or a period.
    add(
        "email_spelled_out",
        Email,
        r"(?i)\b[a-z0-9._%+-]+(?:\s+dot\s+[a-z0-9._%+-]+)*\s*(?:\[at\]|\(at\)|\{at\}|\s+at\s+)\s*[a-z0-9-]+(?:(?:\s*\[dot\]\s*|\s*\(dot\)\s*|\s+dot\s+|\.)[a-z0-9-]+)*(?:\s*\[dot\]\s*|\s*\(dot\)\s*|\s+dot\s+|\.)(?:com|org|net|edu|gov|us|io|info|biz|co|me)\b",
        0,
        0.8,
        &[],
        &[],
        None,
    )?;
    // A dictation or document number ("Job# 448120", "Dictation no. 55-1120").
    add(
        "dictation_number",
        Id,
        r"(?i)\b(?:job|dictation|transcription|document|doc)\s*(?:#|no\.?|number|id)\s*:?\s*#?\s*([A-Z0-9][A-Z0-9-]{2,})",
        1,
        0.8,
        &[],
        &[],
        Some(|s| digits(s) >= 3),
    )?;
    // A device's code after what it is ("transmitter 8JK4TQ", "sensor SN 0G4R1X",
    // "transmitter 8jk4tq"): letters and digits mixed, five or more.
    add(
        "device_part_code",
        Device,
        r"(?i:\b(?:transmitter|sensor|receiver|generator|ipg|implant|controller|monitor)\s*(?:serial|s/n|sn|id|#|no\.?)?\s*:?\s*)([A-Za-z0-9]{5,12})\b",
        1,
        0.75,
        &[],
        &[],
        Some(|s| {
            // In lower case, letters and digits that alternate three times and more
            // ("8jk4tq"; not a dose's "q4hrs" or "24hrs").
            let turns = s
                .as_bytes()
                .windows(2)
                .filter(|w| matches!(w, [a, b] if a.is_ascii_digit() != b.is_ascii_digit()))
                .count();
            let lower = s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            has_digit(s) && (s.bytes().any(|b| b.is_ascii_uppercase()) || (lower && turns >= 3))
        }),
    )?;
    // A number of five digits or more after a bare number sign (", # 719435."): a store
    // or a room is numbered in fewer digits, a record in more.
    add(
        "id_after_number_sign",
        Id,
        r"(?:^|[\s,;:(\[])#\s?([A-Za-z]{0,3}-?\d[\d-]{3,}\d)\b",
        1,
        0.6,
        &[],
        &[],
        Some(|s| digits(s) >= 5),
    )?;
    // A date or a number that a line break cut after a hyphen, as text copied out of a
    // PDF or an OCR pass leaves it ("DOB 1977-\n-12-31", "SSN: 849--\n72-2133"): read
    // without the break it is a date or a social security number.
    add(
        "date_across_line_break",
        Date,
        CUT_NUMBER,
        0,
        0.8,
        &[],
        &[],
        Some(|s| {
            matches!(
                cut_groups(s).as_slice(),
                [4, 1 | 2, 1 | 2] | [1 | 2, 1 | 2, 2 | 4]
            )
        }),
    )?;
    add(
        "number_across_line_break",
        Ssn,
        CUT_NUMBER,
        0,
        0.8,
        &[],
        &[],
        Some(|s| cut_groups(s).as_slice() == [3, 2, 4]),
    )?;
    // The file name of a photograph or scan ("face-greene-porch.jpg", "IMG_4471.HEIC"):
    // Safe Harbor removes full-face photographs and comparable images, and such names
    // often carry the patient's name or the day it was taken.
    add(
        "image_file_name",
        Id,
        r"(?i)\b[a-z0-9][a-z0-9_.-]*\.(?:jpe?g|png|heic|heif|gif|bmp|tiff?|webp|dcm)\b",
        0,
        0.7,
        &[],
        &[],
        None,
    )?;
    // A numeric date an OCR pass misread, letters standing for digits ("0l/0l/1980",
    // "O3/l5/1985"): three real digits at least, and read back it is a date.
    add(
        "date_ocr_letters",
        Date,
        r"\b[0-9lIOo]{1,2}/[0-9lIOo]{1,2}/[0-9lIOo]{2,4}\b",
        0,
        0.7,
        &[],
        &[],
        Some(|s| {
            let read: String = s
                .chars()
                .map(|c| match c {
                    'l' | 'I' => '1',
                    'O' | 'o' => '0',
                    c => c,
                })
                .collect();
            let mut parts = read.split('/').filter_map(|p| p.parse::<u32>().ok());
            let (Some(m), Some(d), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
                return false;
            };
            digits(s) >= 3
                && s.chars().any(char::is_alphabetic)
                && (1..=12).contains(&m)
                && (1..=31).contains(&d)
        }),
    )?;
    // A date written day, month and year without separators ("15Nov24", "03MAR2024",
    // "15nov24").
    add(
        "date_compact_month",
        Date,
        &format!(r"\b\d{{1,2}}(?i:{MONTH})\d{{2}}(?:\d{{2}})?\b"),
        0,
        0.8,
        &[],
        &[],
        None,
    )?;
    // Ages over 89 in what is said of them: "died at 97", "passed away at age 93", "his
    // 99th birthday", "she is ninety-two".
    add(
        "age_at_death",
        Age,
        r"(?i)\b(?:died|passed(?:\s+away)?|deceased|expired|death)\s+(?:at|aged?)\s+(?:the\s+)?(?:age\s+(?:of\s+)?)?(\d{2,3})\b",
        1,
        0.8,
        &[],
        &[],
        Some(over_89),
    )?;
    // Age and sex written with a slash ("Age/Sex: 95/F", "M/96").
    add(
        "age_slash_sex",
        Age,
        r"\b(?:(\d{2,3})\s?/\s?[MFmf]|[MFmf]\s?/\s?(\d{2,3}))\b",
        0,
        0.8,
        &[],
        &[],
        Some(|s| {
            let n: String = s.chars().filter(char::is_ascii_digit).collect();
            over_89(&n)
        }),
    )?;
    add(
        "age_birthday",
        Age,
        r"(?i)\b(\d{2,3})(?:st|nd|rd|th)\s+birthday\b",
        1,
        0.8,
        &[],
        &[],
        Some(over_89),
    )?;
    // Rural routes and highway-contract boxes: "RR 4 Box 12", "Rural Route 2".
    add(
        "rural_route",
        Address,
        r"(?i)\b(?:(?:R\.?R\.?|H\.?C\.?)\s*#?\s*\d{1,4},?\s*Box\s*#?\s*\d{1,6}|(?:Rural\s+Route|Highway\s+Contract|Star\s+Route)\s*#?\s*\d{1,4}(?:,?\s*Box\s*#?\s*\d{1,6})?)\b",
        0,
        0.8,
        &[],
        &[],
        None,
    )?;
    // A numbered road after where one lives or is found ("off Hwy 80", "along Route 9",
    // "on County Rd 14"). "Rt", "US", "SR" and "CR" are left out: in notes they are as
    // often "right", ultrasound and creatinine.
    add(
        "road_numbered",
        Address,
        r"(?i)\b(?:on|off|at|along|near|by)\s+(?:the\s+)?((?:hwy|highway|route|rte|interstate|county\s+(?:rd|road)|state\s+(?:route|road|hwy|highway))[-\s]?\d{1,4}[a-z]?)\b",
        1,
        0.6,
        &[],
        &[],
        None,
    )?;
    // A named street abbreviated "St" after "on", "at" or "off" ("on Clay St"): before
    // a name the same letters are "Saint".
    add(
        "street_named_st",
        Address,
        r"\b(?:on|at|off)\s+((?:[A-Z][a-z'-]+\s+){1,2}St)\b\.?",
        1,
        0.6,
        &[],
        &[],
        None,
    )?;
    // A street corner named by a numbered street and another ("the walgreens on 5th and
    // pine", "at Main & 3rd", "corner of 14th and Elm"): an ordinal on one side, a word on
    // the other; not a second dose or a day ("on 2nd and final dose", "on 5th and 6th").
    add(
        "street_corner",
        Address,
        r"(?i)\b(?:on|at|near|off|corner\s+of)\s+((?:\d{1,3}(?:st|nd|rd|th)\s+(?:and|&)\s+[a-z][a-z'-]{2,})|(?:[a-z][a-z'-]{2,}\s+(?:and|&)\s+\d{1,3}(?:st|nd|rd|th)))\b(?:\s+(?:st|street|ave|avenue)\b\.?)?",
        1,
        0.55,
        &[],
        &[],
        Some(|s| {
            let words: Vec<String> = s
                .split_whitespace()
                .map(|w| w.to_ascii_lowercase())
                .collect();
            let word = words
                .iter()
                .find(|w| !w.starts_with(|c: char| c.is_ascii_digit()) && *w != "and" && *w != "&");
            word.is_some_and(|w| {
                !matches!(
                    w.as_str(),
                    "final"
                        | "last"
                        | "then"
                        | "now"
                        | "again"
                        | "later"
                        | "subsequent"
                        | "next"
                        | "every"
                        | "each"
                        | "the"
                        | "his"
                        | "her"
                        | "their"
                        | "first"
                        | "second"
                        | "third"
                        | "fourth"
                        | "fifth"
                        | "sixth"
                ) && !is_month_word(w)
            })
        }),
    )?;
    // A named street without a house number: "the pharmacy on Alder Way".
    add(
        "street_named",
        Address,
        r"\b(?:[A-Z][a-z'-]+\s+){1,3}(?:Street|Avenue|Ave|Road|Rd|Lane|Ln|Way|Court|Boulevard|Blvd|Place|Terrace|Circle|Trail|Parkway|Pkwy|Pike|Alley|Crescent|Row|Drive|Highway|Hwy|Ct|Cir|Trl)\b\.?",
        0,
        0.6,
        &[],
        &[],
        Some(|s| {
            let first = s.split_whitespace().next().unwrap_or_default();
            !matches!(
                first,
                "The"
                    | "A"
                    | "An"
                    | "On"
                    | "At"
                    | "In"
                    | "To"
                    | "From"
                    | "Go"
                    | "Left"
                    | "Right"
                    | "Drive"
                    | "Way"
                    | "Place"
                    | "Any"
                    | "No"
                    | "One"
            )
        }),
    )?;
    // A bare month/day ("labs drawn 3/14", "echo 9/30- ef 20%", "3/16-> CABG"), not a
    // score or ratio ("strength 5/5", "pain 6/10", "pulses 2/4", "BP 132/84", "1/2 tab")
    // nor a ventilator setting ("PS 10/5") nor a pressure in a heart's chamber ("RA 9/4",
    // "PCW 12/9"). A score's numerator never exceeds its denominator, so "10/4" and
    // "12/10" are dates.
    add(
        "date_month_day",
        Date,
        r"(?:^|[\s(,;:])((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))(?:$|[\s).,;:]|-(?:\s|$)|->(?:[^0-9/]|$))",
        1,
        0.5,
        DATE_CONTEXT,
        &[
            "strength", "pain", "murmur", "pulse", "pulses", "grade", "score", "scale", "tab",
            "tabs", "tablet", "tablets", "ratio", "bp", "reflexes", "dtr", "dtrs", "motor",
            "power", "rated", "rates", "apgar", "gcs", "of", "out", "x", "times", "per", "dose",
            "doses", "cup", "cups", "mmse", "moca", "phq", "gad", "vision", "acuity", "ps", "psv",
            "peep", "cpap", "bipap", "ipap", "epap", "vent", "settings", "simv", "imv", "prvc",
            "ac", "ns", "d5", "d5w", "crackles", "rales", "rhonchi", "ra", "rv", "pcw", "pcwp",
            "wedge", "cvp",
        ],
        Some(not_a_score),
    )?;
    // A month/day right after an event or a study it dates ("She had G- BM 4/10", "echo
    // 4/5 showed", "Adenosine thal 1/4", a therapist's "PER R/E 7/23": re-evaluation),
    // where a bare fraction could be a score.
    add(
        "date_after_event",
        Date,
        r"(?i:\b(?:bm|stool|stools|echo|tte|tee|thal|mibi|cath|cxr|ct|cta|ekg|ecg|eeg|mri|egd|surgery|transfusion|dialysis|extubation|intubation|extubated|intubated|admission|admit|appt|appointment|visit|r/e|re-?eval|re-?evaluation|evaluation)\s+)((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))\b",
        1,
        0.7,
        &[],
        &[],
        None,
    )?;
    // A month/day after going to the operating room ("Pt going to the OR 6/10 for a
    // CABG"); "OR" in capitals only, so a score after "or" stays ("pain 5 or 6/10").
    add(
        "date_after_operating_room",
        Date,
        r"\b(?i:to|in|from|for)(?:\s+(?i:the))?\s+(?:OR|O\.R\.)\s*:?\s+((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))\b",
        1,
        0.7,
        &[],
        &[],
        None,
    )?;
    // A month/day before the time of day ("9/20 AM HAD 100% PNTX", "on 3/2 pm"), or
    // before a clock time on the 24-hour dial ("DOSE STARTED APPROX 10/16 0930").
    add(
        "date_before_time_of_day",
        Date,
        r"(?i)\b((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))\s+(?:am|pm|a\.m\.|p\.m\.|(?:[01]\d|2[0-3])[0-5]\d)(?:$|[\s.,;:)])",
        1,
        0.7,
        &[],
        &[],
        Some(not_a_score),
    )?;
    // A year of birth written alone ("DOB: 1931", "born in 1931", "YOB 1931"): a year
    // Safe Harbor keeps unless it tells an age over 89, which a de-identifier cannot
    // judge without the note's date, so strict takes every one.
    add(
        "date_birth_year",
        Date,
        r"(?i:\b(?:dob|d\.o\.b\.|date\s+of\s+birth|year\s+of\s+birth|birth\s*year|yob|born(?:\s+in)?)\s*[:#-]?\s*)((?:18|19|20)\d{2})\b",
        1,
        0.8,
        &[],
        &[],
        None,
    )?;
    // A month/day naming a day said in words ("stable as of today 4/16", "seen
    // yesterday 9/2"); a score after the word stays ("pain today 4/10").
    add(
        "date_after_day_word",
        Date,
        r"(?i:\b(?:today|tonight|yesterday|tomorrow)\s*,?\s+)((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))\b",
        1,
        0.7,
        &[],
        &[],
        Some(not_a_score),
    )?;
    add(
        "date_year_month",
        Date,
        r"\b(?:19|20)\d{2}-(?:0[1-9]|1[0-2])\b",
        0,
        0.55,
        DATE_CONTEXT,
        &[],
        None,
    )?;
    // A month with a two-digit year ("CABG in 3/80", "compared with 8/79"); a month and
    // day is `date_month_day`. Doses ("Norco 5/325") and titres are not dates; a pain
    // score is out of ten, so "knee pain in 09/89" is a date, and "of" alone is no
    // titre ("the latter part of 12/93").
    add(
        "date_month_short_year",
        Date,
        r"(?:^|[\s(,;])((?:0?[1-9]|1[0-2])/(?:3[2-9]|[4-9]\d))(?:$|[\s).,;:-])",
        1,
        0.5,
        DATE_CONTEXT,
        &[
            "strength", "grade", "score", "scale", "ratio", "bp", "titer", "titre", "titers",
            "ana", "dilution", "vision", "acuity", "gcs", "apgar", "motor", "power", "mmse",
            "moca", "out", "rated",
        ],
        None,
    )?;
    // A month and year written straight after an abbreviation ("s/p pelvic fx4/97",
    // "dx3/2005"): two letters or more, so spine levels ("L4/5", "C5/6") stay; a month
    // and day after a word and a period ("transferred to Quartermain.8/31"), but not
    // glued to letters, where it is a ventilator setting ("PS10/5").
    add(
        "date_glued_month_year",
        Date,
        r"[A-Za-z]{2}((?:0?[1-9]|1[0-2])/(?:\d{2}|(?:19|20)\d{2}))(?:$|[\s).,;:-])",
        1,
        0.5,
        DATE_CONTEXT,
        &[],
        None,
    )?;
    // A whole month/day/year glued to the word before it ("am labs on10/14/82> to
    // hct-30"): three numbers that make a date; not a ventilator's settings, which end
    // in a percentage ("cpap5/5/40%"), nor a longer chain ("PS10/5/40/8").
    add(
        "date_glued_full",
        Date,
        r"[A-Za-z]{2}((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/(?:(?:19|20)\d{2}|\d{2}))(?:$|[^0-9/%.]|\.(?:$|[^0-9]))",
        1,
        0.7,
        &[],
        &[],
        None,
    )?;
    add(
        "date_after_period",
        Date,
        r"[A-Za-z]{2}\.((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))(?:$|[\s).,;:-])",
        1,
        0.5,
        DATE_CONTEXT,
        &[],
        None,
    )?;
    // A month on its own is an element of a date ("not seen since November"); "March"
    // and "May" only capitalized, "May" only after a word that makes it a month.
    add(
        "date_month_alone",
        Date,
        r"(?i:\b(?:january|february|april|june|july|august|september|october|november|december)\b)|\b(?:March|MARCH)\b",
        0,
        0.55,
        &[],
        &[],
        None,
    )?;
    // A month's abbreviation after a word of time ("admitted to GH from home in sept.",
    // "not seen since Oct"); "dec" and "mar" are as often decrease and a marker.
    add(
        "date_month_abbreviation_alone",
        Date,
        r"(?i:\b(?:in|since|of|last|next|early|late|mid|until|till|during|through|before|after|from)\s+)((?i:jan|feb|apr|jun|jul|aug|sep|sept|oct|nov)\b\.?)",
        1,
        0.55,
        &[],
        &[],
        None,
    )?;
    add(
        "date_may_alone",
        Date,
        r"(?i:\b(?:in|since|of|last|next|early|late|mid|until|till|during|through|before|after|from)\s+)(May|MAY|may)\b",
        1,
        0.55,
        &[],
        &[],
        None,
    )?;
    // Holidays name a day of the year.
    add(
        "date_holiday",
        Date,
        r"(?i)\b(?:christmas(?:\s+(?:eve|day))?|thanksgiving(?:\s+day)?|easter(?:\s+sunday)?|new\s+year'?s(?:\s+(?:eve|day))?|halloween|hanukkah|chanukah|kwanzaa|memorial\s+day|labor\s+day|independence\s+day|fourth\s+of\s+july|valentine'?s\s+day|mother'?s\s+day|father'?s\s+day|veterans\s+day|passover|yom\s+kippur|rosh\s+hashanah)\b",
        0,
        0.6,
        &[],
        &[],
        None,
    )?;
    // A dictation trailer: the author's initials and the transcriptionist after them
    // ("XGT:holmes", "GPP/church/olinger") near a signature or dictation stamp, and a
    // user name after the author's degree ("FILBERT BRIGHT, M.D.    FB59").
    add(
        "dictation_typist",
        Person,
        r"(?m)^[ \t]*([A-Z]{2,4}[:/][a-z]{2,}(?:/[a-z]{2,})*)[ \t]*$",
        1,
        0.3,
        &[
            "m.d.",
            "dd:",
            "dt:",
            "dictated",
            "transcribed",
            "signed",
            "cc:",
            "d.o.",
        ],
        &[],
        None,
    )?;
    // Initials after a dictation or entry label ("Transcribed by: tdm", "typed by KLM",
    // "Patient Initials: J.S.").
    add(
        "initials_after_by",
        Person,
        r"(?i:\b(?:transcribed|typed|dictated|scribed|entered|keyed|initials)\s*(?:by)?\s*:\s*|\b(?:transcribed|typed|scribed|keyed)\s+by\s+)((?:[A-Za-z]\.){2,4}|[A-Za-z]{2,4}\b)",
        1,
        0.6,
        &[],
        &[],
        Some(|s| {
            !matches!(
                s.to_lowercase().as_str(),
                "dr" | "mr"
                    | "mrs"
                    | "ms"
                    | "the"
                    | "and"
                    | "rn"
                    | "md"
                    | "do"
                    | "np"
                    | "pa"
                    | "me"
                    | "staff"
                    | "self"
                    | "pt"
                    | "n/a"
                    | "na"
                    | "none"
                    | "unk"
            )
        }),
    )?;
    // A dictation job code: letters and digits, a slash, digits ("PL926/1533", spaced out
    // in some exports: "ZX 681 / 0201"); and the
    // editor's initials after an edit stamp at the line's end ("edited 1/10/94 py").
    add(
        "dictation_job_code",
        Id,
        r"\b([A-Z]{2,3}\d{2,4}/\d{3,5}|[A-Z]{2,3} \d{2,4} / \d{3,5})\b",
        1,
        0.6,
        &[],
        &[],
        None,
    )?;
    add(
        "editor_initials",
        Person,
        r"(?m)\bedited\s+\d{1,2}/\d{1,2}/\d{2,4}\s+([a-z]{2,4})[ \t]*$",
        1,
        0.5,
        &[],
        &[],
        None,
    )?;
    // A study protocol's number ("via protocol of 27-518", "Protocol #04-1187").
    add(
        "protocol_number",
        Id,
        r"(?i)\bprotocol\s+(?:#\s*|no\.?\s*|number\s+|of\s+)?(\d{2,}-\d{2,}[A-Z0-9-]*)\b",
        1,
        0.6,
        &[],
        &[],
        None,
    )?;
    // The patient of an emergency department's notice, surname first ("your patient ,
    // CARD , I arrived in the Emergency Department").
    add(
        "notice_patient",
        Person,
        r"(?i:your\s+patient\s*,\s*)([A-Z][A-Za-z'-]+\s*,\s*[A-Z][A-Za-z'.]*(?:\s+[A-Z][A-Za-z'.]*){0,2})\s+(?i:arrived|was|is|presented)\b",
        1,
        0.7,
        &[],
        &[],
        None,
    )?;
    // A dictation job number after its time stamp at the line's end ("DD : 04/03/2002
    // 4:22 P 067266").
    add(
        "dictation_job_number",
        Id,
        r"(?m)\b\d{1,2}:\d{2}(?::\d{2})?(?:[ \t]*[AaPp]\.?[Mm]?\.?)?[ \t]+(\d{5,})[ \t]*$",
        1,
        0.6,
        &[],
        &[],
        None,
    )?;
    add(
        "signature_user_name",
        Person,
        r"\b(?:(?:M\.D\.?|MD|D\.O\.|R\.N\.|RN|NP|PA-C|Ph\.D\.|PH\.D\.|PhD|M\.DIV\.?|MPH|M\.P\.H\.|MBA|MSN|DNP|PharmD|FACP|FACS)[ \t]*,?[ \t]*)+(?:\([ \t]*)?([A-Z]{1,4}\d{1,4})\b",
        1,
        0.7,
        &[],
        &[],
        None,
    )?;
    // A user's code in parentheses before the entry's date stamp ("ENTERED BY : DOE ,
    // ANA N. ( EF11 ) 01/06/04 04:11 PM").
    add(
        "entry_user_code",
        Id,
        r"\([ \t]*([A-Z]{1,4}\d{1,4})[ \t]*\)[ \t]+\d{1,2}/\d{1,2}/\d{2,4}\b",
        1,
        0.6,
        &[],
        &[],
        None,
    )?;
    // A dictation number after the last signer's degree at the line's end ("... / Ana
    // Ruiz , M.D. 7922").
    add(
        "signature_number",
        Id,
        r"(?m)\b(?:M\.D\.|MD|D\.O\.|R\.N\.|N\.P\.|Ph\.D\.|PH\.D\.)[ \t]+(\d{3,6})[ \t]*$",
        1,
        0.6,
        &[],
        &[],
        None,
    )?;
    // Device identifiers: a MAC address ("00:1A:2B:3C:4D:5E").
    add(
        "mac_address",
        Device,
        r"(?i)\b[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}\b",
        0,
        0.85,
        &[],
        &[],
        None,
    )?;
    // A social-media handle ("@jdoe42"), not an e-mail address.
    add(
        "handle",
        Id,
        r"(?:^|[\s(])(@[A-Za-z0-9_][A-Za-z0-9_.]{2,29})\b",
        1,
        0.6,
        &[],
        &[],
        // "@1mg/hr", "@50cc": a rate, not a handle; "@1800": a time; "@KVO", "@HS":
        // "at" before a known word or abbreviation in capitals.
        Some(|s| {
            let body = s.trim_start_matches('@');
            let time = body.bytes().all(|b| b.is_ascii_digit());
            let known_caps = body.bytes().all(|b| b.is_ascii_uppercase())
                && super::lexicon::word_only(&body.to_ascii_lowercase());
            // "tf @goal of 80cc/hr": "at" before a frequent word in lower case.
            let known_lower =
                body.bytes().all(|b| b.is_ascii_lowercase()) && super::lexicon::word_only(body);
            !(is_measure(body) || time || known_caps || known_lower)
        }),
    )?;
    // A unit inside an address: "Apt. 623", "Suite 4B", "Flat 2".
    add(
        "address_unit",
        Address,
        r"(?i)\b(?:apt|apartment|suite|ste|flat|bldg)\.?\s*#?\s*\d{1,5}[A-Za-z]?\b",
        0,
        0.7,
        &[],
        &[],
        None,
    )?;
    // A postcode by its label: "zip code is 8650", "Postal code: 741 92".
    add(
        "zip_label",
        Zip,
        r"(?i)\b(?:zip|zipcode|postal|postcode|post\s+code)\s*(?:code)?\s*(?:is|:|#)?\s*([0-9]{3,5}(?:[ -][0-9]{2,4})?)\b",
        1,
        0.9,
        &[],
        &[],
        None,
    )?;
    // A postcode that ends an address line after a place or country name ("Sweden 741
    // 92", "Wrocław,  53-608", "Cyprus 5284").
    add(
        "zip_line_end",
        Zip,
        r"(?m)(?:(?:[A-Za-z]|[\xC3-\xC9][\x80-\xBF]){2,}\.?,?[ \t]+)([0-9]{4,5}|[0-9]{3} [0-9]{2}|[0-9]{2}-[0-9]{3}|[0-9]{4}-[0-9]{3})[ \t]*$",
        1,
        0.55,
        &["zip", "postal", "address", "lives", "mail", "ship"],
        &[
            "cpt",
            "hcpcs",
            "code",
            "codes",
            "lot",
            "units",
            "count",
            "glucose",
            "wbc",
            "plt",
            "platelets",
            // Readings that run from one number to another ("aline pressures 93-149").
            "pressure",
            "pressures",
            "bp",
            "sbp",
            "map",
            "hr",
            "rr",
            "cvp",
            // Lab values and other readings that end a line ("CPK 3932", "SVR 1131").
            "cpk",
            "ck",
            "ldh",
            "bun",
            "ast",
            "alt",
            "bnp",
            "ptt",
            "inr",
            "fibrinogen",
            "lipase",
            "amylase",
            "troponin",
            "svr",
            "pvr",
            "uop",
            "output",
            "intake",
            "weight",
        ],
        None,
    )?;
    // A UK postcode in capitals ("METHLICK  AB41 9FU", "SW1A 1AA"): an outward code of
    // one or two letters, a digit and an optional letter or digit, then a digit and two
    // letters none of which the postcode alphabet leaves out of the inward code (C, I, K,
    // M, O, V), so a dose ("A1C 7MG") or a time ("7PM") is no postcode.
    add(
        "zip_uk",
        Zip,
        r"\b([A-Z]{1,2}[0-9][A-Z0-9]? [0-9][ABD-HJLNP-UW-Z]{2})\b",
        1,
        0.6,
        &[],
        &[],
        None,
    )?;
    // A postcode alone on the last line of an address block.
    add(
        "zip_own_line",
        Zip,
        r"(?m)^[ \t>]*([0-9]{4,5}|[0-9]{3} [0-9]{2})[ \t]*$",
        1,
        0.5,
        &[],
        &[],
        None,
    )?;
    // Telephone numbers by their label, in any national format ("Mobile: 311 606 542",
    // "747 722 753-Office", "72 240 26 09 fax").
    add(
        "phone_label",
        Phone,
        r"(?i:\b(?:phone|ph|tel|telephone|mobile|mob|cell|desk|fax|office|home|work|contact|call|reach|text|whatsapp)\b\.?(?:\s+(?:me|us|him|her|them|back))?\s*(?:#|no\.?|number)?\s*(?:is|at|on|:|-)?\s*)(\+?\(?[0-9][0-9 ().-]{4,18}[0-9])",
        1,
        0.8,
        &[],
        &[],
        Some(|s| (6..=15).contains(&digits(s)) && !s.contains("..")),
    )?;
    add(
        "phone_label_after",
        Phone,
        r"(\+?\(?[0-9][0-9 ().-]{4,18}[0-9])(?i:\s*-?\s*(?:office|fax|mobile|cell|home|work|landline)\b)",
        1,
        0.8,
        &[],
        &[],
        Some(|s| (6..=15).contains(&digits(s))),
    )?;
    // Digits in three or more groups of two to four, nine to fifteen in all: the shape
    // of a national or international telephone number ("21 259 903 5696").
    add(
        "phone_grouped",
        Phone,
        r"(?:\+[0-9]{1,3}[ -])?\b[0-9]{2,4}(?:[ -][0-9]{2,4}){2,4}\b",
        0,
        0.5,
        PHONE_CONTEXT,
        &[
            "cpt", "icd", "code", "codes", "score", "scores", "bp", "vitals", "labs", "ndc",
            "loinc",
        ],
        Some(|s| (9..=15).contains(&digits(s)) && !ssn_shaped(s)),
    )?;
    // A telephone number alone in parentheses, even mistyped ("(301 273 45166)",
    // "(240444-1243)", "(201/324/1423)"): an area code and ten or eleven digits in all.
    add(
        "phone_in_parens",
        Phone,
        r"\(\s*([2-9][0-9]{2}[ ./-]?[0-9]{3}[ ./-]?[0-9]{4,5})\s*\)",
        1,
        0.8,
        &[],
        &[],
        Some(|s| (10..=11).contains(&digits(s))),
    )?;
    // Telephone numbers by a cue that is not a label ("my registered 795 2525",
    // "messages to 25 536708", "not answering at 98 91 97").
    add(
        "phone_cue",
        Phone,
        r"(?i:\b(?:registered|(?:messages?|texts?|sms)\s+to|answering\s+at|reached\s+(?:at|on)|reach\s+(?:me|us|him|her|them)\s+on|number\s+is)\s*)(\+?\(?[0-9][0-9 ().-]{4,18}[0-9])",
        1,
        0.75,
        &[],
        &[],
        Some(|s| (6..=15).contains(&digits(s)) && !s.contains("..")),
    )?;
    // A name given by how someone is called ("her friends call her Lea", "goes by
    // Tuva", "known as Sari").
    add(
        "name_called",
        Person,
        r"\b(?i:call(?:s|ed)?\s+(?:me|her|him|them)|goes\s+by|went\s+by|known\s+as|nicknamed?|named)\s+([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)",
        1,
        0.75,
        &[],
        &[],
        None,
    )?;
    add(
        "age_pronoun",
        Age,
        // "i" only with "am" ("moment is 97%" is no "i's 97"); a kin word may have the
        // name after it ("my mom rosa is 93 now").
        r"(?i)\b(?:(?:she|he|they|patient|pt|mom|dad|mother|father|grandma|grandpa|grandmother|grandfather)(?:'s|s|\s+is|\s+was|\s+are|\s+will\s+be)|(?:mom|dad|mother|father|grandma|grandpa|grandmother|grandfather|husband|wife|aunt|uncle)\s+[a-z][a-z'-]+\s+(?:is|was)|i(?:\s+am|'m|m))\s+(\d{2,3})(?:[^%\d.]|\.(?:\D|$)|$)",
        1,
        0.75,
        &[],
        &[],
        Some(over_89),
    )?;
    // A user name by its label ("User jkowalczyk", "login: mtan2").
    add(
        "username_label",
        Id,
        r"(?i:\b(?:user(?:[\s_-]*name)?|login|user\s*id|uid|logon|screen\s*name|handle)\s*(?:is|:|=)?\s*)([a-z][a-z0-9._-]{2,30}|[A-Z][A-Z0-9._-]{2,30})\b",
        1,
        0.8,
        &[],
        &[],
        Some(|s| super::lexicon::flags(&s.to_lowercase()) & super::lexicon::SAFE == 0),
    )?;
    // An age after the sex with a comma ("F, 92", "male, 94"). A temperature in
    // Fahrenheit before it ("98.6 F, 92") or a unit after it is a reading.
    add(
        "age_after_sex",
        Age,
        r"(?i:(?:^|[^\d\s]\s*|\n)\b(?:m|f|male|female|man|woman)\s*,\s*)(\d{2,3})(?:[^\d%/.]|\.(?:\D|$)|$)",
        1,
        0.7,
        &[],
        TEMPERATURE_WORDS,
        Some(over_89),
    )?;
    // An age said in passing before the person it is about ("at 96, she still drives")
    // or in parentheses after the patient ("Pt (97) lives alone").
    add(
        "age_in_passing",
        Age,
        r"(?i)\bat\s+(\d{2,3})\s*,\s*(?:she|he|they|mom|dad|my\s+(?:mother|father|mom|dad|husband|wife|aunt|uncle|grandmother|grandfather))\b",
        1,
        0.7,
        &[],
        VITAL_SIGN_WORDS,
        Some(over_89),
    )?;
    // An age set off by commas before what the person does or is ("Mary Roe, 95, was
    // admitted", "father alive, 94, lives in town").
    add(
        "age_between_commas",
        Age,
        r"(?:\b[A-Za-z][a-z'-]+|\b[A-Z][A-Z'-]+|\))\s*,\s*(\d{2,3})\s*,\s*(?:and\s+)?(?i:was|is|presents|presented|who|lives|lived|living|has|had|with|a|an|the|female|male|woman|man|widow|widowed|widower|retired|still|died|passed|f|m)\b",
        1,
        0.7,
        &[],
        VITAL_SIGN_WORDS,
        Some(over_89),
    )?;
    add(
        "age_in_parentheses",
        Age,
        r"(?i)\b(?:pt|patient|mom|dad|mother|father|grandmother|grandfather|grandma|grandpa|husband|wife|spouse|partner|aunt|uncle|brother|sister|son|daughter|cousin|neighbou?r|friend|roommate)\.?\s*\((\d{2,3})\)",
        1,
        0.7,
        &[],
        &[],
        Some(over_89),
    )?;
    add(
        "age_turned",
        Age,
        r"(?i)\b(?:turned|turns|turning|turn|age\s+of|at\s+age|aged)\s+(\d{2,3})\b",
        1,
        0.85,
        &[],
        &[],
        Some(over_89),
    )?;
    // A house number and street in lower case after what says it is an address, with any
    // of the postal service's street suffixes ("lives at 6725 chapman garden", "mailing
    // address 4879 miller ferry"); without such a cue only the common suffixes count
    // (`street_lower`), since "2 l via", "3 walks" and "4 cm neck" are no streets.

    // A house number and street in lower case ("12 oak st", "4410 mill creek rd").
    add(
        "street_lower",
        Address,
        r"(?i)\b\d{1,6}\s+(?:[a-z][a-z'-]*\s+){1,3}(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|way|court|ct|boulevard|blvd|place|pl|terrace|ter|circle|cir|trail|trl|parkway|pkwy|highway|hwy)\b\.?",
        0,
        0.6,
        &[
            "address",
            "live",
            "lives",
            "living",
            "moved",
            "home",
            "house",
            "apartment",
        ],
        &[],
        Some(|s| {
            let words: Vec<String> = s.split_whitespace().map(str::to_lowercase).collect();
            let middle = words
                .get(1..words.len().saturating_sub(1))
                .unwrap_or_default();
            // "CT" after ordinary words is a chest tube or a scan ("X 1 FOR INCREASED CT",
            // "25 stable CT"), not a court, and so is "CT" in capitals after a word in lower
            // case ("Pt has 2 mediasteinal CT draining").
            let lower_middle = s
                .split_whitespace()
                .skip(1)
                .take(words.len().saturating_sub(2))
                .any(|w| w.chars().all(|c| !c.is_uppercase()));
            // "ST" in capitals after a word in lower case is the ECG's segment ("2-3 mm
            // ST elevations").
            let segment = s.trim_end_matches('.').ends_with("ST") && lower_middle;
            if segment {
                return false;
            }
            if s.trim_end_matches('.').ends_with("CT")
                && (lower_middle
                    || middle.iter().any(|w| {
                        (w.len() > 4 && w.ends_with("ed"))
                            || matches!(
                                w.as_str(),
                                "stable" | "for" | "head" | "chest" | "abd" | "repeat" | "bilat"
                            )
                    }))
            {
                return false;
            }
            !middle.iter().any(|w| {
                matches!(
                    w.as_str(),
                    "at" | "to"
                        | "the"
                        | "a"
                        | "an"
                        | "with"
                        | "my"
                        | "his"
                        | "her"
                        | "from"
                        | "in"
                        | "on"
                        | "by"
                        | "per"
                        | "of"
                        | "and"
                        | "or"
                        | "times"
                        | "days"
                        | "weeks"
                        | "hours"
                        | "mg"
                        | "ml"
                        | "tabs"
                        | "pills"
                        | "visits"
                        // Vital signs ("CI > 2 HR ST": sinus tachycardia).
                        | "hr"
                        | "hrs"
                        | "bp"
                        | "rr"
                        | "sr"
                )
            })
        }),
    )?;
    Ok(())
}

/// "123-45-6789": the shape of a social security number (valid or a test number), which
/// the SSN recognizer judges.
fn ssn_shaped(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    matches!(parts.as_slice(), [a, b, c] if a.len() == 3 && b.len() == 2 && c.len() == 4)
}

/// Units after a number that make it a measurement, not an identifier.
const UNITS: &[&str] = &[
    "mg", "mcg", "ug", "g", "kg", "ml", "l", "dl", "mmhg", "mmol", "meq", "iu", "u", "units",
    "hrs", "hr", "h", "min", "mins", "sec", "cm", "mm", "m", "km", "lb", "lbs", "oz", "ft", "in",
    "bpm", "kcal", "cal", "x", "k", "mb", "gb", "kb", "st", "nd", "rd", "th", "s", "am", "pm",
    "cc",
];

/// Whether `unit` is a unit of measure, in any case ("mg", "CC").
fn is_unit(unit: &str) -> bool {
    UNITS.contains(&unit.to_lowercase().as_str())
}

/// Splits "250mg" into the number and what follows it.
fn number_and_rest(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// A number with a unit ("250mg", "10.5mL").
fn is_measure(s: &str) -> bool {
    let (number, unit) = number_and_rest(s);
    !number.is_empty() && UNITS.contains(&unit.to_lowercase().as_str())
}

/// A short decimal the way lab values are written ("12.2", "4.15"): at most three
/// digits before the point and two after.
fn lab_value(s: &str) -> bool {
    s.split_once('.').is_some_and(|(a, b)| {
        (1..=3).contains(&a.len())
            && (1..=2).contains(&b.len())
            && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
    })
}

/// A decimal number or a number with a unit ("4.1", "250mg", "10.5mL").
fn is_decimal_measure(s: &str) -> bool {
    let (number, unit) = number_and_rest(s);
    let decimal = number.matches('.').count() == 1
        && !number.starts_with('.')
        && !number.ends_with('.')
        && number.split('.').next().is_some_and(|a| a.len() <= 3);
    (decimal && unit.is_empty()) || is_measure(s)
}

/// Numbers joined by an "x": a ventilator setting or a size ("500x12", "550x16x40",
/// "550x12x.6", "10X14").
fn dimensions(s: &str) -> bool {
    let parts: Vec<&str> = s.split(['x', 'X']).collect();
    let number = |p: &&str| {
        let (whole, fraction) = p.split_once('.').unwrap_or((p, ""));
        whole.len() <= 4
            && fraction.len() <= 2
            && !(whole.is_empty() && fraction.is_empty())
            && whole
                .bytes()
                .chain(fraction.bytes())
                .all(|c| c.is_ascii_digit())
    };
    parts.len() >= 2 && parts.iter().all(number)
}

/// A rising range of two short numbers, with a unit or none ("113-134", "12-120cc").
fn measured_range(s: &str) -> bool {
    let Some((a, b)) = s.split_once('-') else {
        return false;
    };
    let (hi, unit) = number_and_rest(b);
    let short = |n: &str| (1..=3).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_digit());
    short(a)
        && short(hi)
        && (unit.is_empty() || is_unit(unit) || unit.strip_suffix(['s', 'S']).is_some_and(is_unit))
        && a.parse::<u32>().ok() < hi.parse::<u32>().ok()
}

/// Readings joined by dashes, a range or a series of one measure ("C.I. 2.27-2.38", "HR
/// DOWN FROM 150-120'S", "glucose 150-140s", "Fentanyl 12.5mcg-25mcgs", "MVO2 55-45-51"):
/// two decimals or measures, or two or three whole numbers of two or three digits (two of
/// different widths up to four), none more than twice another (a series of three opening
/// above 31, which no date does).
fn readings(s: &str) -> bool {
    // A unit after the last number belongs to the whole range ("IS to 800-1000cc").
    let s = match number_and_rest(s.rsplit('-').next().unwrap_or_default()) {
        (n, unit)
            if !n.is_empty()
                && !unit.is_empty()
                && s.rsplit_once('-').is_some_and(|(head, _)| {
                    head.bytes().all(|b| b.is_ascii_digit() || b == b'-')
                }) =>
        {
            let plain = unit.strip_suffix(['s', 'S']).unwrap_or(unit);
            if is_unit(unit) || is_unit(plain) {
                s.get(..s.len().saturating_sub(unit.len())).unwrap_or(s)
            } else {
                s
            }
        }
        _ => s,
    };
    let parts: Vec<&str> = s.split('-').collect();
    if !(2..=3).contains(&parts.len()) {
        return false;
    }
    let measure =
        |p: &&str| lab_value(p) || is_measure(p) || is_measure(p.strip_suffix('s').unwrap_or(p));
    if parts.len() == 2 && parts.iter().all(measure) {
        return true;
    }
    let whole = |p: &&str| {
        let n = p.strip_suffix('s').unwrap_or(p);
        if (2..=3).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_digit()) {
            n.parse::<u32>().ok()
        } else {
            None
        }
    };
    // Two numbers of different widths, one of four digits ("voiding 575-1000", "SVR
    // 1131-734"): identifiers keep their groups' widths.
    let uneven = parts.len() == 2
        && parts
            .iter()
            .all(|p| (2..=4).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
        && parts.first().map(|p| p.len()) != parts.get(1).map(|p| p.len());
    let nums: Option<Vec<u32>> = if uneven {
        parts.iter().map(|p| p.parse::<u32>().ok()).collect()
    } else {
        parts.iter().map(whole).collect()
    };
    let Some(nums) = nums else {
        return false;
    };
    let lo = nums.iter().copied().min().unwrap_or(0);
    let hi = nums.iter().copied().max().unwrap_or(0);
    lo > 0
        && hi <= lo.saturating_mul(2)
        && (nums.len() == 2 || nums.first().is_some_and(|&n| n > 31))
}

/// Vital signs written before their readings.
const VITAL_LABELS: &[&str] = &[
    "bp", "sbp", "dbp", "map", "maps", "hr", "rr", "cvp", "sats", "sat", "pap", "pad", "uo", "uop",
    "tv", "fs", "bs",
];

/// The shape of an identifier: at least five digits with letters or separators, or
/// seven digits and more; not a measurement, an ICD-10 or LOINC code, a dotted quad, a
/// decimal, or a 13-19 digit run (those are card numbers, checked by Luhn).
fn id_shaped(s: &str) -> bool {
    let d = digits(s);
    // Most words have no digit at all: nothing below can make them a code.
    if d < 5 {
        return false;
    }
    let letters = s.bytes().filter(u8::is_ascii_alphabetic).count();
    let separators = s.bytes().filter(|b| matches!(b, b'-' | b'.')).count();
    // A range that ends a sentence runs into the next word ("rr 16-20.o2 sats").
    // ... or into the next dose ("dropped to 20-30.40mg lasix").
    let range_then_word = s.split_once('.').is_some_and(|(a, b)| {
        measured_range(a) && (b.starts_with(|c: char| c.is_ascii_alphabetic()) || is_measure(b))
    });
    // Blood-gas values strung together after the pH ("7.44-52-69-36").
    let blood_gas = s
        .split_once('-')
        .is_some_and(|(a, _)| lab_value(a) && a.starts_with('7'));
    // A shift written in 24-hour times ("MICU NPN 0700-1930").
    let clock = |t: &str| {
        t.len() == 4
            && t.parse::<u32>()
                .is_ok_and(|n| n / 100 <= 24 && n % 100 <= 59)
    };
    let shift = s.split_once('-').is_some_and(|(a, b)| clock(a) && clock(b));
    // Readings run into the next word by a dash ("GLUCOSE 153-106-TREATED PER SS",
    // "RATE 95-120-THOUGH", "BS 130-140-UP TO 160"): numbers then an English word are no
    // identifier.
    let readings_then_word = s.rsplit_once('-').is_some_and(|(head, last)| {
        (last.len() >= 3
            || matches!(
                last.to_ascii_lowercase().as_str(),
                "up" | "to" | "on" | "in" | "at" | "of" | "by"
            ))
            && last.bytes().all(|b| b.is_ascii_alphabetic())
            && !head.bytes().any(|b| b.is_ascii_alphabetic())
            && super::lexicon::word_only(&last.to_ascii_lowercase())
    });
    // Ventilator settings after the mode ("AC-20-50-400-5": rate, FiO2, volume, PEEP).
    let vent_settings = s.split_once('-').is_some_and(|(mode, rest)| {
        matches!(
            mode.to_ascii_lowercase().as_str(),
            "ac" | "simv" | "imv" | "ps" | "psv" | "cpap" | "bipap" | "prvc" | "pcv" | "vc" | "cmv"
        ) && rest
            .split('-')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
    });
    // A vital sign's label run into its readings by a dash ("bp-89-100/50", "hr-80-90"),
    // ... or glued to them ("bp101-113/47-65").
    let labelled = VITAL_LABELS.iter().any(|label| {
        s.get(..label.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(label))
            && s.get(label.len()..).is_some_and(|rest| {
                let rest = rest.strip_prefix('-').unwrap_or(rest);
                rest.starts_with(|c: char| c.is_ascii_digit())
                    && (measured_range(rest) || readings(rest))
            })
    });
    // A range of readings in decades ("BP 90s-100s", "HR 80s-100s").
    let decades = s.split('-').count() == 2
        && s.split('-').all(|p| {
            p.strip_suffix('s').is_some_and(|n| {
                (2..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
            })
        });
    if vent_settings
        || labelled
        || readings_then_word
        || decades
        || is_decimal_measure(s)
        || dimensions(s)
        || measured_range(s)
        || readings(s)
        || range_then_word
        || blood_gas
        || shift
    {
        return false;
    }
    if letters == 0 {
        // Lab values strung together, the last a decimal ("cks 2245-105-4.7": CK, MB,
        // index).
        let lab_triple = s.rsplit_once('-').is_some_and(|(head, last)| {
            !head.contains('.') && lab_value(last) && last.contains('.')
        });
        if lab_triple {
            return false;
        }
        let dotted_quad = s.split('.').count() == 4;
        let loinc = separators == 1
            && s.split_once('-')
                .is_some_and(|(a, b)| a.len() <= 5 && b.len() == 1);
        let card_like = (13..=19).contains(&d);
        if dotted_quad || loinc || card_like || s.contains('.') && separators == 1 {
            return false;
        }
        return d >= 7 || separators > 0 && d >= 6;
    }
    true
}

/// The recognizer of code-shaped words, whose matches [`IdShapeScan`] finds.
const ID_SHAPE: &str = "id_shape";

/// Runs of letters and digits joined by single hyphens or periods, as whole words.
const ID_SHAPE_PATTERN: &str = r"\b[A-Za-z0-9]+(?:[-.][A-Za-z0-9]+)*\b";

/// The matches of [`ID_SHAPE_PATTERN`] in `bytes`, leftmost first and without overlap, as
/// the regex crate finds them with ASCII word boundaries (a word character is a letter, a
/// digit or `_`). A match starts at a letter or digit after no word character and takes
/// runs of letters and digits joined by `-` or `.`; it ends after the last run unless a
/// `_` follows it, where it gives that run back (a lone run before `_` is no match). The
/// test `id_shape_scan_finds_what_the_pattern_finds` holds it to the regex.
struct IdShapeScan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> IdShapeScan<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        IdShapeScan { bytes, at: 0 }
    }

    fn alnum(&self, i: usize) -> bool {
        self.bytes.get(i).is_some_and(u8::is_ascii_alphanumeric)
    }

    fn word(&self, i: usize) -> bool {
        self.bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    }

    /// The end of the run of letters and digits that starts at `i`.
    fn run_end(&self, mut i: usize) -> usize {
        while self.alnum(i) {
            i = i.saturating_add(1);
        }
        i
    }
}

impl Iterator for IdShapeScan<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        while self.at < self.bytes.len() {
            let start = self.at;
            let after_word = start.checked_sub(1).is_some_and(|p| self.word(p));
            if !self.alnum(start) || after_word {
                self.at = start.saturating_add(1);
                continue;
            }
            let mut end = self.run_end(start);
            // The end of the last run that a word boundary follows.
            let mut matched = None;
            loop {
                let joined = self
                    .bytes
                    .get(end)
                    .is_some_and(|b| matches!(b, b'-' | b'.'))
                    && self.alnum(end.saturating_add(1));
                if joined {
                    matched = Some(end);
                    end = self.run_end(end.saturating_add(1));
                } else {
                    if !self.word(end) {
                        matched = Some(end);
                    }
                    break;
                }
            }
            match matched {
                Some(e) => {
                    self.at = e;
                    return Some((start, e));
                }
                None => self.at = start.saturating_add(1),
            }
        }
        None
    }
}

fn custom(name: &'static str, entity: Entity, pattern: &str) -> Result<Rec> {
    let mut r = rec(name, entity, pattern, 0, 0.9, &[], &[], None)?;
    r.group = usize::from(r.re.captures_len() > 1);
    Ok(r)
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i = i.saturating_add(1);
    }
    i.min(text.len())
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i = i.saturating_sub(1);
    }
    i
}

fn window_before(text: &str, lower: &str, same_len: bool, start: usize, span: usize) -> String {
    let mut lo = floor_boundary(text, start.saturating_sub(span));
    // A window that cuts a word in two keeps none of it: the tail of "ABX" is no "x".
    if lo > 0
        && text
            .get(..lo)
            .and_then(|b| b.chars().next_back())
            .is_some_and(char::is_alphanumeric)
    {
        let rest = text.get(lo..start).unwrap_or_default();
        lo = rest
            .find(|c: char| !c.is_alphanumeric())
            .map_or(start, |k| lo.saturating_add(k));
    }
    if same_len {
        lower.get(lo..start).unwrap_or_default().to_owned()
    } else {
        text.get(lo..start).unwrap_or_default().to_lowercase()
    }
}

fn context_window(text: &str, lower: &str, same_len: bool, start: usize, end: usize) -> String {
    let mut w = window_before(text, lower, same_len, start, CONTEXT_BEFORE);
    let hi = floor_boundary(text, end.saturating_add(CONTEXT_AFTER).min(text.len()));
    w.push(' ');
    w.push_str(&text.get(end..hi).unwrap_or_default().to_lowercase());
    w
}

fn digits(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

fn digit_values(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// SSA rules: area 001–899 except 666, group 01–99, serial 0001–9999; separators (if
/// any) consistent.
fn valid_ssn(s: &str) -> bool {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    let (Some(area), Some(group), Some(serial)) = (d.get(0..3), d.get(3..5), d.get(5..9)) else {
        return false;
    };
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    if seps.len() == 2 && seps.first() != seps.get(1) {
        return false;
    }
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

fn luhn(d: &[u32]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let v = if i % 2 == 1 {
            let y = x.saturating_mul(2);
            if y > 9 {
                y.saturating_sub(9)
            } else {
                y
            }
        } else {
            x
        };
        sum = sum.saturating_add(v);
    }
    sum % 10 == 0
}

fn valid_card(s: &str) -> bool {
    let d = digit_values(s);
    (13..=19).contains(&d.len())
        && luhn(&d)
        && matches!(d.first(), Some(2..=6))
        && !d.iter().all(|&x| Some(&x) == d.first())
}

fn valid_npi(s: &str) -> bool {
    let mut d = vec![8, 0, 8, 4, 0];
    d.extend(digit_values(s));
    d.len() == 15 && matches!(d.get(5), Some(1 | 2)) && luhn(&d)
}

fn valid_dea(s: &str) -> bool {
    let d = digit_values(s.get(2..).unwrap_or_default());
    if d.len() != 7 {
        return false;
    }
    let at = |i: usize| d.get(i).copied().unwrap_or(0);
    let odd = [0, 2, 4].iter().map(|&i| at(i)).sum::<u32>();
    let even = [1, 3, 5].iter().map(|&i| at(i)).sum::<u32>();
    odd.saturating_add(even.saturating_mul(2)) % 10 == at(6)
}

fn plausible_vin(s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let letters = s.len().saturating_sub(digits);
    digits >= 3 && letters >= 2
}

/// ISO 3779 / 49 CFR 565 check digit (position 9).
fn valid_vin(s: &str) -> bool {
    const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'0'..=b'9' => u32::from(c.saturating_sub(b'0')),
            b'A' | b'J' => 1,
            b'B' | b'K' | b'S' => 2,
            b'C' | b'L' | b'T' => 3,
            b'D' | b'M' | b'U' => 4,
            b'E' | b'N' | b'V' => 5,
            b'F' | b'W' => 6,
            b'G' | b'P' | b'X' => 7,
            b'H' | b'Y' => 8,
            b'R' | b'Z' => 9,
            _ => return None,
        })
    };
    if !plausible_vin(s) || s.len() != 17 {
        return false;
    }
    let mut sum = 0u32;
    for (c, w) in s.bytes().zip(WEIGHTS) {
        let Some(v) = value(c) else { return false };
        sum = sum.saturating_add(v.saturating_mul(w));
    }
    let check = match sum % 11 {
        10 => b'X',
        r => b'0'.saturating_add(u8::try_from(r).unwrap_or(0)),
    };
    s.as_bytes().get(8) == Some(&check)
}

/// ISO 13616 mod-97 check.
fn valid_iban(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem = 0u32;
    for &c in tail.iter().chain(head) {
        let v = match c {
            b'0'..=b'9' => u32::from(c.saturating_sub(b'0')),
            b'A'..=b'Z' => u32::from(c.saturating_sub(b'A')).saturating_add(10),
            _ => return false,
        };
        // rem < 97 and v < 36, so none of this can overflow.
        let scale = if v >= 10 { 100 } else { 10 };
        rem = rem.saturating_mul(scale).saturating_add(v) % 97;
    }
    rem == 1
}

fn valid_numeric_date(s: &str) -> bool {
    let parts: Vec<u32> = s
        .split(['/', '.', '-'])
        .filter_map(|p| p.parse().ok())
        .collect();
    let [a, b, _] = parts.as_slice() else {
        return false;
    };
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    if seps.first() != seps.get(1) {
        return false;
    }
    let md = (1..=12).contains(a) && (1..=31).contains(b);
    let dm = (1..=31).contains(a) && (1..=12).contains(b);
    // A four-digit year nobody alive or recorded was born in is a reading
    // ("CO/CI/SVR 3/2/1500").
    let year = s
        .rsplit(['/', '.', '-'])
        .next()
        .filter(|y| y.len() == 4)
        .and_then(|y| y.parse::<u32>().ok())
        .is_none_or(|y| (1850..=2150).contains(&y));
    (md || dm) && year
}

/// Digits and hyphens cut by a line break right after a hyphen ("1977-\n-12-31").
const CUT_NUMBER: &str = r"\b\d[\d-]*-[ \t]*\r?\n[ \t]*-?[\d-]*\d\b";

/// The lengths of the hyphen-separated groups of a number cut by a line break, read
/// whole: the hyphen the cut added and the break go ("849--\n72-2133" → 3, 2, 4;
/// "1961-0-\n8-10" → 4, 2, 2).
fn cut_groups(s: &str) -> Vec<usize> {
    let (before, after) = s.split_once('\n').unwrap_or((s, ""));
    let before = before.trim_end();
    let before = before.strip_suffix('-').unwrap_or(before);
    format!("{before}{}", after.trim_start())
        .split('-')
        .map(str::len)
        .collect()
}

/// The first number in a date with a month name is a day of the month ("5 Jan", "Jan 5").
fn first_number_is_a_day(s: &str) -> bool {
    s.split(|c: char| !c.is_ascii_digit())
        .find(|d| !d.is_empty())
        .and_then(|d| d.parse::<u32>().ok())
        .is_some_and(|d| (1..=31).contains(&d))
}

fn over_89(s: &str) -> bool {
    s.parse::<u32>().is_ok_and(|age| (90..=125).contains(&age))
}

/// The four-digit year inside a date, if it has one (what generalization keeps).
pub(super) fn year_of(value: &str) -> Option<&str> {
    let bytes = value.as_bytes();
    let mut i = 0usize;
    while i < bytes.len() {
        let run = bytes
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if run == 4 {
            let year = value.get(i..i.saturating_add(4))?;
            if year.starts_with("18") || year.starts_with("19") || year.starts_with("20") {
                return Some(year);
            }
        }
        i = i.saturating_add(run.max(1));
    }
    None
}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::{RngCore, SeedableRng};

    use super::*;

    /// The scan that stands in for the code-shape pattern finds exactly its matches, on
    /// hand-picked edges (underscores, trailing separators, non-ASCII letters) and on
    /// random strings of the bytes that matter.
    #[test]
    fn id_shape_scan_finds_what_the_pattern_finds() {
        let re = build(ID_SHAPE_PATTERN).unwrap();
        let check = |text: &[u8]| {
            let want: Vec<(usize, usize)> =
                re.find_iter(text).map(|m| (m.start(), m.end())).collect();
            let got: Vec<(usize, usize)> = IdShapeScan::new(text).collect();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(text));
        };
        for text in [
            "",
            "a",
            "_",
            "abc_def",
            "12-34_x",
            "ab-cd-ef_g",
            "ab-cd-ef-_g",
            "_ab cd_ ef",
            "a.b.",
            "a..b",
            "a--b",
            "-a-",
            "caf\u{e9}1 x",
            "\u{e9}ab-\u{e9}",
            "MRN 00482913, SN3528128 and ZLE-137-3722-K.",
            "7D60-CW4-HM86_ 7D60-CW4-HM86 v1.2.3_4",
        ] {
            check(text.as_bytes());
        }
        let alphabet = b"aZ09_-. \n\xc3\xa9";
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20_000 {
            let len = rng.next_u32() % 24;
            let text: Vec<u8> = (0..len)
                .map(|_| alphabet[(rng.next_u32() as usize) % alphabet.len()])
                .collect();
            check(&text);
        }
    }

    /// The gates only skip recognizers that would find nothing: on text dense with
    /// identifiers and look-alikes, every profile (and caller patterns) finds exactly
    /// what running every recognizer finds.
    #[test]
    fn gates_skip_only_recognizers_that_find_nothing() {
        let pieces = [
            "Pt: Maria de la Cruz",
            "DOB 03/14/1952",
            "MRN: 00482913",
            "seen 3/3",
            "on 7-8 for coiling",
            "BP 128/82",
            "pain 6/10",
            "(217) 555-0143",
            "8175550120",
            "maria@example.org",
            "https://portal.example.com/p/1",
            "SSN 219-09-9999",
            "4821 Maple Grove Ave, Apt 3B",
            "Springfield, IL 62704",
            "RR 4 Box 12",
            "Hosp #: E2045503",
            "serial SN3528128",
            "192.168.10.254",
            "version 10.2.0.1",
            "4111 1111 1111 1111",
            "age 96",
            "(96M)",
            "ninety-five-year-old",
            "30-MAY-1958",
            "20240919",
            "UNIVERSITY OF MD",
            "tx to GH",
            "BM 4/10",
            "FROM 9/16 TO 9/20",
            "License 35.322097",
            "ICD-10 E11.9",
            "K 4.1",
            "\n",
            ".",
            ",",
            " ",
            "Dr.",
            "Okafor",
            "May",
            "12",
            "ZIP",
            "#",
            "-",
            "/",
        ];
        let mut custom = Policy::default();
        custom.mrn_patterns.push(r"\bZ\d{6}\b".into());
        custom.account_patterns.push(r"acct-(\d+)".into());
        let policies = [
            Policy::default(),
            Policy {
                profile: Profile::Balanced,
                ..Policy::default()
            },
            custom,
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(32);
        for policy in &policies {
            let p = Patterns::new(policy).unwrap();
            assert!(p.gates.iter().all(|(_, set)| set.is_some()));
            // Every recognizer is in one gate, but the code shape's scan, in none.
            let mut members: Vec<usize> = p.gates.iter().flat_map(|(m, _)| m.clone()).collect();
            members.sort_unstable();
            let gated: Vec<usize> = (0..p.recs.len())
                .filter(|&i| p.recs[i].name != ID_SHAPE)
                .collect();
            assert_eq!(members, gated);
            let mut skipped = 0usize;
            for _ in 0..200 {
                let len = rng.next_u32() % 40;
                let mut text: String = (0..len)
                    .map(|_| pieces[(rng.next_u32() as usize) % pieces.len()])
                    .collect::<Vec<_>>()
                    .join(" ");
                text.push_str(" Z123456 acct-99");
                skipped += p.live(&text).iter().filter(|l| !**l).count();
                assert_eq!(p.find(&text), p.find_in(&text, |_| true), "{text}");
            }
            // The gates did skip work: otherwise this test shows nothing.
            assert!(skipped > 0);
        }
    }
}
