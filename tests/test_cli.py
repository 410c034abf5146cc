"""The command line, run as a real process against a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


class Cli:
    def __init__(self, db: Path) -> None:
        self.env = {**os.environ, "PROMPTSHELF_DB": str(db)}
        self.env.pop("PROMPTSHELF_LABEL", None)

    def __call__(
        self, *args: str, stdin: str | None = None, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "promptshelf", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    def json(self, *args: str, stdin: str | None = None) -> Any:
        return json.loads(self(*args, "--json", stdin=stdin).stdout)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "prompts.db")


def test_publish_from_stdin_creates_then_versions_a_prompt(cli: Cli) -> None:
    first = cli.json("publish", "greet", "--message", "first", "--tag", "demo", stdin="Hello {{name}}\n")
    assert (first["version"], first["template"], first["tags"]) == (1, "Hello {{name}}\n", ["demo"])
    assert first["created_by"].startswith("cli:")
    second = cli.json("publish", "greet", stdin="Hi {{name}}\n")
    assert second["version"] == 2


def test_publish_reads_json_files_with_messages_config_and_variables(cli: Cli, tmp_path: Path) -> None:
    spec = {
        "messages": [{"role": "system", "content": "Be {{tone}}"}, {"role": "user", "content": "{{q}}"}],
        "config": {"model": "gpt-4o"},
        "variables": [{"name": "tone", "enum": ["kind", "terse"], "default": "kind"}],
        "description": "Answers",
    }
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(spec))
    doc = cli.json("publish", "answer", "--file", str(path))
    assert doc["type"] == "chat" and doc["config"] == {"model": "gpt-4o"} and doc["description"] == "Answers"
    rendered = cli.json("render", "answer", "--var", "q=Why?")
    assert rendered["messages"] == [
        {"role": "system", "content": "Be kind"},
        {"role": "user", "content": "Why?"},
    ]


def test_a_stale_base_version_exits_with_the_conflict_code(cli: Cli) -> None:
    cli("publish", "greet", stdin="v1")
    cli("publish", "greet", stdin="v2")
    done = cli("publish", "greet", "--base-version", "1", "--json", stdin="v3", ok=False)
    assert done.returncode == 4
    assert json.loads(done.stdout)["error"] == {
        "code": "conflict",
        "message": "prompt 'greet' changed since version 1 was read: the latest version is now 2; "
        "read it, reapply your change and publish with base_version=2",
        "current_version": 2,
    }
    assert cli.json("show", "greet")["template"] == "v2"


def test_ls_show_history_and_diff_in_human_form(cli: Cli) -> None:
    cli("publish", "team/mail", "--description", "Mail to customers", stdin="Dear {{name}}\nBye")
    cli("publish", "team/mail", "--message", "warmer", stdin="Dear {{name}}\nSee you {{when}}")
    listing = cli("ls").stdout
    assert "team/mail" in listing and "v2" in listing and "Mail to customers" in listing
    shown = cli("show", "team/mail", "--version", "1").stdout
    assert "team/mail v1 (text) of 2" in shown and shown.rstrip().endswith("Dear {{name}}\nBye")
    history = cli("history", "team/mail").stdout.splitlines()
    assert history[0].split()[:1] == ["VERSION"] and history[1].startswith("v2") and "warmer" in history[1]
    diff = cli("diff", "team/mail", "1").stdout
    assert "-Bye" in diff and "+See you {{when}}" in diff and "variables added: when" in diff


def test_ls_shows_the_labels_show_lists_latest_included(cli: Cli) -> None:
    cli("publish", "greet", stdin="v1")
    cli("publish", "greet", stdin="v2")
    cli("label", "greet", "production", "1")
    [header, row] = cli("ls").stdout.splitlines()
    labels = row.split()[header.split().index("LABELS")]
    assert labels == "production=v1,latest=v2"
    assert "labels: latest" in cli("show", "greet").stdout
    assert "labels: production" in cli("show", "greet", "--version", "1").stdout
    history = [line.split() for line in cli("history", "greet").stdout.splitlines()[1:]]
    assert [(row[0], row[-1]) for row in history] == [("v2", "latest"), ("v1", "production")]
    [older] = cli("history", "greet", "--before", "2").stdout.splitlines()[1:]
    assert older.split()[-1] == "production"


def test_render_with_vars_and_a_missing_variable_error(cli: Cli) -> None:
    cli("publish", "greet", stdin="Hello {{name}} from {{place}}")
    assert (
        cli("render", "greet", "--var", "name=Ann", "--vars-json", '{"place": "Oslo"}').stdout
        == "Hello Ann from Oslo\n"
    )
    done = cli("render", "greet", "--var", "name=Ann", ok=False)
    assert done.returncode == 2 and "missing required variable: place" in done.stderr
    assert cli("render", "greet", "--lenient").stdout == "Hello {{name}} from {{place}}\n"


def test_labels_move_and_roll_back_from_the_cli_even_when_protected(cli: Cli) -> None:
    cli("publish", "greet", stdin="v1")
    cli("publish", "greet", stdin="v2")
    moved = cli.json("label", "greet", "production", "2")
    assert (moved["version"], moved["previous_version"]) == (2, None)
    back = cli.json("label", "greet", "production", "1")
    assert (back["version"], back["previous_version"]) == (1, 2)
    assert cli.json("show", "greet", "--at", "production")["template"] == "v1"
    assert cli.json("label", "greet", "production", "--remove")["previous_version"] == 1


def test_archive_hides_a_prompt(cli: Cli) -> None:
    cli("publish", "old", stdin="x")
    assert cli.json("archive", "old", "--yes") == {"name": "old", "archived_versions": 1}
    assert cli.json("ls")["prompts"] == []
    assert cli("show", "old", ok=False).returncode == 3


def test_errors_are_clean_messages_not_tracebacks(cli: Cli) -> None:
    done = cli("show", "bad//name", ok=False)
    assert (
        done.returncode == 2
        and done.stderr.startswith("error: invalid prompt name")
        and "Traceback" not in done.stderr
    )
    done = cli("show", "x", "--version", "1", "--at", "production", ok=False)
    assert done.returncode == 2 and "not both" in done.stderr
    done = cli("publish", "x", stdin='{"messages": [{"role": "robot", "content": "x"}]}', ok=False)
    assert done.returncode == 2 and "messages[0] is invalid: role" in done.stderr
    done = cli("publish", "x", stdin="", ok=False)
    assert done.returncode == 2 and "empty" in done.stderr
    done = cli("render", "x", "--var", "novalue", ok=False)
    assert done.returncode == 2 and "is not KEY=VALUE" in done.stderr


def test_read_only_refuses_writes(cli: Cli) -> None:
    done = cli("publish", "x", "--read-only", stdin="x", ok=False)
    assert done.returncode == 2 and "read-only" in done.stderr


def test_a_store_that_cannot_be_opened_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    not_a_db = tmp_path / "garbage.db"
    not_a_db.write_bytes(b"this is not sqlite" * 100)
    done = cli("ls", "--db", str(not_a_db), ok=False)
    assert done.returncode == 6 and "cannot open the SQLite store" in done.stderr


def test_every_command_has_help() -> None:
    from click.testing import CliRunner

    from promptshelf.cli import main

    runner = CliRunner()
    for name, command in main.commands.items():
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert command.help, f"{name} has no help text"


def test_with_json_even_usage_errors_are_json_on_stdout(cli: Cli) -> None:
    cases = [
        ("render", "x", "--var", "novalue"),
        ("publish", "x", "--read-only"),
        ("ls", "--cache-ttl", "soon"),
        ("label", "x", "staging"),
    ]
    for args in cases:
        done = cli(*args, "--json", stdin="x", ok=False)
        assert done.returncode == 2, args
        error = json.loads(done.stdout)["error"]
        assert error["code"] == "invalid_argument" and error["message"], args
        assert "Traceback" not in done.stderr
    assert (
        "KEY=VALUE"
        in json.loads(cli("render", "x", "--var", "v", "--json", ok=False).stdout)["error"]["message"]
    )
    # Without --json, click's usual usage message on stderr.
    done = cli("render", "x", "--var", "novalue", ok=False)
    assert done.returncode == 2 and done.stdout == "" and "is not KEY=VALUE" in done.stderr
    # --help still works and exits 0.
    assert cli("ls", "--json", "--help").stdout.startswith("Usage:")
