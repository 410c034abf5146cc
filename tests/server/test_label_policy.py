"""Protected labels and read-only mode, as the operator configures them on a real ``promptshelf serve``
(DESIGN.md, "Labels" and "Running it").

MCP callers cannot move a protected label (default: ``production``) unless the operator allows it with
``--allow-label``; ``--protect-label`` chooses which labels are protected (it replaces the default
list); ``PROMPTSHELF_PROTECTED_LABELS`` and ``PROMPTSHELF_ALLOW_LABELS`` are the environment equivalents,
and a flag beats its variable. The CLI, run by the operator, can always move any label. The default
protection of ``production`` and ``--read-only`` (flag) are in test_tools.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client

from tests.server.conftest import MODERN, open_client, server_env, start_http_server, unique
from tests.server.test_tools import call, call_error

pytestmark = pytest.mark.anyio

WRITE_TOOLS = {"create_prompt", "update_prompt", "set_prompt_label", "remove_prompt_label", "archive_prompt"}


@asynccontextmanager
async def server(db: Path, *args: str, **env: str) -> AsyncIterator[Client]:
    """A client of a fresh ``promptshelf serve`` (stdio) on ``db``, started with ``args`` and ``env``."""
    async with open_client(MODERN, "stdio", db=db, args=args, env=server_env(**env)) as client:
        yield client


def cli(db: Path, *args: str) -> None:
    """Run ``promptshelf ARGS --db DB`` as the operator would."""
    done = subprocess.run(
        [sys.executable, "-m", "promptshelf", *args, "--db", str(db)],
        input="operator's version",
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


async def assert_forbidden(client: Client, name: str, label: str) -> None:
    """Every way an MCP caller could move ``label`` on ``name`` (which has v1, v2) is refused."""
    moved = await call_error(client, "set_prompt_label", name=name, label=label, version=2)
    assert moved["code"] == "forbidden" and moved["label"] == label
    assert f"--allow-label {label}" in moved["message"]
    removed = await call_error(client, "remove_prompt_label", name=name, label=label)
    assert removed["code"] == "forbidden"
    updated = await call_error(
        client, "update_prompt", name=name, base_version=2, template="x", labels=[label]
    )
    assert updated["code"] == "forbidden"
    new = unique("new")
    created = await call_error(client, "create_prompt", name=new, template="x", labels=[label])
    assert created["code"] == "forbidden"
    # Nothing was written by the refused calls.
    assert (await call_error(client, "get_prompt", name=new))["code"] == "not_found"
    versions = (await call(client, "list_prompt_versions", name=name))["versions"]
    assert [v["version"] for v in versions] == [2, 1]


async def assert_movable(client: Client, name: str, label: str) -> None:
    """An MCP caller can point ``label`` at a version of ``name``, move it, and remove it."""
    assert (await call(client, "set_prompt_label", name=name, label=label, version=2))["version"] == 2
    back = await call(client, "set_prompt_label", name=name, label=label, version=1)
    assert (back["version"], back["previous_version"]) == (1, 2)
    assert (await call(client, "remove_prompt_label", name=name, label=label))["previous_version"] == 1


def two_versions(db: Path, *labels: str) -> str:
    """A new prompt with versions 1 and 2, and ``labels`` pointing at version 1 (set by the CLI)."""
    name = unique("policy")
    cli(db, "publish", name)
    cli(db, "publish", name)
    for label in labels:
        cli(db, "label", name, label, "1")
    return name


async def test_protect_label_makes_a_label_forbidden_to_mcp_callers(seeded_db: Path) -> None:
    name = two_versions(seeded_db, "staging")
    async with server(seeded_db, "--protect-label", "staging") as client:
        await assert_forbidden(client, name, "staging")
        assert (await call(client, "get_prompt", name=name, label="staging"))["version"] == 1
        await assert_movable(client, name, "qa")


async def test_protect_label_replaces_the_default_so_production_becomes_movable(seeded_db: Path) -> None:
    name = two_versions(seeded_db)
    async with server(seeded_db, "--protect-label", "staging") as client:
        await assert_movable(client, name, "production")


async def test_protect_label_is_repeatable(seeded_db: Path) -> None:
    name = two_versions(seeded_db, "staging", "production")
    async with server(seeded_db, "--protect-label", "staging", "--protect-label", "production") as client:
        await assert_forbidden(client, name, "staging")
        await assert_forbidden(client, name, "production")


async def test_the_cli_can_move_a_label_the_server_protects(seeded_db: Path) -> None:
    name = two_versions(seeded_db)
    cli(seeded_db, "label", name, "staging", "2", "--protect-label", "staging")
    async with server(seeded_db, "--protect-label", "staging") as client:
        assert (await call(client, "get_prompt", name=name, label="staging"))["version"] == 2


async def test_allow_label_lets_mcp_callers_move_production(seeded_db: Path) -> None:
    name = two_versions(seeded_db)
    async with server(seeded_db, "--allow-label", "production") as client:
        await assert_movable(client, name, "production")
        created = await call(client, "create_prompt", name=unique("new"), template="x", labels=["production"])
        assert "production" in created["labels"]
        updated = await call(
            client, "update_prompt", name=name, base_version=2, template="three", labels=["production"]
        )
        assert updated["version"] == 3 and "production" in updated["labels"]


async def test_allow_label_only_releases_the_labels_it_names(seeded_db: Path) -> None:
    name = two_versions(seeded_db, "production", "staging")
    args = ("--protect-label", "production", "--protect-label", "staging", "--allow-label", "staging")
    async with server(seeded_db, *args) as client:
        await assert_forbidden(client, name, "production")
        await assert_movable(client, name, "staging")


async def test_promptshelf_protected_labels_is_the_environment_equivalent(seeded_db: Path) -> None:
    name = two_versions(seeded_db, "staging", "qa")
    async with server(seeded_db, PROMPTSHELF_PROTECTED_LABELS="staging, qa") as client:
        await assert_forbidden(client, name, "staging")
        await assert_forbidden(client, name, "qa")
        await assert_movable(client, name, "production")


async def test_promptshelf_allow_labels_is_the_environment_equivalent(seeded_db: Path) -> None:
    name = two_versions(seeded_db, "staging")
    env = {"PROMPTSHELF_PROTECTED_LABELS": "production,staging", "PROMPTSHELF_ALLOW_LABELS": "production"}
    async with server(seeded_db, **env) as client:
        await assert_movable(client, name, "production")
        await assert_forbidden(client, name, "staging")


async def test_flags_beat_the_label_variables(seeded_db: Path) -> None:
    name = two_versions(seeded_db, "qa", "production")
    env = {"PROMPTSHELF_PROTECTED_LABELS": "staging", "PROMPTSHELF_ALLOW_LABELS": "qa"}
    args = ("--protect-label", "qa", "--protect-label", "production", "--allow-label", "production")
    async with server(seeded_db, *args, **env) as client:
        await assert_forbidden(client, name, "qa")
        await assert_movable(client, name, "production")
        await assert_movable(client, name, "staging")


async def test_the_policy_holds_over_http(seeded_db: Path, module_tmp: Path) -> None:
    name = two_versions(seeded_db, "staging")
    http = start_http_server(seeded_db, module_tmp, "--protect-label", "staging", "--allow-label", "staging")
    try:
        async with open_client(MODERN, "http", url=http.url) as client:
            await assert_movable(client, name, "staging")
            await assert_movable(client, name, "production")
    finally:
        http.stop()
    http = start_http_server(seeded_db, module_tmp, env=server_env(PROMPTSHELF_PROTECTED_LABELS="staging"))
    try:
        async with open_client(MODERN, "http", url=http.url) as client:
            await assert_forbidden(client, name, "staging")
    finally:
        http.stop()


@pytest.mark.parametrize("value", ["1", "true", "yes"])
async def test_promptshelf_read_only_hides_write_tools(seeded_db: Path, value: str) -> None:
    async with server(seeded_db, PROMPTSHELF_READ_ONLY=value) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names and not names & WRITE_TOOLS
        assert (await call(client, "get_prompt", name="greet"))["version"] == 2


async def test_read_only_off_in_the_environment_keeps_write_tools(seeded_db: Path) -> None:
    async with server(seeded_db, PROMPTSHELF_READ_ONLY="false") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert tools.issuperset(WRITE_TOOLS)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ("--protect-label", "Staging"),
            {},
            "protected_labels (--protect-label / PROMPTSHELF_PROTECTED_LABELS): invalid label 'Staging'",
        ),
        (
            (),
            {"PROMPTSHELF_ALLOW_LABELS": "prod uction"},
            "allow_labels (--allow-label / PROMPTSHELF_ALLOW_LABELS): invalid label 'prod uction'",
        ),
        ((), {"PROMPTSHELF_READ_ONLY": "sometimes"}, "read_only (--read-only / PROMPTSHELF_READ_ONLY): "),
    ],
)
def test_a_bad_policy_setting_stops_the_server_before_it_starts(
    seeded_db: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "promptshelf", "serve", "--db", str(seeded_db), *args],
        stdin=subprocess.PIPE,
        capture_output=True,
        text=True,
        env=server_env(**env),
        timeout=30,
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
