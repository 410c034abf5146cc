"""The HTTP fast path (server/fast_path.py) answers exactly as the SDK does.

Differential: every case of the table goes, in the same order, to two real servers on 127.0.0.1 built
from the same seeded store, one with the fast path and one without (the SDK answers everything), and
must get the same status, headers and body. What legitimately differs, and is masked:

- the ``date`` header (the clock),
- the ``mcp-session-id`` value (random; whether there is one is compared),
- timestamps in bodies (the two servers write at different instants).

Each case also says which path must answer it on the fast server (``fast``: the fast path itself;
``sdk``: handed to the SDK), so the comparison cannot pass by everything falling back. The servers run
in this process (uvicorn in a thread each) so that the fast path's handover log can be read.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.requests import Request

from promptshelf.server import _build
from promptshelf.server.fast_path import header_dict
from promptshelf.server.http import (
    FAST_PATH_MCP_VERSION,
    HttpLimits,
    Tokens,
    build_app,
    fast_path_usable,
)
from promptshelf.settings import Settings
from tests.server.conftest import free_port

MODERN = "2026-07-28"
WRITE_TOKEN = "write-secret-token"
READ_TOKEN = "read-secret-token"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
SESSION = re.compile(r"[0-9a-f]{32}")
LEGITIMATELY_DIFFERENT = {"date"}


class _Handovers(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("handed"):
            self.count += 1


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    sessions: dict[str, str] = field(default_factory=dict)


def _app(mcp: Any, settings: Settings, tokens: Tokens, **options: Any) -> Any:
    """promptshelf's ASGI app on 127.0.0.1 (``options``: ``fast_path``, ``mcp_version``)."""
    limits = HttpLimits.from_settings(settings)
    return build_app(
        mcp, host="127.0.0.1", allowed_hosts=[], tokens=tokens, poll_interval=60, limits=limits, **options
    )


def _serve(db: Path, tokens: Tokens, fast: bool) -> Served:
    settings = Settings(db=db)
    port = free_port()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        mcp = await _build(settings)
        try:
            app = _app(mcp, settings, tokens, fast_path=fast)
            config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
            holder["server"] = server = uvicorn.Server(config)
            ready.set()
            await server.serve()
        finally:
            await mcp.service.store.aclose()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if holder["server"].started:
            break
        threading.Event().wait(0.05)
    return Served(url, holder["server"], thread)


def _stop(served: Served) -> None:
    served.server.should_exit = True
    served.thread.join(15)


@pytest.fixture(scope="module")
def handovers() -> Iterator[_Handovers]:
    handler = _Handovers()
    log = logging.getLogger("promptshelf.server.fast_path")
    previous = log.level
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    yield handler
    log.removeHandler(handler)
    log.setLevel(previous)


@pytest.fixture(scope="module")
def pairs(
    seeded_db: Path, module_tmp: Path, handovers: _Handovers
) -> Iterator[dict[str, tuple[Served, Served]]]:
    """Per auth setting, (fast, sdk) servers, each on its own copy of the seeded store."""
    made: dict[str, tuple[Served, Served]] = {}
    try:
        for auth, tokens in (("open", Tokens()), ("tokens", Tokens(write=WRITE_TOKEN, read=READ_TOKEN))):
            servers = []
            for fast in (True, False):
                db = module_tmp / f"diff-{auth}-{fast}.db"
                shutil.copy(seeded_db, db)
                servers.append(_serve(db, tokens, fast))
            made[auth] = (servers[0], servers[1])
        yield made
    finally:
        for fast_server, sdk_server in made.values():
            _stop(fast_server)
            _stop(sdk_server)


# -- the table -------------------------------------------------------------------------------------------


def meta(**extra: Any) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "diff", "version": "1"},
        **extra,
    }


def modern_body(method: str, params: dict[str, Any] | None = None, id: Any = 1, **envelope: Any) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method, **envelope}
    message["params"] = {**(params or {}), "_meta": meta()}
    return json.dumps(message).encode()


def modern_headers(method: str, name: str | None = None) -> list[tuple[str, str]]:
    headers = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", MODERN),
        ("mcp-method", method),
    ]
    return headers + ([("mcp-name", name)] if name is not None else [])


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    headers: list[tuple[str, str]]
    path: str
    """On the fast server: "fast" (the fast path answers), "handed" (it hands the request to the SDK), or
    "sdk" (it never sees it: another era or HTTP method, or refused before it by the Host/Origin check,
    the token check or promptshelf's envelope check)."""
    http_method: str = "POST"
    auth: str = "open"
    session: str | None = None  # a handshake session to send the request in (opened per server)


