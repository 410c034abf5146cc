"""The PostgreSQL schema as numbered migrations, applied at start-up under an advisory lock.

Every replica runs ``migrate`` when it opens the store. The first takes the lock and applies what is
missing, all in one transaction (PostgreSQL's DDL is transactional: a failed migration leaves nothing
behind); the others wait on the lock, then find nothing to do. A database whose schema is newer than this
promptshelf knows is refused, never written with an older idea of the schema.

Add a migration by appending to ``MIGRATIONS``; never edit one that has shipped.

Design notes:
- ``name`` and ``label`` are ``COLLATE "C"``: listings order by code point whatever the database's
  locale, as SQLite does, and listing cursors (``(name, id)``) compare the same way the order runs.
- JSON columns are ``json``, not ``jsonb``: they keep the text exactly as written (key order, ``\\u0000``
  escapes), as SQLite does; nothing queries into them.
- Search (``ILIKE`` on name or description) is served by ``pg_trgm`` GIN indexes (a bitmap OR of the two).
- ``changes`` is the change log every replica polls; ``seq`` is handed out under an advisory lock held to
  commit, so it grows in commit order (see ``postgres.record_change``).
"""

from __future__ import annotations

from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors

from promptshelf.errors import UnavailableError

LOCK_CLASS: Final = 0x50534846
"""The first key of promptshelf's advisory locks ('PSHF')."""
MIGRATION_LOCK: Final = 1
CHANGE_LOG_LOCK: Final = 2

MIGRATIONS: Final[list[tuple[int, str]]] = [
    (
        1,
        """
        CREATE EXTENSION IF NOT EXISTS pg_trgm;

        -- One row per incarnation of a name: archiving keeps the row, and the name may be created again.
        CREATE TABLE prompts (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text COLLATE "C" NOT NULL,
            description text,
            tags json NOT NULL DEFAULT '[]',
            latest_version integer NOT NULL CHECK (latest_version >= 1),
            type text NOT NULL,              -- of the latest version, for listings
            variable_names json NOT NULL,    -- of the latest version, for listings
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            archived_at timestamptz
        );
        CREATE UNIQUE INDEX prompts_live_name ON prompts (name) WHERE archived_at IS NULL;
        CREATE INDEX prompts_listing ON prompts (name, id);
        CREATE INDEX prompts_name_trgm ON prompts USING gin (name gin_trgm_ops);
        CREATE INDEX prompts_description_trgm ON prompts USING gin (description gin_trgm_ops);

        CREATE TABLE versions (
            prompt_id bigint NOT NULL REFERENCES prompts (id),
            version integer NOT NULL CHECK (version >= 1),
            type text NOT NULL CHECK (type IN ('text', 'chat')),
            template text,                   -- text prompts
            messages json,                   -- chat prompts
            config json NOT NULL,
            variables json NOT NULL,
            commit_message text,
            created_at timestamptz NOT NULL,
            created_by text,
            PRIMARY KEY (prompt_id, version)
        );

        CREATE TABLE labels (
            prompt_id bigint NOT NULL,
            label text COLLATE "C" NOT NULL,
            version integer NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (prompt_id, label),
            FOREIGN KEY (prompt_id, version) REFERENCES versions (prompt_id, version)
        );
        CREATE INDEX labels_by_label ON labels (label, prompt_id);

        CREATE TABLE prompt_tags (
            tag text NOT NULL,
            prompt_id bigint NOT NULL REFERENCES prompts (id),
            PRIMARY KEY (tag, prompt_id)
        );

        -- The change log replicas poll: which prompt changed, in commit order.
        CREATE TABLE changes (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL,
            changed_at timestamptz NOT NULL
        );
        -- How far the log has been trimmed: a poller whose token is older is told "re-read everything".
        CREATE TABLE changes_trimmed (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            through bigint NOT NULL
        );
        INSERT INTO changes_trimmed (through) VALUES (0);
        """,
    ),
]

CURRENT_SCHEMA_VERSION: Final[int] = MIGRATIONS[-1][0]


async def migrate(connection: psycopg.AsyncConnection[Any], where: str) -> int:
    """Bring the schema up to date (once, however many replicas start together); returns its version."""
    try:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, MIGRATION_LOCK))
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cursor = await connection.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
            row = await cursor.fetchone()
            found = int(row[0]) if row else 0
            if found > CURRENT_SCHEMA_VERSION:
                raise UnavailableError(
                    f"the PostgreSQL database {where} has schema version {found}, newer than this "
                    f"promptshelf understands (up to {CURRENT_SCHEMA_VERSION}); upgrade promptshelf "
                    "to use it",
                    schema_version=found,
                )
            for number, script in MIGRATIONS:
                if number > found:
                    await connection.execute(script.encode())
                    await connection.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (number,))
            return max(found, CURRENT_SCHEMA_VERSION)
    except (pg_errors.InsufficientPrivilege, pg_errors.FeatureNotSupported) as exc:
        raise _explain_refusal(exc, where) from None
    except pg_errors.UndefinedFile as exc:  # the extension's files are not installed
        raise UnavailableError(
            f"the PostgreSQL server of {where} has no pg_trgm extension, which promptshelf's search index "
            f"needs ({exc.diag.message_primary}): install the server's contrib modules "
            "(Debian: apt-get install postgresql-contrib) and start promptshelf again"
        ) from None
    except pg_errors.DuplicateTable as exc:
        raise UnavailableError(
            f"the PostgreSQL database {where} already has tables of another application "
            f"({exc.diag.message_primary}): give promptshelf a database of its own, or a schema of its "
            "own (options=-csearch_path=promptshelf in the URL)"
        ) from None


def _explain_refusal(exc: psycopg.Error, where: str) -> UnavailableError:
    database = where.rsplit("/", 1)[-1]
    detail = exc.diag.message_primary or str(exc)
    if "extension" in detail:
        return UnavailableError(
            f"PostgreSQL refused to create the pg_trgm extension in {where} ({detail}); promptshelf's "
            f"search index needs it. Have the database owner or a superuser run: "
            f'psql -d {database} -c "CREATE EXTENSION IF NOT EXISTS pg_trgm", then start promptshelf again'
        )
    return UnavailableError(
        f"PostgreSQL refused to create promptshelf's tables in {where} ({detail}): the user needs CREATE on "
        "the schema (the database owner can run GRANT CREATE ON SCHEMA public TO <user>)"
    )
