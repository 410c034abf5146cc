"""The SQLite schema as numbered migrations, applied on open, each in one transaction with its record.

Add a migration by appending to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from promptshelf.errors import UnavailableError
from promptshelf.model import utc_now

MIGRATIONS: Final[list[tuple[int, str]]] = [
    (
        1,
        """
        -- One row per incarnation of a name: archiving keeps the row, and the name may be created again.
        CREATE TABLE prompts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            latest_version INTEGER NOT NULL,
            type TEXT NOT NULL,            -- of the latest version, for listings
            variable_names TEXT NOT NULL,  -- of the latest version, for listings
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            archived_at TEXT
        );
        CREATE UNIQUE INDEX prompts_live_name ON prompts (name) WHERE archived_at IS NULL;
        CREATE INDEX prompts_by_name ON prompts (name, id);

        CREATE TABLE versions (
            prompt_id INTEGER NOT NULL REFERENCES prompts (id),
            version INTEGER NOT NULL,
            type TEXT NOT NULL,
            body TEXT NOT NULL,            -- the template, or the messages as JSON
            config TEXT NOT NULL,
            variables TEXT NOT NULL,
            commit_message TEXT,
            created_at TEXT NOT NULL,
            created_by TEXT,
            PRIMARY KEY (prompt_id, version)
        ) WITHOUT ROWID;

        CREATE TABLE labels (
            prompt_id INTEGER NOT NULL REFERENCES prompts (id),
            label TEXT NOT NULL,
            version INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (prompt_id, label)
        ) WITHOUT ROWID;
        CREATE INDEX labels_by_label ON labels (label, prompt_id);

        CREATE TABLE prompt_tags (
            tag TEXT NOT NULL,
            prompt_id INTEGER NOT NULL REFERENCES prompts (id),
            PRIMARY KEY (tag, prompt_id)
        ) WITHOUT ROWID;

        -- A change log other processes poll: which prompt changed, in commit order.
        CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            changed_at TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        """
        -- Listings walk prompts in name order. This index holds every column their filters test (archived,
        -- cursor, search on name or description, and the id the tag and label filters join on), so a
        -- search that matches few names reads the index alone instead of fetching every row of the table
        -- at random (100,000 prompts: 75 ms -> 10 ms); the table is read only for the rows of the page.
        -- It supersedes prompts_by_name, its prefix.
        CREATE INDEX prompts_listing ON prompts (name, id, archived_at, description);
        DROP INDEX prompts_by_name;
        """,
    ),
]

CURRENT_SCHEMA_VERSION: Final[int] = MIGRATIONS[-1][0]


def migrate(connection: sqlite3.Connection) -> int:
    """Bring the schema up to date; safe when several processes open a new file at once.

    A file written by a newer promptshelf (a schema version this one does not know) is refused rather
    than written to with an older idea of the schema.
    """
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    found = connection.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    if found is not None and found > CURRENT_SCHEMA_VERSION:
        raise UnavailableError(
            f"its schema version {found} is newer than this promptshelf understands "
            f"(up to {CURRENT_SCHEMA_VERSION}); upgrade promptshelf to open it",
            schema_version=found,
        )
    for number, script in MIGRATIONS:
        connection.execute("BEGIN IMMEDIATE")
        try:
            applied = connection.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (number,)
            ).fetchone()
            if applied is None:
                for statement in _statements(script):
                    connection.execute(statement)
                connection.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (number, utc_now())
                )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    newest = connection.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    return int(newest)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit our transaction)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    return statements
