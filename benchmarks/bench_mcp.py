"""MCP latency and throughput, in one run (issue #3).

stdio: the median and p99 latency of ``prompts/get`` and ``tools/call get_prompt`` (one request at a time,
after a warm-up) for

- promptshelf (``promptshelf serve`` on a seeded SQLite file),
- a bare SDK server answering from a dict (``bench_mcp_bare.py``; the floor the SDK allows),
- the peer ``prompt-mcp-server`` from PyPI (prompts from Markdown files; it has no tools, so only
  ``prompts/get``). It runs from its own virtualenv, ``.tools/peer-venv``, which the benchmark makes with
  pip the first time (``--no-peer`` skips that row).

HTTP: requests per second of ``prompts/get`` with 32 concurrent clients (each its own session) for
promptshelf and the bare SDK server.

Targets: promptshelf's stdio median at or below the peer's and at most 0.6x the bare SDK server's; HTTP
throughput at least 0.8x the bare server's.

    python benchmarks/bench_mcp.py [--requests 2000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".tools" / "peer-venv" / "bin" / "python"
ARGUMENTS = {"name": "Ada", "lang": "fr"}
CLIENTS = 32


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def stdio_latency(
    command: list[str], env: dict[str, str], requests: list[tuple[str, dict[str, Any]]], n: int
) -> list[list[float]]:
    """Per request kind, ``n`` round-trip times in ms (after ``n // 10`` warm-up rounds)."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        limit=2**24,
    )
    assert process.stdin and process.stdout
    next_id = 0

    async def roundtrip(method: str, params: dict[str, Any]) -> float:
        nonlocal next_id
        next_id += 1
        line = json.dumps({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params}) + "\n"
        start = time.perf_counter()
        process.stdin.write(line.encode())  # type: ignore[union-attr]
        while True:
            answer = json.loads(await process.stdout.readline())  # type: ignore[union-attr]
            if answer.get("id") == next_id:
                break
        elapsed = (time.perf_counter() - start) * 1000
        assert "result" in answer, answer
        return elapsed

    init = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    }
    await roundtrip("initialize", init)
    process.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
    timings: list[list[float]] = []
    for method, params in requests:
        for _ in range(n // 10):
            await roundtrip(method, params)
        timings.append([await roundtrip(method, params) for _ in range(n)])
    process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
    return timings


async def http_throughput(url: str, seconds: float) -> float:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "b", "version": "1"},
        },
    }
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "prompts/get",
        "params": {"name": "greet", "arguments": ARGUMENTS},
    }
    done = 0
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def client(deadline: float) -> None:
            nonlocal done
            opened = await http.post(url, json=init, headers=headers)
            session = {
                **headers,
                "mcp-session-id": opened.headers["mcp-session-id"],
                "mcp-protocol-version": "2025-11-25",
            }
            await http.post(
                url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session
            )
            while time.perf_counter() < deadline:
                response = await http.post(url, json=body, headers=session)
                assert response.status_code == 200 and '"result"' in response.text, response.text
                done += 1

        await asyncio.gather(*(client(time.perf_counter() + 1) for _ in range(CLIENTS)))  # warm-up
        done = 0
        start = time.perf_counter()
        await asyncio.gather(*(client(start + seconds) for _ in range(CLIENTS)))
        return done / (time.perf_counter() - start)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_http(command: list[str], env: dict[str, str], port: int, health: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.request("GET" if health.endswith("healthz") else "POST", health, timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{command} did not start")


def seed(db: Path, prompts_dir: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import anyio, sys; sys.path.insert(0, sys.argv[2]);"
            "from tests.server.conftest import seed; from pathlib import Path;"
            "anyio.run(seed, Path(sys.argv[1]))",
            str(db),
            str(ROOT),
        ],
        check=True,
    )
    prompts_dir.mkdir()
    (prompts_dir / "greet.md").write_text("Hi {{name}}, in {{lang}}!\n")


def ensure_peer() -> bool:
    """The peer's own virtualenv (it pins its own ``mcp``), made on first use; False if pip cannot."""
    if PEER_PYTHON.exists():
        return True
    venv = PEER_PYTHON.parents[1]
    print(f"installing the peer prompt-mcp-server into {venv} ...", file=sys.stderr)
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], check=False).returncode == 0
    pip = [str(PEER_PYTHON), "-m", "pip", "install", "--quiet", "prompt-mcp-server"]
    if not made or subprocess.run(pip, check=False).returncode != 0:
        print("could not install prompt-mcp-server: its row is skipped", file=sys.stderr)
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="timed requests per kind and server (stdio)"
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="timed seconds per server (HTTP)")
    parser.add_argument("--no-peer", action="store_true", help="skip the peer prompt-mcp-server")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTSHELF_")}
    prompt = ("prompts/get", {"name": "greet", "arguments": ARGUMENTS})
    tool = ("tools/call", {"name": "get_prompt", "arguments": {"name": "greet"}})
    bare = [sys.executable, str(ROOT / "benchmarks" / "bench_mcp_bare.py")]
    results: dict[str, Any] = {"stdio": {}, "http": {}}
    with tempfile.TemporaryDirectory() as scratch:
        db, prompts_dir = Path(scratch) / "bench.db", Path(scratch) / "prompts"
        seed(db, prompts_dir)
        shelf = [sys.executable, "-m", "promptshelf", "serve", "--db", str(db)]
        servers: dict[str, tuple[list[str], dict[str, str], list[tuple[str, dict[str, Any]]]]] = {
            "promptshelf": (shelf, env, [prompt, tool]),
            "bare-sdk": ([*bare, "stdio"], env, [prompt, tool]),
        }
        if not args.no_peer and ensure_peer():
            peer_env = {**env, "PROMPTS_PATH": str(prompts_dir)}
            servers["prompt-mcp-server"] = (
                [str(PEER_PYTHON), "-m", "mcp_server.prompt_mcp_server"],
                peer_env,
                [prompt],
            )
        for name, (command, server_env, requests) in servers.items():
            timings = asyncio.run(stdio_latency(command, server_env, requests, args.requests))
            results["stdio"][name] = {
                method: {"median_ms": statistics.median(t), "p99_ms": percentile(t, 0.99)}
                for (method, _), t in zip(requests, timings, strict=True)
            }
        for name, make in (
            ("promptshelf", lambda port: [*shelf, "--transport", "http", "--port", str(port)]),
            ("bare-sdk", lambda port: [*bare, "http", str(port)]),
        ):
            port = free_port()
            health = (
                f"http://127.0.0.1:{port}/healthz"
                if name == "promptshelf"
                else f"http://127.0.0.1:{port}/mcp"
            )
            process = start_http(make(port), env, port, health)
            try:
                rps = asyncio.run(http_throughput(f"http://127.0.0.1:{port}/mcp", args.seconds))
                results["http"][name] = {"requests_per_second": rps}
            finally:
                process.terminate()
                process.wait(10)
    stdio, http = results["stdio"], results["http"]
    ratios: dict[str, float] = {}
    for method in ("prompts/get", "tools/call"):
        ratios[f"stdio {method} median / bare-sdk"] = (
            stdio["promptshelf"][method]["median_ms"] / stdio["bare-sdk"][method]["median_ms"]
        )
    if "prompt-mcp-server" in stdio:
        ratios["stdio prompts/get median / prompt-mcp-server"] = (
            stdio["promptshelf"]["prompts/get"]["median_ms"]
            / stdio["prompt-mcp-server"]["prompts/get"]["median_ms"]
        )
    ratios["http rps / bare-sdk"] = (
        http["promptshelf"]["requests_per_second"] / http["bare-sdk"]["requests_per_second"]
    )
    results["ratios"] = ratios
    print(json.dumps(results, indent=2))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "bench_mcp.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
