//! Pattern recognizers: regular expressions, validators and context words.

use std::net::{Ipv4Addr, Ipv6Addr};

use regex_lite::{Regex, RegexBuilder};

use super::{Entity, Finding, Policy};
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
    validate: Option<Validator>,
}

/// The compiled pattern recognizers of one policy.
#[derive(Debug)]
pub(super) struct Patterns {
    recs: Vec<Rec>,
}

const MONTH: &str = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)";

const STATE_ABBR: &str = "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP|AA|AE|AP";

/// State abbreviations that are not also clinical credentials ("Lee, MD", "Kim, PA",
/// "Roy, MA"): a city without a ZIP is only recognized before these.
const STATE_ABBR_NOT_CREDENTIAL: &str = "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI";

const STATE_NAME: &str = "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|Puerto Rico";

/// USPS Publication 28 street suffixes (full names and standard abbreviations).
const STREET_SUFFIX: &str = "Alley|Aly|Annex|Anx|Arcade|Arc|Avenue|Ave|Av|Bayou|Byu|Beach|Bch|Bend|Bnd|Bluffs?|Blf|Bottom|Btm|Boulevard|Blvd|Branch|Br|Bridge|Brg|Brooks?|Brk|Burgs?|Bg|Bypass|Byp|Camp|Cp|Canyon|Cyn|Cape|Cpe|Causeway|Cswy|Centers?|Ctr|Circles?|Cir|Cliffs?|Clf|Club|Clb|Commons?|Cmn|Corners?|Cor|Course|Crse|Courts?|Ct|Coves?|Cv|Creek|Crk|Crescent|Cres|Crest|Crst|Crossing|Xing|Crossroads?|Xrd|Curve|Curv|Dale|Dl|Dam|Dm|Divide|Dv|Drives?|Dr|Estates?|Est|Expressway|Expy|Extensions?|Ext|Falls?|Fls|Ferry|Fry|Fields?|Fld|Flats?|Flt|Fords?|Frd|Forest|Frst|Forges?|Frg|Forks?|Frk|Fort|Ft|Freeway|Fwy|Gardens?|Gdn|Gateway|Gtwy|Glens?|Gln|Greens?|Grn|Groves?|Grv|Harbors?|Hbr|Haven|Hvn|Heights|Hts|Highway|Hwy|Hills?|Hl|Hollow|Holw|Inlet|Inlt|Islands?|Is|Isle|Junctions?|Jct|Keys?|Ky|Knolls?|Knl|Lakes?|Lk|Land|Landing|Lndg|Lane|Ln|Lights?|Lgt|Loaf|Lf|Locks?|Lck|Lodge|Ldg|Loop|Mall|Manors?|Mnr|Meadows?|Mdw|Mews|Mills?|Ml|Mission|Msn|Motorway|Mtwy|Mount|Mt|Mountains?|Mtn|Neck|Nck|Orchard|Orch|Oval|Overpass|Opas|Parks?|Parkways?|Pkwy|Pass|Passage|Psge|Path|Pike|Pines?|Pne|Place|Pl|Plains?|Pln|Plaza|Plz|Points?|Pt|Ports?|Prt|Prairie|Pr|Radial|Radl|Ramp|Ranch|Rnch|Rapids?|Rpd|Rest|Rst|Ridges?|Rdg|River|Riv|Roads?|Rd|Route|Rte|Row|Rue|Run|Shoals?|Shl|Shores?|Shr|Skyway|Skwy|Springs?|Spg|Spurs?|Squares?|Sq|Station|Sta|Stravenue|Stra|Stream|Strm|Streets?|St|Summit|Smt|Terrace|Ter|Throughway|Trwy|Trace|Trce|Track|Trak|Trafficway|Trfy|Trail|Trl|Trailer|Trlr|Tunnel|Tunl|Turnpike|Tpke|Underpass|Upas|Unions?|Un|Valleys?|Vly|Via|Viaduct|Vias|Views?|Vw|Villages?|Vlg|Ville|Vl|Vista|Vis|Walks?|Wall|Ways?|Wells?|Wl";

const ID: &str = r"([A-Za-z0-9][A-Za-z0-9-]{3,24})";
const LABEL_TAIL: &str = r"\s*(?:number|no\.?|num|#|id)?\s*(?:is|:|#|=)?\s*#?\s*";

