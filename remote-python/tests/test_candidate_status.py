"""The run store's candidate statuses are the wire schema's CandidateStatus: one vocabulary, defined in messages.ts."""

from __future__ import annotations

import json

from archloop.run import records as store
from archloop.wire import protocol


def test_store_statuses_equal_the_schema_enum_in_order() -> None:
    schema = json.loads(protocol.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert "CandidateStatus" in schema["$defs"], "regenerate wire_schema.json with `npm run schema`"
    # Order matters too: it is the order of the steps, and both sides list them that way.
    assert list(store.CANDIDATE_STATUSES) == schema["$defs"]["CandidateStatus"]["enum"]

