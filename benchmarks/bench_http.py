"""HTTP throughput and latency under wrk load, in one run (issue 12).

Sessionless 2026-07-28 requests (``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name`` headers and the
``_meta`` envelope keys, no ``initialize``) for ``prompts/get`` and ``tools/call get_prompt``, with 16
connections (``wrk -t2 -c16`` and a Lua script that checks every answer), against

- promptshelf (``promptshelf serve --transport http`` on a seeded SQLite file), once per ``--variant``
  (environment settings such as ``PROMPTSHELF_HTTP_STACK=h11``),
- a bare SDK server: ``MCPServer`` with the same prompt, and a ``get_prompt`` tool answering with the very
  document promptshelf answers with (the same result built and sent), on its own streamable HTTP app,
- a bare ASGI app answering the same JSON bytes (the floor of the server stack),

each on the same server stack (``promptshelf.server.run_http``: the same uvicorn protocol, loop and
connection limits, chosen with ``--stack``). Each round measures each request kind on every server back
to back, so that load on the machine from outside spreads over all of them. Reported per server and
request kind: the median requests/s over the rounds, the median p50 and p99 latency, the ratio of the
median to the bare SDK server's, and the median of each round's own ratio (measurements seconds apart).

Per core: each server is one process, and the CPU time it used during a round (user and system, all its
threads, from ``/proc/PID/stat``) over the requests it answered is its cost per request. Requests/s
depend on how much of a core the server was given, which on a shared machine drifts from one second to
the next (with wrk itself on the same two cores); CPU time per request does not, so the per-core ratio
(the bare SDK's CPU per request over the server's, median of the rounds' ratios) is the steadier figure.

    python benchmarks/bench_http.py [--seconds 3] [--rounds 5] [--stack auto|uvloop|h11] \
        [--variant NAME=VAR=VALUE[,VAR=VALUE]] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
VERSION = "2026-07-28"
CONNECTIONS = 16
META = {
    "io.modelcontextprotocol/protocolVersion": VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
}
KINDS: dict[str, tuple[str, str, dict[str, Any], str]] = {
    # kind: (method, Mcp-Name, params, text every good answer holds)
    "prompts/get": (
        "prompts/get", "greet", {"name": "greet", "arguments": {"name": "Ada", "lang": "fr"}},
        "Hi Ada, in fr!",
    ),
    "tools/call get_prompt": (
        "tools/call", "get_prompt", {"name": "get_prompt", "arguments": {"name": "greet"}},
        "Hi {{name}}, in {{lang}}!",
    ),
}  # fmt: skip


def request_body(kind: str) -> bytes:
    method, _, params, _ = KINDS[kind]
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": META}}
    ).encode()


def request_headers(kind: str) -> dict[str, str]:
    method, name, _, _ = KINDS[kind]
    return {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": VERSION,
        "Mcp-Method": method,
        "Mcp-Name": name,
    }


# -- the two reference servers (run in their own processes: --serve KIND PORT STACK [BODIES]) ------------


def bare_sdk_app(document: dict[str, Any]) -> Any:
    """``MCPServer`` with the same prompt, and a ``get_prompt`` tool answering with ``document``: the very
    document promptshelf answers with, so that both servers build and send the same result."""
    from mcp.server import MCPServer

    template = document["template"]
    server = MCPServer("bare")

    @server.prompt(name="greet", description=document["description"])
    def greet(name: str, lang: str) -> str:
        return template.replace("{{name}}", name).replace("{{lang}}", lang)

    @server.tool(name="get_prompt")
    def get_prompt(name: str) -> dict[str, Any]:
        return document

    return server.streamable_http_app()


def bare_asgi_app(bodies: dict[str, bytes]) -> Any:
    """Reads the request, answers the body promptshelf gives for its ``Mcp-Method``: nothing else."""
    by_method = {KINDS[kind][0].encode(): body for kind, body in bodies.items()}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        method = next((v for k, v in scope["headers"] if k == b"mcp-method"), b"")
        body = by_method.get(method, b"{}")
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def serve_reference(kind: str, port: int, stack: str, bodies_file: str | None) -> None:
    from promptshelf.server import run_http
    from promptshelf.settings import Settings

    assert bodies_file is not None
    bodies = {k: bytes.fromhex(v) for k, v in json.loads(Path(bodies_file).read_text()).items()}
    if kind == "bare-sdk":
        app = bare_sdk_app(json.loads(bodies["tools/call get_prompt"])["result"]["structuredContent"])
    else:
        app = bare_asgi_app(bodies)
    run_http(app, host="127.0.0.1", port=port, settings=Settings(), stack=stack)


# -- load -------------------------------------------------------------------------------------------------

LUA = """
wrk.method = "POST"
wrk.body = {body}
{headers}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, {expect}, 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format('RESULT {{"requests":%d,"duration_us":%d,"bad":%d,"errors":%d,' ..
    '"p50_us":%d,"p99_us":%d}}\\n', summary.requests, summary.duration, b,
    e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for this ASCII text


def write_script(kind: str, folder: Path) -> Path:
    headers = "\n".join(
        f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in request_headers(kind).items()
    )
    script = LUA.format(
        body=lua_string(request_body(kind).decode()), headers=headers, expect=lua_string(KINDS[kind][3])
    )
    path = folder / f"{kind.replace('/', '_').replace(' ', '_')}.lua"
    path.write_text(script)
    return path


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a process (all its threads, exited ones included) has used, or None
    where ``/proc`` does not say."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime and stime, in ticks


def wrk(url: str, script: Path, seconds: int, pid: int | None = None) -> dict[str, float]:
    cpu_before = cpu_seconds(pid) if pid is not None else None
    finished = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{max(1, seconds)}s", "--timeout", "10s", "-s", str(script),
         url],
        capture_output=True, text=True, check=False, timeout=seconds + 60,
    )  # fmt: skip
    if finished.returncode != 0:
        raise RuntimeError(f"wrk failed: {finished.stderr}{finished.stdout}")
    line = next(line for line in finished.stdout.splitlines() if line.startswith("RESULT "))
    figures: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    if figures["bad"] or figures["errors"]:
        raise RuntimeError(
            f"{url}: {figures['bad']} bad answers, {figures['errors']} errors\n{finished.stdout}"
        )
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    cpu_after = cpu_seconds(pid) if pid is not None else None
    if cpu_before is not None and cpu_after is not None and cpu_after > cpu_before:
        figures["cpu_us"] = (cpu_after - cpu_before) * 1e6 / figures["requests"]
    return figures


