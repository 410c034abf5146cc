"""The ten tools over a real server, in every protocol era and over both transports (DESIGN.md, "Tools").

Results are the structured content of DESIGN.md; failures are ``isError`` results whose structured
content is ``{"error": {"code", "message", ...}}``.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client, MCPError

from tests.server.conftest import Connect, unique

pytestmark = pytest.mark.anyio


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def call_error(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert result.structured_content is not None
    error: dict[str, Any] = result.structured_content["error"]
    assert error["message"] in result.content[0].text  # type: ignore[union-attr]
    return error


async def test_every_tool_is_listed_with_schemas_and_annotations(
    connect: Connect, era: str, transport: str
) -> None:
    async with connect(era, transport) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert sorted(tools) == sorted(
        [
            "list_prompts",
            "get_prompt",
            "render_prompt",
            "create_prompt",
            "update_prompt",
            "list_prompt_versions",
            "diff_prompt_versions",
            "set_prompt_label",
            "remove_prompt_label",
            "archive_prompt",
        ]
    )
    for tool in tools.values():
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        assert tool.annotations is not None
    assert tools["get_prompt"].annotations.read_only_hint is True  # type: ignore[union-attr]
    assert tools["archive_prompt"].annotations.destructive_hint is True  # type: ignore[union-attr]
    assert tools["set_prompt_label"].annotations.idempotent_hint is True  # type: ignore[union-attr]
    assert tools["create_prompt"].annotations.read_only_hint is False  # type: ignore[union-attr]


async def test_read_tools(connect: Connect, era: str, transport: str) -> None:
    async with connect(era, transport) as client:
        # Other tests add prompts to the same store: walk the pages and compare them with the whole
        # listing rather than expecting particular names on the first page.
        everything = [p["name"] for p in (await call(client, "list_prompts", limit=200))["prompts"]]
        assert everything == sorted(everything) and {"footer", "greet", "team/review"} <= set(everything)
        paged: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await call(client, "list_prompts", limit=2, **({"cursor": cursor} if cursor else {}))
            assert 1 <= len(page["prompts"]) <= 2
            paged += page["prompts"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [p["name"] for p in paged] == everything
        greet = next(p for p in paged if p["name"] == "greet")
        assert greet["latest_version"] == 2 and greet["labels"] == {"production": 1}
        assert (await call(client, "list_prompts", tag="demo"))["prompts"][0]["name"] == "greet"

        document = await call(client, "get_prompt", name="greet")
        assert document["version"] == 2 and document["template"] == "Hi {{name}}, in {{lang}}!"
        assert document["labels"] == ["latest"] and document["source"] == "store"
        assert (await call(client, "get_prompt", name="greet", label="production"))["version"] == 1
        assert (await call(client, "get_prompt", name="greet", version=1))["labels"] == ["production"]
        letter = await call(client, "get_prompt", name="letter")
        assert letter["template"] == "Dear {{who}},\n-- {{signature}}"
        raw = await call(client, "get_prompt", name="letter", resolve_includes=False)
        assert raw["template"] == "Dear {{who}},\n{{> footer}}"

        rendered = await call(
            client, "render_prompt", name="greet", variables={"name": "Ada", "lang": "fr", "x": 1}
        )
        assert rendered["text"] == "Hi Ada, in fr!" and rendered["unused"] == ["x"]
        chat = await call(client, "render_prompt", name="team/review", variables={"code": "x = 1"})
        assert chat["messages"][0] == {"role": "user", "content": "Review x = 1"}
        lenient = await call(client, "render_prompt", name="greet", variables={}, strict=False)
        assert lenient["text"] == "Hi {{name}}, in {{lang}}!"

        history = await call(client, "list_prompt_versions", name="greet")
        assert [v["version"] for v in history["versions"]] == [2, 1] and history["has_more"] is False
        assert history["versions"][0]["commit_message"] == "shorter"
        diff = await call(client, "diff_prompt_versions", name="greet", from_version=1)
        assert "-Hello {{name}}, in {{lang}}." in diff["unified_diff"]
        assert diff["to_version"] == 2


async def test_write_tools(connect: Connect, era: str, transport: str) -> None:
    name = unique("w")
    async with connect(era, transport) as client:
        created = await call(
            client,
            "create_prompt",
            name=name,
            template="Summarize {{text}}",
            description="d",
            tags=["t"],
            config={"model": "m"},
            commit_message="first",
        )
        assert created["version"] == 1 and created["config"] == {"model": "m"}
        assert created["created_by"] == "mcp"
        updated = await call(
            client, "update_prompt", name=name, base_version=1, edits=[{"old": "Summarize", "new": "Shorten"}]
        )
        assert updated["version"] == 2 and updated["template"] == "Shorten {{text}}"
        moved = await call(client, "set_prompt_label", name=name, label="staging", version=1)
        assert moved == {"name": name, "label": "staging", "version": 1, "previous_version": None}
        removed = await call(client, "remove_prompt_label", name=name, label="staging")
        assert removed["previous_version"] == 1 and removed["version"] is None
        archived = await call(client, "archive_prompt", name=name)
        assert archived == {"name": name, "archived_versions": 2}
        assert (await call_error(client, "get_prompt", name=name))["code"] == "not_found"


async def test_tool_errors_carry_their_code(connect: Connect, era: str, transport: str) -> None:
    name = unique("e")
    async with connect(era, transport) as client:
        assert (await call_error(client, "get_prompt", name="missing"))["code"] == "not_found"
        both = await call_error(client, "get_prompt", name="greet", version=1, label="production")
        assert both["code"] == "invalid_argument"
        bad_name = await call_error(client, "create_prompt", name="../x", template="t")
        assert bad_name["code"] == "invalid_argument" and bad_name["argument"] == "name"
        missing = await call_error(client, "render_prompt", name="greet", variables={})
        assert missing["code"] == "invalid_argument" and missing["missing"] == ["name", "lang"]
        enum = await call_error(client, "render_prompt", name="greet", variables={"name": "a", "lang": "xx"})
        assert enum["code"] == "invalid_argument" and "allowed" in enum["message"]
        schema = await call_error(client, "list_prompts", limit=0)
        assert schema["code"] == "invalid_argument" and schema["argument"] == "limit"
        unknown = await call_error(client, "get_prompt", name="greet", colour="red")
        assert "colour: unknown argument" in unknown["message"]
        assert (await call_error(client, "get_prompt"))["argument"] == "name"

        await call(client, "create_prompt", name=name, template="a")
        exists = await call_error(client, "create_prompt", name=name, template="a")
        assert exists["code"] == "conflict"
        stale = await call_error(client, "update_prompt", name=name, base_version=5, template="b")
        assert stale["code"] == "conflict" and stale["current_version"] == 1
        protected = await call_error(client, "set_prompt_label", name=name, label="production", version=1)
        assert protected["code"] == "forbidden"
        latest = await call_error(client, "set_prompt_label", name=name, label="latest", version=1)
        assert latest["code"] == "invalid_argument"
        assert (await call_error(client, "remove_prompt_label", name=name, label="gone"))[
            "code"
        ] == "not_found"
        bad_edit = await call_error(
            client, "update_prompt", name=name, base_version=1, edits=[{"old": "z", "new": "y"}]
        )
        assert bad_edit["code"] == "invalid_argument"

        with pytest.raises(MCPError) as raised:
            await client.call_tool("no_such_tool", {})
        assert raised.value.error.code == -32602


async def test_read_only_server_hides_write_tools(connect: Connect, era: str) -> None:
    async with connect(era, "stdio", args=("--read-only",)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {
            "list_prompts",
            "get_prompt",
            "render_prompt",
            "list_prompt_versions",
            "diff_prompt_versions",
        }
        with pytest.raises(MCPError) as raised:
            await client.call_tool("create_prompt", {"name": "x", "template": "y"})
        assert raised.value.error.code == -32602 and "read-only" in raised.value.error.message
