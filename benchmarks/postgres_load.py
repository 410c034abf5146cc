"""Loading a PostgreSQL store fast for the benchmarks: the rows of a SQLite store, ``COPY``-ed across.

``bench_scale.build_bulk`` writes exactly the rows ``SQLiteStore`` would have written for its deterministic
prompts (``tests/test_benchmarks.py`` checks that row for row). The PostgreSQL store's tables have the same
names and columns (``promptshelf.backends.postgres_schema``) but one: a version's ``body`` (the template,
or the messages as JSON) is ``template`` or ``messages`` there, with the same JSON text. So the same data
reaches PostgreSQL as one ``COPY`` per table: the schema is created by the store's own migrations first,
identity columns are moved past the largest id copied, and the change log's trimmed mark is set where
SQLite's log starts, as the store would have trimmed it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg

from promptshelf.backends import open_store
from promptshelf.settings import Settings

BATCH = 50_000


async def create_schema(url: str) -> None:
    store = await open_store(Settings(backend="postgres", database_url=url))
    await store.aclose()


TABLES = ("prompts", "versions", "labels", "prompt_tags", "changes")
"""In the order their foreign keys need."""


def _rows(source: sqlite3.Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    cursor = source.execute(sql)
    while batch := cursor.fetchmany(BATCH):
        yield from batch


def _source(source: sqlite3.Connection, table: str, pg_columns: set[str]) -> tuple[list[str], str]:
    """The PostgreSQL columns to fill and the SQLite query giving their values, in that order."""
    sqlite_columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
    columns = [column for column in sqlite_columns if column in pg_columns]
    expressions = list(columns)
    if table == "versions":
        columns += ["template", "messages"]
        expressions += [
            "CASE WHEN type = 'text' THEN body END",
            "CASE WHEN type = 'chat' THEN body END",
        ]
    return columns, f"SELECT {', '.join(expressions)} FROM {table}"


def copy_sqlite_rows(sqlite_path: Path, url: str) -> dict[str, int]:
    """Every row of the SQLite store, into the (freshly migrated) PostgreSQL store; rows per table."""
    copied: dict[str, int] = {}
    with closing(sqlite3.connect(sqlite_path)) as source, psycopg.connect(url) as target:
        target.execute(f"TRUNCATE {', '.join(TABLES)}")
        for table in TABLES:
            pg_columns = {
                row[0]
                for row in target.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = %s",
                    (table,),
                ).fetchall()
            }
            columns, query = _source(source, table, pg_columns)
            count = 0
            with (
                target.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in _rows(source, query):
                    copy.write_row(row)
                    count += 1
            copied[table] = count
            _advance_identity(target, table)
        first = source.execute("SELECT min(seq) FROM changes").fetchone()
        target.execute("UPDATE changes_trimmed SET through = %s", (max(0, (first[0] or 1) - 1),))
        target.commit()
        target.autocommit = True
        target.execute("VACUUM ANALYZE")
    return copied


def _advance_identity(target: psycopg.Connection[Any], table: str) -> None:
    """An identity column continues after the largest value copied."""
    rows = target.execute(
        "SELECT column_name, pg_get_serial_sequence(%s, column_name) FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s",
        (table, table),
    ).fetchall()
    for column, sequence in rows:
        if sequence:
            target.execute(
                f"SELECT setval(%s, GREATEST((SELECT max({column}) FROM {table}), 1))", (sequence,)
            )


async def build_postgres(url: str, sqlite_path: Path) -> dict[str, int]:
    """The PostgreSQL store at ``url`` holding what the SQLite store at ``sqlite_path`` holds."""
    import anyio

    await create_schema(url)
    return await anyio.to_thread.run_sync(copy_sqlite_rows, sqlite_path, url)
