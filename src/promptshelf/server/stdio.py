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

import anyio
import mcp.types as types
from mcp.server.stdio import stdio_server
from mcp.shared._context_streams import ContextReceiveStream, ContextSendStream, create_context_streams
from mcp.shared.message import SessionMessage

logger = logging.getLogger(__name__)

MAX_LINE = 64 * 1024 * 1024
"""The longest JSON-RPC message accepted on stdin (64 MiB)."""

Streams = tuple[ContextReceiveStream[SessionMessage | Exception], ContextSendStream[SessionMessage]]


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
    """Serve over ``fd_in`` (owned: closed on exit) and ``fd_out`` (borrowed)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    pipe = os.fdopen(fd_in, "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    read_writer, read_stream = create_context_streams[SessionMessage | Exception](0)
    write_stream, write_reader = create_context_streams[SessionMessage](0)

    async def read_stdin() -> None:
        async with read_writer:
            while True:
                try:
                    line = await reader.readline()
                except ValueError as exc:  # a line longer than MAX_LINE
                    await read_writer.send(exc)
                    continue
                if not line:
                    return
                if not line.strip():
                    continue
                try:
                    message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                except Exception as exc:
                    await read_writer.send(exc)
                    continue
                await read_writer.send(SessionMessage(message))

    async def write_stdout() -> None:
        async with write_reader:
            async for session_message in write_reader:
                data = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                _write_all(fd_out, data.encode() + b"\n")

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(read_stdin)
            tasks.start_soon(write_stdout)
            yield read_stream, write_stream
            tasks.cancel_scope.cancel()  # the server is done: stop waiting for stdin
    finally:
        transport.close()


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
