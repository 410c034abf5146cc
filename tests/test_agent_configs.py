"""Every file in ``agent-configs/`` parses in its tool's own format, has the structure that tool reads,
and names a command that really starts promptshelf (stdio) or a URL and bearer header that a running
``promptshelf serve --transport http`` accepts.

``uvx promptshelf`` cannot be started here (the package is not on PyPI yet), so those configs are checked
to be the installed ones with ``uvx promptshelf`` in front, and nothing else different.

No stdio config names the SQLite file: the server then uses its own default, the one the CLI uses
(``$XDG_DATA_HOME/promptshelf/prompts.db``), so ``promptshelf publish`` in a terminal and the editor's
server share one store.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import yaml
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parent.parent / "agent-configs"
VARIANTS = ("installed", "uvx", "http")
TOKEN = "s3cret-test-token"

pytestmark = pytest.mark.anyio


def strip_jsonc(text: str) -> str:
    """JSON with ``//`` and ``/* */`` comments and trailing commas (what VS Code and Zed accept) -> JSON."""
    out: list[str] = []
    index, in_string = 0, False
    while index < len(text):
        char = text[index]
        if in_string:
            out.append(char)
            if char == "\\":
                out.append(text[index + 1])
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif text.startswith("//", index):
            index = text.find("\n", index)
            index = len(text) if index < 0 else index
            continue
        elif text.startswith("/*", index):
            index = text.index("*/", index) + 2
            continue
        else:
            out.append(char)
        index += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


PARSERS: dict[str, Callable[[str], Any]] = {
    "json": json.loads,
    "jsonc": lambda text: json.loads(strip_jsonc(text)),
    "toml": tomllib.loads,
    "yaml": yaml.safe_load,
}


@dataclass(frozen=True)
class Entry:
    """A tool's promptshelf server entry, read the way that tool reads it."""

    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    url: str | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Tool:
    path: str
    """The file's name and place, relative to where the README says it goes."""
    format: str
    entry: Callable[[Any], dict[str, Any]]
    stdio_keys: tuple[str, str, str]
    """The names this tool uses for command, args and env."""
    url_key: str | None
    """The name this tool uses for a streamable HTTP URL (None: no HTTP in its config file)."""
    allowed: frozenset[str]
    required_stdio: dict[str, Any]
    required_http: dict[str, Any]


def mcp_servers(data: Any) -> dict[str, Any]:
    assert set(data) == {"mcpServers"}, data
    return dict(data["mcpServers"]["promptshelf"])


def continue_entry(data: Any) -> dict[str, Any]:
    assert {"name", "version", "schema", "mcpServers"} <= set(data)
    assert data["schema"] == "v1"
    [server] = data["mcpServers"]
    assert server["name"] == "promptshelf"
    return dict(server)


