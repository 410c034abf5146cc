"""Moving and removing labels, and archiving, each behind a confirmation.

A label move is confirmed on a page that shows the diff between the version the label points at now and
the one it would point at. Protected labels follow the same policy as MCP callers (the service's
``check_movable``): refused unless the operator allowed them with ``--allow-label``. The confirmation
carries where the label pointed when it was shown; if it moved meanwhile, the page is shown again with
the new diff instead of applying a move the person did not see.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from promptshelf.web import diffview
from promptshelf.web.context import Context, parse_int
from promptshelf.web.jinja import prompt_url


async def label_submit(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    service = ctx.web.service
    action = ctx.form.get("action", "review")
    label = ctx.form.get("label", "").strip()
    service.check_movable(label)  # protected, reserved or malformed: refused before any confirmation
    summary = await service.get_summary(name)
    current = summary.labels.get(label)
    removing = action in ("review-remove", "apply-remove")
    version = None if removing else ctx.form_int("version")
    if not removing and version is None:
        return _refused(ctx, name, "Give the version the label should point at.")
    if version is not None:  # the version must exist: NotFoundError otherwise
        await service.resolve(name, version=version, resolve_includes=False)
    if removing and current is None:
        return _refused(ctx, name, f"The prompt has no label {label!r}.")
    if action in ("apply", "apply-remove"):
        expected = parse_int(ctx.form.get("current") or None, "current")
        if expected == current:
            if removing:
                await service.remove_label(name, label)
            else:
                assert version is not None
                await service.set_label(name, label, version)
            await ctx.web.after_write()
            notice = "label-removed" if removing else "label-moved"
            return RedirectResponse(prompt_url("p", name, notice=notice), 303)
        moved = f"The label {label!r} moved since this confirmation was shown: check the new diff."
        return await _confirm(ctx, name, label, current, version, note=moved)
    return await _confirm(ctx, name, label, current, version)


async def _confirm(
    ctx: Context, name: str, label: str, current: int | None, version: int | None, *, note: str | None = None
) -> Response:
    diff: Any = None
    lines: list[diffview.Line] = []
    if current is not None and version is not None and current != version:
        diff = await ctx.web.service.diff_versions(name, current, version)
        lines = diffview.parse(diff.unified_diff)
    return ctx.render(
        "label_confirm.html",
        name=name,
        label=label,
        current=current,
        version=version,
        diff=diff,
        lines=lines,
        rows=diffview.side_by_side(lines),
        note=note,
        protected=label in ctx.web.service.policy.protected_labels,
    )


def _refused(ctx: Context, name: str, message: str) -> Response:
    return ctx.render("error.html", 400, title="Invalid request", message=message, back=prompt_url("p", name))


async def archive_page(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    summary = await ctx.web.service.get_summary(name)
    if ctx.request.method == "POST":
        result = await ctx.web.service.archive_prompt(name)
        await ctx.web.after_write()
        return RedirectResponse("/?" + urlencode({"notice": "archived", "name": result.name}), 303)
    return ctx.render("archive.html", summary=summary)
