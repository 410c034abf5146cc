"""The test's side of ``tests/support/sqlite_worker.py``: start one as a real OS process and talk to it.

Every wait is bounded (``TIMEOUT`` seconds): a stuck worker fails the test with its stderr instead of
hanging it. A worker still running when its ``with`` block ends is killed (only the process started here).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120.0

Message = dict[str, Any]


class WorkerProcess:
    def __init__(self, mode: str, db: Path, *, stderr_dir: Path, **options: object) -> None:
        """Start ``sqlite_worker MODE --db DB``, each option as a flag (``worker=3`` is ``--worker 3``)."""
        self.mode = mode
        self._stderr_path = stderr_dir / f"worker-{id(self)}.stderr"
        self._stderr: IO[str] = self._stderr_path.open("w")
        flags = [part for key, value in options.items() for part in (f"--{key}", str(value))]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.sqlite_worker", mode, "--db", str(db), *flags],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=TIMEOUT)
        self._stderr.close()

    @property
    def stderr(self) -> str:
        self._stderr.flush()
        return self._stderr_path.read_text()

    def go(self) -> None:
        """Release the worker from its current wait for a line on stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def next_message(self) -> Message:
        """The next JSON line the worker prints; fails if it exits or stays silent for ``TIMEOUT`` s."""
        try:
            line = self._lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(
                f"{self.mode} worker silent for {TIMEOUT} s; stderr:\n{self.stderr}"
            ) from None
        if line is None:
            self._lines.put(None)
            raise AssertionError(
                f"{self.mode} worker exited ({self.process.wait(timeout=TIMEOUT)}); stderr:\n{self.stderr}"
            )
        message: Message = json.loads(line)
        return message

    def messages_so_far(self) -> list[Message]:
        """Every message printed since the last call, without waiting for more."""
        messages: list[Message] = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return messages
            if line is None:
                self._lines.put(None)
                return messages
            messages.append(json.loads(line))

    def finish(self) -> tuple[int, list[Message]]:
        """Wait for the worker to exit; its exit status and every message it had not been asked for."""
        status = self.process.wait(timeout=TIMEOUT)
        self._reader.join(timeout=TIMEOUT)
        rest: list[Message] = []
        while (line := self._lines.get(timeout=TIMEOUT)) is not None:
            rest.append(json.loads(line))
        self._lines.put(None)
        return status, rest

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, no rollback, as a crash or an OOM kill would end it."""
        self.process.kill()
        self.process.wait(timeout=TIMEOUT)
