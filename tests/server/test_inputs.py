"""Inputs at the edges, through a real server (issue 13, items 6, 8, 10 and 12): out-of-range versions,
forged cursors, lax argument types, non-finite numbers, lone surrogates, oversized content and searches are
the caller's mistakes: ``invalid_argument`` tool results or JSON-RPC ``-32602``, never ``internal``, code 0
or a library's message. Every era; both transports where the transport matters."""

from __future__ import annotations

import base64
import json
import logging
import math
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, MCPError
from mcp.types import ResourceTemplateReference

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.limits import MAX_CONFIG_SIZE, MAX_TEMPLATE_LENGTH, MAX_VERSION
from promptshelf.server.app import PromptshelfMCP
from promptshelf.service import Policy, PromptService
from tests.server.conftest import ERAS, INITIALIZE, MODERN, Connect, HttpServer, server_env, unique

pytestmark = pytest.mark.anyio

INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TOO_BIG = [2**31, 2**63, 10**30]


def nan_config(name: str) -> dict[str, Any]:
    """``json.dumps`` writes these as the bare ``NaN`` and ``-Infinity`` that Python's parser accepts."""
    return {"name": name, "template": "t", "config": {"temperature": math.nan, "top_p": [1, -math.inf]}}


async def tool_error(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    assert result.structured_content is not None
    error: dict[str, Any] = result.structured_content["error"]
    return error


def cursor_of(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode()


async def test_versions_out_of_range_are_invalid_arguments_in_every_tool(connect: Connect, era: str) -> None:
    name = unique("v")
    async with connect(era, "http") as client:
        await client.call_tool("create_prompt", {"name": name, "template": "t {{x}}"})
        for version in TOO_BIG:
            calls: list[tuple[str, dict[str, Any]]] = [
                ("get_prompt", {"name": "greet", "version": version}),
                ("render_prompt", {"name": "greet", "version": version, "variables": {}}),
                ("set_prompt_label", {"name": name, "label": "staging", "version": version}),
                ("update_prompt", {"name": name, "base_version": version, "template": "u"}),
                ("list_prompt_versions", {"name": "greet", "before_version": version}),
                ("diff_prompt_versions", {"name": "greet", "from_version": version}),
                ("diff_prompt_versions", {"name": "greet", "from_version": 1, "to_version": version}),
            ]
            for tool, arguments in calls:
                error = await tool_error(client, tool, **arguments)
                assert error["code"] == "invalid_argument", (tool, error)
                assert str(MAX_VERSION) in error["message"], error
        include = await tool_error(
            client, "create_prompt", name=unique("i"), template=f"{{{{> greet@{2**63}}}}}"
        )
        assert include["code"] == "invalid_argument" and "include {{> greet@" in include["message"]
        history = (await client.call_tool("list_prompt_versions", {"name": name})).structured_content
    assert history is not None and [v["version"] for v in history["versions"]] == [1]


@pytest.mark.parametrize("version", [str(2**63), str(MAX_VERSION + 1), "1" * 5000])
async def test_a_resource_version_out_of_range_is_invalid_params(
    connect: Connect, era: str, version: str
) -> None:
    async with connect(era, "http") as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource(f"prompt://greet/versions/{version}")
    assert raised.value.error.code == INVALID_PARAMS
    assert f"at most {MAX_VERSION}" in raised.value.error.message
    assert "SQLite" not in raised.value.error.message


FORGED_CURSORS = [
    '["greet", 1e20]',
    '["greet", Infinity]',
    '["\\ud800", 1]',
    '["greet", 18446744073709551616]',
]


@pytest.mark.parametrize("position", FORGED_CURSORS)
async def test_a_forged_cursor_is_invalid_everywhere(connect: Connect, era: str, position: str) -> None:
    cursor = cursor_of(position)
    async with connect(era, "http") as client:
        error = await tool_error(client, "list_prompts", cursor=cursor)
        assert error["code"] == "invalid_argument" and error["argument"] == "cursor"
        for listing in (client.list_prompts, client.list_resources):
            with pytest.raises(MCPError) as raised:
                await listing(cursor=cursor)
            assert raised.value.error.code == INVALID_PARAMS
            assert "invalid cursor" in raised.value.error.message


async def test_arguments_are_the_types_the_schema_publishes(connect: Connect, era: str) -> None:
    lax: list[tuple[str, dict[str, Any], str]] = [
        ("get_prompt", {"name": "greet", "version": True}, "version"),
        ("get_prompt", {"name": "greet", "version": "1"}, "version"),
        ("get_prompt", {"name": "greet", "resolve_includes": "false"}, "resolve_includes"),
        ("render_prompt", {"name": "greet", "variables": {}, "strict": "false"}, "strict"),
        ("render_prompt", {"name": "greet", "variables": {}, "strict": 0}, "strict"),
        ("list_prompts", {"limit": "5"}, "limit"),
        ("list_prompts", {"limit": 5.5}, "limit"),
        ("list_prompts", {"include_archived": "yes"}, "include_archived"),
        ("list_prompt_versions", {"name": "greet", "limit": True}, "limit"),
        (
            "create_prompt",
            {"name": unique(), "template": "t", "variables": [{"name": "v", "required": "no"}]},
            "variables",
        ),
    ]
    async with connect(era, "http") as client:
        for tool, arguments, argument in lax:
            error = await tool_error(client, tool, **arguments)
            assert error["code"] == "invalid_argument", (tool, arguments, error)
            assert error["argument"] == argument, (tool, arguments, error)
        strict = await client.call_tool("render_prompt", {"name": "greet", "variables": {}, "strict": False})
        assert not strict.is_error  # a real boolean still works


async def test_search_with_a_nul_or_too_long_is_invalid(connect: Connect, era: str, transport: str) -> None:
    async with connect(era, transport) as client:
        for search in ["\x00", "gr\x00zzz", "x" * 50_000]:
            error = await tool_error(client, "list_prompts", search=search)
            assert error["code"] == "invalid_argument" and error["argument"] == "search", error


async def test_oversized_content_is_refused_and_not_stored(connect: Connect, era: str) -> None:
    name = unique("big")
    async with connect(era, "http") as client:
        template = await tool_error(
            client, "create_prompt", name=name, template="x" * (MAX_TEMPLATE_LENGTH + 1)
        )
        assert template["argument"] == "template" and "262144" in template["message"]
        labels = await tool_error(
            client, "create_prompt", name=name, template="t", labels=[f"l{i}" for i in range(101)]
        )
        assert labels["argument"] == "labels"
        config = await tool_error(
            client, "create_prompt", name=name, template="t", config={"x": "y" * 70_000}
        )
        assert config["argument"] == "config" and "65,536" in config["message"]
        missing = await tool_error(client, "get_prompt", name=name)
    assert missing["code"] == "not_found"


class RawHttp:
    """JSON-RPC over HTTP without the SDK's client, which would never send ``NaN``."""

    def __init__(self, server: HttpServer, era: str) -> None:
        self.server, self.era = server, era
        self.headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "MCP-Protocol-Version": era,
        }
        if era != MODERN:
            initialize = json.loads(json.dumps(INITIALIZE))
            initialize["params"]["protocolVersion"] = era
            opened = httpx.post(server.url, json=initialize, headers=self.headers, timeout=10)
            assert opened.status_code == 200, opened.text
            self.headers["Mcp-Session-Id"] = opened.headers["mcp-session-id"]
            self.post('{"jsonrpc": "2.0", "method": "notifications/initialized"}', {})

    def post(self, body: str, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(
            self.server.url, content=body.encode("utf-8"), headers={**self.headers, **headers}, timeout=30
        )

    def call_tool(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"name": tool, "arguments": arguments}
        if self.era == MODERN:
            params["_meta"] = {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        body = json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params})
        response = self.post(body, {"Mcp-Method": "tools/call", "Mcp-Name": tool})
        assert response.status_code == 200, response.text
        text = response.text
        if response.headers["content-type"].startswith("text/event-stream"):
            text = next(
                line[5:]
                for line in text.splitlines()
                if line.startswith("data:") and '"id":5' in line.replace(" ", "")
            )
        answer: dict[str, Any] = json.loads(text)
        return answer


@pytest.mark.parametrize("era", ERAS)
def test_non_finite_numbers_are_refused_over_http(http_server: HttpServer, era: str) -> None:
    raw = RawHttp(http_server, era)
    name = unique("nan")
    refused = {
        "config": nan_config(name),
        "variables": {"name": name, "template": "t", "variables": [{"name": "v", "default": math.inf}]},
    }
    for argument, arguments in refused.items():
        answer = raw.call_tool("create_prompt", arguments)
        result = answer["result"]
        assert result["isError"] is True, answer
        error = result["structuredContent"]["error"]
        assert error["code"] == "invalid_argument" and error["argument"] == argument, error
    render = raw.call_tool("render_prompt", {"name": "greet", "variables": {"name": math.nan, "lang": "en"}})
    assert render["result"]["structuredContent"]["error"]["argument"] == "variables"
    missing = raw.call_tool("get_prompt", {"name": name})
    assert missing["result"]["structuredContent"]["error"]["code"] == "not_found"


def test_non_finite_numbers_are_refused_over_stdio(tmp_path: Path) -> None:
    name = unique("nan")
    lines = [
        json.dumps(INITIALIZE),
        '{"jsonrpc": "2.0", "method": "notifications/initialized"}',
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "create_prompt", "arguments": nan_config(name)},
            }
        ),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "promptshelf", "serve", "--db", str(tmp_path / "p.db")],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=server_env(),
    )
    answers = {answer.get("id"): answer for answer in map(json.loads, done.stdout.splitlines())}
    error = answers[2]["result"]["structuredContent"]["error"]
    assert error["code"] == "invalid_argument" and error["argument"] == "config", done.stderr
    assert anyio.run(stored_names, tmp_path / "p.db") == []


