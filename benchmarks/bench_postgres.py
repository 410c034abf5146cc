"""PostgreSQL at scale, against SQLite in the same run, and HTTP throughput with one replica and with two.

1. Builds the same 100,000 prompts with 1,000,000 versions (``bench_scale``'s deterministic data) into
   SQLite (``bench_scale.build_bulk``) and into PostgreSQL (``COPY`` straight into the schema the store's
   own migrations created, the rows the store would have written).
2. Through ``PromptService``, for each store: resolve by name, by version and by label (median and p99
   over ``--lookups`` random lookups each) and the first page of a search, common and rare term.
3. HTTP: ``prompts/get`` requests per second (2026-07-28, sessionless) against one ``promptshelf serve
   --transport http`` replica on the PostgreSQL database, then against two, the load coming from ``wrk``
   (Debian's package; a separate C process, so the load generator takes little of the 2 cores): one
   ``wrk`` process per replica, as a balancer spreading requests evenly would.

Targets (2-core machine): resolve median < 1 ms, search page < 50 ms, two replicas >= 1.6x one. The
throughput figures mean something only on an otherwise idle machine: the load average before the runs is
printed with them.

Without ``--database-url`` it creates a throwaway cluster (``tests/support/postgres_cluster.py``: Debian's
PostgreSQL, run as an unprivileged user) and removes it afterwards.

    python benchmarks/bench_postgres.py [--prompts 100000] [--versions-per-prompt 10] [--lookups 3000]
                                        [--http-seconds 10] [--rounds 3] [--connections 32]
                                        [--no-http] [--database-url URL]
    python benchmarks/bench_postgres.py --prompts 2000 --lookups 500 --http-seconds 3    # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_scale  # noqa: E402
from benchmarks.postgres_load import build_postgres  # noqa: E402
from tests.support.mcp_http import request  # noqa: E402
from tests.support.replicas import ReplicaSet, clean_env  # noqa: E402

from promptshelf.backends.base import Store  # noqa: E402
from promptshelf.backends.sqlite import SQLiteStore  # noqa: E402
from promptshelf.service import Policy, PromptService  # noqa: E402
from promptshelf.settings import Settings  # noqa: E402

RESULTS_DIR = ROOT / "benchmarks" / "results"
TARGETS = {"resolve_median_ms": 1.0, "search_page_ms": 50.0, "two_replicas_ratio": 1.6}
HTTP_ARGUMENTS = {"document": "the quarterly report", "audience": "the board"}


# -- through the service ---------------------------------------------------------------------------


async def open_postgres(url: str) -> Store:
    from promptshelf.backends import open_store

    return await open_store(Settings(backend="postgres", database_url=url))


async def measure_store(store: Store, prompts: int, versions: int, lookups: int, seed: int) -> dict[str, Any]:
    """``bench_scale``'s figures for any store (resolve latest/version/label, search pages)."""
    service = PromptService(store, Policy())
    rng = random.Random(seed)
    live = [index for index in range(prompts) if not bench_scale.is_archived(index)]

    def picks(**selector: Any) -> list[dict[str, Any]]:
        return [{"name": bench_scale.prompt_name(rng.choice(live)), **selector} for _ in range(lookups)]

    async def check(name: str, **selector: Any) -> None:
        document = await service.get_prompt(name, **selector)
        assert document.name == name

    await bench_scale.timed(check, picks()[:200])  # warm up
    by_version = [{**pick, "version": rng.randint(1, versions)} for pick in picks()]
    results: dict[str, Any] = {
        "resolve_latest": bench_scale.summary_ms(await bench_scale.timed(check, picks())),
        "resolve_version": bench_scale.summary_ms(await bench_scale.timed(check, by_version)),
        "resolve_label": bench_scale.summary_ms(await bench_scale.timed(check, picks(label="production"))),
    }
    rounds = max(5, min(50, lookups // 100))
    for kind, term in (
        ("search_common", bench_scale.COMMON_SEARCH),
        ("search_rare", bench_scale.rare_search(prompts)),
    ):
        found = await service.list_prompts(search=term)
        samples = await bench_scale.timed(service.list_prompts, [{"search": term}] * rounds)
        results[kind] = {"term": term, "page_size": len(found.prompts), **bench_scale.summary_ms(samples)}
    return results


async def measure_both(
    sqlite_path: Path, url: str, prompts: int, versions: int, lookups: int, seed: int
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for kind, opener in (
        ("sqlite", lambda: SQLiteStore.open(sqlite_path)),
        ("postgres", lambda: open_postgres(url)),
    ):
        store = await opener()
        try:
            figures[kind] = await measure_store(store, prompts, versions, lookups, seed)
        finally:
            await store.aclose()
    return figures


# -- HTTP throughput -------------------------------------------------------------------------------


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: run scripts/install-system-packages.sh (Debian package wrk)")
    return found


def wrk_script(path: Path, names: list[str]) -> None:
    """A wrk script sending sessionless ``prompts/get`` requests for random prompts; a JSON-RPC error
    (answered with HTTP 200) is counted apart, so that errors cannot pass for throughput."""
    bodies = []
    for index, name in enumerate(names):
        body, headers = request("prompts/get", {"name": name, "arguments": HTTP_ARGUMENTS}, index + 1)
        bodies.append((body.decode(), headers))
    lua = ["local requests = {}", "local bodies = {}"]
    for body, headers in bodies:
        header_table = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
        lua.append(f"table.insert(bodies, {{{{{header_table}}}, {json.dumps(body)}}})")
    lua += [
        # Built in init(), when wrk.host is known (wrk.format adds the Host header the server checks).
        "init = function(args)",
        "  for i, entry in ipairs(bodies) do",
        "    requests[i] = wrk.format('POST', '/mcp', entry[1], entry[2])",
        "  end",
        "end",
        # Counted in each thread's own Lua state (globals, so that done() can read them with get()).
        "failed = 0",
        "first_failure = ''",
        "local threads = {}",
        "setup = function(thread) table.insert(threads, thread) end",
        "math.randomseed(os.time())",
        "request = function() return requests[math.random(#requests)] end",
        "response = function(status, headers, body)",
        "  if status ~= 200 or string.find(body, '\"error\"', 1, true) then",
        "    failed = failed + 1",
        "    if first_failure == '' then first_failure = status .. ' ' .. body end",
        "  end",
        "end",
        "done = function(summary, latency, requests)",
        "  local total = 0",
        "  for _, thread in ipairs(threads) do",
        "    total = total + thread:get('failed')",
        "    local first = thread:get('first_failure')",
        "    if first ~= '' then io.write('first failure: ' .. first .. '\\n') end",
        "  end",
        "  io.write(string.format('promptshelf-failed %d\\n', total))",
        "end",
    ]
    path.write_text("\n".join(lua) + "\n")


def run_wrk(base: str, script: Path, seconds: float, connections: int) -> subprocess.Popen[str]:
    duration = f"-d{max(1, round(seconds))}s"
    return subprocess.Popen(
        [wrk_binary(), "-t1", f"-c{connections}", duration, "--latency", "-s", str(script), base],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wrk_figures(output: str) -> dict[str, float]:
    requests = re.search(r"(\d+) requests in ([\d.]+)(m?s)", output)
    failed = re.search(r"promptshelf-failed (\d+)", output)
    median = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    if not requests or not failed:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    seconds = float(requests.group(2)) / (1000 if requests.group(3) == "ms" else 1)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "requests": int(requests.group(1)),
        "per_second": int(requests.group(1)) / seconds,
        "failed": int(failed.group(1)),
        "median_ms": float(median.group(1)) * scale[median.group(2)] if median else float("nan"),
    }


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User plus system CPU time each process has used so far (those gone are left out)."""
    used: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings by the processes alive at both."""
    return sum(after[pid] - before[pid] for pid in before if pid in after)


def machine_cpu_seconds() -> float:
    """CPU time every process on the machine has used so far (all cores; from /proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time of this process's children that have been waited for (the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL server processes serving the database's clients (the replicas' pools and listeners;
    not autovacuum, which comes and goes)."""
    import psycopg

    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(row[0]) for row in rows]


def http_throughput(
    url: str, prompts: int, seconds: float, connections: int, rounds: int, tmp: Path
) -> dict[str, Any]:
    """Requests per second with one replica and with two, ``rounds`` times each, alternating (so that a
    burst of other work on the machine does not land on one side only); the median round counts.

    Also the CPU time one request costs with one replica (the replica, PostgreSQL's server processes,
    wrk), measured from /proc: unlike requests per second it hardly depends on what else the machine
    runs, and from it follows what two replicas can reach on two otherwise idle cores: one replica is
    bound by its own core (1/replica), two by both cores shared by everything (2/(replica + PostgreSQL +
    wrk)); their ratio is the projected speed-up.
    """
    rng = random.Random(11)
    live = [index for index in range(prompts) if not bench_scale.is_archived(index)]
    script = tmp / "prompts_get.lua"
    wrk_script(script, [bench_scale.prompt_name(rng.choice(live)) for _ in range(min(1000, len(live)))])
    results: dict[str, Any] = {
        "connections": connections,
        "seconds": seconds,
        "rounds": rounds,
        "load_average_before": os.getloadavg()[0],
    }
    measured: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    store_args = ["--backend", "postgres", "--database-url", url]
    with ReplicaSet(tmp, store_args, env=clean_env()) as replicas:
        replicas.start(2)
        # Warm up both (imports, pools), then measure; the same total number of connections each time.
        for warm in [run_wrk(r.base, script, 2, connections // 2) for r in replicas]:
            warm.communicate()
        for _ in range(rounds):
            for count in (1, 2):
                chosen = replicas.replicas[:count]
                servers = [replica.process.pid for replica in chosen]
                backends = backend_pids(url)
                before = (cpu_seconds(servers), cpu_seconds(backends), children_cpu_seconds())
                machine_before, started = machine_cpu_seconds(), time.perf_counter()
                runs = [run_wrk(r.base, script, seconds, connections // count) for r in chosen]
                outputs = [run.communicate()[0] for run in runs]
                after = (cpu_seconds(servers), cpu_seconds(backends), children_cpu_seconds())
                elapsed = time.perf_counter() - started
                ours = cpu_used(before[0], after[0]) + cpu_used(before[1], after[1]) + after[2] - before[2]
                others = (machine_cpu_seconds() - machine_before - ours) / elapsed
                figures = [wrk_figures(output) for output in outputs]
                if any(figure["failed"] for figure in figures):
                    raise RuntimeError("requests failed during the HTTP run:\n" + "\n".join(outputs))
                requests = sum(f["requests"] for f in figures)
                measured[count].append(
                    {
                        "per_second": sum(f["per_second"] for f in figures),
                        "requests": requests,
                        "failed": sum(f["failed"] for f in figures),
                        "median_ms": max(f["median_ms"] for f in figures),
                        "cpu_ms_replica": cpu_used(before[0], after[0]) * 1000 / requests,
                        "cpu_ms_postgres": cpu_used(before[1], after[1]) * 1000 / requests,
                        "cpu_ms_wrk": (after[2] - before[2]) * 1000 / requests,
                        "other_processes_cores": max(0.0, others),
                    }
                )
    for count, runs in measured.items():
        middle = sorted(runs, key=lambda run: run["per_second"])[len(runs) // 2]
        results[f"replicas_{count}"] = {**middle, "every_round": [run["per_second"] for run in runs]}
    results["ratio"] = results["replicas_2"]["per_second"] / results["replicas_1"]["per_second"]
    one = results["replicas_1"]
    cost = one["cpu_ms_replica"] + one["cpu_ms_postgres"] + one["cpu_ms_wrk"]
    results["projected_ratio_idle"] = min(2.0, 2 * one["cpu_ms_replica"] / cost)
    return results


# -- the run ---------------------------------------------------------------------------------------


@contextmanager
def postgres_database(url: str | None) -> Iterator[str]:
    """``url`` as given, or a fresh database on a throwaway cluster made (and removed) here."""
    if url is not None:
        yield url
        return
    from tests.support.postgres_cluster import PostgresCluster

    cluster = PostgresCluster.create()
    try:
        yield cluster.url(cluster.create_database())
    finally:
        cluster.destroy()


def run(args: argparse.Namespace) -> dict[str, Any]:
    prompts, versions = args.prompts, args.versions_per_prompt
    results: dict[str, Any] = {"prompts": prompts, "versions": prompts * versions, "lookups": args.lookups}
    with (
        tempfile.TemporaryDirectory(prefix="bench-postgres-") as scratch,
        postgres_database(args.database_url) as url,
    ):
        tmp = Path(scratch)
        sqlite_path = tmp / "prompts.db"
        started = time.perf_counter()
        bench_scale.build_bulk(sqlite_path, prompts, versions)
        results["build_sqlite_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        results["postgres_rows"] = asyncio.run(build_postgres(url, sqlite_path))
        results["build_postgres_seconds"] = time.perf_counter() - started
        results.update(
            asyncio.run(measure_both(sqlite_path, url, prompts, versions, args.lookups, args.seed))
        )
        if not args.no_http:
            results["http"] = http_throughput(
                url,
                prompts,
                args.http_seconds,
                args.connections,
                args.rounds,
                tmp,
            )
    results["machine"] = {"cpus": len(os.sched_getaffinity(0))}
    return results


def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    postgres = results["postgres"]
    checks = {
        "resolve_median_ms": max(
            postgres[k]["median_ms"] for k in ("resolve_latest", "resolve_version", "resolve_label")
        )
        < TARGETS["resolve_median_ms"],
        "search_page_ms": max(postgres[k]["median_ms"] for k in ("search_common", "search_rare"))
        < TARGETS["search_page_ms"],
    }
    if "http" in results:
        checks["two_replicas_ratio"] = results["http"]["ratio"] >= TARGETS["two_replicas_ratio"]
    return checks


def print_table(results: dict[str, Any]) -> None:
    print(
        f"{results['prompts']:,} prompts, {results['versions']:,} versions; built in "
        f"{results['build_sqlite_seconds']:.1f} s (SQLite), "
        f"{results['build_postgres_seconds']:.1f} s (PostgreSQL, copied from it)"
    )
    print()
    print(
        f"{'through PromptService':32}{'PostgreSQL median/p99 ms':>28}{'SQLite median/p99 ms':>26}   target"
    )
    rows = [
        ("resolve by name (latest)", "resolve_latest", "median < 1 ms"),
        ("resolve by version", "resolve_version", "median < 1 ms"),
        ("resolve by label (production)", "resolve_label", "median < 1 ms"),
        (f"search page {results['postgres']['search_common']['term']!r}", "search_common", "< 50 ms"),
        (f"search page {results['postgres']['search_rare']['term']!r}", "search_rare", "< 50 ms"),
    ]
    for title, key, target in rows:
        pg, lite = results["postgres"][key], results["sqlite"][key]
        print(
            f"{title:32}{pg['median_ms']:>18.3f} / {pg['p99_ms']:<7.3f}"
            f"{lite['median_ms']:>16.3f} / {lite['p99_ms']:<7.3f}   {target}"
        )
    if "http" in results:
        http = results["http"]
        print()
        print(
            f"HTTP prompts/get (2026-07-28, {http['connections']} connections, wrk; median of "
            f"{http['rounds']} runs of {http['seconds']:.0f} s; load average before: "
            f"{http['load_average_before']:.1f})"
        )
        for count in (1, 2):
            figure = http[f"replicas_{count}"]
            print(
                f"  {count} replica{'s' if count > 1 else ' '}: {figure['per_second']:8.0f} requests/s, "
                f"median {figure['median_ms']:.1f} ms, {figure['failed']} failed; every run: "
                + ", ".join(f"{value:.0f}" for value in figure["every_round"])
            )
        print(f"  two / one: {http['ratio']:.2f}x   (target >= {TARGETS['two_replicas_ratio']}x)")
        busy = [http[f"replicas_{count}"]["other_processes_cores"] for count in (1, 2)]
        print(
            f"  other processes on the machine used {busy[0]:.2f} and {busy[1]:.2f} cores during these runs"
        )
        one = http["replicas_1"]
        print(
            f"  CPU per request with one replica: replica {one['cpu_ms_replica']:.2f} ms, PostgreSQL "
            f"{one['cpu_ms_postgres']:.2f} ms, wrk {one['cpu_ms_wrk']:.2f} ms; two / one on 2 idle cores "
            f"at most {http['projected_ratio_idle']:.2f}x"
        )
    checks = verdicts(results)
    print("\ntargets: " + ", ".join(f"{name} {'PASS' if ok else 'FAIL'}" for name, ok in checks.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--versions-per-prompt", type=int, default=10)
    parser.add_argument("--lookups", type=int, default=3000, help="random lookups per kind of resolve")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--http-seconds", type=float, default=10.0, help="timed seconds per HTTP run")
    parser.add_argument("--connections", type=int, default=32, help="HTTP connections in all")
    parser.add_argument("--rounds", type=int, default=3, help="HTTP runs per replica count (median kept)")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP throughput runs")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a throwaway cluster)")
    parser.add_argument("--out", type=Path, help="where to write the JSON results")
    args = parser.parse_args(argv)
    if min(args.prompts, args.versions_per_prompt, args.lookups, args.rounds) < 1 or args.connections < 2:
        parser.error(
            "--prompts, --versions-per-prompt, --lookups and --rounds must be at least 1, --connections 2"
        )
    results = run(args)
    results["targets_met"] = verdicts(results)
    print_table(results)
    out = args.out or RESULTS_DIR / f"bench_postgres-{args.prompts}x{args.versions_per_prompt}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
