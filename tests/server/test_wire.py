"""The JSON-RPC envelope check (server/wire.py): a request is read as the SDK's own parser reads it."""

from __future__ import annotations

import json
from typing import Any

import mcp.types as types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from promptshelf.server.wire import Ignored, Refusal, read_message

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
ENVELOPE_KEYS = ("jsonrpc", "id", "method", "params", "result", "error")
ENVELOPE_VALUES = st.one_of(
    JSON_VALUES,
    st.just("2.0"),
    st.sampled_from(["prompts/get", "notifications/initialized", ""]),
    st.dictionaries(st.sampled_from(["name", "_meta", "code", "message", "data"]), JSON_VALUES, max_size=3),
    st.fixed_dictionaries({"code": st.integers(), "message": st.text(max_size=5)}),
)
MESSAGES = st.dictionaries(st.sampled_from(ENVELOPE_KEYS), ENVELOPE_VALUES, max_size=6)


def sdk_reading(data: bytes) -> Any:
    """What the SDK's own parser makes of ``data``: a message, or the error it raises."""
    try:
        return types.jsonrpc_message_adapter.validate_json(data, by_name=False)
    except ValidationError:
        return ValidationError


def spelled(message: dict[str, Any], how: str) -> bytes:
    """``message`` as JSON: as Python writes it, with raw UTF-8, or with its keys' first letter escaped."""
    if how == "escaped keys":
        return (
            "{"
            + ",".join(
                f'"\\u{ord(key[0]):04x}{key[1:]}":{json.dumps(value)}' for key, value in message.items()
            )
            + "}"
        ).encode()
    return json.dumps(message, ensure_ascii=how == "ascii").encode()


@settings(max_examples=3000, deadline=None)
@given(MESSAGES, st.sampled_from(["ascii", "utf-8", "escaped keys"]))
def test_a_message_the_sdk_reads_as_a_request_is_the_same_request_here(
    message: dict[str, Any], how: str
) -> None:
    data = spelled(message, how)
    theirs, ours = sdk_reading(data), read_message(data)
    if isinstance(theirs, types.JSONRPCRequest) or isinstance(ours, types.JSONRPCRequest):
        assert type(ours) is type(theirs) and ours == theirs


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": 1, "method": "m", "result": {}},
        {"jsonrpc": "2.0", "id": 1, "method": "m", "params": {}, "result": {}},
        {"jsonrpc": "2.0", "id": "a", "method": "m", "error": {"code": 1, "message": "x"}},
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "m",
            "params": {},
            "result": {},
            "error": {"code": 1, "message": ""},
        },
        {"jsonrpc": "2.0", "id": 1, "method": "m", "params": None},
    ],
    ids=["and a result", "params and a result", "and an error", "everything", "null params"],
)
@pytest.mark.parametrize("how", ["ascii", "escaped keys"])
def test_a_message_that_fits_a_request_and_another_member_is_read_as_the_union_reads_it(
    message: dict[str, Any], how: str
) -> None:
    data = spelled(message, how)
    theirs, ours = sdk_reading(data), read_message(data)
    assert type(ours) is type(theirs) and ours == theirs


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"jsonrpc": "2.0", "method": "notifications/initialized"}, types.JSONRPCNotification),
        ({"jsonrpc": "2.0", "id": 1, "result": {}}, types.JSONRPCResponse),
        ({"jsonrpc": "2.0", "id": True, "method": "m"}, Refusal),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "m"}, Refusal),
        ({"jsonrpc": "1.0", "id": 1, "method": "m"}, Refusal),
        ({"jsonrpc": "2.0", "id": 1, "result": 5}, Ignored),
    ],
    ids=["notification", "response", "boolean id", "fractional id", "old version", "malformed response"],
)
def test_what_is_not_a_request_gets_the_unions_reading_or_a_refusal(
    message: dict[str, Any], expected: type
) -> None:
    assert isinstance(read_message(json.dumps(message).encode()), expected)
