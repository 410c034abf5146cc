"""Fixtures shared by every test: the async backend, and a throwaway PostgreSQL cluster.

- ``postgres_cluster``: one cluster for the whole run (``tests/support/postgres_cluster.py``), created on
  first use; tests that stop or restart it must leave it running.
- ``postgres_url``: a ``postgresql://`` URL to a fresh, empty database of its own for each test, dropped
  afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

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
