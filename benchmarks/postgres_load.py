"""Loading a PostgreSQL store fast for the benchmarks: the rows of a SQLite store, ``COPY``-ed across.

``bench_scale.build_bulk`` writes exactly the rows ``SQLiteStore`` would have written for its deterministic
prompts (``tests/test_benchmarks.py`` checks that row for row). The PostgreSQL store's tables have the same
names and columns (``promptshelf.backends.postgres_schema``), so the same data reaches PostgreSQL as one
``COPY`` per table of those rows: the schema is created by the store's own migrations first, and each
column is converted to the PostgreSQL column's type (JSON text to ``jsonb``, 0/1 to ``boolean``, a JSON
list to an array). Identity and serial columns are moved past the largest id copied.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
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


def _converter(data_type: str) -> Callable[[Any], Any]:
    if data_type == "ARRAY":
        return lambda value: json.loads(value) if isinstance(value, str) else value
    if data_type == "boolean":
        return lambda value: None if value is None else bool(value)
    return lambda value: value


def _rows(source: sqlite3.Connection, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    cursor = source.execute(f"SELECT {', '.join(columns)} FROM {table}")
    while batch := cursor.fetchmany(BATCH):
        yield from batch


def copy_sqlite_rows(sqlite_path: Path, url: str) -> dict[str, int]:
    """Every row of every table both stores have, SQLite to PostgreSQL; returns rows copied per table."""
    copied: dict[str, int] = {}
    with closing(sqlite3.connect(sqlite_path)) as source, psycopg.connect(url) as target:
        tables = [
            row[0]
            for row in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row[0].startswith("sqlite_")
        ]
        for table in tables:
            pg_columns = dict(
                target.execute(
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = %s",
                    (table,),
                ).fetchall()
            )
            if not pg_columns:
                continue
            columns = [
                row[1] for row in source.execute(f"PRAGMA table_info({table})") if row[1] in pg_columns
            ]
            convert = [_converter(pg_columns[column]) for column in columns]
            count = 0
            with target.cursor() as cursor:
                cursor.execute(f"TRUNCATE {table} CASCADE")
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in _rows(source, table, columns):
                        copy.write_row([fix(value) for fix, value in zip(convert, row, strict=True)])
                        count += 1
            copied[table] = count
            _advance_sequences(target, table)
        target.execute("ANALYZE")
        target.commit()
    return copied


def _advance_sequences(target: psycopg.Connection[Any], table: str) -> None:
    """An identity or serial column continues after the largest value copied."""
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
