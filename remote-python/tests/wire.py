"""Validate what the backend sends against the generated wire schema (archloop/wire/wire_schema.json)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "archloop" / "wire" / "wire_schema.json"


@cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    root = {**schema, "$ref": f"#/$defs/{kind}"}
    cls = jsonschema.validators.validator_for(root)
    return cls(root)


def assert_server_message(message: dict[str, Any]) -> None:
    errors = sorted(_validator("ServerMessage").iter_errors(message), key=lambda e: e.path)
    assert not errors, f"{message!r} violates the wire schema: {errors[0].message}"


def assert_client_message(message: dict[str, Any]) -> None:
    errors = sorted(_validator("ClientMessage").iter_errors(message), key=lambda e: e.path)
    assert not errors, f"{message!r} violates the wire schema: {errors[0].message}"
