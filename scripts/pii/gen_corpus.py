#!/usr/bin/env python3
"""Generate a labelled corpus of synthetic clinical notes for PII/PHI evaluation.

Every identifier is drawn from Faker (several locales) or from a generator that follows
the identifier's published format, and inserted into note templates while its span is
recorded, so the gold labels are exact by construction. Notes also carry distractors
that a careless detector flags: bare years, vital signs and scores written like dates,
ages up to 89, eponyms and drug names, dosing, lab values, invalid SSNs and card numbers.

Output: JSON Lines, one note per line:
  {"id": "note-0001", "text": "...", "spans": [{"start": 12, "end": 20, "entity": "PERSON"}]}
Offsets are Unicode code points (Python string indices), end exclusive.

Usage: gen_corpus.py [--notes N] [--seed S] [--out FILE]
Faker's output is stable for a given seed and Faker version (pinned by scripts/bench-pii.sh).
"""

import argparse
import json
import random
import sys

from faker import Faker

LOCALES = ["en_US"] * 6 + ["es_MX", "de_DE", "fr_FR", "it_IT", "pl_PL", "en_IN", "nl_NL", "vi_VN"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
STATES = {"AL": "Alabama", "AZ": "Arizona", "CA": "California", "CO": "Colorado",
          "FL": "Florida", "GA": "Georgia", "IL": "Illinois", "MA": "Massachusetts",
          "MI": "Michigan", "MN": "Minnesota", "NC": "North Carolina", "NY": "New York",
          "OH": "Ohio", "OR": "Oregon", "PA": "Pennsylvania", "TX": "Texas", "WA": "Washington",
          "WI": "Wisconsin"}
MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.fakers = {loc: Faker(loc) for loc in set(LOCALES)}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed * 31 + i)
        self.us = self.fakers["en_US"]

    def pick(self, xs):
        return self.r.choice(xs)

    def faker(self):
        return self.fakers[self.pick(LOCALES)]

    # --- names -------------------------------------------------------------------
    def first(self):
        return self.faker().first_name()

    def last(self):
        return self.faker().last_name()

    def full(self):
        f = self.faker()
        name = f"{f.first_name()} {f.last_name()}"
        roll = self.r.random()
        if roll < 0.15:
            name = f"{f.first_name()} {self.pick('ABCDEFGHJKLMNPRSTW')}. {f.last_name()}"
        elif roll < 0.2:
            name = name.upper()
        return name

    # --- dates and ages ----------------------------------------------------------
    def date(self):
        d = self.us.date_between(start_date="-90y", end_date="+1y")
        m, day, y = d.month, d.day, d.year
        mon = MONTHS[m - 1]
        ordinal = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}.get(day, "th")
        return self.pick([
            f"{m:02d}/{day:02d}/{y}", f"{m}/{day}/{y % 100:02d}", f"{y}-{m:02d}-{day:02d}",
            f"{mon} {day}, {y}", f"{mon[:3]} {day}, {y}", f"{day} {mon} {y}", f"{mon} {y}",
            f"{m}/{day}", f"{mon} {day}{ordinal}", f"{day:02d}.{m:02d}.{y}",
            f"{y}-{m:02d}-{day:02d}T{self.r.randint(0, 23):02d}:{self.r.randint(0, 59):02d}:00Z",
            f"{mon[:3]}. {day}", f"{m}/{y}",
        ])

    def old_age(self):
        return str(self.r.randint(90, 104))

    def ok_age(self):
        return str(self.r.randint(18, 89))

    # --- contact -----------------------------------------------------------------
    def phone(self):
        a, b, c = self.r.randint(201, 989), self.r.randint(200, 999), self.r.randint(0, 9999)
        own = [f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}",
               f"{a}-{b}-{c:04d} ext. {self.r.randint(10, 999)}"]
        return self.us.phone_number() if self.r.random() < 0.5 else self.pick(own)

    def intl_phone(self):
        return self.pick([f"+44 20 {self.r.randint(7000, 7999)} {self.r.randint(1000, 9999)}",
                          f"+49 30 {self.r.randint(1000000, 9999999)}",
                          f"+33 1 {self.r.randint(10, 99)} {self.r.randint(10, 99)} {self.r.randint(10, 99)} {self.r.randint(10, 99)}",
                          f"+91 {self.r.randint(70000, 99999)} {self.r.randint(10000, 99999)}"])

    def email(self):
        return self.pick([self.us.email(), self.us.free_email(), self.us.company_email()])

    def url(self):
        return self.pick([self.us.url(), self.us.url() + self.us.uri_path(),
                          "www." + self.us.domain_name(), self.us.uri()])

    def ip(self):
        return self.pick([self.us.ipv4_public(), self.us.ipv4_private(), self.us.ipv6()])

    # --- numbers -----------------------------------------------------------------
    def ssn(self):
        s = self.us.ssn()
        return self.pick([s, s, s.replace("-", " "), s.replace("-", "")])

    def card(self):
        n = self.us.credit_card_number(card_type=self.pick(["visa", "mastercard", "amex", "discover"]))
        if self.r.random() < 0.4 and len(n) == 16:
            n = " ".join(n[i:i + 4] for i in range(0, 16, 4))
        return n

    def mrn(self):
        return self.pick([str(self.r.randint(10**6, 10**8)), f"{self.r.randint(10, 99)}-{self.r.randint(10, 99)}-{self.r.randint(1000, 9999)}",
                          f"{self.pick('ABCHMPRZ')}{self.r.randint(10**6, 10**7)}", f"{self.r.randint(10**7, 10**9):09d}"])

    def mbi(self):
        c = self.r.choice
        d = lambda lo=0: str(self.r.randint(lo, 9))  # noqa: E731
        an = MBI_LETTERS + "0123456789"
        return d(1) + c(MBI_LETTERS) + c(an) + d() + c(MBI_LETTERS) + c(an) + d() + c(MBI_LETTERS) + c(MBI_LETTERS) + d() + d()

    def plan_id(self):
        return self.pick([f"{self.pick(['XJH', 'BCB', 'UHC', 'AET', 'W'])}{self.r.randint(10**7, 10**9)}",
                          f"{self.r.randint(100000, 999999)}-{self.r.randint(10, 99)}", self.mbi()])

    def account(self):
        return self.pick([str(self.r.randint(10**7, 10**11)), self.us.bban(), f"{self.r.randint(1000, 9999)}-{self.r.randint(100000, 999999)}"])

    def dea(self):
        letters = self.pick("ABFGMPR") + self.pick("ABCDEFGHJKLMNPRSTWXYZ")
        d = [self.r.randint(0, 9) for _ in range(6)]
        check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
        return letters + "".join(map(str, d)) + str(check)

    def npi(self):
        base = [self.pick([1, 2])] + [self.r.randint(0, 9) for _ in range(8)]
        digits = [8, 0, 8, 4, 0] + base
        total = 0
        for i, x in enumerate(reversed(digits)):
            y = x * 2 if i % 2 == 0 else x
            total += y - 9 if y > 9 else y
        check = (10 - total % 10) % 10
        return "".join(map(str, base)) + str(check)

    def license(self):
        return self.pick([f"{self.pick('ABDFGKMSW')}{self.r.randint(100, 999)}-{self.r.randint(1000, 9999)}-{self.r.randint(1000, 9999)}",
                          f"RN{self.r.randint(100000, 999999)}", f"{self.r.randint(10**7, 10**8)}",
                          f"MD{self.r.randint(10000, 99999)}"])

    def serial(self):
        return self.pick([f"PM{self.r.randint(10**6, 10**7)}", f"{self.r.randint(10, 99)}{self.pick('ABCDEFXZ')}{self.pick('ABCDEFXZ')}-{self.r.randint(1000, 9999)}-{self.pick('ABCDEFXZ')}{self.pick('ABCDEFXZ')}",
                          f"SN{self.r.randint(10**8, 10**9)}", f"{self.pick('ABCDEFXZ')}{self.r.randint(10**5, 10**6)}{self.pick('ABCDEFXZ')}"])

    def udi(self):
        return f"(01){self.r.randint(10**13, 10**14 - 1)}(17){self.r.randint(200101, 351231)}(21){self.r.randint(1000, 99999)}"

    # --- geography ---------------------------------------------------------------
    def street(self):
        return self.us.street_address()

    def zip(self):
        return self.pick([self.us.zipcode(), self.us.zipcode_plus4()])


