"""The team store: prompts in a PostgreSQL database shared by any number of promptshelf replicas.

- Reads are one statement each on a pooled connection in autocommit: one snapshot, begun after the read
  was asked for, so never older than a write any replica acknowledged before it. There is no read cache:
  a resolve through the pool takes a fraction of a millisecond (benchmarks/bench_pg_driver.py).
- Writes are one transaction each. ``base_version`` and label moves are checked under the prompt row's
  lock (``SELECT ... FOR UPDATE``): concurrent writers to one prompt queue on it and each sees the
  version the previous one committed, so none is lost, duplicated or skipped; the primary keys and the
  unique index of live names back the checks up.
- Every write appends to the change log (``changes``) and sends ``NOTIFY promptshelf_changes`` in its
  transaction; ``wait_for_change`` wakes on it (``postgres_listen.py``).
- Archiving marks the prompt row; versions and labels stay.
- A lost connection (PostgreSQL restarted, a connection killed) is replaced by the pool; a read, or a
  write whose transaction never reached COMMIT, is retried once on a fresh connection. When PostgreSQL is
  down, callers get ``UnavailableError`` after the pool timeout, and the store recovers by itself.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from promptshelf.backends.base import Changes, PromptPage, VersionPage
from promptshelf.backends.cursors import decode_cursor, encode_cursor
from promptshelf.backends.postgres_connect import Target, connect, open_pool, unavailable
from promptshelf.backends.postgres_listen import ChangeListener
from promptshelf.backends.postgres_schema import CHANGE_LOG_LOCK, LOCK_CLASS, migrate
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
from promptshelf.settings import Settings

T = TypeVar("T")
Connection = psycopg.AsyncConnection[Any]
Row = tuple[Any, ...]

CHANNEL = "promptshelf_changes"
KEEP_CHANGES = 10_000
"""How many change-log rows to keep; a poller further behind than this is told "unknown, re-read"."""

SEARCH_PLANNER = "SET LOCAL random_page_cost = 1.1"
"""For searches only. The planner's default (4) prices random reads for spinning disks: with it, a rare term
(a few matches in 100,000 prompts) is looked for by reading the whole table (70 ms) instead of the trigram
indexes (3 to 11 ms); at 1.1, the usual figure for SSDs, it takes the indexes for rare terms and still walks
the name index for common ones (3 ms: the first page fills at once). Other statements keep the server's."""

_SUMMARY_COLUMNS = """
    p.id, p.name, p.description, p.type, p.latest_version, p.tags, p.variable_names, p.updated_at,
    p.archived_at,
    (SELECT json_object_agg(l.label, l.version ORDER BY l.label) FROM labels l WHERE l.prompt_id = p.id)
"""
_VERSION_COLUMNS = """
    p.name, p.description, p.tags, p.latest_version,
    v.version, v.type, v.template, v.messages, v.config, v.variables, v.commit_message, v.created_at,
    v.created_by,
    ARRAY(SELECT l2.label FROM labels l2 WHERE l2.prompt_id = p.id AND l2.version = v.version
          ORDER BY l2.label)
"""
_LIVE = "p.name = %(name)s AND p.archived_at IS NULL"
# Each lookup is one statement that also says, when the version is missing, whether the prompt exists
# (a row with NULL version columns) so the error can tell which.
_GET_LATEST = (
    f"SELECT {_VERSION_COLUMNS} FROM prompts p"
    f" LEFT JOIN versions v ON v.prompt_id = p.id AND v.version = p.latest_version WHERE {_LIVE}"
)
_GET_VERSION = (
    f"SELECT {_VERSION_COLUMNS} FROM prompts p"
    f" LEFT JOIN versions v ON v.prompt_id = p.id AND v.version = %(version)s WHERE {_LIVE}"
)
_GET_LABEL = (
    f"SELECT {_VERSION_COLUMNS} FROM prompts p"
    " LEFT JOIN labels l ON l.prompt_id = p.id AND l.label = %(label)s"
    f" LEFT JOIN versions v ON v.prompt_id = p.id AND v.version = l.version WHERE {_LIVE}"
)


