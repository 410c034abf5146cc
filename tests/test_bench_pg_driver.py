"""benchmarks/bench_pg_driver.py keeps working: it runs at a tiny size on the test cluster and reports
every figure (timings not judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_pg_driver_reports_both_drivers_and_their_ratios(postgres_url: str) -> None:
    finished = subprocess.run(
        [sys.executable, "benchmarks/bench_pg_driver.py", "--database-url", postgres_url, "--prompts", "200",
         "--lookups", "300", "--rounds", "1", "--concurrency", "4"],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    results = json.loads(finished.stdout)
    for driver in ("asyncpg", "psycopg"):
        assert 0 < results[driver]["median_ms"] <= results[driver]["p99_ms"]
        assert results[driver]["per_second"] > 0
    assert set(results["ratios_psycopg_over_asyncpg"]) == {"median_latency", "p99_latency", "throughput"}