# Templates: text with {SLOT} placeholders. A slot is (generator, entity) or a compound.
SLOTS = {
    "FULL": ("full", "PERSON"), "FIRST": ("first", "PERSON"), "LAST": ("last", "PERSON"),
    "DATE": ("date", "DATE"), "OLDAGE": ("old_age", "AGE"), "OKAGE": ("ok_age", None),
    "PHONE": ("phone", "PHONE"), "INTLPHONE": ("intl_phone", "PHONE"), "FAX": ("phone", "FAX"),
    "EMAIL": ("email", "EMAIL"), "URL": ("url", "URL"), "IP": ("ip", "IP_ADDRESS"),
    "SSN": ("ssn", "SSN"), "CARD": ("card", "CREDIT_CARD"), "MRN": ("mrn", "MRN"),
    "PLAN": ("plan_id", "HEALTH_PLAN"), "MBI": ("mbi", "HEALTH_PLAN"), "ACCOUNT": ("account", "ACCOUNT"),
    "DEA": ("dea", "LICENSE"), "NPI": ("npi", "LICENSE"), "LICENSE": ("license", "LICENSE"),
    "SERIAL": ("serial", "DEVICE"), "UDI": ("udi", "DEVICE"), "STREET": ("street", "ADDRESS"),
    "ZIP": ("zip", "ZIP"),
}

