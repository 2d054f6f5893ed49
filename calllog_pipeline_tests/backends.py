"""Real backends on loopback for the deployment tests: a PostgreSQL database per test (the server
``.ci/run`` starts, found through ``DAGSTER_PG_*``) and an S3-compatible server (moto, in server
mode, started here). Without PostgreSQL the tests that need it skip, except in CI, where they fail.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from calllog_pipeline.instance import POSTGRES_VARS, prepare_home

# Distinctive fake credentials: a test can then prove they reach neither the lake nor the logs.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIACALLLOGTESTKEY01",
    "AWS_SECRET_ACCESS_KEY": "calllog-test-secret-0f9d8c7b6a5e4d3c",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _postgres_unavailable() -> str | None:
    missing = [name for name in POSTGRES_VARS if not os.environ.get(name)]
    if missing:
        return f"PostgreSQL not configured ({', '.join(missing)} unset; .ci/run starts one)"
    import psycopg2

    try:
        psycopg2.connect(**_pg_params(), connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        where = f"{os.environ['DAGSTER_PG_HOST']}:{os.environ['DAGSTER_PG_PORT']}"
        return f"PostgreSQL at {where} unreachable: {exc}"
    return None


def _pg_params(db: str | None = None) -> dict:
    env = os.environ
    return {
        "host": env["DAGSTER_PG_HOST"],
        "port": int(env["DAGSTER_PG_PORT"]),
        "user": env["DAGSTER_PG_USERNAME"],
        "password": env["DAGSTER_PG_PASSWORD"],
        "dbname": db or env["DAGSTER_PG_DB"],
    }


def require_postgres() -> None:
    if reason := _postgres_unavailable():
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the PostgreSQL tests")
        pytest.skip(reason)


def _admin(params: dict, sql: str) -> None:
    import psycopg2

    con = psycopg2.connect(**params)
    con.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        con.cursor().execute(sql)
    finally:
        con.close()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty database on the configured server, dropped afterwards."""
    require_postgres()
    name = f"calllog_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_params()  # the configured database, before a test points DAGSTER_PG_DB elsewhere
    _admin(admin, f"CREATE DATABASE {name}")
    try:
        yield name
    finally:  # FORCE: the instance's pooled connections may outlive the test by a moment
        _admin(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_home(tmp_path: Path, monkeypatch) -> Iterator[Path]:
    """``DAGSTER_HOME`` holding dagster.postgres.yaml, pointed at a fresh database."""
    with postgres_database() as db:
        monkeypatch.setenv("DAGSTER_PG_DB", db)
        monkeypatch.setenv("CALLLOG_INSTANCE", "postgres")
        home = tmp_path / "dagster_home"
        prepare_home(home)
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        yield home


@pytest.fixture
def sqlite_home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("CALLLOG_INSTANCE", "sqlite")
    home = tmp_path / "dagster_home"
    prepare_home(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3-compatible server on a loopback port, for the whole session; yields its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_lake(s3_server: str, monkeypatch) -> str:
    """A new bucket on the S3 server; returns ``s3://<bucket>/lake`` with the standard AWS
    variables (and ``AWS_ENDPOINT_URL``) set, as a user of a real bucket would."""
    import boto3

    for key, value in {**AWS_ENV, "AWS_ENDPOINT_URL": s3_server}.items():
        monkeypatch.setenv(key, value)
    bucket = f"calllog-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/lake"
