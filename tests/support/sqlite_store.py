"""A fresh SQLite store in a temporary folder, for the contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from promptshelf.backends.sqlite import SQLiteStore


@asynccontextmanager
async def open_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = await SQLiteStore.open(tmp_path / "prompts.db")
    try:
        yield store
    finally:
        await store.aclose()
