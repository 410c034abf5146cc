"""Moving prompt histories into a store: the one algorithm behind ``promptshelf copy`` and ``import``.

A *history* (``PromptHistory``) is what a prompt should look like: its description and tags and its
versions, oldest first, each with the labels that point at it. It comes from another store (``copy``)
or from a prompt file (``import``). ``plan_sync`` compares it with what the destination already holds
and decides what to write; ``apply_plan`` writes it through ``PromptService``, so every rule of the
service (names, labels, variables, includes, limits) applies exactly as it does to any other write.

How versions are matched (``align``): two versions are the same when their *content* is equal (type,
template or messages, config, declared variables; not the commit message, author or time). The longest
run of the history's first versions found one after another in the destination (the latest such run)
counts as already there; the rest is appended after the destination's latest version. So:

- a fresh destination receives every version, and keeps the numbers (1, 2, 3, ...);
- a destination that already has other versions of that name gets the history *after* them: version
  numbers shift (source v1 becomes destination v(m+1)); ``PromptResult.versions`` reports the mapping;
- an interrupted run left the first k versions behind: they match, and a re-run appends only the rest,
  so every version ends up there exactly once;
- when everything matches but the destination's latest differs (someone published after), the
  history's latest is published again so that the destination ends at the history's content.

Labels are set last, each on the destination version its source version maps to (``latest`` never).
Labels the destination has that the history does not mention are left alone. Prompt description and
tags travel with every version written; when only they differ, one version with unchanged content is
published to carry them (the service has no metadata-only write).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from promptshelf.errors import NotFoundError, PromptshelfError, UnavailableError
from promptshelf.model import PromptVersion, VersionDraft
from promptshelf.service import PromptService

HISTORY_PAGE = 100
LIST_PAGE = 200


class VersionSpec(VersionDraft):
    """One version as a source holds it: a draft (declared variables only, never derived ones; the
    labels that point at it) plus when it was made."""

    created_at: str | None = None
    """Informational: a store sets the time of the versions it writes."""

    def content_key(self) -> str:
        """Equal for versions with the same content, whatever their message, author, time or labels."""
        return json.dumps(
            {
                "type": self.type,
                "template": self.template if self.type == "text" else None,
                "messages": [m.model_dump() for m in self.messages or []] if self.type == "chat" else None,
                "config": self.config,
                "variables": [v.model_dump(mode="json") for v in self.variables],
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    @classmethod
    def of(cls, version: PromptVersion) -> VersionSpec:
        return cls(
            type=version.type,
            template=version.template if version.type == "text" else None,
            messages=version.messages if version.type == "chat" else None,
            config=version.config,
            variables=version.variables,
            commit_message=version.commit_message,
            created_by=version.created_by,
            created_at=version.created_at,
            labels=sorted(version.labels),
        )


class PromptHistory(BaseModel):
    """A prompt as it should be: metadata and versions, oldest first (the last one is the current)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    versions: list[VersionSpec]
    first_version: int = 1
    """The number of ``versions[0]``: a store's history may be read from its latest version only."""
    labels: dict[str, int] = Field(default_factory=dict)
    """Every label of a stored prompt and its version (also those on versions not read)."""


@dataclass(frozen=True)
class LabelMove:
    label: str
    version: int
    previous: int | None


@dataclass(frozen=True)
class SyncPlan:
    """What ``apply_plan`` will write for one prompt; ``first_new`` is the number the first write gets."""

    name: str
    exists: bool
    base_version: int
    """The destination's latest version when planned (0 when the prompt does not exist)."""
    publish: list[VersionSpec]
    versions: dict[int, int]
    """History position (1 = oldest) -> destination version number, after the plan is applied."""
    labels: list[LabelMove]
    description: str | None
    tags: list[str]
    meta_changed: bool

    @property
    def changed(self) -> bool:
        return bool(self.publish or self.labels)

    @property
    def action(self) -> Literal["create", "update", "unchanged"]:
        if not self.exists:
            return "create"
        return "update" if self.changed else "unchanged"


def align(history: Sequence[str], existing: Sequence[str]) -> tuple[int, int]:
    """``(k, start)``: the first ``k`` history keys occur in ``existing`` from index ``start`` on.

    ``k`` is as large as possible; among equally long runs the latest one wins. ``(0, len(existing))``
    when even the first key is not there.
    """
    best_k, best_start = 0, len(existing)
    for start in range(len(existing)):
        k = 0
        while k < len(history) and start + k < len(existing) and existing[start + k] == history[k]:
            k += 1
        if k and k >= best_k:
            best_k, best_start = k, start
    return best_k, best_start


