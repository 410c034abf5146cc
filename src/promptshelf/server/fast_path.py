"""The stateless era's ordinary request, answered without the SDK's per-request streaming machinery.

For a 2026-07-28 POST the SDK (``mcp.server._streamable_http_modern.handle_modern_request``, SSE mode)
builds a memory stream, a task group with two tasks and a timeout scope for every request, only to
cancel them when the handler answers within the keep-alive window, as nearly every handler does: about
half of what a request costs. ``FastPath`` walks the same ladder with the SDK's own functions and
answers the request with the SDK's own kernel (``ServerRunner.on_request``, as ``serve_one`` runs it),
error mapping (``_to_jsonrpc_response``, ``modern_error_data``) and writer (``_write``, ``_sse_event``;
a success whose result the kernel already dumped is written as ``_write`` would write it, without dumping
it twice: ``_write_result``); only the streaming is done differently:

- the keep-alive window is a timer (``loop.call_later``), not a task group: a handler still running
  after ``DISCONNECT_WATCH_AFTER`` gets a helper task, which from then on does what the SDK's sibling
  tasks do: a client that disconnects cancels the handler, and once the SDK's ping interval has passed
  the response commits to ``text/event-stream`` and pings until the final ``event: message``;
- a request-scoped notification (progress, a log message) commits the response to SSE at once and is
  sent as the SDK sends it, so nothing a handler emits is lost.

A handler that answers sooner than ``DISCONNECT_WATCH_AFTER`` cannot be cancelled by a disconnect (the
SDK would cancel it; here it finishes and its answer is discarded by the server): promptshelf's
handlers read and write their store within that time (writes are transactions, so either way nothing
is half done).

The body and headers come already parsed and decoded from the layers before it when they left them
(``handoff.py``). Every request this does not fully understand goes to the SDK, body intact (the
already-read body is replayed): any other method or version, a repeated header, an Accept,
Content-Type, Host or Origin the SDK refuses, a body it cannot parse or that is too large, a
notification, ``subscriptions/listen``, and every header the classifier rejects. The SDK then answers
with its own status, code and wording.

This module uses private SDK names (the ladder's pieces in ``_streamable_http_modern``, the session
manager's lifespan state); ``http.py`` enables it only on the exact ``mcp`` version it was written
against (``SDK_VERSION``), and the differential test (tests/server/test_fast_path.py) compares its every
answer with the SDK's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import anyio
from mcp.server import _streamable_http_modern as modern
from mcp.server.connection import Connection
from mcp.server.runner import ServerRunner, aclose_shielded
from mcp.server.streamable_http import check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware
from mcp.shared.inbound import (
    MCP_PROTOCOL_VERSION_HEADER,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
    x_mcp_header_map,
)
from mcp.shared.jsonrpc_dispatcher import progress_token_from_params
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import CORE_RESULT_TYPES, JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse
from mcp_types.methods import SPEC_CLIENT_METHODS
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from promptshelf.server import handoff

logger = logging.getLogger(__name__)

SDK_VERSION: Final = "2.3.0"
"""The one ``mcp`` version this module was written and tested against."""

VERSIONS: Final = frozenset({"2026-07-28"})
"""The protocol versions taken here (pinned, not the SDK's whole modern set: a new version may differ)."""

DISCONNECT_WATCH_AFTER: Final = 0.25
"""Seconds a handler may run before a disconnect can cancel it (see the module's docstring)."""

_VERSION_NAME: Final = MCP_PROTOCOL_VERSION_HEADER.lower()
_VERSION_HEADER: Final = _VERSION_NAME.encode("ascii")


def header_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """``dict(Request(scope).headers)``, the mapping the SDK hands its classifier (each name once, with
    its first value, in order), in one pass: Starlette's ``Headers`` rescans the list for every name."""
    headers: dict[str, str] = {}
    for key, value in raw:
        name = key.decode("latin-1")
        if name not in headers:
            headers[name] = value.decode("latin-1")
    return headers


class _Exchange(modern._SingleExchangeDispatchContext):
    """The SDK's dispatch context for one exchange, with notifications written straight to the response
    (committing it to SSE) instead of through the SDK's memory stream to its sibling task."""

    stream: _Stream

    async def notify(self, method: str, params: Mapping[str, Any] | None, opts: Any = None) -> None:
        body = dict(params) if params is not None else None
        await self.stream.event(
            modern._sse_event(JSONRPCNotification(jsonrpc="2.0", method=method, params=body))
        )


_COMPACT: Final = json.JSONEncoder(separators=(",", ":"))
"""``json.dumps(value, separators=(",", ":"))``, as the SDK's ``_write`` writes, without building an
encoder per call."""


def _dumped_by_kernel(method: str, result: dict[str, Any]) -> bool:
    """Whether the kernel's per-version sieve dumped ``result`` to JSON values (``_serialize``: every spec
    method's result whose ``resultType`` is core vocabulary; it stamps one on each)."""
    return method in SPEC_CLIENT_METHODS and result.get("resultType") in CORE_RESULT_TYPES


async def _write_result(msg: JSONRPCResponse, send: Send) -> None:
    """``modern._write`` for a success whose result the kernel already dumped to JSON values: dumping the
    envelope (``model_dump(mode="json", exclude_none=True)``, which leaves the values of a plain dict as they
    are) is then the identity, so these are the SDK's very bytes and headers without its second walk over
    the result (a tenth of a ``tools/call``)."""
    body = _COMPACT.encode({"jsonrpc": msg.jsonrpc, "id": msg.id, "result": msg.result}).encode()
    headers = [(b"content-length", str(len(body)).encode("latin-1")), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class _Stream:
    """The response of one exchange: JSON until something commits it to SSE, as the SDK does."""

    send: Send
    committed: bool = False
    done: bool = False
    last_sent: float = 0.0
    helper: asyncio.Task[None] | None = None

    async def event(self, data: bytes) -> None:
        if self.done:  # the SDK drops what arrives once the stream has closed
            return
        await self._commit()
        self.last_sent = time.monotonic()
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def _commit(self) -> None:
        if not self.committed:
            self.committed = True
            await self.send({"type": "http.response.start", "status": 200, "headers": modern._SSE_HEADERS})


class FastPath:
    """Answers a stateless-era POST (see the module's docstring), else hands it to ``fallback``."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        if manager.json_response or manager.stateless:
            raise ValueError("the fast path reproduces the SDK's SSE mode on a stateful manager only")
        self.manager = manager
        self.app = manager.app
        self.security = TransportSecurityMiddleware(manager.security_settings)
        self.max_body = manager.max_request_body_size
        self._header_free: dict[str, tuple[Mapping[str, Any], bool]] = {}
        self._scope_type: Callable[[], anyio.CancelScope] | None = None
        self._event_type: Callable[[], anyio.Event] | None = None
        self._accept: tuple[str, bool] | None = None
        self._secure: tuple[str | None, str | None, str | None] | None = None

    @staticmethod
    def takes(scope: Scope) -> bool:
        """A POST whose one ``MCP-Protocol-Version`` header names a version served here."""
        if scope["method"] != "POST":
            return False
        decoded: Mapping[str, str] | None = scope.get(handoff.HEADERS)
        if decoded is not None:  # each name once
            return decoded.get(_VERSION_NAME) in VERSIONS
        versions = [value for key, value in scope["headers"] if key == _VERSION_HEADER]
        return len(versions) == 1 and versions[0].decode("latin-1") in VERSIONS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        received: list[Message] = []
        answered = await self._answer(scope, receive, send, received)
        if not answered:
            logger.debug("handed a stateless-era request to the SDK")

            async def replay() -> Message:
                return received.pop(0) if received else await receive()

            await self.manager.handle_request(scope, replay, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, received: list[Message]) -> bool:
        """Answer the request and return True, or return False having read only into ``received``."""
        request = Request(scope, receive)
        decoded_headers: Mapping[str, str] | None = scope.get(handoff.HEADERS)
        # The SDK's ladder, in its order; any refusal is the SDK's to give.
        if decoded_headers is not None:
            if self._security_refuses(decoded_headers):
                return False
        elif await self.security.validate_request(request, is_post=True) is not None:
            return False
        if not self._accepts_json_and_sse(request, decoded_headers):
            return False
        parsed = await self._request(scope, receive, received)
        if parsed is None:
            return False
        req, decoded = parsed
        if req.method == "subscriptions/listen":
            return False  # a listen response is a notification stream
        # The decoded headers hold each name once and lower-case, so only the raw list can repeat one.
        if decoded_headers is None and find_duplicated_routing_header(request.headers.items()) is not None:
            return False
        headers = decoded_headers or header_dict(scope["headers"])
        verdict = classify_inbound_request(decoded, headers=headers)
        if isinstance(verdict, InboundLadderRejection):
            return False
        lifespan_state = self.manager._lifespan_state
        if self._may_reject_params(req) and (
            await modern._mcp_param_rejection(self.app, request, req, verdict, lifespan_state) is not None
        ):
            return False
        connection = Connection.from_envelope(
            verdict.protocol_version, verdict.client_info, verdict.client_capabilities
        )
        stream = _Stream(send)
        exchange = _Exchange(
            transport=TransportContext(
                kind="streamable-http", can_send_request=False, headers=request.headers
            ),
            request_id=req.id,
            message_metadata=ServerMessageMetadata(request_context=request),
            progress_token=progress_token_from_params(req.params),
            cancel_requested=self._event(),
        )
        exchange.stream = stream
        await self._exchange(scope, receive, stream, exchange, req, connection, lifespan_state)
        return True

    def _security_refuses(self, headers: Mapping[str, str]) -> bool:
        """Whether ``TransportSecurityMiddleware.validate_request(request, is_post=True)`` refuses: its
        ladder with its own validators, reading the headers already decoded before (each name once, so
        its value is the one Starlette's ``Headers.get`` finds, without rescanning the raw list per name)."""
        key = (headers.get("content-type"), headers.get("host"), headers.get("origin"))
        if key == self._secure:  # the last three allowed (a client sends the same every time)
            return False
        security = self.security
        refuses = not security._validate_content_type(key[0]) or (
            security.settings.enable_dns_rebinding_protection
            and (not security._validate_host(key[1]) or not security._validate_origin(key[2]))
        )
        if not refuses:
            self._secure = key
        return refuses

    def _accepts_json_and_sse(self, request: Request, headers: Mapping[str, str] | None) -> bool:
        """Whether the SDK's ``check_accept_headers`` finds both JSON and SSE acceptable. Its answer depends
        on the ``Accept`` value alone, and a client sends the same one every time: the answer for the last
        value seen is kept (read from the decoded headers, where the SDK reads the first value, the only
        one there)."""
        if headers is None:
            has_json, has_sse = check_accept_headers(request)
            return has_json and has_sse
        accept = headers.get("accept", "")
        known = self._accept
        if known is None or known[0] != accept:
            has_json, has_sse = check_accept_headers(request)
            known = self._accept = (accept, has_json and has_sse)
        return known[1]

    def _may_reject_params(self, req: JSONRPCRequest) -> bool:
        """Whether the SDK's ``Mcp-Param-*`` check can refuse ``req``: False only for a call of a tool
        whose input schema declares no ``x-mcp-header`` (the check compares nothing then; the SDK walks
        the schema on every call, a tenth of a ``tools/call``). The answer is kept per tool, for as long
        as the server returns that very schema object."""
        lookup = self.app.get_tool_input_schema
        name = (req.params or {}).get("name")
        if req.method != "tools/call" or lookup is None or not isinstance(name, str):
            return True
        try:
            schema = lookup(name)
        except Exception:
            return True  # the SDK's check logs it and lets the call through
        if schema is None:
            return True
        known = self._header_free.get(name)
        if known is None or known[0] is not schema:
            known = self._header_free[name] = (schema, not x_mcp_header_map(schema))
        return not known[1]

    async def _exchange(
        self,
        scope: Scope,
        receive: Receive,
        stream: _Stream,
        exchange: _Exchange,
        req: JSONRPCRequest,
        connection: Connection,
        lifespan_state: Any,
    ) -> None:
        loop = asyncio.get_running_loop()
        handler_scope = self._cancel_scope()

        def start_helper() -> None:
            if stream.helper is None and not stream.done:
                stream.helper = loop.create_task(self._helper(receive, stream, handler_scope))

        timer = loop.call_later(DISCONNECT_WATCH_AFTER, start_helper)
        stream.last_sent = time.monotonic()
        msg: JSONRPCResponse | JSONRPCError | None = None
        try:
            with handler_scope:
                coro = self._serve_one(exchange, req, connection, lifespan_state)
                if stream.committed:  # pragma: no cover - nothing ran yet
                    start_helper()
                msg = await modern._to_jsonrpc_response(req.id, coro)
        finally:
            stream.done = True
            timer.cancel()
            if stream.helper is not None:
                stream.helper.cancel()
                try:
                    await stream.helper
                except asyncio.CancelledError:
                    if (task := asyncio.current_task()) is not None and task.cancelling():
                        raise
        if msg is None:
            return  # the client went away and the handler was cancelled: nobody to answer
        if stream.committed:
            await stream.send(
                {"type": "http.response.body", "body": modern._sse_event(msg), "more_body": False}
            )
        elif isinstance(msg, JSONRPCResponse) and _dumped_by_kernel(req.method, msg.result):
            await _write_result(msg, stream.send)
        else:
            await modern._write(msg, scope, receive, stream.send)

    def _cancel_scope(self) -> anyio.CancelScope:
        """A new ``anyio.CancelScope()``. That constructor asks which async library is running and hands
        over to its backend's class, every time (more than the scope's own work); the class of the first
        scope, the running backend's, is then called directly."""
        if self._scope_type is None:
            scope = anyio.CancelScope()
            self._scope_type = type(scope)
            return scope
        return self._scope_type()

    def _event(self) -> anyio.Event:
        """A new ``anyio.Event()``, the way ``_cancel_scope`` makes a scope (the SDK's dispatch context
        makes one per request for its ``cancel_requested``)."""
        if self._event_type is None:
            event = anyio.Event()
            self._event_type = type(event)
            return event
        return self._event_type()

    async def _serve_one(
        self, exchange: _Exchange, req: JSONRPCRequest, connection: Connection, lifespan_state: Any
    ) -> dict[str, Any]:
        """The SDK's ``serve_one`` (its kernel, ``ServerRunner.on_request``, then the connection's teardown),
        with the teardown's shielded, time-bounded scope opened only when something was registered on the
        connection's exit stack: a stateless-era connection lives for one request and promptshelf
        registers nothing on it, and the scope costs about a twentieth of a request."""
        runner = ServerRunner(self.app, connection, lifespan_state)
        try:
            # ``on_request`` is a cached property holding this very method: a new runner per request
            # would pay for the cache each time.
            return await runner._on_request(exchange, req.method, req.params)
        finally:
            if getattr(connection.exit_stack, "_exit_callbacks", True):
                await aclose_shielded(connection)

    async def _helper(self, receive: Receive, stream: _Stream, handler_scope: anyio.CancelScope) -> None:
        """From ``DISCONNECT_WATCH_AFTER`` on: cancel the handler when the client disconnects, and keep
        the connection alive with the SDK's pings once its interval has passed without a message."""

        async def watch_disconnect() -> None:
            while (await receive()).get("type") != "http.disconnect":
                pass
            handler_scope.cancel()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch_disconnect)
            while True:
                interval = modern._SSE_PING_INTERVAL  # read each time, as the SDK does
                wait = stream.last_sent + interval - time.monotonic()
                if wait > 0:
                    await anyio.sleep(wait)
                    continue
                await stream.event(b": ping\r\n\r\n")

    async def _request(
        self, scope: Scope, receive: Receive, received: list[Message]
    ) -> tuple[JSONRPCRequest, Mapping[str, Any]] | None:
        """The request as the SDK reads it (``JSONRPCRequest`` and the decoded body), or None for a body
        it would refuse or answer otherwise (a notification or a batch). Taken from the envelope check
        when it left it (``handoff.PARSED``), else read and parsed here as the SDK does."""
        parsed = scope.get(handoff.PARSED)
        if parsed is not None and len(parsed[0]) <= self.max_body:
            req: JSONRPCRequest = parsed[1]
            return req, {"method": req.method, "params": req.params}  # what the SDK reads of the body
        body = await self._body(receive, received)
        if body is None:
            return None
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(decoded, dict) or "id" not in decoded:
            return None  # a notification or a batch
        try:
            return JSONRPCRequest.model_validate(decoded), decoded
        except ValidationError:
            return None

    async def _body(self, receive: Receive, received: list[Message]) -> bytes | None:
        """The whole body, or None (a disconnect, or over the limit: the SDK's to refuse), keeping every
        message read in ``received`` for the SDK."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
