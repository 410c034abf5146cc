"""``export`` never loses a prompt to another's file: every clash of paths is found before anything is
written (``file_sync.export_paths``), with an error naming the prompts; over real SQLite files and folders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.cli import main
from promptshelf.errors import InvalidArgumentError
from promptshelf.files.file_sync import _is_case_insensitive, export_paths
from promptshelf.model import PromptMeta, VersionDraft


def store_prompts(db: Path, *names: str) -> None:
    """Prompts written straight to the store, as an older promptshelf (without the '.' rule) could have."""

    async def go() -> None:
        store = await SQLiteStore.open(db)
        try:
            for name in names:
                await store.create_prompt(
                    name, PromptMeta(), VersionDraft(type="text", template=f"I am {name}")
                )
        finally:
            await store.aclose()

    anyio.run(go)


def export(db: Path, folder: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["export", str(folder), "--db", str(db), "--json"], catch_exceptions=False
    )
    return result.exit_code, result.output


def files_below(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize(
    ("names", "clash"),
    [
        (("x", "x.md/y"), "'x' would be the file .*x.md, which 'x.md/y' needs as a folder"),
        (("a/b", "a/./b"), "'a/./b' and 'a/b' would both be .*a/b.md"),
    ],
)
def test_a_clash_is_an_error_and_nothing_is_written(
    tmp_path: Path, names: tuple[str, ...], clash: str
) -> None:
    db, folder = tmp_path / "prompts.db", tmp_path / "out"
    store_prompts(db, "first", *names)
    code, output = export(db, folder)
    assert code != 0
    error = json.loads(output)["error"]
    assert error["code"] == "invalid_argument"
    assert "Nothing was written" in error["message"]
    assert re.search(clash, error["message"]), error["message"]
    # The clash is inside the store: another folder would not help, so the advice must not say so.
    assert error["message"].endswith("archive or rename the prompts involved")
    assert files_below(folder) == []


def test_a_path_taken_on_disk_is_a_clash_too(tmp_path: Path) -> None:
    db, folder = tmp_path / "prompts.db", tmp_path / "out"
    store_prompts(db, "a", "team/b")
    folder.mkdir()
    (folder / "a.md").mkdir()  # a folder where a file goes
    (folder / "team").write_text("a file where a folder goes")
    code, output = export(db, folder)
    message = json.loads(output)["error"]["message"]
    assert code != 0
    assert "'a' would be the file" in message and "which is a folder" in message
    assert "'team/b' needs" in message and "but it is a file" in message
    assert message.endswith("move what is in the way, or export to an empty folder")
    assert (
        files_below(folder) == ["a.md", "team"]
        and (folder / "team").read_text() == "a file where a folder goes"
    )


def test_prompts_without_clashes_export_as_before(tmp_path: Path) -> None:
    db, folder = tmp_path / "prompts.db", tmp_path / "out"
    store_prompts(db, "x", "x.mdy", "x/y", "A", "b")
    code, output = export(db, folder)
    assert code == 0, output
    assert files_below(folder) == ["A.md", "b.md", "x", "x.md", "x.mdy.md", "x/y.md"]


def test_names_differing_only_in_case_clash_on_a_case_insensitive_file_system(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="'A/x' and 'a/X' would both be") as raised:
        export_paths(tmp_path, ["A/x", "a/X", "b"], case_insensitive=True)
    assert len(raised.value.details["clashes"]) == 1
    with pytest.raises(
        InvalidArgumentError, match=r"'A' would be the file .*A\.md, which 'a\.MD/x' needs as a folder"
    ):
        export_paths(tmp_path, ["A", "a.MD/x"], case_insensitive=True)
    paths = export_paths(tmp_path, ["A/x", "a/X"], case_insensitive=False)
    assert paths == {"A/x": tmp_path / "A" / "x.md", "a/X": tmp_path / "a" / "X.md"}


def test_case_sensitivity_is_read_from_the_file_system_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "Probe").write_text("")
    truth = (tmp_path / "pROBE").exists()  # what this file system does
    assert _is_case_insensitive(tmp_path) is truth
    assert _is_case_insensitive(tmp_path / "not" / "yet") is _is_case_insensitive(tmp_path)


def test_every_clash_is_listed_at_once(tmp_path: Path) -> None:
    names = [f"p{i}" for i in range(12)] + [f"p{i}.md/x" for i in range(12)]
    with pytest.raises(InvalidArgumentError, match="; and 2 more") as raised:
        export_paths(tmp_path, names, case_insensitive=False)
    assert len(raised.value.details["clashes"]) == 12
