"""SQLite store at scale: 100,000 prompts with 1,000,000 versions, read through the service layer.

Builds the store file, then measures through ``PromptService`` over ``SQLiteStore``:

- resolve by name (latest), by version and by label: median and p99 over ``--lookups`` random lookups each;
- the first page of a search (``list_prompts(search=...)``) for a common and a rare substring;
- read throughput: ``--lookups`` random resolves (latest, version or label) by ``CONCURRENT_READERS``
  concurrent callers, in reads per second (each a cache miss but for chance repeats);
- peak RSS of the serving process (the build runs in a child process, reported separately);
- the time to build the file.

Targets (2-core machine): resolve median < 1 ms, search page < 50 ms, peak RSS < 300 MB.

The build is fast because it bulk-inserts with a plain ``sqlite3`` connection in large transactions, into
a file whose schema the store itself created. It writes exactly the rows the store would have written had
every prompt gone through ``PromptService`` one call at a time (create, then each new version with its
labels, then archive for some): the same tables, JSON shapes, labels, tags and change log (trimmed as the
store trims it). ``build_through_service`` makes such a file the slow way, and
``tests/test_benchmarks.py`` checks that both agree row for row.

Run: ``python benchmarks/bench_scale.py [--prompts 100000] [--versions-per-prompt 10] [--lookups 3000]``;
results go to ``benchmarks/results/bench_scale-<prompts>x<versions>.json`` unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from promptshelf.backends import sqlite as sqlite_backend
from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.model import Message, PromptMeta, Variable, VersionDraft, variable_names
from promptshelf.service import Policy, PromptService

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGETS = {"resolve_median_ms": 1.0, "search_page_ms": 50.0, "peak_rss_mb": 300.0}

TEAMS = ["support", "sales", "research", "ops", "legal", "growth", "infra", "data"]
TOPICS = ["summarize", "triage", "translate", "classify", "extract", "draft-reply", "review", "plan"]
ACTOR = "bench"
COMMON_SEARCH = "summarize"
"""In one prompt name in eight."""
CLOCK_START = datetime(2025, 1, 1, tzinfo=UTC)
BATCH_PROMPTS = 5_000
CONCURRENT_READERS = 16


# -- the prompts: one deterministic history per prompt -----------------------------------------------


@dataclass(frozen=True)
class PromptPlan:
    index: int
    name: str
    meta: PromptMeta
    drafts: list[VersionDraft]
    """Version 1 first; each carries the labels that move to it in the same write."""
    archived: bool


def prompt_name(index: int) -> str:
    return f"{TEAMS[index % len(TEAMS)]}/{TOPICS[(index // len(TEAMS)) % len(TOPICS)]}-{index:06d}"


def rare_search(prompts: int) -> str:
    """A substring of exactly one prompt's name."""
    return f"-{(prompts * 7 // 10):06d}"


def is_archived(index: int) -> bool:
    return index % 97 == 13


