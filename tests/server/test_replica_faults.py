"""Races and faults with replicas on one PostgreSQL database (issue 10, "Races and faults").

- 8 processes publish one prompt with ``base_version`` through two replicas for 10 seconds: versions are
  contiguous, every acknowledged version holds what its writer sent, every loser hears ``conflict`` and
  nothing else fails;
- a replica killed with SIGKILL while clients publish through it loses no acknowledged version;
- PostgreSQL stopped under serving replicas: requests answer ``unavailable`` promptly (no crash, no hang);
  once it is back the replicas serve again and deliver change notifications, without being restarted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.server.conftest import Received, open_client, unique
from tests.support.mcp_http import ModernHttp, ToolError
from tests.support.postgres_cluster import PostgresCluster
from tests.support.replicas import ReplicaSet, fresh_database, wait_healthy

pytestmark = [pytest.mark.filterwarnings("ignore:resources/subscribe is removed")]

ROOT = Path(__file__).resolve().parents[2]
WRITERS = 8
RACE_SECONDS = 10
OUTAGE_TIMEOUT = 20.0
"""An answer during the outage must come within this (the pool's connect timeout is far below it)."""


@pytest.fixture(scope="module")
def database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with fresh_database(postgres_cluster) as url:
        yield url


@pytest.fixture(scope="module")
def replicas(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaSet]:
    store = ["--backend", "postgres", "--database-url", database]
    # A short pool timeout: during the outage each request waits that long for a connection, then answers.
    with ReplicaSet(
        tmp_path_factory.mktemp("replicas"), store, "--poll-interval", "60", "--pool-timeout", "1"
    ) as replica_set:
        replica_set.start(2)
        yield replica_set


def history(client: ModernHttp, name: str) -> dict[int, str | None]:
    """Every version of the prompt and its commit message (through the service, a page at a time)."""
    messages: dict[int, str | None] = {}
    before: int | None = None
    while True:
        arguments: dict[str, object] = {"name": name, "limit": 100}
        if before is not None:
            arguments["before_version"] = before
        page = client.tool("list_prompt_versions", **arguments)
        messages.update({row["version"]: row.get("commit_message") for row in page["versions"]})
        if not page["has_more"]:
            return dict(sorted(messages.items()))
        before = page["versions"][-1]["version"]


def assert_stored(
    client: ModernHttp, name: str, stored: dict[int, str | None], acknowledged: dict[int, str]
) -> None:
    """Each acknowledged version holds what its writer sent (writers repeat the template as the commit
    message, so the history pages show it; a few templates are read in full as well)."""
    wrong = {v: (stored.get(v), sent) for v, sent in acknowledged.items() if stored.get(v) != sent}
    assert not wrong, f"versions holding something else than their writer was told: {wrong}"
    for version in sorted(acknowledged)[:: max(1, len(acknowledged) // 10)]:
        assert client.tool("get_prompt", name=name, version=version)["template"] == acknowledged[version]


def test_eight_processes_publishing_with_base_version_lose_nothing(replicas: ReplicaSet) -> None:
    name = unique("race")
    reader = ModernHttp(replicas[0].url, timeout=30)
    reader.tool("create_prompt", name=name, template="the first version")
    urls = [replica.url for replica in replicas]
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.publisher",
                "--worker",
                str(worker),
                "--name",
                name,
                "--seconds",
                str(RACE_SECONDS),
                *(urls[worker % len(urls) :] + urls[: worker % len(urls)]),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(WRITERS)
    ]
    outcomes: list[dict[str, object]] = []
    for writer in writers:
        out, err = writer.communicate(timeout=RACE_SECONDS + 90)
        assert writer.returncode == 0, err
        outcomes += [json.loads(line) for line in out.splitlines()]

    errors = [outcome["error"] for outcome in outcomes if "error" in outcome]
    assert not errors, errors[:10]
    acknowledged: dict[int, str] = {}
    for outcome in outcomes:
        if "ok" in outcome:
            version = int(str(outcome["ok"]))
            assert version not in acknowledged, f"v{version} acknowledged twice"
            acknowledged[version] = str(outcome["template"])
    conflicts = sum(1 for outcome in outcomes if "conflict" in outcome)
    assert conflicts > 0, "the writers never raced: the test proved nothing"
    print(f"{WRITERS} writers, {RACE_SECONDS} s: {len(acknowledged)} versions written, {conflicts} conflicts")
    stored = history(reader, name)
    assert list(stored) == list(range(1, len(acknowledged) + 2)), "versions lost, duplicated or skipped"
    assert_stored(reader, name, stored, acknowledged)
    reader.close()


def test_a_replica_killed_mid_write_loses_no_acknowledged_version(replicas: ReplicaSet) -> None:
    victim = replicas.spawn()
    wait_healthy([victim])
    name = unique("kill")
    reader = ModernHttp(replicas[0].url, timeout=30)
    reader.tool("create_prompt", name=name, template="the first version")
    acknowledged: dict[int, str] = {}
    unexpected: list[str] = []
    lock = threading.Lock()

    def publish(worker: int) -> None:
        client = ModernHttp(victim.url, timeout=30)
        base, attempt = 1, 0
        try:
            while True:
                attempt += 1
                template = f"writer {worker} attempt {attempt}"
                try:
                    written = client.tool(
                        "update_prompt",
                        name=name,
                        base_version=base,
                        template=template,
                        commit_message=template,
                    )
                except ToolError as exc:
                    if exc.code != "conflict":
                        with lock:
                            unexpected.append(str(exc))
                        return
                    base = int(exc.error["current_version"])
                    continue
                except (httpx.HTTPError, RuntimeError):
                    return  # the replica is gone: what it did not answer was never acknowledged
                base = int(written["version"])
                with lock:
                    acknowledged[base] = template
        finally:
            client.close()

    threads = [threading.Thread(target=publish, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 30 and time.monotonic() < deadline and not unexpected:
        time.sleep(0.01)
    replicas.kill(victim)
    for thread in threads:
        thread.join(60)
    assert not unexpected, unexpected
    assert len(acknowledged) >= 30, "the writers did not get going"
    stored = history(reader, name)
    assert list(stored) == list(range(1, len(stored) + 1)), "the history has a gap"
    # A write may commit and die before it is answered: at most one per writer is stored unacknowledged.
    assert len(acknowledged) + 1 <= len(stored) <= len(acknowledged) + 1 + len(threads)
    print(f"killed: {len(acknowledged)} versions acknowledged, {len(stored) - 1} stored")
    assert_stored(reader, name, stored, acknowledged)
    reader.close()


def outage_answers(replica_url: str, name: str) -> list[str]:
    """What a client hears from a replica while PostgreSQL is down: one error code per kind of request."""
    heard = []
    with ModernHttp(replica_url, timeout=OUTAGE_TIMEOUT) as client:
        for tool, arguments in (
            ("get_prompt", {"name": name}),
            ("list_prompts", {}),
            ("update_prompt", {"name": name, "base_version": 1, "template": "during the outage"}),
        ):
            try:
                client.tool(tool, **arguments)
                heard.append(f"{tool}: answered")
            except ToolError as exc:
                heard.append(f"{tool}: {exc.code}")
        for method, params in (
            ("prompts/get", {"name": name, "arguments": {}}),
            ("resources/read", {"uri": f"prompt://{name}"}),
        ):
            answer = client.call(method, params)
            heard.append(f"{method}: {answer.get('error', {}).get('data', {}).get('code', answer)}")
    return heard


@pytest.mark.anyio
async def test_replicas_answer_unavailable_while_postgresql_is_down_and_recover_by_themselves(
    replicas: ReplicaSet, postgres_cluster: PostgresCluster
) -> None:
    name = unique("outage")
    uri = f"prompt://{name}"
    writer = ModernHttp(replicas[0].url, timeout=OUTAGE_TIMEOUT)
    writer.tool("create_prompt", name=name, template="before")
    received = Received()
    async with open_client("2025-11-25", "http", url=replicas[1].url, received=received) as client:
        await client.session.subscribe_resource(uri)  # type: ignore[attr-defined,unused-ignore]
        await anyio.to_thread.run_sync(postgres_cluster.stop)
        try:
            for replica in replicas:
                heard = await anyio.to_thread.run_sync(outage_answers, replica.url, name)
                assert heard == [
                    "get_prompt: unavailable",
                    "list_prompts: unavailable",
                    "update_prompt: unavailable",
                    "prompts/get: unavailable",
                    "resources/read: unavailable",
                ], f"{replica.name}: {heard}"
                assert replica.alive and replica.healthy()
        finally:
            await anyio.to_thread.run_sync(postgres_cluster.start)

        async def served_again(replica_url: str) -> None:
            with ModernHttp(replica_url, timeout=OUTAGE_TIMEOUT) as probe, anyio.fail_after(30):
                while True:
                    try:
                        await anyio.to_thread.run_sync(lambda: probe.tool("get_prompt", name=name))
                        return
                    except ToolError as exc:
                        assert exc.code == "unavailable", exc
                    await anyio.sleep(0.2)

        for replica in replicas:
            await served_again(replica.url)
        # Writes go through again, and the other replica's subscriber hears of them (it listens again).
        written = await anyio.to_thread.run_sync(
            lambda: writer.tool("update_prompt", name=name, base_version=1, template="after")
        )
        assert written["version"] == 2
        await received.wait_for("notifications/resources/updated", uri=uri, within=10)
    writer.close()
    assert all(replica.alive for replica in replicas)