SENTENCES = [
    "Patient: {FULL}", "Patient Name: {FULL}  DOB: {DATE}", "Name: {LAST}, {FIRST}",
    "{FULL} is a {OKAGE}-year-old who presents with chest pain.",
    "Mr. {LAST} reports two days of productive cough.", "Mrs. {LAST} was seen in clinic on {DATE}.",
    "Ms. {FULL} denies fever or chills.", "Seen by Dr. {FULL} in the emergency department.",
    "Discussed with Dr. {LAST}, who agrees with the plan.", "Her daughter {FIRST} will drive her home.",
    "His wife {FULL} is the health care proxy.", "Spoke with {FIRST} by phone about the results.",
    "Emergency contact: {FULL} ({PHONE}).", "Signed: {FULL}, MD", "cc: Dr. {LAST}",
    "Referred by {FULL}, NP.", "{FIRST} tolerated the procedure well.",
    "Accompanied by her son {FIRST} {LAST}.", "Dictated by {FULL} on {DATE}.",
    "Admitted {DATE}; discharged {DATE}.", "Last colonoscopy {DATE}, normal.",
    "Follow-up appointment on {DATE} at 10:30.", "Symptoms began around {DATE}.",
    "DOB: {DATE}", "Surgery is scheduled for {DATE}.",
    "A {OLDAGE}-year-old woman with atrial fibrillation.", "Pt is {OLDAGE} yo and lives alone.",
    "Aged {OLDAGE}, she remains independent in ADLs.", "{OLDAGE} y/o male, nursing home resident.",
    "Call {PHONE} with questions.", "Home phone: {PHONE}", "Cell {PHONE}, prefers text.",
    "Fax: {FAX}", "Please fax records to {FAX}.", "Daughter abroad can be reached at {INTLPHONE}.",
    "Email: {EMAIL}", "She sent photos of the rash to {EMAIL}.",
    "Portal link: {URL}", "Patient reads about her condition on {URL}.",
    "Telehealth session from IP {IP}.", "Device logged in from {IP} at 02:14.",
    "SSN: {SSN}", "Social security number {SSN} on file.",
    "Card on file: {CARD}", "Copay charged to card {CARD}.",
    "MRN: {MRN}", "MRN #{MRN}", "Medical record number {MRN}.", "Chart # {MRN}",
    "Member ID: {PLAN}", "Policy number {PLAN} with the insurer.", "Medicare beneficiary ID {MBI}.",
    "Account #: {ACCOUNT}", "Billing account {ACCOUNT} is past due.",
    "Prescriber DEA # {DEA}", "Provider NPI: {NPI}", "Driver's license: {LICENSE}",
    "Nursing license #{LICENSE}.",
    "Pacemaker serial {SERIAL} interrogated, normal function.", "Insulin pump S/N: {SERIAL}.",
    "Implant UDI {UDI}.", "Device serial number {SERIAL}.",
    "Lives at {STREET}, {CITYSTATEZIP}.", "Address: {STREET}", "Moved to {CITYSTATE} last spring.",
    "Mailing address {STREET}, {CITYSTATEZIP}", "ZIP code {ZIP}.",
    "VIN: {VIN} of the car involved in the collision.", "Vehicle plate {PLATE} noted by EMS.",
]

