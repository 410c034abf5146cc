"""What the SQLite store promises beyond the Store contract (that suite is test_contract.py).

Every test uses a real SQLite file; where it matters the file is inspected with a plain ``sqlite3``
connection, as another program (or another promptshelf process) would see it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest

from promptshelf.backends import sqlite as sqlite_backend
from promptshelf.backends import sqlite_schema
from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.errors import NotFoundError, UnavailableError
from promptshelf.model import PromptMeta, PromptQuery, VersionDraft
from promptshelf.service import Policy, PromptService

pytestmark = pytest.mark.anyio

MIGRATION_NUMBERS = [number for number, _ in sqlite_schema.MIGRATIONS]


def text(template: str, **fields: Any) -> VersionDraft:
    return VersionDraft(type="text", template=template, **fields)


def query(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the file with a plain sqlite3 connection of its own."""
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql, params).fetchall()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "prompts.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[SQLiteStore]:
    opened = await SQLiteStore.open(db)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def service(store: SQLiteStore) -> PromptService:
    return PromptService(store, Policy(trusted=True))


# -- schema migrations -----------------------------------------------------------------------------


async def test_opening_a_new_file_applies_and_records_every_migration(store: SQLiteStore, db: Path) -> None:
    assert [row[0] for row in query(db, "SELECT version FROM schema_migrations ORDER BY version")] == (
        MIGRATION_NUMBERS
    )
    tables = {row[0] for row in query(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"prompts", "versions", "labels", "prompt_tags", "changes", "schema_migrations"} <= tables


async def test_reopening_a_file_changes_neither_schema_nor_data(db: Path) -> None:
    first = await SQLiteStore.open(db)
    await first.create_prompt("kept", PromptMeta(), text("still here"))
    await first.aclose()
    recorded = query(db, "SELECT version, applied_at FROM schema_migrations ORDER BY version")
    schema = query(db, "SELECT type, name, sql FROM sqlite_master ORDER BY name")

    again = await SQLiteStore.open(db)
    try:
        assert (await again.get_version("kept")).template == "still here"
    finally:
        await again.aclose()
    assert query(db, "SELECT version, applied_at FROM schema_migrations ORDER BY version") == recorded
    assert query(db, "SELECT type, name, sql FROM sqlite_master ORDER BY name") == schema


async def test_a_file_made_by_an_older_promptshelf_is_upgraded_on_open_and_keeps_its_data(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as older:
        older.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:1])
        first = await SQLiteStore.open(db)
        await first.create_prompt("team/kept", PromptMeta(description="made before the upgrade"), text("v1"))
        await first.aclose()
    assert query(db, "SELECT version FROM schema_migrations") == [(1,)]

    upgraded = await SQLiteStore.open(db)
    try:
        assert [row[0] for row in query(db, "SELECT version FROM schema_migrations")] == MIGRATION_NUMBERS
        found = await upgraded.list_prompts(PromptQuery(search="before the upgrade"))
        assert [prompt.name for prompt in found.prompts] == ["team/kept"]
        assert (await upgraded.get_version("team/kept")).template == "v1"
    finally:
        await upgraded.aclose()


async def test_a_file_from_a_newer_promptshelf_is_refused_and_left_untouched(db: Path) -> None:
    await (await SQLiteStore.open(db)).aclose()
    newer = sqlite_schema.CURRENT_SCHEMA_VERSION + 1
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute("INSERT INTO schema_migrations VALUES (?, '2099-01-01T00:00:00.000Z')", (newer,))
    recorded = query(db, "SELECT version, applied_at FROM schema_migrations ORDER BY version")

    with pytest.raises(UnavailableError) as refused:
        await SQLiteStore.open(db)

    message = str(refused.value)
    assert str(db) in message
    assert f"schema version {newer}" in message and "upgrade promptshelf" in message
    assert refused.value.to_dict()["schema_version"] == newer
    assert query(db, "SELECT version, applied_at FROM schema_migrations ORDER BY version") == recorded


