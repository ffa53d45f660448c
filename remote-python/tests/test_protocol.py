"""The Python side of the wire protocol against the generated schema and the golden fixtures shared with the TS suite."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archloop import PROTOCOL_VERSION
from archloop.wire import protocol

FIXTURES = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "protocol"
SCHEMA = json.loads(protocol.SCHEMA_PATH.read_text(encoding="utf-8"))


def plain_validator(direction: str) -> jsonschema.Draft202012Validator:
    """A stock jsonschema validator over the whole union: independent of protocol.py's own dispatch."""
    name = "ServerMessage" if direction == "server" else "ClientMessage"
    return jsonschema.Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{name}"})


SERVER = plain_validator("server")
CLIENT = plain_validator("client")


def fixture_lines(name: str) -> list[bytes]:
    return [line for line in (FIXTURES / name).read_bytes().split(b"\n") if line]


def invalid_fixtures() -> list[dict[str, Any]]:
    return [json.loads(line) for line in fixture_lines("invalid.jsonl")]


def wire_round_trip(message: Any) -> Any:
    data = protocol.encode(message)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    return json.loads(data)


# ---- golden fixtures ---------------------------------------------------------------------------------------------


def test_golden_server_lines_are_valid_and_decode_to_their_json() -> None:
    for line in fixture_lines("server.jsonl"):
        message = json.loads(line)
        assert SERVER.is_valid(message), line[:80]
        assert protocol.decode_line(line, "server") == message
        assert protocol.validation_errors(message, "server") == []


def test_golden_client_lines_decode_as_client_messages_and_encode_back_byte_for_byte() -> None:
    for line in fixture_lines("client.jsonl"):
        decoded = protocol.decode_client_message(line)
        assert decoded == json.loads(line), line
        assert CLIENT.is_valid(decoded)
        assert protocol.encode(decoded) == line + b"\n"


@pytest.mark.parametrize("fixture", invalid_fixtures(), ids=lambda fixture: fixture["name"])
def test_golden_invalid_line_is_rejected_with_the_extensions_reason_and_the_stream_goes_on(
    fixture: dict[str, Any],
) -> None:
    raw = base64.b64decode(fixture["lineBase64"]) if "lineBase64" in fixture else fixture["line"].encode("utf-8")
    valid_after = (
        b'{"type":"log","level":"info","message":"m","ts":1}'
        if fixture["direction"] == "server"
        else b'{"type":"request","id":1,"method":"run.stop","params":{}}'
    )
    decoder = protocol.LineDecoder(fixture.get("maxLineBytes", protocol.DEFAULT_MAX_LINE_BYTES))
    frames = decoder.feed(raw + b"\n" + valid_after + b"\n") + decoder.end()
    results = [
        frame
        if isinstance(frame, protocol.Rejection)
        else protocol.decode_line(frame.data, fixture["direction"], frame.line_number)
        for frame in frames
    ]
    assert len(results) == 2
    rejection, after = results
    assert isinstance(rejection, protocol.Rejection), f"{fixture['name']} was accepted"
    assert rejection.reason == fixture["reason"], rejection.detail
    assert rejection.detail and rejection.line_number == 1
    assert len(rejection.preview) <= protocol.PREVIEW_BYTES
    assert isinstance(after, dict)


def test_the_python_lists_of_kinds_methods_and_codes_are_exactly_the_schemas() -> None:
    def consts(schema: Any, name: str) -> set[Any]:
        found: set[Any] = set()
        if isinstance(schema, dict):
            prop = schema.get("properties", {}).get(name)
            if isinstance(prop, dict) and "const" in prop:
                found.add(prop["const"])
            for value in schema.values():
                found |= consts(value, name)
        elif isinstance(schema, list):
            for value in schema:
                found |= consts(value, name)
        return found

    assert set(protocol.EVENT_KINDS) == consts(SCHEMA["$defs"]["ServerMessage"], "kind")
    assert set(protocol.REQUEST_METHODS) == consts(SCHEMA["$defs"]["ClientMessage"], "method")
    error_response = next(
        o for o in SCHEMA["$defs"]["ServerMessage"]["oneOf"][3]["oneOf"] if "error" in o["properties"]
    )
    assert set(protocol.ERROR_CODES) == set(error_response["properties"]["error"]["properties"]["code"]["enum"])
    assert SCHEMA["protocolVersion"] == PROTOCOL_VERSION == protocol.PROTOCOL_VERSION


