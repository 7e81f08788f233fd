#!/usr/bin/env python3
"""A PII development set written by someone else: Presidio's own sentence templates and
fake identities, as shipped inside the PyPI package presidio-evaluator 0.3.2
(data_generator/raw_data/templates.txt and FakeNameGenerator.com_3000.csv, MIT licence,
written by Presidio's authors). phiveil's detector was not tuned on these sentences.

Usage: presidio_dev_set.py RAW_DATA_DIR [--seed N] [--repeat K] > corpus.jsonl

Each template is filled K times with a seeded identity; spans are labelled with the
corpus' entity names. Only Safe Harbor identifiers are gold: a person's name, street
address, city and ZIP, dates tied to the person, ages over 89, telephone, e-mail, SSN,
card, IBAN, licence, URL and IP address. Organization, country, nationality, job, year,
weekday and ages of 89 or less are filled in but not labelled (detecting them is a false
positive under Safe Harbor).
"""
import argparse
import csv
import json
import random
import re
import sys
from pathlib import Path

GOLD = {
    "person": "PERSON", "name": "PERSON", "first_name": "PERSON", "last_name": "PERSON",
    "name_female": "PERSON", "name_male": "PERSON", "first_name_male": "PERSON",
    "first_name_female": "PERSON", "first_name_nonbinary": "PERSON",
    "last_name_male": "PERSON", "last_name_female": "PERSON",
    "address": "ADDRESS", "street_name": "ADDRESS", "building_number": "ADDRESS",
    "secondary_address": "ADDRESS", "city": "ADDRESS",
    "zipcode": "ZIP", "postcode": "ZIP",
    "phone_number": "PHONE", "email": "EMAIL", "credit_card_number": "CREDIT_CARD",
    "ssn": "SSN", "iban": "ACCOUNT", "ip_address": "IP_ADDRESS", "url": "URL",
    "us_driver_license": "LICENSE", "date_of_birth": "DATE", "date_time": "DATE",
}


def luhn_complete(digits):
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = int(d)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return digits + str((10 - total % 10) % 10)


def iban(rng):
    bban = "".join(rng.choice("0123456789") for _ in range(18))
    country = "DE"
    moved = bban + str(ord("D") - 55) + str(ord("E") - 55) + "00"
    check = 98 - int(moved) % 97
    return f"{country}{check:02d}{bban}"


def fill(key, person, rng, others):
    street = person["StreetAddress"]
    number = (re.findall(r"\d+", street) or [str(rng.randint(1, 9999))])[0]
    street_name = re.sub(r"^\d+\s*|\s*\d+$", "", street).strip() or street
    age = int(person["Age"] or 40)
    if rng.random() < 0.2:
        age = rng.randint(90, 104)
    values = {
        "person": f"{person['GivenName']} {person['Surname']}",
        "name": f"{person['GivenName']} {person['Surname']}",
        "first_name": person["GivenName"], "first_name_male": person["GivenName"],
        "first_name_female": person["GivenName"], "first_name_nonbinary": person["GivenName"],
        "name_female": f"{person['GivenName']} {person['Surname']}",
        "name_male": f"{person['GivenName']} {person['Surname']}",
        "last_name": person["Surname"], "last_name_male": person["Surname"],
        "last_name_female": person["Surname"],
        "address": f"{street}, {person['City']}, {person['State']} {person['ZipCode']}",
        "street_name": street_name, "building_number": number,
        "secondary_address": f"Apt. {rng.randint(1, 999)}",
        "city": person["City"], "zipcode": person["ZipCode"], "postcode": person["ZipCode"],
        "state_abbr": person["State"],
        "phone_number": person["TelephoneNumber"], "email": person["EmailAddress"],
        "credit_card_number": luhn_complete("4" + "".join(rng.choice("0123456789") for _ in range(14))),
        "ssn": f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        "iban": iban(rng), "ip_address": ".".join(str(rng.randint(1, 254)) for _ in range(4)),
        "url": f"https://www.{person['Domain']}", "us_driver_license": f"{rng.choice('ABCDEFGHJKLMNPRSTW')}{rng.randint(1000000, 9999999)}",
        "date_of_birth": person["Birthday"], "date_time": person["Birthday"],
        "age": str(age), "year": str(rng.randint(1990, 2024)),
        "organization": person["Company"], "country": person["CountryFull"],
        "nationality": rng.choice(others["nationality"]), "job": person["Occupation"],
        "day_of_week": rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]),
        "prefix": person["Title"], "prefix_male": "Mr.", "prefix_female": "Mrs.",
        "nation_woman": "French woman", "nation_plural": "Germans",
    }
    value = values.get(key, person["GivenName"])
    label = GOLD.get(key)
    if key == "age" and age >= 90:
        label = "AGE"
    return value, label


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    raw = Path(args.raw)
    rng = random.Random(args.seed)
    with open(raw / "FakeNameGenerator.com_3000.csv", encoding="utf-8-sig") as f:
        people = list(csv.DictReader(f))
    others = {"nationality": [r.split(",")[0] for r in (raw / "nationalities.csv").read_text(encoding="utf-8").splitlines()[1:] if r]}
    # As Presidio's own generator does, a literal "\\n" in a template is a line break.
    templates = [t.strip().replace("\\n", "\n") for t in (raw / "templates.txt").read_text(encoding="utf-8", errors="replace").splitlines() if t.strip()]
    n = 0
    out = sys.stdout
    for rep in range(args.repeat):
        for t in templates:
            person = rng.choice(people)
            text, spans, pos = "", [], 0
            for m in re.finditer(r"\{\{\s*(\w+)\s*\}\}", t):
                text += t[pos:m.start()]
                value, label = fill(m.group(1), person, rng, others)
                if label:
                    spans.append({"start": len(text), "end": len(text) + len(value), "entity": label})
                text += value
                pos = m.end()
            text += t[pos:]
            out.write(json.dumps({"id": f"presidio-{n}", "text": text, "spans": spans}, ensure_ascii=False) + "\n")
            n += 1


if __name__ == "__main__":
    main()