def plan_prompt(index: int, versions: int) -> PromptPlan:
    team = TEAMS[index % len(TEAMS)]
    topic = TOPICS[(index // len(TEAMS)) % len(TOPICS)]
    production = max(1, versions - 1 - index % 3)
    drafts = []
    for number in range(1, versions + 1):
        labels = (["production"] if number == production else []) + (
            ["staging"] if number == versions else []
        )
        config = {"model": "gpt-4o-mini", "temperature": round(0.1 * (number % 8), 1), "max_tokens": 512}
        commit = "first version" if number == 1 else f"revision {number}: tighter wording"
        if index % 5 == 4:
            drafts.append(
                VersionDraft(
                    type="chat",
                    messages=[
                        Message(
                            role="system", content=f"You {topic} for the {team} team. Revision {number}."
                        ),
                        Message(role="user", content="{{document}}"),
                    ],
                    config=config,
                    variables=[Variable(name="document", description="The text to work on")],
                    commit_message=commit,
                    created_by=ACTOR,
                    labels=labels,
                )
            )
        else:
            drafts.append(
                VersionDraft(
                    type="text",
                    template=(
                        f"You are the {team} team's assistant. Task: {topic} the {{{{document}}}} for "
                        f"{{{{audience}}}} in at most {{{{max_words}}}} words. Revision {number} of prompt "
                        f"{index}: be accurate, cite the source, say when you are unsure."
                    ),
                    config=config,
                    variables=[
                        Variable(name="document", description="The text to work on"),
                        Variable(name="audience", required=False, default="a colleague"),
                        Variable(name="max_words", required=False, default=120),
                    ],
                    commit_message=commit,
                    created_by=ACTOR,
                    labels=labels,
                )
            )
    meta = PromptMeta(
        description=f"{topic.replace('-', ' ').capitalize()} for the {team} team (prompt {index})",
        tags=[team, f"tier-{index % 3}"],
    )
    return PromptPlan(index, prompt_name(index), meta, drafts, is_archived(index))


# -- building the file the slow way: one service call per write --------------------------------------


async def build_through_service(path: Path, prompts: int, versions: int) -> None:
    """The reference: every write through ``PromptService``, as a user would make them."""
    store = await SQLiteStore.open(path)
    try:
        service = PromptService(store, Policy(trusted=True, actor=ACTOR))
        for index in range(prompts):
            plan = plan_prompt(index, versions)
            first = plan.drafts[0]
            await service.create_prompt(
                plan.name,
                template=first.template,
                messages=first.messages,
                description=plan.meta.description,
                config=first.config,
                variables=first.variables,
                tags=plan.meta.tags,
                labels=first.labels,
                commit_message=first.commit_message,
            )
            for number, draft in enumerate(plan.drafts[1:], start=1):
                await service.update_prompt(
                    plan.name,
                    base_version=number,
                    template=draft.template,
                    messages=draft.messages,
                    config=draft.config,
                    variables=draft.variables,
                    labels=draft.labels,
                    commit_message=draft.commit_message,
                )
            if plan.archived:
                await service.archive_prompt(plan.name)
    finally:
        await store.aclose()


# -- building the file the fast way: the same rows, bulk-inserted ------------------------------------


def timestamp(seq: int) -> str:
    """The store's timestamp format (``model.utc_now``), one millisecond per write."""
    moment = CLOCK_START + timedelta(milliseconds=seq)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def writes_of(plan: PromptPlan) -> int:
    return len(plan.drafts) + (1 if plan.archived else 0)


def build_bulk(path: Path, prompts: int, versions: int) -> None:
    """The rows ``build_through_service`` would write, inserted in large transactions."""
    asyncio.run(_create_schema(path))
    total_writes = sum(versions + (1 if is_archived(index) else 0) for index in range(prompts))
    trimmed_at = total_writes - total_writes % 1000
    keep_after = trimmed_at - sqlite_backend.KEEP_CHANGES if trimmed_at else 0
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -200000")
        seq = 0
        for start in range(0, prompts, BATCH_PROMPTS):
            db.execute("BEGIN")
            for index in range(start, min(start + BATCH_PROMPTS, prompts)):
                plan = plan_prompt(index, versions)
                _insert_prompt(db, index + 1, plan, seq, keep_after)
                seq += writes_of(plan)
            db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def _create_schema(path: Path) -> None:
    store = await SQLiteStore.open(path)
    await store.aclose()


def _insert_prompt(
    db: sqlite3.Connection, prompt_id: int, plan: PromptPlan, seq: int, keep_after: int
) -> None:
    """Mirror of SQLiteStore.create_prompt, publish_version (with draft labels) and archive_prompt."""
    latest = plan.drafts[-1]
    last_write = seq + writes_of(plan)
    db.execute(
        "INSERT INTO prompts (id, name, description, tags, latest_version, type, variable_names,"
        " created_at, updated_at, archived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            prompt_id,
            plan.name,
            plan.meta.description,
            json.dumps(plan.meta.tags),
            len(plan.drafts),
            latest.type,
            json.dumps(variable_names(latest.variables, latest.text_parts)),
            timestamp(seq + 1),
            timestamp(last_write),
            timestamp(last_write) if plan.archived else None,
        ),
    )
    db.executemany(
        "INSERT OR IGNORE INTO prompt_tags (tag, prompt_id) VALUES (?, ?)",
        [(tag, prompt_id) for tag in plan.meta.tags],
    )
    versions = []
    labels: dict[str, tuple[int, str]] = {}
    for number, draft in enumerate(plan.drafts, start=1):
        now = timestamp(seq + number)
        versions.append(sqlite_backend.version_row(prompt_id, number, draft, now))
        for label in draft.labels:
            labels[label] = (number, now)
    db.executemany(sqlite_backend.INSERT_VERSION, versions)
    db.executemany(
        "INSERT INTO labels (prompt_id, label, version, updated_at) VALUES (?, ?, ?, ?)",
        [(prompt_id, label, number, now) for label, (number, now) in labels.items()],
    )
    changes = [
        (write, plan.name, timestamp(write)) for write in range(seq + 1, last_write + 1) if write > keep_after
    ]
    db.executemany("INSERT INTO changes (seq, name, changed_at) VALUES (?, ?, ?)", changes)


# -- measuring -------------------------------------------------------------------------------------


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary_ms(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": statistics.median(samples) * 1000,
        "p99_ms": percentile(samples, 0.99) * 1000,
        "count": len(samples),
    }


async def timed(call: Callable[..., Awaitable[object]], arguments: list[dict[str, Any]]) -> list[float]:
    """Seconds taken by each ``await call(**kwargs)``, one after another."""
    samples = []
    for kwargs in arguments:
        started = time.perf_counter()
        await call(**kwargs)
        samples.append(time.perf_counter() - started)
    return samples


async def throughput(
    call: Callable[..., Awaitable[object]], arguments: list[dict[str, Any]]
) -> dict[str, Any]:
    """Calls per second with ``CONCURRENT_READERS`` callers sharing the work queue."""
    pending = iter(arguments)

    async def caller() -> None:
        for kwargs in pending:
            await call(**kwargs)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CONCURRENT_READERS)))
    seconds = time.perf_counter() - started
    return {"callers": CONCURRENT_READERS, "count": len(arguments), "per_second": len(arguments) / seconds}


