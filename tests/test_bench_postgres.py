"""``benchmarks/bench_postgres.py`` measures PostgreSQL on the same data as SQLite: its loader (the SQLite
store's rows, ``COPY``-ed into the schema the PostgreSQL store migrated) must give a store that answers
exactly as the SQLite one does, and as one the PostgreSQL store wrote itself goes on (ids, change log)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from benchmarks import bench_scale
from benchmarks.postgres_load import build_postgres

from promptshelf.backends import open_store
from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.service import Policy, PromptService
from promptshelf.settings import Settings
from tests.test_copy import everything

pytestmark = pytest.mark.anyio

PROMPTS = 40
VERSIONS = 3


async def test_the_loaded_postgres_store_answers_as_the_sqlite_one(postgres_url: str, tmp_path: Path) -> None:
    sqlite_path = tmp_path / "bench.db"
    await anyio.to_thread.run_sync(bench_scale.build_bulk, sqlite_path, PROMPTS, VERSIONS)
    copied = await build_postgres(postgres_url, sqlite_path)
    assert copied["prompts"] == PROMPTS and copied["versions"] == PROMPTS * VERSIONS

    lite = PromptService(await SQLiteStore.open(sqlite_path), Policy(trusted=True, actor="bench"))
    postgres = PromptService(
        await open_store(Settings(backend="postgres", database_url=postgres_url)),
        Policy(trusted=True, actor="bench"),
    )
    try:
        expected = await everything(lite)
        assert await everything(postgres) == expected
        assert len(expected) == sum(not bench_scale.is_archived(i) for i in range(PROMPTS))
        archived = bench_scale.prompt_name(13)
        assert (await postgres.list_prompts(search=archived, include_archived=True)).prompts
        for term in (bench_scale.COMMON_SEARCH, bench_scale.rare_search(PROMPTS)):
            found_lite = [p.name for p in (await lite.list_prompts(search=term)).prompts]
            assert [p.name for p in (await postgres.list_prompts(search=term)).prompts] == found_lite
        # The store goes on from the loaded rows: new ids, the change log after the copied one.
        token = (await postgres.poll_changes(None)).token
        await postgres.create_prompt("after/the-load", template="new")
        name = bench_scale.prompt_name(1)
        latest = (await postgres.resolve(name)).version.version
        await postgres.update_prompt(name, base_version=latest, template="newer")
        assert (await postgres.poll_changes(token)).names == {"after/the-load", name}
    finally:
        await lite.store.aclose()
        await postgres.store.aclose()