async def stored_names(db: Path) -> list[str]:
    store = await SQLiteStore.open(db)
    try:
        return [summary.name for summary in (await PromptService(store).list_prompts()).prompts]
    finally:
        await store.aclose()


class BrokenReads:
    """A real SQLite store whose reads fail the way a bug or a broken disk would: with an exception that is
    not a promptshelf error (closing a store is no longer one: it answers `unavailable`)."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name in {"list_prompts", "get_summary", "get_version"}:

            async def fail(*args: Any, **kwargs: Any) -> Any:
                raise sqlite3.OperationalError("database connection lost: disk I/O error")

            return fail
        return getattr(self._store, name)


@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_an_unexpected_failure_is_a_generic_internal_error_logged_on_the_server(
    tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The library under a store raises its own error: the client hears -32603 and nothing of it (no
    SQLite message, no code 0); the server's log has the traceback."""
    store = await SQLiteStore.open(tmp_path / "prompts.db")
    try:
        await PromptService(store, Policy(actor="mcp")).create_prompt("p", template="t")
        mcp = PromptshelfMCP(PromptService(BrokenReads(store), Policy(actor="mcp")))  # type: ignore[arg-type]
        caplog.set_level(logging.ERROR, logger="promptshelf.server.app")
        async with Client(mcp.server, mode="auto" if mode == MODERN else "legacy", cache=None) as client:
            for request in (
                client.list_prompts,
                client.list_resources,
                lambda: client.read_resource("prompt://p"),
            ):
                with pytest.raises(MCPError) as raised:
                    await request()
                error = raised.value.error
                assert error.code == INTERNAL_ERROR, error
                assert "see the server log" in error.message and "connection" not in error.message, error
                assert "disk" not in json.dumps(error.data or ""), error
    finally:
        await store.aclose()
    assert "Traceback" in caplog.text or any(record.exc_info for record in caplog.records)


