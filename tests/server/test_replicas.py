"""Replicas (issue 10): several ``promptshelf serve --transport http`` processes on one PostgreSQL database.

- a write through one replica is read, at once, through every other (no replica serves an older version
  than one another replica acknowledged);
- a client subscribed on one replica hears writes made through another and by the ``promptshelf`` CLI,
  in both protocol eras. The replicas look for changes by polling only every 60 s here, so a test
  that hears a change within its few-second deadline heard it through LISTEN/NOTIFY;
- a replica whose LISTEN connection is killed (``pg_terminate_backend``) still delivers the next change.

The replicas are started once for the module; each test works on prompts of its own names.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from mcp.client.subscriptions import PromptsListChanged, ResourceUpdated

from tests.server.conftest import MODERN, Received, open_client, unique
from tests.support.mcp_http import ModernHttp
from tests.support.postgres_cluster import PostgresCluster
from tests.support.replicas import ReplicaSet, clean_env, fresh_database

pytestmark = [pytest.mark.filterwarnings("ignore:resources/subscribe is removed")]

NOTIFY_DEADLINE = 5.0
"""How long a test waits for a notification: far below the 60 s poll, far above LISTEN/NOTIFY's delay."""


@pytest.fixture(scope="module")
def database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with fresh_database(postgres_cluster) as url:
        yield url


@pytest.fixture(scope="module")
def replicas(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaSet]:
    store = ["--backend", "postgres", "--database-url", database]
    with ReplicaSet(tmp_path_factory.mktemp("replicas"), store, "--poll-interval", "60") as replica_set:
        replica_set.start(3)
        yield replica_set


def cli(database: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``promptshelf ARGS`` against the replicas' database, as a teammate's terminal would run it."""
    env = clean_env({"PROMPTSHELF_BACKEND": "postgres", "PROMPTSHELF_DATABASE_URL": database})
    return subprocess.run(
        [sys.executable, "-m", "promptshelf", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_a_write_through_one_replica_is_read_at_once_through_every_other(replicas: ReplicaSet) -> None:
    name = unique("ryw")
    clients = [ModernHttp(replica.url) for replica in replicas]
    try:
        clients[0].tool("create_prompt", name=name, template="v1 {{x}}")
        for version in range(2, 12):
            writer = clients[version % len(clients)]
            written = writer.tool(
                "update_prompt", name=name, base_version=version - 1, template=f"v{version}"
            )
            assert written["version"] == version
            for reader in clients:
                read = reader.tool("get_prompt", name=name)
                assert (read["version"], read["template"]) == (version, f"v{version}")
                assert reader.tool("list_prompts", search=name)["prompts"][0]["latest_version"] == version
                document = reader.call("resources/read", {"uri": f"prompt://{name}"})
                assert json.loads(document["result"]["contents"][0]["text"])["version"] == version
        label = clients[1].tool("set_prompt_label", name=name, label="staging", version=3)
        assert label["version"] == 3
        for reader in clients:
            assert reader.tool("get_prompt", name=name, label="staging")["version"] == 3
        clients[2].tool("archive_prompt", name=name)
        for reader in clients:
            assert reader.tool("list_prompts", search=name)["prompts"] == []
    finally:
        for client in clients:
            client.close()


@pytest.mark.anyio
async def test_a_handshake_subscriber_hears_writes_through_another_replica_and_the_cli(
    replicas: ReplicaSet, database: str
) -> None:
    name = unique("sub")
    uri = f"prompt://{name}"
    received = Received()
    writer = ModernHttp(replicas[0].url)
    try:
        async with open_client("2025-11-25", "http", url=replicas[1].url, received=received) as client:
            await client.list_prompts()
            writer.tool("create_prompt", name=name, template="v1 {{x}}")
            await received.wait_for("notifications/prompts/list_changed", within=NOTIFY_DEADLINE)
            await received.wait_for("notifications/resources/list_changed", within=NOTIFY_DEADLINE)
            await client.session.subscribe_resource(uri)  # type: ignore[attr-defined,unused-ignore]

            writer.tool("update_prompt", name=name, base_version=1, template="v2 {{x}}")
            await received.wait_for("notifications/resources/updated", uri=uri, within=NOTIFY_DEADLINE)

            received.messages.clear()
            published = await anyio.to_thread.run_sync(
                lambda: cli(database, "publish", name, "--base-version", "2", stdin="v3 from the CLI {{x}}")
            )
            assert published.returncode == 0, published.stderr
            await received.wait_for("notifications/resources/updated", uri=uri, within=NOTIFY_DEADLINE)
            read = await client.read_resource(uri)
            assert "v3 from the CLI" in read.contents[0].text  # type: ignore[union-attr]
    finally:
        writer.close()


@pytest.mark.anyio
async def test_a_modern_listener_hears_writes_through_another_replica_and_the_cli(
    replicas: ReplicaSet, database: str
) -> None:
    name = unique("listen")
    uri = f"prompt://{name}"
    writer = ModernHttp(replicas[2].url)
    try:
        writer.tool("create_prompt", name=name, template="v1")
        async with (
            open_client(MODERN, "http", url=replicas[0].url) as client,
            client.listen(
                prompts_list_changed=True, resources_list_changed=True, resource_subscriptions=[uri]
            ) as subscription,
        ):
            events: list[Any] = []

            async def hear(expected: Any) -> None:
                with anyio.fail_after(NOTIFY_DEADLINE):
                    async for event in subscription:
                        events.append(event)
                        if event == expected:
                            return
                raise AssertionError(f"the stream ended before {expected}; it carried {events}")

            await anyio.to_thread.run_sync(
                lambda: writer.tool("update_prompt", name=name, base_version=1, template="v2")
            )
            await hear(ResourceUpdated(uri=uri))
            other = unique("listen")
            created = await anyio.to_thread.run_sync(lambda: cli(database, "publish", other, stdin="new"))
            assert created.returncode == 0, created.stderr
            await hear(PromptsListChanged())
    finally:
        writer.close()


def listening_backends(cluster: PostgresCluster, database: str) -> list[str]:
    """The server processes of ``database`` whose connection is waiting in LISTEN."""
    name = database.rsplit("/", 1)[1]
    rows = cluster.sql(
        "SELECT pid FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()"
    )
    return rows.split()


@pytest.mark.anyio
async def test_a_replica_whose_listen_connection_is_killed_still_delivers_the_next_change(
    replicas: ReplicaSet, database: str, postgres_cluster: PostgresCluster
) -> None:
    name = unique("relisten")
    uri = f"prompt://{name}"
    writer = ModernHttp(replicas[0].url)
    received = Received()
    try:
        writer.tool("create_prompt", name=name, template="v1")
        async with open_client("2025-11-25", "http", url=replicas[1].url, received=received) as client:
            await client.session.subscribe_resource(uri)  # type: ignore[attr-defined,unused-ignore]
            pids = listening_backends(postgres_cluster, database)
            assert len(pids) >= len(replicas), f"expected a LISTEN connection per replica, found {pids}"
            for pid in pids:
                postgres_cluster.sql(f"SELECT pg_terminate_backend({pid})")
            # At once, before any replica could have listened again: the change must not be missed.
            writer.tool("update_prompt", name=name, base_version=1, template="v2")
            await received.wait_for("notifications/resources/updated", uri=uri, within=NOTIFY_DEADLINE)
            # And the replica listens again: a later change arrives the same way.
            received.messages.clear()
            writer.tool("update_prompt", name=name, base_version=2, template="v3")
            await received.wait_for("notifications/resources/updated", uri=uri, within=NOTIFY_DEADLINE)
    finally:
        writer.close()
