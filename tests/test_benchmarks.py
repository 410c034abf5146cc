"""The benchmarks keep working: each runs at a tiny size and reports every figure (timings not judged)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest
from benchmarks import bench_scale

from promptshelf.backends import sqlite as sqlite_backend

ROOT = Path(__file__).resolve().parents[1]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TABLES = {
    "prompts": "id",
    "versions": "prompt_id, version",
    "labels": "prompt_id, label",
    "prompt_tags": "tag, prompt_id",
    "changes": "seq",
    "sqlite_sequence": "name",
}


def test_bench_scale_reports_every_figure_at_a_small_size(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    finished = subprocess.run(
        [sys.executable, "benchmarks/bench_scale.py", "--prompts", "300", "--versions-per-prompt", "3",
         "--lookups", "100", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr

    results: dict[str, Any] = json.loads(out.read_text())
    assert (results["prompts"], results["versions"]) == (300, 900)
    for kind in ("resolve_latest", "resolve_version", "resolve_label", "search_common", "search_rare"):
        assert results[kind]["count"] >= 5
        assert 0 < results[kind]["median_ms"] <= results[kind]["p99_ms"]
    common = [
        i for i in range(300) if "summarize" in bench_scale.prompt_name(i) and not bench_scale.is_archived(i)
    ]
    assert results["search_common"]["page_size"] == min(50, len(common)) > 0
    assert results["search_rare"]["page_size"] == 1
    assert results["concurrent_reads"]["count"] == 300 and results["concurrent_reads"]["per_second"] > 0
    assert results["build_seconds"] > 0 and results["build_peak_rss_mb"] > 0 and results["peak_rss_mb"] > 0
    assert set(results["targets_met"]) == set(bench_scale.TARGETS)
    assert "resolve by name (latest)" in finished.stdout and "targets:" in finished.stdout


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the store's tables, timestamps masked (the two builds ran at different times)."""

    def mask(value: Any) -> Any:
        return "<timestamp>" if isinstance(value, str) and TIMESTAMP.match(value) else value

    with closing(sqlite3.connect(path)) as db:
        tables = {
            table: [
                tuple(mask(v) for v in row) for row in db.execute(f"SELECT * FROM {table} ORDER BY {key}")
            ]
            for table, key in TABLES.items()
        }
        tables["schema"] = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        tables["migrations"] = db.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return tables


def test_the_bulk_built_store_holds_exactly_what_the_service_would_have_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A short change log, so that this small history already gets trimmed as a large one would be.
    monkeypatch.setattr(sqlite_backend, "KEEP_CHANGES", 10)
    prompts, versions = 100, 10  # 1,001 writes: one prompt of the 100 is archived
    slow, fast = tmp_path / "service.db", tmp_path / "bulk.db"
    anyio.run(bench_scale.build_through_service, slow, prompts, versions)
    bench_scale.build_bulk(fast, prompts, versions)

    reference, built = dump(slow), dump(fast)
    assert [row[0] for row in reference["changes"]] == list(range(991, 1002))  # really trimmed
    assert any(row[-1] is not None for row in reference["prompts"])  # really archived
    for table in reference:
        assert built[table] == reference[table], table


def test_bench_includes_reports_every_figure_at_a_small_size(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    finished = subprocess.run(
        [sys.executable, "benchmarks/bench_includes.py", "--sizes", "1000,4000", "--rounds", "1", "--legacy",
         "--legacy-blanks", "10,20", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    results: dict[str, Any] = json.loads(out.read_text())
    for rows in results["parse"].values():
        assert [row["size"] for row in rows] == [1000, 4000] and rows[1]["ratio"] > 0
    assert [row["size"] for row in results["legacy"]] == [10, 20]
    bombs = results["bombs"]
    assert bombs["resolve at the limits (200 includes, ~2 MB)"]["size"] == 1_999_940
    refused = (
        bombs["five levels of ten (stored before the limits)"],
        bombs["doubling, ten levels (stored before the limits)"],
    )
    assert [(figures["store_reads"], figures["size"]) for figures in refused] == [(5, 0), (11, 0)]
    assert all(figures["median_ms"] > 0 for figures in bombs.values())
    assert "refused: prompt 'l0' expands more than 200 includes" in finished.stdout


def test_bench_web_reports_every_page_at_a_small_size(tmp_path: Path) -> None:
    out = tmp_path / "web.json"
    finished = subprocess.run(
        [sys.executable, "benchmarks/bench_web.py", "--prompts", "60", "--versions", "30", "--requests", "3",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    results: dict[str, Any] = json.loads(out.read_text())
    assert (results["prompts"], results["versions"]) == (60, 30)
    assert len(results["pages"]) == 6 and set(results["targets_met"]) == set(results["pages"])
    for figures in results["pages"].values():
        assert 0 < figures["median_ms"] <= figures["p95_ms"]
        assert 0 < figures["html_kb"] < figures["weight_kb"]
    assert "targets:" in finished.stdout


def test_bench_http_reports_every_figure_in_one_short_run(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    finished = subprocess.run(
        [sys.executable, "benchmarks/bench_http.py", "--seconds", "1", "--warmup", "1", "--rounds", "1",
         "--stack", "h11", "--variant", "fast=", "--variant", "sdk=PROMPTSHELF_HTTP_FAST_PATH=false",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    results: dict[str, Any] = json.loads(out.read_text())
    assert set(results["servers"]) == {"fast", "sdk", "bare-sdk", "bare-asgi"}
    for figures in results["servers"].values():
        assert set(figures) == {"prompts/get", "tools/call get_prompt"}
        for row in figures.values():
            assert row["rps"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"] and row["x_bare_sdk"] > 0
            assert len(row["x_bare_sdk_rounds"]) == 1 and row["x_bare_sdk_median_round"] > 0
            assert row["cpu_us"] > 0 and len(row["x_bare_sdk_per_core_rounds"]) == 1
    bare = results["servers"]["bare-sdk"]["prompts/get"]
    assert bare["x_bare_sdk_median_round"] == 1 and bare["x_bare_sdk_per_core"] == 1
    assert (
        "x bare SDK" in finished.stdout and "per round" in finished.stdout and "per core" in finished.stdout
    )
