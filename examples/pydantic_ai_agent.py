"""PydanticAI fetching an agent's instructions from promptshelf at run time (``MCPToolset``).

    pip install '.[examples]'
    PROMPTSHELF_DB=prompts.db python examples/pydantic_ai_agent.py support-agent product=Widgets

The rendered prompt becomes the agent's instructions; the toolset also gives the agent promptshelf's
read tools. Nothing here calls an LLM.
"""

from __future__ import annotations

import asyncio
import os
import sys

from fastmcp.client.transports import StdioTransport
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset


async def main(name: str, variables: dict[str, str]) -> None:
    transport = StdioTransport(command="promptshelf", args=["serve", "--read-only"], env=dict(os.environ))
    toolset = MCPToolset(transport)
    async with toolset:
        prompt = await toolset.get_prompt(name, variables)
        instructions = "\n\n".join(str(getattr(m.content, "content", m.content)) for m in prompt.messages)
        agent = Agent("test", instructions=instructions, toolsets=[toolset])
        tools = [tool.name for tool in await toolset.list_tools()]
        print(f"agent ready with {len(tools)} promptshelf tools, render_prompt: {'render_prompt' in tools}")
        print(f"instructions: {instructions}")
        del agent


if __name__ == "__main__":
    pairs = dict(arg.split("=", 1) for arg in sys.argv[2:])
    asyncio.run(main(sys.argv[1], pairs))
