#!/usr/bin/env bash
# Rebuilds wasm-core/src/pii/lexicon.fst, the "known safe" vocabulary and name lists of
# the recall-first PII detector, from named and versioned sources (listed with their
# licences in wasm-core/src/pii/lexicon/SOURCES.md). A maintainer's step: the result is
# committed, so neither the build nor the tests fetch anything.
set -euo pipefail
source "$(dirname "$0")/../env.sh"
cd "$PHIVEIL_ROOT"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download wamerican=2020.12.07-2 wamerican-large=2020.12.07-2 >/dev/null)
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work"; done
python3 -m pip download --no-deps -q -d "$work/pkgs" philter-ucsf==1.0.3 drug-named-entity-recognition==2.0.9 zipcodes==1.2.0
tar xzf "$work"/pkgs/philter_ucsf-1.0.3.tar.gz -C "$work"
python3 -m zipfile -e "$work"/pkgs/drug_named_entity_recognition-2.0.9-py3-none-any.whl "$work/drug"
python3 -m zipfile -e "$work"/pkgs/zipcodes-1.2.0-py2.py3-none-any.whl "$work/zipcodes"
python3 scripts/pii/lexicon_sources.py "$work" "$PHIVEIL_ROOT" >"$work/lexicon.tsv"
cargo run -q -p phiveil-core --example build_lexicon -- "$work/lexicon.tsv" wasm-core/src/pii/lexicon.fst
