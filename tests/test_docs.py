"""The README stays true: every command, flag, environment variable, exit code and path it shows exists,
and every command and setting that exists is documented there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from promptshelf.cli import main
from promptshelf.cli.base import EXIT_CODES
from promptshelf.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

COMMANDS: dict[str, click.Command] = dict(main.commands)

# The settings flags of DESIGN.md's "Running it" table and the server's own flags.
DESIGN_SERVE_FLAGS = [
    "--backend",
    "--db",
    "--database-url",
    "--pool-min-size",
    "--pool-max-size",
    "--pool-timeout",
    "--label",
    "--read-only",
    "--allow-label",
    "--protect-label",
    "--cache-ttl",
    "--poll-interval",
    "--statsig-respect-review-settings",
    "--transport",
    "--host",
    "--port",
    "--allowed-host",
    "--no-auth",
]


def section(title: str) -> str:
    """The README text under the ``## title`` heading, up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.MULTILINE | re.DOTALL)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def table(text: str, first_header: str) -> list[list[str]]:
    """The body rows of the Markdown table whose first header cell is ``first_header``."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_header:
            rows = []
            for row in lines[index + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append([cell.strip() for cell in row.strip().strip("|").split("|")])
            return rows
    raise AssertionError(f"no table starting with column {first_header!r}")


def code_texts() -> list[str]:
    """Everything the README shows as code: fenced blocks, then inline spans (which may wrap lines)."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", README, flags=re.MULTILINE | re.DOTALL)
    inline = [span.replace("\n", " ") for span in re.findall(r"`([^`]+)`", prose)]
    return fenced + inline


def invocations() -> list[tuple[str, list[str]]]:
    """Each ``promptshelf COMMAND ...`` shown as code, with the ``--flags`` written after it.

    An invocation ends at a line end, a ``;`` or a shell comment. ``|`` does not end it: in the synopsis
    it separates alternatives (``LABEL VERSION | --remove``), and no README pipeline continues after a
    promptshelf command.
    """
    found = []
    for text in code_texts():
        for line in text.splitlines():
            for part in re.split(r";|\s#", line):
                for match in re.finditer(r"(?<![\w.-])promptshelf\s+([a-z][\w-]*|--[a-z-]+)", part):
                    rest = part[match.end() :].split("promptshelf ")[0]
                    flags = re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest)
                    found.append((match.group(1), flags))
    return found


def option_names(command: click.Command) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)}


def settings_variables() -> dict[str, str]:
    """Every environment variable Settings reads, mapped to its field."""
    prefix = Settings.model_config.get("env_prefix", "")
    variables = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        variables[alias if isinstance(alias, str) else f"{prefix}{name}".upper()] = name
    return variables


def test_the_readme_shows_promptshelf_commands() -> None:
    shown = {command for command, _ in invocations()}
    assert {"serve", "ls", "show", "publish", "copy"} <= shown


@pytest.mark.parametrize(("command", "flags"), invocations(), ids=lambda value: str(value))
def test_every_command_shown_exists_with_every_flag_shown(command: str, flags: list[str]) -> None:
    if command.startswith("--"):
        assert command in option_names(main) | {"--help"}, f"promptshelf has no option {command}"
        return
    assert command in COMMANDS, f"the README shows 'promptshelf {command}', which does not exist"
    accepted = option_names(COMMANDS[command])
    assert set(flags) <= accepted, f"promptshelf {command} has no {sorted(set(flags) - accepted)}"


def test_a_command_named_in_prose_code_takes_the_flags_shown_with_it() -> None:
    """Inline code such as `export --history` names a command without the ``promptshelf`` prefix."""
    for text in code_texts():
        match = re.fullmatch(r"([a-z]+)((?: --[a-z-]+)+)", text)
        if match and match.group(1) in COMMANDS:
            flags = set(match.group(2).split())
            assert flags <= option_names(COMMANDS[match.group(1)]), text


def test_every_command_is_in_the_command_line_synopsis() -> None:
    synopsis = section("The command line")
    for name in COMMANDS:
        assert f"promptshelf {name} " in synopsis, f"'promptshelf {name}' is not in 'The command line'"


def test_every_command_and_option_has_help_text() -> None:
    for name, command in COMMANDS.items():
        assert command.help, f"{name} has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"promptshelf {name} {param.opts[0]} has no help text"


def test_every_command_but_serve_takes_json() -> None:
    assert "Every command but `serve` takes `--json`" in section("The command line")
    for name, command in COMMANDS.items():
        assert ("--json" in option_names(command)) == (name != "serve"), name


def test_serve_accepts_every_flag_of_the_design() -> None:
    assert set(DESIGN_SERVE_FLAGS) <= option_names(COMMANDS["serve"])


def test_the_settings_table_matches_settings() -> None:
    rows = table(section("Settings"), "setting")
    documented: set[str] = set()
    for _setting, flags, environment, _default in rows:
        documented |= set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", environment))
        for flag in re.findall(r"--[a-z-]+", flags):
            assert flag in option_names(COMMANDS["serve"]), f"serve does not accept {flag}"
    variables = settings_variables()
    assert sorted(documented - variables.keys()) == [], "documented but not read by Settings"
    assert sorted(variables.keys() - documented) == [], "read by Settings but not documented"


