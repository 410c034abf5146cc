"""The MCP surface: ``serve()`` runs promptshelf as an MCP server over stdio or streamable HTTP.

Modules, by responsibility:

    app.py            the SDK server and its handlers (tools, MCP prompts, resources, completions)
    tools.py          the ten tools as data: input model, output schema, annotations, handler
    uris.py           prompt:// URIs
    notifications.py  change detection (the store's change log) and delivery in both protocol eras
    http.py           streamable HTTP: /mcp, /healthz, bearer tokens, Host/Origin checks, sessions per token
    connections.py    HTTP connections: header and body read deadlines, a connection cap
    stack.py          the HTTP server stack: event loop and HTTP parser (--http-stack)
    stdio.py          an asyncio-native stdio transport
    wire.py           JSON-RPC envelope checks: the error each malformed message gets, on both transports
"""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any, Literal

import anyio

from promptshelf.settings import Settings

if TYPE_CHECKING:
    from promptshelf.server.app import PromptshelfMCP
    from promptshelf.server.http import Tokens
    from promptshelf.server.stack import HttpStack

__all__ = ["run_http", "serve"]

logger = logging.getLogger("promptshelf.server")


def serve(
    settings: Settings,
    *,
    transport: Literal["stdio", "http"] | str = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    allowed_hosts: list[str] | None = None,
    no_auth: bool = False,
) -> None:
    """Serve until stdin closes (stdio) or SIGINT/SIGTERM; logs go to stderr, never to stdout."""
    _log_to_stderr()
    if transport == "http":
        from promptshelf.server import stack as stacks
        from promptshelf.server.http import Tokens, check_bind

        stack = stacks.resolve_stack(settings.http_stack)

        tokens = Tokens(
            write=settings.token.get_secret_value() if settings.token else None,
            read=settings.read_token.get_secret_value() if settings.read_token else None,
        )
        check_bind(host, tokens, no_auth)
        run = _serve_http(settings, host, port, list(allowed_hosts or []), tokens, stack)
        with contextlib.suppress(KeyboardInterrupt):
            stacks.run(lambda: run, stack)
        return
    if transport != "stdio":
        raise ValueError(f"unknown transport {transport!r}: use 'stdio' or 'http'")
    run = _serve_stdio(settings)
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(lambda: run)


def run_http(app: Any, *, host: str, port: int, settings: Settings, stack: str = "auto") -> None:
    """Serve any ASGI app on promptshelf's HTTP server stack (the benchmark's reference servers use it,
    so that they run on exactly what ``serve`` runs on)."""
    from promptshelf.server import stack as stacks

    chosen = stacks.resolve_stack(stack)
    with contextlib.suppress(KeyboardInterrupt):
        stacks.run(lambda: _uvicorn(app, host, port, settings, chosen).serve(), chosen)


def _uvicorn(app: Any, host: str, port: int, settings: Settings, stack: HttpStack) -> Any:
    import uvicorn

    from promptshelf.server.connections import timed_protocol

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        http=timed_protocol(
            settings.header_timeout, settings.body_timeout, settings.max_connections, stack.protocol_base()
        ),
        limit_concurrency=settings.max_connections + 1,
    )
    return uvicorn.Server(config)


def _freeze_startup_objects() -> None:
    """Move everything built so far (modules, the SDK's and pydantic's schemas, the app) out of the
    cyclic garbage collector's reach: they live as long as the process, and a full collection walking
    them all cost about a tenth of every request's time under load."""
    gc.collect()
    gc.freeze()


def _log_to_stderr() -> None:
    root = logging.getLogger()
    if not any(getattr(handler, "stream", None) is sys.stderr for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.WARNING)
    logging.getLogger("promptshelf").setLevel(logging.INFO)


async def _build(settings: Settings) -> PromptshelfMCP:
    from promptshelf.backends import open_store
    from promptshelf.server.app import PromptshelfMCP
    from promptshelf.service import Policy, PromptService

    store = await open_store(settings)
    try:
        policy = Policy.from_settings(settings, trusted=False, actor="mcp")
        return PromptshelfMCP(PromptService(store, policy), read_only=settings.read_only)
    except BaseException:
        await store.aclose()  # an open store's worker thread would keep the process alive
        raise


async def _serve_stdio(settings: Settings) -> None:
    from promptshelf.server.stdio import stdio_streams

    mcp = await _build(settings)
    try:
        await mcp.hub.start()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_stop_on_signals, tasks.cancel_scope)
            tasks.start_soon(mcp.hub.run, settings.effective_poll_interval)
            async with stdio_streams() as (read_stream, write_stream):
                await mcp.server.run(read_stream, write_stream, mcp.server.create_initialization_options())
            tasks.cancel_scope.cancel()
    finally:
        mcp.hub.close()
        await mcp.service.store.aclose()


async def _stop_on_signals(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            scope.cancel()
            return


async def _serve_http(
    settings: Settings, host: str, port: int, allowed_hosts: list[str], tokens: Tokens, stack: HttpStack
) -> None:
    from promptshelf.server.http import HttpLimits, build_app
    from promptshelf.server.stack import parser_name, running_loop_name

    limits = HttpLimits.from_settings(settings)
    mcp = await _build(settings)
    try:
        app = build_app(
            mcp,
            host=host,
            allowed_hosts=allowed_hosts,
            tokens=tokens,
            poll_interval=settings.effective_poll_interval,
            limits=limits,
            fast_path=settings.http_fast_path,
        )
        server = _uvicorn(app, host, port, settings, stack)
        _freeze_startup_objects()
        address = f"[{host}]" if ":" in host else host
        logger.info(
            "serving MCP at http://%s:%d/mcp (store: %s; HTTP stack: %s + %s)",
            address,
            port,
            mcp.service.store.kind,
            running_loop_name(),
            parser_name(server.config.http),
        )
        logger.info("web view at http://%s:%d/", address, port)
        await server.serve()
    finally:
        await mcp.service.store.aclose()
