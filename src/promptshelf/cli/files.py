"""``promptshelf export``, ``import`` and ``copy``: prompts as files in git, and moving them between
backends. Parsing and printing only: the file format is ``prompt_files``, the copy logic ``copying``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from promptshelf.backends import open_store
from promptshelf.cli.base import (
    EXIT_CODES,
    build_settings,
    check_writable,
    cli_policy,
    json_option,
    run_service,
    settings_options,
)
from promptshelf.errors import PromptshelfError
from promptshelf.files.copying import CopyObserver, CopyReport, copy_prompts
from promptshelf.files.file_sync import ExportReport, ImportReport, export_prompts, import_prompts
from promptshelf.service import PromptService
from promptshelf.settings import Settings


def register(group: click.Group) -> None:
    group.add_command(export_command)
    group.add_command(import_command)
    group.add_command(copy_command)


@click.command("export")
@settings_options
@json_option
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--history", is_flag=True, help="Also write every earlier version into each file.")
def export_command(as_json: bool, directory: Path, history: bool, **flags: Any) -> None:
    """Write one Markdown file per prompt into DIRECTORY (front matter + template or messages)."""
    settings = build_settings(**flags)

    async def export(service: PromptService) -> ExportReport:
        with _ProgressBar("export", enabled=_progress_wanted(as_json)) as bar:
            return await export_prompts(service, directory, with_history=history, observer=bar)

    report = run_service(settings, as_json, export)
    if as_json:
        _echo_json(report.to_json())
    else:
        click.echo(_export_text(report))


@click.command("import")
@settings_options
@json_option
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--message", help="Commit message for the versions created (default: 'import FILE').")
def import_command(as_json: bool, path: Path, dry_run: bool, message: str | None, **flags: Any) -> None:
    """Read prompt files (a file, or a folder of them) into the store; only changed content makes a
    new version, so importing the same files again changes nothing."""
    settings = build_settings(**flags)
    if not dry_run:
        check_writable(settings)

    async def import_files(service: PromptService) -> ImportReport:
        with _ProgressBar("import", enabled=_progress_wanted(as_json)) as bar:
            return await import_prompts(service, path, dry_run=dry_run, message=message, observer=bar)

    report = run_service(settings, as_json, import_files)
    if as_json:
        _echo_json(report.to_json())
    else:
        click.echo(_import_text(report))


SPEC_HELP = "sqlite:PATH, postgresql://... (postgres://...), posthog or statsig."


@click.command("copy")
@json_option
@click.option("--from", "source", required=True, metavar="SPEC", help=SPEC_HELP)
@click.option("--to", "destination", required=True, metavar="SPEC", help=SPEC_HELP)
@click.option("--dry-run", is_flag=True, help="Print what would be copied; write nothing.")
def copy_command(as_json: bool, source: str, destination: str, dry_run: bool) -> None:
    """Copy every prompt with its history and labels from one backend to another.

    Vendor credentials come from the environment (POSTHOG_*, STATSIG_*); a PostgreSQL password from the
    URL, PGPASSWORD or ~/.pgpass. Running it again after an
    interruption resumes: versions already copied are recognised by content and not copied twice.
    Version numbers are kept when the destination starts empty; a destination that already has a
    prompt of that name gets the copied versions after its own, and the summary shows the mapping.
    """
    from_settings = _spec_settings(source, "--from")
    to_settings = _spec_settings(destination, "--to")
    if _same_store(from_settings, to_settings):
        raise click.UsageError(f"--from {_shown(source)} and --to {_shown(destination)} are the same store")
    if to_settings.read_only and not dry_run:
        check_writable(to_settings)

    async def main() -> CopyReport:
        source_store = await open_store(from_settings)
        try:
            destination_store = await open_store(to_settings)
            try:
                with _ProgressBar("copy", enabled=_progress_wanted(as_json)) as bar:
                    return await copy_prompts(
                        PromptService(source_store, cli_policy(from_settings)),
                        PromptService(destination_store, cli_policy(to_settings)),
                        source_name=_shown(source),
                        destination_name=_shown(destination),
                        dry_run=dry_run,
                        observer=bar,
                    )
            finally:
                await destination_store.aclose()
        finally:
            await source_store.aclose()

    try:
        report = anyio.run(main)
    except PromptshelfError as exc:
        if as_json:
            _echo_json({"error": exc.to_dict()})
        else:
            click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_CODES.get(exc.code, 1))
    if as_json:
        _echo_json(report.to_json())
    else:
        click.echo(_copy_text(report))
    if not report.complete:
        sys.exit(EXIT_CODES["unavailable"])
    if report.failures:
        codes = {str((failure.error or {}).get("code", "internal")) for failure in report.failures}
        sys.exit(EXIT_CODES.get(codes.pop(), 1) if len(codes) == 1 else 1)


def _spec_settings(spec: str, option: str) -> Settings:
    kind, _, rest = spec.partition(":")
    if kind == "sqlite" and rest:
        return build_settings(backend="sqlite", db=Path(rest))
    if kind in ("postgres", "postgresql") and rest.startswith("//"):
        return build_settings(backend="postgres", database_url=spec)
    if kind in ("posthog", "statsig") and not rest:
        return build_settings(backend=kind)
    raise click.BadParameter(
        f"{_shown(spec)!r} is not a store: use sqlite:PATH, postgresql://..., posthog or statsig",
        param_hint=option,
    )


def _shown(spec: str) -> str:
    """A SPEC as it may be printed: a PostgreSQL URL's password replaced by ``***``."""
    parts = urlsplit(spec)
    if parts.scheme not in ("postgres", "postgresql") or parts.password is None:
        return spec
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _same_store(a: Settings, b: Settings) -> bool:
    if a.backend != b.backend:
        return False
    if a.backend == "sqlite":
        return a.db.expanduser().resolve() == b.db.expanduser().resolve()
    if a.backend == "postgres":
        return _database_of(a) == _database_of(b)
    return True


