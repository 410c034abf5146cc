"""The ``store`` fixture: every contract test runs once per backend.

Each backend kind has a module ``tests/support/<kind>_store.py`` with an async context manager
``open_store(tmp_path)`` that yields a ready, empty Store (the vendor ones backed by their fake server
on 127.0.0.1); PostgreSQL's takes the URL of a fresh database in the test cluster instead.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from promptshelf.backends.base import Store

STORE_KINDS = ("sqlite", "postgres", "posthog", "statsig")


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    support = importlib.import_module(f"tests.support.{request.param}_store")
    where = request.getfixturevalue("postgres_url") if request.param == "postgres" else tmp_path
    async with support.open_store(where) as opened:
        yield opened
