"""Include parsing on adversarial input, and resolving include bombs at the limits.

Reports:

1. parse time (``include_refs`` and ``placeholders``) of adversarial texts of growing size, each size four
   times the one before, with the ratio of each time to the previous one: linear growth gives ratios near 4;
2. with ``--legacy``, the same for the regular expression the scanner replaced, on a few thousand blanks
   (cubic: ratios near 8 for each doubling);
3. through ``PromptService`` over a real SQLite file: resolving and rendering the largest include tree the
   limits allow (``MAX_INCLUDES`` includes, just under ``MAX_EXPANDED_CHARS`` characters), refusing the
   issue's bomb (five levels of ten includes, stored before the limits) and a bomb of doubling includes
   ten levels deep, with the number of store reads each took.

Run: ``python benchmarks/bench_includes.py [--sizes 262144,1048576,4194304] [--rounds 3] [--legacy]``;
``--out FILE`` also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.errors import InvalidArgumentError
from promptshelf.limits import MAX_EXPANDED_CHARS, MAX_INCLUDE_DEPTH, MAX_INCLUDES
from promptshelf.model import PromptMeta, PromptVersion, VersionDraft, placeholders
from promptshelf.service import PromptService
from promptshelf.template import include_refs

SHAPES: dict[str, Callable[[int], str]] = {
    "blanks after an unclosed include": lambda n: "{{>" + " " * n,
    "many unclosed includes": lambda n: "{{>" * (n // 3),
    "many includes sharing one broken close": lambda n: "{{>a\n" * (n // 5) + "b}}",
    "blanks after an unclosed placeholder": lambda n: "{{" + " " * n,
    "closed includes": lambda n: "{{> a}}" * (n // 7),
}
LEGACY_INCLUDE_RE = re.compile(r"\{\{>\s*(.*?)\s*\}\}")


def best_of(rounds: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def parse_growth(sizes: list[int], rounds: int) -> dict[str, list[dict[str, float]]]:
    results: dict[str, list[dict[str, float]]] = {}
    for shape, build in SHAPES.items():
        rows: list[dict[str, float]] = []
        for size in sizes:
            text = build(size)
            seconds = best_of(rounds, lambda: (include_refs([text]), placeholders([text])))  # noqa: B023
            ratio = seconds / rows[-1]["seconds"] if rows else 0.0
            rows.append({"size": size, "seconds": seconds, "ratio": ratio})
        results[shape] = rows
    return results


def legacy_growth(blanks: list[int]) -> list[dict[str, float]]:
    rows: list[dict[str, float]] = []
    for count in blanks:
        text = "{{>" + " " * count
        seconds = best_of(1, lambda: list(LEGACY_INCLUDE_RE.finditer(text)))  # noqa: B023
        rows.append(
            {"size": count, "seconds": seconds, "ratio": seconds / rows[-1]["seconds"] if rows else 0.0}
        )
    return rows


class CountingStore(SQLiteStore):
    """The SQLite store, counting version reads (each include resolved is one)."""

    reads = 0

    async def get_version(
        self, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptVersion:
        self.reads += 1
        return await super().get_version(name, version=version, label=label)


async def timed(rounds: int, call: Callable[[], Awaitable[object]]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        try:
            result = await call()
        except InvalidArgumentError as exc:
            result = exc
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


async def bombs(rounds: int) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = cast(CountingStore, await CountingStore.open(Path(tmp) / "prompts.db"))
        service = PromptService(store)
        try:

            async def store_directly(name: str, template: str) -> None:
                # Bypasses the write-time check, as for prompts stored before the limits existed.
                await store.create_prompt(name, PromptMeta(), VersionDraft(type="text", template=template))

            async def measure(label: str, name: str, *, render: bool) -> None:
                store.reads = 0
                call = (
                    (lambda: service.render_prompt(name, strict=False))
                    if render
                    else (lambda: service.get_prompt(name))
                )
                seconds, result = await timed(rounds, call)
                reads = store.reads // rounds
                if isinstance(result, InvalidArgumentError):
                    outcome = f"refused: {result.message[:70]}..."
                    size = 0
                else:
                    text = getattr(result, "text", None) or getattr(result, "template", None) or ""
                    outcome, size = f"{len(text):,} characters", len(text)
                figures[label] = {"median_ms": seconds * 1000, "store_reads": reads, "size": size}
                print(f"  {label:<48} {seconds * 1000:9.2f} ms  {reads:4d} reads  {outcome}")

            # The largest tree the limits allow: 10 x "a", each 19 x "b" = 200 includes.
            leaf = MAX_EXPANDED_CHARS // (MAX_INCLUDES - 10)
            await service.create_prompt("b", template="w" * leaf)
            await service.create_prompt("a", template="{{> b}}" * ((MAX_INCLUDES - 10) // 10))
            await service.create_prompt("at-the-limits", template="{{> a}}" * 10)
            await measure("resolve at the limits (200 includes, ~2 MB)", "at-the-limits", render=False)
            await measure("render at the limits", "at-the-limits", render=True)

            # The bomb: five levels of ten includes, 111,110 includes and 22 MB if expanded.
            for level in range(4):
                await store_directly(f"l{level}", f"{{{{> l{level + 1}}}}} " * 10)
            await store_directly("l4", "word " * 40)
            await measure("five levels of ten (stored before the limits)", "l0", render=True)

            # Doubling at every level down to the depth limit: 2,046 includes if expanded.
            for level in range(MAX_INCLUDE_DEPTH):
                await store_directly(f"d{level}", f"{{{{> d{level + 1}}}}}" * 2)
            await store_directly(f"d{MAX_INCLUDE_DEPTH}", "x" * 100)
            await measure("doubling, ten levels (stored before the limits)", "d0", render=True)
        finally:
            await store.aclose()
    return figures


def print_growth(title: str, rows: list[dict[str, float]]) -> None:
    print(f"  {title}")
    for row in rows:
        ratio = f"x{row['ratio']:.1f}" if row["ratio"] else ""
        print(f"    {int(row['size']):>10,} chars  {row['seconds'] * 1000:10.2f} ms  {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="262144,1048576,4194304", help="comma-separated text sizes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--legacy", action="store_true", help="also time the replaced regular expression")
    parser.add_argument("--legacy-blanks", default="500,1000,2000")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    print("parse time of adversarial input (include_refs + placeholders), best of", args.rounds)
    growth = parse_growth(sizes, args.rounds)
    for shape, rows in growth.items():
        print_growth(shape, rows)
    results: dict[str, Any] = {"parse": growth}
    if args.legacy:
        print("the replaced regular expression, '{{>' and blanks")
        results["legacy"] = legacy_growth([int(count) for count in args.legacy_blanks.split(",")])
        print_growth("blanks after an unclosed include", results["legacy"])
    print(f"include bombs through the service over SQLite, median of {args.rounds}")
    results["bombs"] = asyncio.run(bombs(args.rounds))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
