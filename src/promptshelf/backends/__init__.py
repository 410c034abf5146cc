"""Backends: one Store protocol (``base``) and its implementations, chosen by settings."""

from __future__ import annotations

from promptshelf.backends.base import Changes, PromptPage, Store, VersionPage
from promptshelf.settings import Settings

__all__ = ["Changes", "PromptPage", "Store", "VersionPage", "open_store"]


async def open_store(settings: Settings) -> Store:
    """The store the settings name, opened and ready; the caller closes it with ``aclose()``."""
    if settings.backend == "posthog":
        from promptshelf.backends.posthog import open_posthog_store

        return await open_posthog_store(settings)
    if settings.backend == "postgres":
        from promptshelf.backends.postgres import PostgresStore

        return await PostgresStore.from_settings(settings)
    if settings.backend == "statsig":
        from promptshelf.backends.statsig import open_statsig_store

        return await open_statsig_store(settings)
    from promptshelf.backends.sqlite import SQLiteStore

    return await SQLiteStore.open(settings.db)
