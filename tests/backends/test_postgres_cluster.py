"""The throwaway cluster the PostgreSQL tests run on (tests/support/postgres_cluster.py)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.postgres_cluster import PostgresCluster


def test_each_test_gets_a_fresh_empty_database(postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    tables = postgres_cluster.sql(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", database
    )
    assert tables == "0"
    assert postgres_cluster.create_database() != database


def test_the_server_runs_unprivileged_and_tuned_for_tests(postgres_cluster: PostgresCluster) -> None:
    owner = os.stat(postgres_cluster.data_dir).st_uid
    if os.geteuid() == 0:
        assert owner != 0
    assert postgres_cluster.sql("SHOW fsync") == "off"
    assert postgres_cluster.sql("SHOW synchronous_commit") == "on"
    assert postgres_cluster.sql("SHOW listen_addresses") == "127.0.0.1"


def test_stop_start_and_restart_keep_the_port_and_the_data(postgres_cluster: PostgresCluster) -> None:
    database = postgres_cluster.create_database()
    postgres_cluster.sql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)", database)
    port = postgres_cluster.port
    postgres_cluster.stop()
    assert not postgres_cluster.is_running()
    with pytest.raises(RuntimeError, match="psql failed"):
        postgres_cluster.sql("SELECT 1")
    postgres_cluster.start()
    postgres_cluster.restart("immediate")
    assert postgres_cluster.port == port
    assert postgres_cluster.sql("SELECT n FROM kept", database) == "42"


def test_a_role_with_a_password_must_give_it(postgres_cluster: PostgresCluster) -> None:
    postgres_cluster.create_role("cluster_pw_user", "s3cret")
    database = postgres_cluster.create_database(owner="cluster_pw_user")
    psql = [str(postgres_cluster.bin_dir / "psql"), "--no-psqlrc", "--no-password"]
    psql += ["-tAc", "SELECT current_user"]
    env = {**os.environ, "PGPASSFILE": os.devnull}
    refused = subprocess.run(
        [*psql, postgres_cluster.url(database, user="cluster_pw_user")], capture_output=True, env=env
    )
    assert refused.returncode != 0
    allowed = subprocess.run(
        [*psql, postgres_cluster.url(database, user="cluster_pw_user", password="s3cret")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert allowed.stdout.strip() == "cluster_pw_user"