async def test_a_migration_that_fails_applies_nothing_and_is_not_recorded(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await (await SQLiteStore.open(db)).aclose()
    broken = (
        sqlite_schema.CURRENT_SCHEMA_VERSION + 1,
        "CREATE TABLE half_done (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
    )
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", [*sqlite_schema.MIGRATIONS, broken])

    with pytest.raises(UnavailableError, match="no such table: no_such_table"):
        await SQLiteStore.open(db)

    assert not query(db, "SELECT name FROM sqlite_master WHERE name = 'half_done'")
    assert [row[0] for row in query(db, "SELECT version FROM schema_migrations")] == MIGRATION_NUMBERS


# -- WAL and the busy timeout ----------------------------------------------------------------------


async def test_the_file_is_in_wal_mode_for_every_connection(store: SQLiteStore, db: Path) -> None:
    assert query(db, "PRAGMA journal_mode") == [("wal",)]


async def test_a_write_waits_for_another_connections_lock_while_reads_go_on(
    store: SQLiteStore, db: Path
) -> None:
    await store.create_prompt("busy", PromptMeta(), text("v1"))
    published: list[int] = []

    async def publish() -> None:
        published.append((await store.publish_version("busy", 1, text("v2"))).version)

    with closing(sqlite3.connect(db, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(publish)
            assert (await store.get_version("busy")).template == "v1"  # WAL: reading is not blocked
            await anyio.sleep(0.5)
            assert published == []  # neither written nor failed: queued on the lock
            other.execute("COMMIT")
    assert published == [2]
    assert (await store.get_version("busy")).template == "v2"


async def test_a_lock_held_past_the_busy_timeout_is_unavailable_and_writes_nothing(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_backend, "BUSY_TIMEOUT_MS", 1000)
    store = await SQLiteStore.open(db)
    try:
        await store.create_prompt("stuck", PromptMeta(), text("v1"))
        with closing(sqlite3.connect(db, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(UnavailableError, match="stayed locked by another process"):
                await store.publish_version("stuck", 1, text("v2"))
            other.execute("ROLLBACK")
        assert (await store.get_version("stuck")).version == 1
        assert (await store.publish_version("stuck", 1, text("v2"))).version == 2  # the store recovers
    finally:
        await store.aclose()


async def test_a_write_cancelled_while_waiting_for_the_lock_leaves_the_store_usable(
    store: SQLiteStore, db: Path
) -> None:
    await store.create_prompt("waiting", PromptMeta(), text("v1"))
    with closing(sqlite3.connect(db, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with anyio.move_on_after(0.3):
            await store.publish_version("waiting", 1, text("never"))  # queued on the lock, then cancelled
        other.execute("ROLLBACK")
    await anyio.sleep(0.3)  # the abandoned BEGIN may now go through in the worker thread
    with closing(sqlite3.connect(db, timeout=2, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # the store does not keep the lock it no longer wants
        other.execute("ROLLBACK")
    assert (await store.publish_version("waiting", 1, text("v2"))).version == 2
    assert query(db, "SELECT count(*) FROM versions") == [(2,)]


async def test_a_write_cancelled_inside_its_transaction_is_rolled_back_and_releases_the_lock(
    store: SQLiteStore, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_prompt("midway", PromptMeta(), text("v1"))
    original = sqlite_backend._record_change
    inside = anyio.Event()

    async def stall(*args: Any) -> None:
        await original(*args)
        inside.set()
        await anyio.sleep_forever()  # cancelled here: between BEGIN IMMEDIATE and COMMIT

    monkeypatch.setattr(sqlite_backend, "_record_change", stall)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(store.publish_version, "midway", 1, text("half-written"))
        await inside.wait()
        tasks.cancel_scope.cancel()
    monkeypatch.setattr(sqlite_backend, "_record_change", original)

    with closing(sqlite3.connect(db, timeout=2, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # the lock was released
        other.execute("ROLLBACK")
    assert query(db, "SELECT version FROM versions ORDER BY version") == [(1,)]
    assert (await store.get_version("midway")).version == 1
    assert (await store.publish_version("midway", 1, text("v2"))).version == 2


# -- names with folders ----------------------------------------------------------------------------


async def test_folder_names_are_stored_read_published_and_searched(service: PromptService) -> None:
    for name in ("team/support/summarize", "team/support/triage", "team/sales/pitch", "team-support"):
        await service.create_prompt(name, template=f"I am {name}")
    await service.update_prompt("team/support/triage", base_version=1, template="triage v2")

    assert (await service.get_prompt("team/support/summarize")).template == "I am team/support/summarize"
    assert (await service.get_prompt("team/support/triage", version=1)).template == "I am team/support/triage"
    assert (await service.get_prompt("team/support/triage")).version == 2
    found = await service.list_prompts(search="team/support/")
    assert [prompt.name for prompt in found.prompts] == ["team/support/summarize", "team/support/triage"]
    history = await service.list_versions("team/support/triage")
    assert [entry.version for entry in history.versions] == [2, 1]
    with pytest.raises(NotFoundError):
        await service.get_prompt("team/support")  # a folder is not a prompt


async def test_search_takes_like_wildcards_literally(service: PromptService) -> None:
    described = {
        "a_b": None,
        "axb": None,
        "sure": "100% sure",
        "times": "1000 times",
        "escaped": "a back\\slash",
        "plain": "a backslash",
    }
    for name, description in described.items():
        await service.create_prompt(name, template="x", description=description)

    async def search(term: str) -> list[str]:
        return [prompt.name for prompt in (await service.list_prompts(search=term)).prompts]

    assert await search("a_b") == ["a_b"]
    assert await search("0%") == ["sure"]
    assert await search("k\\s") == ["escaped"]


# -- archive keeps the rows ------------------------------------------------------------------------


async def test_archived_rows_stay_in_the_file_and_the_name_starts_again_at_one(
    store: SQLiteStore, db: Path
) -> None:
    await store.create_prompt("team/retired", PromptMeta(tags=["old"]), text("first life v1"))
    await store.publish_version("team/retired", 1, text("first life v2", labels=["production"]))
    assert await store.archive_prompt("team/retired") == 2

    [(old_id, archived_at)] = query(db, "SELECT id, archived_at FROM prompts WHERE name = 'team/retired'")
    assert archived_at is not None
    kept = query(db, "SELECT version, body FROM versions WHERE prompt_id = ? ORDER BY version", (old_id,))
    assert kept == [(1, "first life v1"), (2, "first life v2")]
    assert query(db, "SELECT label, version FROM labels WHERE prompt_id = ?", (old_id,)) == [
        ("production", 2)
    ]
    assert query(db, "SELECT tag FROM prompt_tags WHERE prompt_id = ?", (old_id,)) == [("old",)]

    reborn = await store.create_prompt("team/retired", PromptMeta(), text("second life"))
    assert (reborn.version, reborn.template, reborn.labels) == (1, "second life", [])
    assert (await store.get_version("team/retired", version=1)).template == "second life"
    with pytest.raises(NotFoundError):
        await store.get_version("team/retired", version=2)
    incarnations = query(db, "SELECT id, archived_at IS NOT NULL FROM prompts WHERE name = 'team/retired'")
    assert sorted(incarnations) == [(old_id, 1), (reborn_id := max(i for i, _ in incarnations), 0)]
    assert reborn_id != old_id
    assert query(db, "SELECT count(*) FROM versions WHERE prompt_id = ?", (old_id,)) == [(2,)]
    listed = await store.list_prompts(PromptQuery(include_archived=True))
    assert sorted((p.name, p.latest_version, p.archived) for p in listed.prompts) == [
        ("team/retired", 1, False),
        ("team/retired", 2, True),
    ]


# -- change detection across connections ----------------------------------------------------------


async def test_a_second_store_on_the_same_file_sees_what_the_first_changed(
    store: SQLiteStore, db: Path
) -> None:
    for name in ("published", "labelled", "archived", "untouched"):
        await store.create_prompt(name, PromptMeta(), text(f"{name} v1"))
    other = await SQLiteStore.open(db)  # its own connections, as another process would have
    try:
        start = await other.poll_changes(None)
        assert start.names == frozenset()
        assert (await other.poll_changes(start.token)).names == frozenset()

        await store.create_prompt("team/created", PromptMeta(), text("new"))
        await store.publish_version("published", 1, text("published v2"))
        await store.set_label("labelled", "staging", 1)
        await store.archive_prompt("archived")

        changed = await other.poll_changes(start.token)
        assert changed.names == frozenset({"team/created", "published", "labelled", "archived"})
        assert (await other.get_version("published")).template == "published v2"
        assert (await other.poll_changes(changed.token)).names == frozenset()
    finally:
        await other.aclose()


async def test_a_poller_behind_the_trimmed_change_log_is_told_to_reread(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_backend, "KEEP_CHANGES", 10)
    await store.create_prompt("often", PromptMeta(), text("v1"))
    behind = await store.poll_changes(None)
    tokens = [behind.token]
    for step in range(1, 1000):  # the log is trimmed at every 1000th change
        await store.set_label("often", "staging" if step % 2 else "canary", 1)
        if step == 995:
            tokens.append((await store.poll_changes(None)).token)

    too_far = await store.poll_changes(behind.token)
    assert too_far.names is None  # unknown: the caller must re-read everything
    assert too_far.token == (await store.poll_changes(None)).token
    recent = await store.poll_changes(tokens[1])
    assert recent.names == frozenset({"often"})


# -- files that cannot be a store ------------------------------------------------------------------


async def test_a_file_that_is_not_a_sqlite_database_is_unavailable_and_left_untouched(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("these are my notes, not a database\n" * 50)
    before = notes.read_bytes()

    with pytest.raises(UnavailableError) as refused:
        await SQLiteStore.open(notes)

    assert str(refused.value) == f"cannot open the SQLite store at {notes}: file is not a database"
    assert notes.read_bytes() == before


async def test_a_folder_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the folder should be")
    target = blocker / "promptshelf" / "prompts.db"

    with pytest.raises(UnavailableError) as refused:
        await SQLiteStore.open(target)

    message = str(refused.value)
    assert message.startswith(f"cannot create the SQLite store at {target}: ")
    assert "Not a directory" in message


async def test_a_path_that_is_a_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(UnavailableError, match=f"cannot open the SQLite store at {tmp_path}: "):
        await SQLiteStore.open(tmp_path)


async def test_cached_reads_are_never_stale_after_another_connection_commits(
    store: SQLiteStore, db: Path
) -> None:
    await store.create_prompt("cached", PromptMeta(description="v1 desc"), text("v1", labels=["staging"]))
    for _ in range(2):  # the second round is answered from the read cache
        assert (await store.get_version("cached")).template == "v1"
        assert (await store.get_version("cached", label="staging")).version == 1
        assert (await store.get_summary("cached")).latest_version == 1
    other = await SQLiteStore.open(db)  # as another process would write the same file
    try:
        await other.publish_version("cached", 1, text("v2"), PromptMeta(description="v2 desc"))
        await other.set_label("cached", "staging", 2)
    finally:
        await other.aclose()
    assert (await store.get_version("cached")).template == "v2"
    assert (await store.get_version("cached", label="staging")).version == 2
    summary = await store.get_summary("cached")
    assert (summary.latest_version, summary.description) == (2, "v2 desc")
    with sqlite3.connect(db) as plain:  # even a write by a program that is not promptshelf
        plain.execute("UPDATE prompts SET description = 'edited by hand' WHERE name = 'cached'")
    assert (await store.get_summary("cached")).description == "edited by hand"
