"""A bounded adversarial campaign (issue 13), run on every test run against real server processes.

Every case is a row of a table, so a new attack (or a new limit) is one more row:

- ``MALFORMED``: messages that are not valid JSON-RPC requests, sent raw over stdio and over HTTP (in
  both protocol eras' routing). Each must be answered with the JSON-RPC 2.0 error it deserves (code, and
  the request's id when it can be read), in a sentence rather than a validation dump.
- ``REFUSED_WRITES``: write-tool calls the service must refuse, over both transports. Each must answer
  ``isError`` with the structured error code.

After every case the server must still answer (a ``ping``), and the SQLite store must be logically
identical to what it was before (``iterdump``): a refused message changes nothing.
"""

from __future__ import annotations

import json
import select
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx
import pytest

from promptshelf.server.wire import MAX_DEPTH
from tests.server.conftest import INITIALIZE, HttpServer, seed, server_env, start_http_server

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
ANSWER_WITHIN = 20.0


@dataclass(frozen=True)
class Malformed:
    """A raw message and the error it must be answered with."""

    case: str
    raw: bytes
    code: int
    id: str | int | None = None
    says: str = ""  # a fragment of the error message


def request(id: Any = 7, method: Any = "tools/list", **extra: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": method, **extra}


def raw(message: Any) -> bytes:
    return json.dumps(message).encode()


def create_call(**arguments: Any) -> dict[str, Any]:
    return {"name": "create_prompt", "arguments": {"name": "smuggled", "template": "x", **arguments}}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


MALFORMED: list[Malformed] = [
    Malformed("not JSON", b"this is not json", PARSE_ERROR, says="Parse error"),
    Malformed("truncated JSON", raw(request())[:-5], PARSE_ERROR, says="Parse error"),
    Malformed("not UTF-8", b'{"jsonrpc": "2.0", "id": 7, "method": "\xff\xfe"}', PARSE_ERROR, says="UTF-8"),
    Malformed("NUL bytes", b"\x00\x00\x00", PARSE_ERROR),
    Malformed("a number", b"42", INVALID_REQUEST, says="must be a JSON object"),
    Malformed("a string", b'"tools/list"', INVALID_REQUEST, says="must be a JSON object"),
    Malformed("null", b"null", INVALID_REQUEST, says="must be a JSON object"),
    Malformed("an empty batch", b"[]", INVALID_REQUEST, says="batches are not supported"),
    Malformed(
        "a batch",
        raw([request(1), {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": create_call()}]),
        INVALID_REQUEST,
        says="batches are not supported",
    ),
    Malformed("an empty object", b"{}", INVALID_REQUEST, says='"jsonrpc" must be "2.0"'),
    Malformed("jsonrpc 1.0", raw({**request(), "jsonrpc": "1.0"}), INVALID_REQUEST, 7, '"jsonrpc" must be'),
    Malformed("jsonrpc missing", raw({"id": 7, "method": "tools/list"}), INVALID_REQUEST, 7, '"jsonrpc"'),
    Malformed("jsonrpc a number", raw({**request(), "jsonrpc": 2.0}), INVALID_REQUEST, 7, '"jsonrpc"'),
    Malformed("a numeric method", raw(request(method=5)), INVALID_REQUEST, 7, '"method" must be a string'),
    Malformed("a null method", raw(request(method=None)), INVALID_REQUEST, 7, '"method" must be a string'),
    Malformed("no method", raw({"jsonrpc": "2.0", "id": "x"}), INVALID_REQUEST, "x", 'needs a "method"'),
    Malformed(
        "params as an array",
        raw(request(method="tools/call", params=["create_prompt", {"name": "smuggled", "template": "x"}])),
        INVALID_REQUEST,
        7,
        '"params" must be an object',
    ),
    Malformed("params a string", raw(request(params="x")), INVALID_REQUEST, 7, '"params" must be an object'),
    Malformed("a boolean id", raw(request(id=True)), INVALID_REQUEST, says='"id" must be a string or an'),
    Malformed("a fractional id", raw(request(id=1.5)), INVALID_REQUEST, says='"id" must be a string or an'),
    Malformed("a null id", raw(request(id=None)), INVALID_REQUEST, says='"id" must be a string or an'),
    Malformed("an object id", raw(request(id={"a": 1})), INVALID_REQUEST, says='"id" must be a string'),
    Malformed(
        "an escaped id key",
        b'{"jsonrpc": "2.0", "\\u0069d": false, "method": "tools/list"}',
        INVALID_REQUEST,
        says='"id" must be a string or an',
    ),
    Malformed(
        "a lone surrogate in a write",
        b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "create_prompt", '
        b'"arguments": {"name": "smuggled", "template": "\\ud800"}}}',
        INVALID_REQUEST,
        7,
        "lone surrogate (\\ud800)",
    ),
    Malformed(
        "a lone surrogate as the id",
        b'{"jsonrpc": "2.0", "id": "\\ud800", "method": "ping"}',
        INVALID_REQUEST,
        None,
        '"id" holds a lone surrogate',
    ),
    Malformed(
        "a lone low surrogate in a name",
        b'{"jsonrpc": "2.0", "id": "s", "method": "tools/call", "params": {"name": "create_prompt", '
        b'"arguments": {"name": "x\\udfff", "template": "t"}}}',
        INVALID_REQUEST,
        "s",
        "lone surrogate (\\udfff)",
    ),
    Malformed(
        "300-deep nesting in a write",
        b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "create_prompt", '
        b'"arguments": {"name": "smuggled", "template": "x", "config": {"deep": ' + nested(300) + b"}}}}",
        INVALID_REQUEST,
        7,
        f"nested more than {MAX_DEPTH} levels deep",
    ),
    Malformed("5000-deep nesting", nested(5000), PARSE_ERROR, says=f"nested more than {MAX_DEPTH} levels"),
    Malformed("NaN literal alone", b"NaN", PARSE_ERROR, says="NaN is not a JSON value"),
]


@dataclass(frozen=True)
class RefusedWrite:
    """A write-tool call the service must refuse, and the structured error code it answers with."""

    case: str
    tool: str
    arguments: dict[str, Any]
    code: str
    says: str = ""


# Every call targets "base" (seeded below) or a name that must never come to exist.
REFUSED_WRITES: list[RefusedWrite] = [
    RefusedWrite("a '..' segment", "create_prompt", {"name": "a/../b", "template": "t"}, "invalid_argument"),
    RefusedWrite("an empty segment", "create_prompt", {"name": "a//b", "template": "t"}, "invalid_argument"),
    RefusedWrite("a leading dash", "create_prompt", {"name": "-b", "template": "t"}, "invalid_argument"),
    RefusedWrite(
        "a 256-char name", "create_prompt", {"name": "n" * 256, "template": "t"}, "invalid_argument"
    ),
    RefusedWrite("an existing name", "create_prompt", {"name": "base", "template": "t"}, "conflict"),
    RefusedWrite(
        "template and messages",
        "create_prompt",
        {"name": "new", "template": "t", "messages": [{"role": "user", "content": "x"}]},
        "invalid_argument",
    ),
    RefusedWrite("no content", "create_prompt", {"name": "new"}, "invalid_argument"),
    RefusedWrite("no name", "create_prompt", {"template": "t"}, "invalid_argument", "name"),
    RefusedWrite(
        "an unknown argument", "create_prompt", {"name": "new", "template": "t", "x": 1}, "invalid_argument"
    ),
    RefusedWrite(
        "label latest",
        "create_prompt",
        {"name": "new", "template": "t", "labels": ["latest"]},
        "invalid_argument",
    ),
    RefusedWrite(
        "a bad label",
        "create_prompt",
        {"name": "new", "template": "t", "labels": ["A B"]},
        "invalid_argument",
    ),
    RefusedWrite(
        "a tool role",
        "create_prompt",
        {"name": "new", "messages": [{"role": "tool", "content": "x"}]},
        "invalid_argument",
    ),
    RefusedWrite(
        "a bad variable",
        "create_prompt",
        {"name": "new", "template": "t", "variables": [{"name": "1x"}]},
        "invalid_argument",
    ),
    RefusedWrite(
        "a self include",
        "create_prompt",
        {"name": "new", "template": "{{> new}}"},
        "invalid_argument",
        "cycle",
    ),
    RefusedWrite(
        "a 1001-char description",
        "create_prompt",
        {"name": "new", "template": "t", "description": "d" * 1001},
        "invalid_argument",
    ),
    RefusedWrite(
        "a 401-char commit message",
        "create_prompt",
        {"name": "new", "template": "t", "commit_message": "m" * 401},
        "invalid_argument",
    ),
    RefusedWrite(
        "a stale base", "update_prompt", {"name": "base", "base_version": 2, "template": "t"}, "conflict"
    ),
    RefusedWrite(
        "base version 0",
        "update_prompt",
        {"name": "base", "base_version": 0, "template": "t"},
        "invalid_argument",
    ),
    RefusedWrite("no change", "update_prompt", {"name": "base", "base_version": 1}, "invalid_argument"),
    RefusedWrite(
        "an edit that matches nothing",
        "update_prompt",
        {"name": "base", "base_version": 1, "edits": [{"old": "absent", "new": "y"}]},
        "invalid_argument",
    ),
    RefusedWrite(
        "an edit that matches twice",
        "update_prompt",
        {"name": "base", "base_version": 1, "edits": [{"old": "{{x}}", "new": "y"}]},
        "invalid_argument",
    ),
    RefusedWrite(
        "an include cycle",
        "update_prompt",
        {"name": "base", "base_version": 1, "template": "{{> base}}"},
        "invalid_argument",
    ),
    RefusedWrite(
        "an unknown prompt",
        "update_prompt",
        {"name": "ghost", "base_version": 1, "template": "t"},
        "not_found",
    ),
    RefusedWrite(
        "label latest",
        "set_prompt_label",
        {"name": "base", "label": "latest", "version": 1},
        "invalid_argument",
    ),
    RefusedWrite(
        "a missing version", "set_prompt_label", {"name": "base", "label": "qa", "version": 99}, "not_found"
    ),
    RefusedWrite(
        "a protected label",
        "set_prompt_label",
        {"name": "base", "label": "production", "version": 1},
        "forbidden",
    ),
    RefusedWrite(
        "remove latest", "remove_prompt_label", {"name": "base", "label": "latest"}, "invalid_argument"
    ),
    RefusedWrite(
        "remove a missing label", "remove_prompt_label", {"name": "base", "label": "none"}, "not_found"
    ),
    RefusedWrite("archive an unknown prompt", "archive_prompt", {"name": "ghost"}, "not_found"),
    # Out-of-range numbers and malformed cursors (issue 13, item 6): the caller's mistake, never `internal`.
    RefusedWrite(
        "a version of 2^63",
        "set_prompt_label",
        {"name": "base", "label": "qa", "version": 2**63},
        "invalid_argument",
    ),
    RefusedWrite(
        "a base_version of 2^63",
        "update_prompt",
        {"name": "base", "base_version": 2**63, "template": "t"},
        "invalid_argument",
    ),
    RefusedWrite(
        "an include of version 2^63",
        "create_prompt",
        {"name": "new", "template": "{{> base@9223372036854775808}}"},
        "invalid_argument",
    ),
    RefusedWrite("a cursor of 1e20", "list_prompts", {"cursor": "1e20"}, "invalid_argument"),
    RefusedWrite("a cursor of Infinity", "list_prompts", {"cursor": "Infinity"}, "invalid_argument"),
    # Content sizes (item 8).
    RefusedWrite(
        "a template over 256 Ki characters",
        "create_prompt",
        {"name": "new", "template": "x" * 262_145},
        "invalid_argument",
    ),
    RefusedWrite(
        "101 labels",
        "create_prompt",
        {"name": "new", "template": "t", "labels": [f"l{i}" for i in range(101)]},
        "invalid_argument",
    ),
    # Names export could not keep apart (item 9).
    RefusedWrite("a '.' segment", "create_prompt", {"name": "a/./b", "template": "t"}, "invalid_argument"),
    # Strict argument types and finite numbers (item 10).
    RefusedWrite(
        "a boolean version",
        "set_prompt_label",
        {"name": "base", "label": "qa", "version": True},
        "invalid_argument",
    ),
    RefusedWrite(
        "a string base_version",
        "update_prompt",
        {"name": "base", "base_version": "1", "template": "t"},
        "invalid_argument",
    ),
    RefusedWrite(
        "NaN in config",
        "create_prompt",
        {"name": "new", "template": "t", "config": {"temperature": float("nan")}},
        "invalid_argument",
    ),
    RefusedWrite(
        "Infinity in config",
        "create_prompt",
        {"name": "new", "template": "t", "config": {"max_tokens": float("inf")}},
        "invalid_argument",
    ),
    # Search (item 12).
    RefusedWrite("a NUL in search", "list_prompts", {"search": "\u0000"}, "invalid_argument"),
    RefusedWrite("a 50 kB search", "list_prompts", {"search": "s" * 50_000}, "invalid_argument"),
    # Includes: blanks that once backtracked for seconds (item 1), and fan-out past the limit (item 3).
    RefusedWrite(
        "an empty include padded with 100,000 blanks",
        "create_prompt",
        {"name": "new", "template": "{{>" + " " * 100_000 + "}}"},
        "invalid_argument",
    ),
    RefusedWrite(
        "201 includes",
        "create_prompt",
        {"name": "new", "template": "{{> base}}" * 201},
        "invalid_argument",
        "200",
    ),
    # Edits (item 4): a stale base answers conflict before any edit is tried; too many edits are refused.
    RefusedWrite(
        "a stale base with edits that could not apply",
        "update_prompt",
        {"name": "base", "base_version": 2, "edits": [{"old": "absent", "new": "y"}] * 100},
        "conflict",
    ),
    RefusedWrite(
        "101 edits",
        "update_prompt",
        {"name": "base", "base_version": 1, "edits": [{"old": "Hello", "new": "Hi"}] * 101},
        "invalid_argument",
        "101 edits",
    ),
]


# -- the servers and how to speak to them ------------------------------------------------------------


class Channel(Protocol):
    def send_raw(self, message: bytes) -> dict[str, Any]:
        """Send one raw message; the error it was answered with."""

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A well-formed request; its answer."""


@dataclass
class StdioChannel:
    process: subprocess.Popen[bytes]
    next_id: int = 1000

    def send_raw(self, message: bytes) -> dict[str, Any]:
        self._write(message)
        return self._read(lambda answer: "error" in answer and "method" not in answer)

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        id = self.next_id
        self._write(raw(request(id, method, params=params)))
        return self._read(lambda answer: answer.get("id") == id)

    def _write(self, message: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(message + b"\n")
        self.process.stdin.flush()

    def _read(self, wanted: Any) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            # A dropped message is never answered: fail rather than wait forever (answers take ms).
            ready, _, _ = select.select([self.process.stdout], [], [], ANSWER_WITHIN)
            assert ready, f"no answer within {ANSWER_WITHIN} s: the server dropped the message"
            line = self.process.stdout.readline()
            assert line, "the server closed stdout (it died)"
            answer: dict[str, Any] = json.loads(line)
            if wanted(answer):
                return answer


@dataclass
class HttpChannel:
    server: HttpServer
    era: str
    session: str = ""
    next_id: int = 1000
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        opened = httpx.post(self.server.url, json=INITIALIZE, headers=accept, timeout=10)
        assert opened.status_code == 200, opened.text
        self.session = opened.headers["mcp-session-id"]
        self.headers = {**accept, "mcp-session-id": self.session, "mcp-protocol-version": "2025-11-25"}
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert httpx.post(self.server.url, json=initialized, headers=self.headers).status_code == 202

    def send_raw(self, message: bytes) -> dict[str, Any]:
        # The protocol-version header routes a request to its era's code path in the SDK.
        headers = {**self.headers, "mcp-protocol-version": self.era}
        response = httpx.post(self.server.url, content=message, headers=headers, timeout=30)
        assert response.status_code == 400, (response.status_code, response.text)
        answer: dict[str, Any] = response.json()
        return answer

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        response = httpx.post(
            self.server.url,
            content=raw(request(self.next_id, method, params=params)),  # raw: NaN and Infinity as sent
            headers=self.headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        answer: dict[str, Any] = json.loads(data[-1] if data else response.text)
        return answer


async def _seed(db: Path) -> None:
    await seed(db)
    from promptshelf.backends.sqlite import SQLiteStore
    from promptshelf.service import Policy, PromptService

    store = await SQLiteStore.open(db)
    try:
        service = PromptService(store, Policy(trusted=True, actor="seed"))
        await service.create_prompt("base", template="Hello {{x}} and {{x}}")
        await service.set_label("base", "production", 1)
    finally:
        await store.aclose()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("adversarial") / "prompts.db"
    anyio.run(_seed, db)
    return db


def dump(db: Path) -> list[str]:
    """The store's logical content: every table's schema and rows."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return list(connection.iterdump())


@pytest.fixture(scope="module")
def stdio(store: Path) -> Iterator[StdioChannel]:
    process = subprocess.Popen(
        [sys.executable, "-m", "promptshelf", "serve", "--db", str(store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=server_env(),
    )
    channel = StdioChannel(process)
    assert "result" in channel.call("initialize", INITIALIZE["params"])  # type: ignore[arg-type]
    channel._write(raw({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    yield channel
    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(30) == 0


@pytest.fixture(scope="module")
def http(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    server = start_http_server(store, tmp_path_factory.mktemp("adversarial-http"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http_channels(http: HttpServer) -> dict[str, HttpChannel]:
    """One session per era for the whole module (sessions are limited per credential)."""
    return {era: HttpChannel(http, era) for era in ("2025-11-25", "2026-07-28")}


@pytest.fixture(params=["stdio", "http 2025-11-25", "http 2026-07-28"])
def channel(request: pytest.FixtureRequest) -> Channel:
    if request.param == "stdio":
        stdio_channel: StdioChannel = request.getfixturevalue("stdio")
        return stdio_channel
    channels: dict[str, HttpChannel] = request.getfixturevalue("http_channels")
    return channels[request.param.split()[1]]


def assert_alive(channel: Channel) -> None:
    answer = channel.call("ping", {})
    assert answer.get("result") == {}, answer


# -- the campaign --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", MALFORMED, ids=[case.case for case in MALFORMED])
def test_a_malformed_message_is_answered_and_changes_nothing(
    channel: Channel, store: Path, case: Malformed
) -> None:
    before = dump(store)
    answer = channel.send_raw(case.raw)
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == case.id, answer
    assert answer["error"]["code"] == case.code, answer
    message = answer["error"]["message"]
    assert case.says in message, message
    assert "validation error" not in message.lower() and "pydantic" not in message  # a sentence, not a dump
    assert_alive(channel)
    assert dump(store) == before


@pytest.mark.parametrize("case", REFUSED_WRITES, ids=[f"{c.tool}: {c.case}" for c in REFUSED_WRITES])
def test_a_refused_write_is_an_error_and_changes_nothing(
    channel: Channel, store: Path, case: RefusedWrite
) -> None:
    before = dump(store)
    answer = channel.call("tools/call", {"name": case.tool, "arguments": case.arguments})
    result = answer["result"]
    assert result["isError"] is True, result
    assert result["structuredContent"]["error"]["code"] == case.code, result
    assert case.says in result["structuredContent"]["error"]["message"]
    assert_alive(channel)
    assert dump(store) == before
