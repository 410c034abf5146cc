"""PostHog backend benchmark against the fake PostHog with 20 ms injected latency.

Reports, each against a reference measured in the same run:

1. warm-cache ``get_version`` latency of the PostHog backend relative to the SQLite backend (target <= 1.1x);
2. upstream requests made by 1,000 concurrent reads of one prompt on a cold cache (target 1);
3. the same two figures for posthog-python's own ``Prompts`` client (1,000 reads from a thread pool).

Run: ``python benchmarks/bench_posthog.py [--reads 1000] [--warm 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from posthog.ai.prompts import Prompts
from tests.fakes.posthog import FakePostHog, run_fake_posthog

from promptshelf.backends.cache import CachingStore
from promptshelf.backends.posthog import PostHogStore
from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.model import PromptMeta, VersionDraft
from promptshelf.service import PromptService

LATENCY = 0.020
NAME = "bench-prompt"
DRAFT = VersionDraft(type="text", template="You are {{persona}}. Answer {{question}} briefly.")


async def per_call_seconds(call: object, count: int) -> float:
    """Median of 5 rounds of ``count`` sequential awaits, per call."""
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(count):
            await call()  # type: ignore[operator]
        rounds.append((time.perf_counter() - started) / count)
    return statistics.median(rounds)


def sdk_per_call_seconds(prompts: Prompts, count: int) -> float:
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(count):
            prompts.get(NAME, with_metadata=True)
        rounds.append((time.perf_counter() - started) / count)
    return statistics.median(rounds)


async def main(reads: int, warm: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        sqlite = await SQLiteStore.open(Path(scratch) / "bench.db")
        await sqlite.create_prompt(NAME, PromptMeta(), DRAFT)
        sqlite_warm = await per_call_seconds(lambda: sqlite.get_version(NAME), warm)
        sqlite_service = PromptService(sqlite)
        sqlite_tool = await per_call_seconds(lambda: sqlite_service.get_prompt(NAME), warm)
        await sqlite.aclose()

    fake = FakePostHog(burst_limit=None, publish_limit=None)
    with run_fake_posthog(fake) as url:
        inner = await PostHogStore.connect(host=url, project_id=fake.project_id, api_key=fake.api_key)
        store = CachingStore(inner, ttl=60)
        await store.create_prompt(NAME, PromptMeta(), DRAFT)
        fake.latency = LATENCY

        # Cold cache (the create cached nothing for "latest"), 1,000 readers at once.
        store.invalidate(NAME, pinned=True)
        before = fake.count("GET", f"/name/{NAME}/")
        started = time.perf_counter()
        results = await asyncio.gather(*(store.get_version(NAME) for _ in range(reads)))
        ours_burst = time.perf_counter() - started
        ours_requests = fake.count("GET", f"/name/{NAME}/") - before
        assert all(r.version == 1 for r in results)

        ours_warm = await per_call_seconds(lambda: store.get_version(NAME), warm)
        service = PromptService(store)
        ours_tool = await per_call_seconds(lambda: service.get_prompt(NAME), warm)
        await store.aclose()

        prompts = Prompts(personal_api_key=fake.api_key, project_api_key=fake.project_token, host=url)
        before = fake.count("GET", f"/name/{NAME}/")
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=100) as pool:
            list(pool.map(lambda _: prompts.get(NAME, with_metadata=True), range(reads)))
        sdk_burst = time.perf_counter() - started
        sdk_requests = fake.count("GET", f"/name/{NAME}/") - before
        sdk_warm = sdk_per_call_seconds(prompts, warm)

    print(f"PostHog backend benchmark (fake PostHog, {LATENCY * 1000:.0f} ms injected latency)")
    print(f"reference: SQLite warm get_version = {sqlite_warm * 1e6:.1f} us/call (this machine, this run)")
    print()
    print(f"{'':42}{'promptshelf':>14}{'posthog-python':>16}")
    print(
        f"{'warm get latency / SQLite (target <= 1.1x)':42}{ours_warm / sqlite_warm:>13.2f}x"
        f"{sdk_warm / sqlite_warm:>15.2f}x"
    )
    print(f"{'warm get_prompt (service) / SQLite':42}{ours_tool / sqlite_tool:>13.2f}x{'':>16}")
    print(f"{f'upstream requests for {reads} concurrent reads':42}{ours_requests:>14}{sdk_requests:>16}")
    burst = "burst wall time / injected latency"
    print(f"{burst:42}{ours_burst / LATENCY:>13.1f}x{sdk_burst / LATENCY:>15.1f}x")
    fast = ours_warm / sqlite_warm <= 1.1 and ours_tool / sqlite_tool <= 1.1
    verdict = "PASS" if fast and ours_requests == 1 else "FAIL"
    print(f"\ntargets: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--warm", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.reads, args.warm))
