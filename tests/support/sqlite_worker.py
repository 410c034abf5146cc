"""A separate OS process writing to a shared SQLite store, as another promptshelf process would.

The process tests start this with ``python -m tests.support.sqlite_worker MODE ...`` and talk to it
over pipes: it prints one JSON object per line on stdout (flushed at once) and, where a mode says so,
waits for a line on stdin before going on, so that the test can line several processes up.

Modes:

``race``      open the store, print ``{"event": "ready"}``, wait for a line, then make ``--attempts``
              read-then-publish attempts through ``PromptService`` (read the latest version, publish
              new content with ``base_version`` set to it), printing one outcome per attempt:
              ``won`` (with the version written), ``conflict`` (with the base and current versions) or
              ``error`` (anything else, with its type and message: the test fails on any).
``lockstep``  for each of ``--rounds`` rounds: wait for a line, read the latest version and print
              ``{"event": "read"}``, wait for a line, publish on that base and print the outcome.
``writer``    create ``--name`` if needed, then publish up to ``--count`` versions one after another,
              printing ``{"event": "ack"}`` with the version and content only after each publish has
              returned (the test SIGKILLs it somewhere in the stream).
``steady``    create ``--name`` if needed, print ``{"event": "ready"}``, wait for a line, then publish
              versions one after another for ``--seconds`` seconds, printing ``{"event": "ack"}`` (as
              ``writer`` does) after each publish has returned, then exit.
``open``      wait for a line, open the store, print ``{"event": "opened"}`` (or an ``error``).

Content is unique per worker and attempt (``worker W attempt A``), so the test can find each write.
The exit status is 1 when any ``error`` outcome was printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.errors import ConflictError, NotFoundError
from promptshelf.service import Policy, PromptService


def emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def wait_for_line() -> None:
    line = await anyio.to_thread.run_sync(sys.stdin.readline)
    if not line:
        raise SystemExit("stdin closed before the test said go")


def content_of(worker: int, attempt: int) -> str:
    return f"worker {worker} attempt {attempt}"


async def publish_once(service: PromptService, name: str, base: int, worker: int, attempt: int) -> bool:
    """Publish on ``base``; print and return whether this was anything but a won or lost race."""
    content = content_of(worker, attempt)
    try:
        published = await service.update_prompt(name, base_version=base, template=content)
    except ConflictError as exc:
        emit(outcome="conflict", worker=worker, attempt=attempt, base=base, current=exc.current_version)
        return True
    except Exception as exc:  # the test fails on any of these: report it rather than die
        emit(outcome="error", worker=worker, attempt=attempt, type=type(exc).__name__, message=str(exc))
        return False
    emit(outcome="won", worker=worker, attempt=attempt, base=base, version=published.version, content=content)
    return True


async def race(service: PromptService, args: argparse.Namespace) -> bool:
    emit(event="ready", worker=args.worker)
    await wait_for_line()
    clean = True
    for attempt in range(args.attempts):
        try:
            base = (await service.get_prompt(args.name, resolve_includes=False)).version
        except Exception as exc:
            emit(
                outcome="error",
                worker=args.worker,
                attempt=attempt,
                type=type(exc).__name__,
                message=str(exc),
            )
            clean = False
            continue
        clean &= await publish_once(service, args.name, base, args.worker, attempt)
    return clean


async def lockstep(service: PromptService, args: argparse.Namespace) -> bool:
    clean = True
    for attempt in range(args.rounds):
        await wait_for_line()
        base = (await service.get_prompt(args.name, resolve_includes=False)).version
        emit(event="read", worker=args.worker, attempt=attempt, base=base)
        await wait_for_line()
        clean &= await publish_once(service, args.name, base, args.worker, attempt)
    return clean


async def latest_or_create(service: PromptService, name: str, worker: int) -> int:
    try:
        return (await service.get_prompt(name, resolve_includes=False)).version
    except NotFoundError:
        first = content_of(worker, 0)
        created = (await service.create_prompt(name, template=first)).version
        emit(event="ack", version=created, content=first)
        return created


async def writer(service: PromptService, args: argparse.Namespace) -> bool:
    base = await latest_or_create(service, args.name, args.worker)
    for attempt in range(1, args.count + 1):
        content = content_of(args.worker, attempt)
        published = await service.update_prompt(args.name, base_version=base, template=content)
        base = published.version
        emit(event="ack", version=base, content=content)
    return True


async def steady(service: PromptService, args: argparse.Namespace) -> bool:
    base = await latest_or_create(service, args.name, args.worker)
    emit(event="ready", worker=args.worker)
    await wait_for_line()
    deadline = time.monotonic() + args.seconds
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        content = content_of(args.worker, attempt)
        published = await service.update_prompt(args.name, base_version=base, template=content)
        base = published.version
        emit(event="ack", version=base, content=content)
    return True


MODES: dict[str, Callable[[PromptService, argparse.Namespace], Awaitable[bool]]] = {
    "race": race,
    "lockstep": lockstep,
    "writer": writer,
    "steady": steady,
}


async def main(args: argparse.Namespace) -> int:
    if args.mode == "open":
        await wait_for_line()
        try:
            store = await SQLiteStore.open(args.db)
        except Exception as exc:
            emit(outcome="error", worker=args.worker, type=type(exc).__name__, message=str(exc))
            return 1
        await store.aclose()
        emit(event="opened", worker=args.worker)
        return 0
    store = await SQLiteStore.open(args.db)
    try:
        service = PromptService(store, Policy(trusted=True, actor=f"worker-{args.worker}"))
        clean = await MODES[args.mode](service, args)
    finally:
        await store.aclose()
    return 0 if clean else 1


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sqlite_worker")
    parser.add_argument("mode", choices=[*MODES, "open"])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--name", default="shared")
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--attempts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(anyio.run(main, parse(sys.argv[1:])))
