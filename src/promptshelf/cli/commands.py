"""The ``promptshelf`` command line: argument parsing and printing only; the service holds every rule.

Every command takes ``--json`` for machine-readable output. Errors are printed in one place (``run_service``):
a clean message on stderr (or ``{"error": {...}}`` with ``--json``) and a non-zero exit code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from promptshelf import coerce
from promptshelf.cli.base import (
    EXIT_CODES,
    build_settings,
    check_writable,
    json_option,
    run_service,
    settings_options,
)
from promptshelf.cli.files import register as register_file_commands
from promptshelf.cli.output import history_text, print_result
from promptshelf.errors import NotFoundError, PromptshelfError
from promptshelf.service import PromptService


class _Main(click.Group):
    """With ``--json``, usage errors (a bad flag value, a bad ``--var``, a write in read-only mode) are
    JSON on stdout too, like every other error (``run_service``); without it, click's usual message."""

    def main(self, args: Any = None, *pos: Any, standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        run: Any = super().main
        if not standalone_mode or "--json" not in argv:
            return run(argv, *pos, standalone_mode=standalone_mode, **extra)
        try:
            return run(argv, *pos, standalone_mode=False, **extra)
        except click.ClickException as exc:
            error = {"code": "invalid_argument", "message": exc.format_message()}
            click.echo(json.dumps({"error": error}, ensure_ascii=False))
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="promptshelf")
def main() -> None:
    """promptshelf: a versioned prompt registry for AI agents, served over MCP."""


@main.command()
@settings_options
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="stdio, or streamable HTTP at /mcp.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP: the address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="HTTP: the port to bind.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, help="HTTP: a Host (and Origin) to accept.")
@click.option("--no-auth", is_flag=True, help="HTTP: allow a non-loopback host without a token.")
@click.option("--max-sessions-per-token", type=int, help="HTTP: open sessions per token [default: 100].")
@click.option("--session-idle-timeout", type=float, help="HTTP: seconds before an idle session ends [600].")
@click.option("--header-timeout", type=float, help="HTTP: seconds a request's headers may take [10].")
@click.option("--body-timeout", type=float, help="HTTP: seconds a request's body may take [30].")
@click.option("--max-connections", type=int, help="HTTP: open connections at most [500].")
@click.option(
    "--http-stack",
    type=click.Choice(["auto", "uvloop", "httptools", "h11"]),
    help="HTTP: event loop and parser; auto = uvloop + httptools when installed, h11 = pure Python [auto].",
)
@click.option(
    "--http-fast-path/--no-http-fast-path",
    default=None,
    help="HTTP: answer ordinary 2026-07-28 requests without the SDK's streaming machinery [on].",
)
def serve(
    transport: str, host: str, port: int, allowed_hosts: tuple[str, ...], no_auth: bool, **flags: Any
) -> None:
    """Run the MCP server (stdio by default; streamable HTTP at /mcp with --transport http)."""
    from promptshelf.server import serve as run_server

    settings = build_settings(**flags)
    try:
        run_server(
            settings,
            transport=transport,
            host=host,
            port=port,
            allowed_hosts=list(allowed_hosts),
            no_auth=no_auth,
        )
    except PromptshelfError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_CODES.get(exc.code, 1))


@main.command("ls")
@settings_options
@json_option
@click.option("--search", help="Case-insensitive substring of the name or description.")
@click.option("--tag", help="Only prompts with this tag.")
@click.option("--with-label", "with_label", help="Only prompts that have this label.")
@click.option("--limit", default=50, show_default=True, type=int, help="Prompts per page (1 to 200).")
@click.option("--cursor", help="Continue from a previous page's next_cursor.")
@click.option("--all", "all_pages", is_flag=True, help="Follow every page.")
@click.option("--archived", is_flag=True, help="Include archived prompts.")
def list_command(
    as_json: bool,
    search: str | None,
    tag: str | None,
    with_label: str | None,
    limit: int,
    cursor: str | None,
    all_pages: bool,
    archived: bool,
    **flags: Any,
) -> None:
    """List prompts (name order)."""
    settings = build_settings(**flags)

    async def use(service: PromptService) -> Any:
        listing = await service.list_prompts(
            search=search, tag=tag, label=with_label, cursor=cursor, limit=limit, include_archived=archived
        )
        prompts = list(listing.prompts)
        while all_pages and listing.next_cursor:
            listing = await service.list_prompts(
                search=search,
                tag=tag,
                label=with_label,
                cursor=listing.next_cursor,
                limit=limit,
                include_archived=archived,
            )
            prompts += listing.prompts
        return listing.model_copy(update={"prompts": prompts})

    print_result(run_service(settings, as_json, use), as_json)


@main.command()
@settings_options
@json_option
@click.argument("name")
@click.option("--version", "version", type=int, help="A version number.")
@click.option("--at", "at_label", help="A label (default: the server's default label).")
@click.option("--raw", is_flag=True, help="Show {{> includes}} as written instead of resolved.")
def show(
    as_json: bool, name: str, version: int | None, at_label: str | None, raw: bool, **flags: Any
) -> None:
    """Show one version of a prompt."""
    settings = build_settings(**flags)
    result = run_service(
        settings,
        as_json,
        lambda s: s.get_prompt(name, version=version, label=at_label, resolve_includes=not raw),
    )
    print_result(result, as_json)


