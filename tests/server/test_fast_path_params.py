"""The fast path skips the SDK's ``Mcp-Param-*`` check only where that check can refuse nothing.

A bare SDK server with a tool whose input schema declares an ``x-mcp-header`` and one whose schema does
not, served through ``FastPath`` and through the SDK's session manager alone: every request gets the
same status and body from both, and a tool whose schema gains a declaration while the server runs is
checked from then on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import mcp.types as types
import pytest
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from promptshelf.server.fast_path import FastPath

MODERN = "2026-07-28"
ANNOTATED = {
    "type": "object",
    "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
}
PLAIN = {"type": "object", "properties": {"region": {"type": "string"}}}


class Tools:
    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {"routed": ANNOTATED, "plain": dict(PLAIN)}

    def input_schema(self, name: str) -> dict[str, Any] | None:
        return self.schemas.get(name)

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        region = (params.arguments or {}).get("region")
        return types.CallToolResult(content=[types.TextContent(type="text", text=f"{params.name} {region}")])


@pytest.fixture
async def clients() -> AsyncIterator[tuple[Tools, dict[str, httpx.AsyncClient]]]:
    tools = Tools()
    server: Server[Any] = Server(
        "params", get_tool_input_schema=tools.input_schema, on_call_tool=tools.call_tool
    )
    manager = StreamableHTTPSessionManager(
        app=server, security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    fast = FastPath(manager)
    async with manager.run():
        made = {
            "fast": httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url="http://t"),
            "sdk": httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.handle_request), base_url="http://t"
            ),
        }
        try:
            yield tools, made
        finally:
            for client in made.values():
                await client.aclose()


async def call(
    client: httpx.AsyncClient, tool: str, region: str | None, header: str | None
) -> tuple[int, Any]:
    arguments = {} if region is None else {"region": region}
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta},
    }
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": tool,
    }
    if header is not None:
        headers["mcp-param-region"] = header
    response = await client.post("/mcp", content=json.dumps(body), headers=headers)
    return response.status_code, response.json()


CASES = [
    ("routed", "eu", "eu", 200),
    ("routed", "eu", "us", 400),
    ("routed", "eu", None, 400),
    ("routed", None, "eu", 400),
    ("plain", "eu", "us", 200),
    ("plain", "eu", None, 200),
    ("missing", "eu", "us", 200),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("tool", "region", "header", "status"), CASES)
async def test_the_fast_path_checks_mcp_param_headers_as_the_sdk_does(
    clients: tuple[Tools, dict[str, httpx.AsyncClient]],
    tool: str,
    region: str | None,
    header: str | None,
    status: int,
) -> None:
    _, made = clients
    fast = await call(made["fast"], tool, region, header)
    sdk = await call(made["sdk"], tool, region, header)
    assert fast == sdk
    assert fast[0] == status


@pytest.mark.anyio
async def test_a_schema_that_gains_a_header_declaration_is_checked_from_then_on(
    clients: tuple[Tools, dict[str, httpx.AsyncClient]],
) -> None:
    tools, made = clients
    assert (await call(made["fast"], "plain", "eu", "us"))[0] == 200  # nothing declared: nothing to check
    tools.schemas["plain"] = json.loads(json.dumps(ANNOTATED))  # a new schema object for the same tool
    fast = await call(made["fast"], "plain", "eu", "us")
    assert fast == await call(made["sdk"], "plain", "eu", "us")
    assert fast[0] == 400 and "Mcp-Param-Region" in fast[1]["error"]["message"]
