"""The embedded store: one SQLite file, shared safely by any number of processes.

- WAL journal, so readers never block the writer; ``synchronous=NORMAL``, which keeps every committed
  transaction through a process crash (only a power loss may lose the last commits).
- A writer whose transactions are ``BEGIN IMMEDIATE`` behind an asyncio lock, so one process never
  interleaves its own writes and other processes queue on SQLite's lock (busy timeout) instead of failing.
- A pool of reader connections. A read takes one for itself and runs whole (every query of it, from
  ``BEGIN`` to the end of its transaction) in one worker-thread call: it sees one snapshot, begun after
  the read was asked for, so it is never older than a write acknowledged before it, and no other read
  can join its snapshot (reads sharing one connection did: an open statement kept an old snapshot alive
  for the next read queued on that connection).
- ``base_version`` is checked inside the write transaction: no interleaving of writers can skip a number
  or lose an update.
- Archiving marks the prompt row; versions and labels stay in the file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import anyio

from promptshelf.backends.base import Changes, PromptPage, VersionPage
from promptshelf.backends.cursors import decode_cursor, encode_cursor
from promptshelf.backends.sqlite_cache import CommitAwareCache
from promptshelf.backends.sqlite_schema import migrate
from promptshelf.errors import ConflictError, InvalidArgumentError, NotFoundError, UnavailableError
from promptshelf.model import (
    LATEST,
    Message,
    PromptMeta,
    PromptQuery,
    PromptSummary,
    PromptVersion,
    Variable,
    VersionDraft,
    VersionInfo,
    utc_now,
    variable_names,
)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
READERS = 4
"""Reader connections per store: how many reads run at once (SQLite lets WAL readers run in parallel)."""
KEEP_CHANGES = 10_000
"""How many change-log rows to keep; a poller further behind than this is told "unknown, re-read"."""

_SUMMARY_COLUMNS = """
    p.id, p.name, p.description, p.type, p.latest_version, p.tags, p.variable_names,
    p.updated_at, p.archived_at
"""
_VERSION_COLUMNS = """
    p.name, p.description, p.tags, p.latest_version,
    v.version, v.type, v.body, v.config, v.variables, v.commit_message, v.created_at, v.created_by,
    (SELECT json_group_array(label) FROM labels l2 WHERE l2.prompt_id = p.id AND l2.version = v.version)
