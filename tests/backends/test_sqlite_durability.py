"""A writer process killed with SIGKILL mid-stream loses nothing it acknowledged and leaves a sound file.

The writer (``tests/support/sqlite_worker.py writer``) prints an acknowledgement only after each publish
has returned, as a caller would only learn of a version once the call returned. The test kills it
without warning several times over, each time after a different number of acknowledgements, and each
time reopens the file as a new process would.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from promptshelf.backends.sqlite import SQLiteStore
from tests.support.worker_process import Message, WorkerProcess

pytestmark = pytest.mark.anyio

NAME = "team/durable"
KILLS = 3


async def test_every_acknowledged_version_survives_sigkill_and_the_file_stays_sound(tmp_path: Path) -> None:
    db = tmp_path / "durable.db"
    acknowledged: dict[int, str] = {}
    for kill in range(KILLS):
        wait_for = 25 + 10 * kill
        with WorkerProcess("writer", db, name=NAME, worker=kill, stderr_dir=tmp_path) as writer:
            acks: list[Message] = [writer.next_message() for _ in range(wait_for)]
            writer.kill()  # somewhere in the middle of the next publish
            _, unread = writer.finish()
        acks += unread  # printed before the kill, still in the pipe
        assert all(ack["event"] == "ack" for ack in acks)
        acknowledged.update((ack["version"], ack["content"]) for ack in acks)

        with closing(sqlite3.connect(db)) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        store = await SQLiteStore.open(db)
        try:
            latest = (await store.get_version(NAME)).version
            newest_acknowledged = max(acknowledged)
            # every acknowledged version is there; at most the one publish in flight got further
            assert newest_acknowledged <= latest <= newest_acknowledged + 1
            for version, content in sorted(acknowledged.items()):
                assert (await store.get_version(NAME, version=version)).template == content
        finally:
            await store.aclose()
        with closing(sqlite3.connect(db)) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            numbers = connection.execute("SELECT version FROM versions ORDER BY version").fetchall()
        assert [number for (number,) in numbers] == list(range(1, latest + 1))  # none skipped
