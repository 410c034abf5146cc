"""HTTP resource limits (issue 13, items 5 and 11): sessions per credential with an idle timeout; a
deadline for a request's headers and for its body; a cap on open connections. Each runs against a real
``promptshelf serve --transport http`` process, spoken to through raw sockets where the point is a client
that misbehaves at the byte level."""

from __future__ import annotations

import select
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from tests.server.conftest import INITIALIZE, HttpServer, server_env, start_http_server

WRITE_TOKEN = "limits-write-token"
READ_TOKEN = "limits-read-token"
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
DEADLINE = 30.0
"""How long a test waits for something that must happen (generous: the machine may be loaded)."""


def open_session(server: HttpServer, token: str | None = None) -> httpx.Response:
    headers = {**ACCEPT, **({"Authorization": f"Bearer {token}"} if token else {})}
    return httpx.post(server.url, json=INITIALIZE, headers=headers, timeout=10)


def eventually(check: object, what: str) -> None:
    """Poll ``check()`` until it is true; fail naming ``what`` after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)


# -- sessions ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_sessions_per_token(seeded_db: Path, module_tmp: Path) -> Iterator[HttpServer]:
    env = server_env(PROMPTSHELF_TOKEN=WRITE_TOKEN, PROMPTSHELF_READ_TOKEN=READ_TOKEN)
    server = start_http_server(seeded_db, module_tmp, "--max-sessions-per-token", "2", env=env)
    yield server
    server.stop()


def test_a_token_that_used_up_its_sessions_does_not_lock_out_another(
    two_sessions_per_token: HttpServer,
) -> None:
    server = two_sessions_per_token
    opened = [open_session(server, READ_TOKEN) for _ in range(2)]
    assert [response.status_code for response in opened] == [200, 200]
    refused = open_session(server, READ_TOKEN)
    assert refused.status_code == 503
    assert refused.json()["error"] == {"code": -32603, "message": "Too many open sessions"}
    # The write token has sessions of its own.
    assert open_session(server, WRITE_TOKEN).status_code == 200
    # Ending one of its sessions gives the read token room again.
    session = opened[0].headers["mcp-session-id"]
    headers = {"Authorization": f"Bearer {READ_TOKEN}", "mcp-session-id": session}
    assert httpx.delete(server.url, headers=headers, timeout=10).status_code == 200
    assert open_session(server, READ_TOKEN).status_code == 200


def test_without_tokens_every_caller_is_one_credential_and_idle_sessions_end(
    seeded_db: Path, module_tmp: Path
) -> None:
    server = start_http_server(
        seeded_db, module_tmp, "--max-sessions-per-token", "1", "--session-idle-timeout", "1"
    )
    try:
        first = open_session(server)
        assert first.status_code == 200
        assert open_session(server).status_code == 503
        # Left idle, the session ends and frees its place.
        eventually(lambda: open_session(server).status_code == 200, "an idle session freed its place")
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        headers = {
            **ACCEPT,
            "mcp-session-id": first.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-11-25",
        }
        assert httpx.post(server.url, json=ping, headers=headers, timeout=10).status_code == 404
    finally:
        server.stop()


# -- slow clients and connection floods --------------------------------------------------------------


@pytest.fixture(scope="module", params=["auto", "h11"])
def strict_timeouts(
    request: pytest.FixtureRequest, seeded_db: Path, module_tmp: Path
) -> Iterator[HttpServer]:
    """On both HTTP parsers: the deadlines are added to uvicorn's httptools and h11 protocols alike."""
    server = start_http_server(
        seeded_db, module_tmp, "--header-timeout", "1", "--body-timeout", "1", "--max-connections", "50",
        "--http-stack", request.param,
    )  # fmt: skip
    yield server
    server.stop()


def connect(server: HttpServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE)
    sock.setblocking(True)
    return sock


def drip_until_closed(sock: socket.socket, first: bytes, drip: bytes, server: HttpServer) -> bytes:
    """Send ``first``, then ``drip`` every 0.2 s (checking meanwhile that the server answers others) until
    the server closes the connection; what it sent before closing."""
    sock.sendall(first)
    received = b""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.2)
        if readable:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk
            continue
        assert httpx.get(f"{server.base}/healthz", timeout=10).status_code == 200
        try:
            if drip:
                sock.sendall(drip)
        except (BrokenPipeError, ConnectionResetError):
            return received
    raise AssertionError(f"the server kept a slow connection open for {DEADLINE} s")


REQUEST_HEAD = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json, text/event-stream\r\n"

# (case, what the client sends at once, what it then sends a piece of every 0.2 s)
SLOW_CLIENTS = [
    ("connects and sends nothing", b"", b""),
    ("sends its headers a byte at a time", REQUEST_HEAD, b"x"),
    ("sends header after header, never the blank line", REQUEST_HEAD, b"X-Pad: 1\r\n"),
    (
        "sends its body a byte at a time",
        REQUEST_HEAD + b"Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n{",
        b" ",
    ),
]


