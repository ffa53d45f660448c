"""The wire protocol, backend side: the same format, limits and rejection reasons as src/protocol/ in the extension.

One UTF-8 JSON object per line, both ways (docs/DESIGN.md, "The wire protocol"). The zod schemas in src/protocol/messages.ts
are the single source of truth; `wire_schema.json` beside this file is generated from them (`npm run schema`), and
incoming messages are validated against it, so this module holds no second copy of the message shapes.

The API, smallest first:
- `PROTOCOL_VERSION`, message constructors (`hello`, `event`, `stream`, `response_ok`, `response_error`, `log`) and
  `encode(message) -> bytes` for what the backend sends;
- `LineDecoder`: bytes in arbitrary chunks -> complete lines, with a byte cap that drops an over-long line unbuffered;
- `decode_client_message(line)` (and `decode_line(line, direction)`): one line -> a validated message dict, a
  `Rejection` with a reason and an error code for the reply (`bad_request` / `unknown_method`), or None for a blank line;
- `check_hello(message)`: None when the peer's hello matches, else a sentence naming both versions;
- `validation_errors(message, direction)`: what is wrong with a message we are about to send (tests, debug checks).
Nothing here raises on bad input from the wire; constructors raise ValueError on a programming error (unknown kind).

One module though over 400 lines: the codec, the limits and the message builders mirror src/protocol/ one to one.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypedDict

import jsonschema

from archloop import PROTOCOL_VERSION, __version__

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "EVENT_KINDS",
    "PROTOCOL_VERSION",
    "REQUEST_METHODS",
    "Line",
    "LineDecoder",
    "Rejection",
    "check_hello",
    "decode_client_message",
    "decode_line",
    "encode",
    "event",
    "hello",
    "log",
    "response_error",
    "response_ok",
    "stream",
    "validation_errors",
]

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
PREVIEW_BYTES = 120
SCHEMA_PATH = Path(__file__).with_name("wire_schema.json")

Direction = Literal["client", "server"]
"""Who sent the message: "client" (the extension: hello, request) or "server" (this backend: everything else)."""
RejectionReason = Literal[
    "line_too_long",
    "invalid_utf8",
    "invalid_json",
    "not_an_object",
    "forbidden_key",
    "unknown_type",
    "unknown_kind",
    "unknown_method",
    "invalid_message",
    "internal",
]
ErrorCode = Literal["bad_request", "unknown_method", "not_found", "conflict", "unavailable", "timeout", "internal"]
EventKind = Literal[
    "run.created",
    "cycle.started",
    "candidate.started",
    "candidate.generated",
    "candidate.validated",
    "candidate.novelty",
    "candidate.evaluated",
    "candidate.verdict",
    "candidate.annotated",
    "cycle.selected",
    "finetune.progress",
    "finetune.done",
    "cycle.finished",
    "run.finished",
    "run.error",
    "run.paused",
    "run.resumed",
    "run.target_changed",
    "run.stop_requested",
    "adapter.kept",
    "adapter.deleted",
    "recheck.queued",
    "recheck.cancelled",
    "candidate.rechecked",
]
Method = Literal[
    "run.start",
    "run.stop",
    "run.pause",
    "run.resume",
    "cycle.run",
    "candidate.verdict",
    "candidate.annotate",
    "run.status",
    "runs.list",
    "adapter.keep",
    "candidate.submit",
    "candidate.recheck",
    "recheck.cancel",
]
# The schema is the authority; tests check that these tuples list exactly its kinds and methods.
EVENT_KINDS: tuple[str, ...] = EventKind.__args__  # type: ignore[attr-defined]
REQUEST_METHODS: tuple[str, ...] = Method.__args__  # type: ignore[attr-defined]
ERROR_CODES: tuple[str, ...] = ErrorCode.__args__  # type: ignore[attr-defined]
LOG_LEVELS = ("debug", "info", "warn", "error")

RequestId = int | str


# ---- the messages (plain dicts on the wire; TypedDicts for the type checker) -----------------------------------------


class HelloMessage(TypedDict, total=False):
    type: Literal["hello"]
    protocol: int
    role: Literal["client", "server"]
    software: str
    run: str


class EventMessage(TypedDict):
    type: Literal["event"]
    seq: int
    run: str
    ts: float
    kind: EventKind
    data: dict[str, Any]


class StreamMessage(TypedDict):
    type: Literal["stream"]
    run: str
    cycle: int
    candidate: str
    offset: int
    delta: str
    done: bool


class ErrorBody(TypedDict):
    code: ErrorCode
    message: str


class OkResponseMessage(TypedDict):
    type: Literal["response"]
    id: RequestId
    ok: Literal[True]
    result: Any


class ErrorResponseMessage(TypedDict):
    type: Literal["response"]
    id: RequestId
    ok: Literal[False]
    error: ErrorBody


class LogMessage(TypedDict, total=False):
    type: Literal["log"]
    level: Literal["debug", "info", "warn", "error"]
    message: str
    ts: float
    source: str


class RequestMessage(TypedDict):
    type: Literal["request"]
    id: RequestId
    method: Method
    params: dict[str, Any]


ServerMessage = HelloMessage | EventMessage | StreamMessage | OkResponseMessage | ErrorResponseMessage | LogMessage
ClientMessage = HelloMessage | RequestMessage


def hello(
    role: Literal["client", "server"] = "server", software: str | None = None, run: str | None = None
) -> HelloMessage:
    """The first message each way. `software` defaults to this package's name and version."""
    message: HelloMessage = {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "role": role,
        "software": software if software is not None else f"archloop {__version__}",
    }
    if run is not None:
        message["run"] = run
    return message


