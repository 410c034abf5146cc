"""Which PostgreSQL driver for the postgres store: asyncpg or psycopg 3 (with psycopg_pool), measured.

Both run the store's hot queries (resolve a prompt by name for the latest version, by version number,
by label) through a connection pool of the same size, on the same database, in the same run:

- one caller at a time: median and p99 latency per resolve;
- ``--concurrency`` callers at once: resolves per second.

Rounds alternate the drivers; each figure is the median over the rounds. It prints the figures and the
ratios psycopg / asyncpg (latency above 1, or throughput below 1: asyncpg is faster).

Run: ``python benchmarks/bench_pg_driver.py [--database-url postgresql://...] [--lookups 5000]``; without a
URL it starts a throwaway cluster (tests/support/postgres_cluster.py) and removes it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
import psycopg
import psycopg_pool
from tests.support.postgres_cluster import PostgresCluster

SCHEMA = """
CREATE TABLE prompts (
    id bigserial PRIMARY KEY, name text NOT NULL, description text, tags jsonb NOT NULL DEFAULT '[]',
    latest_version int NOT NULL, archived_at timestamptz
);
CREATE UNIQUE INDEX ON prompts (name) WHERE archived_at IS NULL;
CREATE TABLE versions (
    prompt_id bigint NOT NULL REFERENCES prompts (id), version int NOT NULL, type text NOT NULL,
    body text NOT NULL, config jsonb NOT NULL, variables jsonb NOT NULL, commit_message text,
    created_at timestamptz NOT NULL, created_by text, PRIMARY KEY (prompt_id, version)
);
CREATE TABLE labels (
    prompt_id bigint NOT NULL, label text NOT NULL, version int NOT NULL, PRIMARY KEY (prompt_id, label)
);
"""

COLUMNS = """
    p.name, p.description, p.tags::text, p.latest_version, v.version, v.type, v.body, v.config::text,
    v.variables::text, v.commit_message, v.created_at, v.created_by,
    ARRAY(SELECT l2.label FROM labels l2 WHERE l2.prompt_id = p.id AND l2.version = v.version)
