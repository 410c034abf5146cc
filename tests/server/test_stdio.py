"""``promptshelf serve`` on stdio: stdout carries the protocol and nothing else; the server ends cleanly
(store closed) on stdin EOF and on SIGTERM; stdin that is not a pipe (a file of requests, /dev/null)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from promptshelf.backends.sqlite import SQLiteStore
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
    requests.write_text(json.dumps(INITIALIZE) + "\n")
    with requests.open() as stdin:
        done = serve(tmp_path / "prompts.db", stdin)
    assert done.returncode == 0, done.stderr
    (answer,) = [json.loads(line) for line in done.stdout.splitlines()]
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
        while True:  # every line on stdout must be a JSON-RPC message
            line = self.process.stdout.readline()  # type: ignore[union-attr]
            if not line:
                self._stderr.flush()
                raise AssertionError(f"the server closed stdout; stderr:\n{self.stderr_path.read_text()}")
            answer: dict[str, Any] = json.loads(line)
            assert answer["jsonrpc"] == "2.0"
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
