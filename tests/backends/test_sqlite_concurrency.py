"""Reads interleaved with commits, in this process and another: every read is at least as new as the
last write acknowledged before it began, and every committed write is acknowledged.

Twenty clients share one ``PromptService`` over one ``SQLiteStore``, as the requests of one server do;
each publishes new versions of its own prompt and reads it back, and reads the prompt that a second OS
process (``tests/support/sqlite_worker.py``, mode ``steady``) keeps publishing to the same file. The run
lasts ``SECONDS`` (a bounded load, not a timing assertion); the file is then checked with plain
``sqlite3`` against every acknowledgement.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest

from promptshelf.backends import sqlite as sqlite_backend
from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.errors import PromptshelfError, UnavailableError
from promptshelf.model import PromptMeta, PromptQuery, VersionDraft
from promptshelf.service import Policy, PromptService
from tests.support.worker_process import Message, WorkerProcess

pytestmark = pytest.mark.anyio

CLIENTS = 20
SECONDS = 10.0
OTHER = "team/other-process"
SHOWN = 10
"""How many problems a failure lists in full (the count is always given)."""


def client_name(client: int) -> str:
    return f"team/client-{client:02d}"


def content(client: int, version: int) -> str:
    return f"client {client} version {version}"


def stored(db: Path) -> dict[str, list[tuple[int, str]]]:
    """``(version, template)`` of every live prompt, in version order, straight from the file."""
    with closing(sqlite3.connect(db)) as connection:
        rows = connection.execute(
            "SELECT p.name, v.version, v.body FROM versions v JOIN prompts p ON p.id = v.prompt_id"
            " WHERE p.archived_at IS NULL ORDER BY p.name, v.version"
        ).fetchall()
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for name, version, body in rows:
        found[name].append((version, body))
    return dict(found)


async def test_reads_never_lag_an_acknowledged_write_of_this_process_or_another(tmp_path: Path) -> None:
    db = tmp_path / "prompts.db"
    store = await SQLiteStore.open(db)
    service = PromptService(store, Policy(trusted=True, actor="test"))
    acked: dict[str, list[tuple[int, str]]] = {}
    for client in range(CLIENTS):
        created = await service.create_prompt(client_name(client), template=content(client, 1))
        acked[client_name(client)] = [(created.version, content(client, 1))]
    problems: list[str] = []
    other_acks: list[Message] = []
    reads_of_other = 0

    with WorkerProcess("steady", db, name=OTHER, worker=99, seconds=SECONDS, stderr_dir=tmp_path) as other:

        def last_other_ack() -> int:
            other_acks.extend(m for m in other.messages_so_far() if m.get("event") == "ack")
            return max((m["version"] for m in other_acks), default=0)

        while (message := await anyio.to_thread.run_sync(other.next_message))["event"] != "ready":
            other_acks.append(message)  # its version 1
        other.go()
        deadline = time.monotonic() + SECONDS

        async def client(number: int) -> None:
            nonlocal reads_of_other
            name, version = client_name(number), 1
            while time.monotonic() < deadline:
                step = f"{name}, publishing on version {version}"
                try:
                    text = content(number, version + 1)
                    published = await service.update_prompt(name, base_version=version, template=text)
                    if (published.version, published.template) != (version + 1, text):
                        problems.append(
                            f"{step}: answered version {published.version} {published.template!r}"
                        )
                        return
                    acked[name].append((published.version, text))
                    version = published.version
                    step = f"{name}, reading it back after version {version} was acknowledged"
                    mine = await service.get_prompt(name, resolve_includes=False)
                    if mine.version != version:
                        problems.append(f"{step}: read version {mine.version}")
                    floor = last_other_ack()
                    step = f"{OTHER}, read after its version {floor} was acknowledged"
                    theirs = await service.get_prompt(OTHER, resolve_includes=False)
                    reads_of_other += 1
                    if theirs.version < floor:
                        problems.append(f"{step}: read version {theirs.version}")
                except PromptshelfError as exc:
                    problems.append(f"{step}: {exc.code}: {exc}")
                    return  # its base is unknown now; the file check below says what was stored

        try:
            async with anyio.create_task_group() as clients:
                for number in range(CLIENTS):
                    clients.start_soon(client, number)
        finally:
            await store.aclose()
        status, rest = await anyio.to_thread.run_sync(other.finish)
        other_acks.extend(m for m in rest if m.get("event") == "ack")
        stderr = other.stderr

    assert (status, stderr) == (0, ""), stderr
    assert problems == [], f"{len(problems)} problems, the first ones:\n" + "\n".join(problems[:SHOWN])
    acked[OTHER] = [(m["version"], m["content"]) for m in other_acks]
    assert stored(db) == acked  # every committed write was acknowledged, and nothing else was stored
    # The run did interleave: each client wrote, and the other process's commits landed among our reads.
    assert all(len(versions) > 2 for versions in acked.values())
    assert reads_of_other > 0 and len({m["version"] for m in other_acks}) > 2


# -- a commit landing in the middle of one read, placed there deterministically ---------------------


def commit_during_next_read(
    monkeypatch: pytest.MonkeyPatch, commit: Callable[[], Coroutine[Any, Any, object]]
) -> None:
    """Run ``commit`` (on the event loop) once, from inside the next read that loads labels: after that
    read's first query has taken its snapshot and before its labels query runs."""
    real, loop = sqlite_backend._labels_of, asyncio.get_running_loop()
    pending = [commit]

    def labels_of(db: sqlite3.Connection, prompt_ids: list[int]) -> dict[int, dict[str, int]]:
        if pending:  # this runs in the read's worker thread: wait for the commit on the event loop
            asyncio.run_coroutine_threadsafe(pending.pop()(), loop).result(timeout=60)
        return real(db, prompt_ids)

    monkeypatch.setattr(sqlite_backend, "_labels_of", labels_of)


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SQLiteStore, SQLiteStore]]:
    """A store and a second one on the same file, as another process would write it."""
    store = await SQLiteStore.open(tmp_path / "prompts.db")
    other = await SQLiteStore.open(tmp_path / "prompts.db")
    try:
        yield store, other
    finally:
        await other.aclose()
        await store.aclose()


