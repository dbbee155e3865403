"""A real ``watchkeeper serve`` process with seeded content, for the TAXII 2.1 suite.

One server per backend for the whole run (seeding and starting it is the costly part); the
tests speak plain HTTP to it, or taxii2-client. Tests that add or delete objects use objects
and collections of their own, so the order of tests never matters.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url
from taxii_seed import Seeded, seed, serve, wait_healthy


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _schema_url(server: str) -> str:
    """A new, empty schema of the run's PostgreSQL database (as the root conftest makes them,
    for a fixture that lives as long as the run)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    libpq = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_url(server).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """The seeded node, served; on SQLite and on PostgreSQL in turn."""
    folder = tmp_path_factory.mktemp(f"taxii-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{(folder / 'watchkeeper.db').as_posix()}"
    else:
        url = _schema_url(request.getfixturevalue("postgres_server"))
    seeded = seed(folder, url)
    port = _free_port()
    # The suite speaks as third-party TAXII clients (taxii2-client, plain HTTP), which cannot
    # sign requests with a node key; signed writes are tested in test_taxii_signed.py.
    process = serve(folder, url, port, extra={"WATCHKEEPER_TAXII_UNSIGNED_PEER_WRITES": "true"})
    seeded.base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, seeded.base)
        yield seeded
    finally:
        process.terminate()
        try:
            process.communicate(timeout=20)
        except Exception:
            process.kill()
            process.communicate()
