"""Property tests of the Python line decoder: any chunking, the cap and its resynchronisation, garbage never raises."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from archloop.wire import protocol

SCHEMA = json.loads(protocol.SCHEMA_PATH.read_text(encoding="utf-8"))
# A stock validator over the whole client union, independent of protocol.py's dispatch.
CLIENT = jsonschema.Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": "#/$defs/ClientMessage"})
REASONS = set(protocol.RejectionReason.__args__)  # type: ignore[attr-defined]
LOG_AFTER = b'{"type":"log","level":"info","message":"still here","ts":7}'


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the given offsets (any positions, so also inside multi-byte UTF-8 characters)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def run_decoder(decoder: protocol.LineDecoder, chunks: list[bytes]) -> list[protocol.Line | protocol.Rejection]:
    frames: list[protocol.Line | protocol.Rejection] = []
    for chunk in chunks:
        frames += decoder.feed(chunk)
        assert decoder.buffered_bytes <= decoder.max_line_bytes  # an over-long line is never held
    return frames + decoder.end()


# Text that puts 2-, 3- and 4-byte characters, quotes, backslashes and newlines in string values.
unicode_text = st.text(alphabet=st.sampled_from(list('a é精度—🚀𝛼\n"\\\u2028')), max_size=40)
cuts = st.lists(st.integers(min_value=0, max_value=10**6), max_size=30)


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(unicode_text, min_size=1, max_size=8), cuts=cuts)
def test_messages_survive_any_chunking_including_cuts_inside_utf8_characters(texts: list[str], cuts: list[int]) -> None:
    messages = [protocol.log("info", text, index) for index, text in enumerate(texts)]
    data = b"".join(protocol.encode(message) for message in messages)
    frames = run_decoder(protocol.LineDecoder(), chunked(data, cuts))
    decoded = [protocol.decode_line(frame.data, "server") for frame in frames if isinstance(frame, protocol.Line)]
    assert decoded == [json.loads(protocol.encode(message)) for message in messages]


@st.composite
def lines_with_some_too_long(draw: st.DrawFn, cap: int) -> list[tuple[bytes, bool]]:
    items: list[tuple[bytes, bool]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        if draw(st.booleans()):
            items.append((LOG_AFTER, False))
        else:
            size = draw(st.integers(min_value=cap + 1, max_value=3 * cap))
            raw = draw(st.binary(min_size=size, max_size=size)).replace(b"\n", b" ")
            items.append((raw, True))
    return items


@settings(max_examples=80, deadline=None)
@given(data=st.data(), cuts=cuts)
def test_over_long_lines_are_rejected_once_unbuffered_and_decoding_resumes(
    data: st.DataObject, cuts: list[int]
) -> None:
    cap = 128
    items = data.draw(lines_with_some_too_long(cap))
    stream = b"".join(line + b"\n" for line, _ in items)
    frames = run_decoder(protocol.LineDecoder(cap), chunked(stream, cuts))
    assert len(frames) == len(items)
    for index, (frame, (line, too_long)) in enumerate(zip(frames, items, strict=True)):
        assert frame.line_number == index + 1
        if too_long:
            assert isinstance(frame, protocol.Rejection) and frame.reason == "line_too_long"
            assert frame.size > cap and len(frame.preview) <= protocol.PREVIEW_BYTES
        else:
            assert isinstance(frame, protocol.Line) and frame.data == line


@settings(max_examples=120, deadline=None)
@given(garbage=st.binary(max_size=400), cuts=cuts, direction=st.sampled_from(["client", "server"]))
def test_garbage_never_raises_every_line_is_classified_and_the_stream_goes_on(
    garbage: bytes, cuts: list[int], direction: Any
) -> None:
    after = LOG_AFTER if direction == "server" else b'{"type":"request","id":1,"method":"run.status","params":{}}'
    frames = run_decoder(protocol.LineDecoder(200), chunked(garbage + b"\n" + after + b"\n", cuts))
    results = [
        frame if isinstance(frame, protocol.Rejection) else protocol.decode_line(frame.data, direction)
        for frame in frames
    ]
    for result in results:
        if isinstance(result, protocol.Rejection):
            assert result.reason in REASONS and result.reason != "internal", result
            assert result.detail and len(result.preview) <= protocol.PREVIEW_BYTES
    assert results[-1] == json.loads(after)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=80, deadline=None)
@given(field=st.sampled_from(["type", "id", "method", "params", "extra"]), value=json_values)
def test_mutated_requests_are_rejected_exactly_when_the_schema_says_so(field: str, value: Any) -> None:
    """protocol.py's dispatch is only a shortcut: acceptance must equal a stock validator's verdict on the whole union."""
    message = {"type": "request", "id": 3, "method": "cycle.run", "params": {"count": 2}, field: value}
    line = json.dumps(message)
    result = protocol.decode_client_message(line)
    forbidden = protocol._find_forbidden_key(message) is not None
    assert isinstance(result, dict) == (CLIENT.is_valid(message) and not forbidden), (line, result)
    if isinstance(result, protocol.Rejection):
        assert result.reason in REASONS and result.reason != "internal"
        assert result.error_code == ("unknown_method" if result.reason == "unknown_method" else "bad_request")


@settings(max_examples=100, deadline=None)
@given(key=st.sampled_from(["__proto__", "constructor", "prototype"]), depth=st.integers(0, 3), escaped=st.booleans())
def test_forbidden_keys_are_rejected_at_any_depth_even_when_escaped(key: str, depth: int, escaped: bool) -> None:
    inner: dict[str, Any] = {"SLOT": 1}
    for _ in range(depth):
        inner = {"nested": [inner]}
    line = json.dumps({"type": "request", "id": 1, "method": "runs.list", "params": {"root": "/r", "x": inner}})
    spelled = f"\\u{ord(key[0]):04x}{key[1:]}" if escaped else key
    rejection = protocol.decode_client_message(line.replace('"SLOT"', f'"{spelled}"'))
    assert isinstance(rejection, protocol.Rejection) and rejection.reason == "forbidden_key"
    assert rejection.detail.endswith(key)
