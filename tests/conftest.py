"""Fixtures shared by every test: the async backend and the store each test runs against."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failing test that used server processes (any fixture value with ``failure_report()``, such as
    ``tests.support.replicas.ReplicaSet``) gets their logs in its report."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    for name, value in getattr(item, "funcargs", {}).items():
        describe = getattr(value, "failure_report", None)
        if callable(describe):
            text = describe()
            if text:
                report.sections.append((f"server logs ({name})", text))