def call(
    name: str,
    method: str,
    params: dict[str, Any] | None = None,
    mcp_name: str | None = None,
    path: str = "fast",
    auth: str = "open",
    token: str | None = None,
) -> Case:
    headers = modern_headers(method, mcp_name)
    if token is not None:
        headers.append(("authorization", token))
    return Case(name, modern_body(method, params), headers, path, auth=auth)


def edit(
    case: Case,
    name: str,
    path: str,
    *,
    body: bytes | None = None,
    drop: tuple[str, ...] = (),
    set: dict[str, str] | None = None,
    add: list[tuple[str, str]] | None = None,
) -> Case:
    headers = [(k, v) for k, v in case.headers if k not in drop and k not in (set or {})]
    headers += list((set or {}).items()) + (add or [])
    return Case(name, case.body if body is None else body, headers, path, auth=case.auth)


GET = call(
    "prompts/get", "prompts/get", {"name": "greet", "arguments": {"name": "Ada", "lang": "fr"}}, "greet"
)
TOOL = call(
    "tools/call get_prompt",
    "tools/call",
    {"name": "get_prompt", "arguments": {"name": "greet"}},
    "get_prompt",
)


def raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def _b64(text: str) -> str:
    return "=?base64?" + base64.b64encode(text.encode()).decode() + "?="


