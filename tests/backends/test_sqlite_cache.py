"""The SQLite read cache: one ``PRAGMA data_version`` probe per turn of the event loop, and every commit
seen by every lookup that could know of it.

The commits here are made synchronously, on the loop's thread, through a plain ``sqlite3`` connection:
the one kind of commit a turn can miss, so the turn boundary shows exactly.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from promptshelf.backends.sqlite_cache import CommitAwareCache

pytestmark = pytest.mark.anyio


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cache.db"
    with closing(sqlite3.connect(path)) as plain, plain:
        plain.execute("PRAGMA journal_mode=WAL")
        plain.execute("CREATE TABLE t (x INTEGER)")
    return path


@pytest.fixture
def cache(db: Path) -> Iterator[CommitAwareCache]:
    cache = CommitAwareCache(db)
    yield cache
    cache.close()


def commit(db: Path) -> None:
    """A commit by another connection (as another process would make it), done before returning."""
    with closing(sqlite3.connect(db)) as plain, plain:
        plain.execute("INSERT INTO t VALUES (1)")


def probes(cache: CommitAwareCache, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The data versions the cache reads from here on, one entry per probe."""
    seen: list[int] = []
    read = cache._read_data_version

    def counted() -> int:
        seen.append(read())
        return seen[-1]

    monkeypatch.setattr(cache, "_read_data_version", counted)
    return seen


async def test_lookups_in_one_turn_share_one_probe(
    cache: CommitAwareCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    await asyncio.sleep(0)  # start from a fresh turn
    asked = probes(cache, monkeypatch)
    for _ in range(10):
        cache.get("k")
        cache.current_version()
    assert len(asked) == 1
    await asyncio.sleep(0)
    cache.get("k")
    assert len(asked) == 2


async def test_a_commit_is_seen_from_the_next_turn(cache: CommitAwareCache, db: Path) -> None:
    cache.put("k", "before", cache.current_version())
    commit(db)
    assert cache.get("k") == "before"  # the same turn as the probe: this commit is not known yet
    await asyncio.sleep(0)
    assert cache.get("k") is None


async def test_a_task_started_after_a_commit_sees_it_though_the_turn_had_probed(
    cache: CommitAwareCache, db: Path
) -> None:
    """A request read from a socket after a commit is a callback scheduled after the probe, as this
    task is: it never reuses a probe older than the commit."""
    cache.put("k", "before", cache.current_version())
    commit(db)
    assert await asyncio.create_task(_lookup(cache, "k")) is None


async def _lookup(cache: CommitAwareCache, key: str) -> object:
    return cache.get(key)


async def test_a_put_under_a_probe_older_than_a_seen_commit_is_dropped(
    cache: CommitAwareCache, db: Path
) -> None:
    seen = cache.current_version()
    commit(db)
    await asyncio.sleep(0)
    cache.get("other")  # this turn's probe sees the commit
    cache.put("k", "read before the commit", seen)
    assert cache.get("k") is None


def test_without_an_event_loop_every_lookup_probes(cache: CommitAwareCache, db: Path) -> None:
    cache.put("k", "before", cache.current_version())
    assert cache.get("k") == "before"
    commit(db)
    assert cache.get("k") is None


async def test_another_event_loop_probes_afresh(cache: CommitAwareCache, db: Path) -> None:
    """A cache used from a second loop (a store handed between test harnesses, say) never reuses the
    first loop's probe, whose forgetting callback that loop may never run."""
    cache.put("k", "before", cache.current_version())
    commit(db)

    def elsewhere() -> object:
        return asyncio.run(_lookup(cache, "k"))

    assert await asyncio.to_thread(elsewhere) is None
