"""Fixtures for the web view: the HTTP transport's real ASGI app (``build_app``, with its Host/Origin
check and tokens) on a SQLite store in a temporary folder, reached in-process with httpx's ASGI client;
and the prompts every web test can rely on."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from promptshelf.backends.base import Store
from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.model import Message, Variable
from promptshelf.server.app import PromptshelfMCP
from promptshelf.server.http import HttpLimits, Tokens, build_app
from promptshelf.service import Policy, PromptService

WRITE_TOKEN = "web-write-token"
READ_TOKEN = "web-read-token"
XSS = "<script>alert('xss')</script>"
LIMITS = HttpLimits(
    max_sessions_per_token=10, session_idle_timeout=60, header_timeout=10, body_timeout=10, max_connections=50
)


async def seed(service: PromptService) -> None:
    """greet (v1, v2; production -> v1), a chat prompt, an include, a prompt full of markup."""
    await service.create_prompt(
        "greet",
        template="Hello {{name}}, in {{lang}}.",
        description="Greets someone",
        variables=[
            Variable(name="name", description="who to greet"),
            Variable(name="lang", description="the language", enum=["en", "fr", "de"]),
        ],
        tags=["demo"],
        config={"model": "gpt-4o", "temperature": 0.2},
        commit_message="first words",
    )
    await service.update_prompt(
        "greet",
        base_version=1,
        template="Hi {{name}}, in {{lang}}!\nSee you, {{name}}.",
        config={"model": "gpt-4o", "temperature": 0.7},
        commit_message="shorter",
    )
    await service.set_label("greet", "production", 1)
    await service.create_prompt(
        "team/review",
        messages=[
            Message(role="system", content="You are a careful reviewer."),
            Message(role="user", content="Review {{code}}"),
        ],
        description="A chat prompt",
        variables=[Variable(name="code", description="the code to review")],
    )
    await service.create_prompt("footer", template="-- {{signature}}", description="included")
    await service.create_prompt(
        "letter", template="Dear {{who}},\n{{> footer}}", description="includes footer"
    )
    await service.create_prompt(
        "xss",
        template=f"Before {XSS} after {{{{v}}}}",
        description=f"Described as {XSS}",
        tags=[XSS],
        commit_message=f"committed {XSS}",
        config={"note": XSS},
    )


@dataclass
class WebClient:
    http: httpx.AsyncClient
    mcp: PromptshelfMCP

    @property
    def service(self) -> PromptService:
        """A trusted service on the same store: another writer (the CLI, another process)."""
        return PromptService(self.mcp.service.store, Policy(trusted=True, actor="elsewhere"))

    async def page(self, path: str, **kwargs: object) -> httpx.Response:
        return await self.http.get(path, **kwargs)  # type: ignore[arg-type]

    async def csrf(self, path: str = "/") -> str:
        return csrf_of((await self.http.get(path)).text)

    async def post(self, path: str, data: dict[str, str], *, csrf_from: str | None = None) -> httpx.Response:
        token = await self.csrf(csrf_from or "/p/greet")  # any page with a form: the token is per session
        return await self.http.post(path, data={"csrf": token, **data})

    async def sign_in(self, token: str) -> httpx.Response:
        form = await self.http.get("/signin")
        return await self.http.post("/signin", data={"csrf": csrf_of(form.text), "token": token, "next": "/"})


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@asynccontextmanager
async def web_client(
    tmp_path: Path,
    *,
    tokens: Tokens | None = None,
    read_only: bool = False,
    policy: Policy | None = None,
    store: Store | None = None,
    base_url: str = "http://127.0.0.1:8000",
    seeded: bool = True,
) -> AsyncIterator[WebClient]:
    owned = store is None
    if store is None:
        store = await SQLiteStore.open(tmp_path / "prompts.db")
    try:
        if seeded:
            await seed(PromptService(store, Policy(trusted=True, actor="seed")))
        mcp = PromptshelfMCP(PromptService(store, policy or Policy(actor="mcp")), read_only=read_only)
        await mcp.hub.start()
        app = build_app(
            mcp,
            host="127.0.0.1",
            allowed_hosts=[],
            tokens=tokens or Tokens(),
            poll_interval=60,
            limits=LIMITS,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
            yield WebClient(http, mcp)
    finally:
        if owned:
            await store.aclose()