"""


class SQLiteStore:
    kind = "sqlite"

    def __init__(self, path: Path, readers: list[sqlite3.Connection], writer: aiosqlite.Connection) -> None:
        self.path = path
        # Last in, first out: reads one at a time keep using one connection and its warm page cache.
        self._idle_readers: asyncio.LifoQueue[sqlite3.Connection] = asyncio.LifoQueue()
        for reader in readers:
            self._idle_readers.put_nowait(reader)
        self._reader_count = len(readers)
        self._read_threads = ThreadPoolExecutor(len(readers), thread_name_prefix="promptshelf-sqlite-read")
        self._closed = False
        self._writer = writer
        self._write_lock = asyncio.Lock()
        self._undoing: set[asyncio.Future[None]] = set()
        """Rollbacks of writes cancelled before their BEGIN went through (see ``_transaction``)."""
        self._cache = CommitAwareCache(path)

    @classmethod
    async def open(cls, location: Path | str) -> SQLiteStore:
        path = Path(location).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            await anyio.to_thread.run_sync(_prepare_file, path)
            writer = await _connect(path)
            readers = await anyio.to_thread.run_sync(_connect_readers, path)
        except sqlite3.DatabaseError as exc:
            raise UnavailableError(f"cannot open the SQLite store at {path}: {exc}") from exc
        except UnavailableError as exc:
            raise UnavailableError(f"cannot open the SQLite store at {path}: {exc}", **exc.details) from exc
        except OSError as exc:
            raise UnavailableError(f"cannot create the SQLite store at {path}: {exc}") from exc
        return cls(path, readers, writer)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cache.close()
        try:
            await asyncio.gather(*self._undoing, return_exceptions=True)
            for _ in range(self._reader_count):  # each read under way gives its connection back first
                (await self._idle_readers.get()).close()
        finally:
            # Even when closing is cancelled: the writer's thread would keep the process from exiting.
            self._read_threads.shutdown(wait=False)
            with anyio.CancelScope(shield=True):
                await self._writer.close()

    # -- reads ---------------------------------------------------------------------------------------

    async def list_prompts(self, query: PromptQuery) -> PromptPage:
        where: list[str] = []
        params: list[Any] = []
        if not query.include_archived:
            where.append("p.archived_at IS NULL")
        if query.search:
            pattern = "%" + _escape_like(query.search) + "%"
            where.append("(p.name LIKE ? ESCAPE '\\' OR p.description LIKE ? ESCAPE '\\')")
            params += [pattern, pattern]
        if query.tag:
            where.append("p.id IN (SELECT prompt_id FROM prompt_tags WHERE tag = ?)")
            params.append(query.tag)
        if query.label and query.label != LATEST:
            where.append("p.id IN (SELECT prompt_id FROM labels WHERE label = ?)")
            params.append(query.label)
        if query.after:
            after_name, after_id = decode_cursor(query.after)
            where.append("(p.name, p.id) > (?, ?)")
            params += [after_name, after_id]
        sql = (
            # The planner would rather walk prompts_live_name and fetch every row to test the search;
            # prompts_listing answers every filter from the index (see migration 2 in sqlite_schema).
            f"SELECT {_SUMMARY_COLUMNS} FROM prompts p INDEXED BY prompts_listing"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY p.name, p.id LIMIT ?"
        )

        def read(db: sqlite3.Connection) -> PromptPage:
            rows = db.execute(sql, (*params, query.limit + 1)).fetchall()
            page, more = rows[: query.limit], len(rows) > query.limit
            labels = _labels_of(db, [row[0] for row in page])
            prompts = [_summary_from_row(row, labels.get(row[0], {})) for row in page]
            next_cursor = encode_cursor(page[-1][1], page[-1][0]) if more and page else None
            return PromptPage(prompts=prompts, next_cursor=next_cursor)

        return await self._reading(read)

    async def get_summary(self, name: str) -> PromptSummary:
        key = ("summary", name)
        cached: PromptSummary | None = self._cache.get(key)
        if cached is not None:
            return cached
        seen = self._cache.current_version()

        def read(db: sqlite3.Connection) -> PromptSummary:
            row = db.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM prompts p WHERE p.name = ? AND p.archived_at IS NULL",
                (name,),
            ).fetchone()
            if row is None:
                raise _prompt_not_found(name)
            return _summary_from_row(row, _labels_of(db, [row[0]]).get(row[0], {}))

        summary = await self._reading(read)
        self._cache.put(key, summary, seen)
        return summary

    async def get_version(
        self, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptVersion:
        key = ("version", name, version, label)
        cached: PromptVersion | None = self._cache.get(key)
        if cached is not None:
            return cached
        seen = self._cache.current_version()
        base = f"SELECT {_VERSION_COLUMNS} FROM prompts p "
        live = "p.name = ? AND p.archived_at IS NULL"
        if label is not None and label != LATEST:
            sql = (
                base + "JOIN labels l ON l.prompt_id = p.id AND l.label = ? "
                "JOIN versions v ON v.prompt_id = p.id AND v.version = l.version WHERE " + live
            )
            params: tuple[Any, ...] = (label, name)
        elif version is not None:
            sql = base + "JOIN versions v ON v.prompt_id = p.id AND v.version = ? WHERE " + live
            params = (version, name)
        else:
            sql = (
                base + "JOIN versions v ON v.prompt_id = p.id AND v.version = p.latest_version WHERE " + live
            )
            params = (name,)

        def read(db: sqlite3.Connection) -> PromptVersion:
            row = db.execute(sql, params).fetchone()
            if row is None:
                raise _explain_missing(db, name, version=version, label=label)
            return _version_from_row(row)

        found = await self._reading(read)
        self._cache.put(key, found, seen)
        return found

    async def list_versions(self, name: str, *, before_version: int | None, limit: int) -> VersionPage:
        upper = before_version if before_version is not None else 2**62

        def read(db: sqlite3.Connection) -> VersionPage:
            prompt_id, _ = _live_prompt_in(db, name)
            rows = db.execute(
                "SELECT v.version, v.commit_message, v.created_at, v.created_by,"
                " (SELECT json_group_array(label) FROM labels l WHERE l.prompt_id = v.prompt_id"
                "  AND l.version = v.version)"
                " FROM versions v WHERE v.prompt_id = ? AND v.version < ? ORDER BY v.version DESC LIMIT ?",
                (prompt_id, upper, limit + 1),
            ).fetchall()
            versions = [
                VersionInfo(
                    version=row[0],
                    commit_message=row[1],
                    created_at=row[2],
                    created_by=row[3],
                    labels=sorted(json.loads(row[4])),
                )
                for row in rows[:limit]
            ]
            return VersionPage(versions=versions, has_more=len(rows) > limit)

        return await self._reading(read)

    def sdk_warnings(self, draft: VersionDraft) -> list[str]:
        return []  # promptshelf is the only reader of this store and renders what it stores

    async def wait_for_change(self, timeout: float) -> None:  # noqa: ASYNC109 (a wait, not a deadline)
        await anyio.sleep(timeout)  # other processes' commits are only seen by polling the change log

    async def poll_changes(self, since: str | None) -> Changes:
        if since is None:
            rows = await self._read("SELECT coalesce(max(seq), 0) FROM changes", ())
            return Changes(token=str(rows[0][0]), names=frozenset())
        try:
            after = int(since)
        except ValueError as exc:
            raise InvalidArgumentError(f"invalid change token {since!r}") from exc
        rows = await self._read(
            "SELECT seq, name, (SELECT min(seq) FROM changes) FROM changes WHERE seq > ? ORDER BY seq",
            (after,),
        )
        if not rows:
            return Changes(token=since, names=frozenset())
        oldest_kept = rows[0][2]
        names = frozenset(row[1] for row in rows) if oldest_kept <= after + 1 else None
        return Changes(token=str(rows[-1][0]), names=names)

    # -- writes --------------------------------------------------------------------------------------

    async def create_prompt(self, name: str, meta: PromptMeta, draft: VersionDraft) -> PromptVersion:
        async with self._transaction() as db:
            now = utc_now()
            existing = await _fetchone(
                db, "SELECT latest_version FROM prompts WHERE name = ? AND archived_at IS NULL", (name,)
            )
            if existing is not None:
                raise ConflictError(
                    f"a prompt named {name!r} already exists (latest version {existing[0]}); "
                    "publish a new version with update_prompt instead",
                    current_version=existing[0],
                )
            cursor = await db.execute(
                "INSERT INTO prompts (name, description, tags, latest_version, type, variable_names,"
                " created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?, ?)",
                (
                    name,
                    meta.description,
                    json.dumps(meta.tags),
                    draft.type,
                    json.dumps(variable_names(draft.variables, draft.text_parts)),
                    now,
                    now,
                ),
            )
            prompt_id = cursor.lastrowid
            assert prompt_id is not None
            await _replace_tags(db, prompt_id, meta.tags)
            await self._insert_version(db, prompt_id, 1, draft, now)
            await _record_change(db, name, now)
        return await self.get_version(name, version=1)

    async def publish_version(
        self, name: str, base_version: int, draft: VersionDraft, meta: PromptMeta | None = None
    ) -> PromptVersion:
        async with self._transaction() as db:
            prompt_id, latest = await self._live_prompt(db, name)
            if latest != base_version:
                raise ConflictError(
                    f"prompt {name!r} changed since version {base_version} was read: the latest version is "
                    f"now {latest}; read it, reapply your change and publish with base_version={latest}",
                    current_version=latest,
                )
            now = utc_now()
            version = latest + 1
            await db.execute(
                "UPDATE prompts SET latest_version = ?, type = ?, variable_names = ?, updated_at = ?"
                " WHERE id = ?",
                (
                    version,
                    draft.type,
                    json.dumps(variable_names(draft.variables, draft.text_parts)),
                    now,
                    prompt_id,
                ),
            )
            if meta is not None:
                await db.execute(
                    "UPDATE prompts SET description = ?, tags = ? WHERE id = ?",
                    (meta.description, json.dumps(meta.tags), prompt_id),
                )
                await _replace_tags(db, prompt_id, meta.tags)
            await self._insert_version(db, prompt_id, version, draft, now)
            await _record_change(db, name, now)
        return await self.get_version(name, version=version)

    async def set_label(self, name: str, label: str, version: int) -> int | None:
        async with self._transaction() as db:
            prompt_id, latest = await self._live_prompt(db, name)
            if not 1 <= version <= latest:
                raise NotFoundError(
                    f"prompt {name!r} has no version {version} (versions 1 to {latest})", version=version
                )
            before = await _fetchone(
                db, "SELECT version FROM labels WHERE prompt_id = ? AND label = ?", (prompt_id, label)
            )
            now = utc_now()
            await _upsert_label(db, prompt_id, label, version, now)
            await db.execute("UPDATE prompts SET updated_at = ? WHERE id = ?", (now, prompt_id))
            await _record_change(db, name, now)
        return None if before is None else int(before[0])

    async def remove_label(self, name: str, label: str) -> int:
        async with self._transaction() as db:
            prompt_id, _ = await self._live_prompt(db, name)
            before = await _fetchone(
                db, "SELECT version FROM labels WHERE prompt_id = ? AND label = ?", (prompt_id, label)
            )
            if before is None:
                raise NotFoundError(f"prompt {name!r} has no label {label!r}", label=label)
            now = utc_now()
            await db.execute("DELETE FROM labels WHERE prompt_id = ? AND label = ?", (prompt_id, label))
            await db.execute("UPDATE prompts SET updated_at = ? WHERE id = ?", (now, prompt_id))
            await _record_change(db, name, now)
        return int(before[0])

    async def archive_prompt(self, name: str) -> int:
        async with self._transaction() as db:
            prompt_id, latest = await self._live_prompt(db, name)
            now = utc_now()
            await db.execute(
                "UPDATE prompts SET archived_at = ?, updated_at = ? WHERE id = ?", (now, now, prompt_id)
            )
            await _record_change(db, name, now)
        return latest

    # -- plumbing ------------------------------------------------------------------------------------

    async def _insert_version(
        self, db: aiosqlite.Connection, prompt_id: int, version: int, draft: VersionDraft, now: str
    ) -> None:
        await db.execute(INSERT_VERSION, version_row(prompt_id, version, draft, now))
        for label in draft.labels:
            await _upsert_label(db, prompt_id, label, version, now)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._closed:
            raise UnavailableError(f"the SQLite store at {self.path} is closed")
        await self._write_lock.acquire()
        try:
            await self._writer.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self._write_lock.release()
            raise UnavailableError(
                f"the SQLite store at {self.path} stayed locked by another process for "
                f"{BUSY_TIMEOUT_MS // 1000} s; try again"
            ) from exc
        except BaseException:
            # Cancelled while queued on another process's lock: aiosqlite's thread still runs the BEGIN
            # and would then hold the file's write lock for good. Undo it in the background (it may wait
            # out the busy timeout) and keep this process's writers queued until that is done.
            undo = asyncio.ensure_future(self._rollback_then_unlock())
            self._undoing.add(undo)
            undo.add_done_callback(self._undoing.discard)
            raise
        try:
            try:
                yield self._writer
            except BaseException:
                await self._rollback()
                raise
            try:
                await self._writer.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._rollback()
                raise UnavailableError(f"writing to the SQLite store at {self.path} failed: {exc}") from exc
        finally:
            self._write_lock.release()

    async def _rollback(self) -> None:
        """End the writer's transaction, if one is open, before the write lock is released.

        Shielded, so that a cancelled write still waits for its ROLLBACK; an error after which SQLite
        rolled back by itself, or a BEGIN that never took, leaves no transaction, and that must not hide
        the exception being raised.
        """
        with anyio.CancelScope(shield=True):
            try:
                await self._writer.execute("ROLLBACK")
            except sqlite3.OperationalError:
                if self._writer.in_transaction:
                    raise

    async def _rollback_then_unlock(self) -> None:
        try:
            await self._rollback()
        except (sqlite3.Error, ValueError):  # ValueError: the connection was closed meanwhile
            pass
        finally:
            self._write_lock.release()

    async def _reading(self, read: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``read`` on a reader connection of its own, in one read transaction (one snapshot)."""
        if self._closed:
            raise UnavailableError(f"the SQLite store at {self.path} is closed")
        reader = await self._idle_readers.get()
        done = asyncio.get_running_loop().run_in_executor(self._read_threads, _in_one_snapshot, reader, read)
        # Back to the pool once its thread is done with it, even when the caller gave up waiting.
        done.add_done_callback(lambda _: self._idle_readers.put_nowait(reader))
        try:
            return await asyncio.shield(done)
        except sqlite3.OperationalError as exc:
            raise UnavailableError(f"reading the SQLite store at {self.path} failed: {exc}") from exc

    async def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return await self._reading(lambda db: db.execute(sql, params).fetchall())

    async def _live_prompt(self, db: aiosqlite.Connection, name: str) -> tuple[int, int]:
        row = await _fetchone(
            db, "SELECT id, latest_version FROM prompts WHERE name = ? AND archived_at IS NULL", (name,)
        )
        if row is None:
            raise _prompt_not_found(name)
        return int(row[0]), int(row[1])


