"""Fixtures for the MCP surface: real ``promptshelf serve`` processes on a temporary SQLite file, and the
SDK's ``Client`` connected to them over stdio or streamable HTTP in each protocol era.

- ``seeded_db``: a SQLite file holding the prompts described by ``SEED`` (module scope, read-mostly: tests
  that write create prompts with unique names).
- ``http_server``: ``promptshelf serve --transport http`` on 127.0.0.1 and a free port, on ``seeded_db``.
- ``connect``: ``connect(era, transport)`` opens a ``Client`` (eras: ``2025-06-18``, ``2025-11-25``,
  ``2026-07-28``; transports: ``stdio``, ``http``). ``era`` and ``transport`` are also parametrized
  fixtures for tests that run in every combination.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx
import mcp.client.session as client_session
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from promptshelf.backends.base import Store
from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.model import Message, Variable
from promptshelf.service import Policy, PromptService

ERAS = ("2025-06-18", "2025-11-25", "2026-07-28")
TRANSPORTS = ("stdio", "http")
MODERN = "2026-07-28"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw-client", "version": "1"},
    },
}
"""A handshake request as raw JSON-RPC, for tests that speak to a server without the SDK's client."""


async def seed(path: Path) -> None:
    """The prompts every server test can rely on (never modified by tests), in a SQLite file."""
    await seed_store(await SQLiteStore.open(path))


async def seed_store(store: Store) -> None:
    """``seed`` into any store (closed afterwards)."""
    service = PromptService(store, Policy(trusted=True, actor="seed"))
    try:
        await service.create_prompt(
            "greet",
            template="Hello {{name}}, in {{lang}}.",
            description="Greets someone",
            variables=[
                Variable(name="name", description="who to greet"),
                Variable(name="lang", description="the language", enum=["en", "fr", "de"]),
            ],
            tags=["demo"],
        )
        await service.update_prompt(
            "greet", base_version=1, template="Hi {{name}}, in {{lang}}!", commit_message="shorter"
        )
        await service.set_label("greet", "production", 1)
        await service.create_prompt(
            "team/review",
            messages=[
                Message(role="user", content="Review {{code}}"),
                Message(role="system", content="You are a careful reviewer."),
                Message(role="assistant", content="Send the code."),
            ],
            description="A chat prompt",
            variables=[Variable(name="code", description="the code to review")],
        )
        await service.create_prompt("footer", template="-- {{signature}}", description="included")
        await service.create_prompt(
            "letter", template="Dear {{who}},\n{{> footer}}", description="includes footer"
        )
        await service.create_prompt(
            "test_simple_prompt",
            template="This is a simple prompt for testing.",
            description="A simple prompt without arguments",
        )
        await service.create_prompt(
            "test_prompt_with_arguments",
            template="Prompt with arguments: arg1='{{arg1}}', arg2='{{arg2}}'",
            description="A prompt with arguments",
            variables=[
                Variable(name="arg1", description="First test argument"),
                Variable(name="arg2", description="Second test argument"),
            ],
        )
    finally:
        await store.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTSHELF_")}
    env.update(extra)
    return env


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "promptshelf", "serve", *args]


@dataclass
class HttpServer:
    url: str
    port: int
    db: Path
    process: subprocess.Popen[bytes]
    log: Path
    host: str = "127.0.0.1"

    @property
    def base(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{name}:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_http_server(
    db: Path, tmp: Path, *args: str, env: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> HttpServer:
    port = free_port()
    log = tmp / f"http-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            serve_command("--transport", "http", "--host", host, "--port", str(port), "--db", str(db), *args),
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env=env or server_env(),
        )
    server = HttpServer("", port, db, process, log, host)
    server.url = f"{server.base}/mcp"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not start: {log.read_text()}")


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def seeded_db(module_tmp: Path) -> Path:
    path = module_tmp / "prompts.db"
    anyio.run(seed, path)
    return path


@pytest.fixture(scope="module")
def http_server(seeded_db: Path, module_tmp: Path) -> Iterator[HttpServer]:
    server = start_http_server(seeded_db, module_tmp, "--poll-interval", "0.2")
    yield server
    server.stop()


@dataclass
class Received:
    """Notifications a client received, for tests to wait on."""

    messages: list[Any] = field(default_factory=list)
    changed: anyio.Event = field(default_factory=anyio.Event)

    async def handler(self, message: Any) -> None:
        if isinstance(message, Exception):
            return
        self.messages.append(message)
        self.changed.set()

    def methods(self) -> list[str]:
        return [getattr(getattr(m, "root", m), "method", "") for m in self.messages]

    async def wait_for(self, method: str, within: float = 5.0, uri: str | None = None) -> Any:
        with anyio.fail_after(within):
            while True:
                for message in self.messages:
                    inner = getattr(message, "root", message)
                    if getattr(inner, "method", None) != method:
                        continue
                    if uri is not None and str(getattr(inner.params, "uri", "")) != uri:
                        continue
                    return inner
                self.changed = anyio.Event()
                await self.changed.wait()


Connect = Callable[..., AbstractAsyncContextManager[Client]]


@asynccontextmanager
async def open_client(
    era: str,
    transport: str,
    *,
    db: Path | None = None,
    url: str | None = None,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    received: Received | None = None,
    errlog: TextIO | None = None,
) -> AsyncIterator[Client]:
    """A connected SDK client in ``era`` over ``transport`` (stdio launches its own server process, whose
    stderr goes to ``errlog`` when given, else to this process's stderr)."""
    if transport == "stdio":
        assert db is not None
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "promptshelf", "serve", "--db", str(db), "--poll-interval", "0.2", *args],
            env=env or server_env(),
        )
        target: Any = params if errlog is None else stdio_client(params, errlog=errlog)
    else:
        assert url is not None
        http = httpx_client(headers)
        target = streamable_http_client(url, http_client=http)
    mode = "auto" if era == MODERN else "legacy"
    handler = received.handler if received else None
    saved = client_session.LATEST_HANDSHAKE_VERSION
    if era != MODERN:
        client_session.LATEST_HANDSHAKE_VERSION = era  # type: ignore[misc]
    try:
        async with Client(target, mode=mode, cache=None, message_handler=handler) as client:
            assert client.protocol_version == era
            yield client
    finally:
        client_session.LATEST_HANDSHAKE_VERSION = saved  # type: ignore[misc]


def httpx_client(headers: dict[str, str] | None) -> Any:
    import httpx2

    return httpx2.AsyncClient(headers=headers or {}, timeout=httpx2.Timeout(30, read=300))


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    era: str = request.param
    return era


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    transport: str = request.param
    return transport


@pytest.fixture
def connect(seeded_db: Path, http_server: HttpServer) -> Connect:
    """``connect(era, transport, **options)``: a client of the seeded server (stdio: a fresh process on
    the same file; http: the module's HTTP server)."""

    def factory(era: str, transport: str, **options: Any) -> AbstractAsyncContextManager[Client]:
        return open_client(era, transport, db=seeded_db, url=http_server.url, **options)

    return factory


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
