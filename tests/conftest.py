"""Fixtures shared by every test: the async backend, and a throwaway PostgreSQL cluster.

- ``postgres_cluster``: one cluster for the whole run (``tests/support/postgres_cluster.py``), created on
  first use; tests that stop or restart it must leave it running.
- ``postgres_url``: a ``postgresql://`` URL to a fresh, empty database of its own for each test, dropped
  afterwards.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from tests.support.postgres_cluster import PostgresCluster


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.create()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    if not postgres_cluster.is_running():  # a fault test that failed half-way must not fail every later one
        postgres_cluster.start()
    database = postgres_cluster.create_database()
    yield postgres_cluster.url(database)
    if not postgres_cluster.is_running():
        postgres_cluster.start()
    postgres_cluster.sql(f'DROP DATABASE "{database}" WITH (FORCE)')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failing test that used server processes (any fixture value with ``failure_report()``, such as
    ``tests.support.replicas.ReplicaSet``) gets their logs in its report."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    for name, value in getattr(item, "funcargs", {}).items():
        for part in value if isinstance(value, tuple) else (value,):
            describe = getattr(part, "failure_report", None)
            if callable(describe):
                text = describe()
                if text:
                    report.sections.append((f"server logs ({name})", text))