@main.command()
@settings_options
@json_option
@click.argument("name")
@click.option("--var", "pairs", multiple=True, metavar="KEY=VALUE", help="A variable (repeatable).")
@click.option("--vars-json", help="Variables as a JSON object (merged under --var).")
@click.option("--version", "version", type=int, help="A version number.")
@click.option("--at", "at_label", help="A label.")
@click.option("--lenient", is_flag=True, help="Leave missing variables as placeholders instead of failing.")
def render(
    as_json: bool,
    name: str,
    pairs: tuple[str, ...],
    vars_json: str | None,
    version: int | None,
    at_label: str | None,
    lenient: bool,
    **flags: Any,
) -> None:
    """Render a prompt with variables."""
    settings = build_settings(**flags)
    variables = _parse_variables(pairs, vars_json)
    result = run_service(
        settings,
        as_json,
        lambda s: s.render_prompt(name, variables, version=version, label=at_label, strict=not lenient),
    )
    print_result(result, as_json)


@main.command()
@settings_options
@json_option
@click.argument("name")
@click.option("--before", "before_version", type=int, help="Only versions below this one.")
@click.option("--limit", default=20, show_default=True, type=int, help="Versions per page (1 to 100).")
def history(as_json: bool, name: str, before_version: int | None, limit: int, **flags: Any) -> None:
    """List a prompt's versions, newest first."""
    settings = build_settings(**flags)
    result = run_service(
        settings, as_json, lambda s: s.list_versions(name, before_version=before_version, limit=limit)
    )
    if as_json:
        print_result(result, as_json)
    else:
        click.echo(history_text(result, starts_at_latest=before_version is None))


@main.command()
@settings_options
@json_option
@click.argument("name")
@click.argument("from_version", type=int)
@click.argument("to_version", type=int, required=False)
def diff(as_json: bool, name: str, from_version: int, to_version: int | None, **flags: Any) -> None:
    """Compare two versions (TO defaults to the latest)."""
    settings = build_settings(**flags)
    print_result(
        run_service(settings, as_json, lambda s: s.diff_versions(name, from_version, to_version)), as_json
    )


@main.command()
@settings_options
@json_option
@click.argument("name")
@click.argument("label_name", metavar="LABEL")
@click.argument("version", type=int, required=False)
@click.option("--remove", is_flag=True, help="Remove the label instead of moving it.")
def label(as_json: bool, name: str, label_name: str, version: int | None, remove: bool, **flags: Any) -> None:
    """Point LABEL at VERSION (or remove it with --remove). Rollback = move a label back."""
    settings = build_settings(**flags)
    check_writable(settings)
    if remove == (version is not None):
        raise click.UsageError("give a VERSION to move the label to, or --remove (not both)")
    if remove:
        result = run_service(settings, as_json, lambda s: s.remove_label(name, label_name))
    else:
        assert version is not None
        result = run_service(settings, as_json, lambda s: s.set_label(name, label_name, version))
    print_result(result, as_json)


@main.command()
@settings_options
@json_option
@click.argument("name")
@click.option(
    "--file",
    "source",
    type=click.File("r", encoding="utf-8"),
    default="-",
    show_default=True,
    help="Plain text (a text prompt), or JSON: a list of messages, or an object with template or messages "
    "and optional config, variables, description, tags. '-' reads stdin.",
)
@click.option("--base-version", type=int, help="The version you edited (default: the latest, read now).")
@click.option("--message", "commit_message", help="Commit message for the new version.")
@click.option("--description", help="The prompt's description.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable; replaces the tags).")
@click.option(
    "--set-label", "labels", multiple=True, help="Point this label at the new version (repeatable)."
)
def publish(
    as_json: bool,
    name: str,
    source: Any,
    base_version: int | None,
    commit_message: str | None,
    description: str | None,
    tags: tuple[str, ...],
    labels: tuple[str, ...],
    **flags: Any,
) -> None:
    """Create a prompt, or publish its next version, from a file or stdin."""
    settings = build_settings(**flags)
    check_writable(settings)
    spec = _read_spec(source.read(), getattr(source, "name", "stdin"))

    async def use(service: PromptService) -> Any:
        fields: dict[str, Any] = {
            "template": spec.get("template"),
            "messages": coerce.messages(spec.get("messages")),
            "config": spec.get("config"),
            "variables": coerce.variables(spec.get("variables")),
            "description": description if description is not None else spec.get("description"),
            "tags": list(tags) if tags else spec.get("tags"),
            "labels": list(labels) or None,
            "commit_message": commit_message,
        }
        base = base_version
        if base is None:
            try:
                base = (await service.store.get_summary(name)).latest_version
            except NotFoundError:
                return await service.create_prompt(name, **fields)
        return await service.update_prompt(name, base_version=base, **fields)

    print_result(run_service(settings, as_json, use), as_json)


@main.command()
@settings_options
@json_option
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def archive(as_json: bool, name: str, yes: bool, **flags: Any) -> None:
    """Archive a prompt: it leaves every listing; its rows stay in the store."""
    settings = build_settings(**flags)
    check_writable(settings)
    if not yes and sys.stdin.isatty():
        click.confirm(f"Archive {name!r} and every version of it?", abort=True)
    print_result(run_service(settings, as_json, lambda s: s.archive_prompt(name)), as_json)


def _parse_variables(pairs: tuple[str, ...], vars_json: str | None) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    if vars_json:
        try:
            loaded = json.loads(vars_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--vars-json") from None
        if not isinstance(loaded, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--vars-json")
        variables.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--var")
        variables[key] = value
    return variables


def _read_spec(text: str, origin: str) -> dict[str, Any]:
    """A prompt file: JSON (object or message list) when it parses as such, else the template itself."""
    stripped = text.strip()
    if not stripped:
        raise click.UsageError(f"{origin} is empty")
    if stripped[0] in "[{":
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, list):
            return {"messages": data}
        if isinstance(data, dict):
            if not ({"template", "messages"} & data.keys()):
                raise click.UsageError(f"{origin}: a JSON prompt file needs 'template' or 'messages'")
            return data
    return {"template": text}


register_file_commands(main)
