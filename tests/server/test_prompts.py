"""Stored prompts as MCP prompts (DESIGN.md, "MCP prompts"), in every era over both transports."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import MCPError

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.service import Policy, PromptService
from tests.server.conftest import Connect, open_client

pytestmark = pytest.mark.anyio

INVALID_PARAMS = -32602


async def test_prompts_list_shows_variables_as_arguments(connect: Connect, era: str, transport: str) -> None:
    async with connect(era, transport) as client:
        listing = await client.list_prompts()
    prompts = {prompt.name: prompt for prompt in listing.prompts}
    assert list(prompts) == sorted(prompts)
    greet = prompts["greet"]
    assert greet.description == "Greets someone"
    assert [(a.name, a.description, a.required) for a in greet.arguments or []] == [
        ("name", "who to greet", True),
        ("lang", "the language", True),
    ]
    # Variables of included prompts are arguments too.
    assert [a.name for a in prompts["letter"].arguments or []] == ["who", "signature"]  # reading order
    assert prompts["test_simple_prompt"].arguments == []


async def test_prompts_get_renders_strictly(connect: Connect, era: str, transport: str) -> None:
    async with connect(era, transport) as client:
        text = await client.get_prompt("greet", {"name": "Ada", "lang": "de"})
        chat = await client.get_prompt("team/review", {"code": "f()"})
        simple = await client.get_prompt("test_simple_prompt")
    assert text.description == "Greets someone"
    assert [(m.role, m.content.text) for m in text.messages] == [("user", "Hi Ada, in de!")]  # type: ignore[union-attr]
    # MCP has no system role: system messages become user messages, placed first.
    assert [(m.role, m.content.text) for m in chat.messages] == [  # type: ignore[union-attr]
        ("user", "You are a careful reviewer."),
        ("user", "Review f()"),
        ("assistant", "Send the code."),
    ]
    assert simple.messages[0].content.text == "This is a simple prompt for testing."  # type: ignore[union-attr]


async def test_prompts_get_errors_are_invalid_params(connect: Connect, era: str, transport: str) -> None:
    async with connect(era, transport) as client:
        with pytest.raises(MCPError) as unknown:
            await client.get_prompt("no-such-prompt")
        with pytest.raises(MCPError) as missing:
            await client.get_prompt("greet", {"lang": "en"})
        with pytest.raises(MCPError) as enum:
            await client.get_prompt("greet", {"name": "a", "lang": "klingon"})
    assert unknown.value.error.code == INVALID_PARAMS and "no-such-prompt" in unknown.value.error.message
    assert (
        missing.value.error.code == INVALID_PARAMS
        and "missing required variable: name" in missing.value.error.message
    )
    assert missing.value.error.data["missing"] == ["name"]
    assert enum.value.error.code == INVALID_PARAMS and "klingon" in enum.value.error.message


async def _seed_many(path: Path, count: int) -> None:
    store = await SQLiteStore.open(path)
    service = PromptService(store, Policy(trusted=True))
    for index in range(count):
        await service.create_prompt(f"p{index:03d}", template=f"prompt {index} {{{{x}}}}")
    await service.create_prompt("unlabelled", template="no production label")
    for index in range(count):
        await service.set_label(f"p{index:03d}", "production", 1)
    await store.aclose()


@pytest.mark.parametrize("era", ["2025-11-25", "2026-07-28"])
async def test_prompts_and_resources_lists_paginate_in_a_stable_order(tmp_path: Path, era: str) -> None:
    db = tmp_path / "many.db"
    await _seed_many(db, 130)
    # The default label decides what is listed: here only prompts with a production label.
    async with open_client(era, "stdio", db=db, args=("--label", "production")) as client:
        names: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await client.list_prompts(cursor=cursor)
            names += [prompt.name for prompt in page.prompts]
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        resources: list[str] = []
        cursor = None
        while True:
            resource_page = await client.list_resources(cursor=cursor)
            resources += [resource.uri for resource in resource_page.resources]
            if resource_page.next_cursor is None:
                break
            cursor = resource_page.next_cursor
        with pytest.raises(MCPError) as bad_cursor:
            await client.list_prompts(cursor="not-a-cursor")
    assert pages == 2
    assert names == [f"p{index:03d}" for index in range(130)]
    assert resources == [f"prompt://p{index:03d}" for index in range(130)]
    assert bad_cursor.value.error.code == INVALID_PARAMS
