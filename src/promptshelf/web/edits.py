"""Editing a prompt and publishing a new version: the diff against the version the edit started from is
shown before anything is published, and an edit overtaken by someone else's publish is kept and shown
against the new latest version to merge.

The flow: ``GET /edit/NAME`` (a form on the latest version) -> ``review`` (the diff, the same form, a
Publish button) -> ``publish``. The review page carries a digest of the draft it showed; a publish whose
draft differs (edited after reviewing) is shown for review again instead of published. A publish whose
base version is no longer the latest (``ConflictError``) comes back as a review against the new latest:
the form keeps the edit, shows what changed in between, and takes the new latest as its base (the parts
the edit left as they were take the new latest's, so that publishing does not undo them); when the two
changes touch different lines, it offers them combined (``merging.merge3``), for review like any edit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.responses import RedirectResponse, Response

from promptshelf.diffing import diff_versions
from promptshelf.errors import ConflictError, InvalidArgumentError
from promptshelf.limits import MAX_MESSAGES
from promptshelf.model import Message, PromptVersion, Variable
from promptshelf.results import VersionDiff
from promptshelf.web import diffview
from promptshelf.web.context import Context
from promptshelf.web.jinja import prompt_url
from promptshelf.web.merging import merge3
from promptshelf.web.pages import _watch_url

_VARIABLES = TypeAdapter(list[Variable])
ROLES = ("system", "user", "assistant")


@dataclass
class Draft:
    """The edit as the form holds it, with what is wrong with each field."""

    base_version: int
    type: str
    template: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    config_text: str = "{}"
    variables_text: str = "[]"
    description: str = ""
    description_start: str = ""
    """The description when the edit began: it is not versioned, so only a change to it is published."""
    commit_message: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    variables: list[Variable] = field(default_factory=list)

    @classmethod
    def of(cls, version: PromptVersion) -> Draft:
        return cls(
            base_version=version.version,
            type=version.type,
            template=version.template or "",
            messages=[m.model_dump() for m in version.messages or []],
            config_text=json.dumps(version.config, indent=2, ensure_ascii=False),
            variables_text=json.dumps(
                [v.model_dump(exclude_none=True) for v in version.variables], indent=2, ensure_ascii=False
            ),
            description=version.description or "",
            description_start=version.description or "",
            config=version.config,
            variables=list(version.variables),
        )

    @classmethod
    def from_form(cls, form: dict[str, str], base_version: int, type_: str) -> Draft:
        draft = cls(
            base_version=base_version,
            type=type_,
            template=form.get("template", ""),
            config_text=form.get("config", "").strip() or "{}",
            variables_text=form.get("variables", "").strip() or "[]",
            description=form.get("description", ""),
            description_start=form.get("description_start", form.get("description", "")),
            commit_message=form.get("commit_message", ""),
        )
        if type_ == "chat":
            count = min(_count(form.get("count")), MAX_MESSAGES)
            for index in range(count):
                role = form.get(f"role_{index}", "user")
                content = form.get(f"content_{index}", "")
                if content.strip():  # an emptied message is removed
                    draft.messages.append({"role": role if role in ROLES else "user", "content": content})
        try:
            config = json.loads(draft.config_text)
            if not isinstance(config, dict):
                draft.errors["config"] = 'The config must be a JSON object, like {"model": "gpt-4o"}.'
            else:
                draft.config = config
        except (ValueError, RecursionError) as exc:
            draft.errors["config"] = f"Not valid JSON: {exc}"
        try:
            draft.variables = _VARIABLES.validate_json(draft.variables_text)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            draft.errors["variables"] = (
                'A JSON list of {"name", "description", "required", "default", "enum"} objects: '
                f"{where + ': ' if where else ''}{problem['msg']}"
            )
        return draft

    def adopt_untouched(self, base: PromptVersion, latest: PromptVersion) -> None:
        """After someone else published ``latest`` over ``base``: each part this edit left as ``base`` had
        it takes ``latest``'s, so that publishing the edit does not quietly put back what they replaced."""
        mine, theirs = Draft.of(base), Draft.of(latest)
        if self.type == latest.type == base.type:
            if self.type == "text" and self.template == mine.template:
                self.template = theirs.template
            if self.type == "chat" and self.messages == mine.messages:
                self.messages = theirs.messages
        if "config" not in self.errors and self.config == base.config:
            self.config, self.config_text = theirs.config, theirs.config_text
        if "variables" not in self.errors and self.variables == list(base.variables):
            self.variables, self.variables_text = theirs.variables, theirs.variables_text
        if self.description == self.description_start:
            self.description = self.description_start = theirs.description

    def as_version(self, base: PromptVersion) -> PromptVersion:
        """The version this edit would publish, for diffing against the base (or the new latest)."""
        return base.model_copy(
            update={
                "version": base.version + 1,
                "template": self.template if self.type == "text" else None,
                "messages": [Message(**m) for m in self.messages] if self.type == "chat" else None,  # type: ignore[arg-type]
                "config": self.config,
                "variables": self.variables,
            }
        )

    def digest(self) -> str:
        shown = [
            self.base_version,
            self.type,
            self.template,
            self.messages,
            self.config,
            [v.model_dump() for v in self.variables],
            self.description,
        ]
        return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:32]


