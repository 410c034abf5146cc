"""A writer process for the replica race tests: publishes versions of one prompt through MCP over HTTP.

    python -m tests.support.publisher --worker 3 --name NAME --seconds 10 URL [URL ...]

For ``--seconds`` it publishes with ``update_prompt`` and the ``base_version`` it last saw, each request to
the next URL in turn (so through every replica). After a ``conflict`` it takes the error's
``current_version`` as its new base. The commit message repeats the template, so that a history page
shows what each version holds. Every outcome is one JSON line on stdout:

    {"ok": VERSION, "template": TEXT}     acknowledged: VERSION holds the TEXT sent
    {"conflict": CURRENT}                 another writer won
    {"error": TEXT}                       anything else (the tests expect none)

It imports no SDK (``tests.support.mcp_http`` is plain httpx), so eight of them start quickly.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import httpx

from tests.support.mcp_http import ModernHttp, ToolError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    options = parser.parse_args()
    clients = [ModernHttp(url, timeout=30) for url in options.urls]
    base = int(clients[0].tool("get_prompt", name=options.name)["version"])
    deadline = time.monotonic() + options.seconds
    attempt = 0
    while time.monotonic() < deadline:
        client = clients[attempt % len(clients)]
        attempt += 1
        template = f"worker {options.worker} attempt {attempt}"
        try:
            written = client.tool(
                "update_prompt",
                name=options.name,
                base_version=base,
                template=template,
                commit_message=template,
            )
        except ToolError as exc:
            if exc.code == "conflict" and isinstance(exc.error.get("current_version"), int):
                base = exc.error["current_version"]
                emit({"conflict": base})
            else:
                emit({"error": str(exc)})
            continue
        except (httpx.HTTPError, RuntimeError) as exc:
            emit({"error": f"{type(exc).__name__}: {exc}"})
            continue
        base = int(written["version"])
        emit({"ok": base, "template": template})
    for client in clients:
        client.close()


def emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