def _in_one_snapshot(db: sqlite3.Connection, read: Callable[[sqlite3.Connection], T]) -> T:
    # BEGIN makes every query of the read share the snapshot its first query takes.
    db.execute("BEGIN")
    try:
        return read(db)
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")


def _live_prompt_in(db: sqlite3.Connection, name: str) -> tuple[int, int]:
    row = db.execute(
        "SELECT id, latest_version FROM prompts WHERE name = ? AND archived_at IS NULL", (name,)
    ).fetchone()
    if row is None:
        raise _prompt_not_found(name)
    return int(row[0]), int(row[1])


def _labels_of(db: sqlite3.Connection, prompt_ids: list[int]) -> dict[int, dict[str, int]]:
    if not prompt_ids:
        return {}
    marks = ",".join("?" * len(prompt_ids))
    rows = db.execute(
        f"SELECT prompt_id, label, version FROM labels WHERE prompt_id IN ({marks}) ORDER BY label",
        prompt_ids,
    )
    labels: dict[int, dict[str, int]] = {}
    for prompt_id, label, version in rows:
        labels.setdefault(prompt_id, {})[label] = version
    return labels


def _explain_missing(
    db: sqlite3.Connection, name: str, *, version: int | None, label: str | None
) -> NotFoundError:
    _, latest = _live_prompt_in(db, name)
    if label is not None:
        return NotFoundError(f"prompt {name!r} has no label {label!r}", label=label)
    return NotFoundError(
        f"prompt {name!r} has no version {version} (versions 1 to {latest})", version=version
    )