CASES: list[Case] = [
    # every method, successful and failing in the handler
    GET,
    TOOL,
    call(
        "prompts/get chat", "prompts/get", {"name": "team/review", "arguments": {"code": "x"}}, "team/review"
    ),
    call("prompts/get unknown", "prompts/get", {"name": "nope"}, "nope"),
    call(
        "prompts/get missing argument", "prompts/get", {"name": "greet", "arguments": {"name": "A"}}, "greet"
    ),
    call(
        "prompts/get bad enum",
        "prompts/get",
        {"name": "greet", "arguments": {"name": "A", "lang": "xx"}},
        "greet",
    ),
    call("prompts/get no name", "prompts/get", {}, "greet"),
    call("prompts/list", "prompts/list", {}),
    call("prompts/list bad cursor", "prompts/list", {"cursor": "!!"}),
    call("resources/list", "resources/list", {}),
    call("resources/templates/list", "resources/templates/list", {}),
    call("resources/read", "resources/read", {"uri": "prompt://greet"}, "prompt://greet"),
    call(
        "resources/read version",
        "resources/read",
        {"uri": "prompt://greet/versions/1"},
        "prompt://greet/versions/1",
    ),
    call("resources/read unknown", "resources/read", {"uri": "prompt://nope"}, "prompt://nope"),
    call(
        "resources/read other scheme", "resources/read", {"uri": "file:///etc/passwd"}, "file:///etc/passwd"
    ),
    call("tools/list", "tools/list", {}),
    call("tools/call list_prompts", "tools/call", {"name": "list_prompts", "arguments": {}}, "list_prompts"),
    call(
        "tools/call render_prompt",
        "tools/call",
        {"name": "render_prompt", "arguments": {"name": "greet", "variables": {"name": "A", "lang": "de"}}},
        "render_prompt",
    ),
    call(
        "tools/call get_prompt unknown",
        "tools/call",
        {"name": "get_prompt", "arguments": {"name": "nope"}},
        "get_prompt",
    ),
    call(
        "tools/call bad arguments",
        "tools/call",
        {"name": "get_prompt", "arguments": {"name": 5}},
        "get_prompt",
    ),
    call("tools/call unknown tool", "tools/call", {"name": "nope", "arguments": {}}, "nope"),
    call(
        "tools/call create_prompt",
        "tools/call",
        {"name": "create_prompt", "arguments": {"name": "diff/new", "template": "Hey {{who}}"}},
        "create_prompt",
    ),
    call(
        "tools/call create_prompt non-ASCII",
        "tools/call",
        {"name": "create_prompt", "arguments": {"name": "diff/gruss", "template": "Grüße, {{wer}} 🙂\u2028"}},
        "create_prompt",
    ),
    call(
        "prompts/get non-ASCII",
        "prompts/get",
        {"name": "diff/gruss", "arguments": {"wer": "Zoë \ud83d\ude00"}},
        "diff/gruss",
    ),
    call(
        "tools/call get_prompt non-ASCII",
        "tools/call",
        {"name": "get_prompt", "arguments": {"name": "diff/gruss"}},
        "get_prompt",
    ),
    call(
        "tools/call update conflict",
        "tools/call",
        {"name": "update_prompt", "arguments": {"name": "greet", "base_version": 1, "template": "x"}},
        "update_prompt",
    ),
    call(
        "tools/call list versions",
        "tools/call",
        {"name": "list_prompt_versions", "arguments": {"name": "greet"}},
        "list_prompt_versions",
    ),
    call(
        "tools/call diff",
        "tools/call",
        {"name": "diff_prompt_versions", "arguments": {"name": "greet", "from_version": 1}},
        "diff_prompt_versions",
    ),
    call(
        "completion/complete",
        "completion/complete",
        {"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "lang", "value": "e"}},
    ),
    call("server/discover", "server/discover", {}),
    # methods not defined at 2026-07-28, or not served
    call("ping", "ping", {}),
    call("logging/setLevel", "logging/setLevel", {"level": "info"}),
    call(
        "initialize",
        "initialize",
        {"protocolVersion": MODERN, "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}},
    ),
    call("resources/subscribe", "resources/subscribe", {"uri": "prompt://greet"}, "prompt://greet"),
    call("tasks/get", "tasks/get", {"taskId": "t1"}),
    call("unknown method", "nope/nope", {}),
    edit(
        call("subscriptions/listen json only", "subscriptions/listen", {}),
        "listen without SSE",
        "handed",
        set={"accept": "application/json"},
    ),
    # routing headers
    edit(GET, "no Mcp-Method", "handed", drop=("mcp-method",)),
    edit(GET, "wrong Mcp-Method", "handed", set={"mcp-method": "prompts/list"}),
    edit(GET, "no Mcp-Name", "handed", drop=("mcp-name",)),
    edit(GET, "wrong Mcp-Name", "handed", set={"mcp-name": "other"}),
    edit(GET, "base64 Mcp-Name", "fast", set={"mcp-name": _b64("greet")}),
    edit(GET, "bad base64 Mcp-Name", "handed", set={"mcp-name": "=?base64?!!!?="}),
    edit(GET, "repeated protocol header", "sdk", add=[("mcp-protocol-version", MODERN)]),
    edit(GET, "repeated Mcp-Method", "handed", add=[("mcp-method", "prompts/get")]),
    edit(GET, "repeated Mcp-Name", "handed", add=[("mcp-name", "greet")]),
    edit(GET, "unsupported version", "sdk", set={"mcp-protocol-version": "2099-01-01"}),
    edit(GET, "header and _meta disagree", "sdk", set={"mcp-protocol-version": "2025-11-25"}),
    edit(TOOL, "stray Mcp-Param header", "fast", add=[("mcp-param-name", "greet")]),
    # envelopes
    edit(
        GET,
        "no _meta",
        "handed",
        body=raw({"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {"name": "greet"}}),
    ),
    edit(
        GET,
        "no capabilities",
        "handed",
        body=raw(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "prompts/get",
                "params": {"name": "greet", "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}},
            }
        ),
    ),
    edit(
        GET,
        "_meta names another version",
        "handed",
        body=raw(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "prompts/get",
                "params": {
                    "name": "greet",
                    "_meta": {**meta(), "io.modelcontextprotocol/protocolVersion": "2025-11-25"},
                },
            }
        ),
    ),
    edit(
        GET,
        "bad clientInfo",
        "fast",
        body=raw(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "prompts/get",
                "params": {"name": "greet", "_meta": {**meta(), "io.modelcontextprotocol/clientInfo": 5}},
            }
        ),
    ),
    edit(
        GET,
        "progress token",
        "fast",
        body=raw(
            {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "prompts/get",
                "params": {
                    "name": "greet",
                    "arguments": {"name": "A", "lang": "en"},
                    "_meta": {**meta(), "progressToken": "p1"},
                },
            }
        ),
    ),
    edit(
        GET,
        "log level",
        "fast",
        body=raw(
            {
                "jsonrpc": "2.0",
                "id": "s",
                "method": "prompts/get",
                "params": {
                    "name": "greet",
                    "arguments": {"name": "A", "lang": "en"},
                    "_meta": {**meta(), "io.modelcontextprotocol/logLevel": "debug"},
                },
            }
        ),
    ),
    edit(GET, "string id", "fast", body=GET.body.replace(b'"id": 1', b'"id": "abc"')),
    edit(GET, "not JSON", "sdk", body=b"{nope"),
    edit(GET, "a batch", "sdk", body=b"[" + GET.body + b"]"),
    edit(
        GET,
        "a notification",
        "handed",
        body=raw({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
    ),
    edit(GET, "null id", "sdk", body=GET.body.replace(b'"id": 1', b'"id": null')),
    edit(GET, "boolean id", "sdk", body=GET.body.replace(b'"id": 1', b'"id": true')),
    edit(GET, "jsonrpc 1.0", "sdk", body=GET.body.replace(b'"2.0"', b'"1.0"', 1)),
    edit(
        GET,
        "params an array",
        "sdk",
        body=raw({"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": []}),
    ),
    edit(GET, "extra envelope key", "fast", body=GET.body.replace(b'"id": 1', b'"id": 1, "extra": 2')),
    edit(GET, "a response", "handed", body=raw({"jsonrpc": "2.0", "id": 1, "result": {}})),
    # JSON the envelope check parses for the fast path must read as the SDK's own json.loads reads it
    edit(
        GET,
        "repeated argument key",
        "fast",
        body=GET.body.replace(b'"name": "Ada"', b'"name": "Bea", "name": "Ada"'),
    ),
    edit(GET, "escaped argument", "fast", body=GET.body.replace(b'"Ada"', b'"\\u00c5d\\u0000a\\/"')),
    edit(
        GET,
        "huge integer argument",
        "fast",
        body=GET.body.replace(b'"Ada"', b"123456789012345678901234567890"),
    ),
    edit(GET, "overflowing number argument", "fast", body=GET.body.replace(b'"Ada"', b"1e400")),
    edit(GET, "exponent argument", "fast", body=GET.body.replace(b'"Ada"', b"-0.5E-3")),
    edit(GET, "byte order mark", "sdk", body=b"\xef\xbb\xbf" + GET.body),
    edit(GET, "UTF-16 body", "sdk", body=GET.body.decode().encode("utf-16")),
    edit(GET, "blanks around the body", "fast", body=b" \r\n\t" + GET.body + b"\n "),
    edit(GET, "repeated content-type", "fast", add=[("content-type", "text/plain")]),
    edit(
        GET,
        "over 4 MiB",
        "handed",
        body=b'{"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {"x": "'
        + b"a" * (4 * 1024 * 1024)
        + b'"}}',
    ),
    # Accept, Content-Type, Host, Origin
    edit(GET, "accept json only", "handed", set={"accept": "application/json"}),
    edit(GET, "accept SSE only", "handed", set={"accept": "text/event-stream"}),
    edit(GET, "no accept", "fast", drop=("accept",)),
    edit(GET, "accept wildcard", "fast", set={"accept": "*/*"}),
    edit(GET, "content-type text", "handed", set={"content-type": "text/plain"}),
    edit(GET, "content-type with charset", "fast", set={"content-type": "application/json; charset=utf-8"}),
    edit(GET, "no content-type", "handed", drop=("content-type",)),
    edit(GET, "foreign host", "sdk", set={"host": "evil.example"}),
    edit(GET, "foreign origin", "sdk", add=[("origin", "http://evil.example")]),
    edit(GET, "own origin", "fast", add=[("origin", "http://127.0.0.1:8000")]),
    # other HTTP methods and paths
    Case("GET /mcp modern", b"", modern_headers("prompts/get", "greet"), "sdk", http_method="GET"),
    Case("DELETE /mcp modern", b"", modern_headers("prompts/get", "greet"), "sdk", http_method="DELETE"),
    # the handshake era (the SDK answers all of it on both servers)
    Case(
        "initialize",
        raw(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "x", "version": "1"},
                },
            }
        ),
        [("content-type", "application/json"), ("accept", "application/json, text/event-stream")],
        "sdk",
    ),
    Case(
        "handshake request without a session",
        raw({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2025-11-25"),
        ],
        "sdk",
    ),
    Case(
        "handshake request in a session",
        raw(
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "prompts/get",
                "params": {"name": "greet", "arguments": {"name": "A", "lang": "en"}},
            }
        ),
        [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2025-11-25"),
        ],
        "sdk",
        session="s1",
    ),
    Case(
        "handshake unknown session",
        raw({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}),
        [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2025-11-25"),
            ("mcp-session-id", "0" * 32),
        ],
        "sdk",
    ),
    # auth
    call("no token", "prompts/get", {"name": "greet"}, "greet", path="sdk", auth="tokens"),
    call(
        "wrong token", "prompts/get", {"name": "greet"}, "greet", path="sdk", auth="tokens", token="Bearer x"
    ),
    call(
        "basic auth", "prompts/get", {"name": "greet"}, "greet", path="sdk", auth="tokens", token="Basic eDp5"
    ),
    call(
        "read token",
        "prompts/get",
        {"name": "greet", "arguments": {"name": "A", "lang": "en"}},
        "greet",
        auth="tokens",
        token=f"Bearer {READ_TOKEN}",
    ),
    call("lowercase bearer", "prompts/list", {}, auth="tokens", token=f"bearer {READ_TOKEN}"),
    call(
        "read token writes",
        "tools/call",
        {"name": "create_prompt", "arguments": {"name": "r/x", "template": "x"}},
        "create_prompt",
        auth="tokens",
        token=f"Bearer {READ_TOKEN}",
    ),
    call(
        "write token writes",
        "tools/call",
        {"name": "create_prompt", "arguments": {"name": "w/x", "template": "x"}},
        "create_prompt",
        auth="tokens",
        token=f"Bearer {WRITE_TOKEN}",
    ),
    call(
        "write token reads",
        "tools/call",
        {"name": "get_prompt", "arguments": {"name": "w/x"}},
        "get_prompt",
        auth="tokens",
        token=f"Bearer {WRITE_TOKEN}",
    ),
]


# -- running and comparing --------------------------------------------------------------------------------


def _open_session(client: httpx.Client, served: Served, auth_headers: list[tuple[str, str]]) -> str:
    headers = [("content-type", "application/json"), ("accept", "application/json, text/event-stream")]
    initialize = raw(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "x", "version": "1"},
            },
        }
    )
    opened = client.post(f"{served.url}/mcp", content=initialize, headers=headers + auth_headers)
    session = opened.headers["mcp-session-id"]
    note = raw({"jsonrpc": "2.0", "method": "notifications/initialized"})
    headers += [("mcp-session-id", session), ("mcp-protocol-version", "2025-11-25")]
    assert client.post(f"{served.url}/mcp", content=note, headers=headers + auth_headers).status_code == 202
    return session


