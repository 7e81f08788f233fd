#!/usr/bin/env python3
"""OpenAPI peer: validates the relay's OpenAPI document with openapi-spec-validator.

Reads the document on stdin; writes {"peer": ..., "version": ..., "errors": [str]}.
The document must declare OpenAPI 3.1; it is checked against the OpenAPI 3.1 schema
(JSON Schema 2020-12 for the schemas inside) and the validator's semantic checks
(path parameters declared, operation ids unique, references resolved).
"""
import json
import sys
from importlib.metadata import version

from openapi_spec_validator import OpenAPIV31SpecValidator


def main():
    doc = json.load(sys.stdin)
    errors = [str(e)[:500] for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    json.dump(
        {
            "peer": f"openapi-spec-validator {version('openapi-spec-validator')}",
            "version": doc.get("openapi"),
            "errors": errors,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