def event(seq: int, run: str, ts: float, kind: EventKind, data: dict[str, Any]) -> EventMessage:
    """A persistent event as the store numbered it. Raises ValueError for an unknown kind or a seq below 1."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}; known: {', '.join(EVENT_KINDS)}")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f"event seq must be an integer >= 1, got {seq!r}")
    return {"type": "event", "seq": seq, "run": run, "ts": ts, "kind": kind, "data": data}


def stream(run: str, cycle: int, candidate: str, offset: int, delta: str, done: bool = False) -> StreamMessage:
    """An ephemeral token delta; `offset` is where `delta` starts in the candidate's text so far."""
    return {
        "type": "stream",
        "run": run,
        "cycle": cycle,
        "candidate": candidate,
        "offset": offset,
        "delta": delta,
        "done": done,
    }


def response_ok(request_id: RequestId, result: Any = None) -> OkResponseMessage:
    """The success answer to request `request_id`."""
    return {"type": "response", "id": request_id, "ok": True, "result": result}


def response_error(request_id: RequestId, code: ErrorCode, message: str) -> ErrorResponseMessage:
    """The failure answer to request `request_id`. Raises ValueError for a code the protocol does not know."""
    if code not in ERROR_CODES:
        raise ValueError(f"unknown error code {code!r}; known: {', '.join(ERROR_CODES)}")
    return {"type": "response", "id": request_id, "ok": False, "error": {"code": code, "message": message}}


def log(
    level: Literal["debug", "info", "warn", "error"], message: str, ts: float, source: str | None = None
) -> LogMessage:
    """A log line for the extension's output channel. Raises ValueError for an unknown level."""
    if level not in LOG_LEVELS:
        raise ValueError(f"unknown log level {level!r}; known: {', '.join(LOG_LEVELS)}")
    entry: LogMessage = {"type": "log", "level": level, "message": message, "ts": ts}
    if source is not None:
        entry["source"] = source
    return entry


# ---- encoding ---------------------------------------------------------------------------------------------------------


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def encode(message: Any) -> bytes:
    """One message as one line: compact JSON, UTF-8, '\\n'.

    JSON has no NaN or infinity, and the schemas say "unknown" with null, so a non-finite float (a diverged loss)
    becomes null rather than an exception in the daemon. A lone surrogate in a string becomes '?'. Raises TypeError
    only for values JSON cannot hold at all (a programming error).
    """
    try:
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(message), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8", errors="replace") + b"\n"