def _send(client: httpx.Client, served: Served, case: Case) -> tuple[int, dict[str, list[str]], str]:
    headers = list(case.headers)
    if case.session is not None:
        if case.session not in served.sessions:
            served.sessions[case.session] = _open_session(client, served, [])
        headers.append(("mcp-session-id", served.sessions[case.session]))
    if not any(k == "host" for k, _ in headers):
        headers.append(("host", "127.0.0.1:8000"))
    response = client.request(case.http_method, f"{served.url}/mcp", content=case.body, headers=headers)
    found: dict[str, list[str]] = {}
    for key, value in response.headers.multi_items():
        if key in LEGITIMATELY_DIFFERENT:
            continue
        found.setdefault(key, []).append(
            SESSION.sub("<session>", value) if key == "mcp-session-id" else value
        )
    return response.status_code, found, TIMESTAMP.sub("<time>", SESSION.sub("<session>", response.text))


def test_every_case_gets_the_same_answer_from_the_fast_path_and_the_sdk(
    pairs: dict[str, tuple[Served, Served]], handovers: _Handovers
) -> None:
    mismatches, wrong_path = [], []
    with httpx.Client(timeout=30) as client:
        for case in CASES:
            fast, sdk = pairs[case.auth]
            before = handovers.count
            fast_answer = _send(client, fast, case)
            handed = handovers.count > before
            sdk_answer = _send(client, sdk, case)
            if fast_answer != sdk_answer:
                mismatches.append((case.name, fast_answer, sdk_answer))
            if handed != (case.path == "handed"):
                wrong_path.append((case.name, "handed to the SDK" if handed else "answered by the fast path"))
    assert not mismatches, "\n".join(f"{name}:\n  fast {f}\n  sdk  {s}" for name, f, s in mismatches)
    assert not wrong_path, "\n".join(f"{name}: {what}" for name, what in wrong_path)


