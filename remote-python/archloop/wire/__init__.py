"""The wire protocol: JSON lines between `archloop attach` and the extension, and its generated JSON Schema.

Holds: `protocol` (line codec, message builders, request validation), `wire_schema.json` (generated from the zod
schemas in `src/protocol/`; never edited by hand). Imports nothing of archloop but its version numbers.
"""
