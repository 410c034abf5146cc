"""Streamable HTTP (DESIGN.md, "Running it"): ``/mcp`` for both protocol eras, ``GET /healthz``, and the
web view at ``/`` (``promptshelf.web``, behind the same Host/Origin check and tokens).

Every request to ``/mcp`` passes, in order: the Host/Origin check (DNS-rebinding protection, against
``--allowed-host``), then the bearer token (when tokens are configured: ``PROMPTSHELF_TOKEN`` grants
read and write, ``PROMPTSHELF_READ_TOKEN`` read only; the tool handler refuses write tools to the latter),
then the JSON-RPC envelope check, then the SDK's session manager, which routes each request to its era
by the ``MCP-Protocol-Version`` header. A stateless-era POST is answered by ``fast_path.FastPath`` (the
same answers without the SDK's per-request streaming machinery), which hands everything unusual to the
session manager.
"""

from __future__ import annotations

import hmac
import importlib.metadata
import ipaddress
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.middleware.bearer_auth import (
    AuthenticatedUser,
    BearerAuthBackend,
    RequireAuthMiddleware,
)
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, TransportSecuritySettings
from mcp_types import JSONRPCRequest
from starlette.applications import Starlette
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptshelf.errors import InvalidArgumentError
from promptshelf.server import handoff
from promptshelf.server.app import READ_SCOPE, WRITE_SCOPE, PromptshelfMCP
from promptshelf.server.wire import INVALID_REQUEST, Ignored, Refusal, read_message
from promptshelf.settings import Settings
from promptshelf.web import build_web

logger = logging.getLogger(__name__)

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WRITE_CLIENT = "promptshelf-write"
READ_CLIENT = "promptshelf-read"
ANONYMOUS = "anonymous"
"""The one credential of a server without tokens (a loopback bind, or --no-auth)."""


@dataclass(frozen=True)
class Tokens:
    """The bearer tokens that open ``/mcp``; none configured means no authentication."""

    write: str | None = None
    read: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.write or self.read)

    async def verify_token(self, token: str) -> AccessToken | None:
        if self.write and hmac.compare_digest(token.encode(), self.write.encode()):
            return AccessToken(token=token, client_id=WRITE_CLIENT, scopes=[READ_SCOPE, WRITE_SCOPE])
        if self.read and hmac.compare_digest(token.encode(), self.read.encode()):
            return AccessToken(token=token, client_id=READ_CLIENT, scopes=[READ_SCOPE])
        return None

    def credentials(self) -> list[str]:
        """Who can call: each configured token, or, without tokens, everyone as one anonymous caller."""
        if not self.enabled:
            return [ANONYMOUS]
        return [name for name, token in ((WRITE_CLIENT, self.write), (READ_CLIENT, self.read)) if token]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens: Tokens, no_auth: bool) -> None:
    """Refuse to expose an unauthenticated registry beyond this machine, unless asked to (--no-auth)."""
    if is_loopback(host) or tokens.enabled or no_auth:
        return
    raise InvalidArgumentError(
        f"refusing to serve on {host} without a token: anyone who can reach it could change prompts. "
        "Set PROMPTSHELF_TOKEN (and optionally PROMPTSHELF_READ_TOKEN), bind 127.0.0.1, or pass --no-auth.",
        argument="host",
    )


@dataclass
class HostCheck:
    """DNS-rebinding protection: which Host and Origin headers ``/mcp`` accepts.

    On a loopback bind, the loopback names and the bind address itself (any port) plus ``--allowed-host``
    values are accepted. On any other bind, those when ``--allowed-host`` is given; without it the Host
    is not checked (the token is the protection) and an Origin must name the same host and port as the
    Host header.
    """

    bind_host: str
    allowed_hosts: list[str] = field(default_factory=list)

    def settings(self) -> TransportSecuritySettings:
        hosts: list[str] = []
        if is_loopback(self.bind_host) or self.allowed_hosts:
            for name in (*LOOPBACK_NAMES, *_bind_name(self.bind_host)):
                hosts += [name, f"{name}:*"]
        for host in self.allowed_hosts:
            hosts += [host] if _has_port(host) else [host, f"{host}:*"]
        origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=bool(hosts), allowed_hosts=hosts, allowed_origins=origins
        )

    def refusal(self, headers: dict[str, str], settings: TransportSecuritySettings) -> Response | None:
        host = headers.get("host", "")
        origin = headers.get("origin")
        if settings.enable_dns_rebinding_protection:
            if not _matches(host, settings.allowed_hosts):
                logger.warning("refused a request with Host %r", host)
                return PlainTextResponse(f"Host {host!r} is not allowed (see --allowed-host)", 421)
            if origin and not _matches(origin, settings.allowed_origins):
                logger.warning("refused a request with Origin %r", origin)
                return PlainTextResponse(f"Origin {origin!r} is not allowed (see --allowed-host)", 403)
        elif origin and urlsplit(origin).netloc != host:
            logger.warning("refused a cross-origin request from %r to %r", origin, host)
            return PlainTextResponse(f"Origin {origin!r} is not allowed (see --allowed-host)", 403)
        return None


