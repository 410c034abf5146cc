"""N real ``promptshelf serve --transport http`` processes on one store, as a team's replicas run.

``ReplicaSet`` starts them on 127.0.0.1 at free ports (all at once, then waits for each one's
``/healthz``: start-up is mostly imports, and they overlap), can add, stop or SIGKILL one, and stops
every process it started when closed. Each replica's stderr goes to a log file; ``failure_report()``
returns them all, and the ``pytest_runtest_makereport`` hook in ``tests/conftest.py`` attaches that to
the report of any failing test that used the set, so a failure shows what the servers said.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from tests.support.postgres_cluster import PostgresCluster

START_TIMEOUT = 60.0
"""Generous: on a busy 2-core machine several processes importing the SDK at once take a while."""
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any PROMPTSHELF_* setting (a developer's own must not leak in),
    plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PROMPTSHELF_")}
    env.update(extra or {})
    return env


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    host: str = "127.0.0.1"

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no rollback, as a crash or an OOM kill would end it."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)

    def terminate(self) -> None:
        if self.alive:
            self.process.terminate()

    def wait_stopped(self) -> None:
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)


def wait_healthy(replicas: Sequence[Replica], timeout: float = START_TIMEOUT) -> None:
    """Until every replica answers ``/healthz``; a replica that exits or stays silent fails with its log."""
    deadline = time.monotonic() + timeout
    waiting = list(replicas)
    while waiting:
        for replica in list(waiting):
            if not replica.alive:
                raise RuntimeError(
                    f"replica {replica.name} exited with {replica.process.returncode}:\n{replica.log_text()}"
                )
            if replica.healthy():
                waiting.remove(replica)
        if waiting and time.monotonic() > deadline:
            logs = "\n".join(f"--- {r.name}:\n{r.log_text()}" for r in waiting)
            raise RuntimeError(f"replicas did not answer /healthz within {timeout} s:\n{logs}")
        if waiting:
            time.sleep(0.1)


class ReplicaSet:
    """Replicas of one store: every one started with ``store_args`` (``--db PATH``, or ``--backend
    postgres --database-url URL``) plus ``args``, in environment ``env`` (default: ``clean_env()``)."""

    def __init__(
        self,
        log_dir: Path,
        store_args: Sequence[str],
        *args: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.store_args = list(store_args)
        self.args = list(args)
        self.env = dict(env) if env is not None else clean_env()
        self.replicas: list[Replica] = []
        self._stopped: list[Replica] = []

    def __enter__(self) -> ReplicaSet:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Replica]:
        return iter(self.replicas)

    def __getitem__(self, index: int) -> Replica:
        return self.replicas[index]

    def __len__(self) -> int:
        return len(self.replicas)

    def command(self, port: int, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "promptshelf",
            "serve",
            "--transport",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *self.store_args,
            *self.args,
            *extra,
        ]

    def spawn(self, *extra: str, env: Mapping[str, str] | None = None) -> Replica:
        """Start one more replica without waiting for it (``wait_healthy`` does)."""
        return self.spawn_command(lambda port: self.command(port, *extra), env=env)

    def spawn_command(
        self, command: Callable[[int], list[str]], *, env: Mapping[str, str] | None = None
    ) -> Replica:
        """Start ``command(port)`` (a command line of its own, such as a compose service's) as a replica."""
        port = free_port()
        name = f"replica-{len(self.replicas) + len(self._stopped) + 1}"
        log = self.log_dir / f"{name}-{port}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command(port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=sink,
                env=dict(env) if env is not None else self.env,
            )
        replica = Replica(name, port, process, log)
        self.replicas.append(replica)
        return replica

    def start(self, count: int, *extra: str) -> list[Replica]:
        """Start ``count`` replicas together and wait until each serves."""
        started = [self.spawn(*extra) for _ in range(count)]
        try:
            wait_healthy(started)
        except BaseException:
            self.close()
            raise
        return started

    def kill(self, replica: Replica) -> None:
        replica.kill()
        self.replicas.remove(replica)
        self._stopped.append(replica)

    def close(self) -> None:
        """SIGTERM to every replica at once, then wait for each (SIGKILL after ``STOP_TIMEOUT``)."""
        for replica in self.replicas:
            replica.terminate()
        for replica in self.replicas:
            replica.wait_stopped()
        self._stopped += self.replicas
        self.replicas = []

    def failure_report(self) -> str:
        """Every replica's log (those stopped or killed too), for the report of a failing test."""
        return "\n".join(
            f"--- {replica.name} (port {replica.port}, exit {replica.process.poll()}):\n{replica.log_text()}"
            for replica in [*self._stopped, *self.replicas]
        )


@contextmanager
def fresh_database(cluster: PostgresCluster) -> Iterator[str]:
    """A new empty database on the test cluster for a module's replicas; dropped afterwards (the cluster
    started again first if a fault test left it stopped)."""
    name = cluster.create_database()
    try:
        yield cluster.url(name)
    finally:
        if not cluster.is_running():
            cluster.start()
        cluster.sql(f'DROP DATABASE "{name}" WITH (FORCE)')
