"""The OpenAI Agents SDK fetching an agent's instructions from promptshelf at run time.

    pip install '.[examples]'
    PROMPTSHELF_DB=prompts.db python examples/openai_agents.py support-agent product=Widgets

The agent's instructions are the rendered prompt (so editing the prompt, or moving its ``production``
label, changes the agent without a deploy) and the model settings come from the version's ``config``.
The same MCP server also gives the agent promptshelf's tools. Nothing here calls an LLM; ``Runner.run``
would, with an ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import asyncio
import os
import sys

from agents import Agent, ModelSettings
from agents.mcp import MCPServerStdio


async def build_agent(server: MCPServerStdio, name: str, variables: dict[str, str]) -> Agent:
    prompt = await server.get_prompt(name, variables)
    instructions = "\n\n".join(getattr(m.content, "text", "") for m in prompt.messages)
    rendered = await server.call_tool("render_prompt", {"name": name, "variables": variables})
    config = (rendered.structured_content or {}).get("config", {})
    return Agent(
        name=name,
        instructions=instructions,
        model=config.get("model", "gpt-4o-mini"),
        model_settings=ModelSettings(temperature=config.get("temperature")),
        mcp_servers=[server],
    )


async def main(name: str, variables: dict[str, str]) -> None:
    params = {"command": "promptshelf", "args": ["serve", "--read-only"], "env": dict(os.environ)}
    async with MCPServerStdio(params=params, name="promptshelf") as server:
        agent = await build_agent(server, name, variables)
        print(f"agent {agent.name} model {agent.model} temperature {agent.model_settings.temperature}")
        print(f"instructions: {agent.instructions}")


if __name__ == "__main__":
    pairs = dict(arg.split("=", 1) for arg in sys.argv[2:])
    asyncio.run(main(sys.argv[1], pairs))
