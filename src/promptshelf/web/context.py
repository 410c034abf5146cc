"""What every page handler gets, and the checks every request passes before one runs.

``endpoint(web, handler, write=...)`` turns a handler into a Starlette endpoint that: resolves the browser's
session (sending to the sign-in page when tokens are configured and it has none; a link followed from
another site, which comes without the SameSite=Strict cookie, is first loaded again from here); for a
POST, reads the form (at most ``MAX_FORM_BYTES``) and checks its CSRF token; for a write, checks again that
the session may write (a read token's pages show no write controls, but a forged or replayed form must
fail too); turns promptshelf errors into an error page with the matching status; and sets the session
cookie when one was minted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from promptshelf.errors import (
    ConflictError,
    ForbiddenError,
    InvalidArgumentError,
    NotFoundError,
    PromptshelfError,
    UnavailableError,
)
from promptshelf.limits import MAX_CONFIG_SIZE, MAX_MESSAGES, MAX_TEMPLATE_LENGTH
from promptshelf.service import PromptService
from promptshelf.web.changes import ChangeFeed, ChangeLog
from promptshelf.web.session import SESSION_SECONDS, Session, Sessions, cookie_name

logger = logging.getLogger(__name__)

MAX_FORM_BYTES = 12 * (2 * MAX_TEMPLATE_LENGTH + 4 * MAX_CONFIG_SIZE) + 65_536
"""The edit form at its largest: the text twice (the edit, and the combined text offered after a conflict),
the config and variables (indented), each character four bytes of UTF-8 at most, sent percent-encoded."""
GUEST_FORM_BYTES = 16_384
"""Before signing in, the only form is the sign-in form: no room for more."""
MAX_FORM_FIELDS = 2 * MAX_MESSAGES + 100
"""A chat prompt's role and content per message, and the other fields."""

STATUS = {
    NotFoundError: 404,
    ConflictError: 409,
    InvalidArgumentError: 400,
    ForbiddenError: 403,
    UnavailableError: 503,
}


@dataclass
class Web:
    """The web view's dependencies, made once per server."""

    service: PromptService
    sessions: Sessions
    env: Environment
    changes: ChangeLog
    feed: ChangeFeed
    store_kind: str

    async def after_write(self) -> None:
        """Tell MCP clients and other pages at once, as a write through MCP does."""
        try:
            await self.feed.check()
        except Exception:
            logger.exception("notifying a change failed")


@dataclass
class Context:
    web: Web
    request: Request
    session: Session
    form: dict[str, str] = field(default_factory=dict)

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.web.env.get_template(template).render(
            session=self.session,
            store_kind=self.web.store_kind,
            path=self.request.url.path,
            **values,
        )
        return HTMLResponse(html, status)

    def query(self, key: str) -> str | None:
        value = self.request.query_params.get(key)
        return value if value else None

    def query_int(self, key: str) -> int | None:
        return parse_int(self.query(key), key)

    def form_int(self, key: str) -> int | None:
        return parse_int(self.form.get(key) or None, key)


def parse_int(value: str | None, argument: str) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.strip().isdigit() or len(value) > 12:
        raise InvalidArgumentError(f"{argument} must be a whole number, not {value!r}", argument=argument)
    return int(value)


class FormTooLarge(Exception):
    """The form's problem, as the page says it."""


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind these pages send), size-limited."""
    declared = request.headers.get("content-length")
    too_large = f"A form may send at most {limit:,} bytes."
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise FormTooLarge(too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FormTooLarge(too_large)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    if text.count("&") >= MAX_FORM_FIELDS:
        raise FormTooLarge(f"A form may send at most {MAX_FORM_FIELDS:,} fields.")
    pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False)
    return {key: value.replace("\r\n", "\n") for key, value in pairs}


Handler = Callable[[Context], Awaitable[Response]]


def endpoint(
    web: Web, handler: Handler, *, write: bool = False, signed_in: bool = True
) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        session = web.sessions.current(request.cookies.get(cookie_name(request.url.port)))
        if session.new and _navigated_from_another_site(request):
            return _reload_from_here(web, request)
        context = Context(web, request, session)
        response = await _guarded(context, handler, write=write, signed_in=signed_in)
        if session.new:
            set_session_cookie(web.sessions, request, response, session)
        response.headers["Cache-Control"] = "no-store"
        return response

    return run


def _navigated_from_another_site(request: Request) -> bool:
    """A link followed from another site (a chat, a mail, a code review): the browser does not send a
    SameSite=Strict cookie with it, so the session it may well have is unknown here."""
    return (
        request.method in ("GET", "HEAD")
        and request.headers.get("sec-fetch-site") == "cross-site"
        and request.headers.get("sec-fetch-mode") == "navigate"
    )


def _reload_from_here(web: Web, request: Request) -> Response:
    """A page that loads the same address again, now from this site, so that the browser sends its cookie.
    Minting a session here instead would replace the cookie and sign the browser out."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = web.env.get_template("reload.html").render(target=target)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def _guarded(context: Context, handler: Handler, *, write: bool, signed_in: bool) -> Response:
    request, session = context.request, context.session
    if signed_in and not session.signed_in:
        if request.url.path.startswith("/-/"):
            return JSONResponse({"error": "sign in first"}, 401)
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?{urlencode({'next': target})}", 303)
        return error_page(
            context, 401, "Sign in first", "This server needs a token: sign in, then try again."
        )
    if request.method == "POST":
        try:
            context.form = await read_form(request, MAX_FORM_BYTES if session.signed_in else GUEST_FORM_BYTES)
        except FormTooLarge as exc:
            return error_page(context, 413, "Too large", str(exc))
        if not context.web.sessions.csrf_ok(session, context.form.get("csrf")):
            return error_page(
                context,
                403,
                "Form refused",
                "This form did not come from this page, or it expired (the CSRF check failed). "
                "Go back, reload the page and send it again.",
            )
    if write and not session.may_write:
        return error_page(
            context,
            403,
            "Read access only",
            "Your token grants read access only (or the server is read-only): nothing was changed.",
        )
    try:
        return await handler(context)
    except PromptshelfError as exc:
        status = STATUS.get(type(exc), 500)
        if status == 500:
            logger.error("a page failed: %s", exc.message)
        return error_page(context, status, _TITLES.get(status, "Error"), exc.message)


_TITLES = {
    400: "Invalid request",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    503: "Unavailable",
}


def error_page(context: Context, status: int, title: str, message: str) -> HTMLResponse:
    return context.render("error.html", status, title=title, message=message)


def set_session_cookie(sessions: Sessions, request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        cookie_name(request.url.port),
        sessions.cookie_value(session),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