def _bind_name(host: str) -> tuple[str, ...]:
    """The bind address as a Host header names it (a client of ``--host 127.0.0.2`` sends
    ``Host: 127.0.0.2:PORT``); nothing for the wildcard addresses, which no client sends."""
    bare = host.strip("[]")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return (host,) if host not in LOOPBACK_NAMES else ()
    if address.is_unspecified:
        return ()
    name = f"[{bare}]" if address.version == 6 else bare
    return () if name in LOOPBACK_NAMES else (name,)


def _has_port(host: str) -> bool:
    return "]:" in host if host.startswith("[") else ":" in host


def _matches(value: str, patterns: list[str]) -> bool:
    """Exact, or ``name:*`` followed by a port: digits and nothing else (``localhost:1.evil`` is no port)."""
    for pattern in patterns:
        if value == pattern:
            return True
        if pattern.endswith(":*") and value.startswith(pattern[:-1]):
            port = value[len(pattern) - 1 :]
            if port.isascii() and port.isdigit():
                return True
    return False


class _GuardMiddleware:
    """Host/Origin check before anything else (so a rebinding attack learns nothing, not even a 401)."""

    def __init__(self, app: ASGIApp, check: HostCheck) -> None:
        self.app = app
        self.check = check
        self.settings = check.settings()
        self._allowed: tuple[str | None, str | None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
            # The check depends on the Host and Origin alone, and a client sends the same ones every time:
            # the last pair allowed is remembered.
            host_and_origin = (headers.get("host"), headers.get("origin"))
            if host_and_origin != self._allowed:
                refusal = self.check.refusal(headers, self.settings)
                if refusal is not None:
                    await refusal(scope, receive, send)
                    return
                self._allowed = host_and_origin
            # Handed on when no name repeats, even in another spelling (the SDK's duplicate check
            # lower-cases names; uvicorn sends them lower-case already): every reading of them agrees.
            if len(headers) == len(scope["headers"]) and "".join(headers).islower():
                scope[handoff.HEADERS] = headers
        await self.app(scope, receive, send)


class _EnvelopeMiddleware:
    """Refuses a POST body that is not one valid JSON-RPC request or notification with the error JSON-RPC
    2.0 asks for (``wire.py``): -32700 or -32600, the request's id when it can be read, a sentence. The SDK
    would answer -32602 with its whole validation report, or drop the id.

    A body over the SDK's size limit is passed on unread for the SDK to refuse (413).
    """

    def __init__(self, app: ASGIApp, max_body: int = DEFAULT_MAX_REQUEST_BODY_SIZE) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or self._declared_too_long(scope):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        size = 0
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body or not message.get("more_body", False):
                break
        last = received[-1]
        if last["type"] == "http.request" and not last.get("more_body", False) and size <= self.max_body:
            if len(received) == 1:
                body = last.get("body", b"")
            else:
                body = b"".join(message.get("body", b"") for message in received)
            verdict = read_message(body)
            if isinstance(verdict, Ignored):
                verdict = Refusal(INVALID_REQUEST, f"Invalid request: {verdict.reason}")
            if isinstance(verdict, Refusal):
                await Response(verdict.reply_json(), 400, media_type="application/json")(scope, receive, send)
                return
            if isinstance(verdict, JSONRPCRequest):
                scope[handoff.PARSED] = (body, verdict)

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)

    def _declared_too_long(self, scope: Scope) -> bool:
        decoded: dict[str, str] | None = scope.get(handoff.HEADERS)
        if decoded is not None:  # each name once: its value is the first one's
            length = decoded.get("content-length")
            if length is None:
                return False
            # ASCII digits only, as bytes.isdigit() (str.isdigit() takes "²" too)
            return not (length.isascii() and length.isdigit()) or int(length) > self.max_body
        for key, value in scope["headers"]:
            if key == b"content-length":
                return not value.isdigit() or int(value) > self.max_body
        return False


@dataclass(frozen=True)
class HttpLimits:
    """What one caller may hold (DESIGN.md, "Running it"; each has a flag and a variable)."""

    max_sessions_per_token: int
    session_idle_timeout: float
    header_timeout: float
    body_timeout: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_sessions_per_token=settings.max_sessions_per_token,
            session_idle_timeout=settings.session_idle_timeout,
            header_timeout=settings.header_timeout,
            body_timeout=settings.body_timeout,
            max_connections=settings.max_connections,
        )


