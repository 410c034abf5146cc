"""HTTP/1.1 connections that a slow or idle client cannot hold forever.

uvicorn closes a connection left idle after a response (``timeout_keep_alive``) and answers 503 over
``limit_concurrency``, but it has no deadline for a request's arrival: a client that sends its headers or
its body a byte at a time keeps the connection, and thousands of them use up the process's file
descriptors. ``timed_protocol`` adds both deadlines to uvicorn's h11 or httptools protocol (the two share
the attributes used here), and closes connections over the limit as they are accepted instead of when
they send a request:

- headers: from the connection's start, or the end of the previous response, until a request's headers
  are complete (``--header-timeout``);
- body: from the headers until the body's last byte (``--body-timeout``);
- a request that misses either is answered ``408 Request Timeout`` (when nothing was answered yet) and
  the connection is closed. A response being streamed (an SSE stream) has no deadline.

On httptools, header values also lose the whitespace around them, as h11 does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)


def _closing_response(status: str, text: str) -> bytes:
    body = text.encode()
    head = f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    return head.encode() + f"content-length: {len(body)}\r\n\r\n".encode() + body


REQUEST_TIMEOUT = _closing_response("408 Request Timeout", "The request was not received in time.\n")
OVER_CAPACITY = _closing_response("503 Service Unavailable", "Too many open connections; retry later.\n")


def timed_protocol(
    header_timeout: float, body_timeout: float, max_connections: int, base: type[Any] = H11Protocol
) -> type[Any]:
    """uvicorn's protocol ``base`` (``H11Protocol`` or ``HttpToolsProtocol``) with these deadlines and
    connection cap (pass it as ``Config(http=...)``, with ``limit_concurrency=max_connections + 1``:
    uvicorn counts the connection asking)."""

    class TimedProtocol(base):  # type: ignore[misc,valid-type]
        _deadline: asyncio.TimerHandle | None = None
        _waiting_for: str = ""  # "headers", "body", or "" (a response is under way)
        _cycle: Any = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                logger.warning("refused a connection: %d are open (--max-connections)", max_connections)
                transport.write(OVER_CAPACITY)
                transport.close()
                return
            self._track()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._track()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._track()

        def connection_lost(self, exc: Exception | None) -> None:
            self._arm("", 0)
            super().connection_lost(exc)

        if hasattr(base, "on_header"):  # httptools (h11 has no such callback: it strips them itself)

            def on_header(self, name: bytes, value: bytes) -> None:
                # httptools keeps the whitespace around a header's value, which RFC 9110 says is not part
                # of it: " greet " would not match the body's "greet" in the SDK's checks.
                super().on_header(name, value.strip(b" \t"))

        def _track(self) -> None:
            """Arm the deadline for what the connection now waits for: a request's headers, its body, or
            nothing while a response is under way. A deadline runs from when the wait begins."""
            if self.transport.is_closing():
                self._arm("", 0)
            elif self.cycle is None or self.cycle.response_complete:
                self._arm("headers", header_timeout)
            elif self.cycle.more_body and not self.cycle.disconnected and not self.cycle.response_started:
                self._arm("body", body_timeout, fresh=self.cycle is not self._cycle)
            else:
                self._arm("", 0)
            self._cycle = self.cycle

        def _arm(self, waiting_for: str, seconds: float, fresh: bool = False) -> None:
            if waiting_for == self._waiting_for and not fresh:
                return
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._waiting_for = waiting_for
            if waiting_for:
                self._deadline = self.loop.call_later(seconds, self._expire)

        def _expire(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            logger.warning("closed a connection whose request %s took too long", self._waiting_for)
            if self.cycle is None or not self.cycle.response_started:
                self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()

    TimedProtocol.__name__ = TimedProtocol.__qualname__ = f"Timed{base.__name__}"
    return TimedProtocol
