"""JSON-RPC 2.0 envelope checks shared by both transports: every message the SDK cannot take gets an answer.

The SDK's parser either drops what it cannot read (stdio: the client waits forever) or answers with a
pydantic dump under the wrong code (HTTP). ``read_message`` parses one message and, when it is not a
valid request or notification, builds the error JSON-RPC 2.0 asks for: ``-32700`` when the bytes are not
JSON, ``-32600`` when the JSON is not a valid request, each with the request's id when it can be read
(``null`` otherwise) and a message naming the problem.

Valid messages take the SDK's own parser (one pass over the bytes); the diagnosis below runs only for
messages it refused, so it may be slow and thorough.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import mcp.types as types
from pydantic import ValidationError
from pydantic_core import from_json

PARSE_ERROR = -32700
INVALID_REQUEST = -32600

MAX_DEPTH = 200
"""The deepest nesting of arrays and objects (the message itself is level 1) the SDK's parser reads."""


@dataclass(frozen=True)
class Refusal:
    """A message that is not a valid request or notification, and the error to answer it with."""

    code: int
    message: str
    id: str | int | None = None

    def reply(self) -> types.JSONRPCError:
        return types.JSONRPCError(
            jsonrpc="2.0", id=self.id, error=types.ErrorData(code=self.code, message=self.message)
        )

    def reply_json(self) -> bytes:
        return self.reply().model_dump_json(by_alias=True, exclude_unset=True).encode()


@dataclass(frozen=True)
class Ignored:
    """A malformed *response* (an object with ``result`` or ``error`` and no ``method``): JSON-RPC never
    answers a response, so it is logged and dropped."""

    reason: str


def read_message(data: bytes | bytearray) -> types.JSONRPCMessage | Refusal | Ignored:
    """One JSON-RPC message from ``data`` (UTF-8 JSON), or why it is refused."""
    if b'"error"' not in data and b"\\u" not in data:
        # Nearly every message is a request, and one model costs half of the SDK's union of four. The
        # union (smart mode) takes the member that sets the most fields, counting those of nested
        # models, and the first on a tie: only an error member, with its ErrorData, can outnumber a
        # request, and it needs an "error" key, which without a \u escape can only be spelled as
        # these bytes. So what validates as a request here is the union's request (tests/server/
        # test_wire.py checks it against the union).
        try:
            return types.JSONRPCRequest.model_validate_json(data, by_name=False)
        except ValidationError:
            pass
    try:
        message = types.jsonrpc_message_adapter.validate_json(data, by_name=False)
    except ValidationError:
        return diagnose(data)
    # The SDK's parser reads an object whose "id" is not a string or an integer (true, 1.5, null) as a
    # notification, which is never answered: the caller would wait forever.
    if isinstance(message, types.JSONRPCNotification) and "id" in from_json(data):
        return diagnose(data)
    return message


def diagnose(data: bytes | bytearray) -> Refusal | Ignored:
    """Why ``data`` is not a valid JSON-RPC request or notification."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        return Refusal(PARSE_ERROR, f"Parse error: the message is not UTF-8 (byte {exc.start})")
    try:
        decoded = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        return Refusal(PARSE_ERROR, f"Parse error: JSON nested more than {MAX_DEPTH} levels deep")
    except ValueError as exc:
        return Refusal(PARSE_ERROR, f"Parse error: not valid JSON ({exc})")
    if isinstance(decoded, list):
        return Refusal(
            INVALID_REQUEST, "Invalid request: batches are not supported; send one message at a time"
        )
    if not isinstance(decoded, dict):
        return Refusal(
            INVALID_REQUEST, f"Invalid request: a message must be a JSON object, not {_kind(decoded)}"
        )
    request_id = _readable_id(decoded)
    problem = _envelope_problem(decoded)
    if problem is None and "method" not in decoded and ("result" in decoded or "error" in decoded):
        return Ignored("a malformed response")
    if problem is None:
        problem = _content_problem(decoded) or _sdk_problem(decoded)
    return Refusal(INVALID_REQUEST, f"Invalid request: {problem}", request_id)


def _not_json(literal: str) -> None:
    raise ValueError(f"{literal} is not a JSON value")


def _readable_id(message: dict[str, Any]) -> str | int | None:
    """The id to echo in an error; ``None`` when there is none that could be sent back (an id holding a
    lone surrogate cannot be written as UTF-8 JSON)."""
    value = message.get("id")
    if isinstance(value, str):
        return value if _lone_surrogate(value) is None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _lone_surrogate(text: str) -> str | None:
    """The first lone UTF-16 surrogate in ``text`` (JSON's escapes can spell one, UTF-8 cannot store it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def _envelope_problem(message: dict[str, Any]) -> str | None:
    if message.get("jsonrpc") != "2.0":
        return '"jsonrpc" must be "2.0"'
    if "id" in message and _readable_id(message) is None:
        if isinstance(message["id"], str):
            return '"id" holds a lone surrogate, which is not valid Unicode'
        return f'"id" must be a string or an integer, not {_kind(message["id"])}'
    if "method" not in message:
        if "result" in message or "error" in message:
            return None
        return 'a request needs a "method"'
    if not isinstance(message["method"], str):
        return f'"method" must be a string, not {_kind(message["method"])}'
    if "params" in message and not isinstance(message["params"], dict):
        return f'"params" must be an object (parameters by name), not {_kind(message["params"])}'
    return None


def _content_problem(message: dict[str, Any]) -> str | None:
    """Nesting too deep for the SDK's parser, or a string that is not Unicode (a lone surrogate, which
    JSON's escapes can spell but UTF-8 cannot store)."""
    stack: list[tuple[Any, int]] = [(message, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and (bad := _lone_surrogate(value)) is not None:
            return f"a string holds a lone surrogate (\\u{ord(bad):04x}), which is not valid Unicode"
        if depth > MAX_DEPTH:
            return f"JSON nested more than {MAX_DEPTH} levels deep"
    return None


def _sdk_problem(message: dict[str, Any]) -> str:
    """What the SDK's model refuses, in a sentence (its full validation report is for developers)."""
    try:
        types.jsonrpc_message_adapter.validate_python(message, by_name=False)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"][1:]) or "the message"
        return f"{where}: {first['msg']}"
    return "not a JSON-RPC request or notification"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