def test_the_settings_table_shows_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in settings_variables():
        monkeypatch.delenv(variable, raising=False)
    defaults = {environment: default for _, _, environment, default in table(section("Settings"), "setting")}
    settings = Settings()
    assert defaults["`PROMPTSHELF_BACKEND`"] == f"`{settings.backend}`"
    assert defaults["`PROMPTSHELF_DB`"] == "`$XDG_DATA_HOME/promptshelf/prompts.db`"
    assert defaults["`PROMPTSHELF_LABEL`"] == f"`{settings.label}`"
    assert defaults["`PROMPTSHELF_READ_ONLY`"] == "off" and settings.read_only is False
    assert defaults["`PROMPTSHELF_ALLOW_LABELS`"] == "none" and settings.allow_labels == []
    assert defaults["`PROMPTSHELF_PROTECTED_LABELS`"] == "`production`"
    assert settings.protected_labels == ["production"]
    assert defaults["`PROMPTSHELF_CACHE_TTL`"] == f"`{settings.cache_ttl:g}`"
    assert defaults["`PROMPTSHELF_POLL_INTERVAL`"] == "`1` SQLite and PostgreSQL, `30` vendors"
    assert Settings(backend="sqlite").effective_poll_interval == 1
    assert Settings(backend="postgres", database_url="postgresql://x@h/d").effective_poll_interval == 1
    assert defaults["`PROMPTSHELF_DATABASE_URL`"] == "none" and settings.database_url is None
    assert defaults["`PROMPTSHELF_POOL_MIN_SIZE`"] == f"`{settings.pool_min_size}`"
    assert defaults["`PROMPTSHELF_POOL_MAX_SIZE`"] == f"`{settings.pool_max_size}`"
    assert defaults["`PROMPTSHELF_POOL_TIMEOUT`"] == f"`{settings.pool_timeout:g}`"
    assert Settings(backend="posthog").effective_poll_interval == 30
    posthog = next(default for environment, default in defaults.items() if "POSTHOG_HOST" in environment)
    assert posthog == f"`{settings.posthog_host}`"
    statsig = next(default for environment, default in defaults.items() if "STATSIG_API_URL" in environment)
    assert statsig == f"`{settings.statsig_api_url}`"


def test_the_exit_codes_table_matches_the_cli() -> None:
    rows = table(section("The command line"), "exit code")
    documented = {code.strip("`"): int(exit_code) for exit_code, code, _meaning in rows if code}
    assert documented == EXIT_CODES
    assert [exit_code for exit_code, code, _ in rows if not code] == ["0"]


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces as dashes."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_relative_link_exists() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    relative = [link for link in links if not re.match(r"[a-z]+:|#", link)]
    assert {"agent-configs/README.md", "examples/README.md"} <= {link.split("#")[0] for link in relative}
    for link in relative:
        target, _, anchor = link.partition("#")
        assert (ROOT / target).exists(), f"README links to {link}, which does not exist"
        if anchor:
            text = (ROOT / target).read_text(encoding="utf-8")
            assert anchor in heading_anchors(text), f"README links to {link}: {target} has no such heading"


def test_the_anchor_check_knows_githubs_anchors() -> None:
    assert heading_anchors("# A title\n## Approval and trust\n### 5. Fetch (1 minute)\n") == {
        "a-title",
        "approval-and-trust",
        "5-fetch-1-minute",
    }


def readme_python() -> str:
    [snippet] = re.findall(r"^```python\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
    return snippet


def test_the_python_snippet_reaches_the_store_its_environment_names(tmp_path: Path) -> None:
    """The snippet runs as shown. Its environment names a store through PROMPTSHELF_DB; a server that
    did not get it would open the default store under an empty HOME and answer 'unknown prompt'."""
    home = tmp_path / "home"
    home.mkdir()
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PROMPTSHELF_") and key != "XDG_DATA_HOME"
    }
    env = {
        **inherited,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "HOME": str(home),
        "PROMPTSHELF_DB": str(tmp_path / "team.db"),
    }
    published = subprocess.run(
        [sys.executable, "-m", "promptshelf", "publish", "code-review"],
        input="Review this code for {{focus}}:\n\n{{code}}",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert published.returncode == 0, published.stderr
    script = tmp_path / "snippet.py"
    script.write_text(readme_python())
    ran = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "Review this code for security:\n\nprint(1)\n"


def test_every_repository_path_shown_as_code_exists() -> None:
    top_level = {path.name for path in ROOT.iterdir() if path.is_dir() and not path.name.startswith(".")}
    paths = {
        token.strip("'\"(),")
        for text in code_texts()
        for token in text.split()
        if token.split("/")[0] in top_level and "/" in token
    }
    assert {"scripts/serve.sh", "tests/backends/test_contract.py", "src/promptshelf/*/__init__.py"} <= paths
    for path in paths:
        assert list(ROOT.glob(path.rstrip("/"))), f"README shows {path}, which does not exist"
