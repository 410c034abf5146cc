"""A cache of SQLite read results that is exact across processes.

``PRAGMA data_version`` on a connection changes whenever any *other* connection (in this process or
another) commits to the file. Asking it costs a couple of microseconds on the calling thread, against tens
of microseconds for a query through a worker thread, so a read whose answer is cached is served without
touching the database, and is never stale: one commit anywhere empties the cache.

A read's result is stored under the data version taken (``current_version``) before the read began its
transaction, and only if this cache has seen no commit since: its snapshot is then that state or a newer
one, and a newer one is dropped at the next lookup, which sees the commit. (A read that joined an older
snapshot, as reads sharing one connection could, must never reach ``put``: its stale answer would be
served until the next commit.)

The probe is asked once per turn of the event loop, not once per lookup: a busy server answers a dozen
requests in one turn, and each probe is three system calls. This stays exact for every reader that can
know of a commit. A turn runs the callbacks that were ready when it began, and the answer is forgotten by
a callback scheduled when the probe was asked, so every lookup that reuses it belongs to a callback
scheduled before the probe: a request read from a socket, or a task woken by this process's own write
(its writer thread signals the loop after committing), comes after the probe and asks again. The only
commit a turn can miss is one made synchronously, on the loop's thread, by a connection other than the
store's (no part of promptshelf does so); the next turn sees it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Hashable
from pathlib import Path
from typing import Any

MAX_ENTRIES = 4096


class CommitAwareCache:
    def __init__(self, path: Path) -> None:
        # Used from the event loop's thread only; check_same_thread off so a store opened in one thread
        # and used from another (as test harnesses do) still works.
        self._probe = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._data_version = self._read_data_version()
        self._entries: dict[Hashable, Any] = {}
        self._closed = False
        self._probed_in: asyncio.AbstractEventLoop | None = None  # the loop whose current turn probed

    def get(self, key: Hashable) -> Any | None:
        if self._closed:  # the store refuses the read itself, with a clear error
            return None
        self._forget_if_committed()
        return self._entries.get(key)

    def put(self, key: Hashable, value: Any, seen_version: int) -> None:
        """Keep ``value``, read in a transaction begun after ``seen_version`` was taken, unless this
        cache has seen a commit since (the answer may predate it)."""
        if seen_version != self._data_version or self._closed:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = value

    def current_version(self) -> int:
        if not self._closed:
            self._forget_if_committed()
        return self._data_version

    def close(self) -> None:
        self._closed = True
        self._entries.clear()
        self._probe.close()

    def _forget_if_committed(self) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None  # a synchronous caller: probe on every lookup
        if loop is not None and loop is self._probed_in:
            return
        version = self._read_data_version()
        if version != self._data_version:
            self._data_version = version
            self._entries.clear()
        if loop is not None:
            self._probed_in = loop
            loop.call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._probed_in = None

    def _read_data_version(self) -> int:
        return int(self._probe.execute("PRAGMA data_version").fetchone()[0])