class _SessionsByCredential:
    """One SDK session manager per credential, each with its own session limit and idle timeout.

    The SDK counts sessions per manager: with one manager, a holder of the read token could open them all
    and lock every other handshake-era client out. With one per credential it can only use up its own.
    Each manager's stateless-era requests go through its fast path, when there is one.
    """

    def __init__(self, managers: dict[str, StreamableHTTPSessionManager], fast: bool) -> None:
        self.managers = managers
        self.fast: dict[str, ASGIApp] = {}
        self.takes: Callable[[Scope], bool] = lambda scope: False
        if fast:
            from promptshelf.server.fast_path import FastPath

            self.fast = {credential: FastPath(manager) for credential, manager in managers.items()}
            self.takes = FastPath.takes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        credential = (
            user.access_token.client_id if isinstance(user, AuthenticatedUser) else None
        ) or ANONYMOUS
        if self.fast and self.takes(scope):
            await self.fast[credential](scope, receive, send)
        else:
            await self.managers[credential].handle_request(scope, receive, send)


FAST_PATH_MCP_VERSION = "2.3.0"
"""The ``mcp`` version ``fast_path`` was written against (it uses private SDK names); pinned exactly in
pyproject.toml. On any other version the SDK answers every request."""


def fast_path_usable(wanted: bool, installed: str | None = None) -> bool:
    """Whether to answer stateless-era requests with ``fast_path``: asked for, and the installed SDK is
    the version it was written against (checked before its module, which imports private SDK names, is
    imported)."""
    if not wanted:
        return False
    installed = installed or importlib.metadata.version("mcp")
    if installed != FAST_PATH_MCP_VERSION:
        logger.warning(
            "the HTTP fast path is off: it was written for mcp %s and mcp %s is installed",
            FAST_PATH_MCP_VERSION,
            installed,
        )
        return False
    return True


def build_app(
    mcp: PromptshelfMCP,
    *,
    host: str,
    allowed_hosts: list[str],
    tokens: Tokens,
    poll_interval: float,
    limits: HttpLimits,
    fast_path: bool = True,
    mcp_version: str | None = None,
) -> Starlette:
    """The ASGI app: ``/mcp`` (guarded) and ``/healthz``; its lifespan runs the session managers and the
    change watcher. ``fast_path`` asks for the stateless-era fast path, used when ``mcp_version`` (the
    installed one, unless given) is the one it was written for."""
    check = HostCheck(host, allowed_hosts)
    managers = {
        credential: StreamableHTTPSessionManager(
            app=mcp.server,
            security_settings=check.settings(),
            session_idle_timeout=limits.session_idle_timeout,
            max_sessions=limits.max_sessions_per_token,
        )
        for credential in tokens.credentials()
    }
    sessions = _SessionsByCredential(managers, fast=fast_path_usable(fast_path, mcp_version))
    endpoint: ASGIApp = _EnvelopeMiddleware(sessions)
    if tokens.enabled:
        endpoint = AuthenticationMiddleware(
            RequireAuthMiddleware(endpoint, required_scopes=[READ_SCOPE]), backend=BearerAuthBackend(tokens)
        )
    endpoint = _GuardMiddleware(endpoint, check)

    web = _GuardMiddleware(build_web(mcp.service, mcp.hub, tokens=tokens, read_only=mcp.read_only), check)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "store": mcp.service.store.kind})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        import anyio

        await mcp.hub.start()
        async with AsyncExitStack() as stack:
            for manager in managers.values():
                await stack.enter_async_context(manager.run())
            # Opened after the session managers so that it closes before them: each manager runs a task
            # group of its own, and task groups must close in the reverse order they were opened.
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(mcp.hub.run, poll_interval)
                try:
                    yield {}
                finally:
                    mcp.hub.close()
                    tasks.cancel_scope.cancel()

    return _McpFirst(
        endpoint,
        routes=[
            Route("/mcp", endpoint=endpoint),
            Route("/healthz", endpoint=healthz, methods=["GET"]),
            Mount("/", app=web),  # the web view (promptshelf.web)
        ],
        lifespan=lifespan,
    )


class _McpFirst(Starlette):
    """Starlette, with an HTTP request for exactly ``/mcp`` handed straight to the ``/mcp`` endpoint (the
    same guarded chain its route holds) instead of through Starlette's error and exception middleware and
    router, which cost about a twentieth of a request and do nothing for it: the route takes every method
    and the chain answers its own errors (an exception still gets uvicorn's 500, as Starlette's)."""

    def __init__(self, mcp_endpoint: ASGIApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._mcp_endpoint = mcp_endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/mcp" and not scope.get("root_path"):
            scope["app"] = self
            await self._mcp_endpoint(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)