def _count(value: str | None) -> int:
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 6 else 0


async def edit_page(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    since = ctx.web.changes.sequence
    summary = await ctx.web.service.get_summary(name)
    base = (
        await ctx.web.service.resolve(name, version=summary.latest_version, resolve_includes=False)
    ).version
    return ctx.render(
        "edit.html",
        name=name,
        draft=Draft.of(base),
        base=base,
        review=None,
        watch=_watch_url(name, since, summary),
    )


async def edit_submit(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    service = ctx.web.service
    since = ctx.web.changes.sequence
    base_version = ctx.form_int("base_version") or 0
    base = (await service.resolve(name, version=base_version, resolve_includes=False)).version
    draft = Draft.from_form(ctx.form, base.version, base.type)
    action = ctx.form.get("action", "review")
    if action == "use-merge" and draft.type == "text" and "merged_template" in ctx.form:
        draft.template = ctx.form["merged_template"]
    if action == "add-message" and draft.type == "chat":
        draft.messages.append({"role": "user", "content": ""})
        summary = await service.get_summary(name)
        return ctx.render(
            "edit.html",
            name=name,
            draft=draft,
            base=base,
            review=None,
            watch=_watch_url(name, since, summary),
        )
    if action == "publish" and not draft.errors and ctx.form.get("reviewed") == draft.digest():
        try:
            published = await service.update_prompt(
                name,
                base_version=base.version,
                template=draft.template if draft.type == "text" else None,
                messages=[Message(**m) for m in draft.messages] if draft.type == "chat" else None,  # type: ignore[arg-type]
                config=draft.config,
                variables=draft.variables,
                description=draft.description if draft.description != draft.description_start else None,
                commit_message=draft.commit_message.strip() or None,
            )
        except ConflictError as exc:
            return await _review(ctx, name, draft, base, since, conflict=exc.current_version)
        except InvalidArgumentError as exc:
            draft.errors[_field_of(exc)] = exc.message
        else:
            await ctx.web.after_write()
            return RedirectResponse(prompt_url("p", name, version=published.version, notice="published"), 303)
        return await _review(ctx, name, draft, base, since)
    note = None
    if action == "publish" and not draft.errors:
        note = "The edit changed after its review: check this diff, then publish."
    return await _review(ctx, name, draft, base, since, note=note)


async def _review(
    ctx: Context,
    name: str,
    draft: Draft,
    base: PromptVersion,
    since: int,
    *,
    conflict: int | None = None,
    note: str | None = None,
) -> Response:
    """The review page: the draft's diff against its base, or, when the base was overtaken (now or
    earlier), against the new latest version, with what changed in between."""
    service = ctx.web.service
    summary = await service.get_summary(name)
    latest = conflict or summary.latest_version
    overtaken: dict[str, Any] | None = None
    against = base
    if latest != base.version:
        against = (await service.resolve(name, version=latest, resolve_includes=False)).version
        between = await service.diff_versions(name, base.version, latest)
        draft.adopt_untouched(base, against)
        merged = None
        if draft.type == "text" and against.type == "text":
            merged = merge3(base.template or "", against.template or "", draft.template)
            if merged in (draft.template, against.template):
                merged = None  # one change already holds the other: nothing to combine
        overtaken = {
            "from": base.version,
            "to": against,
            "lines": diffview.parse(between.unified_diff),
            "diff": between,
            "merged": merged,
        }
        draft.base_version = latest  # publishing now builds on the new latest: the form shows it merged
    diff: VersionDiff | None = None
    lines: list[diffview.Line] = []
    if "config" not in draft.errors and "variables" not in draft.errors:
        diff = diff_versions(against, draft.as_version(against))
        lines = diffview.parse(diff.unified_diff)
    return ctx.render(
        "edit.html",
        status=409 if overtaken else (400 if draft.errors else 200),
        name=name,
        draft=draft,
        base=against,
        review={
            "diff": diff,
            "lines": lines,
            "rows": diffview.side_by_side(lines),
            "digest": draft.digest(),
            "overtaken": overtaken,
            "note": note,
        },
        watch=_watch_url(name, since, summary),
    )


def _field_of(exc: InvalidArgumentError) -> str:
    argument = str(exc.details.get("argument", ""))
    return (
        argument
        if argument in ("template", "messages", "config", "variables", "description", "commit_message")
        else "form"
    )
