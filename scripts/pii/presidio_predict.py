#!/usr/bin/env python3
"""Run Microsoft Presidio's analyzer over the labelled corpus; write predictions as JSONL.

Configuration compared (stated in the benchmark output):
- presidio-analyzer with its default recognizer registry for English (all predefined
  pattern/checksum recognizers with their context words), score threshold from
  --threshold (default 0: Presidio's own default, which gave it its best F2 here).
- NLP engine: spaCy with a *blank* English pipeline (tokenizer + lemma-less), because the
  trained spaCy models (en_core_web_sm/lg) are not published on the package registries
  this project may use. Without a trained model Presidio has no NER, so PERSON, LOCATION
  and NRP (which it detects only through spaCy NER) are not produced.
Presidio labels are mapped to the corpus' entities (see MAP); labels with no
counterpart are dropped.
"""

import argparse
import json
import logging
import sys
import time
from importlib.metadata import version

import spacy
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import SpacyNlpEngine

MAP = {
    "PERSON": "PERSON", "LOCATION": "ADDRESS", "DATE_TIME": "DATE", "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL", "US_SSN": "SSN", "URL": "URL", "IP_ADDRESS": "IP_ADDRESS",
    "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "ACCOUNT", "US_BANK_NUMBER": "ACCOUNT",
    "US_DRIVER_LICENSE": "LICENSE", "MEDICAL_LICENSE": "LICENSE", "US_PASSPORT": "LICENSE",
    "US_ITIN": "SSN", "UK_NHS": "MRN",
}


class BlankSpacyEngine(SpacyNlpEngine):
    """spaCy NLP engine on spacy.blank('en'): tokens and no entities."""

    def load(self):
        self.nlp = {"en": spacy.blank("en")}


def main():
    # tldextract tries to download the public suffix list and falls back to its bundled
    # snapshot (nothing outside loopback is reachable here); keep its traceback quiet.
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    ap = argparse.ArgumentParser()
    ap.add_argument("--threshold", type=float, default=0.0)
    args = ap.parse_args()
    engine = BlankSpacyEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.load()
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    notes = [json.loads(line) for line in sys.stdin]
    total = sum(len(n["text"].encode()) for n in notes)
    started = time.perf_counter()
    results = [analyzer.analyze(text=n["text"], language="en", score_threshold=args.threshold) for n in notes]
    elapsed = time.perf_counter() - started
    for n, res in zip(notes, results):
        spans = [{"start": r.start, "end": r.end, "entity": MAP[r.entity_type], "confidence": r.score,
                  "recognizer": r.entity_type} for r in res if r.entity_type in MAP]
        print(json.dumps({"id": n["id"], "spans": spans}))
    print(f"presidio-analyzer {version('presidio-analyzer')} "
          f"(spaCy {spacy.__version__}, blank 'en' pipeline, threshold {args.threshold}): "
          f"{len(notes)} notes, {total // 1024} KB in {elapsed:.3f} s = {total / 1024 / elapsed:.0f} KB/s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
