"""The PostgreSQL store beyond the contract suite: migrations, concurrency, search index, change log,
NOTIFY, passwords, and PostgreSQL going away, all on the throwaway test cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import psycopg
import pytest

from promptshelf.backends.cursors import encode_cursor
from promptshelf.backends.postgres import SEARCH_PLANNER, PostgresStore, listing_sql, record_change
from promptshelf.backends.postgres_schema import CURRENT_SCHEMA_VERSION
from promptshelf.errors import ConflictError, InvalidArgumentError, NotFoundError, UnavailableError
from promptshelf.model import PromptMeta, PromptQuery, VersionDraft
from tests.support.postgres_cluster import PostgresCluster, free_port

pytestmark = pytest.mark.anyio


def text(template: str, **fields: Any) -> VersionDraft:
    return VersionDraft(type="text", template=template, **fields)


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    opened = await PostgresStore.open(postgres_url, pool_timeout=3)
    try:
        yield opened
    finally:
        await opened.aclose()


async def query(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
        cursor = await db.execute(sql.encode(), params)
        return await cursor.fetchall() if cursor.description else []


async def eventually(check: Any, what: str, attempts: int = 300) -> Any:
    """Poll ``check`` (async, returns a truthy value when done) a bounded number of times."""
    for _ in range(attempts):
        if result := await check():
            return result
        await anyio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


# -- migrations ------------------------------------------------------------------------------------


async def test_stores_opening_a_fresh_database_together_migrate_it_once(postgres_url: str) -> None:
    stores: list[PostgresStore] = []

    async def open_one() -> None:
        stores.append(await PostgresStore.open(postgres_url))

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(open_one)
    try:
        assert len(stores) == 6
        applied = await query(postgres_url, "SELECT version FROM schema_migrations ORDER BY version")
        assert applied == [(number,) for number in range(1, CURRENT_SCHEMA_VERSION + 1)]
        await stores[0].create_prompt("shared", PromptMeta(), text("hi"))
        assert (await stores[5].get_version("shared")).template == "hi"
    finally:
        for opened in stores:
            await opened.aclose()


async def test_a_database_from_a_newer_promptshelf_is_refused(postgres_url: str) -> None:
    await (await PostgresStore.open(postgres_url)).aclose()  # creates the schema
    await query(
        postgres_url, "INSERT INTO schema_migrations (version) VALUES (%s)", (CURRENT_SCHEMA_VERSION + 7,)
    )
    with pytest.raises(UnavailableError, match=rf"schema version {CURRENT_SCHEMA_VERSION + 7}, newer than"):
        await PostgresStore.open(postgres_url)


async def test_a_user_who_may_not_create_the_extension_is_told_what_to_run(
    postgres_cluster: PostgresCluster, postgres_url: str
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    postgres_cluster.create_role(f"{database}_limited")
    postgres_cluster.sql(f'GRANT CREATE ON SCHEMA public TO "{database}_limited"', database)
    limited = postgres_cluster.url(database, user=f"{database}_limited")
    with pytest.raises(UnavailableError) as refused:
        await PostgresStore.open(limited)
    assert "pg_trgm" in refused.value.message
    assert f'psql -d {database} -c "CREATE EXTENSION IF NOT EXISTS pg_trgm"' in refused.value.message
    assert await query(postgres_url, "SELECT to_regclass('prompts')") == [(None,)]  # nothing half-made

    postgres_cluster.sql("CREATE EXTENSION pg_trgm", database)  # what the message says to run
    opened = await PostgresStore.open(limited)
    await opened.create_prompt("works", PromptMeta(), text("now"))
    await opened.aclose()


# -- writes ----------------------------------------------------------------------------------------


async def test_writers_on_separate_stores_never_lose_or_duplicate_a_version(postgres_url: str) -> None:
    stores = [await PostgresStore.open(postgres_url) for _ in range(3)]
    await stores[0].create_prompt("contested", PromptMeta(), text("v1"))
    published: list[int] = []
    conflicts = 0

    async def writer(index: int) -> None:
        nonlocal conflicts
        mine = stores[index % len(stores)]
        for _ in range(8):
            latest = (await mine.get_summary("contested")).latest_version
            try:
                published.append((await mine.publish_version("contested", latest, text(f"w{index}"))).version)
            except ConflictError as exc:
                assert exc.current_version is not None and exc.current_version > latest
                conflicts += 1

    try:
        async with anyio.create_task_group() as group:
            for index in range(6):
                group.start_soon(writer, index)
        latest = (await stores[1].get_summary("contested")).latest_version
        assert sorted(published) == list(range(2, latest + 1))  # contiguous, each written once
        assert len(published) + conflicts == 48
        history = await stores[2].list_versions("contested", before_version=None, limit=100)
        assert [v.version for v in history.versions] == list(range(latest, 0, -1))
    finally:
        for opened in stores:
            await opened.aclose()


async def test_concurrent_creates_of_one_name_on_separate_stores_make_one_prompt(postgres_url: str) -> None:
    stores = [await PostgresStore.open(postgres_url) for _ in range(4)]
    outcomes: list[str] = []

    async def create(index: int) -> None:
        try:
            await stores[index].create_prompt("unique-name", PromptMeta(), text(f"by {index}"))
            outcomes.append("created")
        except ConflictError as exc:
            assert exc.current_version == 1
            outcomes.append("conflict")

    try:
        async with anyio.create_task_group() as group:
            for index in range(4):
                group.start_soon(create, index)
        assert sorted(outcomes) == ["conflict", "conflict", "conflict", "created"]
        assert await query(postgres_url, "SELECT count(*) FROM prompts") == [(1,)]
    finally:
        for opened in stores:
            await opened.aclose()


async def test_archiving_keeps_every_row(store: PostgresStore, postgres_url: str) -> None:
    await store.create_prompt("kept", PromptMeta(tags=["t"]), text("v1", labels=["staging"]))
    await store.publish_version("kept", 1, text("v2"))
    await store.archive_prompt("kept")
    await store.create_prompt("kept", PromptMeta(), text("reborn"))
    rows = await query(
        postgres_url,
        "SELECT p.archived_at IS NOT NULL, v.version, v.template FROM prompts p"
        " JOIN versions v ON v.prompt_id = p.id ORDER BY p.id, v.version",
    )
    assert rows == [(True, 1, "v1"), (True, 2, "v2"), (False, 1, "reborn")]
    assert await query(postgres_url, "SELECT label, version FROM labels") == [("staging", 1)]
    listed = await store.list_prompts(PromptQuery(include_archived=True))
    assert [(p.name, p.archived, p.latest_version) for p in listed.prompts] == [
        ("kept", True, 2),
        ("kept", False, 1),
    ]


async def test_a_nul_character_is_refused_clearly_and_nothing_is_written(store: PostgresStore) -> None:
    with pytest.raises(InvalidArgumentError, match=r"template holds a NUL character"):
        await store.create_prompt("nul", PromptMeta(), text("a\x00b"))
    with pytest.raises(InvalidArgumentError, match=r"description holds a NUL"):
        await store.create_prompt("nul", PromptMeta(description="\x00"), text("ok"))
    with pytest.raises(NotFoundError):
        await store.get_version("nul")
    # JSON columns keep it escaped: config and chat messages may hold it.
    created = await store.create_prompt("nul", PromptMeta(), text("ok", config={"stop": "\x00"}))
    assert created.config == {"stop": "\x00"}


async def test_a_nul_in_a_tag_filter_or_a_cursor_is_answered_not_a_crash(store: PostgresStore) -> None:
    await store.create_prompt("tagged", PromptMeta(tags=["t"]), text("x"))
    assert (await store.list_prompts(PromptQuery(tag="t\x00"))).prompts == []
    with pytest.raises(InvalidArgumentError, match="invalid cursor"):
        await store.list_prompts(PromptQuery(after=encode_cursor("a\x00b", 1)))


async def test_config_keeps_its_key_order(store: PostgresStore) -> None:
    config = {"zeta": 1, "alpha": {"y": 2, "b": 3}, "mid": [1.5, "x"]}
    await store.create_prompt("ordered", PromptMeta(), text("x", config=config))
    read = (await store.get_version("ordered")).config
    assert list(read) == ["zeta", "alpha", "mid"] and list(read["alpha"]) == ["y", "b"]


# -- search ----------------------------------------------------------------------------------------


async def test_search_is_served_by_the_trigram_indexes(store: PostgresStore, postgres_url: str) -> None:
    # The 100,000 prompts of the scale target, named as teams name them: a rare term ("summarize-1234",
    # 2 matches) must be looked up in the trigram indexes, not by reading every row.
    await query(
        postgres_url,
        "INSERT INTO prompts (name, description, latest_version, type, variable_names, created_at,"
        " updated_at) SELECT 'team-' || (g % 50) || '/' ||"
        " (ARRAY['summarize', 'classify', 'extract', 'translate', 'review'])[1 + g % 5] || '-' || g,"
        " 'A prompt that does thing ' || g, 1, 'text', '[]', now(), now() FROM generate_series(1, 100000) g",
    )
    await query(postgres_url, "ANALYZE prompts")
    rare = PromptQuery(search="summarize-1234")
    sql, params = listing_sql(rare)
    async with await psycopg.AsyncConnection.connect(postgres_url) as db:  # as the store runs a search
        await db.execute(SEARCH_PLANNER.encode())
        plan = "\n".join(
            row[0] for row in await (await db.execute(b"EXPLAIN " + sql.encode(), params)).fetchall()
        )
    assert "prompts_name_trgm" in plan and "prompts_description_trgm" in plan, plan
    assert "Seq Scan on prompts" not in plan, plan

    async def index_scans() -> int:
        rows = await query(
            postgres_url, "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'prompts_name_trgm'"
        )
        return int(rows[0][0])

    before = await index_scans()
    found = await store.list_prompts(rare)
    assert [p.name for p in found.prompts] == ["team-40/summarize-12340", "team-45/summarize-12345"]

    async def used() -> bool:  # the server publishes its counters within a second or so
        return await index_scans() > before

    await eventually(used, "the store's own search used the trigram index")
    common = await store.list_prompts(PromptQuery(search="summarize", limit=3))
    assert [p.name for p in common.prompts] == [
        "team-0/summarize-100",
        "team-0/summarize-1000",
        "team-0/summarize-10000",
    ]


# -- change log and notifications -------------------------------------------------------------------


async def test_change_log_numbers_follow_commit_order(store: PostgresStore, postgres_url: str) -> None:
    # A write that took its change number but has not committed yet must hold back every later number,
    # or a poller could read the later one, move its token past the earlier one, and miss it for good.
    await store.create_prompt("fast", PromptMeta(), text("x"))
    start = (await store.poll_changes(None)).token
    async with await psycopg.AsyncConnection.connect(postgres_url) as slow:
        await record_change(slow, "slow", "2026-01-01T00:00:00.000Z")  # open transaction, not committed
        labelled = anyio.Event()

        async def label() -> None:
            await store.set_label("fast", "staging", 1)
            labelled.set()

        async with anyio.create_task_group() as group:
            group.start_soon(label)

            async def waiting_or_done() -> bool:
                rows = await query(
                    postgres_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                )
                return rows[0][0] > 0 or labelled.is_set()

            await eventually(waiting_or_done, "the second write waits for the change log (or is done)")
            meanwhile = await store.poll_changes(start)
            assert meanwhile.names == frozenset()
            await slow.commit()
    after = await store.poll_changes(meanwhile.token)
    assert after.names == frozenset({"slow", "fast"})


async def test_a_poller_behind_the_trimmed_log_is_told_to_reread(
    store: PostgresStore, postgres_url: str
) -> None:
    await store.create_prompt("one", PromptMeta(), text("x"))
    token = (await store.poll_changes(None)).token
    await store.set_label("one", "staging", 1)
    await query(postgres_url, "UPDATE changes_trimmed SET through = (SELECT max(seq) FROM changes)")
    assert (await store.poll_changes(token)).names is None
    with pytest.raises(InvalidArgumentError, match="invalid change token"):
        await store.poll_changes("not-a-number")


async def test_a_write_through_another_store_wakes_wait_for_change(
    store: PostgresStore, postgres_url: str
) -> None:
    other = await PostgresStore.open(postgres_url)
    try:
        await store.wait_for_change(0)  # starts listening
        await eventually(lambda: listener_pids(postgres_url), "the store listens")
        await store.wait_for_change(0)  # takes the wake-up that listening began with
        token = (await store.poll_changes(None)).token
        await other.create_prompt("from-elsewhere", PromptMeta(), text("x"))
        with anyio.fail_after(30):  # a hang guard: NOTIFY wakes it long before its own timeout
            await store.wait_for_change(3600)
        assert (await store.poll_changes(token)).names == frozenset({"from-elsewhere"})
    finally:
        await other.aclose()


async def test_a_killed_listening_connection_is_replaced_and_no_change_is_missed(
    store: PostgresStore, postgres_url: str
) -> None:
    await store.wait_for_change(0)
    (old_pid,) = await eventually(lambda: listener_pids(postgres_url), "the store listens")
    token = (await store.poll_changes(None)).token
    await query(postgres_url, "SELECT pg_terminate_backend(%s)", (old_pid,))
    await store.create_prompt("while-away", PromptMeta(), text("x"))  # may come before it listens again
    with anyio.fail_after(30):
        await store.wait_for_change(3600)  # woken by the loss, or by listening again

    async def replaced() -> list[int]:
        pids = await listener_pids(postgres_url)
        return pids if pids and old_pid not in pids else []

    await eventually(replaced, "a new listening connection")
    changes = await store.poll_changes(token)
    assert changes.names == frozenset({"while-away"})
    await store.wait_for_change(0)
    await store.create_prompt("after", PromptMeta(), text("x"))
    with anyio.fail_after(30):
        await store.wait_for_change(3600)
    assert (await store.poll_changes(changes.token)).names == frozenset({"after"})


async def listener_pids(url: str) -> list[int]:
    rows = await query(
        url,
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'promptshelf-listen'"
        " AND datname = current_database() AND query LIKE 'LISTEN%%'",
    )
    return [row[0] for row in rows]


# -- PostgreSQL going away -------------------------------------------------------------------------


async def test_requests_while_postgres_is_down_are_unavailable_and_the_store_recovers(
    postgres_cluster: PostgresCluster, postgres_url: str
) -> None:
    store = await PostgresStore.open(postgres_url, pool_timeout=1)
    await store.create_prompt("survivor", PromptMeta(), text("v1"))
    postgres_cluster.stop()
    try:
        with pytest.raises(UnavailableError, match=r"PostgreSQL at postgres@127\.0\.0\.1:\d+/test_\w+ is"):
            await store.get_version("survivor")
        with pytest.raises(UnavailableError):
            await store.publish_version("survivor", 1, text("v2"))
    finally:
        postgres_cluster.start()

    async def answers() -> bool:
        try:
            return (await store.get_version("survivor")).template == "v1"
        except UnavailableError:
            return False

    try:
        assert await eventually(answers, "the store answers again", attempts=600)
        assert (await store.publish_version("survivor", 1, text("v2"))).version == 2
    finally:
        await store.aclose()


async def test_a_restart_between_requests_is_not_noticed(
    postgres_cluster: PostgresCluster, postgres_url: str
) -> None:
    opened = await PostgresStore.open(postgres_url, pool_min_size=3)
    try:
        await opened.create_prompt("steady", PromptMeta(), text("v1"))
        postgres_cluster.restart()
        # Every pooled connection is dead now: the first request finds one, the pool drops the others.
        assert (await opened.get_version("steady")).version == 1
        assert (await opened.publish_version("steady", 1, text("v2"))).version == 2
        postgres_cluster.restart()
        # A write that meets a dead connection before COMMIT is retried whole on a fresh one.
        assert (await opened.publish_version("steady", 2, text("v3"))).version == 3
        history = await opened.list_versions("steady", before_version=None, limit=10)
        assert [v.version for v in history.versions] == [3, 2, 1]
    finally:
        await opened.aclose()


async def test_a_connection_lost_at_commit_is_reported_as_an_unknown_outcome(
    store: PostgresStore, postgres_url: str
) -> None:
    await store.create_prompt("fragile", PromptMeta(), text("v1"))
    # A trigger that runs at COMMIT and kills its own connection: the client never hears the outcome.
    await query(
        postgres_url,
        "CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$;"
        " CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON changes"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION die()",
    )
    with pytest.raises(UnavailableError, match="may or may not have been applied: read the prompt"):
        await store.publish_version("fragile", 1, text("v2"))
    await query(postgres_url, "DROP TRIGGER die_at_commit ON changes")
    latest = (await store.get_summary("fragile")).latest_version  # not retried: written at most once
    assert latest == 1
    assert (await store.publish_version("fragile", latest, text("v2"))).version == 2


async def test_opening_with_postgres_down_is_a_clear_error() -> None:
    url = f"postgresql://someone:hunter2-secret@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(UnavailableError) as refused:
        await PostgresStore.open(url, pool_timeout=2)
    assert "someone@127.0.0.1" in refused.value.message and "hunter2" not in refused.value.message