# -- servers ----------------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    rounds: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self, log: Path) -> None:
        with log.open("ab") as sink:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=sink, stderr=sink)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {log}\n{log.read_text()[-3000:]}")
            try:
                answer = httpx.post(
                    self.url,
                    content=request_body("prompts/get"),
                    headers=request_headers("prompts/get"),
                    timeout=2,
                )
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start: see {log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def seed(db: Path) -> None:
    code = (
        "import anyio, sys; sys.path.insert(0, sys.argv[2]); from pathlib import Path;"
        "from tests.server.conftest import seed; anyio.run(seed, Path(sys.argv[1]))"
    )
    subprocess.run([sys.executable, "-c", code, str(db), str(ROOT)], check=True)


def promptshelf_bodies(url: str) -> dict[str, str]:
    """The exact bytes promptshelf answers each kind with, for the bare ASGI app to send."""
    bodies = {}
    for kind in KINDS:
        answer = httpx.post(url, content=request_body(kind), headers=request_headers(kind), timeout=10)
        answer.raise_for_status()
        bodies[kind] = answer.content.hex()
    return bodies


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, settings = text.partition("=")
    env = dict(item.split("=", 1) for item in settings.split(",") if item)
    return name, env


def summarize(servers: list[Server]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for server in servers:
        results[server.name] = {
            kind: {
                "rps": statistics.median(r["rps"] for r in rounds),
                "rps_rounds": [round(r["rps"]) for r in rounds],
                "p50_ms": statistics.median(r["p50_us"] for r in rounds) / 1000,
                "p99_ms": statistics.median(r["p99_us"] for r in rounds) / 1000,
            }
            for kind, rounds in server.rounds.items()
        }
        for kind, rounds in server.rounds.items():
            if all("cpu_us" in r for r in rounds):
                results[server.name][kind]["cpu_us"] = statistics.median(r["cpu_us"] for r in rounds)
    bare = next((server for server in servers if server.name == "bare-sdk"), None)
    if bare is not None:
        for server in servers:
            for kind, row in results[server.name].items():
                row["x_bare_sdk"] = row["rps"] / results["bare-sdk"][kind]["rps"]
                per_round = [
                    mine["rps"] / theirs["rps"]
                    for mine, theirs in zip(server.rounds[kind], bare.rounds[kind], strict=True)
                ]
                row["x_bare_sdk_rounds"] = [round(ratio, 2) for ratio in per_round]
                row["x_bare_sdk_median_round"] = statistics.median(per_round)
                if "cpu_us" in row and "cpu_us" in results["bare-sdk"][kind]:
                    per_core = [
                        theirs["cpu_us"] / mine["cpu_us"]
                        for mine, theirs in zip(server.rounds[kind], bare.rounds[kind], strict=True)
                    ]
                    row["x_bare_sdk_per_core_rounds"] = [round(ratio, 2) for ratio in per_core]
                    row["x_bare_sdk_per_core"] = statistics.median(per_core)
    return results


def print_table(results: dict[str, Any]) -> None:
    print(
        f"{'server':<28} {'request':<22} {'req/s':>8} {'x bare SDK':>10} {'per round':>10}"
        f" {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>10} {'per core':>9}"
    )
    for name, figures in results.items():
        for kind, row in figures.items():
            print(
                f"{name:<28} {kind:<22} {row['rps']:>8.0f} {row.get('x_bare_sdk', 0):>10.2f}"
                f" {row.get('x_bare_sdk_median_round', 0):>10.2f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}"
                f" {row.get('cpu_us', 0):>10.0f} {row.get('x_bare_sdk_per_core', 0):>9.2f}"
            )
    print(
        "x bare SDK: median req/s over the median of the bare SDK's; per round: the median of each round's"
        " ratio (the two measured seconds apart); per core: the median of each round's ratio of the bare"
        " SDK's server CPU time per request to this server's"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3, help="seconds of load per round")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of load before the rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stack", default="auto", help="server stack of the reference servers (run_http)")
    parser.add_argument(
        "--variant", action="append", default=[],
        help="a promptshelf variant NAME=VAR=VALUE[,VAR=VALUE] (default: one, 'promptshelf', as configured)",
    )  # fmt: skip
    parser.add_argument("--no-reference", action="store_true", help="promptshelf variants only")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_http.json")
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        kind, port, stack, *rest = args.serve
        serve_reference(kind, int(port), stack, rest[0] if rest else None)
        return
    if shutil.which("wrk") is None:
        sys.exit(
            "wrk is not installed (Debian package 'wrk'; scripts/install-system-packages.sh installs it)"
        )
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTSHELF_")}
    variants = [parse_variant(v) for v in args.variant] or [("promptshelf", {})]
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        db = scratch / "bench.db"
        seed(db)
        servers = [
            Server(name, [sys.executable, "-m", "promptshelf", "serve", "--transport", "http",
                          "--db", str(db), "--port", str(port := free_port())], {**base_env, **env}, port)
            for name, env in variants
        ]  # fmt: skip
        log = scratch / "servers.log"
        started: list[Server] = []
        try:
            for server in servers:
                server.start(log)
                started.append(server)
            if not args.no_reference:
                bodies = scratch / "bodies.json"
                bodies.write_text(json.dumps(promptshelf_bodies(servers[0].url)))
                here = [sys.executable, str(Path(__file__).resolve()), "--serve"]
                for name in ("bare-sdk", "bare-asgi"):
                    port = free_port()
                    command = [*here, name, str(port), args.stack, str(bodies)]
                    servers.append(Server(name, command, base_env, port))
                    servers[-1].start(log)
                    started.append(servers[-1])
            scripts = {kind: write_script(kind, scratch) for kind in KINDS}
            for server in servers:
                for script in scripts.values():
                    wrk(server.url, script, args.warmup)
            # Each kind is measured on every server back to back, so that a round's ratios compare
            # measurements seconds apart: this machine's speed drifts by a fifth within a minute.
            for _ in range(args.rounds):
                for kind, script in scripts.items():
                    for server in servers:
                        pid = server.process.pid if server.process is not None else None
                        server.rounds.setdefault(kind, []).append(wrk(server.url, script, args.seconds, pid))
        finally:
            for server in started:
                server.stop()
    results = summarize(servers)
    print_table(results)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(
        json.dumps({"stack": args.stack, "variants": dict(variants), "servers": results}, indent=2)
    )


if __name__ == "__main__":
    main()