async def measure(path: Path, prompts: int, versions: int, lookups: int, seed: int) -> dict[str, Any]:
    store = await SQLiteStore.open(path)
    try:
        service = PromptService(store, Policy())
        rng = random.Random(seed)
        live = [index for index in range(prompts) if not is_archived(index)]

        def picks(**selector: Any) -> list[dict[str, Any]]:
            return [{"name": prompt_name(rng.choice(live)), **selector} for _ in range(lookups)]

        async def check(name: str, **selector: Any) -> None:
            document = await service.get_prompt(name, **selector)
            assert document.name == name

        await timed(check, picks()[:200])  # warm up
        by_version = [{**pick, "version": rng.randint(1, versions)} for pick in picks()]
        results: dict[str, Any] = {
            "resolve_latest": summary_ms(await timed(check, picks())),
            "resolve_version": summary_ms(await timed(check, by_version)),
            "resolve_label": summary_ms(await timed(check, picks(label="production"))),
        }
        mixed = picks() + [{**pick, "version": rng.randint(1, versions)} for pick in picks()]
        results["concurrent_reads"] = await throughput(check, mixed + picks(label="production"))
        rounds = max(5, min(50, lookups // 100))
        for kind, term in (("search_common", COMMON_SEARCH), ("search_rare", rare_search(prompts))):
            found = await service.list_prompts(search=term)
            samples = await timed(service.list_prompts, [{"search": term}] * rounds)
            results[kind] = {"term": term, "page_size": len(found.prompts), **summary_ms(samples)}
        return results
    finally:
        await store.aclose()


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


def run(db: Path, prompts: int, versions: int, lookups: int, seed: int, reuse: bool) -> dict[str, Any]:
    build_seconds = None
    if not (reuse and db.exists()):
        for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            stale.unlink(missing_ok=True)
        started = time.perf_counter()
        builder = multiprocessing.get_context("spawn").Process(
            target=build_bulk, args=(db, prompts, versions)
        )
        builder.start()
        builder.join()
        if builder.exitcode != 0:
            raise SystemExit(f"building the store failed (exit status {builder.exitcode})")
        build_seconds = time.perf_counter() - started
    with closing(sqlite3.connect(db)) as connection:
        counted = connection.execute(
            "SELECT (SELECT count(*) FROM prompts), (SELECT count(*) FROM versions)"
        ).fetchone()
    figures = asyncio.run(measure(db, prompts, versions, lookups, seed))
    return {
        "prompts": counted[0],
        "versions": counted[1],
        "file_mb": sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 2**20,
        "build_seconds": build_seconds,
        "build_peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN) if build_seconds is not None else None,
        **figures,
        "peak_rss_mb": peak_rss_mb(resource.RUSAGE_SELF),
        "lookups": lookups,
        "machine": {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "cpus": _cpus()},
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    resolve = max(results[k]["median_ms"] for k in ("resolve_latest", "resolve_version", "resolve_label"))
    search = max(results[k]["median_ms"] for k in ("search_common", "search_rare"))
    return {
        "resolve_median_ms": resolve < TARGETS["resolve_median_ms"],
        "search_page_ms": search < TARGETS["search_page_ms"],
        "peak_rss_mb": results["peak_rss_mb"] < TARGETS["peak_rss_mb"],
    }


def print_table(results: dict[str, Any]) -> None:
    print(
        f"SQLite store: {results['prompts']:,} prompts, {results['versions']:,} versions, "
        f"{results['file_mb']:.0f} MB on disk"
    )
    if results["build_seconds"] is not None:
        print(f"build: {results['build_seconds']:.1f} s (peak RSS {results['build_peak_rss_mb']:.0f} MB)")
    print()
    print(f"{'through PromptService':36}{'median ms':>11}{'p99 ms':>10}{'n':>7}   target")
    rows = [
        ("resolve by name (latest)", "resolve_latest", "median < 1 ms"),
        ("resolve by version", "resolve_version", "median < 1 ms"),
        ("resolve by label (production)", "resolve_label", "median < 1 ms"),
        (f"search page, common {results['search_common']['term']!r}", "search_common", "< 50 ms"),
        (f"search page, rare {results['search_rare']['term']!r}", "search_rare", "< 50 ms"),
    ]
    for title, key, target in rows:
        figure = results[key]
        print(
            f"{title:36}{figure['median_ms']:>11.3f}{figure['p99_ms']:>10.3f}{figure['count']:>7}   {target}"
        )
    reads = results["concurrent_reads"]
    title = f"reads/s, {reads['callers']} concurrent callers"
    print(f"{title:36}{reads['per_second']:>11.0f}{'':10}{reads['count']:>7}")
    print(f"{'peak RSS (serving process)':36}{results['peak_rss_mb']:>11.0f} MB{'':15}< 300 MB")
    checks = verdicts(results)
    print("\ntargets: " + ", ".join(f"{name} {'PASS' if ok else 'FAIL'}" for name, ok in checks.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--versions-per-prompt", type=int, default=10)
    parser.add_argument("--lookups", type=int, default=3000, help="random lookups per kind of resolve")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", type=Path, help="where to build the store (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="measure an existing --db without rebuilding")
    parser.add_argument("--out", type=Path, help="where to write the JSON results")
    args = parser.parse_args(argv)
    if args.prompts < 1 or args.versions_per_prompt < 1 or args.lookups < 1:
        parser.error("--prompts, --versions-per-prompt and --lookups must be at least 1")

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        db = args.db or Path(scratch) / "prompts.db"
        results = run(db, args.prompts, args.versions_per_prompt, args.lookups, args.seed, args.reuse)
    results["targets_met"] = verdicts(results)
    print_table(results)
    out = args.out or RESULTS_DIR / f"bench_scale-{args.prompts}x{args.versions_per_prompt}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