def test_the_table_covers_both_paths_and_every_method() -> None:
    assert sum(case.path == "fast" for case in CASES) >= 30
    assert sum(case.path == "handed" for case in CASES) >= 15
    assert sum(case.path == "sdk" for case in CASES) >= 10
    methods = {json.loads(case.body).get("method") for case in CASES if case.body.startswith(b'{"jsonrpc')}
    served = ("prompts/get", "prompts/list", "resources/read", "resources/list", "resources/templates/list")
    for method in (*served, "tools/list", "tools/call", "completion/complete", "server/discover"):
        assert method in methods, method


def test_the_fast_path_refuses_to_start_on_another_sdk_version(caplog: pytest.LogCaptureFixture) -> None:
    assert fast_path_usable(True, FAST_PATH_MCP_VERSION)
    assert not fast_path_usable(False, FAST_PATH_MCP_VERSION)
    with caplog.at_level(logging.WARNING):
        assert not fast_path_usable(True, "2.3.1")
    assert "written for mcp 2.3.0 and mcp 2.3.1 is installed" in caplog.text


def test_the_pinned_sdk_is_the_version_the_fast_path_was_written_for() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'"mcp=={FAST_PATH_MCP_VERSION}"' in pyproject


@pytest.mark.anyio
async def test_on_another_sdk_version_the_sdk_answers_every_request(seeded_db: Path) -> None:
    from promptshelf.server.http import _SessionsByCredential

    settings = Settings(db=seeded_db)
    mcp = await _build(settings)
    try:
        found = {}
        for version in (FAST_PATH_MCP_VERSION, "2.4.0"):
            app = _app(mcp, settings, Tokens(), mcp_version=version)
            layer: Any = next(route for route in app.routes if getattr(route, "path", "") == "/mcp")
            while not isinstance(layer, _SessionsByCredential):
                layer = layer.app
            found[version] = bool(layer.fast), layer.takes(_scope())
    finally:
        await mcp.service.store.aclose()
    assert found == {FAST_PATH_MCP_VERSION: (True, True), "2.4.0": (False, False)}