TOOLS: dict[str, Tool] = {
    "claude-desktop": Tool(
        "claude_desktop_config.json",
        "json",
        mcp_servers,
        ("command", "args", "env"),
        None,
        frozenset({"command", "args", "env"}),
        {},
        {},
    ),
    "claude-code": Tool(
        ".mcp.json",
        "json",
        mcp_servers,
        ("command", "args", "env"),
        "url",
        frozenset({"type", "command", "args", "env", "url", "headers"}),
        {"type": "stdio"},
        {"type": "http"},
    ),
    "cursor": Tool(
        ".cursor/mcp.json",
        "json",
        mcp_servers,
        ("command", "args", "env"),
        "url",
        frozenset({"type", "command", "args", "env", "url", "headers"}),
        {"type": "stdio"},
        {},
    ),
    "vscode": Tool(
        ".vscode/mcp.json",
        "jsonc",
        lambda d: dict(d["servers"]["promptshelf"]),
        ("command", "args", "env"),
        "url",
        frozenset({"type", "command", "args", "env", "url", "headers"}),
        {"type": "stdio"},
        {"type": "http"},
    ),
    "windsurf": Tool(
        "mcp_config.json",
        "json",
        mcp_servers,
        ("command", "args", "env"),
        "serverUrl",
        frozenset({"command", "args", "env", "serverUrl", "headers"}),
        {},
        {},
    ),
    "zed": Tool(
        "settings.json",
        "jsonc",
        lambda d: dict(d["context_servers"]["promptshelf"]),
        ("command", "args", "env"),
        "url",
        frozenset({"source", "command", "args", "env", "url", "headers"}),
        {"source": "custom"},
        {},
    ),
    "cline": Tool(
        "cline_mcp_settings.json",
        "json",
        mcp_servers,
        ("command", "args", "env"),
        "url",
        frozenset({"type", "command", "args", "env", "url", "headers", "disabled", "autoApprove"}),
        {"type": "stdio"},
        {"type": "streamableHttp"},
    ),
    "continue": Tool(
        ".continue/mcpServers/promptshelf.yaml",
        "yaml",
        continue_entry,
        ("command", "args", "env"),
        "url",
        frozenset({"name", "type", "command", "args", "env", "url", "requestOptions"}),
        {"type": "stdio"},
        {"type": "streamable-http"},
    ),
    "codex": Tool(
        ".codex/config.toml",
        "toml",
        lambda d: dict(d["mcp_servers"]["promptshelf"]),
        ("command", "args", "env"),
        "url",
        frozenset({"command", "args", "env", "url", "bearer_token_env_var", "startup_timeout_sec"}),
        {},
        {},
    ),
    "gemini-cli": Tool(
        ".gemini/settings.json",
        "json",
        mcp_servers,
        ("command", "args", "env"),
        "httpUrl",
        frozenset({"command", "args", "env", "httpUrl", "headers", "timeout"}),
        {},
        {},
    ),
    "goose": Tool(
        "config.yaml",
        "yaml",
        lambda d: dict(d["extensions"]["promptshelf"]),
        ("cmd", "args", "envs"),
        "uri",
        frozenset({"name", "type", "enabled", "cmd", "args", "envs", "uri", "headers", "timeout"}),
        {"type": "stdio", "enabled": True},
        {"type": "streamable_http", "enabled": True},
    ),
}

CASES = [
    (tool, variant)
    for tool, spec in TOOLS.items()
    for variant in VARIANTS
    if variant != "http" or spec.url_key is not None
]


def load(tool: str, variant: str) -> tuple[Tool, Entry, dict[str, Any]]:
    spec = TOOLS[tool]
    path = ROOT / tool / variant / spec.path
    raw = spec.entry(PARSERS[spec.format](path.read_text(encoding="utf-8")))
    command_key, args_key, env_key = spec.stdio_keys
    headers = raw.get("headers") or (raw.get("requestOptions") or {}).get("headers")
    entry = Entry(
        command=raw.get(command_key),
        args=raw.get(args_key),
        env=raw.get(env_key),
        url=raw.get(spec.url_key) if spec.url_key else None,
        headers=headers,
    )
    return spec, entry, raw


def test_every_tool_has_its_files_and_nothing_else_is_there() -> None:
    expected = {ROOT / tool / variant / TOOLS[tool].path for tool, variant in CASES}
    found = {path for path in ROOT.rglob("*") if path.is_file() and path.name != "README.md"}
    assert found == expected
    readme = (ROOT / "README.md").read_text()
    for tool in TOOLS:
        assert f"`{tool}/`" in readme, f"README does not say where the {tool} file goes"


@pytest.mark.parametrize(("tool", "variant"), CASES)
def test_the_config_has_the_structure_its_tool_reads(tool: str, variant: str) -> None:
    spec, entry, raw = load(tool, variant)
    assert set(raw) <= spec.allowed, f"keys {set(raw) - spec.allowed} are not read by {tool}"
    if variant == "http":
        for key, value in spec.required_http.items():
            assert raw.get(key) == value
        assert entry.url == "http://127.0.0.1:8000/mcp"
        assert entry.command is None
        if tool == "codex":
            assert raw["bearer_token_env_var"] == "PROMPTSHELF_TOKEN"
        else:
            assert entry.headers is not None
            assert list(entry.headers) == ["Authorization"]
            assert entry.headers["Authorization"].startswith("Bearer ")
        return
    for key, value in spec.required_stdio.items():
        assert raw.get(key) == value
    assert entry.url is None
    assert isinstance(entry.args, list) and all(isinstance(a, str) for a in entry.args)
    assert "PROMPTSHELF_DB" not in (entry.env or {}), (
        f"{tool}/{variant} sets PROMPTSHELF_DB: its server would use another file than the CLI's default"
    )
    if variant == "installed":
        assert (entry.command, entry.args) == ("promptshelf", ["serve"])
    else:
        _, installed, installed_raw = load(tool, "installed")
        assert (entry.command, entry.args) == ("uvx", ["promptshelf", *(installed.args or [])])
        command_key, args_key, _ = spec.stdio_keys
        others = {k: v for k, v in raw.items() if k not in (command_key, args_key)}
        assert others == {k: v for k, v in installed_raw.items() if k not in (command_key, args_key)}


