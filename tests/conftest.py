"""Shared fixtures: a node per test on SQLite and on PostgreSQL, and service switches.

PostgreSQL and NATS come from ``--postgres-url`` / ``--nats-url`` (or the environment variables
WATCHKEEPER_TEST_POSTGRES_URL / WATCHKEEPER_TEST_NATS_URL). Without them, tests that need the
service are skipped with the reason; with ``--require-services`` they fail instead. Each run
creates a database of its own and each test a schema of its own, so leftovers never matter.
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url

from watchkeeper.node import Node
from watchkeeper.testing import make_node


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Collect the garbage once, then freeze what survives: pytest's end-of-run collections
    (five full ones, looking for unraisable exceptions) then skip the large heap a full run
    leaves instead of walking it five times, which took minutes in CI."""
    gc.collect()
    gc.freeze()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("watchkeeper services")
    group.addoption(
        "--require-services",
        action="store_true",
        help="Fail (instead of skip) tests whose PostgreSQL or NATS server is unavailable.",
    )
    group.addoption(
        "--postgres-url",
        default=os.environ.get("WATCHKEEPER_TEST_POSTGRES_URL"),
        help="PostgreSQL server URL; each run creates and drops a database of its own.",
    )
    group.addoption(
        "--nats-url",
        default=os.environ.get("WATCHKEEPER_TEST_NATS_URL"),
        help="NATS server URL with JetStream enabled.",
    )


def unavailable(config: pytest.Config, service: str, reason: str) -> None:
    """Skip, or fail under --require-services, for a missing service."""
    message = f"{service} unavailable: {reason}"
    if config.getoption("--require-services"):
        pytest.fail(f"{message} (--require-services is set)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No WATCHKEEPER_* variable or watchkeeper.toml of the developer leaks into a test."""
    for key in list(os.environ):
        if key.startswith("WATCHKEEPER_") and not key.startswith("WATCHKEEPER_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("WATCHKEEPER_CONFIG", str(tmp_path / "absent.toml"))


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """SQLAlchemy URL of a database created for this test run (dropped at the end)."""
    url = request.config.getoption("--postgres-url")
    if not url:
        unavailable(
            request.config, "PostgreSQL", "no --postgres-url (or WATCHKEEPER_TEST_POSTGRES_URL)"
        )
    name = f"wk_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=5) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        unavailable(request.config, "PostgreSQL", f"cannot create a test database: {exc}")
    yield (
        make_url(url)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )
    with psycopg.connect(_libpq(url), autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: SQLite file, or a new schema in the run's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'watchkeeper.db').as_posix()}"
    return new_schema_url(request.getfixturevalue("postgres_server"))


@pytest.fixture
def postgres_schema_url(postgres_server: str) -> str:
    """A URL of a new, empty schema in the run's PostgreSQL database (PostgreSQL-only tests)."""
    return new_schema_url(postgres_server)


def new_schema_url(server: str) -> str:
    """A URL whose connections use a new, empty schema of the run's PostgreSQL database."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(server), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_url(server).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    """A migrated node on a fixed clock, on each backend in turn."""
    the_node = make_node(tmp_path / "data", database_url=database_url)
    yield the_node
    the_node.close()


@pytest.fixture
def nats_url(request: pytest.FixtureRequest) -> str:
    """URL of a NATS server with JetStream."""
    url: str | None = request.config.getoption("--nats-url")
    if not url:
        unavailable(request.config, "NATS", "no --nats-url (or WATCHKEEPER_TEST_NATS_URL)")
    assert url is not None
    return url
