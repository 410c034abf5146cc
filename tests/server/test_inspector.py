"""The MCP Inspector CLI (npm @modelcontextprotocol/inspector, ``--cli``) drives a stdio server: it lists
tools and prompts and gets a rendered prompt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.server.node_tools import NODE, node_env, require

INSPECTOR = ("@modelcontextprotocol/inspector", "clients/launcher/build/index.js")


def inspect(db: Path, home: Path, *method: str) -> Any:
    cli = require(*INSPECTOR)
    home.mkdir(exist_ok=True)
    server = [sys.executable, "-m", "promptshelf", "serve", "--db", str(db)]
    result = subprocess.run(
        [str(NODE), str(cli), "--cli", *server, "--method", *method],
        env=node_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"stderr: {result.stderr}\nstdout: {result.stdout}"
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"the Inspector printed no JSON: {result.stdout}\n{result.stderr}") from None


def test_inspector_lists_tools(seeded_db: Path, tmp_path: Path) -> None:
    tools = inspect(seeded_db, tmp_path / "home", "tools/list")["tools"]
    assert {tool["name"] for tool in tools} >= {
        "list_prompts",
        "get_prompt",
        "render_prompt",
        "archive_prompt",
    }


def test_inspector_lists_prompts(seeded_db: Path, tmp_path: Path) -> None:
    prompts = inspect(seeded_db, tmp_path / "home", "prompts/list")["prompts"]
    greet = next(prompt for prompt in prompts if prompt["name"] == "greet")
    assert [argument["name"] for argument in greet["arguments"]] == ["name", "lang"]


def test_inspector_gets_a_rendered_prompt(seeded_db: Path, tmp_path: Path) -> None:
    result = inspect(
        seeded_db,
        tmp_path / "home",
        "prompts/get",
        "--prompt-name",
        "greet",
        "--prompt-args",
        "name=Ada",
        "lang=fr",
    )
    assert result["messages"] == [{"role": "user", "content": {"type": "text", "text": "Hi Ada, in fr!"}}]


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_inspector_calls_a_tool_in_each_era(seeded_db: Path, tmp_path: Path, era: str) -> None:
    result = inspect(
        seeded_db,
        tmp_path / "home",
        "tools/call",
        "--tool-name",
        "render_prompt",
        "--tool-arg",
        "name=greet",
        'variables={"name": "Bo", "lang": "en"}',
        "--protocol-era",
        era,
    )
    assert result["structuredContent"]["text"] == "Hi Bo, in en!"
