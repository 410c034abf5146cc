"""``export`` and ``import``: the store and a folder of prompt files (``prompt_files``) kept in step.

Export writes one file per live prompt and leaves a file holding the same text untouched. Import makes a
version only where a file's content differs from the store's, moves the labels a file lists, and writes
nothing at all unless every file reads cleanly and passes the service's rules.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.errors import InvalidArgumentError, PromptshelfError
from promptshelf.files.copying import (
    ProgressObserver,
    PromptHistory,
    SyncPlan,
    apply_plan,
    existing_current,
    existing_history,
    live_names,
    plan_sync,
    read_current,
    read_history,
)
from promptshelf.files.prompt_files import (
    PromptFile,
    PromptFileError,
    prompt_path,
    read_prompt_files,
    render_prompt_file,
    write_if_changed,
)
from promptshelf.service import PromptService


class ExportedPrompt(BaseModel):
    name: str
    file: str
    written: bool
    """False when the file already held exactly this."""


class ExportReport(BaseModel):
    directory: str
    history: bool
    prompts: list[ExportedPrompt] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["written"] = sum(1 for prompt in self.prompts if prompt.written)
        return data


async def export_prompts(
    service: PromptService,
    root: Path,
    *,
    with_history: bool = False,
    observer: ProgressObserver | None = None,
) -> ExportReport:
    """Write one file per live prompt below ``root``; a file already holding the same text is not touched.

    Files of prompts that are no longer in the store are left where they are. Nothing is written when two
    prompts would need the same path (``export_paths``).
    """
    observer = observer or ProgressObserver()
    report = ExportReport(directory=str(root), history=with_history)
    names = [name async for name in live_names(service)]
    paths = export_paths(root, names)
    observer.started(len(names))
    for name in names:
        observer.prompt_started(name)
        history = await (read_history if with_history else read_current)(service, name)
        path = paths[name]
        written = write_if_changed(path, render_prompt_file(history, with_history=with_history))
        report.prompts.append(ExportedPrompt(name=name, file=str(path), written=written))
        observer.prompt_finished(name)
    return report


def export_paths(
    root: Path, names: Iterable[str], *, case_insensitive: bool | None = None
) -> dict[str, Path]:
    """Where each prompt's file goes, or an ``InvalidArgumentError`` listing every clash, before anything
    is written: two prompts on one file (``a/b`` and a ``a/./b`` stored before such names were refused;
    ``A`` and ``a`` on a case-insensitive file system), a file where another prompt needs a folder (``x``
    is ``x.md``, which ``x.md/y`` needs as a folder), or a path already taken by a folder or a file.

    ``case_insensitive``: whether names differing only in case clash; by default, what ``root``'s file
    system does.
    """
    if case_insensitive is None:
        case_insensitive = _is_case_insensitive(root)

    def key(parts: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(part.casefold() for part in parts) if case_insensitive else parts

    paths = {name: prompt_path(root, name) for name in names}
    files: dict[tuple[str, ...], str] = {}
    folders: dict[tuple[str, ...], tuple[str, Path]] = {}
    clashes: list[str] = []
    on_disk = False
    for name, path in paths.items():
        parts = path.relative_to(root).parts
        if (first := files.setdefault(key(parts), name)) != name:
            clashes.append(f"{first!r} and {name!r} would both be {paths[first]}")
        for depth in range(1, len(parts)):
            folders.setdefault(key(parts[:depth]), (name, root.joinpath(*parts[:depth])))
    for parts, name in files.items():
        if (needed := folders.get(parts)) is not None:
            clashes.append(f"{name!r} would be the file {paths[name]}, which {needed[0]!r} needs as a folder")
        elif paths[name].is_dir():
            clashes.append(f"{name!r} would be the file {paths[name]}, which is a folder")
            on_disk = True
    for name, folder in folders.values():
        if folder.exists() and not folder.is_dir():
            clashes.append(f"{name!r} needs {folder} as a folder, but it is a file")
            on_disk = True
    if clashes:
        shown = "; ".join(clashes[:10]) + (f"; and {len(clashes) - 10} more" if len(clashes) > 10 else "")
        # An empty folder helps only where the clash is with what is already on disk.
        advice = (
            "move what is in the way, or export to an empty folder"
            if on_disk
            else ("archive or rename the prompts involved")
        )
        raise InvalidArgumentError(
            f"cannot export to {root}: {shown}. Nothing was written; {advice}", clashes=clashes
        )
    return paths


def _is_case_insensitive(root: Path) -> bool:
    """Whether ``root``'s file system ignores case (macOS, Windows by default): an entry of ``root`` (or of
    its nearest existing parent) found again under its name in the other case is the same file."""
    folder = root
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    for candidate in [*_first_entries(folder), folder]:
        swapped = candidate.with_name(candidate.name.swapcase())
        if swapped.name != candidate.name:
            return swapped.exists() and os.path.samefile(swapped, candidate)
    return False


def _first_entries(folder: Path, count: int = 20) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return [Path(entry.path) for _, entry in zip(range(count), entries, strict=False)]
    except OSError:
        return []


class LabelChange(BaseModel):
    label: str
    version: int
    previous: int | None


class ImportedPrompt(BaseModel):
    name: str
    file: str
    action: Literal["create", "update", "unchanged"]
    new_versions: list[int] = Field(default_factory=list)
    """The numbers the new versions get (or would get, in a dry run)."""
    labels: list[LabelChange] = Field(default_factory=list)
    metadata_changed: bool = False


class ImportReport(BaseModel):
    source: str
    dry_run: bool
    prompts: list[ImportedPrompt] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["totals"] = {
            action: sum(1 for prompt in self.prompts if prompt.action == action)
            for action in ("create", "update", "unchanged")
        }
        return data


async def import_prompts(
    service: PromptService,
    root: Path,
    *,
    dry_run: bool = False,
    message: str | None = None,
    observer: ProgressObserver | None = None,
) -> ImportReport:
    """Bring the store in line with the prompt files at ``root``; only changed content makes versions.

    Nothing is written unless every file reads cleanly and passes the service's rules (checked by
    importing into a scratch SQLite store first). A dry run plans and reports, and writes nothing.
    """
    observer = observer or ProgressObserver()
    files = read_prompt_files(root)
    await _check_on_scratch(files, service)
    observer.started(len(files))
    plans: list[tuple[PromptFile, SyncPlan]] = []
    for prompt_file in files:
        history = _with_commit_message(prompt_file, message)
        name = history.name
        read_existing = existing_history if prompt_file.has_history else existing_current
        try:
            existing = await read_existing(service, name)
        except PromptshelfError as exc:
            raise _in_file(prompt_file.path, exc, "") from exc
        plans.append((prompt_file, plan_sync(history, existing)))
    report = ImportReport(source=str(root), dry_run=dry_run)
    for prompt_file, plan in plans:
        observer.prompt_started(plan.name)
        if not dry_run:
            try:
                await apply_plan(service, plan)
            except PromptshelfError as exc:
                done = len(report.prompts)
                note = f" (the {done} files before it were imported; fix this one and import again)"
                raise _in_file(prompt_file.path, exc, note) from exc
        report.prompts.append(
            ImportedPrompt(
                name=plan.name,
                file=str(prompt_file.path),
                action=plan.action,
                new_versions=list(range(plan.base_version + 1, plan.base_version + 1 + len(plan.publish))),
                labels=[
                    LabelChange(label=move.label, version=move.version, previous=move.previous)
                    for move in plan.labels
                ],
                metadata_changed=plan.meta_changed,
            )
        )
        observer.prompt_finished(plan.name)
    return report


def _in_file(path: Path, exc: PromptshelfError, note: str) -> PromptshelfError:
    """The same error (same code), its message starting with the file it is about."""
    if isinstance(exc, PromptFileError):
        return exc
    error = copy.copy(exc)
    error.message = f"{path}: {exc.message}{note}"
    error.args = (error.message,)
    return error


def _with_commit_message(prompt_file: PromptFile, message: str | None) -> PromptHistory:
    """The file's history, its current version carrying the commit message a new version should get."""
    history = prompt_file.history
    current = history.versions[-1]
    if message is None and prompt_file.has_history:
        return history
    commit_message = message or prompt_file.commit_message or f"import {prompt_file.path.as_posix()}"
    versions = [*history.versions[:-1], current.model_copy(update={"commit_message": commit_message})]
    return history.model_copy(update={"versions": versions})


async def _check_on_scratch(files: list[PromptFile], service: PromptService) -> None:
    """Apply every file to an empty scratch SQLite store with the same rules, so that a file the
    service would refuse stops the import before the real store is touched."""
    with tempfile.TemporaryDirectory(prefix="promptshelf-import-") as scratch_dir:
        store = await SQLiteStore.open(Path(scratch_dir) / "check.db")
        try:
            scratch = PromptService(store, service.policy)
            for prompt_file in files:
                try:
                    await apply_plan(scratch, plan_sync(prompt_file.history, None))
                except PromptshelfError as exc:
                    raise PromptFileError(prompt_file.path, exc.message) from exc
        finally:
            await store.aclose()
