"""A ready, empty Statsig store for the contract suite: the real client over real HTTP to the fake.

The fake serves only Statsig's published routes and checks every request and answer against the kept
contract; leaving the block fails if anything did not conform.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from promptshelf.backends.base import Store
from promptshelf.backends.statsig import open_statsig_store
from promptshelf.settings import Settings
from tests.fakes.statsig import FakeStatsig, run_fake_statsig


def statsig_settings(base_url: str, fake: FakeStatsig, **overrides: Any) -> Settings:
    return Settings(
        backend="statsig",
        statsig_api_url=base_url,
        statsig_console_api_key=SecretStr(fake.api_key),
        **overrides,
    )


@asynccontextmanager
async def open_store(tmp_path: Path) -> AsyncIterator[Store]:
    """The store users get (``open_statsig_store``: cached, rate limited) against a fresh fake."""
    fake = FakeStatsig()
    with run_fake_statsig(fake) as base_url:
        store = await open_statsig_store(statsig_settings(base_url, fake))
        try:
            yield store
        finally:
            await store.aclose()
