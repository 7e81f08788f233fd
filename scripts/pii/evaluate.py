#!/usr/bin/env python3
"""Score PII predictions against the labelled corpus: precision, recall and F2 per entity.

Usage: evaluate.py CORPUS.jsonl NAME=PREDICTIONS.jsonl [NAME=PREDICTIONS.jsonl ...]

Matching (the same for every system):
- A gold span is found (true positive) when a predicted span with a compatible label
  overlaps it and covers at least half of its characters.
- A predicted span is correct when it overlaps a gold span with a compatible label;
  otherwise it is a false positive for its own label.
- "any identifier" ignores labels: a gold span counts as found when any prediction covers
  half of it (what matters for leakage), a prediction as correct when it overlaps any gold.
- "any identifier (overlap)" ignores labels and counts a gold span as found when any
  prediction overlaps it at all (how redaction is scored in the project's issues).
- F2 = 5PR / (4P + R): recall weighs four times precision, as missed identifiers leak.
Labels are mapped to the corpus' entity names by the PREDICTION file's own "entity" field;
systems with other label sets are mapped by their predictor script (see presidio_predict.py).
"""

import json
import sys
from collections import defaultdict

STRUCTURED = ["DATE", "PHONE", "FAX", "EMAIL", "SSN", "MRN", "HEALTH_PLAN", "ACCOUNT",
              "CREDIT_CARD", "LICENSE", "VEHICLE", "DEVICE", "URL", "IP_ADDRESS", "ZIP"]
ORDER = ["PERSON", "ADDRESS", "AGE"] + STRUCTURED
# A fax number labelled PHONE is still a telephone identifier (Safe Harbor lists both).
COMPATIBLE = {"FAX": {"FAX", "PHONE"}, "PHONE": {"PHONE", "FAX"}}
# phiveil's ID ("any other unique identifying number", found by label or shape) is a
# compatible label for every kind of record, account or device number.
for _label in ["MRN", "HEALTH_PLAN", "ACCOUNT", "LICENSE", "VEHICLE", "DEVICE", "SSN"]:
    COMPATIBLE[_label] = {_label, "ID"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return {d["id"]: d for d in map(json.loads, f)}


def compatible(gold_label, pred_label):
    return pred_label in COMPATIBLE.get(gold_label, {gold_label})


def covered(g, p):
    overlap = min(g["end"], p["end"]) - max(g["start"], p["start"])
    return overlap > 0 and overlap * 2 >= g["end"] - g["start"]


def overlaps(g, p):
    return min(g["end"], p["end"]) > max(g["start"], p["start"])


def score(corpus, preds):
    tp_gold, n_gold = defaultdict(int), defaultdict(int)
    ok_pred, n_pred = defaultdict(int), defaultdict(int)
    any_found = any_gold = any_ok = any_pred = any_touched = 0
    for nid, note in corpus.items():
        gold = note["spans"]
        pred = preds.get(nid, {"spans": []})["spans"]
        for g in gold:
            n_gold[g["entity"]] += 1
            any_gold += 1
            if any(compatible(g["entity"], p["entity"]) and covered(g, p) for p in pred):
                tp_gold[g["entity"]] += 1
            if any(covered(g, p) for p in pred):
                any_found += 1
            if any(overlaps(g, p) for p in pred):
                any_touched += 1
        for p in pred:
            n_pred[p["entity"]] += 1
            any_pred += 1
            if any(compatible(g["entity"], p["entity"]) and overlaps(g, p) for g in gold):
                ok_pred[p["entity"]] += 1
            if any(overlaps(g, p) for g in gold):
                any_ok += 1
    rows = {}
    for e in ORDER:
        rows[e] = prf(ok_pred[e], n_pred[e], tp_gold[e], n_gold[e])
    rows["overall (micro, typed)"] = prf(sum(ok_pred.values()), sum(n_pred.values()),
                                          sum(tp_gold.values()), sum(n_gold.values()))
    rows["any identifier (untyped)"] = prf(any_ok, any_pred, any_found, any_gold)
    rows["any identifier (overlap)"] = prf(any_ok, any_pred, any_touched, any_gold)
    return rows, n_gold


def prf(ok, npred, tp, ngold):
    # No predictions of a label: no false positives, precision 1 (F2 then follows recall).
    p = ok / npred if npred else 1.0
    r = tp / ngold if ngold else 1.0
    f2 = 5 * p * r / (4 * p + r) if (4 * p + r) else 0.0
    return p, r, f2


def main():
    corpus = load(sys.argv[1])
    systems = []
    for arg in sys.argv[2:]:
        name, path = arg.split("=", 1)
        systems.append((name, load(path)))
    results = [(name, *score(corpus, preds)) for name, preds in systems]
    n_gold = results[0][2] if results else {}
    header = "| entity | gold | " + " | ".join(f"{n} P | {n} R | {n} F2" for n, _, _ in results) + " |"
    print(header)
    print("|" + "---|" * (2 + 3 * len(results)))
    for key in ORDER + ["overall (micro, typed)", "any identifier (untyped)",
                        "any identifier (overlap)"]:
        gold = n_gold.get(key, sum(n_gold.values()))
        cells = []
        for _, rows, _ in results:
            p, r, f2 = rows[key]
            cells += [f"{p:.3f}", f"{r:.3f}", f"{f2:.3f}"]
        print(f"| {key} | {gold} | " + " | ".join(cells) + " |")
    if results:
        name, rows, _ = results[0]
        weak = [e for e in STRUCTURED if rows[e][1] < 0.98 and n_gold.get(e)]
        print(f"\n{name}: structured identifiers with recall < 0.98: {', '.join(weak) or 'none'}")


if __name__ == "__main__":
    main()