def _prepare_file(path: Path) -> None:
    """Switch the file to WAL and run migrations, on a plain connection before the async ones open."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        migrate(connection)
    finally:
        connection.close()


def _connect_readers(path: Path) -> list[sqlite3.Connection]:
    readers = []
    for _ in range(READERS):
        # Each is used by one thread at a time, but not always the same thread.
        reader = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        reader.execute("PRAGMA query_only = ON")
        readers.append(reader)
    return readers


async def _connect(path: Path) -> aiosqlite.Connection:
    connection = await aiosqlite.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await connection.execute("PRAGMA synchronous = NORMAL")
    await connection.execute("PRAGMA foreign_keys = ON")
    return connection


async def _fetchone(db: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
    async with db.execute(sql, params) as cursor:
        row: sqlite3.Row | None = await cursor.fetchone()
        return row


async def _upsert_label(db: aiosqlite.Connection, prompt_id: int, label: str, version: int, now: str) -> None:
    await db.execute(
        "INSERT INTO labels (prompt_id, label, version, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (prompt_id, label)"
        " DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
        (prompt_id, label, version, now),
    )


async def _replace_tags(db: aiosqlite.Connection, prompt_id: int, tags: Iterable[str]) -> None:
    await db.execute("DELETE FROM prompt_tags WHERE prompt_id = ?", (prompt_id,))
    await db.executemany(
        "INSERT OR IGNORE INTO prompt_tags (tag, prompt_id) VALUES (?, ?)", [(tag, prompt_id) for tag in tags]
    )


async def _record_change(db: aiosqlite.Connection, name: str, now: str) -> None:
    cursor = await db.execute("INSERT INTO changes (name, changed_at) VALUES (?, ?)", (name, now))
    seq = cursor.lastrowid or 0
    if seq % 1000 == 0:
        await db.execute("DELETE FROM changes WHERE seq <= ?", (seq - KEEP_CHANGES,))


INSERT_VERSION = (
    "INSERT INTO versions (prompt_id, version, type, body, config, variables, commit_message,"
    " created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def version_row(prompt_id: int, version: int, draft: VersionDraft, now: str) -> tuple[Any, ...]:
    """The ``versions`` row of a draft (also used by the scale benchmark's bulk builder)."""
    body = draft.template if draft.type == "text" else _dump_messages(draft.messages or [])
    return (
        prompt_id,
        version,
        draft.type,
        body or "",
        json.dumps(draft.config, ensure_ascii=False),
        json.dumps([v.model_dump(exclude_none=True) for v in draft.variables], ensure_ascii=False),
        draft.commit_message,
        now,
        draft.created_by,
    )


def _summary_from_row(row: sqlite3.Row, labels: dict[str, int]) -> PromptSummary:
    _, name, description, type_, latest, tags, variables, updated_at, archived_at = row
    return PromptSummary(
        name=name,
        description=description,
        type=type_,
        latest_version=latest,
        tags=json.loads(tags),
        variables=json.loads(variables),
        updated_at=updated_at,
        archived=archived_at is not None,
        labels=labels,
    )


def _version_from_row(row: sqlite3.Row) -> PromptVersion:
    (
        name,
        description,
        tags,
        latest,
        version,
        type_,
        body,
        config,
        variables,
        commit,
        created_at,
        by,
        labels,
    ) = row
    return PromptVersion(
        name=name,
        description=description,
        tags=json.loads(tags),
        latest_version=latest,
        version=version,
        type=type_,
        template=body if type_ == "text" else None,
        messages=[Message(**m) for m in json.loads(body)] if type_ == "chat" else None,
        config=json.loads(config),
        variables=[Variable(**v) for v in json.loads(variables)],
        commit_message=commit,
        created_at=created_at,
        created_by=by,
        labels=sorted(json.loads(labels)),
        source="store",
    )


def _dump_messages(messages: list[Message]) -> str:
    return json.dumps([m.model_dump() for m in messages], ensure_ascii=False)


def _prompt_not_found(name: str) -> NotFoundError:
    return NotFoundError(f"no prompt named {name!r}", name=name)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
