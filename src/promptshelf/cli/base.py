"""What every command module needs: the store-choosing flags, settings from flags and environment, and
``run_service``, the one place a command opens the store and turns our errors into clean exits."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click
from pydantic import ValidationError

from promptshelf.errors import PromptshelfError
from promptshelf.service import Policy, PromptService
from promptshelf.settings import Settings

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES = {
    "invalid_argument": 2,
    "not_found": 3,
    "conflict": 4,
    "forbidden": 5,
    "unavailable": 6,
    "internal": 1,
}


def settings_options(command: F) -> F:
    """The flags that choose and configure the store, shared by every command (DESIGN.md, "Running it")."""
    options = [
        click.option(
            "--backend",
            type=click.Choice(["sqlite", "postgres", "posthog", "statsig"]),
            help="Where prompts live.",
        ),
        click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="The SQLite file."),
        click.option(
            "--database-url",
            help="PostgreSQL (--backend postgres): a libpq URL, postgresql://USER@HOST:PORT/DATABASE; "
            "the password may come from PGPASSWORD or ~/.pgpass.",
        ),
        click.option("--pool-min-size", type=int, help="PostgreSQL connections kept open when idle."),
        click.option("--pool-max-size", type=int, help="Most PostgreSQL connections open at once."),
        click.option(
            "--pool-timeout", type=float, help="Seconds to wait for a PostgreSQL connection before failing."
        ),
        click.option("--label", "default_label", help="Label used when no version or label is given."),
        click.option("--read-only", is_flag=True, default=None, help="Refuse every write."),
        click.option(
            "--allow-label", "allow_labels", multiple=True, help="A protected label MCP callers may move."
        ),
        click.option(
            "--protect-label", "protected_labels", multiple=True, help="A label MCP callers cannot move."
        ),
        click.option("--cache-ttl", type=float, help="Seconds a vendor read stays fresh."),
        click.option("--poll-interval", type=float, help="Seconds between looks for outside changes."),
        click.option(
            "--statsig-respect-review-settings",
            is_flag=True,
            default=None,
            help="Send x-respect-review-settings.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(command)


def build_settings(**flags: Any) -> Settings:
    """Settings from the environment, overridden by the flags actually given."""
    renames = {"default_label": "label"}
    given: dict[str, Any] = {}
    for key, value in flags.items():
        if value is None or value == ():
            continue
        given[renames.get(key, key)] = list(value) if isinstance(value, tuple) else value
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            (f"{_setting_name(e['loc'])}: " if e["loc"] else "") + e["msg"] for e in exc.errors()
        )
        raise click.UsageError(f"invalid settings: {problems}") from None


def _setting_name(location: tuple[int | str, ...]) -> str:
    """A settings field as the user wrote it: ``cache_ttl (--cache-ttl / PROMPTSHELF_CACHE_TTL)``."""
    field = str(location[0]) if location else "settings"
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    env = alias if isinstance(alias, str) else f"PROMPTSHELF_{field.upper()}"
    flag = {"allow_labels": "--allow-label", "protected_labels": "--protect-label"}.get(
        field, "--" + field.replace("_", "-")
    )
    return f"{field} ({flag} / {env})"


def cli_policy(settings: Settings) -> Policy:
    return Policy.from_settings(settings, trusted=True, actor=f"cli:{_user()}")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def run_service(settings: Settings, as_json: bool, use: Callable[[PromptService], Awaitable[T]]) -> T:
    """Open the store, run ``use`` with a service, close the store; turn our errors into clean exits."""
    from promptshelf.backends import open_store

    async def main() -> T:
        store = await open_store(settings)
        try:
            return await use(PromptService(store, cli_policy(settings)))
        finally:
            await store.aclose()

    try:
        return anyio.run(main)
    except PromptshelfError as exc:
        if as_json:
            click.echo(json.dumps({"error": exc.to_dict()}, ensure_ascii=False))
        else:
            click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_CODES.get(exc.code, 1))


def check_writable(settings: Settings) -> None:
    if settings.read_only:
        raise click.UsageError("this command writes, and promptshelf is in read-only mode (--read-only)")
