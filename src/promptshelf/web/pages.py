"""The read pages: the prompt list, a prompt (with its render form), its history, a diff between two
versions; and the JSON answer of the live change notice. Every one is built from the service layer."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from promptshelf.errors import InvalidArgumentError, NotFoundError, PromptshelfError
from promptshelf.model import LATEST, PromptSummary
from promptshelf.service import Resolved
from promptshelf.web import diffview
from promptshelf.web.changes import describe, state_of
from promptshelf.web.context import Context, parse_int
from promptshelf.web.jinja import prompt_url

LIST_PAGE = 50
HISTORY_PAGE = 25
VARIABLE_FIELD = "var:"

NOTICES = {
    "published": "Published.",
    "label-moved": "The label was moved.",
    "label-removed": "The label was removed.",
}


async def prompt_list(ctx: Context) -> Response:
    filters = {key: ctx.query(key) or "" for key in ("q", "tag", "label")}
    cursor = ctx.query("after")
    errors: dict[str, str] = {}
    listing = None
    try:
        listing = await ctx.web.service.list_prompts(
            search=filters["q"] or None,
            tag=filters["tag"] or None,
            label=filters["label"] or None,
            cursor=cursor,
            limit=LIST_PAGE,
        )
    except InvalidArgumentError as exc:
        field = {"search": "q", "label": "label", "tag": "tag"}.get(str(exc.details.get("argument")), "")
        errors[field or "form"] = exc.message
    next_url = None
    if listing is not None and listing.next_cursor:
        next_url = "/?" + _query({**filters, "after": listing.next_cursor})
    first_url = "/?" + _query(filters) if cursor else None
    notice = None
    if ctx.query("notice") == "archived" and ctx.query("name"):
        notice = (
            f"Archived {ctx.query('name')}: it is gone from every listing; its versions stay in the store."
        )
    return ctx.render(
        "list.html",
        prompts=listing.prompts if listing else [],
        filters=filters,
        errors=errors,
        next_url=next_url,
        first_url=first_url,
        notice=notice,
        filtered=any(filters.values()),
    )


async def prompt_page(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    service = ctx.web.service
    since = ctx.web.changes.sequence  # before any read: a change after it shows the notice
    version = ctx.query_int("version")
    label = ctx.query("label")
    summary = await service.get_summary(name)
    shown_version, unlabelled = version, None
    default = service.policy.default_label
    if version is None and label is None and default != LATEST and default not in summary.labels:
        # What agents would get is "not found"; a person opening the prompt still wants to read it.
        shown_version = summary.latest_version
        unlabelled = f"This prompt has no label {default} (what clients of this server get by default)"
    include_error = None
    try:
        resolved = await service.resolve(name, version=shown_version, label=label)
    except (NotFoundError, InvalidArgumentError) as exc:
        # Shown as written, with the error, when only its includes fail (a missing one, a cycle); when the
        # version itself is the problem, this read fails the same way and the page is that error.
        resolved = await service.resolve(name, version=shown_version, label=label, resolve_includes=False)
        include_error = exc.message
    values: dict[str, str] = {}
    render: dict[str, Any] = {}
    if ctx.request.method == "POST":
        values = {
            key.removeprefix(VARIABLE_FIELD): value
            for key, value in ctx.form.items()
            if key.startswith(VARIABLE_FIELD) and value != ""
        }
        render = _render(ctx, resolved, values) if include_error is None else {"message": include_error}
    found = resolved.version
    labels_here = list(found.labels) + ([LATEST] if found.version == found.latest_version else [])
    notice = NOTICES.get(ctx.query("notice") or "")
    return ctx.render(
        "prompt.html",
        status=400 if "message" in render else 200,
        summary=summary,
        version=found,
        labels_here=labels_here,
        selector={"version": version, "label": label},
        raw_texts=found.text_parts,
        expanded_texts=resolved.texts if resolved.includes else None,
        includes=resolved.includes,
        include_error=include_error,
        variables=resolved.variables,
        values=values,
        render=render,
        notice=notice,
        unlabelled=unlabelled,
        watch=_watch_url(name, since, summary),
        protected=service.policy.protected_labels,
        movable={label for label in summary.labels if _movable(ctx, label)},
    )


def _movable(ctx: Context, label: str) -> bool:
    try:
        ctx.web.service.check_movable(label)
    except PromptshelfError:
        return False
    return True


def _render(ctx: Context, resolved: Resolved, values: dict[str, str]) -> dict[str, Any]:
    """The same strict rendering as ``render_prompt``; its errors laid out per field."""
    try:
        rendered = ctx.web.service.render_resolved(resolved, values, strict=True)
    except InvalidArgumentError as exc:
        errors: dict[str, str] = {}
        for missing in exc.details.get("missing", []):
            errors[missing] = "Required: give a value."
        for invalid in exc.details.get("invalid", []):
            variable, _, rest = str(invalid).partition("=")
            errors[variable] = f"Not allowed: {rest}"
        return {"errors": errors, "message": exc.message}
    return {"result": rendered}


async def history_page(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    since = ctx.web.changes.sequence
    before = ctx.query_int("before")
    summary = await ctx.web.service.get_summary(name)
    listing = await ctx.web.service.list_versions(name, before_version=before, limit=HISTORY_PAGE)
    older = None
    if listing.has_more and listing.versions:
        older = prompt_url("history", name, before=listing.versions[-1].version)
    return ctx.render(
        "history.html",
        summary=summary,
        versions=listing.versions,
        older_url=older,
        newest_url=prompt_url("history", name) if before else None,
        watch=_watch_url(name, since, summary),
    )


async def diff_page(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    since = ctx.web.changes.sequence
    summary = await ctx.web.service.get_summary(name)
    to_version = ctx.query_int("to") or summary.latest_version
    from_version = ctx.query_int("from") or max(to_version - 1, 1)
    view = "unified" if ctx.query("view") == "unified" else "split"
    diff = await ctx.web.service.diff_versions(name, from_version, to_version)
    lines = diffview.parse(diff.unified_diff)
    return ctx.render(
        "diff.html",
        summary=summary,
        diff=diff,
        view=view,
        lines=lines,
        rows=diffview.side_by_side(lines) if view == "split" else [],
        watch=_watch_url(name, since, summary),
    )


async def changes_endpoint(ctx: Context) -> Response:
    """``/-/changes?name=&since=&state=&latest=``: ``{changed, message?, since}`` for a page's notice."""
    name = ctx.query("name") or ""
    since = parse_int(ctx.query("since"), "since") or 0
    log = ctx.web.changes
    current = log.sequence
    # A number above the log's comes from a page of an earlier server process: compare states instead.
    if since <= current and not log.changed_since(name, since):
        return JSONResponse({"changed": False, "since": current})
    summary: PromptSummary | None
    try:
        summary = await ctx.web.service.get_summary(name)
    except NotFoundError:
        summary = None
    except PromptshelfError:
        return JSONResponse({"changed": False, "since": since})  # ask again later
    if state_of(summary) == ctx.query("state"):
        return JSONResponse({"changed": False, "since": current})
    latest = parse_int(ctx.query("latest"), "latest")
    return JSONResponse({"changed": True, "message": describe(latest, summary), "since": current})


def _watch_url(name: str, since: int, summary: PromptSummary) -> str:
    return "/-/changes?" + _query(
        {"name": name, "since": since, "state": state_of(summary), "latest": summary.latest_version}
    )


def _query(values: dict[str, Any]) -> str:
    return urlencode({key: value for key, value in values.items() if value not in (None, "")})