def _scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "headers": [(b"mcp-protocol-version", MODERN.encode())]}


def test_the_classifiers_headers_are_what_the_sdk_hands_it() -> None:
    # The SDK passes dict(request.headers): each name once, its first value, in first-seen order.
    raw = [
        (b"host", b"127.0.0.1"),
        (b"mcp-name", b"first"),
        (b"x-other", b"caf\xe9"),
        (b"mcp-name", b"second"),
        (b"accept", b"application/json"),
        (b"x-other", b"later"),
    ]
    expected = dict(Request({"type": "http", "headers": raw}).headers)
    assert header_dict(raw) == expected
    assert list(header_dict(raw).items()) == list(expected.items())
    assert header_dict(raw)["mcp-name"] == "first"


async def _answer_in_process(fast: bool, db: Path, headers: list[tuple[bytes, bytes]], body: bytes) -> Any:
    """Status and body of one request handed straight to the ASGI app (headers exactly as given: uvicorn
    would lower-case their names)."""
    import anyio

    settings = Settings(db=db)
    mcp = await _build(settings)
    app = _app(mcp, settings, Tokens(), fast_path=fast)
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/mcp", "raw_path": b"/mcp", "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}  # fmt: skip
    try:
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)
    finally:
        await mcp.service.store.aclose()
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


@pytest.mark.anyio
async def test_a_routing_header_in_two_spellings_is_the_sdks_to_refuse(
    seeded_db: Path, handovers: _Handovers
) -> None:
    body = raw({"jsonrpc": "2.0", "id": 1, "method": "prompts/list", "params": {"_meta": meta()}})
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"accept", b"application/json, text/event-stream"),
        (b"mcp-protocol-version", MODERN.encode()),
        (b"mcp-method", b"prompts/list"),
        (b"Mcp-Method", b"tools/call"),
    ]
    before = handovers.count
    fast = await _answer_in_process(True, seeded_db, headers, body)
    assert handovers.count == before + 1
    sdk = await _answer_in_process(False, seeded_db, headers, body)
    assert fast == sdk and fast[0] == 400 and b"more than once" in fast[1]
