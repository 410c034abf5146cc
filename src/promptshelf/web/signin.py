"""Signing in with a token (once per browser, kept in the session cookie) and signing out."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from promptshelf.web.context import Context, set_session_cookie
from promptshelf.web.session import cookie_name


def safe_next(target: str | None) -> str:
    """Only a path on this site: ``//evil.example`` or ``https://...`` would send the browser away."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def signin_page(ctx: Context) -> Response:
    target = safe_next(ctx.query("next") or ctx.form.get("next"))
    sessions = ctx.web.sessions
    if not sessions.enabled or (ctx.session.signed_in and ctx.request.method == "GET"):
        return RedirectResponse(target, 303)
    error = None
    if ctx.request.method == "POST":
        signed = await sessions.sign_in(ctx.form.get("token", ""))
        if signed is not None:
            response = RedirectResponse(target, 303)
            set_session_cookie(sessions, ctx.request, response, signed)
            return response
        error = (
            "That token is not valid here. Use PROMPTSHELF_TOKEN or PROMPTSHELF_READ_TOKEN of this server."
        )
    return ctx.render("signin.html", 401 if error else 200, next=target, error=error)


async def signout(ctx: Context) -> Response:
    response = RedirectResponse("/signin" if ctx.web.sessions.enabled else "/", 303)
    response.delete_cookie(cookie_name(ctx.request.url.port), path="/", httponly=True, samesite="strict")
    return response
