"""Run a promptshelf command with its stderr on a pseudo-terminal, as a person at a terminal would."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class TerminalRun:
    returncode: int
    stdout: str
    drawn: bytes
    """Everything written to the terminal (stderr): progress bars and their escape codes."""


def run_on_terminal(*args: str, env: dict[str, str] | None = None) -> TerminalRun:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "promptshelf", *args],
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
        env={**os.environ, **(env or {}), "TERM": "xterm", "COLUMNS": "100"},
    )
    out, _ = process.communicate(timeout=120)
    os.close(terminal)
    drawn = b""
    try:
        while chunk := os.read(controller, 65536):
            drawn += chunk
    except OSError:  # the terminal's other end is closed: all has been read
        pass
    os.close(controller)
    return TerminalRun(process.returncode, out, drawn)
