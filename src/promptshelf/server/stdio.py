"""An asyncio-native stdio transport.

The SDK's ``stdio_server`` wraps stdin and stdout with ``anyio.wrap_file``: each request crosses a worker
thread three times (read, write, flush). This one reads stdin through ``loop.connect_read_pipe`` and writes
with ``os.write``, feeding the same memory streams the SDK's server loop consumes. It keeps the SDK's
protection of the wire: while serving, fd 0 reads from ``/dev/null`` and fd 1 points at stderr, so a stray
``print`` (or a child process) cannot corrupt the protocol stream.

When stdin is not a pipe, socket or terminal (a regular file or /dev/null, say) asyncio cannot watch it,
and each chunk is read in a worker thread instead.

Unlike the SDK's transport, every line gets an answer: what is not a valid request is refused with the
JSON-RPC error it deserves (``wire.py``), and a line over the limit is discarded whole (``LineReader``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Self

import anyio
import anyio.to_thread
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage

from promptshelf.server.wire import INVALID_REQUEST, Ignored, Refusal, read_message

logger = logging.getLogger(__name__)

MAX_LINE = 64 * 1024 * 1024
"""The longest JSON-RPC message accepted on stdin (64 MiB)."""

CHUNK = 64 * 1024

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
    writer = FdWriteStream(fd_out)
    if not _pipe_like(fd_in):
        try:
            yield PipeReadStream(LineReader(_thread_chunks(fd_in)), writer), writer
        finally:
            os.close(fd_in)
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=CHUNK)
    pipe = os.fdopen(fd_in, "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        yield PipeReadStream(LineReader(lambda: reader.read(CHUNK)), writer), writer
    finally:
        transport.close()


def _thread_chunks(fd: int) -> Callable[[], Awaitable[bytes]]:
    """Chunks of a file asyncio cannot watch (a regular file, /dev/null), each read in a worker thread."""

    async def read() -> bytes:
        return await anyio.to_thread.run_sync(os.read, fd, CHUNK)

    return read


class Overflow:
    """A line longer than the limit: it was read to its end and thrown away, none of it executed."""


OVERFLOW = Overflow()


class LineReader:
    """Newline-delimited messages from a source of chunks, each at most ``limit`` bytes.

    A line over the limit is consumed through its newline and reported as ``OVERFLOW``: a reader that
    gave up at the limit would hand the line's tail on as the next message, and run it.
    """

    def __init__(self, read_chunk: Callable[[], Awaitable[bytes]], limit: int = MAX_LINE) -> None:
        self._read_chunk = read_chunk
        self._limit = limit
        self._buffer = bytearray()
        self._start = 0  # where the next line begins in the buffer
        self._scanned = 0  # no newline before this offset
        self._eof = False

    async def next_line(self) -> bytes | Overflow | None:
        """The next line without its newline, ``OVERFLOW``, or None at the end of the input."""
        overflowed = False
        while True:
            newline = self._buffer.find(b"\n", max(self._start, self._scanned))
            if newline >= 0:
                line = bytes(self._buffer[self._start : newline])
                self._start = newline + 1
                if overflowed or len(line) > self._limit:
                    return OVERFLOW
                return line
            if len(self._buffer) - self._start > self._limit:
                overflowed = True
                self._buffer.clear()
                self._start = self._scanned = 0
            else:
                self._scanned = len(self._buffer)
            if self._eof:
                rest = bytes(self._buffer[self._start :])
                self._buffer.clear()
                self._start = self._scanned = 0
                if overflowed:
                    return OVERFLOW
                return rest or None
            chunk = await self._read_chunk()
            if not chunk:
                self._eof = True
                continue
            if self._start:
                del self._buffer[: self._start]
                self._scanned = max(0, self._scanned - self._start)
                self._start = 0
            self._buffer += chunk


class PipeReadStream:
    """JSON-RPC messages, one per line, as the SDK's ``ReadStream`` protocol hands them to the server.

    What the server cannot take is answered here, on the spot (``wire.read_message``): the server loop
    never sees it, and the client is never left waiting.
    """

    def __init__(self, lines: LineReader, writer: FdWriteStream) -> None:
        self._lines = lines
        self._writer = writer

    async def receive(self) -> SessionMessage | Exception:
        while True:
            line = await self._lines.next_line()
            if line is None:
                raise anyio.EndOfStream
            if isinstance(line, Overflow):
                logger.warning("refused a message longer than %d bytes", MAX_LINE)
                refusal = Refusal(
                    INVALID_REQUEST, f"Invalid request: the message is longer than {MAX_LINE} bytes"
                )
                self._writer.send_bytes(refusal.reply_json())
                continue
            if not line.strip():
                continue
            message = read_message(line)
            if isinstance(message, Refusal):
                self._writer.send_bytes(message.reply_json())
                continue
            if isinstance(message, Ignored):
                logger.warning("dropped %s", message.reason)
                continue
            return SessionMessage(message)

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
        self.send_bytes(item.message.model_dump_json(by_alias=True, exclude_unset=True).encode())

    def send_bytes(self, message: bytes) -> None:
        _write_all(self._fd, message + b"\n")

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
