"""A read cache in front of any Store (used for the vendor backends).

Every read is cached under a tuple key ``(kind, name, detail)``:

- fresh for ``ttl`` seconds (served with ``source="cache"``);
- then, for ``stale_while_revalidate`` more seconds, still served at once while one background task
  refreshes it;
- then refreshed before answering; if the upstream is unavailable, the old entry is served with
  ``source="stale"`` (for at most ``max_stale`` seconds past its TTL; ``None``: no limit);
- one upstream call per key at a time, however many callers wait for it (single flight);
- pinned versions (a version number) are immutable, so their content is kept with no TTL; what can change
  about them (labels, latest version, description, tags) is overlaid from the prompt's summary, itself
  cached with the TTL;
- a write invalidates exactly the keys of the prompt it touched, plus every listing; a refresh that was
  already running when the write happened does not store its (older) answer;
- ``poll_changes`` passes through and invalidates the prompts it reports.

A not-found answer evicts the entry; forbidden or invalid-argument answers are never masked by a cached
one. The clock is injected (monotonic seconds) so tests control time without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from promptshelf.backends.base import Changes, PromptPage, Store, VersionPage
from promptshelf.errors import NotFoundError, UnavailableError
from promptshelf.model import LATEST, PromptMeta, PromptQuery, PromptSummary, PromptVersion, VersionDraft

logger = logging.getLogger("promptshelf.cache")

T = TypeVar("T")
Key = tuple[str, str, Any]
"""``(kind, prompt name or "" for listings, detail)``."""
Freshness = Literal["upstream", "cache", "stale"]

MAX_MARKED = 4096
_LISTING = "list"
_PINNED = "pinned"


@dataclass(slots=True)
class _Entry:
    value: Any
    fetched_at: float


class CachingStore:
    def __init__(
        self,
        inner: Store,
        *,
        ttl: float,
        stale_while_revalidate: float | None = None,
        max_stale: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.ttl = ttl
        self.stale_while_revalidate = ttl if stale_while_revalidate is None else stale_while_revalidate
        self.max_stale = max_stale
        self._clock = clock
        self._entries: dict[Key, _Entry] = {}
        self._flights: dict[Key, asyncio.Future[Any]] = {}
        self._generations: dict[str, int] = {}
        """Per prompt name ("" for listings): bumped by each invalidation of that scope."""
        self._epoch = 0
        """Bumped by ``invalidate_all``."""
        self._background: set[asyncio.Task[None]] = set()
        self._marked: dict[tuple[int, Freshness], tuple[PromptVersion, PromptVersion]] = {}
        """Copies of cached versions marked with their source, made once per cached object."""

    # -- reads ---------------------------------------------------------------------------------------

    async def list_prompts(self, query: PromptQuery) -> PromptPage:
        key: Key = (_LISTING, "", query.model_dump_json())
        page, _ = await self._read(key, lambda: self.inner.list_prompts(query))
        return page

    async def get_summary(self, name: str) -> PromptSummary:
        summary, _ = await self._read(("summary", name, None), lambda: self.inner.get_summary(name))
        return summary

    async def get_version(
        self, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptVersion:
        if version is None:
            label_key = None if label in (None, LATEST) else label
            found, freshness = await self._read(
                ("version", name, label_key), lambda: self.inner.get_version(name, label=label_key)
            )
            self._keep_pinned(found)
            return self._marked_copy(found, freshness)
        # Label and version together are the service's error to report; pass them through unchanged.
        if label is not None:
            return await self.inner.get_version(name, version=version, label=label)
        content, content_freshness = await self._read(
            (_PINNED, name, version), lambda: self.inner.get_version(name, version=version), ttl=None
        )
        summary, summary_freshness = await self._read(
            ("summary", name, None), lambda: self.inner.get_summary(name)
        )
        overlaid = content.model_copy(
            update={
                "labels": sorted(label for label, at in summary.labels.items() if at == version),
                "latest_version": max(summary.latest_version, version),
                "description": summary.description,
                "tags": summary.tags,
            }
        )
        return _with_source(overlaid, _combine(content_freshness, summary_freshness))

    async def list_versions(self, name: str, *, before_version: int | None, limit: int) -> VersionPage:
        page, _ = await self._read(
            ("versions", name, (before_version, limit)),
            lambda: self.inner.list_versions(name, before_version=before_version, limit=limit),
        )
        return page

    def sdk_warnings(self, draft: VersionDraft) -> list[str]:
        return self.inner.sdk_warnings(draft)

    async def wait_for_change(self, timeout: float) -> None:  # noqa: ASYNC109 (a wait, not a deadline)
        await self.inner.wait_for_change(timeout)

    async def poll_changes(self, since: str | None) -> Changes:
        changes = await self.inner.poll_changes(since)
        if changes.names is None:
            self.invalidate_all()
        else:
            for name in changes.names:
                self.invalidate(name, pinned=True)
        return changes

    # -- writes: always invalidate, even on failure (a failed write may still have been applied) ----

    async def create_prompt(self, name: str, meta: PromptMeta, draft: VersionDraft) -> PromptVersion:
        try:
            created = await self.inner.create_prompt(name, meta, draft)
        finally:
            # Pinned too: an archived prompt of the same name had its own version 1.
            self.invalidate(name, pinned=True)
        self._keep_pinned(created)
        return created

    async def publish_version(
        self, name: str, base_version: int, draft: VersionDraft, meta: PromptMeta | None = None
    ) -> PromptVersion:
        try:
            published = await self.inner.publish_version(name, base_version, draft, meta)
        finally:
            self.invalidate(name)
        self._keep_pinned(published)
        return published

    async def set_label(self, name: str, label: str, version: int) -> int | None:
        try:
            return await self.inner.set_label(name, label, version)
        finally:
            self.invalidate(name)

    async def remove_label(self, name: str, label: str) -> int:
        try:
            return await self.inner.remove_label(name, label)
        finally:
            self.invalidate(name)

    async def archive_prompt(self, name: str) -> int:
        try:
            return await self.inner.archive_prompt(name)
        finally:
            self.invalidate(name, pinned=True)

    async def wait_for_refreshes(self) -> None:
        """Return once the background refreshes under way have finished (for tests and shutdown)."""
        await asyncio.gather(*self._background, return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.inner.aclose()

    # -- invalidation --------------------------------------------------------------------------------

    def invalidate(self, name: str, *, pinned: bool = False) -> None:
        """Drop every cached read of ``name`` (its pinned versions only if ``pinned``) and every listing."""
        self._drop(lambda key: (key[1] == name and (pinned or key[0] != _PINNED)) or key[0] == _LISTING)
        self._bump(name)
        self._bump("")

    def invalidate_all(self) -> None:
        self._drop(lambda key: True)
        self._epoch += 1

    def _drop(self, matches: Callable[[Key], bool]) -> None:
        for key in [key for key in self._entries if matches(key)]:
            del self._entries[key]
        # Callers arriving after a write must not join a fetch that started before it.
        for key in [key for key in self._flights if matches(key)]:
            del self._flights[key]

    def _bump(self, scope: str) -> None:
        self._generations[scope] = self._generations.get(scope, 0) + 1

    # -- the read path -------------------------------------------------------------------------------

    async def _read(
        self,
        key: Key,
        fetch: Callable[[], Awaitable[T]],
        *,
        ttl: float | Literal["default"] | None = "default",
    ) -> tuple[T, Freshness]:
        lifetime = self.ttl if ttl == "default" else ttl
        entry = self._entries.get(key)
        if entry is not None:
            age = self._clock() - entry.fetched_at
            if lifetime is None or age < lifetime:
                return entry.value, "cache"
            if age < lifetime + self.stale_while_revalidate:
                self._refresh_in_background(key, fetch)
                return entry.value, "cache"
        try:
            value: T = await self._fetch_once(key, fetch)
        except UnavailableError as exc:
            entry = self._entries.get(key)
            if entry is None or not self._may_serve_stale(entry, lifetime):
                raise
            logger.warning("serving a stale %s answer for %s: %s", self.kind, key[:2], exc.message)
            return entry.value, "stale"
        return value, "upstream"

    def _may_serve_stale(self, entry: _Entry, lifetime: float | None) -> bool:
        if self.max_stale is None or lifetime is None:
            return True
        return self._clock() - entry.fetched_at < lifetime + self.max_stale

    async def _fetch_once(self, key: Key, fetch: Callable[[], Awaitable[T]]) -> T:
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._fetch_and_store(key, fetch))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._land(key, done))
        # Shielded: one caller giving up (cancelled) must not cancel the fetch the others wait on.
        result: T = await asyncio.shield(flight)
        return result

    def _land(self, key: Key, flight: asyncio.Future[Any]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved here so an error nobody awaited is not reported as lost

    async def _fetch_and_store(self, key: Key, fetch: Callable[[], Awaitable[T]]) -> T:
        generation = self._generation_of(key)
        try:
            value = await fetch()
        except NotFoundError:
            if self._generation_of(key) == generation:
                self._entries.pop(key, None)
            raise
        # A write (or poll) since the fetch began makes this answer possibly older than the write.
        if self._generation_of(key) == generation:
            self._entries[key] = _Entry(value, self._clock())
        return value

    def _generation_of(self, key: Key) -> tuple[int, int]:
        return self._generations.get(key[1], 0), self._epoch

    def _refresh_in_background(self, key: Key, fetch: Callable[[], Awaitable[Any]]) -> None:
        if key in self._flights:
            return

        async def refresh() -> None:
            try:
                await self._fetch_once(key, fetch)
            except Exception as exc:  # kept: the next read past the window retries or serves stale
                logger.warning("background refresh of %s %s failed: %s", self.kind, key[:2], exc)

        task = asyncio.ensure_future(refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _marked_copy(self, version: PromptVersion, freshness: Freshness) -> PromptVersion:
        """``version`` with ``source`` set; a warm read returns the same copy instead of making another.

        The memo holds the original, so its ``id`` cannot be reused while the memo entry lives."""
        if freshness == "upstream":
            return version
        key = (id(version), freshness)
        memo = self._marked.get(key)
        if memo is not None and memo[0] is version:
            return memo[1]
        if len(self._marked) >= MAX_MARKED:
            self._marked.clear()
        marked = _with_source(version, freshness)
        self._marked[key] = (version, marked)
        return marked

    def _keep_pinned(self, version: PromptVersion) -> None:
        """Versions are immutable: whatever read or write produced one, its content can serve pins."""
        key: Key = (_PINNED, version.name, version.version)
        if key not in self._entries:
            self._entries[key] = _Entry(version, self._clock())


def _with_source(version: PromptVersion, freshness: Freshness) -> PromptVersion:
    if freshness == "upstream":
        return version
    return version.model_copy(update={"source": freshness})


def _combine(*parts: Freshness) -> Freshness:
    if "stale" in parts:
        return "stale"
    if "upstream" in parts:
        return "upstream"
    return "cache"