async def test_a_read_sees_one_snapshot_even_when_a_commit_lands_between_its_queries(
    stores: tuple[SQLiteStore, SQLiteStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, other = stores
    await store.create_prompt(
        "torn", PromptMeta(), VersionDraft(type="text", template="v1", labels=["staging"])
    )
    draft = VersionDraft(type="text", template="v2", labels=["staging"])
    commit_during_next_read(monkeypatch, lambda: other.publish_version("torn", 1, draft))

    during = await store.get_summary("torn")
    assert (during.latest_version, during.labels) == (1, {"staging": 1})  # all of it from before the commit
    after = await store.get_summary("torn")
    assert (after.latest_version, after.labels) == (2, {"staging": 2})


async def test_a_read_overtaken_by_a_commit_this_process_has_seen_is_not_cached(
    stores: tuple[SQLiteStore, SQLiteStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, other = stores
    await store.create_prompt("raced", PromptMeta(), VersionDraft(type="text", template="v1"))

    async def commit_and_see_it() -> None:
        await other.publish_version("raced", 1, VersionDraft(type="text", template="v2"))
        assert (await store.get_version("raced")).version == 2  # this store's cache has seen the commit

    commit_during_next_read(monkeypatch, commit_and_see_it)
    assert (await store.get_summary("raced")).latest_version == 1  # asked before the commit: a right answer
    # Stored, that answer would be served until some unrelated commit: no later commit comes here.
    assert (await store.get_summary("raced")).latest_version == 2


# -- the reader pool: failures, cancellation, closing ----------------------------------------------


async def test_a_read_that_fails_is_unavailable_and_leaves_every_reader_usable(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    store, _ = stores
    await store.create_prompt("moved", PromptMeta(), VersionDraft(type="text", template="v1"))
    with closing(sqlite3.connect(store.path, isolation_level=None)) as plain:
        plain.execute("ALTER TABLE labels RENAME TO labels_elsewhere")  # another program breaks the file
        with pytest.raises(UnavailableError) as failed:
            await store.list_prompts(PromptQuery())
        assert str(failed.value) == f"reading the SQLite store at {store.path} failed: no such table: labels"
        plain.execute("ALTER TABLE labels_elsewhere RENAME TO labels")
    for _ in range(sqlite_backend.READERS + 1):  # the failed read's connection first
        assert [p.name for p in (await store.list_prompts(PromptQuery())).prompts] == ["moved"]
    with anyio.fail_after(60):  # closing waits for every reader: one not given back would hang here
        await store.aclose()


async def test_reads_cancelled_midway_give_every_reader_back(
    stores: tuple[SQLiteStore, SQLiteStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = stores
    await store.create_prompt("slow", PromptMeta(), VersionDraft(type="text", template="v1"))
    real = sqlite_backend._labels_of
    inside: list[sqlite3.Connection] = []
    all_busy, release, loop = asyncio.Event(), threading.Event(), asyncio.get_running_loop()

    def held(db: sqlite3.Connection, prompt_ids: list[int]) -> dict[int, dict[str, int]]:
        inside.append(db)
        if len(inside) == sqlite_backend.READERS:
            loop.call_soon_threadsafe(all_busy.set)
        release.wait(timeout=60)
        return real(db, prompt_ids)

    monkeypatch.setattr(sqlite_backend, "_labels_of", held)
    cancelled, later = anyio.CancelScope(), []

    async def reads() -> None:
        with cancelled:
            async with anyio.create_task_group() as readers:
                for _ in range(3 * sqlite_backend.READERS):  # some inside a read, others queued for one
                    readers.start_soon(store.list_prompts, PromptQuery())

    async def later_read() -> None:
        later.append(await store.get_version("slow"))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reads)
        with anyio.fail_after(60):
            await all_busy.wait()
        cancelled.cancel()
        # Each reader is still inside its cancelled read: a read asked now must wait for one.
        tasks.start_soon(later_read)
        await anyio.wait_all_tasks_blocked()
        release.set()
    monkeypatch.setattr(sqlite_backend, "_labels_of", real)

    assert len(inside) == sqlite_backend.READERS  # the queued reads were cancelled before reading
    assert [found.template for found in later] == ["v1"]
    for _ in range(sqlite_backend.READERS + 1):
        assert (await store.get_summary("slow")).latest_version == 1
    with anyio.fail_after(60):  # closing waits for every reader: one lost would hang here
        await store.aclose()


async def test_a_closed_store_refuses_reads_and_writes_with_a_clear_error(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "prompts.db")
    await store.create_prompt("kept", PromptMeta(), VersionDraft(type="text", template="v1"))
    assert (await store.get_version("kept")).version == 1  # now in the read cache
    await store.aclose()
    await store.aclose()  # closing twice is harmless
    calls = [
        store.get_version("kept"),
        store.get_summary("kept"),
        store.list_prompts(PromptQuery()),
        store.poll_changes(None),
        store.publish_version("kept", 1, VersionDraft(type="text", template="v2")),
    ]
    for call in calls:
        with pytest.raises(UnavailableError) as refused, anyio.fail_after(60):
            await call
        assert str(refused.value) == f"the SQLite store at {store.path} is closed"
    assert stored(store.path) == {"kept": [(1, "v1")]}
