"""Fetch and render a promptshelf prompt at run time with the ``mcp`` SDK client, over streamable HTTP.

    PROMPTSHELF_TOKEN=... promptshelf serve --transport http        # somewhere
    PROMPTSHELF_URL=http://127.0.0.1:8000/mcp PROMPTSHELF_TOKEN=... \\
        python examples/mcp_http.py team/summarize text="..." style=short

The bearer token goes in the ``Authorization`` header of every request (a read token from
``PROMPTSHELF_READ_TOKEN`` is enough to fetch and render).
"""

from __future__ import annotations

import os
import sys

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main(name: str, variables: dict[str, str]) -> None:
    url = os.environ.get("PROMPTSHELF_URL", "http://127.0.0.1:8000/mcp")
    headers = {"Authorization": f"Bearer {os.environ['PROMPTSHELF_TOKEN']}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        prompt = await client.get_prompt(name, variables)
        for message in prompt.messages:
            print(f"[{message.role}] {getattr(message.content, 'text', '')}")


if __name__ == "__main__":
    pairs = dict(arg.split("=", 1) for arg in sys.argv[2:])
    anyio.run(main, sys.argv[1], pairs)