def _database_of(settings: Settings) -> tuple[str, str, str]:
    """Which database a URL names (host, port, name), whoever logs in to it. Read leniently: a URL libpq
    will refuse (a port that is no number) is compared as written, and refused when it is opened."""
    url = settings.database_url.get_secret_value() if settings.database_url else ""
    parts = urlsplit(url)
    host_port = parts.netloc.rpartition("@")[2]
    host, _, port = host_port.rpartition(":") if not host_port.endswith("]") else (host_port, "", "")
    return ((host or host_port or "localhost").lower(), port or "5432", parts.path.lstrip("/"))


def _progress_wanted(as_json: bool) -> bool:
    return not as_json and sys.stderr.isatty()


class _ProgressBar(CopyObserver):
    """A rich progress bar on stderr (only on a terminal); one step per prompt."""

    def __init__(self, verb: str, *, enabled: bool) -> None:
        self.progress = (
            Progress(
                TextColumn(f"[bold]{verb}[/bold] {{task.description}}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            if enabled
            else None
        )
        self.task: Any = None

    def __enter__(self) -> _ProgressBar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def started(self, total: int) -> None:
        if self.progress is not None:
            self.task = self.progress.add_task("prompts", total=total)

    def prompt_started(self, name: str) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, description=name)

    def prompt_finished(self, name: str) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _export_text(report: ExportReport) -> str:
    written = sum(1 for prompt in report.prompts if prompt.written)
    lines = [f"wrote {prompt.file}" for prompt in report.prompts if prompt.written]
    lines.append(
        f"{len(report.prompts)} prompts exported to {report.directory}: {written} files written, "
        f"{len(report.prompts) - written} already up to date"
    )
    return "\n".join(lines)


def _import_text(report: ImportReport) -> str:
    lines = []
    would = "would " if report.dry_run else ""
    for prompt in report.prompts:
        if prompt.action == "unchanged":
            continue
        changes = [f"v{number}" for number in prompt.new_versions]
        changes += [
            f"{move.label} -> v{move.version}"
            + (f" (was v{move.previous})" if move.previous is not None else "")
            for move in prompt.labels
        ]
        if prompt.metadata_changed:
            changes.append("description/tags")
        lines.append(f"{would}{prompt.action} {prompt.name}: {', '.join(changes)}  ({prompt.file})")
    counts = {action: sum(1 for p in report.prompts if p.action == action) for action in ("create", "update")}
    unchanged = len(report.prompts) - sum(counts.values())
    dry = " (dry run: nothing written)" if report.dry_run else ""
    lines.append(
        f"{len(report.prompts)} prompt files: {would}create {counts['create']}, {would}update "
        f"{counts['update']}, {unchanged} unchanged{dry}"
    )
    return "\n".join(lines)


def _copy_text(report: CopyReport) -> str:
    lines = []
    would = "would " if report.dry_run else ""
    for prompt in report.prompts:
        if prompt.action == "failed":
            lines.append(f"failed {prompt.name}: {(prompt.error or {}).get('message', '')}")
        elif prompt.action != "unchanged":
            renumbered = [f"v{a}->v{b}" for a, b in prompt.versions.items() if a != b]
            detail = f"{prompt.versions_written} versions"
            if renumbered:
                detail += ", numbered " + " ".join(renumbered)
            if prompt.labels_set:
                detail += ", labels " + ", ".join(prompt.labels_set)
            lines.append(f"{would}{prompt.action} {prompt.name}: {detail}")
    lines.append(
        f"{report.source} -> {report.destination}: {len(report.prompts)} prompts, "
        f"{report.count('create')} {would}created, {report.count('update')} {would}updated, "
        f"{report.count('unchanged')} unchanged, {report.count('failed')} failed; "
        f"{report.versions_written} versions {would}written"
        + (" (dry run: nothing written)" if report.dry_run else "")
    )
    if not report.complete:
        lines.append("stopped early: a store was unavailable; run the same command again to resume")
    return "\n".join(lines)
