"""A throwaway PostgreSQL cluster for the tests: Debian's binaries, a temporary folder, 127.0.0.1.

``PostgresCluster.create()`` runs ``initdb`` into a fresh temporary folder and starts the server on a free
loopback port with its socket in that folder; ``destroy()`` stops it and removes everything. ``stop()``,
``start()`` and ``restart()`` are there for the fault tests (PostgreSQL going away under a running server).

``initdb`` and the server refuse to run as root: as root, they run as an unprivileged system user
(Debian's ``postgres``, or ``promptshelf-pg``, created with ``useradd --system`` when there is neither),
which owns the folder; as any other user they run as that user.

Authentication: ``trust`` for every role on 127.0.0.1, except members of the role ``password_required``,
which must give their password (``scram-sha-256``), so that tests can check that passwords from the URL,
``PGPASSWORD`` and ``~/.pgpass`` reach the server.

PostgreSQL missing is an error, never a skip: ``scripts/install-system-packages.sh`` installs it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

SUPERUSER = "postgres"
PASSWORD_ROLE = "password_required"
"""Members of this role log in with a password; everyone else is trusted (loopback only)."""
UNPRIVILEGED_USERS = ("postgres", "promptshelf-pg")

# Tuned for tests. fsync and full-page writes off: the cluster is thrown away, so what an operating-system
# crash could lose does not matter, and commits and CREATE DATABASE no longer wait for the disk. Commits
# stay synchronous (WAL written before the client hears "committed"), so a killed or restarted server
# still keeps every acknowledged write, which the fault tests rely on.
TEST_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "on",
    "max_connections": "300",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
    "log_connections": "off",
    "logging_collector": "off",
}


class PostgresNotInstalled(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """The newest PostgreSQL's binaries: Debian keeps them in /usr/lib/postgresql/<major>/bin."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PostgresNotInstalled(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH): "
        "run scripts/install-system-packages.sh"
    )


@dataclass(frozen=True)
class _RunAs:
    user: str | None
    """None: run as the current user."""
    uid: int
    gid: int

    def kwargs(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _run_as() -> _RunAs:
    if os.geteuid() != 0:
        return _RunAs(None, os.geteuid(), os.getegid())
    for name in UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return _RunAs(name, entry.pw_uid, entry.pw_gid)
    name = UNPRIVILEGED_USERS[-1]
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    entry = pwd.getpwnam(name)
    return _RunAs(name, entry.pw_uid, entry.pw_gid)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresCluster:
    host = "127.0.0.1"

    def __init__(self, root: Path, bin_dir: Path, run_as: _RunAs, port: int) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.run_as = run_as
        self.port = port
        self.data_dir = root / "data"
        self.socket_dir = root / "socket"
        self.log_file = root / "server.log"
        self._database_numbers = itertools.count(1)

    # -- life cycle ----------------------------------------------------------------------------------

    @classmethod
    def create(cls) -> PostgresCluster:
        bin_dir = find_bin_dir()
        run_as = _run_as()
        root = Path(tempfile.mkdtemp(prefix="promptshelf-pg-"))
        cluster = cls(root, bin_dir, run_as, free_port())
        try:
            cluster._init()
            cluster._start_on_a_free_port()
            cluster._prepare_roles()
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def _init(self) -> None:
        self.socket_dir.mkdir()
        if self.run_as.user is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self.run_as.uid, self.run_as.gid)
        self._pg(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C.UTF-8",
            "--no-sync",  # see TEST_SETTINGS
        )
        settings = dict(TEST_SETTINGS, unix_socket_directories=f"'{self.socket_dir}'")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# promptshelf tests\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all +{PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n"
        )

    def _start_on_a_free_port(self) -> None:
        # Another process may take the port between free_port() and the server binding it: try another.
        for attempt in range(5):
            try:
                self.start()
                return
            except subprocess.CalledProcessError:
                if attempt == 4 or "could not bind" not in self.log():
                    raise
                self.port = free_port()

    def _prepare_roles(self) -> None:
        self.sql(f"CREATE ROLE {PASSWORD_ROLE} NOLOGIN")

    def start(self) -> None:
        self._pg(
            "pg_ctl",
            "start",
            "--wait",
            "--timeout",
            "60",
            "--pgdata",
            str(self.data_dir),
            "--log",
            str(self.log_file),
            "-o",
            f"-p {self.port}",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients and shut down cleanly; ``immediate``: a crash)."""
        self._pg("pg_ctl", "stop", "--wait", "--timeout", "60", "--pgdata", str(self.data_dir), "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def is_running(self) -> bool:
        status = subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "status", "--pgdata", str(self.data_dir)],
            capture_output=True,
            cwd=self.root,
            **self.run_as.kwargs(),
        )
        return status.returncode == 0

    def destroy(self) -> None:
        try:
            if self.data_dir.exists() and self.is_running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- databases and roles -------------------------------------------------------------------------

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        credentials = quote(user, safe="") + (":" + quote(password, safe="") if password is not None else "")
        return f"postgresql://{credentials}@{self.host}:{self.port}/{quote(database, safe='')}"

    def create_database(self, owner: str = SUPERUSER) -> str:
        """A new empty database (a copy of template1: cheap); returns its name."""
        name = f"test_{os.getpid()}_{next(self._database_numbers)}"
        self.sql(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        return name

    def create_role(self, name: str, password: str | None = None, *, superuser: bool = False) -> None:
        """A login role; with a password, it must give it (it joins ``password_required``)."""
        options = "LOGIN" + (" SUPERUSER" if superuser else "")
        if password is not None:
            escaped = password.replace("'", "''")
            options += f" PASSWORD '{escaped}' IN ROLE {PASSWORD_ROLE}"
        self.sql(f'CREATE ROLE "{name}" {options}')

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run SQL as the superuser through psql; returns what it printed (unaligned, tuples only)."""
        result = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "--no-psqlrc",
                "--no-password",
                "--quiet",
                "--tuples-only",
                "--no-align",
                "--set",
                "ON_ERROR_STOP=1",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--username",
                SUPERUSER,
                "--dbname",
                database,
                "--command",
                statement,
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSFILE": os.devnull, "PGCONNECT_TIMEOUT": "10"},
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed on {statement!r}: {result.stderr.strip()}")
        return result.stdout.strip()

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- plumbing ------------------------------------------------------------------------------------

    def _pg(self, program: str, *args: str) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG") and key != "LANG"}
        env["LC_ALL"] = "C.UTF-8"
        result = subprocess.run(
            [str(self.bin_dir / program), *args],
            capture_output=True,
            text=True,
            cwd=self.root,  # initdb warns when it cannot enter the caller's folder (root's home)
            env=env,
            **self.run_as.kwargs(),
        )
        if result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode,
                result.args,
                output=result.stdout,
                stderr=f"{result.stderr}\n--- server log ---\n{self.log()[-4000:]}",
            )