DISTRACTORS = [
    "BP 128/82, HR 88, RR 16, SpO2 97% on RA.", "Diagnosed with type 2 diabetes in 2009.",
    "Pain 6/10, worse with movement.", "Taking metformin 500 mg BID and Lisinopril 10 mg daily.",
    "History of Parkinson disease; Babinski sign negative.", "Glasgow Coma Scale 15.",
    "A {OKAGE}-year-old man with COPD.", "Foley catheter removed without difficulty.",
    "Follow up in 3 weeks.", "Labs: WBC 10.2, Hgb 13.1, Plt 245, Na 138, K 4.1.",
    "Apgar scores 8/9.", "Transferred to room 412.", "ICD-10 E11.9; CPT 99213.",
    "Call 911 if symptoms worsen.", "ECG at 14:30 showed sinus rhythm.", "Temperature 38.2 C.",
    "Weight 82 kg, BMI 27.4.", "Smoked 1 ppd for 20 years, quit in 2015.",
    "Received Moderna dose 2 and Tdap booster.", "Hemoglobin A1c 7.2% in 2021.",
    "Hip replacement in 1998.", "Ejection fraction 55-60%.", "Dose 0.5 mg/kg every 8 hours.",
    "Creatinine 1.02 mg/dL, stable since 2019.", "Started on Eliquis 5 mg BID.",
    "Graves disease, treated with methimazole.", "Referred to physical therapy.",
    "Wound measures 2.5 x 1.0 cm.", "Will call if worse.", "May resume normal diet.",
    "Invalid test number 000-12-3456 was rejected by the lab system.",
    "Tracking code 4111 1111 1111 1112 is not a card.", "Glucose 142, insulin 12 units at 21:00.",
    "Hearing test at 4000 Hz normal.", "Holter monitor for 48 hours.",
]


def fill(g, template):
    """Returns (text, spans) for one template."""
    out, spans, i = [], [], 0
    pos = 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        pos += j - i
        k = template.index("}", j)
        slot = template[j + 1:k]
        parts = []  # (text, entity or None)
        if slot in SLOTS:
            fn, entity = SLOTS[slot]
            parts.append((getattr(g, fn)(), entity))
        elif slot in ("CITYSTATEZIP", "CITYSTATE"):
            abbr = g.pick(list(STATES))
            state = abbr if g.r.random() < 0.7 else STATES[abbr]
            parts.append((g.us.city(), "ADDRESS"))
            parts.append((", " + state, None))
            if slot == "CITYSTATEZIP":
                parts.append((" ", None))
                parts.append((g.zip(), "ZIP"))
        elif slot == "VIN":
            parts.append((g.us.vin(), "VEHICLE"))
        elif slot == "PLATE":
            parts.append((g.us.license_plate(), "VEHICLE"))
        else:
            raise KeyError(slot)
        for text, entity in parts:
            if entity:
                spans.append({"start": pos, "end": pos + len(text), "entity": entity})
            out.append(text)
            pos += len(text)
        i = k + 1
    return "".join(out), spans


def note(g, idx):
    pieces, spans, pos = [], [], 0
    n = g.r.randint(5, 10)
    for _ in range(n):
        template = g.pick(SENTENCES) if g.r.random() < 0.65 else g.pick(DISTRACTORS)
        text, s = fill(g, template)
        for sp in s:
            sp["start"] += pos
            sp["end"] += pos
        spans.extend(s)
        sep = g.pick([" ", " ", "\n"])
        pieces.append(text + sep)
        pos += len(text) + len(sep)
    return {"id": f"note-{idx:04d}", "text": "".join(pieces), "spans": spans}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--notes", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--out", default="-")
    args = ap.parse_args()
    g = Gen(args.seed)
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")
    for i in range(args.notes):
        out.write(json.dumps(note(g, i), ensure_ascii=False) + "\n")
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
