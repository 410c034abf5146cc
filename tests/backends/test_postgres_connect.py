"""Reaching PostgreSQL as libpq users expect: the password from the URL, PGPASSWORD or ~/.pgpass, the
pool's flags, the CLI, and no password in any error or log line."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from promptshelf.backends import open_store
from promptshelf.backends.postgres import PostgresStore
from promptshelf.backends.postgres_connect import scrub
from promptshelf.errors import InvalidArgumentError, UnavailableError
from promptshelf.model import PromptMeta, VersionDraft
from promptshelf.settings import Settings
from tests.support.postgres_cluster import PostgresCluster

pytestmark = pytest.mark.anyio

PASSWORD = "pw-7f3a'9c:1e@5b/x"
"""Characters a URL must percent-encode, and a quote .pgpass and keyword strings must escape."""


@pytest.fixture
def guarded(postgres_cluster: PostgresCluster, request: pytest.FixtureRequest) -> tuple[str, str]:
    """A role that must give its password (``PASSWORD``) and a database it owns: (role, database)."""
    role = f"pw_{request.node.name[:40].lower()}".replace("[", "_").replace("]", "_").replace("-", "_")
    postgres_cluster.create_role(role, PASSWORD)
    return role, postgres_cluster.create_database(owner=role)


@pytest.fixture(autouse=True)
def no_ambient_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in ("PGPASSWORD", "PGPASSFILE", "PGUSER", "PGSERVICE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.pgpass unless a test writes one
    (tmp_path / "home").mkdir()


async def create_and_read(url: str) -> str:
    store = await PostgresStore.open(url)
    try:
        name = f"p-{uuid.uuid4().hex[:8]}"
        await store.create_prompt(name, PromptMeta(), VersionDraft(type="text", template="hello"))
        return (await store.get_version(name)).template or ""
    finally:
        await store.aclose()


async def test_the_password_may_come_from_the_url(
    postgres_cluster: PostgresCluster, guarded: tuple[str, str]
) -> None:
    role, database = guarded
    url = postgres_cluster.url(database, user=role, password=PASSWORD)
    assert await create_and_read(url) == "hello"
    assert await create_and_read(url.replace("postgresql://", "postgres://", 1)) == "hello"  # both schemes


async def test_the_password_may_come_from_pgpassword(
    postgres_cluster: PostgresCluster, guarded: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    role, database = guarded
    url = postgres_cluster.url(database, user=role)
    with pytest.raises(UnavailableError, match="password"):
        await PostgresStore.open(url, pool_timeout=2)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    assert await create_and_read(url) == "hello"


async def test_the_password_may_come_from_pgpass_in_the_home_folder(
    postgres_cluster: PostgresCluster, guarded: tuple[str, str], tmp_path: Path
) -> None:
    role, database = guarded
    escaped = PASSWORD.replace("\\", "\\\\").replace(":", "\\:")
    pgpass = tmp_path / "home" / ".pgpass"
    pgpass.write_text(f"127.0.0.1:{postgres_cluster.port}:{database}:{role}:{escaped}\n")
    pgpass.chmod(0o600)  # libpq ignores a password file others can read
    assert await create_and_read(postgres_cluster.url(database, user=role)) == "hello"


async def test_a_wrong_password_is_unavailable_and_never_shown(
    postgres_cluster: PostgresCluster, guarded: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    role, database = guarded
    wrong = "wrong-Secret-42"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UnavailableError) as refused:
        await PostgresStore.open(postgres_cluster.url(database, user=role, password=wrong), pool_timeout=2)
    message = refused.value.message
    assert f"{role}@127.0.0.1:{postgres_cluster.port}/{database}" in message
    assert "password authentication failed" in message
    assert wrong not in message and wrong not in str(refused.value.to_dict()) and wrong not in caplog.text


async def test_an_invalid_url_is_refused_without_its_password() -> None:
    for url in (
        "postgresql://me:Sekrit-9@host/db?bogus=1",
        "mysql://me:Sekrit-9@host/db",
        "host=db password=Sekrit-9 port=x bogus",
    ):
        with pytest.raises(InvalidArgumentError) as refused:
            await PostgresStore.open(url)
        assert "Sekrit-9" not in refused.value.message and "invalid PostgreSQL URL" in refused.value.message
    with pytest.raises(UnavailableError) as unusable:  # libpq checks values when it connects
        await PostgresStore.open("postgresql://me:Sekrit-9@127.0.0.1:notaport/db")
    assert "notaport" in unusable.value.message and "Sekrit-9" not in unusable.value.message


def test_scrub_removes_passwords_wherever_they_stand() -> None:
    assert scrub("failed for postgresql://me:pw%40x@h/db", None) == "failed for postgresql://me:***@h/db"
    assert scrub("host=h password='a b' user=u", None) == "host=h password=*** user=u"
    assert scrub("the word hunter2 here", "hunter2") == "the word *** here"


async def test_the_pool_flags_size_the_pool(postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    settings = Settings(backend="postgres", database_url=postgres_url, pool_min_size=3, pool_max_size=4)
    store = await open_store(settings)
    try:
        database = postgres_url.rsplit("/", 1)[1]
        count = postgres_cluster.sql(
            "SELECT count(*) FROM pg_stat_activity"
            f" WHERE datname = '{database}' AND application_name = 'promptshelf'"
        )
        assert count == "3"
    finally:
        await store.aclose()


async def test_application_name_from_the_url_wins(postgres_url: str) -> None:
    store = await PostgresStore.open(postgres_url + "?application_name=team-registry")
    try:
        async with await psycopg.AsyncConnection.connect(postgres_url) as db:
            cursor = await db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'team-registry'"
            )
            assert await cursor.fetchone() == (1,)
    finally:
        await store.aclose()


# -- the CLI ---------------------------------------------------------------------------------------


def promptshelf(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promptshelf", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("PROMPTSHELF_", "PG"))} | env,
        timeout=60,
    )


def test_the_cli_works_on_postgres_from_flags_or_environment(postgres_url: str) -> None:
    published = promptshelf(
        "publish",
        "team/hello",
        "--backend",
        "postgres",
        "--database-url",
        postgres_url,
        env={},
        stdin="Hi {{x}}",
    )
    assert published.returncode == 0, published.stderr
    env = {"PROMPTSHELF_BACKEND": "postgres", "PROMPTSHELF_DATABASE_URL": postgres_url}
    listed = promptshelf("ls", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [p["name"] for p in json.loads(listed.stdout)["prompts"]] == ["team/hello"]


def test_the_cli_reports_a_refused_password_without_it(
    postgres_cluster: PostgresCluster, guarded: tuple[str, str]
) -> None:
    role, database = guarded
    url = postgres_cluster.url(database, user=role, password="Not-The-Password-1")
    failed = promptshelf("ls", "--backend", "postgres", "--database-url", url, "--pool-timeout", "2", env={})
    assert failed.returncode == 6  # unavailable
    assert "password authentication failed" in failed.stderr and "Traceback" not in failed.stderr
    assert "Not-The-Password-1" not in failed.stderr + failed.stdout


def test_the_cli_needs_a_database_url_for_postgres() -> None:
    failed = promptshelf("ls", "--backend", "postgres", env={})
    assert failed.returncode == 2 and "--backend postgres needs --database-url" in failed.stderr