# ---- what the backend produces validates against the schema -------------------------------------------------------

ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,30}\Z")
texts = st.text(max_size=200)
counts = st.integers(min_value=0, max_value=2**40)
seconds = st.floats(min_value=0, max_value=1e7, allow_nan=False)
request_ids = st.one_of(st.integers(min_value=0, max_value=2**53 - 1), st.text(min_size=1, max_size=64))


@settings(max_examples=15, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**53 - 1),
    run=ids,
    ts=seconds,
    cycle=st.integers(0, 100_000),
    candidate=ids,
    code=st.text(max_size=3000),
    tokens=counts,
)
def test_events_built_with_the_constructor_validate(
    seq: int, run: str, ts: float, cycle: int, candidate: str, code: str, tokens: int
) -> None:
    for kind, data in [
        (
            "candidate.generated",
            {"cycle": cycle, "candidate": candidate, "code": code, "attempts": 1, "tokens": tokens, "seconds": ts},
        ),
        ("candidate.started", {"cycle": cycle, "candidate": candidate, "index": tokens}),
        ("finetune.progress", {"cycle": cycle, "step": tokens, "total": tokens, "loss": math.nan, "etaSeconds": None}),
        ("run.error", {"message": code[:100], "stage": None, "fatal": False}),
    ]:
        message = wire_round_trip(protocol.event(seq, run, ts, kind, data))  # type: ignore[arg-type]
        assert SERVER.is_valid(message), list(SERVER.iter_errors(message))[:1]


@settings(max_examples=15, deadline=None)
@given(
    run=ids,
    cycle=st.integers(0, 100_000),
    candidate=ids,
    offset=counts,
    delta=st.text(max_size=500),
    done=st.booleans(),
    request_id=request_ids,
    message=texts,
    ts=seconds,
    result=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    ),
)
def test_streams_responses_logs_and_hellos_built_with_the_constructors_validate(
    run: str,
    cycle: int,
    candidate: str,
    offset: int,
    delta: str,
    done: bool,
    request_id: int | str,
    message: str,
    ts: float,
    result: Any,
) -> None:
    produced = [
        protocol.stream(run, cycle, candidate, offset, delta, done),
        protocol.response_ok(request_id, result),
        protocol.response_error(request_id, "not_found", message),
        protocol.log("warn", message, ts, source="daemon"),
        protocol.log("debug", message, ts),
        protocol.hello(run=run),
        protocol.hello(),
    ]
    for item in produced:
        assert SERVER.is_valid(wire_round_trip(item)), (item, list(SERVER.iter_errors(wire_round_trip(item)))[:1])


def test_encode_is_compact_utf8_and_turns_non_finite_floats_into_null() -> None:
    data = protocol.encode(protocol.log("info", "精度 🚀 \u2028 line\nbreak", 1.5))
    assert data == '{"type":"log","level":"info","message":"精度 🚀 \u2028 line\\nbreak","ts":1.5}\n'.encode()
    progress = protocol.event(
        3, "r1", 1, "finetune.progress", {"cycle": 1, "step": 2, "total": 3, "loss": math.inf, "etaSeconds": -math.nan}
    )
    assert json.loads(protocol.encode(progress))["data"]["loss"] is None
    assert protocol.encode({"type": "log", "message": "\ud800"}).decode("utf-8")  # a lone surrogate cannot break UTF-8


