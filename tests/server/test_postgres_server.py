"""The MCP end-to-end tests on PostgreSQL: real ``promptshelf serve --backend postgres`` processes (stdio
and HTTP) on a seeded database of the test cluster, configured the way a deployment would be (the URL in
``PROMPTSHELF_DATABASE_URL``).

The tool tests of ``test_tools.py`` run unchanged against them, in an era per transport. Change
notifications for writes made elsewhere (another process's store on the same database) must arrive
through NOTIFY: the servers poll only once a minute here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.subscriptions import PromptsListChanged, ResourceUpdated

from promptshelf.backends.postgres import PostgresStore
from promptshelf.service import Policy, PromptService
from tests.server import test_tools
from tests.server.conftest import (
    MODERN,
    Connect,
    HttpServer,
    Received,
    open_client,
    seed_store,
    server_env,
    start_http_server,
    unique,
)
from tests.server.test_notifications import subscribe
from tests.support.postgres_cluster import PostgresCluster

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore:resources/subscribe is removed"),
]

SLOW_POLL = ("--poll-interval", "60")
UNUSED_DB = Path("/nonexistent/promptshelf/unused.db")
"""``open_client`` passes ``--db``; a postgres server must never touch it."""

ERA_PER_TRANSPORT = [
    ("2025-11-25", "stdio"),
    ("2026-07-28", "stdio"),
    ("2025-06-18", "http"),
    (MODERN, "http"),
]


@pytest.fixture(scope="module")
def pg_url(postgres_cluster: PostgresCluster) -> str:
    url = postgres_cluster.url(postgres_cluster.create_database())
    anyio.run(_seed, url)
    return url


async def _seed(url: str) -> None:
    await seed_store(await PostgresStore.open(url))


@pytest.fixture(scope="module")
def pg_env(pg_url: str) -> dict[str, str]:
    return server_env(PROMPTSHELF_BACKEND="postgres", PROMPTSHELF_DATABASE_URL=pg_url)


@pytest.fixture(scope="module")
def pg_http_server(pg_env: dict[str, str], module_tmp: Path) -> Iterator[HttpServer]:
    server = start_http_server(UNUSED_DB, module_tmp, *SLOW_POLL, env=pg_env)
    yield server
    server.stop()


@pytest.fixture
def pg_connect(pg_env: dict[str, str], pg_http_server: HttpServer) -> Connect:
    def factory(era: str, transport: str, **options: Any) -> AbstractAsyncContextManager[Client]:
        args = (*SLOW_POLL, *options.pop("args", ()))
        return open_client(
            era, transport, db=UNUSED_DB, url=pg_http_server.url, env=pg_env, args=args, **options
        )

    return factory


@pytest.mark.parametrize(("era", "transport"), ERA_PER_TRANSPORT)
async def test_the_tools_work_on_postgres(pg_connect: Connect, era: str, transport: str) -> None:
    await test_tools.test_read_tools(pg_connect, era, transport)
    await test_tools.test_write_tools(pg_connect, era, transport)
    await test_tools.test_tool_errors_carry_their_code(pg_connect, era, transport)


async def test_a_read_only_postgres_server_hides_write_tools(pg_connect: Connect) -> None:
    await test_tools.test_read_only_server_hides_write_tools(pg_connect, "2025-11-25")


async def write_elsewhere(url: str, name: str, action: str) -> None:
    """A write by another process's store on the same database (a CLI, another replica)."""
    store = await PostgresStore.open(url)
    service = PromptService(store, Policy(trusted=True, actor="other"))
    try:
        if action == "create":
            await service.create_prompt(name, template="v1 {{x}}")
        elif action == "update":
            await service.update_prompt(name, base_version=1, template="v2 {{x}}")
        elif action == "label":
            await service.set_label(name, "staging", 1)
    finally:
        await store.aclose()


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_writes_made_elsewhere_notify_handshake_clients(
    pg_connect: Connect, pg_url: str, transport: str
) -> None:
    received = Received()
    name = unique("pg")
    async with pg_connect("2025-11-25", transport, received=received) as client:
        await client.list_prompts()
        await write_elsewhere(pg_url, name, "create")
        await received.wait_for("notifications/prompts/list_changed", within=10)
        await received.wait_for("notifications/resources/list_changed", within=10)
        uri = f"prompt://{name}"
        label_uri = f"prompt://{name}/labels/staging"
        await subscribe(client, uri)
        await subscribe(client, label_uri)
        await write_elsewhere(pg_url, name, "label")
        await received.wait_for("notifications/resources/updated", uri=label_uri, within=10)
        await write_elsewhere(pg_url, name, "update")
        await received.wait_for("notifications/resources/updated", uri=uri, within=10)


async def test_writes_made_elsewhere_reach_modern_listeners(pg_connect: Connect, pg_url: str) -> None:
    name = unique("pgm")
    uri = f"prompt://{name}"
    await write_elsewhere(pg_url, name, "create")
    async with (
        pg_connect(MODERN, "http") as client,
        client.listen(prompts_list_changed=True, resource_subscriptions=[uri]) as subscription,
    ):
        events: list[Any] = []

        async def collect(until: Any) -> None:
            with anyio.fail_after(10):
                async for event in subscription:
                    events.append(event)
                    if event == until:
                        return
            raise AssertionError(f"the listen stream ended before {until}; it carried {events}")

        await write_elsewhere(pg_url, name, "update")
        await collect(ResourceUpdated(uri=uri))
        await write_elsewhere(pg_url, unique("pgm"), "create")
        await collect(PromptsListChanged())