class PostgresStore:
    kind = "postgres"

    def __init__(self, target: Target, pool: AsyncConnectionPool[Connection], pool_timeout: float) -> None:
        self.target = target
        self._pool = pool
        self._listener = ChangeListener(target, CHANNEL, pool_timeout)
        self._closed = False

    @classmethod
    async def open(
        cls, url: str, *, pool_min_size: int = 1, pool_max_size: int = 10, pool_timeout: float = 5.0
    ) -> PostgresStore:
        target = Target.parse(url)
        migrator = await connect(target, pool_timeout, "promptshelf-migrate")
        try:
            await migrate(migrator, target.where)
        except psycopg.Error as exc:
            raise unavailable(exc, target, "migrating the schema") from None
        finally:
            await migrator.close()
        pool = await open_pool(
            target, min_size=pool_min_size, max_size=pool_max_size, wait_timeout=pool_timeout
        )
        return cls(target, pool, pool_timeout)

    @classmethod
    async def from_settings(cls, settings: Settings) -> PostgresStore:
        assert settings.database_url is not None  # Settings refuses the postgres backend without one
        return await cls.open(
            settings.database_url.get_secret_value(),
            pool_min_size=settings.pool_min_size,
            pool_max_size=settings.pool_max_size,
            pool_timeout=settings.pool_timeout,
        )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._listener.aclose()
        finally:
            await self._pool.close()

    # -- reads ---------------------------------------------------------------------------------------

    async def list_prompts(self, query: PromptQuery) -> PromptPage:
        sql, params = listing_sql(query)
        rows = await self._fetch(sql, params, planner=SEARCH_PLANNER if query.search else None)
        page, more = rows[: query.limit], len(rows) > query.limit
        next_cursor = encode_cursor(page[-1][1], page[-1][0]) if more and page else None
        return PromptPage(prompts=[_summary_from_row(row) for row in page], next_cursor=next_cursor)

    async def get_summary(self, name: str) -> PromptSummary:
        rows = await self._fetch(f"SELECT {_SUMMARY_COLUMNS} FROM prompts p WHERE {_LIVE}", {"name": name})
        if not rows:
            raise _prompt_not_found(name)
        return _summary_from_row(rows[0])

    async def get_version(
        self, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptVersion:
        if label is not None and label != LATEST:
            rows = await self._fetch(_GET_LABEL, {"name": name, "label": label})
        elif version is not None:
            rows = await self._fetch(_GET_VERSION, {"name": name, "version": version})
        else:
            rows = await self._fetch(_GET_LATEST, {"name": name})
        return _found_version(rows, name, version=version, label=label)

    async def list_versions(self, name: str, *, before_version: int | None, limit: int) -> VersionPage:
        below = "" if before_version is None else " AND v.version < %(before)s"
        rows = await self._fetch(
            "SELECT v.version, v.commit_message, v.created_at, v.created_by,"
            " ARRAY(SELECT l.label FROM labels l WHERE l.prompt_id = p.id AND l.version = v.version"
            "       ORDER BY l.label)"
            " FROM prompts p LEFT JOIN LATERAL (SELECT * FROM versions v WHERE v.prompt_id = p.id"
            f"  {below} ORDER BY v.version DESC LIMIT %(limit)s) v ON true"
            f" WHERE {_LIVE} ORDER BY v.version DESC",
            {"name": name, "before": before_version, "limit": limit + 1},
        )
        if not rows:
            raise _prompt_not_found(name)
        found = [row for row in rows if row[0] is not None]
        versions = [
            VersionInfo(
                version=row[0],
                commit_message=row[1],
                created_at=_timestamp(row[2]),
                created_by=row[3],
                labels=list(row[4]),
            )
            for row in found[:limit]
        ]
        return VersionPage(versions=versions, has_more=len(found) > limit)

    def sdk_warnings(self, draft: VersionDraft) -> list[str]:
        return []  # promptshelf is the only reader of this store and renders what it stores

    async def poll_changes(self, since: str | None) -> Changes:
        if since is None:
            rows = await self._fetch("SELECT coalesce(max(seq), 0) FROM changes", {})
            return Changes(token=str(rows[0][0]), names=frozenset())
        try:
            after = int(since)
        except ValueError as exc:
            raise InvalidArgumentError(f"invalid change token {since!r}") from exc
        rows = await self._fetch(
            "SELECT t.through, c.seq, c.name FROM changes_trimmed t"
            " LEFT JOIN changes c ON c.seq > %(after)s ORDER BY c.seq",
            {"after": after},
        )
        trimmed_through = rows[0][0]
        changed = [row for row in rows if row[1] is not None]
        if not changed:
            return Changes(token=since, names=frozenset())
        names = frozenset(row[2] for row in changed) if after >= trimmed_through else None
        return Changes(token=str(changed[-1][1]), names=names)

    async def wait_for_change(self, timeout: float) -> None:  # noqa: ASYNC109 (a wait, not a deadline)
        if self._closed:
            raise UnavailableError(f"the PostgreSQL store at {self.target.where} is closed")
        await self._listener.wait(timeout)

    # -- writes --------------------------------------------------------------------------------------

    async def create_prompt(self, name: str, meta: PromptMeta, draft: VersionDraft) -> PromptVersion:
        _check_storable(draft, meta)

        async def write(db: Connection) -> PromptVersion:
            existing = await _fetchone(
                db, "SELECT latest_version FROM prompts p WHERE " + _LIVE, {"name": name}
            )
            if existing is not None:
                raise _exists(name, existing[0])
            now = utc_now()
            created = await _fetchone(
                db,
                "INSERT INTO prompts (name, description, tags, latest_version, type, variable_names,"
                " created_at, updated_at) VALUES (%s, %s, %s, 1, %s, %s, %s, %s) RETURNING id",
                (
                    name,
                    meta.description,
                    json.dumps(meta.tags, ensure_ascii=False),
                    draft.type,
                    json.dumps(variable_names(draft.variables, draft.text_parts), ensure_ascii=False),
                    now,
                    now,
                ),
            )
            assert created is not None
            prompt_id = int(created[0])
            await _replace_tags(db, prompt_id, meta.tags)
            await _insert_version(db, prompt_id, 1, draft, now)
            await record_change(db, name, now)
            return await _read_version_in(db, name, 1)

        try:
            return await self._write(write)
        except pg_errors.UniqueViolation:
            # Another writer created the name between our check and our insert.
            current = await self._fetch("SELECT latest_version FROM prompts p WHERE " + _LIVE, {"name": name})
            raise _exists(name, current[0][0] if current else 1) from None

    async def publish_version(
        self, name: str, base_version: int, draft: VersionDraft, meta: PromptMeta | None = None
    ) -> PromptVersion:
        _check_storable(draft, meta)

        async def write(db: Connection) -> PromptVersion:
            prompt_id, latest = await _lock_live_prompt(db, name)
            if latest != base_version:
                raise ConflictError(
                    f"prompt {name!r} changed since version {base_version} was read: the latest version is "
                    f"now {latest}; read it, reapply your change and publish with base_version={latest}",
                    current_version=latest,
                )
            now = utc_now()
            version = latest + 1
            await db.execute(
                "UPDATE prompts SET latest_version = %s, type = %s, variable_names = %s, updated_at = %s"
                " WHERE id = %s",
                (
                    version,
                    draft.type,
                    json.dumps(variable_names(draft.variables, draft.text_parts), ensure_ascii=False),
                    now,
                    prompt_id,
                ),
            )
            if meta is not None:
                await db.execute(
                    "UPDATE prompts SET description = %s, tags = %s WHERE id = %s",
                    (meta.description, json.dumps(meta.tags, ensure_ascii=False), prompt_id),
                )
                await _replace_tags(db, prompt_id, meta.tags)
            await _insert_version(db, prompt_id, version, draft, now)
            await record_change(db, name, now)
            return await _read_version_in(db, name, version)

        try:
            return await self._write(write)
        except pg_errors.UniqueViolation:  # the row lock makes this unreachable; the key still guards it
            current = await self.get_summary(name)
            raise ConflictError(
                f"prompt {name!r} changed since version {base_version} was read: the latest version is now "
                f"{current.latest_version}",
                current_version=current.latest_version,
            ) from None

    async def set_label(self, name: str, label: str, version: int) -> int | None:
        async def write(db: Connection) -> int | None:
            prompt_id, latest = await _lock_live_prompt(db, name)
            if not 1 <= version <= latest:
                raise NotFoundError(
                    f"prompt {name!r} has no version {version} (versions 1 to {latest})", version=version
                )
            before = await _fetchone(
                db, "SELECT version FROM labels WHERE prompt_id = %s AND label = %s", (prompt_id, label)
            )
            now = utc_now()
            await _upsert_label(db, prompt_id, label, version, now)
            await db.execute("UPDATE prompts SET updated_at = %s WHERE id = %s", (now, prompt_id))
            await record_change(db, name, now)
            return None if before is None else int(before[0])

        return await self._write(write)

    async def remove_label(self, name: str, label: str) -> int:
        async def write(db: Connection) -> int:
            prompt_id, _ = await _lock_live_prompt(db, name)
            removed = await _fetchone(
                db,
                "DELETE FROM labels WHERE prompt_id = %s AND label = %s RETURNING version",
                (prompt_id, label),
            )
            if removed is None:
                raise NotFoundError(f"prompt {name!r} has no label {label!r}", label=label)
            now = utc_now()
            await db.execute("UPDATE prompts SET updated_at = %s WHERE id = %s", (now, prompt_id))
            await record_change(db, name, now)
            return int(removed[0])

        return await self._write(write)

    async def archive_prompt(self, name: str) -> int:
        async def write(db: Connection) -> int:
            prompt_id, latest = await _lock_live_prompt(db, name)
            now = utc_now()
            await db.execute(
                "UPDATE prompts SET archived_at = %s, updated_at = %s WHERE id = %s", (now, now, prompt_id)
            )
            await record_change(db, name, now)
            return latest

        return await self._write(write)

    # -- plumbing ------------------------------------------------------------------------------------

    async def _fetch(
        self, sql: str, params: dict[str, Any] | tuple[Any, ...], *, planner: str | None = None
    ) -> list[Row]:
        """Rows of one statement; ``planner`` settings (``SET LOCAL ...``) apply to it alone."""

        async def read(db: Connection) -> list[Row]:
            if planner is None:
                cursor = await db.execute(sql.encode(), params)
                return await cursor.fetchall()
            async with db.transaction():
                await db.execute(planner.encode())
                cursor = await db.execute(sql.encode(), params)
                return await cursor.fetchall()

        return await self._using_connection(read, write=False)

    async def _write(self, write: Callable[[Connection], Awaitable[T]]) -> T:
        return await self._using_connection(write, write=True)

    async def _using_connection(self, work: Callable[[Connection], Awaitable[T]], *, write: bool) -> T:
        """Run ``work`` on a pooled connection (in one transaction when it writes).

        A connection found dead (PostgreSQL restarted, the connection killed) costs one retry on a fresh
        one, after the pool has dropped its other dead ones, unless the failure came at COMMIT: the write
        may then have been applied, so the caller is told the outcome is unknown.
        """
        if self._closed:
            raise UnavailableError(f"the PostgreSQL store at {self.target.where} is closed")
        doing = "writing" if write else "reading"
        for attempt in (1, 2):
            committing = retry = False
            try:
                async with self._pool.connection() as db:
                    try:
                        if not write:
                            return await work(db)
                        async with db.transaction():
                            result = await work(db)
                            committing = True
                        return result
                    except (psycopg.OperationalError, psycopg.InterfaceError):
                        if attempt == 1 and db.broken and not committing:
                            retry = True
                        else:
                            raise
            except PoolTimeout as exc:
                raise unavailable(exc, self.target, doing) from None
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if committing:
                    raise UnavailableError(
                        f"PostgreSQL at {self.target.where} went away while committing a write; it may or "
                        "may not have been applied: read the prompt before trying again"
                    ) from None
                raise unavailable(exc, self.target, doing) from None
            if retry:
                await self._drop_dead_connections()
        raise AssertionError("unreachable")

    async def _drop_dead_connections(self) -> None:
        # check() replaces what it drops (in the background); a failure to check is the retry's to report.
        with contextlib.suppress(psycopg.Error, PoolTimeout):
            await self._pool.check()


def listing_sql(query: PromptQuery) -> tuple[str, dict[str, Any]]:
    """The statement ``list_prompts`` runs (a page and one row more, to tell whether more follow)."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": query.limit + 1}
    if not query.include_archived:
        where.append("p.archived_at IS NULL")
    if query.search:
        # Served by the pg_trgm indexes on name and description (a bitmap OR of the two).
        where.append("(p.name ILIKE %(pattern)s OR p.description ILIKE %(pattern)s)")
        params["pattern"] = "%" + _escape_like(query.search) + "%"
    if query.tag and "\x00" in query.tag:
        where.append("false")  # no tag holds NUL (writes refuse it), and PostgreSQL cannot be sent one
    elif query.tag:
        where.append("p.id IN (SELECT prompt_id FROM prompt_tags WHERE tag = %(tag)s)")
        params["tag"] = query.tag
    if query.label and query.label != LATEST:
        where.append("p.id IN (SELECT prompt_id FROM labels WHERE label = %(label)s)")
        params["label"] = query.label
    if query.after:
        params["after_name"], params["after_id"] = decode_cursor(query.after)
        if "\x00" in params["after_name"]:  # no name holds NUL: not a cursor this store made
            raise InvalidArgumentError(
                "invalid cursor: pass next_cursor from a previous page", argument="cursor"
            )
        where.append("(p.name, p.id) > (%(after_name)s, %(after_id)s)")
    sql = (
        f"SELECT {_SUMMARY_COLUMNS} FROM prompts p"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY p.name, p.id LIMIT %(limit)s"
    )
    return sql, params


# -- statements used inside a write's transaction ----------------------------------------------------


async def record_change(db: Connection, name: str, now: str) -> None:
    """Append to the change log and notify listeners, in the write's transaction.

    ``seq`` comes from a sequence, whose numbers are handed out in call order, not commit order: a poller
    could read seq 12 committed while 11 is still in flight, move its token to 12 and miss 11 for good. The
    advisory lock, taken just before the number and held to commit, makes the two orders the same (a
    write's tail, not the write, is serialised).
    """
    await db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, CHANGE_LOG_LOCK))
    row = await _fetchone(
        db,
        "INSERT INTO changes (name, changed_at) VALUES (%s, %s) RETURNING seq, pg_notify(%s, seq::text)",
        (name, now, CHANNEL),
    )
    assert row is not None
    seq = int(row[0])
    if seq % 1000 == 0:
        await db.execute("DELETE FROM changes WHERE seq <= %s", (seq - KEEP_CHANGES,))
        await db.execute("UPDATE changes_trimmed SET through = greatest(through, %s)", (seq - KEEP_CHANGES,))


async def _lock_live_prompt(db: Connection, name: str) -> tuple[int, int]:
    row = await _fetchone(
        db, "SELECT p.id, p.latest_version FROM prompts p WHERE " + _LIVE + " FOR UPDATE", {"name": name}
    )
    if row is None:
        raise _prompt_not_found(name)
    return int(row[0]), int(row[1])


async def _insert_version(
    db: Connection, prompt_id: int, version: int, draft: VersionDraft, now: str
) -> None:
    await db.execute(INSERT_VERSION, version_row(prompt_id, version, draft, now))
    for label in draft.labels:
        await _upsert_label(db, prompt_id, label, version, now)


async def _read_version_in(db: Connection, name: str, version: int) -> PromptVersion:
    cursor = await db.execute(_GET_VERSION.encode(), {"name": name, "version": version})
    return _found_version(await cursor.fetchall(), name, version=version, label=None)


async def _upsert_label(db: Connection, prompt_id: int, label: str, version: int, now: str) -> None:
    await db.execute(
        "INSERT INTO labels (prompt_id, label, version, updated_at) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (prompt_id, label)"
        " DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
        (prompt_id, label, version, now),
    )


async def _replace_tags(db: Connection, prompt_id: int, tags: Iterable[str]) -> None:
    await db.execute("DELETE FROM prompt_tags WHERE prompt_id = %s", (prompt_id,))
    unique = sorted(set(tags))
    if unique:
        await db.execute(
            "INSERT INTO prompt_tags (tag, prompt_id) SELECT unnest(%s::text[]), %s", (unique, prompt_id)
        )


async def _fetchone(db: Connection, sql: str, params: dict[str, Any] | tuple[Any, ...]) -> Row | None:
    cursor = await db.execute(sql.encode(), params)
    return await cursor.fetchone()


INSERT_VERSION = (
    "INSERT INTO versions (prompt_id, version, type, template, messages, config, variables,"
    " commit_message, created_at, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def version_row(prompt_id: int, version: int, draft: VersionDraft, now: str) -> tuple[Any, ...]:
    """The ``versions`` row of a draft (also for bulk builders such as the scale benchmark's)."""
    messages = (
        json.dumps([m.model_dump() for m in draft.messages or []], ensure_ascii=False)
        if draft.type == "chat"
        else None
    )
    return (
        prompt_id,
        version,
        draft.type,
        draft.template if draft.type == "text" else None,
        messages,
        json.dumps(draft.config, ensure_ascii=False),
        json.dumps([v.model_dump(exclude_none=True) for v in draft.variables], ensure_ascii=False),
        draft.commit_message,
        now,
        draft.created_by,
    )


# -- rows to models ----------------------------------------------------------------------------------


def _found_version(rows: list[Row], name: str, *, version: int | None, label: str | None) -> PromptVersion:
    if not rows:
        raise _prompt_not_found(name)
    row = rows[0]
    if row[4] is None:
        if label is not None and label != LATEST:
            raise NotFoundError(f"prompt {name!r} has no label {label!r}", label=label)
        raise NotFoundError(
            f"prompt {name!r} has no version {version} (versions 1 to {row[3]})", version=version
        )
    return _version_from_row(row)


def _summary_from_row(row: Row) -> PromptSummary:
    _, name, description, type_, latest, tags, variables, updated_at, archived_at, labels = row
    return PromptSummary(
        name=name,
        description=description,
        type=type_,
        latest_version=latest,
        tags=tags,
        variables=variables,
        updated_at=_timestamp(updated_at),
        archived=archived_at is not None,
        labels=labels or {},
    )


def _version_from_row(row: Row) -> PromptVersion:
    (
        name,
        description,
        tags,
        latest,
        version,
        type_,
        template,
        messages,
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
        tags=tags,
        latest_version=latest,
        version=version,
        type=type_,
        template=template if type_ == "text" else None,
        messages=[Message(**m) for m in messages] if type_ == "chat" else None,
        config=config,
        variables=[Variable(**v) for v in variables],
        commit_message=commit,
        created_at=_timestamp(created_at),
        created_by=by,
        labels=list(labels),
        source="store",
    )


def _timestamp(value: datetime) -> str:
    """As ``utc_now`` writes them: ISO 8601, UTC, milliseconds, ``Z``."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check_storable(draft: VersionDraft, meta: PromptMeta | None) -> None:
    """PostgreSQL's text cannot hold the NUL character (JSON columns keep it escaped): refuse it clearly
    rather than fail inside the write."""
    texts = {
        "template": draft.template,
        "commit_message": draft.commit_message,
        "created_by": draft.created_by,
        "description": meta.description if meta else None,
    }
    texts.update({f"tags[{index}]": tag for index, tag in enumerate(meta.tags if meta else [])})
    for field, text in texts.items():
        if text is not None and "\x00" in text:
            raise InvalidArgumentError(
                f"{field} holds a NUL character (\\u0000), which PostgreSQL text cannot store",
                argument=field.split("[")[0],
            )


def _exists(name: str, latest: int) -> ConflictError:
    return ConflictError(
        f"a prompt named {name!r} already exists (latest version {latest}); "
        "publish a new version with update_prompt instead",
        current_version=latest,
    )


def _prompt_not_found(name: str) -> NotFoundError:
    return NotFoundError(f"no prompt named {name!r}", name=name)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