# ---- framing ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One complete line without its '\\n' (a trailing '\\r' is kept; decode_line strips it)."""

    data: bytes
    line_number: int


@dataclass(frozen=True)
class Rejection:
    """Why a received line was dropped. `reason` uses the extension's vocabulary (src/protocol/rejection.ts)."""

    reason: RejectionReason
    detail: str
    preview: str
    line_number: int
    size: int
    request_id: RequestId | None = None
    """The id of a malformed request, when it could be read: the daemon answers it with `error_code`."""

    @property
    def error_code(self) -> ErrorCode:
        """The wire error code for the reply to a rejected request."""
        return "unknown_method" if self.reason == "unknown_method" else "bad_request"


def _preview(data: bytes) -> str:
    # A multi-byte character cut at the edge is dropped rather than shown as a replacement character.
    return data[:PREVIEW_BYTES].decode("utf-8", errors="replace").removesuffix("\ufffd")


@dataclass
class LineDecoder:
    """Splits a byte stream into lines. Feed chunks with any boundaries (inside multi-byte characters too: '\\n' never
    occurs inside a UTF-8 sequence, so lines are split as bytes and decoded whole).

    A line longer than `max_line_bytes` yields one `line_too_long` Rejection as soon as the cap is passed; its remaining
    bytes are dropped as they arrive (never buffered) and framing resumes after the next '\\n'. Never raises.
    """

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    _parts: list[bytes] = field(default_factory=list, repr=False)
    _pending: int = field(default=0, repr=False)
    _discarding: bool = field(default=False, repr=False)
    _line_number: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be >= 1, got {self.max_line_bytes}")

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Line | Rejection]:
        """Returns the lines (and rejections) this chunk completed, in stream order."""
        data = bytes(chunk)
        out: list[Line | Rejection] = []
        start = 0
        while start < len(data):
            newline = data.find(b"\n", start)
            end = len(data) if newline == -1 else newline
            piece = data[start:end]
            if self._discarding:
                pass  # inside an over-long line: drop
            elif self._pending + len(piece) > self.max_line_bytes:
                out.append(self._overflow(piece))
            elif newline != -1:
                out.append(self._complete(piece))
            else:
                self._parts.append(piece)
                self._pending += len(piece)
            if newline == -1:
                break
            self._discarding = False
            self._parts = []
            self._pending = 0
            start = newline + 1
        return out

    def end(self) -> list[Line | Rejection]:
        """Ends the stream: a last line without '\\n' is returned as a line."""
        out: list[Line | Rejection] = []
        if not self._discarding and self._pending > 0:
            out.append(self._complete(b""))
        self._parts, self._pending, self._discarding = [], 0, False
        return out

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for an unfinished line (never more than the cap)."""
        return self._pending

    def _complete(self, tail: bytes) -> Line:
        self._line_number += 1
        data = b"".join([*self._parts, tail]) if self._parts else tail
        self._parts = []
        return Line(data, self._line_number)

    def _overflow(self, piece: bytes) -> Rejection:
        self._line_number += 1
        # Only the first bytes are shown: join just enough of the (up to cap-sized) pending parts for the preview.
        head = b""
        for part in [*self._parts, piece]:
            if len(head) >= PREVIEW_BYTES:
                break
            head += part[: PREVIEW_BYTES - len(head)]
        seen = self._pending + len(piece)
        self._parts, self._pending, self._discarding = [], 0, True
        return Rejection(
            "line_too_long",
            f"line is longer than the {self.max_line_bytes}-byte cap; dropped up to the next newline",
            _preview(head),
            self._line_number,
            seen,
        )


# ---- validation against the generated schema --------------------------------------------------------------------------

_FORBIDDEN_KEYS = frozenset({"__proto__", "constructor", "prototype"})
_TAG_REASONS: dict[str, RejectionReason] = {"type": "unknown_type", "kind": "unknown_kind", "method": "unknown_method"}
_TAG_FIELDS = ("type", "kind", "method", "ok")


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    """`pattern` with JavaScript's meaning of '$' (end of string): Python's '$' also matches before a final '\\n', which
    would let an id like "run\\n" through here that zod rejects."""
    if isinstance(instance, str) and not re.search(re.sub(r"(?<!\\)\$$", r"\\Z", pattern), instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_StrictValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})


@dataclass(frozen=True)
class _Switch:
    """Dispatch on one discriminator field (type, then kind/method/ok) down to the one object schema to check."""

    field: str
    cases: dict[tuple[bool, Any], _Switch | Any]  # _case_key(value) -> _Switch or a compiled validator


def _case_key(value: Any) -> tuple[bool, Any] | None:
    # bool is an int in Python (True == 1): keying by (is_bool, value) keeps `"ok": 1` from matching `"ok": true`.
    if isinstance(value, (str, int, float, bool)):
        return (isinstance(value, bool), value)
    return None


def _leaves(schema: dict[str, Any]) -> list[dict[str, Any]]:
    if "oneOf" in schema:
        return [leaf for option in schema["oneOf"] for leaf in _leaves(option)]
    return [schema]


def _tag(leaf: dict[str, Any], name: str) -> tuple[bool, Any]:
    prop = leaf.get("properties", {}).get(name)
    return (True, prop["const"]) if isinstance(prop, dict) and "const" in prop else (False, None)


def _build_dispatch(leaves: list[dict[str, Any]]) -> _Switch | Any:
    if len(leaves) == 1:
        return _StrictValidator(leaves[0])
    for name in _TAG_FIELDS:
        tags = [_tag(leaf, name) for leaf in leaves]
        if all(has for has, _ in tags) and len({repr(value) for _, value in tags}) > 1:
            groups: dict[Any, list[dict[str, Any]]] = {}
            for leaf, (_, value) in zip(leaves, tags, strict=True):
                groups.setdefault(value, []).append(leaf)
            return _Switch(name, {(isinstance(v, bool), v): _build_dispatch(group) for v, group in groups.items()})
    return _StrictValidator({"oneOf": leaves})  # no tag separates them: let the validator decide


@cache
def _dispatch(direction: Direction) -> _Switch | Any:
    # Read once per process: the schema file is part of the installed package and never changes while running.
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    message_schema = schema["$defs"]["ServerMessage" if direction == "server" else "ClientMessage"]
    return _build_dispatch(_leaves(message_schema))


def _find_forbidden_key(root: Any) -> str | None:
    # Iterative: JSON can nest deeper than Python's recursion limit.
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                key_path = key if path == "" else f"{path}.{key}"
                if key in _FORBIDDEN_KEYS:
                    return key_path
                stack.append((item, key_path))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{index}]") for index, item in reversed(list(enumerate(value))))
    return None


def _request_id(message: dict[str, Any]) -> RequestId | None:
    value = message.get("id")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and 1 <= len(value) <= 64:
        return value
    return None


def _format_path(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(message)"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _select(message: dict[str, Any], direction: Direction) -> Any | tuple[RejectionReason, str]:
    """The compiled validator for this message's tags, or why no message of `direction` has such tags."""
    node = _dispatch(direction)
    while isinstance(node, _Switch):
        tag = message.get(node.field)
        key = _case_key(tag)
        found = node.cases.get(key) if key is not None else None
        if found is None:
            if node.field not in message:
                return ("invalid_message", f"{node.field}: missing")
            expected = ", ".join(
                json.dumps(value) if isinstance(value, bool) else str(value) for _, value in node.cases
            )
            reason = _TAG_REASONS.get(node.field)
            if reason is not None and isinstance(tag, str):
                return (reason, f"unknown {node.field} {json.dumps(tag[:64])}; expected one of {expected}")
            return ("invalid_message", f"{node.field}: expected one of {expected}, got {json.dumps(tag)[:64]}")
        node = found
    return node