async def read_history(service: PromptService, name: str) -> PromptHistory:
    """Every version of a live prompt, oldest first, with labels; ``NotFoundError`` if there is none."""
    numbers: list[int] = []
    before: int | None = None
    while True:
        page = await service.list_versions(name, before_version=before, limit=HISTORY_PAGE)
        numbers += [info.version for info in page.versions]
        if not page.has_more or not page.versions:
            break
        before = page.versions[-1].version
    versions: list[PromptVersion] = []
    for number in sorted(numbers):
        versions.append((await service.resolve(name, version=number, resolve_includes=False)).version)
    if not versions:
        raise NotFoundError(f"prompt {name!r} has no versions")
    latest = versions[-1]
    return PromptHistory(
        name=name,
        description=latest.description,
        tags=latest.tags,
        versions=[VersionSpec.of(version) for version in versions],
        labels={label: version.version for version in versions for label in version.labels},
    )


async def read_current(service: PromptService, name: str) -> PromptHistory:
    """The prompt with only its latest version (what a prompt file without history holds)."""
    latest = (await service.resolve(name, resolve_includes=False)).version
    summary = await service.store.get_summary(name)
    return PromptHistory(
        name=name,
        description=latest.description,
        tags=latest.tags,
        versions=[VersionSpec.of(latest)],
        first_version=latest.version,
        labels=dict(summary.labels),
    )


async def existing_current(service: PromptService, name: str) -> PromptHistory | None:
    try:
        return await read_current(service, name)
    except NotFoundError:
        return None


async def live_names(service: PromptService) -> AsyncIterator[str]:
    cursor: str | None = None
    while True:
        listing = await service.list_prompts(cursor=cursor, limit=LIST_PAGE)
        for prompt in listing.prompts:
            yield prompt.name
        if not listing.next_cursor:
            return
        cursor = listing.next_cursor


async def existing_history(service: PromptService, name: str) -> PromptHistory | None:
    try:
        return await read_history(service, name)
    except NotFoundError:
        return None


def plan_sync(history: PromptHistory, existing: PromptHistory | None) -> SyncPlan:
    """What to write so that ``existing`` (``None``: no such prompt) holds ``history``."""
    wanted = [version.content_key() for version in history.versions]
    have = [version.content_key() for version in existing.versions] if existing else []
    first = existing.first_version if existing else 1
    base = first + len(have) - 1
    k, start = align(wanted, have)
    publish = list(history.versions[k:])
    numbers = {position + 1: first + start + position for position in range(k)}
    description = history.description or None
    meta_changed = existing is not None and (
        (existing.description or None) != description or list(existing.tags) != list(history.tags)
    )
    if not publish and (start + k < len(have) or meta_changed):
        # All there, but the destination moved on (or only description/tags differ): publish the
        # history's latest again so that the destination ends on it.
        latest = history.versions[-1]
        if start + k == len(have):
            latest = latest.model_copy(update={"commit_message": "update description and tags"})
        publish = [latest]
    for offset in range(len(publish)):
        numbers[len(wanted) - len(publish) + offset + 1] = base + offset + 1
    current_labels: dict[str, int] = {}
    if existing:
        for number, version in enumerate(existing.versions, start=existing.first_version):
            current_labels.update(dict.fromkeys(version.labels, number))
        current_labels.update(existing.labels)
    moves = [
        LabelMove(label, numbers[position], current_labels.get(label))
        for position, version in enumerate(history.versions, start=1)
        for label in version.labels
        if current_labels.get(label) != numbers[position]
    ]
    return SyncPlan(
        name=history.name,
        exists=existing is not None,
        base_version=base,
        publish=publish,
        versions=numbers,
        labels=moves,
        description=description,
        tags=list(history.tags),
        meta_changed=meta_changed,
    )


VersionWritten = Callable[[str, int], None]
"""Called after each version is written, with the prompt's name and the new version's number."""