def test_jsonc_is_parsed_as_those_tools_do() -> None:
    assert json.loads(strip_jsonc('// c\n{"a": "http://x//y", /* b */ "c": [1,],}')) == {
        "a": "http://x//y",
        "c": [1],
    }


def test_no_config_hard_codes_a_database_path() -> None:
    written = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*")
        if path.is_file() and path.name != "README.md" and "prompts.db" in path.read_text(encoding="utf-8")
    ]
    assert written == []


def venv_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment an editor would give the command, with this interpreter's scripts on PATH and no
    promptshelf settings of the developer's own shell."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("PROMPTSHELF_")}
    return {**inherited, "PATH": path, **extra}


@pytest.fixture(scope="module")
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``XDG_DATA_HOME`` where the CLI, with no settings, has published one prompt."""
    home = tmp_path_factory.mktemp("xdg")
    published = subprocess.run(
        [sys.executable, "-m", "promptshelf", "publish", "from-the-cli"],
        input="Hello {{name}}",
        env=venv_env({"XDG_DATA_HOME": str(home)}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert published.returncode == 0, published.stderr
    assert (home / "promptshelf" / "prompts.db").is_file()
    return home


@pytest.mark.parametrize("tool", list(TOOLS))
async def test_the_installed_command_serves_the_store_the_cli_writes(tool: str, data_home: Path) -> None:
    _, entry, _ = load(tool, "installed")
    assert entry.command and entry.args is not None
    env = venv_env({**(entry.env or {}), "XDG_DATA_HOME": str(data_home)})
    params = StdioServerParameters(command=entry.command, args=entry.args, env=env)
    async with Client(params, read_timeout_seconds=60) as client:
        assert client.server_capabilities is not None
        assert client.server_capabilities.prompts is not None
        listing = await client.list_prompts()
        assert [prompt.name for prompt in listing.prompts] == ["from-the-cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    folder = tmp_path_factory.mktemp("http")
    log = folder / "server.log"  # a file, not a pipe: a pipe nobody reads can fill and stall the server
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "promptshelf", "serve", "--transport", "http", "--port", str(port)],
            env=venv_env({"PROMPTSHELF_DB": str(folder / "prompts.db"), "PROMPTSHELF_TOKEN": TOKEN}),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, f"the HTTP server exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"the HTTP server did not start: {log.read_text()}"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


PLACEHOLDERS = (
    "${PROMPTSHELF_TOKEN}",
    "${env:PROMPTSHELF_TOKEN}",
    "${input:promptshelf-token}",
    "${{ secrets.PROMPTSHELF_TOKEN }}",
    "$PROMPTSHELF_TOKEN",
    "YOUR_PROMPTSHELF_TOKEN",
)


def resolve_headers(tool: str, entry: Entry, raw: dict[str, Any]) -> dict[str, str]:
    """The headers the tool sends once the user's token is filled in its own way."""
    if tool == "codex":
        return {"Authorization": f"Bearer {TOKEN}"} if raw["bearer_token_env_var"] else {}
    headers = dict(entry.headers or {})
    value = headers["Authorization"]
    for placeholder in PLACEHOLDERS:
        value = value.replace(placeholder, TOKEN)
    assert TOKEN in value, f"{tool}: no token placeholder in {headers['Authorization']!r}"
    return {"Authorization": value}


@pytest.mark.parametrize("tool", [tool for tool, variant in CASES if variant == "http"])
async def test_the_http_config_reaches_a_token_protected_server(tool: str, http_server: str) -> None:
    _, entry, raw = load(tool, "http")
    assert entry.url is not None
    url = entry.url.replace("http://127.0.0.1:8000", http_server)
    headers = resolve_headers(tool, entry, raw)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        assert client.server_capabilities is not None
        assert (await client.list_prompts()).prompts == []
    async with httpx.AsyncClient(timeout=10) as anonymous:
        refused = await anonymous.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert refused.status_code == 401
