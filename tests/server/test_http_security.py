"""HTTP guards (DESIGN.md, "Running it"): bearer tokens, read-only tokens, Host/Origin checks, and the
refusal to expose an unauthenticated server beyond loopback."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import (
    INITIALIZE,
    MODERN,
    HttpServer,
    open_client,
    serve_command,
    server_env,
    start_http_server,
    unique,
)

WRITE_TOKEN = "write-secret-token"
READ_TOKEN = "read-secret-token"
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def guarded(seeded_db: Path, module_tmp: Path) -> Iterator[HttpServer]:
    env = server_env(PROMPTSHELF_TOKEN=WRITE_TOKEN, PROMPTSHELF_READ_TOKEN=READ_TOKEN)
    server = start_http_server(seeded_db, module_tmp, "--allowed-host", "prompts.example.com", env=env)
    yield server
    server.stop()


def post(server: HttpServer, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.url, json=INITIALIZE, headers={**ACCEPT, **headers}, timeout=10)


def test_healthz_answers_without_a_token(guarded: HttpServer) -> None:
    response = httpx.get(f"{guarded.base}/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_no_token_or_a_wrong_one_gets_401(guarded: HttpServer) -> None:
    assert post(guarded, {}).status_code == 401
    assert post(guarded, {"Authorization": "Bearer wrong"}).status_code == 401
    response = post(guarded, {"Authorization": f"Bearer {WRITE_TOKEN}"})
    assert response.status_code == 200


@pytest.mark.parametrize("era", ["2025-11-25", MODERN])
@pytest.mark.anyio
async def test_a_read_token_reads_but_cannot_write(guarded: HttpServer, era: str) -> None:
    read = {"Authorization": f"Bearer {READ_TOKEN}"}
    async with open_client(era, "http", url=guarded.url, headers=read) as client:
        listed = await client.call_tool("list_prompts", {})
        assert not listed.is_error
        refused = await client.call_tool("create_prompt", {"name": unique(), "template": "x"})
        assert refused.is_error
        assert refused.structured_content is not None
        assert refused.structured_content["error"]["code"] == "forbidden"
    write = {"Authorization": f"Bearer {WRITE_TOKEN}"}
    async with open_client(era, "http", url=guarded.url, headers=write) as client:
        created = await client.call_tool("create_prompt", {"name": unique(), "template": "x"})
        assert not created.is_error


def test_a_foreign_host_or_origin_is_refused(guarded: HttpServer) -> None:
    token = {"Authorization": f"Bearer {WRITE_TOKEN}"}
    assert post(guarded, {**token, "Host": "evil.example.net"}).status_code == 421
    assert post(guarded, {**token, "Origin": "http://evil.example.net"}).status_code == 403
    # "Any port" means a port: digits, nothing after them.
    assert post(guarded, {**token, "Origin": "http://localhost:1234.evil.example.net"}).status_code == 403
    assert post(guarded, {**token, "Origin": "http://[::1]:80@evil.example.net"}).status_code == 403
    assert post(guarded, {**token, "Host": "localhost:80.evil.example.net"}).status_code == 421
    # IPv6 loopback, with and without a port.
    assert post(guarded, {**token, "Host": f"[::1]:{guarded.port}"}).status_code == 200
    assert post(guarded, {**token, "Origin": f"http://[::1]:{guarded.port}"}).status_code == 200
    # Refused before authentication: a rebinding page learns nothing.
    assert post(guarded, {"Host": "evil.example.net"}).status_code == 421
    # --allowed-host adds a name (any port) and its origins.
    assert post(guarded, {**token, "Host": "prompts.example.com"}).status_code == 200
    assert post(guarded, {**token, "Host": "prompts.example.com:443"}).status_code == 200
    assert post(guarded, {**token, "Origin": "https://prompts.example.com"}).status_code == 200
    assert post(guarded, {**token, "Origin": f"http://localhost:{guarded.port}"}).status_code == 200


def test_binding_all_interfaces_without_a_token_refuses_to_start(seeded_db: Path) -> None:
    result = subprocess.run(
        serve_command("--transport", "http", "--host", "0.0.0.0", "--port", "0", "--db", str(seeded_db)),
        capture_output=True,
        text=True,
        timeout=60,
        env=server_env(),
    )
    assert result.returncode != 0
    assert "refusing to serve on 0.0.0.0 without a token" in result.stderr
    assert result.stdout == ""


def test_no_auth_allows_binding_all_interfaces(seeded_db: Path, module_tmp: Path) -> None:
    server = start_http_server(seeded_db, module_tmp, "--host", "0.0.0.0", "--no-auth")
    try:
        response = httpx.post(server.url, json=INITIALIZE, headers=ACCEPT, timeout=10)
        assert response.status_code == 200
        # No --allowed-host on a public bind: Host is not checked, but a cross-origin page is refused.
        cross = httpx.post(server.url, json=INITIALIZE, headers={**ACCEPT, "Origin": "http://evil.test"})
        assert cross.status_code == 403
    finally:
        server.stop()


def test_a_loopback_bind_other_than_127_0_0_1_accepts_its_own_address(
    seeded_db: Path, module_tmp: Path
) -> None:
    """``--host 127.0.0.2`` is loopback (no token needed), so its clients, who send ``Host: 127.0.0.2:PORT``,
    must be served, not refused with 421."""
    server = start_http_server(seeded_db, module_tmp, host="127.0.0.2")
    try:
        url = server.url
        response = httpx.post(url, json=INITIALIZE, headers=ACCEPT, timeout=10)
        assert response.status_code == 200, response.text
        assert '"serverInfo":{"name":"promptshelf"' in response.text
        # Still DNS-rebinding protection: a foreign name is refused.
        assert httpx.post(url, json=INITIALIZE, headers={**ACCEPT, "Host": "evil.test"}).status_code == 421
    finally:
        server.stop()
