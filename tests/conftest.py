"""Fixtures shared by every test: the async backend and the store each test runs against."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
