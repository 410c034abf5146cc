"""``compose.yaml`` (README, "Team server"): PostgreSQL, promptshelf replicas, nginx in front.

Containers cannot run here, so the test reads the file and runs what it describes as local processes:
each promptshelf replica is the service's own ``command`` with the service's own ``environment``
(compose's ``${...}`` filled in; the database URL pointed at the test cluster, whose role of that name
must give the compose file's password, from ``PGPASSWORD``; ports mapped to free ones), and nginx runs
``deploy/nginx.conf`` with its upstream pointed at those replicas.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from promptshelf.settings import Settings
from tests.server.conftest import open_client, unique
from tests.support.mcp_http import ModernHttp
from tests.support.postgres_cluster import PostgresCluster
from tests.support.replicas import Replica, ReplicaSet, clean_env, free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
VARIABLES = {"POSTGRES_PASSWORD": "pw from compose", "PROMPTSHELF_TOKEN": "team-token-for-tests"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's variable syntax: ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}``, ``$$``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, operand = match.group(1), match.group(2), match.group(3)
        given = variables.get(name, "")
        if operator == ":?" and not given:
            raise ValueError(f"{name} is required: {operand}")
        if operator == ":-" and not given:
            return operand or ""
        return given

    return re.sub(r"\$\$|\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


def service_environment(service: dict[str, Any], variables: dict[str, str]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: interpolate(str(value), variables) for key, value in environment.items()}


def test_the_compose_file_runs_postgres_replicas_and_a_load_balancer() -> None:
    services = compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    server = services["promptshelf"]
    assert server["deploy"]["replicas"] >= 2
    assert server["command"][:4] == ["promptshelf", "serve", "--transport", "http"]
    environment = service_environment(server, VARIABLES)
    assert environment["PROMPTSHELF_BACKEND"] == "postgres"
    url = urlsplit(environment["PROMPTSHELF_DATABASE_URL"])
    assert (url.scheme, url.hostname, url.password) == ("postgresql", "postgres", None)
    assert environment["PGPASSWORD"] == VARIABLES["POSTGRES_PASSWORD"]
    # Every PROMPTSHELF_* variable is a setting promptshelf reads (a misspelt one would be ignored).
    known = {f"PROMPTSHELF_{field.upper()}" for field in Settings.model_fields}
    ours = {name for name in environment if name.startswith("PROMPTSHELF_")}
    assert ours <= known, ours - known
    lb = services["lb"]
    assert lb["image"].startswith("nginx:")
    assert any(volume.startswith("./deploy/nginx.conf:") for volume in lb["volumes"])
    # The secrets have no defaults: compose refuses to start without them.
    with pytest.raises(ValueError, match="PROMPTSHELF_TOKEN is required"):
        service_environment(server, {"POSTGRES_PASSWORD": "x"})


def replica_command(service: dict[str, Any]) -> Any:
    """The service's command for a local port: ``promptshelf`` from this checkout, 127.0.0.1, ``port``."""

    def command(port: int) -> list[str]:
        argv = list(service["command"])
        assert argv[0] == "promptshelf"
        argv[argv.index("--port") + 1] = str(port)
        argv[argv.index("--host") + 1] = "127.0.0.1"
        return [sys.executable, "-m", "promptshelf", *argv[1:]]

    return command


@pytest.fixture
def compose_environment(postgres_cluster: PostgresCluster) -> Iterator[dict[str, str]]:
    """The promptshelf service's environment, its database URL moved to the test cluster: a database of
    its own, owned by the compose file's role, which must log in with the compose file's password."""
    environment = service_environment(compose()["services"]["promptshelf"], VARIABLES)
    url = urlsplit(environment["PROMPTSHELF_DATABASE_URL"])
    assert url.username
    postgres_cluster.create_role(url.username, password=VARIABLES["POSTGRES_PASSWORD"])
    database = postgres_cluster.create_database(owner=url.username)
    moved = url._replace(
        netloc=f"{url.username}@{postgres_cluster.host}:{postgres_cluster.port}", path=f"/{database}"
    )
    environment["PROMPTSHELF_DATABASE_URL"] = moved.geturl()
    yield environment
    postgres_cluster.sql(f'DROP DATABASE "{database}" WITH (FORCE)')
    postgres_cluster.sql(f'DROP ROLE "{url.username}"')


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise RuntimeError("nginx is not installed: run scripts/install-system-packages.sh")
    return found


class Nginx:
    """``deploy/nginx.conf`` run by the local nginx, its upstream the given replicas."""

    def __init__(self, replicas: list[Replica], tmp: Path) -> None:
        self.port = free_port()
        self.log = tmp / "nginx.log"
        conf = NGINX_CONF.read_text()
        servers = "".join(f"server {replica.host}:{replica.port};\n        " for replica in replicas)
        assert conf.count("server promptshelf:8000;") == 2
        conf = conf.replace("server promptshelf:8000;", servers.rstrip())
        conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        conf = conf.replace("pid /tmp/nginx.pid;", f"pid {tmp / 'nginx.pid'};")
        conf = conf.replace("worker_processes auto;", "worker_processes 1;")
        path = tmp / "nginx.conf"
        path.write_text(conf)
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [nginx_binary(), "-p", str(tmp), "-c", str(path), "-g", "daemon off;"],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not answer: {self.log.read_text()}")
            time.sleep(0.1)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def failure_report(self) -> str:
        return f"--- nginx:\n{self.log.read_text(errors='replace')}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def team(compose_environment: dict[str, str], tmp_path: Path) -> Iterator[tuple[ReplicaSet, Nginx]]:
    """The compose file's promptshelf replicas and load balancer, as local processes."""
    service = compose()["services"]["promptshelf"]
    with ReplicaSet(tmp_path, []) as replicas:
        command = replica_command(service)
        started = [
            replicas.spawn_command(command, env=clean_env(compose_environment))
            for _ in range(service["deploy"]["replicas"])
        ]
        wait_healthy(started)
        nginx = Nginx(started, tmp_path)
        try:
            yield replicas, nginx
        finally:
            nginx.stop()


@pytest.mark.anyio
async def test_the_compose_services_serve_one_database_behind_nginx(team: tuple[ReplicaSet, Nginx]) -> None:
    replicas, nginx = team
    token = VARIABLES["PROMPTSHELF_TOKEN"]
    name = unique("team")
    with ModernHttp(f"{nginx.base}/mcp", token=token) as through_lb:
        through_lb.tool("create_prompt", name=name, template="v1 {{x}}")
        for version in range(2, 6):
            # Sessionless requests go to any replica; each one reads what the last one wrote.
            through_lb.tool("update_prompt", name=name, base_version=version - 1, template=f"v{version}")
            assert through_lb.tool("get_prompt", name=name)["version"] == version
    for replica in replicas:
        with ModernHttp(replica.url, token=token) as direct:
            assert direct.tool("get_prompt", name=name)["template"] == "v5"
        with ModernHttp(replica.url) as anonymous:
            assert anonymous.http.post(replica.url, json={}).status_code == 401
    # A handshake-era session lives on one replica: nginx keeps each of its requests there.
    headers = {"Authorization": f"Bearer {token}"}
    async with open_client("2025-11-25", "http", url=f"{nginx.base}/mcp", headers=headers) as client:
        for _ in range(6):
            result = await client.call_tool("get_prompt", {"name": name})
            assert result.structured_content is not None and result.structured_content["version"] == 5