def _schema_errors(validator: Any, message: dict[str, Any]) -> list[str]:
    errors = sorted(validator.iter_errors(message), key=lambda error: [str(part) for part in error.absolute_path])
    return [f"{_format_path(error.absolute_path)}: {_explain(error)[:300]}" for error in errors]


def _explain(error: jsonschema.ValidationError) -> str:
    # "not valid under any of the given schemas" says little: name what each option (number, null, ...) objected to.
    if error.context:
        return " or ".join(dict.fromkeys(option.message for option in error.context))
    return error.message


def validation_errors(message: Any, direction: Direction) -> list[str]:
    """What is wrong with `message` against the wire schema ("path: problem" each); empty when it is valid.

    The same dispatch and checks as decode_line, without the JSON text: for checking what the backend is about to send.
    """
    if not isinstance(message, dict):
        return [f"(message): a message must be a JSON object, got {type(message).__name__}"]
    forbidden = _find_forbidden_key(message)
    if forbidden is not None:
        return [f"{forbidden}: forbidden key"]
    selected = _select(message, direction)
    if isinstance(selected, tuple):
        return [selected[1]]
    return _schema_errors(selected, message)


def decode_line(line: bytes | str, direction: Direction, line_number: int = 1) -> dict[str, Any] | Rejection | None:
    """Decodes one line (without its '\\n') sent by `direction`. Returns the message dict, a Rejection, or None for a
    blank line. Never raises: the checks run cheapest first and any surprise becomes an `internal` Rejection."""
    data = line.encode("utf-8", errors="surrogatepass") if isinstance(line, str) else bytes(line)

    def reject(reason: RejectionReason, detail: str, request_id: RequestId | None = None) -> Rejection:
        return Rejection(reason, detail, _preview(data), line_number, len(data), request_id)

    try:
        try:
            text = data.removesuffix(b"\r").decode("utf-8")
        except UnicodeDecodeError:
            return reject("invalid_utf8", "line is not valid UTF-8")
        if not text.strip():
            return None
        try:
            # parse_constant: Python would accept NaN and Infinity; JSON (and the extension's JSON.parse) do not.
            value = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            return reject("invalid_json", "not JSON: nested too deeply")
        except ValueError as error:
            return reject("invalid_json", f"not JSON: {error}")
        if not isinstance(value, dict):
            got = "null" if value is None else "an array" if isinstance(value, list) else type(value).__name__
            return reject("not_an_object", f"a message must be a JSON object, got {got}")
        forbidden = _find_forbidden_key(value)
        if forbidden is not None:
            return reject("forbidden_key", f"forbidden key at {forbidden}")
        request_id = _request_id(value) if value.get("type") in ("request", "response") else None
        selected = _select(value, direction)
        if isinstance(selected, tuple):
            return reject(selected[0], selected[1], request_id)
        errors = _schema_errors(selected, value)
        if errors:
            more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
            return reject("invalid_message", "; ".join(errors[:3]) + more, request_id)
        return value
    except Exception as error:  # a bug here must not take the daemon down with it
        return reject("internal", f"decoder error (a bug, please report): {error!r}")


