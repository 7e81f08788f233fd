#!/usr/bin/env bash
# PII/PHI detection benchmark (not part of the test command): generates the labelled
# synthetic corpus, runs phiveil (native) and Microsoft Presidio (presidio-analyzer with
# spaCy's blank English pipeline: the trained spaCy models are not on the registries we
# may use, so Presidio runs without NER) on the same notes, and prints precision, recall
# and F2 per entity for both, plus throughput.
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
log "corpus: $notes notes, seed $seed"
"$PHIVEIL_BENCH_VENV/bin/python" scripts/pii/gen_corpus.py --notes "$notes" --seed "$seed" --out "$out/corpus.jsonl"
log "phiveil (native, release)"
cargo run -q --release -p phiveil-core --example pii_predict < "$out/corpus.jsonl" > "$out/phiveil.jsonl"
log "presidio"
"$PHIVEIL_BENCH_VENV/bin/python" scripts/pii/presidio_predict.py < "$out/corpus.jsonl" > "$out/presidio.jsonl"
log "scores (matching rules: scripts/pii/evaluate.py)"
python3 scripts/pii/evaluate.py "$out/corpus.jsonl" phiveil="$out/phiveil.jsonl" presidio="$out/presidio.jsonl"
