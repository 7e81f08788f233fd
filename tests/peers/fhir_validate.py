#!/usr/bin/env python3
"""FHIR peer: validates resources with the fhir.resources package (R4B models).

Reads a JSON array of resources on stdin; writes a JSON array of
{"ok": true} | {"ok": false, "error": str}, one per resource.
"""
import json
import sys

import fhir.resources
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

MODELS = {"Observation": Observation, "Bundle": Bundle, "Patient": Patient}


def main():
    out = []
    for res in json.load(sys.stdin):
        try:
            MODELS[res["resourceType"]].model_validate(res)
            out.append({"ok": True})
        except Exception as e:  # noqa: BLE001 - reported per resource
            out.append({"ok": False, "error": f"{type(e).__name__}: {str(e)[:300]}"})
    json.dump({"peer": f"fhir.resources {fhir.resources.__version__} (R4B)", "results": out}, sys.stdout)


if __name__ == "__main__":
    main()
