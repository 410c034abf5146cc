"""Server time and page weight of the web view.

Builds a SQLite store with ``--prompts`` prompts (1,000 by default) and one prompt with ``--versions``
versions (1,000), then requests each page ``--requests`` times through the HTTP transport's real ASGI
app in-process (``build_app``: the Host/Origin check, the session cookie, the service, the templates;
no socket, so the figure is the server's own time) and reports the median and 95th percentile:

- the prompt list (first page, and a search), with 1,000 prompts stored;
- the prompt with 1,000 versions, its history (first page and one deep in the history), and a diff;
- the weight of each page: HTML plus the stylesheet and script it loads.

Targets (issue 11): median under 20 ms per page; page weight under 50 KB.

Run: ``python benchmarks/bench_web.py [--prompts 1000] [--versions 1000] [--requests 200] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.model import Variable
from promptshelf.server.app import PromptshelfMCP
from promptshelf.server.http import HttpLimits, Tokens, build_app
from promptshelf.service import Policy, PromptService

TARGET_MEDIAN_MS = 20.0
TARGET_WEIGHT_KB = 50.0
LIMITS = HttpLimits(
    max_sessions_per_token=10, session_idle_timeout=60, header_timeout=10, body_timeout=10, max_connections=50
)
DEEP = "big/history"


async def build(path: Path, prompts: int, versions: int) -> None:
    store = await SQLiteStore.open(path)
    service = PromptService(store, Policy(trusted=True, actor="bench"))
    try:
        for index in range(prompts):
            await service.create_prompt(
                f"team-{index % 20:02d}/prompt-{index:04d}",
                template=f"Summarize {{{{text}}}} for {{{{audience}}}} (prompt {index}).",
                description=f"Benchmark prompt {index} about {'billing' if index % 7 == 0 else 'support'}",
                tags=["bench", f"group-{index % 5}"],
                labels=["production"] if index % 3 == 0 else [],
                variables=[Variable(name="text", description="what to summarize")],
            )
        await service.create_prompt(
            DEEP,
            template="Line one {{a}}\nLine two\nLine three {{b}}\n",
            config={"model": "gpt-4o", "temperature": 0.1},
            commit_message="version 1",
        )
        for version in range(1, versions):
            await service.update_prompt(
                DEEP,
                base_version=version,
                template=f"Line one {{{{a}}}}\nLine two, edit {version}\nLine three {{{{b}}}}\n",
                config={"model": "gpt-4o", "temperature": round(0.1 + (version % 9) / 10, 1)},
                commit_message=f"edit number {version}",
            )
        await service.set_label(DEEP, "production", max(1, versions // 2))
    finally:
        await store.aclose()


async def measure(path: Path, requests: int, versions: int) -> dict[str, Any]:
    store = await SQLiteStore.open(path)
    try:
        mcp = PromptshelfMCP(PromptService(store, Policy(actor="mcp")))
        await mcp.hub.start()
        app = build_app(
            mcp, host="127.0.0.1", allowed_hosts=[], tokens=Tokens(), poll_interval=60, limits=LIMITS
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            assets = {
                path: len((await client.get(path)).content)
                for path in ("/static/style.css", "/static/changes.js")
            }
            middle = max(2, versions // 2)
            pages = {
                "list (first page)": "/",
                "list (search)": "/?q=billing",
                f"prompt with {versions} versions": f"/p/{DEEP}",
                "its history (first page)": f"/history/{DEEP}",
                "its history (a middle page)": f"/history/{DEEP}?before={middle}",
                "its diff (latest vs. previous)": f"/diff/{DEEP}",
            }
            results: dict[str, Any] = {}
            for title, url in pages.items():
                first = await client.get(url)
                assert first.status_code == 200, (url, first.status_code, first.text[:500])
                html = first.content
                loaded = re.findall(rb'(?:href|src)="(/static/[^"]+)"', html)
                weight = len(html) + sum(assets[item.decode()] for item in set(loaded))
                timings = []
                for _ in range(requests):
                    start = time.perf_counter()
                    response = await client.get(url)
                    timings.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200
                timings.sort()
                results[title] = {
                    "url": url,
                    "median_ms": round(statistics.median(timings), 2),
                    "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 2),
                    "html_kb": round(len(html) / 1024, 1),
                    "weight_kb": round(weight / 1024, 1),
                }
            return results
    finally:
        await store.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "prompts.db"
        started = time.perf_counter()
        asyncio.run(build(path, args.prompts, args.versions))
        built = time.perf_counter() - started
        pages = asyncio.run(measure(path, args.requests, args.versions))
    met = {
        title: figures["median_ms"] < TARGET_MEDIAN_MS and figures["weight_kb"] < TARGET_WEIGHT_KB
        for title, figures in pages.items()
    }
    print(f"store: {args.prompts} prompts + 1 with {args.versions} versions (built in {built:.1f} s)")
    print(f"{'page':<34} {'median ms':>10} {'p95 ms':>8} {'HTML KB':>8} {'weight KB':>10}")
    for title, figures in pages.items():
        print(
            f"{title:<34} {figures['median_ms']:>10.2f} {figures['p95_ms']:>8.2f} "
            f"{figures['html_kb']:>8.1f} {figures['weight_kb']:>10.1f}"
        )
    print(
        f"targets: median < {TARGET_MEDIAN_MS:.0f} ms and weight < {TARGET_WEIGHT_KB:.0f} KB: "
        + ("all met" if all(met.values()) else "missed by " + ", ".join(t for t, ok in met.items() if not ok))
    )
    if args.out:
        results = {
            "prompts": args.prompts,
            "versions": args.versions,
            "requests": args.requests,
            "pages": pages,
            "targets_met": met,
        }
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
