"""The PostHog store for the contract suite: a fresh fake PostHog on 127.0.0.1, reached over real HTTP.

Every request the store sends and every answer the fake gives is checked against PostHog's own schemas
(``tests/contracts/posthog/``); a violation fails the test when the store closes. The store is the one
``open_posthog_store`` builds (PostHog store behind the read cache, with a TTL long
enough that the cache really serves reads), so the contract suite also proves that writes invalidate what
they touch. Retries back off in milliseconds so fault tests stay fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from promptshelf.backends.cache import CachingStore
from promptshelf.backends.posthog import PostHogStore
from tests.contracts.posthog_contract import PostHogContract
from tests.fakes.posthog import FakePostHog, run_fake_posthog

FAST_RETRIES: dict[str, Any] = {"backoff_base": 0.005, "max_backoff": 0.5, "timeout": 5.0, "jitter": False}


@asynccontextmanager
async def open_posthog(
    fake: FakePostHog | None = None, *, ttl: float = 30.0, **http_options: Any
) -> AsyncIterator[tuple[CachingStore, FakePostHog]]:
    """A cached PostHog store and the fake behind it (the fake's publish quota off unless given)."""
    fake = fake if fake is not None else FakePostHog(publish_limit=None)
    contract = PostHogContract()
    if not fake.legacy and fake.observer is None:  # an older server's shapes are not today's contract
        fake.observer = contract.observe
    with run_fake_posthog(fake) as url:
        inner = await PostHogStore.connect(
            host=url, project_id=fake.project_id, api_key=fake.api_key, **{**FAST_RETRIES, **http_options}
        )
        store = CachingStore(inner, ttl=ttl)
        try:
            yield store, fake
        finally:
            await store.aclose()
        contract.assert_clean()


@asynccontextmanager
async def open_store(tmp_path: Path) -> AsyncIterator[CachingStore]:
    async with open_posthog() as (store, _):
        yield store
