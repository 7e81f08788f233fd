#!/usr/bin/env python3
"""Builds the word -> flags table behind phiveil's recall-first PII detector.

Reads the unpacked sources (see scripts/pii/build-lexicon.sh, which fetches them by
name and version from the Debian and Python package registries) and prints
`word<TAB>flags` lines, sorted by byte order, for `cargo run --example build_lexicon`.

Flags (must match wasm-core/src/pii/lexicon.rs):
  1  SAFE     an ordinary English or medical word that may stay in the text
  2  COMMON   a frequent English word (SCOWL size 50): a name that is also one needs a cue
  4  FIRST    a given name
  8  LAST     a surname
  16 CAPSAFE  stays even when capitalized mid-sentence (eponyms, drug names, months, states)
  32 FIRST_CORE a given name from phiveil's own short list of common given names
  64 PLACE    a US city or town (USPS city names); a name of two or three words is one
              entry, its words joined by one space ("silver spring", "grand rapids")

Sources and licences (also in wasm-core/src/pii/lexicon/SOURCES.md):
  * SCOWL via Debian wamerican (size 50) and wamerican-large (size 70), 2020.12.07:
    permissive SCOWL licence (copyright notice kept), public-domain parts.
  * Philter (UCSF) 1.0.3 from the philter-ucsf package: its whitelist (English and
    medical words, names removed) and its first-name and surname blacklists; BSD-3-Clause.
  * drug-named-entity-recognition 2.0.9 (MIT): drug names and brand synonyms drawn from
    the DrugBank open vocabulary (CC0) and MeSH (public domain).
  * zipcodes 1.2.0 (MIT): the USPS city name of every standard and PO-box ZIP code.
  * wasm-core/src/pii/lexicon/medical_extra.txt, latin_terms.txt and the earlier name
    lists in wasm-core/src/pii/*.txt, written for phiveil (Apache-2.0).
"""
import bz2
import json
import pickle
import re
import sys
from pathlib import Path

SAFE, COMMON, FIRST, LAST, CAPSAFE, FIRST_CORE, PLACE = 1, 2, 4, 8, 16, 32, 64
WORD = re.compile(r"^[a-z][a-z'-]{0,23}$")


def words(path):
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0]
        for w in line.split():
            yield w


