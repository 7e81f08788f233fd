#!/usr/bin/env python3
"""A PHI development set of real clinical notes written by someone else: the i2b2/UTHealth
2014 de-identification notes (surrogate PHI, human annotation) that UCSF ships as the test
data of its de-identifier Philter, inside the PyPI package philter-ucsf 1.0.3
(philter_ucsf/data/i2b2_xml/*.xml, BSD 3-Clause licence). phiveil's detector was not tuned
on these notes.

Usage: i2b2_dev_set.py XML_DIR [--all] > corpus.jsonl

The i2b2 scheme labels more than Safe Harbor asks for. By default only Safe Harbor
identifiers are gold: names (patient, doctor, username), locations smaller than a state
(street, city, ZIP, hospital, organization and other named places), dates (years alone
included, as i2b2 labels them), ages, telephone and fax numbers, e-mail, URLs and every
kind of ID. Professions, states and countries are not identifiers under Safe Harbor and
are left unlabelled (detecting them counts as a false positive). `--all` labels them too.
"""
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

LABEL = {
    ("NAME", None): "PERSON",
    ("LOCATION", "ZIP"): "ZIP",
    ("LOCATION", None): "ADDRESS",
    ("DATE", None): "DATE",
    ("AGE", None): "AGE",
    ("CONTACT", "PHONE"): "PHONE",
    ("CONTACT", "FAX"): "FAX",
    ("CONTACT", "EMAIL"): "EMAIL",
    ("CONTACT", "URL"): "URL",
    ("CONTACT", "IPADDR"): "IP_ADDRESS",
    ("ID", "MEDICALRECORD"): "MRN",
    ("ID", "HEALTHPLAN"): "HEALTH_PLAN",
    ("ID", "LICENSE"): "LICENSE",
    ("ID", "DEVICE"): "DEVICE",
    ("ID", None): "ID",
}
NOT_SAFE_HARBOR = {("PROFESSION", None), ("LOCATION", "STATE"), ("LOCATION", "COUNTRY")}


def label(tag, kind, everything):
    for key in ((tag, kind), (tag, None)):
        if key in NOT_SAFE_HARBOR and not everything:
            return None
        if key in LABEL:
            return LABEL[key]
    return "ID" if everything else None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    everything = "--all" in sys.argv[1:]
    if len(args) != 1:
        sys.exit(__doc__)
    for path in sorted(Path(args[0]).glob("*.xml")):
        root = ET.parse(path).getroot()
        text = root.find("TEXT").text or ""
        spans = []
        for tag in root.find("TAGS"):
            entity = label(tag.tag, tag.get("TYPE"), everything)
            start, end = int(tag.get("start")), int(tag.get("end"))
            if text[start:end] != tag.get("text"):
                sys.exit(f"{path.name}: span {start}-{end} does not match its text")
            if entity:
                spans.append({"start": start, "end": end, "entity": entity,
                              "i2b2": f"{tag.tag}/{tag.get('TYPE')}"})
        print(json.dumps({"id": f"i2b2-{path.stem}", "text": text, "spans": spans}, ensure_ascii=False))


if __name__ == "__main__":
    main()
