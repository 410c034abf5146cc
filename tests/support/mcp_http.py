"""Sessionless MCP (protocol 2026-07-28) over plain ``httpx``: one POST per request, no handshake.

For tests and tools that must not import the SDK (worker processes that start by the dozen; the SDK's
import alone takes about a second) or that need exact control of timeouts and of what reaches the wire.
Tests that want the SDK's own client use ``tests.server.conftest.open_client`` instead.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import httpx

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


@dataclass
class ToolError(Exception):
    """A tool result with ``isError``: the structured ``error`` the server sent (``code``, ``message``...)."""

    error: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.error.get("code"))

    def __str__(self) -> str:
        return f"{self.code}: {self.error.get('message')}"


def request(method: str, params: dict[str, Any], request_id: int) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one sessionless request (``Mcp-Name`` for the named methods)."""
    body = json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": META}}
    ).encode()
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
    }
    name = params.get("name") if method in ("tools/call", "prompts/get") else params.get("uri")
    if isinstance(name, str):
        headers["Mcp-Name"] = name
    return body, headers


def answer(response: httpx.Response, request_id: int) -> dict[str, Any]:
    """The JSON-RPC answer to ``request_id`` from a JSON or an event-stream response."""
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                message: dict[str, Any] = json.loads(line[5:])
                if message.get("id") == request_id:
                    return message
        raise RuntimeError(f"no answer to request {request_id} in the stream: {response.text[:500]}")
    parsed: dict[str, Any] = response.json()
    return parsed


class ModernHttp:
    """A synchronous client of one ``/mcp`` URL."""

    def __init__(self, url: str, *, timeout: float = 10.0, token: str | None = None) -> None:
        self.url = url
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(timeout=timeout, headers=headers)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ModernHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The JSON-RPC answer (``result`` or ``error``); HTTP failures raise ``httpx.HTTPError``."""
        request_id = next(self._ids)
        body, headers = request(method, params, request_id)
        return answer(self.http.post(self.url, content=body, headers=headers), request_id)

    def tool(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        """A tool's structured result; ``ToolError`` for a tool error, ``RuntimeError`` for a JSON-RPC one."""
        message = self.call("tools/call", {"name": tool, "arguments": arguments})
        if "error" in message:
            raise RuntimeError(f"tools/call {tool}: JSON-RPC error {message['error']}")
        result = message["result"]
        structured: dict[str, Any] = result.get("structuredContent") or {}
        if result.get("isError"):
            raise ToolError(structured.get("error") or {"code": "?", "message": str(result)})
        return structured