async def apply_plan(
    service: PromptService,
    plan: SyncPlan,
    *,
    keep_authors: bool = False,
    on_version: VersionWritten | None = None,
) -> None:
    """Write what ``plan`` says. ``keep_authors`` records each version's own ``created_by`` (copy)."""
    base = plan.base_version
    for version in plan.publish:
        writer = service
        if keep_authors and version.created_by:
            writer = PromptService(service.store, replace(service.policy, actor=version.created_by))
        fields: dict[str, Any] = {
            "template": version.template if version.type == "text" else None,
            "messages": version.messages if version.type == "chat" else None,
            "config": version.config,
            "variables": version.variables,
            "description": plan.description,
            "tags": plan.tags,
            "commit_message": version.commit_message,
        }
        if base == 0:
            written = await writer.create_prompt(plan.name, **fields)
        else:
            written = await writer.update_prompt(plan.name, base_version=base, **fields)
        base = written.version
        if on_version is not None:
            on_version(plan.name, written.version)
    for move in plan.labels:
        await service.set_label(plan.name, move.label, move.version)


# -- copy ------------------------------------------------------------------------------------------------


class PromptResult(BaseModel):
    name: str
    action: Literal["create", "update", "unchanged", "failed"]
    versions_written: int = 0
    versions: dict[int, int] = Field(default_factory=dict)
    """Source version -> destination version."""
    labels_set: list[str] = Field(default_factory=list)
    error: dict[str, Any] | None = None


class CopyReport(BaseModel):
    source: str
    destination: str
    dry_run: bool = False
    complete: bool = True
    """False when the run stopped early (the destination was unavailable); run it again to resume."""
    prompts: list[PromptResult] = Field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for prompt in self.prompts if prompt.action == action)

    @property
    def versions_written(self) -> int:
        return sum(prompt.versions_written for prompt in self.prompts)

    @property
    def failures(self) -> list[PromptResult]:
        return [prompt for prompt in self.prompts if prompt.action == "failed"]

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["totals"] = {
            "prompts": len(self.prompts),
            "created": self.count("create"),
            "updated": self.count("update"),
            "unchanged": self.count("unchanged"),
            "failed": self.count("failed"),
            "versions_written": self.versions_written,
        }
        return data


class ProgressObserver:
    """Hears how long work over many prompts goes (copy, export, import: the CLI draws a progress bar
    with it). Every method may be left as is."""

    def started(self, total: int) -> None:
        """The number of prompts to go through is known."""

    def prompt_started(self, name: str) -> None: ...

    def prompt_finished(self, name: str) -> None: ...


class CopyObserver(ProgressObserver):
    """Hears how a copy goes, down to each version written."""

    def version_written(self, name: str, version: int) -> None: ...

    def prompt_done(self, result: PromptResult) -> None:
        self.prompt_finished(result.name)


@dataclass
class _Counts:
    written: int = 0


async def copy_prompts(
    source: PromptService,
    destination: PromptService,
    *,
    source_name: str,
    destination_name: str,
    dry_run: bool = False,
    observer: CopyObserver | None = None,
) -> CopyReport:
    """Copy every live prompt of ``source`` (all versions and labels) into ``destination``.

    Safe to run again: what is already there is matched, not duplicated (see the module docstring).
    A prompt that fails (a name the destination cannot store, a concurrent write) is reported and the
    copy goes on; an unavailable store stops the run (``complete`` false) so a later run resumes it.
    """
    observer = observer or CopyObserver()
    report = CopyReport(source=source_name, destination=destination_name, dry_run=dry_run)
    names = [name async for name in live_names(source)]
    observer.started(len(names))
    for name in names:
        observer.prompt_started(name)
        try:
            result = await _copy_one(source, destination, name, dry_run=dry_run, observer=observer)
        except UnavailableError as exc:
            report.prompts.append(PromptResult(name=name, action="failed", error=exc.to_dict()))
            report.complete = False
            observer.prompt_done(report.prompts[-1])
            break
        except PromptshelfError as exc:
            result = PromptResult(name=name, action="failed", error=exc.to_dict())
        report.prompts.append(result)
        observer.prompt_done(result)
    return report


async def _copy_one(
    source: PromptService,
    destination: PromptService,
    name: str,
    *,
    dry_run: bool,
    observer: CopyObserver,
) -> PromptResult:
    history = await read_history(source, name)
    existing = await existing_history(destination, name)
    plan = plan_sync(history, existing)
    counts = _Counts()

    def written(prompt: str, version: int) -> None:
        counts.written += 1
        observer.version_written(prompt, version)

    if not dry_run:
        await apply_plan(destination, plan, keep_authors=True, on_version=written)
    return PromptResult(
        name=name,
        action=plan.action,
        versions_written=counts.written if not dry_run else len(plan.publish),
        versions=dict(sorted(plan.versions.items())),
        labels_set=[move.label for move in plan.labels],
    )
