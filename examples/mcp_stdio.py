"""Fetch and render a promptshelf prompt at run time with the ``mcp`` SDK client, over stdio.

    PROMPTSHELF_DB=prompts.db python examples/mcp_stdio.py team/summarize text="..." style=short

The client starts ``promptshelf serve`` itself. ``prompts/get`` renders the prompt strictly (missing
required variables are an error) and returns MCP messages; the ``render_prompt`` tool returns the same
rendering plus the version's model ``config``, which an application hands to its LLM client.
"""

from __future__ import annotations

import os
import sys

import anyio
from mcp import Client, StdioServerParameters


async def main(name: str, variables: dict[str, str]) -> None:
    server = StdioServerParameters(command="promptshelf", args=["serve"], env=dict(os.environ))
    async with Client(server) as client:
        prompt = await client.get_prompt(name, variables)
        for message in prompt.messages:
            print(f"[{message.role}] {getattr(message.content, 'text', '')}")
        rendered = await client.call_tool("render_prompt", {"name": name, "variables": variables})
        result = rendered.structured_content or {}
        print(f"version {result.get('version')} config {result.get('config')}")


if __name__ == "__main__":
    pairs = dict(arg.split("=", 1) for arg in sys.argv[2:])
    anyio.run(main, sys.argv[1], pairs)
