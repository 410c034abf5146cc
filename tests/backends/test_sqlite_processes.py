"""Several OS processes writing one SQLite file: no lost update, no skipped number, no stray error.

Each worker is a real ``python`` process (``tests/support/sqlite_worker.py``) going through
``PromptService`` and its own ``SQLiteStore``, as separate promptshelf servers or CLI runs sharing a file
would. Workers report every outcome as a JSON line; the file is then checked with plain ``sqlite3``.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import anyio
import pytest

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.backends.sqlite_schema import MIGRATIONS
from promptshelf.model import PromptMeta, VersionDraft
from tests.support.worker_process import Message, WorkerProcess

NAME = "team/shared"
WORKERS = 5
ATTEMPTS = 20
ROUNDS = 4


def query(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql, params).fetchall()


def stored_versions(db: Path) -> list[tuple[int, str, str | None]]:
    """``(version, template, created_by)`` of the live prompt, in version order, straight from the file."""
    return [
        (row[0], row[1], row[2])
        for row in query(
            db,
            "SELECT v.version, v.body, v.created_by FROM versions v JOIN prompts p ON p.id = v.prompt_id"
            " WHERE p.name = ? AND p.archived_at IS NULL ORDER BY v.version",
            (NAME,),
        )
    ]


async def create_shared_prompt(path: Path) -> None:
    store = await SQLiteStore.open(path)
    try:
        await store.create_prompt(NAME, PromptMeta(), VersionDraft(type="text", template="the first version"))
    finally:
        await store.aclose()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shared.db"
    anyio.run(create_shared_prompt, path)
    return path


def test_racing_processes_lose_no_update_and_skip_no_number(db: Path, tmp_path: Path) -> None:
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                WorkerProcess("race", db, name=NAME, worker=k, attempts=ATTEMPTS, stderr_dir=tmp_path)
            )
            for k in range(WORKERS)
        ]
        for worker in workers:
            assert worker.next_message()["event"] == "ready"
        for worker in workers:
            worker.go()
        finished = [worker.finish() for worker in workers]
        stderr = [worker.stderr for worker in workers]

    outcomes: list[Message] = [message for _, messages in finished for message in messages]
    assert [status for status, _ in finished] == [0] * WORKERS, stderr
    assert stderr == [""] * WORKERS  # nothing ("database is locked" or else) went to the logs either
    assert [o for o in outcomes if o["outcome"] not in ("won", "conflict")] == []  # no other error
    assert sorted((o["worker"], o["attempt"]) for o in outcomes) == sorted(
        (k, attempt) for k in range(WORKERS) for attempt in range(ATTEMPTS)
    )

    won = sorted((o for o in outcomes if o["outcome"] == "won"), key=lambda o: o["version"])
    versions = stored_versions(db)
    latest = versions[-1][0]
    assert [version for version, _, _ in versions] == list(range(1, latest + 1))  # contiguous from 1
    assert [o["version"] for o in won] == list(range(2, latest + 1))  # each number won exactly once
    assert all(o["version"] == o["base"] + 1 for o in won)
    assert versions[1:] == [(o["version"], o["content"], f"worker-{o['worker']}") for o in won]
    contents = Counter(template for _, template, _ in versions)
    assert all(contents[o["content"]] == 1 for o in won)  # each winner's content stored exactly once

    lost = [o for o in outcomes if o["outcome"] == "conflict"]
    assert len(won) + len(lost) == WORKERS * ATTEMPTS
    assert all(o["base"] < o["current"] <= latest for o in lost)  # a loser was told of a newer version
    lost_contents = {f"worker {o['worker']} attempt {o['attempt']}" for o in lost}
    assert lost_contents.isdisjoint(contents)  # and nothing of a loser's was written


def test_processes_publishing_on_one_base_have_exactly_one_winner_each_round(
    db: Path, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                WorkerProcess("lockstep", db, name=NAME, worker=k, rounds=ROUNDS, stderr_dir=tmp_path)
            )
            for k in range(WORKERS)
        ]
        for round_ in range(ROUNDS):
            for worker in workers:
                worker.go()
            bases = {worker.next_message()["base"] for worker in workers}
            assert bases == {round_ + 1}  # every process read the same latest version
            for worker in workers:
                worker.go()
            outcomes = [worker.next_message() for worker in workers]

            won = [o for o in outcomes if o["outcome"] == "won"]
            lost = [o for o in outcomes if o["outcome"] == "conflict"]
            assert len(won) == 1 and len(lost) == WORKERS - 1, outcomes
            assert won[0]["version"] == round_ + 2
            assert {o["current"] for o in lost} == {round_ + 2}  # each loser is told the winner's version
        statuses = [worker.finish()[0] for worker in workers]
        stderr = [worker.stderr for worker in workers]

    assert statuses == [0] * WORKERS and stderr == [""] * WORKERS
    assert [version for version, _, _ in stored_versions(db)] == list(range(1, ROUNDS + 2))


def test_processes_opening_a_new_file_at_once_all_succeed_and_migrate_it_once(tmp_path: Path) -> None:
    fresh = tmp_path / "new" / "prompts.db"
    with ExitStack() as stack:
        workers = [
            stack.enter_context(WorkerProcess("open", fresh, worker=k, stderr_dir=tmp_path))
            for k in range(WORKERS)
        ]
        for worker in workers:
            worker.go()
        opened = [worker.next_message() for worker in workers]
        statuses = [worker.finish()[0] for worker in workers]

    assert [message.get("event") for message in opened] == ["opened"] * WORKERS, opened
    assert statuses == [0] * WORKERS
    assert query(fresh, "SELECT version FROM schema_migrations ORDER BY version") == [
        (number,) for number, _ in MIGRATIONS
    ]
    assert query(fresh, "PRAGMA journal_mode") == [("wal",)]
