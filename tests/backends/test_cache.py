"""The read cache in front of a store: freshness, staleness, single flight, pins and invalidation.

The store behind the cache is a real SQLite store; ``Upstream`` only counts the calls that reach it,
and can make them fail or wait, as a vendor would. Time is an injected clock: no sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from promptshelf.backends.base import Changes, PromptPage, VersionPage
from promptshelf.backends.cache import CachingStore
from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.errors import ForbiddenError, NotFoundError, UnavailableError
from promptshelf.model import PromptMeta, PromptQuery, PromptSummary, PromptVersion, VersionDraft

pytestmark = pytest.mark.anyio


class Upstream:
    """A store that forwards to SQLite, counting reads; ``failure`` makes every call raise it."""

    kind = "fake-vendor"

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner = inner
        self.reads: dict[str, int] = {}
        self.failure: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.answered: asyncio.Event | None = None
        """When set, a version read fetches its answer, sets ``answered``, then waits for ``gate``."""

    async def _before(self, what: str) -> None:
        self.reads[what] = self.reads.get(what, 0) + 1
        if self.gate is not None and self.answered is None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure

    async def list_prompts(self, query: PromptQuery) -> PromptPage:
        await self._before("list")
        return await self.inner.list_prompts(query)

    async def get_summary(self, name: str) -> PromptSummary:
        await self._before("summary")
        return await self.inner.get_summary(name)

    async def get_version(
        self, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptVersion:
        answered = self.answered
        await self._before("version")
        found = await self.inner.get_version(name, version=version, label=label)
        if answered is not None:
            answered.set()
            assert self.gate is not None
            await self.gate.wait()
        return found.model_copy(update={"source": "upstream"})

    async def list_versions(self, name: str, *, before_version: int | None, limit: int) -> VersionPage:
        await self._before("versions")
        return await self.inner.list_versions(name, before_version=before_version, limit=limit)

    async def poll_changes(self, since: str | None) -> Changes:
        return await self.inner.poll_changes(since)

    async def wait_for_change(self, timeout: float) -> None:  # noqa: ASYNC109
        await self.inner.wait_for_change(timeout)

    async def create_prompt(self, name: str, meta: PromptMeta, draft: VersionDraft) -> PromptVersion:
        return await self.inner.create_prompt(name, meta, draft)

    async def publish_version(
        self, name: str, base_version: int, draft: VersionDraft, meta: PromptMeta | None = None
    ) -> PromptVersion:
        return await self.inner.publish_version(name, base_version, draft, meta)

    async def set_label(self, name: str, label: str, version: int) -> int | None:
        return await self.inner.set_label(name, label, version)

    async def remove_label(self, name: str, label: str) -> int:
        return await self.inner.remove_label(name, label)

    async def archive_prompt(self, name: str) -> int:
        return await self.inner.archive_prompt(name)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def text(template: str, **fields: Any) -> VersionDraft:
    return VersionDraft(type="text", template=template, **fields)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[CachingStore, Upstream, Clock]]:
    upstream = Upstream(await SQLiteStore.open(tmp_path / "cache.db"))
    clock = Clock()
    cache = CachingStore(upstream, ttl=10, stale_while_revalidate=5, max_stale=100, clock=clock)
    await cache.create_prompt("chat", PromptMeta(description="the chat one"), text("v1 {{x}}"))
    await cache.create_prompt("chat-summary", PromptMeta(), text("summary v1"))
    yield cache, upstream, clock
    await cache.aclose()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_fresh_entry_is_served_from_cache(setup: tuple[CachingStore, Upstream, Clock]) -> None:
    cache, upstream, clock = setup
    first = await cache.get_version("chat")
    clock.now = 9.9
    second = await cache.get_version("chat")
    assert first.source == "upstream" and second.source == "cache"
    assert second.template == "v1 {{x}}"
    assert upstream.reads["version"] == 1


async def test_stale_while_revalidate_answers_at_once_and_refreshes_once(
    setup: tuple[CachingStore, Upstream, Clock],
) -> None:
    cache, upstream, clock = setup
    await cache.get_version("chat")
    # Another writer changes the prompt behind the cache's back.
    await upstream.inner.publish_version("chat", 1, text("v2"))
    clock.now = 12
    served = await asyncio.gather(*(cache.get_version("chat") for _ in range(10)))
    assert {v.version for v in served} == {1} and {v.source for v in served} == {"cache"}
    await cache.wait_for_refreshes()
    assert upstream.reads["version"] == 2
    assert (await cache.get_version("chat")).version == 2


async def test_unavailable_upstream_serves_stale_marked_stale(
    setup: tuple[CachingStore, Upstream, Clock],
) -> None:
    cache, upstream, clock = setup
    await cache.get_version("chat")
    await cache.list_prompts(PromptQuery())
    upstream.failure = UnavailableError("vendor down")
    clock.now = 50
    stale = await cache.get_version("chat")
    assert stale.source == "stale" and stale.template == "v1 {{x}}"
    assert len((await cache.list_prompts(PromptQuery())).prompts) == 2
    # Nothing cached for this one: the failure is the answer.
    with pytest.raises(UnavailableError):
        await cache.get_version("chat-summary")
    # Past max_stale the cache stops vouching for the entry.
    clock.now = 200
    with pytest.raises(UnavailableError):
        await cache.get_version("chat")


async def test_errors_other_than_unavailable_are_never_masked(
    setup: tuple[CachingStore, Upstream, Clock],
) -> None:
    cache, upstream, clock = setup
    await cache.get_version("chat")
    upstream.failure = ForbiddenError("key revoked")
    clock.now = 50
    with pytest.raises(ForbiddenError):
        await cache.get_version("chat")


async def test_concurrent_identical_reads_make_one_upstream_call(
    setup: tuple[CachingStore, Upstream, Clock],
) -> None:
    cache, upstream, _ = setup
    upstream.gate = asyncio.Event()
    readers = [asyncio.ensure_future(cache.get_version("chat")) for _ in range(200)]
    await settle()
    upstream.gate.set()
    results = await asyncio.gather(*readers)
    assert upstream.reads["version"] == 1
    assert {r.version for r in results} == {1}


async def test_a_cancelled_reader_does_not_cancel_the_shared_fetch(
    setup: tuple[CachingStore, Upstream, Clock],
) -> None:
    cache, upstream, _ = setup
    upstream.gate = asyncio.Event()
    first = asyncio.ensure_future(cache.get_version("chat"))
    second = asyncio.ensure_future(cache.get_version("chat"))
    await settle()
    first.cancel()
    upstream.gate.set()
    assert (await second).version == 1
    assert upstream.reads["version"] == 1


async def test_pinned_versions_outlive_the_ttl_but_labels_stay_current(
    setup: tuple[CachingStore, Upstream, Clock],
) -> None:
    cache, upstream, clock = setup
    await cache.publish_version("chat", 1, text("v2"))
    pinned = await cache.get_version("chat", version=1)
    assert pinned.latest_version == 2 and pinned.labels == []
    version_reads = upstream.reads.get("version", 0)
    clock.now = 1000
    await cache.set_label("chat", "production", 1)
    again = await cache.get_version("chat", version=1)
    assert again.template == "v1 {{x}}" and again.labels == ["production"]
    assert again.description == "the chat one"
    assert upstream.reads.get("version", 0) == version_reads  # content never re-read


async def test_writes_invalidate_exactly_the_prompt_they_touch(
    setup: tuple[CachingStore, Upstream, Clock],
) -> None:
    cache, upstream, _ = setup
    await cache.get_version("chat")
    await cache.get_version("chat-summary")
    await cache.list_prompts(PromptQuery())
    reads = dict(upstream.reads)
    published = await cache.publish_version("chat", 1, text("v2"))
    assert (await cache.get_version("chat")).version == 2
    assert (await cache.get_version("chat-summary")).source == "cache"  # "chat" is not a prefix match
    assert [p.latest_version for p in (await cache.list_prompts(PromptQuery())).prompts] == [2, 1]
    assert upstream.reads["version"] == reads["version"] + 1
    assert upstream.reads["list"] == reads["list"] + 1
    # The version just written is served from cache when pinned.
    assert (await cache.get_version("chat", version=2)).template == published.template


async def test_a_fetch_started_before_a_write_does_not_cache_the_old_answer(
    setup: tuple[CachingStore, Upstream, Clock],
) -> None:
    cache, upstream, _ = setup
    upstream.gate = asyncio.Event()
    before_write = asyncio.ensure_future(cache.get_version("chat"))
    await settle()
    upstream.gate.set()
    upstream.gate = None
    await cache.publish_version("chat", 1, text("v2"))
    await before_write
    assert (await cache.get_version("chat")).version == 2


async def test_an_answer_read_before_a_write_but_landing_after_it_is_not_cached(
    setup: tuple[CachingStore, Upstream, Clock],
) -> None:
    cache, upstream, clock = setup
    upstream.gate, upstream.answered = asyncio.Event(), asyncio.Event()
    before_write = asyncio.ensure_future(cache.get_version("chat"))
    await upstream.answered.wait()  # the vendor has answered version 1; the cache has not stored it yet
    upstream.answered = None
    await cache.publish_version("chat", 1, text("v2"))
    upstream.gate.set()
    assert (await before_write).version == 1  # it was asked before the write: v1 is a right answer
    clock.now = 9  # within the TTL, where a stored v1 would still be served
    after_write = await cache.get_version("chat")
    assert (after_write.version, after_write.source) == (2, "upstream")


async def test_archive_drops_pinned_versions_and_not_found_evicts(
    setup: tuple[CachingStore, Upstream, Clock],
) -> None:
    cache, _, _ = setup
    assert (await cache.get_version("chat", version=1)).template == "v1 {{x}}"
    await cache.archive_prompt("chat")
    with pytest.raises(NotFoundError):
        await cache.get_version("chat", version=1)
    await cache.create_prompt("chat", PromptMeta(), text("reborn"))
    assert (await cache.get_version("chat", version=1)).template == "reborn"


async def test_failed_writes_still_invalidate(setup: tuple[CachingStore, Upstream, Clock]) -> None:
    cache, upstream, _ = setup
    await cache.get_version("chat")
    await upstream.inner.publish_version("chat", 1, text("v2 elsewhere"))
    with pytest.raises(Exception, match="changed since"):
        await cache.publish_version("chat", 1, text("mine"))
    assert (await cache.get_version("chat")).template == "v2 elsewhere"


async def test_poll_changes_invalidates_what_changed_elsewhere(
    setup: tuple[CachingStore, Upstream, Clock],
) -> None:
    cache, upstream, _ = setup
    token = (await cache.poll_changes(None)).token
    await cache.get_version("chat")
    await cache.get_version("chat-summary")
    await upstream.inner.publish_version("chat", 1, text("v2 elsewhere"))
    changes = await cache.poll_changes(token)
    assert changes.names == frozenset({"chat"})
    assert (await cache.get_version("chat")).template == "v2 elsewhere"
    assert (await cache.get_version("chat-summary")).source == "cache"
