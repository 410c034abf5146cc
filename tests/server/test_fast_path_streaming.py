"""What the SDK's SSE mode gives a stateless-era request, the fast path gives too.

A bare SDK server with handlers that are slow, that report progress, that crash, or that hang, served
on 127.0.0.1 twice: through ``FastPath`` and through the SDK's session manager alone, with the SDK's
ping interval shortened (the fast path reads the same setting). Both must send the same responses,
frame by frame (a run of pings counts as one: how many fit in a wait depends on the clock), and a
client that disconnects must cancel a handler on both.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import mcp.types as types
import pytest
import uvicorn
from mcp.server import Server
from mcp.server import _streamable_http_modern as modern
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from promptshelf.server.fast_path import FastPath
from tests.server.conftest import free_port

MODERN = "2026-07-28"
PING = 0.2


class Handlers:
    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.started: dict[str, threading.Event] = {}

    async def get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        kind = params.name.split("-")[0]
        self.started.setdefault(params.name, threading.Event()).set()
        try:
            if kind == "slow":
                await asyncio.sleep(PING * 3.5)
            elif kind == "progress":
                await ctx.session.report_progress(0.5, 1.0, "half way")
                await asyncio.sleep(PING * 1.5)
                await ctx.session.report_progress(1.0, 1.0)
            elif kind == "crash":
                raise RuntimeError("secret internals")
            elif kind == "slowcrash":
                await asyncio.sleep(PING * 1.5)
                raise RuntimeError("secret internals")
            elif kind == "hang":
                await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.append(params.name)
            raise
        text = types.TextContent(type="text", text=f"done {params.name}")
        return types.GetPromptResult(messages=[types.PromptMessage(role="user", content=text)])


def make_app(fast: bool, handlers: Handlers) -> Any:
    server: Server[Any] = Server("streaming", on_get_prompt=handlers.get_prompt)
    manager = StreamableHTTPSessionManager(
        app=server, security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    endpoint: Any = FastPath(manager) if fast else manager.handle_request

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            async with manager.run():
                await receive()
                await send({"type": "lifespan.startup.complete"})
                await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await endpoint(scope, receive, send)

    return app


def _serve(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    return f"http://127.0.0.1:{port}/mcp", server, thread


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[str, Handlers]]]:
    saved = modern._SSE_PING_INTERVAL
    modern._SSE_PING_INTERVAL = PING
    made: dict[str, tuple[str, Handlers]] = {}
    running = []
    try:
        for name, fast in (("fast", True), ("sdk", False)):
            handlers = Handlers()
            url, server, thread = _serve(make_app(fast, handlers))
            running.append((server, thread))
            made[name] = (url, handlers)
        yield made
    finally:
        for server, thread in running:
            server.should_exit = True
            thread.join(15)
        modern._SSE_PING_INTERVAL = saved


def request(name: str, progress: bool = False) -> tuple[bytes, dict[str, str]]:
    meta: dict[str, Any] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    if progress:
        meta["progressToken"] = "tok"
    body = {"jsonrpc": "2.0", "id": 3, "method": "prompts/get", "params": {"name": name, "_meta": meta}}
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "prompts/get",
        "mcp-name": name,
    }
    return json.dumps(body).encode(), headers


def frames(text: str) -> list[str]:
    """The SSE frames of a response, a run of pings as one."""
    out: list[str] = []
    for frame in text.split("\r\n\r\n"):
        if not frame:
            continue
        if frame == ": ping" and out and out[-1] == ": ping":
            continue
        out.append(frame)
    return out


def answer(url: str, name: str, progress: bool = False) -> tuple[int, str | None, list[str]]:
    body, headers = request(name, progress)
    response = httpx.post(url, content=body, headers=headers, timeout=30)
    content_type = response.headers.get("content-type")
    text = response.text
    return response.status_code, content_type, frames(text) if content_type == "text/event-stream" else [text]


CASES = [
    ("fast-1", False),
    ("slow-1", False),
    ("progress-1", True),
    ("progress-2", False),
    ("crash-1", False),
    ("slowcrash-1", False),
]


@pytest.mark.parametrize(("name", "progress"), CASES, ids=[name for name, _ in CASES])
def test_the_fast_path_streams_as_the_sdk_does(
    servers: dict[str, tuple[str, Handlers]], name: str, progress: bool
) -> None:
    fast = answer(servers["fast"][0], name, progress)
    sdk = answer(servers["sdk"][0], name, progress)
    assert fast == sdk
    kind = name.split("-")[0]
    if kind in ("slow", "slowcrash", "progress"):
        assert fast[1] == "text/event-stream" and fast[2][-1].startswith("event: message\r\ndata: ")
    if kind == "slow" or (kind == "progress" and not progress):  # silent past the interval: pinged
        assert fast[2][0] == ": ping"
    if kind == "progress" and progress:
        assert fast[2][0].startswith("event: message") and '"notifications/progress"' in fast[2][0]
        assert '"half way"' in fast[2][0]
    if kind in ("fast", "crash"):
        assert fast[1] == "application/json"
    if "crash" in kind:
        assert "secret internals" not in "".join(fast[2]) and "Internal server error" in "".join(fast[2])


@pytest.mark.parametrize("path", ["fast", "sdk"])
def test_a_client_that_disconnects_cancels_a_slow_handler(
    servers: dict[str, tuple[str, Handlers]], path: str
) -> None:
    url, handlers = servers[path]
    name = f"hang-{path}"
    body, headers = request(name)
    port = int(url.split(":")[2].split("/")[0])
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    raw = (
        f"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n{head}content-length: {len(body)}\r\n\r\n".encode() + body
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        assert handlers.started.setdefault(name, threading.Event()).wait(10)
        time.sleep(0.5)  # past the fast path's grace period: it now watches for the disconnect
    deadline = time.monotonic() + 10
    while name not in handlers.cancelled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert name in handlers.cancelled
