"""The runtime examples in ``examples/`` run: each fetches and renders a real prompt from a real
``promptshelf serve`` process (stdio, or HTTP with a bearer token). No LLM is called.

The agent-framework examples need the ``examples`` extra; without it they are skipped, except on CI
(``CI`` set), where a missing framework is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.model import Variable
from promptshelf.service import Policy, PromptService

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOKEN = "example-token"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("examples") / "prompts.db"

    async def seed() -> None:
        store = await SQLiteStore.open(path)
        try:
            await PromptService(store, Policy(trusted=True)).create_prompt(
                "support-agent",
                template="You support customers of {{product}}. Answer in {{language}}.",
                config={"model": "gpt-4o-mini", "temperature": 0.3},
                variables=[Variable(name="language", default="English")],
                labels=["production"],
            )
        finally:
            await store.aclose()

    anyio.run(seed)
    return path


def env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, **extra}


def run_example(script: str, *args: str, environment: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is not installed: CI must install the 'examples' extra")
        pytest.skip(f"{module} is not installed (pip install -e '.[examples]')")


RENDERED = "You support customers of Widgets. Answer in English."


def test_the_mcp_client_fetches_and_renders_over_stdio(db: Path) -> None:
    out = run_example(
        "mcp_stdio.py", "support-agent", "product=Widgets", environment=env(PROMPTSHELF_DB=str(db))
    )
    assert f"[user] {RENDERED}" in out
    assert "version 1 config {'model': 'gpt-4o-mini', 'temperature': 0.3}" in out


@pytest.fixture(scope="module")
def http_url(db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("http") / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "promptshelf", "serve", "--transport", "http", "--port", str(port)],
            env=env(PROMPTSHELF_DB=str(db), PROMPTSHELF_READ_TOKEN=TOKEN),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"the server exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"the server did not start: {log.read_text()}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_mcp_client_fetches_and_renders_over_http_with_a_read_token(http_url: str) -> None:
    out = run_example(
        "mcp_http.py",
        "support-agent",
        "product=Widgets",
        environment=env(PROMPTSHELF_URL=http_url, PROMPTSHELF_TOKEN=TOKEN),
    )
    assert f"[user] {RENDERED}" in out


def test_the_openai_agents_sdk_gets_its_instructions_from_promptshelf(db: Path) -> None:
    needs("agents")
    out = run_example(
        "openai_agents.py", "support-agent", "product=Widgets", environment=env(PROMPTSHELF_DB=str(db))
    )
    assert "agent support-agent model gpt-4o-mini temperature 0.3" in out
    assert f"instructions: {RENDERED}" in out


def test_pydantic_ai_gets_its_instructions_from_promptshelf(db: Path) -> None:
    needs("pydantic_ai")
    needs("fastmcp")
    out = run_example(
        "pydantic_ai_agent.py", "support-agent", "product=Widgets", environment=env(PROMPTSHELF_DB=str(db))
    )
    assert "render_prompt: True" in out
    assert f"instructions: {RENDERED}" in out


def test_the_examples_readme_describes_every_script_and_only_those() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    described = set(re.findall(r"^\| `(\w+\.py)` \|", readme, re.MULTILINE))
    assert described == {path.name for path in EXAMPLES.glob("*.py")}