def decode_client_message(line: bytes | str, line_number: int = 1) -> ClientMessage | Rejection | None:
    """Decodes one line from the extension: a valid hello or request, a Rejection (answer a rejected request with
    `response_error(rejection.request_id, rejection.error_code, rejection.detail)` when its id is known), or None
    for a blank line. Never raises."""
    return decode_line(line, "client", line_number)  # type: ignore[return-value]


def check_hello(message: Any, expected_version: int = PROTOCOL_VERSION, expected_role: str = "client") -> str | None:
    """None when `message` is a hello from the expected side speaking `expected_version`; otherwise a sentence for
    the user that names both versions and what to do. Never raises."""
    if not isinstance(message, dict) or message.get("type") != "hello" or not isinstance(message.get("protocol"), int):
        got = (
            f'a "{message["type"]}" message'
            if isinstance(message, dict) and isinstance(message.get("type"), str)
            else "something else"
        )
        return f"the extension did not start with a hello (got {got}): it is not an ArchLoop client, or one too old"
    if message.get("role") != expected_role:
        return f"the peer says it is a {message.get('role')!r}, expected a {expected_role!r}: the ends are connected the wrong way round"
    peer = message["protocol"]
    if peer != expected_version:
        return (
            f"extension speaks protocol {peer}, this backend speaks {expected_version}: "
            "redeploy the backend from the extension so both ends match"
        )
    return None