@pytest.mark.parametrize(("case", "first", "drip"), SLOW_CLIENTS, ids=[case for case, _, _ in SLOW_CLIENTS])
def test_a_slow_client_is_cut_off_and_others_are_still_served(
    strict_timeouts: HttpServer, case: str, first: bytes, drip: bytes
) -> None:
    with connect(strict_timeouts) as sock:
        received = drip_until_closed(sock, first, drip, strict_timeouts)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert b"not received in time" in received
    assert open_session(strict_timeouts).status_code == 200


def test_a_long_response_stream_is_not_cut_by_the_read_deadlines(strict_timeouts: HttpServer) -> None:
    """The deadlines are for reading a request: an open SSE stream (GET /mcp) outlives them."""
    opened = open_session(strict_timeouts)
    session = opened.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    headers = {**ACCEPT, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
    assert httpx.post(strict_timeouts.url, json=initialized, headers=headers).status_code == 202
    with connect(strict_timeouts) as sock:
        sock.sendall(
            b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            + f"mcp-session-id: {session}\r\nmcp-protocol-version: 2025-11-25\r\n\r\n".encode()
        )
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 "), head
        time.sleep(3)  # three times each deadline
        readable, _, _ = select.select([sock], [], [], 0)
        assert not readable or sock.recv(65536) != b"", "the stream was closed"


@pytest.fixture(scope="module")
def three_connections(seeded_db: Path, module_tmp: Path) -> Iterator[HttpServer]:
    server = start_http_server(seeded_db, module_tmp, "--max-connections", "3", "--header-timeout", "60")
    yield server
    server.stop()


def test_connections_over_the_limit_are_refused_and_room_returns_when_they_close(
    three_connections: HttpServer,
) -> None:
    server = three_connections
    idle = [connect(server) for _ in range(3)]
    try:
        # Wait until the server has accepted all three (an accept is not instant).
        for sock in idle:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        refused = httpx.get(f"{server.base}/healthz", timeout=10)
        assert refused.status_code == 503
    finally:
        for sock in idle:
            sock.close()
    eventually(
        lambda: httpx.get(f"{server.base}/healthz", timeout=10).status_code == 200,
        "room for a new connection once the others closed",
    )
    response = open_session(server)
    assert response.status_code == 200 and "promptshelf" in response.text


# -- bodies over the size limit go to the SDK's own refusal ------------------------------------------


def test_a_body_over_the_size_limit_is_refused_413_whether_declared_or_streamed(
    strict_timeouts: HttpServer,
) -> None:
    """The JSON-RPC envelope check reads bodies up to the SDK's limit (4 MiB) and no further."""
    oversized = (
        b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "' + b"x" * (5 << 20) + b'"}}'
    )
    declared = httpx.post(strict_timeouts.url, content=oversized, headers=ACCEPT, timeout=30)
    assert declared.status_code == 413, declared.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: the size shows only while reading
        for start in range(0, len(oversized), 1 << 20):
            yield oversized[start : start + (1 << 20)]

    streamed = httpx.post(strict_timeouts.url, content=chunks(), headers=ACCEPT, timeout=30)
    assert streamed.status_code == 413, streamed.text
    assert open_session(strict_timeouts).status_code == 200


def test_ctrl_c_stops_the_http_server_cleanly_with_sessions_open(tmp_path: Path) -> None:
    # One session manager per credential, each with its task group: they must close in order on Ctrl-C.
    server = start_http_server(tmp_path / "prompts.db", tmp_path)
    try:
        accept = {"Accept": "application/json, text/event-stream"}
        assert httpx.post(server.url, json=INITIALIZE, headers=accept, timeout=10).status_code == 200
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(20) == 0, server.log.read_text()
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log and "shutdown failed" not in log, log


# -- the envelope check's reading of Content-Length -----------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("handed_over", [True, False], ids=["decoded headers", "raw headers"])
@pytest.mark.parametrize(
    ("length", "read"),
    [(b"64", True), (b"101", False), (b"\xb2", False), (b"6 4", False)],
    ids=["within", "over", "superscript two", "not a number"],
)
async def test_the_envelope_check_reads_only_a_body_declared_within_the_limit(
    length: bytes, read: bool, handed_over: bool
) -> None:
    """A declared length over the limit, or one that is not ASCII digits ("²" is a digit to Python's
    ``str.isdigit``), leaves the body unread for the SDK to refuse; from the guard's decoded headers as
    from the raw list."""
    from promptshelf.server import handoff
    from promptshelf.server.http import _EnvelopeMiddleware

    body = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    raw = [(b"content-type", b"application/json"), (b"content-length", length)]
    scope: Scope = {"type": "http", "method": "POST", "headers": raw}
    if handed_over:
        scope[handoff.HEADERS] = {key.decode("latin-1"): value.decode("latin-1") for key, value in raw}
    seen: dict[str, Any] = {}

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen["parsed"] = handoff.PARSED in scope

    async def send(message: Message) -> None:
        raise AssertionError(f"the envelope check answered itself: {message}")

    await _EnvelopeMiddleware(app, max_body=100)(scope, receive, send)
    assert seen["parsed"] is read
