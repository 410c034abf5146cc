"""Prompts as resources (DESIGN.md, "Resources") and completions ("Completions"), every era, both
transports."""

from __future__ import annotations

import json

import pytest
from mcp import MCPError
from mcp.types import PromptReference, ResourceTemplateReference

from tests.server.conftest import Connect

pytestmark = pytest.mark.anyio

INVALID_PARAMS = -32602


async def test_resources_list_and_templates(connect: Connect, era: str, transport: str) -> None:
    async with connect(era, transport) as client:
        resources = {r.uri: r for r in (await client.list_resources()).resources}
        templates = (await client.list_resource_templates()).resource_templates
    assert "prompt://team%2Freview" in resources  # the name is one percent-encoded segment
    greet = resources["prompt://greet"]
    assert greet.name == "greet" and greet.mime_type == "application/json"
    assert greet.description == "Greets someone"
    assert [t.uri_template for t in templates] == [
        "prompt://{name}",
        "prompt://{name}/versions/{version}",
        "prompt://{name}/labels/{label}",
    ]


async def test_resources_read_is_the_get_prompt_document(connect: Connect, era: str, transport: str) -> None:
    async with connect(era, transport) as client:
        default = await client.read_resource("prompt://greet")
        version = await client.read_resource("prompt://greet/versions/1")
        label = await client.read_resource("prompt://greet/labels/production")
        folder = await client.read_resource("prompt://team%2Freview")
        tool = await client.call_tool("get_prompt", {"name": "greet"})
    content = default.contents[0]
    assert content.uri == "prompt://greet" and content.mime_type == "application/json"
    assert json.loads(content.text) == tool.structured_content  # type: ignore[union-attr]
    assert json.loads(version.contents[0].text)["version"] == 1  # type: ignore[union-attr]
    assert json.loads(label.contents[0].text)["version"] == 1  # type: ignore[union-attr]
    assert json.loads(folder.contents[0].text)["name"] == "team/review"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "uri",
    [
        "prompt://missing",
        "prompt://greet/versions/9",
        "prompt://greet/labels/nope",
        "prompt://greet/versions/x",
        "prompt://greet/versions/²",  # str.isdigit() says yes; int() says no
        "prompt://greet/versions/0",
        "prompt://",
        "file:///etc/passwd",
    ],
)
async def test_resources_read_of_nothing_is_invalid_params(connect: Connect, era: str, uri: str) -> None:
    async with connect(era, "http") as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource(uri)
    assert raised.value.error.code == INVALID_PARAMS


async def test_completions(connect: Connect, era: str, transport: str) -> None:
    prompt = PromptReference(type="ref/prompt", name="greet")
    by_name = ResourceTemplateReference(type="ref/resource", uri="prompt://{name}")
    by_version = ResourceTemplateReference(type="ref/resource", uri="prompt://{name}/versions/{version}")
    by_label = ResourceTemplateReference(type="ref/resource", uri="prompt://{name}/labels/{label}")
    async with connect(era, transport) as client:
        enum = await client.complete(prompt, {"name": "lang", "value": ""})
        enum_prefix = await client.complete(prompt, {"name": "lang", "value": "f"})
        free = await client.complete(prompt, {"name": "name", "value": "A"})
        names = await client.complete(by_name, {"name": "name", "value": "te"})
        versions = await client.complete(by_version, {"name": "version", "value": ""}, {"name": "greet"})
        labels = await client.complete(by_label, {"name": "label", "value": ""}, {"name": "greet"})
        no_context = await client.complete(by_label, {"name": "label", "value": ""})
        unknown_name = await client.complete(by_label, {"name": "label", "value": ""}, {"name": "nope"})
        with pytest.raises(MCPError) as unknown_prompt:
            await client.complete(PromptReference(type="ref/prompt", name="nope"), {"name": "x", "value": ""})
        with pytest.raises(MCPError) as unknown_template:
            await client.complete(
                ResourceTemplateReference(type="ref/resource", uri="file://{x}"), {"name": "x", "value": ""}
            )
    assert enum.completion.values == ["en", "fr", "de"]
    assert enum_prefix.completion.values == ["fr"]
    assert free.completion.values == []
    assert names.completion.values == ["team/review", "test_prompt_with_arguments", "test_simple_prompt"]
    assert versions.completion.values == ["2", "1"]
    assert labels.completion.values == ["latest", "production"]
    assert no_context.completion.values == [] and unknown_name.completion.values == []
    assert unknown_prompt.value.error.code == INVALID_PARAMS
    assert unknown_template.value.error.code == INVALID_PARAMS