async def test_the_largest_prompt_reaches_the_sdk_client_over_http(connect: Connect, era: str) -> None:
    """The limits leave room for the answer: a read carries the text twice (text and structured content)
    and the SDK's HTTP client refuses a server-sent event over 1 MiB by default."""
    name = unique("largest")
    variables = [{"name": f"v{i}", "description": "d" * 1000} for i in range(60)]
    config = {"notes": "c" * (MAX_CONFIG_SIZE - 20)}
    async with connect(era, "http") as client:
        created = await client.call_tool(
            "create_prompt",
            {"name": name, "template": "x" * MAX_TEMPLATE_LENGTH, "config": config, "variables": variables},
        )
        assert not created.is_error, created.content
        read = await client.call_tool("get_prompt", {"name": name})
        assert read.structured_content is not None
        assert len(read.structured_content["template"]) == MAX_TEMPLATE_LENGTH
        assert read.structured_content["config"] == config
        await client.call_tool("archive_prompt", {"name": name})


@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_completing_for_a_name_no_prompt_can_have_completes_nothing(tmp_path: Path, mode: str) -> None:
    """The context's name reaches no store unless it is a valid name (a lone surrogate made SQLite raise)."""
    store = await SQLiteStore.open(tmp_path / "prompts.db")
    service = PromptService(store, Policy(actor="mcp"))
    await service.create_prompt("p", template="t")
    versions = ResourceTemplateReference(type="ref/resource", uri="prompt://{name}/versions/{version}")
    try:
        async with Client(
            PromptshelfMCP(service).server, mode="auto" if mode == MODERN else "legacy"
        ) as client:
            for name in ["a\ud800", "../x", "p"]:
                done = await client.complete(versions, {"name": "version", "value": ""}, {"name": name})
                assert done.completion.values == ([] if name != "p" else ["1"])
    finally:
        await store.aclose()