def main(src, repo):
    src, repo = Path(src), Path(repo)
    flags = {}

    def add(word, bit):
        word = word.strip().lower()
        if word.endswith("'s"):
            word = word[:-2]
        if WORD.match(word) and len(word) >= 2:
            flags[word] = flags.get(word, 0) | bit

    def lowercase_entries(path):
        # SCOWL lists proper nouns capitalized: keep only the lower-case (common) words.
        return (w for w in words(path) if w[:1].islower())

    for w in lowercase_entries(src / "usr/share/dict/american-english-large"):
        add(w, SAFE)
    for w in lowercase_entries(src / "usr/share/dict/american-english"):
        add(w, SAFE | COMMON)
    philter = src / "philter_ucsf-1.0.3/philter_ucsf/filters"
    for w in json.loads((philter / "whitelists/whitelist_plus_fps_091718_nonames.json").read_text()):
        add(w, SAFE)
    for w in json.loads((philter / "blacklists/firstnames_minus_fps.json").read_text()):
        add(w, FIRST)
    for w in json.loads((philter / "blacklists/lastnames_minus_fps.json").read_text()):
        add(w, LAST)
    for w in words(repo / "wasm-core/src/pii/first_names.txt"):
        add(w, FIRST | FIRST_CORE)
    for w in words(repo / "wasm-core/src/pii/last_names.txt"):
        add(w, LAST)
    drugs = pickle.load(bz2.open(src / "drug/drug_named_entity_recognition/drug_ner_dictionary.pkl.bz2"))
    for variant in drugs["drug_variant_to_canonical"]:
        for w in re.split(r"[\s,/()]+", variant):
            # DrugBank lists allergen extracts named after plants and people ("alder",
            # "st. john's wort"): a drug word that is also a name stays a name.
            w = w.lower().removesuffix("'s")
            if len(w) >= 5 and not flags.get(w, 0) & (FIRST | LAST):
                add(w, SAFE | CAPSAFE)
    for w in words(repo / "wasm-core/src/pii/lexicon/medical_extra.txt"):
        add(w, SAFE | CAPSAFE)
    for w in words(repo / "wasm-core/src/pii/lexicon/latin_terms.txt"):
        add(w, SAFE)
    # US cities and towns. A name of several words is one entry, its words as the
    # detector's tokenizer lowers them, joined by one space; "Saint", "Mount" and "Fort"
    # are also entered as written short ("st louis"). Names of four words and more, and
    # military post offices, are left out.
    places = set()
    for z in json.load(bz2.open(src / "zipcodes/zipcodes/zips.json.bz2")):
        if z["zip_code_type"] not in ("STANDARD", "PO BOX"):
            continue
        name = " ".join(z["city"].lower().replace(".", " ").split())
        places.add(name)
        for long, short in (("saint ", "st "), ("mount ", "mt "), ("fort ", "ft ")):
            if name.startswith(long):
                places.add(short + name[len(long):])
    # Town names that are also clinical shorthand, a nationality, a region or a state,
    # which a note capitalizes without naming a town ("called by Micro", "Canadian").
    places -= {"micro", "nitro", "stet", "salol", "tolu", "chromo", "lithia", "medusa",
               "canadian", "atlantic", "midwest", "centre", "california", "ohio", "volant",
               "culdesac", "pointblank", "eek", "prole", "appalachia", "scandinavia"}
    for name in places:
        parts = name.split(" ")
        if len(parts) == 1:
            add(name, PLACE)
        elif len(parts) <= 3 and all(WORD.match(w) for w in parts):
            flags[name] = flags.get(name, 0) | PLACE

    common = {w for w, f in flags.items() if f & COMMON}
    # Drug names, eponyms and the other capital-safe terms a typo rule reads unknown long
    # words against (wasm-core/src/pii/lexicon.rs, `near_capsafe`).
    capsafe = {
        w
        for w, f in flags.items()
        if f & CAPSAFE and f & SAFE and not f & (FIRST | LAST | PLACE) and len(w) >= 7
    }
    letters = "abcdefghijklmnopqrstuvwxyz"

    def edits1(word):
        splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
        edits = {a + b[1:] for a, b in splits if b}
        edits |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        edits |= {a + c + b[1:] for a, b in splits if b for c in letters}
        edits |= {a + c + b for a, b in splits for c in letters}
        edits.discard(word)
        return edits

    def near_common(word):
        return not edits1(word).isdisjoint(common)

    def near_capsafe(word):
        return len(word) >= 7 and not edits1(word).isdisjoint(capsafe)

    def kept(word, f):
        # A word that is only a surname is left out: a word the lexicon does not know is
        # redacted anyway (in a name position, or anywhere in a lower-case message), so
        # the entry would only cost bundle size. Long medical vocabulary outside SCOWL
        # stays in: capitalized at a sentence's start, in a heading or in an ALL-CAPS
        # note ("ECHOCARDIOGRAM", "Lumbosacral radiculopathy") an unknown word would be
        # taken for a name.
        if " " in word:
            return True
        if not f & SAFE:
            # A given name or a town stays only where the detector's typo rules would
            # otherwise take it for a misspelt common word ("tomas" is one edit from
            # "tomes", "reno" from "rend"); a name of seven letters and more, a surname
            # too, where they would take it for a misspelt drug or eponym ("adeline" is no
            # typo of "adenine", "abeling" none of "labeling").
            if bool(f & (FIRST | PLACE)) and 3 <= len(word) <= 12 and near_common(word):
                return True
            return bool(f & (FIRST | LAST)) and len(word) <= 16 and near_capsafe(word)
        return len(word) <= 16

    out = sys.stdout.buffer
    for w in sorted(flags, key=lambda s: s.encode()):
        if kept(w, flags[w]):
            out.write(f"{w}\t{flags[w]}\n".encode())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
