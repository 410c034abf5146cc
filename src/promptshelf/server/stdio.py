"""An asyncio-native stdio transport.

The SDK's ``stdio_server`` wraps stdin and stdout with ``anyio.wrap_file``: each request crosses a worker
thread three times (read, write, flush). This one reads stdin through ``loop.connect_read_pipe`` and writes
with ``os.write``, feeding the same memory streams the SDK's server loop consumes. It keeps the SDK's
protection of the wire: while serving, fd 0 reads from ``/dev/null`` and fd 1 points at stderr, so a stray
``print`` (or a child process) cannot corrupt the protocol stream.

When stdin is not a pipe, socket or terminal (a regular file or /dev/null, say) asyncio cannot watch it,
and the SDK's thread-based transport is used instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import AsyncIterator
from typing import Self

import anyio
import mcp.types as types
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage

logger = logging.getLogger(__name__)

MAX_LINE = 64 * 1024 * 1024
"""The longest JSON-RPC message accepted on stdin (64 MiB)."""

Streams = tuple[ReadStream[SessionMessage | Exception], WriteStream[SessionMessage]]


def _pipe_like(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    # Of character devices only terminals can be watched: epoll refuses /dev/null (EPERM).
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (stat.S_ISCHR(mode) and os.isatty(fd))


@contextlib.asynccontextmanager
async def stdio_streams() -> AsyncIterator[Streams]:
    """The server's (read, write) streams over this process's stdin and stdout."""
    if not _pipe_like(0):
        async with stdio_server() as (read_stream, write_stream):
            yield read_stream, write_stream  # type: ignore[misc]
        return
    wire_in, wire_out = os.dup(0), os.dup(1)
    _divert(0, os.open(os.devnull, os.O_RDONLY))
    _divert(1, os.dup(2))
    try:
        async with _serve(os.dup(wire_in), wire_out) as streams:
            yield streams
    finally:
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)
        os.close(wire_in)
        os.close(wire_out)


def _divert(fd: int, replacement: int) -> None:
    os.dup2(replacement, fd)
    os.close(replacement)


@contextlib.asynccontextmanager
async def _serve(fd_in: int, fd_out: int) -> AsyncIterator[Streams]:
    """Serve over ``fd_in`` (owned: closed on exit) and ``fd_out`` (borrowed).

    The server loop reads straight from the pipe and writes straight to the file descriptor: no memory
    stream and no relay task between them, so a request costs the fewest event-loop turns.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    pipe = os.fdopen(fd_in, "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        yield PipeReadStream(reader), FdWriteStream(fd_out)
    finally:
        transport.close()


class PipeReadStream:
    """JSON-RPC messages, one per line, as the SDK's ``ReadStream`` protocol hands them to the server."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    async def receive(self) -> SessionMessage | Exception:
        while True:
            try:
                line = await self._reader.readline()
            except ValueError as exc:  # a line longer than MAX_LINE
                return exc
            if not line:
                raise anyio.EndOfStream
            if not line.strip():
                continue
            try:
                return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
            except Exception as exc:
                return exc

    def __aiter__(self) -> PipeReadStream:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class FdWriteStream:
    """Each message the server sends, written to the file descriptor as one JSON line."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    async def send(self, item: SessionMessage, /) -> None:
        data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
        _write_all(self._fd, data.encode() + b"\n")

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            import select

            select.select([], [fd], [])
            continue
        except BrokenPipeError:
            logger.debug("stdout closed; dropping a message")
            return
        view = view[written:]
