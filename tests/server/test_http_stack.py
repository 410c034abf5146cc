"""The HTTP stack (--http-stack / PROMPTSHELF_HTTP_STACK) is the one actually running.

``promptshelf serve`` starts through ``anyio.run``; the startup log names the event loop from the class
of the loop that is running, and the parser from the protocol class uvicorn was given.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from promptshelf.errors import InvalidArgumentError
from promptshelf.server.stack import HttpStack, resolve_stack
from tests.server.conftest import serve_command, server_env, start_http_server


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ((), {}, "uvloop + httptools"),
        (("--http-stack", "h11"), {}, "asyncio + h11"),
        (("--http-stack", "httptools"), {}, "asyncio + httptools"),
        ((), {"PROMPTSHELF_HTTP_STACK": "h11"}, "asyncio + h11"),
        (("--http-stack", "uvloop"), {"PROMPTSHELF_HTTP_STACK": "h11"}, "uvloop + httptools"),
    ],
    ids=["default", "h11 flag", "httptools flag", "h11 variable", "flag over variable"],
)
def test_the_stack_asked_for_is_the_one_running(
    seeded_db: Path, module_tmp: Path, args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    server = start_http_server(seeded_db, module_tmp, *args, env=server_env(**env))
    try:
        log = server.log.read_text()
    finally:
        server.stop()
    assert f"HTTP stack: {expected})" in log, log


def test_an_unknown_stack_is_refused_naming_the_choices(seeded_db: Path) -> None:
    finished = subprocess.run(
        serve_command("--transport", "http", "--db", str(seeded_db), "--http-stack", "fastest"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=server_env(),
    )
    assert finished.returncode != 0
    assert "'fastest' is not one of 'auto', 'uvloop', 'httptools', 'h11'" in finished.stderr
    with pytest.raises(InvalidArgumentError, match="unknown HTTP stack 'fastest': use one of auto, uvloop"):
        resolve_stack("fastest")


def test_auto_is_uvloop_and_httptools_when_installed() -> None:
    # Both are dependencies (pyproject.toml): auto must pick them, and an explicit stack is what it says.
    assert resolve_stack("auto") == HttpStack("uvloop", "httptools")
    assert resolve_stack("h11") == HttpStack("asyncio", "h11")
    assert resolve_stack("httptools") == HttpStack("asyncio", "httptools")


@pytest.mark.parametrize("stack", ["auto", "h11"])
def test_whitespace_around_a_header_value_is_not_part_of_it_on_either_parser(
    seeded_db: Path, module_tmp: Path, stack: str
) -> None:
    # httptools hands values over with their surrounding whitespace; h11 strips it (RFC 9110 section 5.5).
    server = start_http_server(seeded_db, module_tmp, "--http-stack", stack)
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "prompts/get",
            "params": {"name": "greet", "arguments": {"name": "A", "lang": "en"}, "_meta": meta},
        }
    )
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type:  application/json \r\n"
        "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version:  2026-07-28\t\r\n"
        f"Mcp-Method: prompts/get \r\nMcp-Name:   greet  \r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(head.encode() + body.encode())
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
    finally:
        server.stop()
    assert received.startswith(b"HTTP/1.1 200 "), received
    assert b"Hi A, in en!" in received
