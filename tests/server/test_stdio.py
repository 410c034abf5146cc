"""``promptshelf serve`` on stdio when stdin is not a pipe: a file of requests, or /dev/null."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "file-client", "version": "1"},
    },
}


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
