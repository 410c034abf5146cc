"""The web view's ASGI app, mounted by the HTTP transport at ``/`` behind its Host/Origin check."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from importlib import resources

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptshelf.service import PromptService
from promptshelf.web import edits, labels, pages, signin
from promptshelf.web.changes import ChangeFeed, ChangeLog
from promptshelf.web.context import Handler, Web, endpoint
from promptshelf.web.jinja import environment
from promptshelf.web.session import Sessions, TokenCheck

WEB_ACTOR = "web"
"""Recorded as ``created_by`` of versions published from the web view."""

SECURITY_HEADERS = [
    # No inline script or style, nothing from elsewhere: an injected tag could not run even if escaping
    # failed somewhere.
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def build_web(service: PromptService, feed: ChangeFeed, *, tokens: TokenCheck, read_only: bool) -> ASGIApp:
    """The pages, on ``service``'s store under the same policy as MCP callers (versions they publish are
    recorded as by ``web``)."""
    web_service = PromptService(service.store, dataclasses.replace(service.policy, actor=WEB_ACTOR))
    changes = ChangeLog()
    feed.add_watcher(changes)
    web = Web(
        service=web_service,
        sessions=Sessions(tokens, read_only=read_only),
        env=environment(),
        changes=changes,
        feed=feed,
        store_kind=service.store.kind,
    )
    static = _static_files()

    async def static_file(request: Request) -> Response:
        found = static.get(request.path_params["file"])
        if found is None:
            return PlainTextResponse("not found", 404)
        body, media_type = found
        return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=300"})

    def page(handler: Handler, **options: bool) -> Callable[[Request], Awaitable[Response]]:
        return endpoint(web, handler, **options)

    routes = [
        Route("/", page(pages.prompt_list), methods=["GET"]),
        Route("/signin", page(signin.signin_page, signed_in=False), methods=["GET", "POST"]),
        Route("/signout", page(signin.signout, signed_in=False), methods=["POST"]),
        Route("/p/{name:path}", page(pages.prompt_page), methods=["GET", "POST"]),
        Route("/history/{name:path}", page(pages.history_page), methods=["GET"]),
        Route("/diff/{name:path}", page(pages.diff_page), methods=["GET"]),
        Route("/edit/{name:path}", page(edits.edit_page, write=True), methods=["GET"]),
        Route("/edit/{name:path}", page(edits.edit_submit, write=True), methods=["POST"]),
        Route("/label/{name:path}", page(labels.label_submit, write=True), methods=["POST"]),
        Route("/archive/{name:path}", page(labels.archive_page, write=True), methods=["GET", "POST"]),
        Route("/-/changes", page(pages.changes_endpoint), methods=["GET"]),
        Route("/static/{file}", static_file, methods=["GET"]),
    ]
    return _SecurityHeaders(Starlette(routes=routes))


def _static_files() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("promptshelf.web") / "static"
    files: dict[str, tuple[bytes, str]] = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if suffix in STATIC_TYPES:
            files[item.name] = (item.read_bytes(), STATIC_TYPES[suffix])
    return files


class _SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)
