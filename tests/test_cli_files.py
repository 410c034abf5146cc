"""``promptshelf export`` and ``import`` against real SQLite files: the round trip is byte-identical,
import is idempotent and creates versions only for changed content, a dry run writes nothing, and a bad
file stops the import before anything is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner, Result

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.cli import main
from promptshelf.model import Message, Variable
from promptshelf.service import Policy, PromptService
from tests.support.terminal import run_on_terminal


def run(*args: str, db: Path, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, [*args, "--db", str(db)], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


def seed(db: Path) -> None:
    """Three prompts: a text one with history and labels, a chat one, and one in a folder."""

    async def go() -> None:
        store = await SQLiteStore.open(db)
        service = PromptService(store, Policy(trusted=True, actor="seed"))
        try:
            await service.create_prompt(
                "summarize",
                template="Summarize {{text}}.",
                description="Summaries",
                tags=["writing"],
                labels=["production"],
                commit_message="first",
            )
            await service.update_prompt(
                "summarize",
                base_version=1,
                template="Summarize {{text}} in {{style}} style.",
                config={"model": "gpt-4o-mini", "temperature": 0.2},
                variables=[Variable(name="style", enum=["short", "long"], default="short")],
                labels=["staging"],
            )
            await service.create_prompt(
                "greet",
                messages=[
                    Message(role="system", content="Be kind.\n## user\nstill the system message\n"),
                    Message(role="user", content="Hello {{name}}"),
                ],
            )
            await service.create_prompt("team/review", template="Review:\n\n---\n{{code}}\n")
        finally:
            await store.aclose()

    anyio.run(go)


def history(db: Path, name: str) -> list[dict[str, Any]]:
    return json.loads(run("history", name, "--json", db=db).output)["versions"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("flags", [(), ("--history",)], ids=["latest", "history"])
def test_export_import_export_is_byte_identical(tmp_path: Path, flags: tuple[str, ...]) -> None:
    db = tmp_path / "a.db"
    seed(db)
    run("export", str(tmp_path / "one"), *flags, db=db)
    assert sorted(snapshot(tmp_path / "one")) == ["greet.md", "summarize.md", "team/review.md"]
    result = run("import", str(tmp_path / "one"), db=db)
    assert "create 0, update 0, 3 unchanged" in result.output
    run("export", str(tmp_path / "two"), *flags, db=db)
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")


def test_import_into_an_empty_store_then_export_gives_the_same_files(tmp_path: Path) -> None:
    seed(tmp_path / "a.db")
    run("export", str(tmp_path / "one"), db=tmp_path / "a.db")
    run("import", str(tmp_path / "one"), db=tmp_path / "b.db")
    run("export", str(tmp_path / "two"), db=tmp_path / "b.db")
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")


def test_import_with_history_recreates_every_version_and_label(tmp_path: Path) -> None:
    seed(tmp_path / "a.db")
    run("export", str(tmp_path / "files"), "--history", db=tmp_path / "a.db")
    run("import", str(tmp_path / "files"), db=tmp_path / "b.db")
    before = history(tmp_path / "a.db", "summarize")
    after = history(tmp_path / "b.db", "summarize")
    assert [(v["version"], v["labels"], v.get("commit_message")) for v in after] == [
        (v["version"], v["labels"], v.get("commit_message")) for v in before
    ]
    for version in (1, 2):
        shown = [
            json.loads(run("show", "summarize", "--version", str(version), "--json", db=db).output)
            for db in (tmp_path / "a.db", tmp_path / "b.db")
        ]
        for key in ("template", "config", "variables", "description", "tags"):
            assert shown[0].get(key) == shown[1].get(key)
    again = run("import", str(tmp_path / "files"), "--json", db=tmp_path / "b.db")
    assert json.loads(again.output)["totals"] == {"create": 0, "update": 0, "unchanged": 3}


def test_only_changed_files_make_a_new_version_and_labels_follow_the_file(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    seed(db)
    files = tmp_path / "files"
    run("export", str(files), db=db)
    path = files / "summarize.md"
    path.write_text(
        path.read_text()
        .replace("labels: [staging]", "labels: [staging, production]")
        .replace(" style.", " tone.")
    )
    result = run("import", str(files), "--message", "tone, not style", "--json", db=db)
    report = json.loads(result.output)
    changed = [p for p in report["prompts"] if p["action"] != "unchanged"]
    assert changed == [
        {
            "name": "summarize",
            "file": str(path),
            "action": "update",
            "new_versions": [3],
            "labels": [
                {"label": "staging", "version": 3, "previous": 2},
                {"label": "production", "version": 3, "previous": 1},
            ],
            "metadata_changed": False,
        }
    ]
    versions = history(db, "summarize")
    assert versions[0]["version"] == 3
    assert versions[0]["commit_message"] == "tone, not style"
    assert sorted(versions[0]["labels"]) == ["production", "staging"]
    assert [len(history(db, name)) for name in ("greet", "team/review")] == [1, 1]
    second = json.loads(run("import", str(files), "--json", db=db).output)
    assert second["totals"] == {"create": 0, "update": 0, "unchanged": 3}
    assert len(history(db, "summarize")) == 3


def test_a_dry_run_prints_what_would_change_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    seed(db)
    files = tmp_path / "files"
    run("export", str(files), db=db)
    (files / "greet.md").write_text((files / "greet.md").read_text().replace("Hello", "Hi"))
    (files / "new.md").write_text("---\nlabels: [production]\n---\nA new prompt for {{who}}\n")
    before = (db.read_bytes(), history(db, "greet"))
    result = run("import", str(files), "--dry-run", db=db)
    assert "would update greet: v2" in result.output
    assert "would create new: v1, production -> v1" in result.output
    assert "dry run: nothing written" in result.output
    assert history(db, "greet") == before[1]
    assert run("show", "new", db=db, ok=False).exit_code == 3


def test_changing_only_the_description_publishes_one_version_with_the_same_content(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    seed(db)
    files = tmp_path / "files"
    run("export", str(files), db=db)
    path = files / "team" / "review.md"
    path.write_text(path.read_text().replace("type: text\n", "type: text\ndescription: Code review\n"))
    run("import", str(files), db=db)
    shown = json.loads(run("show", "team/review", "--json", db=db).output)
    assert (shown["version"], shown["description"], shown["template"]) == (
        2,
        "Code review",
        "Review:\n\n---\n{{code}}\n",
    )
    run("import", str(files), db=db)
    assert len(history(db, "team/review")) == 2


def test_a_malformed_file_stops_the_import_and_nothing_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    seed(db)
    files = tmp_path / "files"
    run("export", str(files), db=db)
    (files / "greet.md").write_text((files / "greet.md").read_text().replace("Hello", "Hey"))
    (files / "zzz.md").write_text("---\nname: zzz\ntags: oops\n---\nbody\n")
    before = {name: history(db, name) for name in ("greet", "summarize")}
    result = run("import", str(files), db=db, ok=False)
    assert result.exit_code == 2
    assert f"error: {files / 'zzz.md'}: front matter: tags: Input should be a valid list" in result.stderr
    assert {name: history(db, name) for name in ("greet", "summarize")} == before
    as_json = run("import", str(files), "--json", db=db, ok=False)
    error = json.loads(as_json.output)["error"]
    assert (error["code"], error["file"]) == ("invalid_argument", str(files / "zzz.md"))


def test_a_file_the_service_refuses_is_caught_before_anything_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    seed(db)
    files = tmp_path / "files"
    run("export", str(files), db=db)
    (files / "greet.md").write_text((files / "greet.md").read_text().replace("Hello", "Hey"))
    long = "x" * 1001
    (files / "zzz.md").write_text(f"---\ndescription: {long}\n---\nbody\n")
    (files / "loop.md").write_text("---\n---\n{{> loop}}\n")
    greet_before = history(db, "greet")
    result = run("import", str(files), db=db, ok=False)
    assert result.exit_code == 2
    assert "loop.md: " in result.stderr and "loop" in result.stderr
    (files / "loop.md").unlink()
    result = run("import", str(files), db=db, ok=False)
    assert f"{files / 'zzz.md'}: description is 1001 characters long; the limit is 1000" in result.stderr
    assert history(db, "greet") == greet_before
    assert run("show", "zzz", db=db, ok=False).exit_code == 3


def test_import_of_a_single_file_and_a_missing_path(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    one = tmp_path / "hello.md"
    one.write_text("---\ntags: [demo]\n---\nHello {{name}}\n")
    run("import", str(one), db=db)
    shown = json.loads(run("show", "hello", "--json", db=db).output)
    assert (shown["template"], shown["tags"], shown["commit_message"]) == (
        "Hello {{name}}",
        ["demo"],
        f"import {one.as_posix()}",
    )
    missing = run("import", str(tmp_path / "nope"), db=db, ok=False)
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_import_refuses_in_read_only_mode_but_a_dry_run_is_allowed(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    (tmp_path / "p.md").write_text("---\n---\nHi\n")
    refused = run("import", str(tmp_path / "p.md"), "--read-only", db=db, ok=False)
    assert refused.exit_code == 2 and "read-only" in refused.output
    run("import", str(tmp_path / "p.md"), "--read-only", "--dry-run", db=db)


def test_export_leaves_unchanged_files_alone_and_reports_json(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    seed(db)
    first = json.loads(run("export", str(tmp_path / "f"), "--json", db=db).output)
    assert first["written"] == 3
    mtime = (tmp_path / "f" / "greet.md").stat().st_mtime_ns
    second = json.loads(run("export", str(tmp_path / "f"), "--json", db=db).output)
    assert second["written"] == 0
    assert [p["name"] for p in second["prompts"]] == ["greet", "summarize", "team/review"]
    assert (tmp_path / "f" / "greet.md").stat().st_mtime_ns == mtime


def test_export_and_import_draw_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    db, folder, fresh = tmp_path / "prompts.db", tmp_path / "prompts", tmp_path / "fresh.db"
    seed(db)
    total = len(snapshot_names(db))
    exported = run_on_terminal("export", str(folder), env={"PROMPTSHELF_DB": str(db)})
    assert exported.returncode == 0
    assert b"export" in exported.drawn and f"{total}/{total}".encode() in exported.drawn
    imported = run_on_terminal("import", str(folder), env={"PROMPTSHELF_DB": str(fresh)})
    assert imported.returncode == 0
    assert b"import" in imported.drawn and f"{total}/{total}".encode() in imported.drawn


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "prompts.db"
    seed(db)
    done = run("export", str(tmp_path / "prompts"), db=db)
    assert "━" not in done.stderr and "\x1b[" not in done.stderr


def snapshot_names(db: Path) -> list[str]:
    listing = json.loads(run("ls", "--json", "--all", db=db).stdout)
    return [prompt["name"] for prompt in listing["prompts"]]