fn build(pattern: &str) -> Result<Regex> {
    // regex-lite: ASCII semantics for \b, \d, \s and case folding (the identifiers are
    // ASCII; names are tokenized by hand with Unicode rules), and ~800 KB less wasm than
    // the full regex crate.
    RegexBuilder::new(pattern)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| Error::InvalidPattern(e.to_string()))
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
            recs.push(Rec {
                name,
                entity,
                re: build(pattern)?,
                group,
                score,
                context,
                validate,
            });
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
            r"(?:(?:\+1|001|\b1)[-.\s]?)?(?:\(\d{3}\)\s?|\b\d{3}[-.\s])\d{3}[-.\s]\d{4}(?:\s?(?:x|ext\.?|extension)\s?\d{1,6})?\b",
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
            Some(has_digit),
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
            r"(?i:\b(?:licen[cs]e\s+plate|plate|tag)\s*(?:number|no\.?|#)?\s*(?:is|:|#)?\s*)([A-Z0-9]{1,4}[ •·-]?[A-Z0-9]{1,7})\b",
            1,
            0.9,
            &[],
            Some(has_digit),
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
            r"(?i:\b(?:on|since|from|until|till|by|before|after|around|dated?|due|admitted|discharged|dob|born|seen|visit|surgery|last\s+[a-z]+)\s*:?\s+)((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))\b",
            1,
            0.75,
            &[],
            None,
        )?;
        add(
            "date_month_name",
            Date,
            &format!(
                r"\b(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\s+)?{MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+(?:18|19|20)\d{{2}}\b)?"
            ),
            0,
            0.85,
            DATE_CONTEXT,
            None,
        )?;
        add(
            "date_day_month",
            Date,
            &format!(
                r"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH}\b\.?(?:,?\s+(?:18|19|20)\d{{2}}\b)?"
            ),
            0,
            0.85,
            DATE_CONTEXT,
            Some(|s| {
                s.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|d| d.parse::<u32>().ok())
                    .is_some_and(|d| (1..=31).contains(&d))
            }),
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
                r"\b\d{{1,6}}[A-Za-z]?\s+(?:(?:[NSEW]|N[EW]|S[EW]|North|South|East|West)\.?\s+)?(?:(?:[A-Z][A-Za-z'-]*|\d+(?:st|nd|rd|th))\.?\s+){{1,3}}(?:{STREET_SUFFIX})\b\.?(?:\s+(?:[NSEW]|N[EW]|S[EW])\b\.?)?(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Bldg|Building|Fl|Floor|Rm|Room|Lot|#)\.?\s*#?\s*[A-Za-z0-9-]+\b)?"
            ),
            0,
            0.75,
            &["address", "lives", "resides", "home", "street"],
            None,
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
            &format!(r"{CITY},\s*(?:{STATE_ABBR_NOT_CREDENTIAL}|{STATE_NAME})\b\.?"),
            1,
            0.6,
            CITY_CONTEXT,
            Some(|s| !matches!(s, "APO" | "FPO" | "DPO")),
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
        Ok(Patterns { recs })
    }

    /// Every candidate with its context-adjusted confidence (no threshold applied).
    pub(super) fn find(&self, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let lower = text.to_lowercase();
        // Offsets into `lower` equal offsets into `text` only when lower-casing kept
        // every byte length; otherwise context is read from `text` case-insensitively.
        let same_len = lower.len() == text.len();
        for rec in &self.recs {
            for caps in rec.re.captures_iter(text) {
                let Some(m) = caps.get(rec.group) else {
                    continue;
                };
                let (start, mut end) = (m.start(), m.end());
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
                let window = context_window(text, &lower, same_len, start, end);
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
    "phone", "tel", "call", "cell", "mobile", "fax", "contact", "reach", "pager", "number",
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

fn custom(name: &'static str, entity: Entity, pattern: &str) -> Result<Rec> {
    let re = build(pattern)?;
    let group = usize::from(re.captures_len() > 1);
    Ok(Rec {
        name,
        entity,
        re,
        group,
        score: 0.9,
        context: &[],
        validate: None,
    })
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i = i.saturating_sub(1);
    }
    i
}

fn window_before(text: &str, lower: &str, same_len: bool, start: usize, span: usize) -> String {
    let lo = floor_boundary(text, start.saturating_sub(span));
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
    md || dm
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