"""
QUERIES = {
    "latest": f"SELECT {COLUMNS} FROM prompts p JOIN versions v ON v.prompt_id = p.id"
    " AND v.version = p.latest_version WHERE p.name = $1 AND p.archived_at IS NULL",
    "version": f"SELECT {COLUMNS} FROM prompts p JOIN versions v ON v.prompt_id = p.id AND v.version = $2"
    " WHERE p.name = $1 AND p.archived_at IS NULL",
    "label": f"SELECT {COLUMNS} FROM prompts p JOIN labels l ON l.prompt_id = p.id AND l.label = $2"
    " JOIN versions v ON v.prompt_id = p.id AND v.version = l.version"
    " WHERE p.name = $1 AND p.archived_at IS NULL",
}
POOL_SIZE = 4
VERSIONS = 5


def psycopg_sql(sql: str) -> str:
    for index in (2, 1):
        sql = sql.replace(f"${index}", f"%(a{index})s")
    return sql


async def build(url: str, prompts: int) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(SCHEMA)
        await connection.execute(
            "INSERT INTO prompts (name, description, latest_version)"
            " SELECT 'team/prompt-' || g, 'prompt number ' || g, $1 FROM generate_series(1, $2) g",
            VERSIONS,
            prompts,
        )
        await connection.execute(
            "INSERT INTO versions SELECT p.id, v, 'text', repeat('Hello {{name}} ', 20) || v,"
            ' \'{"model": "gpt-4o", "temperature": 0.2}\', \'[{"name": "name"}]\', \'edit \' || v,'
            " now(), 'bench' FROM prompts p, generate_series(1, $1) v",
            VERSIONS,
        )
        await connection.execute("INSERT INTO labels SELECT id, 'production', 3 FROM prompts")
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


def lookups(prompts: int, count: int) -> list[tuple[str, tuple[Any, ...]]]:
    rng = random.Random(7)
    chosen = []
    for _ in range(count):
        name = f"team/prompt-{rng.randint(1, prompts)}"
        kind = rng.choice(list(QUERIES))
        args: tuple[Any, ...] = (
            (name,)
            if kind == "latest"
            else (name, rng.randint(1, VERSIONS))
            if kind == "version"
            else (name, "production")
        )
        chosen.append((kind, args))
    return chosen


def decode(row: Any) -> None:
    # What the store does with a row: the JSON columns parsed.
    json.loads(row[2])
    json.loads(row[7])
    json.loads(row[8])


Resolve = Callable[[str, tuple[Any, ...]], Awaitable[None]]


async def measure(
    resolve: Resolve, work: list[tuple[str, tuple[Any, ...]]], concurrency: int
) -> dict[str, float]:
    for kind, args in work[:200]:  # warm up: connections open, statements prepared
        await resolve(kind, args)
    latencies = []
    for kind, args in work:
        started = time.perf_counter()
        await resolve(kind, args)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    queue = list(work)

    async def worker() -> None:
        while queue:
            kind, args = queue.pop()
            await resolve(kind, args)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "median_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "per_second": len(work) / elapsed,
    }


async def bench_asyncpg(
    url: str, work: list[tuple[str, tuple[Any, ...]]], concurrency: int
) -> dict[str, float]:
    pool = await asyncpg.create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE)
    try:

        async def resolve(kind: str, args: tuple[Any, ...]) -> None:
            async with pool.acquire() as connection:
                row = await connection.fetchrow(QUERIES[kind], *args)
            decode(row)

        return await measure(resolve, work, concurrency)
    finally:
        await pool.close()


async def bench_psycopg(
    url: str, work: list[tuple[str, tuple[Any, ...]]], concurrency: int
) -> dict[str, float]:
    queries = {kind: psycopg_sql(sql) for kind, sql in QUERIES.items()}
    pool = psycopg_pool.AsyncConnectionPool(
        url, min_size=POOL_SIZE, max_size=POOL_SIZE, open=False, kwargs={"autocommit": True}
    )
    await pool.open(wait=True)
    try:

        async def resolve(kind: str, args: tuple[Any, ...]) -> None:
            async with pool.connection() as connection:
                named = {f"a{index}": value for index, value in enumerate(args, 1)}
                cursor = await connection.execute(queries[kind], named)
                row = await cursor.fetchone()
            decode(row)

        return await measure(resolve, work, concurrency)
    finally:
        await pool.close()


async def run(url: str, prompts: int, count: int, concurrency: int, rounds: int) -> dict[str, Any]:
    await build(url, prompts)
    work = lookups(prompts, count)
    drivers = {"asyncpg": bench_asyncpg, "psycopg": bench_psycopg}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in drivers}
    for _ in range(rounds):  # alternated, so that a noisy neighbour on the machine hurts both alike
        for name, bench in drivers.items():
            runs[name].append(await bench(url, work, concurrency))
    results: dict[str, Any] = {
        name: {metric: statistics.median(r[metric] for r in measured) for metric in measured[0]}
        for name, measured in runs.items()
    }
    a, p = results["asyncpg"], results["psycopg"]
    results["ratios_psycopg_over_asyncpg"] = {
        "median_latency": p["median_ms"] / a["median_ms"],
        "p99_latency": p["p99_ms"] / a["p99_ms"],
        "throughput": p["per_second"] / a["per_second"],
    }
    results["settings"] = {
        "prompts": prompts, "lookups": count, "concurrency": concurrency, "rounds": rounds, "pool": POOL_SIZE,
        "asyncpg": asyncpg.__version__, "psycopg": psycopg.__version__,
    }  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--prompts", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    cluster = None
    url = options.database_url
    if url is None:
        cluster = PostgresCluster.create()
        url = cluster.url(cluster.create_database())
    try:
        results = asyncio.run(run(url, options.prompts, options.lookups, options.concurrency, options.rounds))
    finally:
        if cluster is not None:
            cluster.destroy()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
