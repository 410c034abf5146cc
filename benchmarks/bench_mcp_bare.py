"""The floor for bench_mcp.py: a bare SDK low-level server answering prompts/get and tools/call get_prompt
from a dict, on the SDK's own stdio transport or its streamable HTTP app.

    python benchmarks/bench_mcp_bare.py stdio
    python benchmarks/bench_mcp_bare.py http PORT
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import mcp.types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server

PROMPTS = {"greet": "Hi {{name}}, in {{lang}}!"}


def render(name: str, arguments: dict[str, str]) -> str:
    text = PROMPTS[name]
    for key, value in arguments.items():
        text = text.replace("{{" + key + "}}", value)
    return text


async def get_prompt(
    ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
) -> types.GetPromptResult:
    text = render(params.name, params.arguments or {})
    return types.GetPromptResult(
        messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))]
    )


async def list_prompts(ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=[types.Prompt(name=name) for name in PROMPTS])


async def list_tools(ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListToolsResult:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    return types.ListToolsResult(tools=[types.Tool(name="get_prompt", input_schema=schema)])


async def call_tool(
    ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    name = (params.arguments or {})["name"]
    data = {"name": name, "template": PROMPTS[name]}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(data))], structured_content=data
    )


server = Server(
    "bare",
    on_get_prompt=get_prompt,
    on_list_prompts=list_prompts,
    on_list_tools=list_tools,
    on_call_tool=call_tool,
)


async def run_stdio() -> None:
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        anyio.run(run_stdio)
    else:
        import uvicorn

        uvicorn.run(
            server.streamable_http_app(), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning"
        )
