#!/usr/bin/env bash
# PII/PHI detection benchmark (not part of the test command). Three corpora:
#   * phiveil's own labelled synthetic clinical notes (scripts/pii/gen_corpus.py, Faker),
#     the development corpus the detector was tuned on;
#   * a development set written by someone else: Presidio's own sentence templates and
#     fake identities from the PyPI package presidio-evaluator (scripts/pii/presidio_dev_set.py);
#   * real clinical notes written by someone else: the i2b2/UTHealth 2014 notes with surrogate
#     PHI and human annotation that UCSF ships as Philter's test data in the PyPI package
#     philter-ucsf (scripts/pii/i2b2_dev_set.py). Five notes, 46 Safe Harbor identifiers:
#     small, and the strict profile's facility, dictation-trailer and month rules were
#     written after reading them, so it is a development set, not a held-out one.
# On both it runs phiveil's strict (default) and balanced profiles (native, release) and
# Microsoft Presidio (presidio-analyzer with spaCy's blank English pipeline: the trained
# spaCy models are not on the registries we may use, so Presidio runs without NER), and
# prints precision, recall and F2 per entity, an any-overlap row (how redaction is
# scored in the issues), and throughput. Wasm throughput in Chromium: scripts/bench.sh.
#   scripts/bench-pii.sh [NOTES] [SEED]      (defaults: 1000 notes, seed 20261123)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PHIVEIL_ROOT"
notes="${1:-1000}"
seed="${2:-20261123}"
if ! "$PHIVEIL_BENCH_VENV/bin/python" -c "import presidio_analyzer, faker" 2>/dev/null; then
  log "installing benchmark peers: presidio-analyzer $PRESIDIO_VERSION, Faker $FAKER_VERSION"
  python3 -m venv "$PHIVEIL_BENCH_VENV"
  "$PHIVEIL_BENCH_VENV/bin/pip" install -q --disable-pip-version-check \
    "presidio-analyzer==$PRESIDIO_VERSION" "faker==$FAKER_VERSION"
fi
out="$PHIVEIL_CACHE/pii"
mkdir -p "$out"
raw="$out/presidio-evaluator-$PRESIDIO_EVALUATOR_VERSION"
if [ ! -f "$raw/templates.txt" ]; then
  log "presidio-evaluator $PRESIDIO_EVALUATOR_VERSION: Presidio's templates and fake identities"
  tmp="$(mktemp -d)"
  "$PHIVEIL_BENCH_VENV/bin/pip" download -q --no-deps -d "$tmp" "presidio-evaluator==$PRESIDIO_EVALUATOR_VERSION"
  python3 -m zipfile -e "$tmp"/presidio_evaluator-*.whl "$tmp/x"
  mkdir -p "$raw"
  cp "$tmp"/x/presidio_evaluator/data_generator/raw_data/{templates.txt,FakeNameGenerator.com_3000.csv,nationalities.csv} "$raw/"
  rm -rf "$tmp"
fi
i2b2="$out/philter-ucsf-$PHILTER_VERSION"
if [ ! -d "$i2b2/i2b2_xml" ]; then
  log "philter-ucsf $PHILTER_VERSION: the i2b2 2014 notes shipped as Philter's test data"
  tmp="$(mktemp -d)"
  "$PHIVEIL_BENCH_VENV/bin/pip" download -q --no-deps -d "$tmp" "philter-ucsf==$PHILTER_VERSION"
  tar xzf "$tmp"/philter_ucsf-*.tar.gz -C "$tmp"
  mkdir -p "$i2b2"
  cp -r "$tmp"/philter_ucsf-*/philter_ucsf/data/i2b2_xml "$i2b2/"
  rm -rf "$tmp"
fi
log "corpora: own ($notes notes, seed $seed), Presidio's templates, i2b2 notes from Philter"
"$PHIVEIL_BENCH_VENV/bin/python" scripts/pii/gen_corpus.py --notes "$notes" --seed "$seed" --out "$out/own.jsonl"
python3 scripts/pii/presidio_dev_set.py "$raw" > "$out/presidio.jsonl"
python3 scripts/pii/i2b2_dev_set.py "$i2b2/i2b2_xml" > "$out/i2b2.jsonl"
cargo build -q --release -p phiveil-core --example pii_predict
for corpus in own presidio i2b2; do
  log "$corpus: phiveil strict, phiveil balanced (native, release), presidio"
  for profile in strict balanced; do
    "$CARGO_TARGET_DIR/release/examples/pii_predict" "$profile" < "$out/$corpus.jsonl" > "$out/$corpus-$profile.jsonl"
  done
  "$PHIVEIL_BENCH_VENV/bin/python" scripts/pii/presidio_predict.py < "$out/$corpus.jsonl" > "$out/$corpus-presidio.jsonl"
  log "$corpus: scores (matching rules: scripts/pii/evaluate.py)"
  python3 scripts/pii/evaluate.py "$out/$corpus.jsonl" strict="$out/$corpus-strict.jsonl" \
    balanced="$out/$corpus-balanced.jsonl" presidio="$out/$corpus-presidio.jsonl"
done