def test_constructors_refuse_what_the_protocol_does_not_know() -> None:
    with pytest.raises(ValueError, match="unknown event kind 'candidate.exploded'"):
        protocol.event(1, "r1", 0, "candidate.exploded", {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seq must be an integer >= 1"):
        protocol.event(0, "r1", 0, "run.finished", {"reason": "completed", "cycles": 1})
    with pytest.raises(ValueError, match="unknown error code"):
        protocol.response_error(1, "oops", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown log level"):
        protocol.log("fatal", "x", 0)  # type: ignore[arg-type]


def test_validation_errors_name_the_field_and_catch_what_the_constructors_let_through() -> None:
    bad = protocol.event(
        1, "r1", 0, "candidate.evaluated", {"cycle": 1, "candidate": "c1", "outcome": "ok", "accuracy": 140.0}
    )
    errors = protocol.validation_errors(bad, "server")
    assert any(error.startswith("data.accuracy: 140.0 is greater than the maximum of 100") for error in errors), errors
    assert any("required property" in error for error in errors)
    assert protocol.validation_errors({"type": "request", "id": 1, "method": "run.stop", "params": {}}, "server") == [
        'unknown type "request"; expected one of hello, event, stream, response, log'
    ]


# ---- requests: what the daemon gets and how it answers ----------------------------------------------------------


def test_a_bad_request_is_answered_with_its_id_and_the_right_error_code() -> None:
    unknown = protocol.decode_client_message(b'{"type":"request","id":"r-9","method":"run.explode","params":{}}')
    assert isinstance(unknown, protocol.Rejection)
    assert (unknown.request_id, unknown.error_code) == ("r-9", "unknown_method")
    bad = protocol.decode_client_message('{"type":"request","id":4,"method":"cycle.run","params":{"count":"many"}}')
    assert isinstance(bad, protocol.Rejection)
    assert (bad.request_id, bad.error_code, bad.reason) == (4, "bad_request", "invalid_message")
    assert "params.count" in bad.detail
    reply = protocol.response_error(bad.request_id, bad.error_code, bad.detail)
    assert SERVER.is_valid(wire_round_trip(reply))
    no_id = protocol.decode_client_message(b'{"type":"request","id":true,"method":"run.stop","params":{}}')
    assert (
        isinstance(no_id, protocol.Rejection) and no_id.request_id is None
    )  # true is not an id, even though True == 1


def test_ids_with_a_trailing_newline_are_refused_as_the_extension_would() -> None:
    # Python's re '$' matches before a final newline; the protocol uses JavaScript's meaning.
    line = json.dumps(
        {"type": "request", "id": 1, "method": "candidate.verdict", "params": {"candidate": "c1\n", "verdict": None}}
    )
    rejection = protocol.decode_client_message(line)
    assert isinstance(rejection, protocol.Rejection) and "params.candidate" in rejection.detail


def test_blank_lines_crlf_and_deep_nesting_are_handled_without_raising() -> None:
    assert protocol.decode_client_message(b"   ") is None
    assert protocol.decode_client_message(b'{"type":"request","id":1,"method":"run.status","params":{}}\r') is not None
    deep = protocol.decode_client_message(b"[" * 200_000 + b"]" * 200_000)
    assert isinstance(deep, protocol.Rejection) and deep.reason in ("invalid_json", "not_an_object")
    deep_object = (
        b'{"type":"request","id":1,"method":"runs.list","params":{"root":'
        + b'{"a":' * 50_000
        + b"1"
        + b"}" * 50_001
        + b"}"
    )
    rejection = protocol.decode_client_message(deep_object)
    assert isinstance(rejection, protocol.Rejection) and rejection.reason in ("invalid_json", "invalid_message")


def test_a_bool_is_not_taken_for_a_number_when_dispatching() -> None:
    # {"ok": 1} must not be read as {"ok": true}: Python's True == 1 would otherwise pick the ok-response schema.
    rejection = protocol.decode_line(b'{"type":"response","id":1,"ok":1,"result":null}', "server")
    assert isinstance(rejection, protocol.Rejection) and rejection.detail.startswith("ok: expected one of true, false")


# ---- hello --------------------------------------------------------------------------------------------------------


def test_check_hello_accepts_a_matching_client_and_names_both_versions_on_mismatch() -> None:
    assert protocol.check_hello(protocol.hello(role="client")) is None
    newer = protocol.check_hello({**protocol.hello(role="client"), "protocol": PROTOCOL_VERSION + 1})
    assert newer == (
        f"extension speaks protocol {PROTOCOL_VERSION + 1}, this backend speaks {PROTOCOL_VERSION}: "
        "redeploy the backend from the extension so both ends match"
    )
    assert 'did not start with a hello (got a "request" message)' in (protocol.check_hello({"type": "request"}) or "")
    assert "wrong way round" in (protocol.check_hello(protocol.hello(role="server")) or "")
    for junk in (None, 3, "hello", [], {}):
        assert protocol.check_hello(junk) is not None
