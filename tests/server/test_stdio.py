"""``promptshelf serve`` on stdio: stdout carries the protocol and nothing else; the server ends cleanly
(store closed) on stdin EOF and on SIGTERM; stdin that is not a pipe (a file of requests, /dev/null); a
line over the limit is refused whole. (Malformed messages: ``test_adversarial.py``.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.server.stdio import MAX_LINE, LineReader, Overflow
from promptshelf.service import Policy, PromptService
from tests.server.conftest import INITIALIZE, server_env


def serve(db: Path, stdin: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promptshelf", "serve", "--db", str(db)],
        stdin=stdin,  # type: ignore[arg-type]
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_empty_stdin_ends_the_server_cleanly_and_prints_nothing(tmp_path: Path) -> None:
    with open("/dev/null") as devnull:
        done = serve(tmp_path / "prompts.db", devnull)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_requests_read_from_a_regular_file_are_answered_on_stdout(tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps(INITIALIZE) + "\nnot json\n")
    with requests.open() as stdin:
        done = serve(tmp_path / "prompts.db", stdin)
    assert done.returncode == 0, done.stderr
    # The refusal is written as the line is read; the answer once the request has run.
    refusal, answer = sorted(
        (json.loads(line) for line in done.stdout.splitlines()), key=lambda m: m["id"] or 0
    )
    assert refusal["id"] is None and refusal["error"]["code"] == -32700
    assert answer["id"] == 1 and answer["result"]["serverInfo"]["name"] == "promptshelf"
    assert answer["result"]["capabilities"]["prompts"]["listChanged"] is True


class PipedServer:
    """``promptshelf serve`` with stdin and stdout as pipes (the asyncio transport), stderr to a file."""

    def __init__(self, db: Path, stderr: Path) -> None:
        self.stderr_path = stderr
        self._stderr = stderr.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "promptshelf", "serve", "--db", str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=server_env(),
        )

    def request(self, id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        self.seen: list[dict[str, Any]] = []
        while True:  # every line on stdout must be a JSON-RPC message
            line = self.process.stdout.readline()  # type: ignore[union-attr]
            if not line:
                self._stderr.flush()
                raise AssertionError(f"the server closed stdout; stderr:\n{self.stderr_path.read_text()}")
            answer: dict[str, Any] = json.loads(line)
            assert answer["jsonrpc"] == "2.0"
            self.seen.append(answer)
            if answer.get("id") == id:
                return answer

    def send(self, message: dict[str, Any]) -> None:
        self.process.stdin.write(json.dumps(message).encode() + b"\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]

    def initialize(self) -> None:
        assert "result" in self.request(1, "initialize", INITIALIZE["params"])  # type: ignore[arg-type]
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def wait(self) -> tuple[int, bytes, str]:
        try:
            code = self.process.wait(10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._stderr.close()
        rest = self.process.stdout.read()  # type: ignore[union-attr]
        return code, rest, self.stderr_path.read_text()


async def _seed_broken_include(db: Path) -> None:
    store = await SQLiteStore.open(db)
    try:
        service = PromptService(store, Policy(trusted=True))
        await service.create_prompt("fine", template="ok")
        await service.create_prompt("broken", template="{{> missing}}")
    finally:
        await store.aclose()


def test_a_logged_warning_goes_to_stderr_and_stdout_carries_only_the_protocol(tmp_path: Path) -> None:
    db = tmp_path / "prompts.db"
    anyio.run(_seed_broken_include, db)
    server = PipedServer(db, tmp_path / "stderr.log")
    server.initialize()
    # A prompt whose include is missing is left out of prompts/list, with a warning in the log.
    listed = server.request(2, "prompts/list")
    assert [prompt["name"] for prompt in listed["result"]["prompts"]] == ["fine"]
    server.process.stdin.close()  # type: ignore[union-attr]
    code, rest, stderr = server.wait()
    assert code == 0
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in rest.splitlines())
    assert "WARNING" in stderr and "'broken' is not listed" in stderr


@pytest.mark.parametrize("end", ["stdin EOF", "SIGTERM", "SIGINT"])
def test_the_server_ends_cleanly_and_closes_the_store(tmp_path: Path, end: str) -> None:
    db = tmp_path / "prompts.db"
    server = PipedServer(db, tmp_path / "stderr.log")
    server.initialize()
    created = server.request(
        2, "tools/call", {"name": "create_prompt", "arguments": {"name": "n", "template": "t"}}
    )
    assert created["result"]["isError"] is False
    assert (tmp_path / "prompts.db-wal").exists()  # the store is open, mid-session
    if end == "stdin EOF":
        server.process.stdin.close()  # type: ignore[union-attr]
    else:
        server.process.send_signal(signal.SIGTERM if end == "SIGTERM" else signal.SIGINT)
    code, rest, stderr = server.wait()
    assert code == 0, stderr
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in rest.splitlines())
    assert "Traceback" not in stderr
    assert not (tmp_path / "prompts.db-wal").exists()  # closed: the last connection checkpointed


def test_a_line_over_the_limit_is_refused_whole_and_its_tail_never_runs(tmp_path: Path) -> None:
    """The tail of an overlong line once ran as a message of its own: padding a create_prompt request past
    64 MiB created the prompt."""
    server = PipedServer(tmp_path / "prompts.db", tmp_path / "stderr.log")
    server.initialize()
    create = {"name": "create_prompt", "arguments": {"name": "smuggled", "template": "t"}}
    tail = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": create}).encode()
    # The padding goes first, alone: the write returns once the server has read nearly all of it, past the
    # limit; the tail follows a moment later, as it would from a slow client.
    server.process.stdin.write(b" " * (MAX_LINE + 1024 * 1024))  # type: ignore[union-attr]
    server.process.stdin.flush()  # type: ignore[union-attr]
    time.sleep(0.5)
    server.process.stdin.write(b" " * 1024 + tail + b"\n")  # type: ignore[union-attr]
    server.process.stdin.flush()  # type: ignore[union-attr]
    # The first message is the refusal (had the tail run: a list_changed notification, then its result).
    refusal = json.loads(server.process.stdout.readline())  # type: ignore[union-attr]
    assert "error" in refusal and refusal["id"] is None and refusal["error"]["code"] == -32600, refusal
    assert f"longer than {MAX_LINE} bytes" in refusal["error"]["message"]
    listed = server.request(3, "tools/call", {"name": "list_prompts", "arguments": {}})
    assert listed["result"]["structuredContent"]["prompts"] == []
    server.process.stdin.close()  # type: ignore[union-attr]
    code, _, stderr = server.wait()
    assert code == 0, stderr


def _chunks(*chunks: bytes) -> Callable[[], Awaitable[bytes]]:
    pending = list(chunks)

    async def read() -> bytes:
        return pending.pop(0) if pending else b""

    return read


async def _lines(reader: LineReader) -> list[bytes | str]:
    lines: list[bytes | str] = []
    while (line := await reader.next_line()) is not None:
        lines.append("OVERFLOW" if isinstance(line, Overflow) else line)
    return lines


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ((b"a\nb", b"c\n", b"d"), [b"a", b"bc", b"d"]),  # split across chunks; last line without newline
        ((b"12345\nab\n",), ["OVERFLOW", b"ab"]),  # over the limit, newline in the same chunk
        ((b"1234", b"56", b"789\nab\n"), ["OVERFLOW", b"ab"]),  # over the limit across chunks: tail dropped
        ((b"1234", b"5678", b"9"), ["OVERFLOW"]),  # over the limit until the end of the input
        ((b"1234\n", b"\n"), [b"1234", b""]),  # exactly the limit is fine
    ],
)
def test_the_line_reader_splits_lines_and_drops_overlong_ones_whole(
    chunks: tuple[bytes, ...], expected: list[bytes | str]
) -> None:
    assert anyio.run(_lines, LineReader(_chunks(*chunks), limit=4)) == expected
