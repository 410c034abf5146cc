"""A fresh PostgreSQL store on a database of its own in the test cluster, for the contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from promptshelf.backends.postgres import PostgresStore


@asynccontextmanager
async def open_store(url: str) -> AsyncIterator[PostgresStore]:
    store = await PostgresStore.open(url)
    try:
        yield store
    finally:
        await store.aclose()
