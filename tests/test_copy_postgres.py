"""A team moves from SQLite to PostgreSQL with one command, and back: ``promptshelf copy`` with
``postgresql://`` SPECs, and ``export``/``import`` against a PostgreSQL store (issue 10).

Every version's content, config, variables, commit message, author and labels arrive; archived prompts
stay behind (as ``copy`` does between any two backends); a password in a URL is never printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from promptshelf.backends import open_store
from promptshelf.service import Policy, PromptService
from promptshelf.settings import Settings
from tests.support.postgres_cluster import PostgresCluster
from tests.support.replicas import clean_env
from tests.test_copy import everything, seed, sqlite_service

pytestmark = pytest.mark.anyio


def promptshelf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promptshelf", *args],
        capture_output=True,
        text=True,
        env=clean_env(env),
        timeout=120,
        check=False,
    )


async def postgres_service(url: str) -> PromptService:
    store = await open_store(Settings(backend="postgres", database_url=url))
    return PromptService(store, Policy(trusted=True, actor="copier"))


async def contents(service: PromptService) -> dict[str, dict[str, Any]]:
    try:
        return await everything(service)
    finally:
        await service.store.aclose()


async def seeded_sqlite(path: Path) -> dict[str, dict[str, Any]]:
    """The copy tests' prompts (versions, chat and text, authors, labels) and one archived prompt."""
    service = await sqlite_service(path)
    try:
        await seed(service)
        await service.create_prompt("gone", template="archived before the move")
        await service.archive_prompt("gone")
        return await everything(service)
    finally:
        await service.store.aclose()


async def test_sqlite_to_postgres_and_back_keeps_every_version(postgres_url: str, tmp_path: Path) -> None:
    expected = await seeded_sqlite(tmp_path / "team.db")
    assert "gone" not in expected

    moved = promptshelf("copy", "--json", "--from", f"sqlite:{tmp_path / 'team.db'}", "--to", postgres_url)
    assert moved.returncode == 0, moved.stderr
    report = json.loads(moved.stdout)
    assert report["totals"] == {
        "prompts": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
        "versions_written": 9,
    }
    assert all(prompt["versions"] == {"1": 1, "2": 2, "3": 3} for prompt in report["prompts"])
    assert await contents(await postgres_service(postgres_url)) == expected

    again = promptshelf("copy", "--json", "--from", f"sqlite:{tmp_path / 'team.db'}", "--to", postgres_url)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["totals"]["unchanged"] == 3

    back = promptshelf("copy", "--from", postgres_url, "--to", f"sqlite:{tmp_path / 'back.db'}")
    assert back.returncode == 0, back.stderr
    assert "3 prompts, 3 created" in back.stdout
    assert await contents(await sqlite_service(tmp_path / "back.db")) == expected


def without_provenance(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.strip().startswith(("created_at:", "created_by:"))]


async def test_export_and_import_work_against_postgres(postgres_url: str, tmp_path: Path) -> None:
    expected = await seeded_sqlite(tmp_path / "team.db")
    env = {"PROMPTSHELF_BACKEND": "postgres", "PROMPTSHELF_DATABASE_URL": postgres_url}
    exported = promptshelf(
        "export", "--history", str(tmp_path / "files"), env={"PROMPTSHELF_DB": str(tmp_path / "team.db")}
    )
    assert exported.returncode == 0, exported.stderr
    imported = promptshelf("import", str(tmp_path / "files"), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "3 prompt files: create 3" in imported.stdout
    on_postgres = await contents(await postgres_service(postgres_url))
    assert set(on_postgres) == set(expected)
    for name, prompt in expected.items():
        # A prompt file does not carry authors; everything else of every version arrives.
        assert [v["template"] for v in on_postgres[name]["versions"]] == [
            v["template"] for v in prompt["versions"]
        ]
        assert [v["labels"] for v in on_postgres[name]["versions"]] == [
            v["labels"] for v in prompt["versions"]
        ]
    re_exported = promptshelf("export", "--history", str(tmp_path / "again"), env=env)
    assert re_exported.returncode == 0, re_exported.stderr
    files = sorted((tmp_path / "files").rglob("*.md"))
    assert len(files) == 3
    for file in files:
        # Exported again from PostgreSQL: the same file, but for who imported it and when.
        again = tmp_path / "again" / file.relative_to(tmp_path / "files")
        assert without_provenance(again.read_text()) == without_provenance(file.read_text())


async def test_a_password_in_a_url_is_never_printed(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    role, password = f"mover_{uuid.uuid4().hex[:8]}", "s3cret-p@ss/word"
    postgres_cluster.create_role(role, password=password)
    database = postgres_cluster.create_database(owner=role)
    try:
        await seeded_sqlite(tmp_path / "team.db")
        url = postgres_cluster.url(database, user=role, password=password)
        moved = promptshelf("copy", "--from", f"sqlite:{tmp_path / 'team.db'}", "--to", url)
        assert moved.returncode == 0, moved.stderr
        assert "3 prompts, 3 created" in moved.stdout
        assert f"postgresql://{role}:***@" in moved.stdout
        wrong = url.replace("s3cret", "wrong")
        refused = promptshelf("copy", "--json", "--from", wrong, "--to", f"sqlite:{tmp_path / 'x.db'}")
        assert refused.returncode == 6, refused.stdout + refused.stderr
        assert json.loads(refused.stdout)["error"]["code"] == "unavailable"
        for run in (moved, refused):
            assert "s3cret" not in run.stdout + run.stderr
            assert "p@ss" not in run.stdout + run.stderr and "p%40ss" not in run.stdout + run.stderr
    finally:
        postgres_cluster.sql(f'DROP DATABASE "{database}" WITH (FORCE)')
        postgres_cluster.sql(f'DROP ROLE "{role}"')


def test_a_password_is_not_shown_even_when_the_url_is_invalid(tmp_path: Path) -> None:
    """libpq quotes the bad part of a URL it cannot parse: a password with a space in it."""
    url = "postgresql://team:open sesame@127.0.0.1:5999/team"
    refused = promptshelf("copy", "--from", url, "--to", f"sqlite:{tmp_path / 'x.db'}")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "invalid PostgreSQL URL" in refused.stderr
    assert "sesame" not in refused.stdout + refused.stderr


@pytest.mark.parametrize(
    ("source", "destination", "says"),
    [
        (
            "postgres:nothing",
            "sqlite:x.db",
            "is not a store: use sqlite:PATH, postgresql://..., posthog or statsig",
        ),
        (
            "postgresql://a:pw1@127.0.0.1:5999/team",
            "postgres://b@127.0.0.1:5999/team",
            "--from postgresql://a:***@127.0.0.1:5999/team and --to postgres://b@127.0.0.1:5999/team "
            "are the same store",
        ),
        (
            "postgresql://a@db.internal:five/team",
            "postgresql://b@DB.internal:five/team",
            "are the same store",
        ),
    ],
)
def test_bad_postgres_specs_are_refused_clearly(source: str, destination: str, says: str) -> None:
    refused = promptshelf("copy", "--from", source, "--to", destination)
    assert refused.returncode == 2
    assert says in refused.stderr
    assert "pw1" not in refused.stderr
