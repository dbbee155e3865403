"""Looking values up: exact, enclosing domains and networks, URL hosts; the CLI commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from stix_samples import bundle, indicator

from watchkeeper.cli import cli
from watchkeeper.errors import InvalidInput
from watchkeeper.intel import lookup
from watchkeeper.node import Node


@pytest.fixture
def stored(node: Node, write: Any, ingest: Any) -> Node:
    ingest(
        write(
            bundle(
                indicator(
                    "[domain-name:value = 'evil-site.org']",
                    id="indicator--0a0a0a0a-0000-4000-8000-000000000001",
                ),
                indicator(
                    "[ipv4-addr:value = '203.0.113.0/24']",
                    id="indicator--0a0a0a0a-0000-4000-8000-000000000002",
                ),
                indicator(
                    "[url:value = 'http://bad.evil-site.org/x']",
                    id="indicator--0a0a0a0a-0000-4000-8000-000000000003",
                ),
            )
        ),
        source="feed:demo",
    )
    return node


def _ids(node: Node, value: str) -> set[str]:
    with node.database.reader() as session:
        return {row["id"][-1:] for row in lookup(session, value=value)}


def test_exact_and_enclosing_matches(stored: Node) -> None:
    assert _ids(stored, "evil-site.org") == {"1"}
    assert _ids(stored, "a.b.Evil-Site.org.") == {"1"}  # a subdomain finds its parent
    assert _ids(stored, "203.0.113.77") == {"2"}  # an address inside the network
    assert _ids(stored, "203.0.113.0/25") == set()  # a smaller network is not the indicator
    assert _ids(stored, "http://bad.evil-site.org/x") == {"1", "3"}  # the URL and its host
    assert _ids(stored, "hxxp://bad[.]evil-site[.]org/x") == {"1", "3"}  # defanged
    assert _ids(stored, "198.51.100.1") == set()


def test_lookup_rows_carry_provenance_and_state(stored: Node) -> None:
    with stored.database.reader() as session:
        [row] = lookup(session, value="evil-site.org")
    assert row["sources"] == "feed:demo"
    assert (row["kind"], row["value"], row["type"], row["current"]) == (
        "domain",
        "evil-site.org",
        "indicator",
        True,
    )


def test_unknown_kind_of_value(stored: Node) -> None:
    with stored.database.reader() as session, pytest.raises(InvalidInput, match="what kind"):
        lookup(session, value="not a value at all")


def test_cli_import_lookup_stats(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, write: Any
) -> None:
    monkeypatch.setenv("WATCHKEEPER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", database_url)
    path = write(
        bundle(
            indicator("[domain-name:value = 'evil-site.org']"), {"type": "indicator", "id": "bad"}
        )
    )
    runner = CliRunner()
    imported = runner.invoke(cli, ["intel", "import", str(path), "--feed", "demo", "--json"])
    assert imported.exit_code == 1  # one object was rejected
    document = json.loads(imported.stdout)
    assert (document["created"], document["rejected"]) == (1, 1)
    assert document["rejects"][0]["index"] == 1
    found = runner.invoke(cli, ["intel", "lookup", "www.evil-site.org", "--json"])
    assert found.exit_code == 0, found.output
    [hit] = json.loads(found.stdout)
    assert hit["sources"] == "feed:demo"
    stats = runner.invoke(cli, ["intel", "stats", "--json"])
    assert json.loads(stats.stdout)["objects"][0]["current"] == 1
    again = runner.invoke(cli, ["intel", "import", str(path), "--format", "stix"])
    assert "1 unchanged" in again.stderr


def test_api_and_ui_lookup(stored: Node) -> None:
    from fastapi.testclient import TestClient

    from watchkeeper.security import add_user
    from watchkeeper.testing import issue_token
    from watchkeeper.web import create_app

    client = TestClient(create_app(node=stored))
    analyst = {"Authorization": f"Bearer {issue_token(stored, name='amira', roles=['analyst'])}"}
    auditor = {"Authorization": f"Bearer {issue_token(stored, name='ledger', roles=['auditor'])}"}
    found = client.get("/api/v1/intel/lookup", params={"value": "x.evil-site.org"}, headers=analyst)
    assert found.status_code == 200
    assert [hit["value"] for hit in found.json()] == ["evil-site.org"]
    assert (
        client.get("/api/v1/intel/lookup", params={"value": "x"}, headers=auditor).status_code
        == 403
    )
    bad = client.get("/api/v1/intel/lookup", params={"value": "???"}, headers=analyst)
    assert bad.status_code == 422
    assert client.get("/api/v1/intel/stats", headers=analyst).json()["objects"][0]["current"] == 3

    with stored.database.transaction() as session:
        add_user(
            session,
            clock=stored.clock,
            actor="t",
            name="duty",
            roles=["responder"],
            password="correct horse battery",
        )
    form = client.get("/ui/login")
    client.post(
        "/ui/login",
        data={
            "name": "duty",
            "password": "correct horse battery",
            "csrf": form.cookies["wk_login_csrf"],
        },
    )
    page = client.get("/ui/intel", params={"q": "203.0.113.9"})
    assert page.status_code == 200
    assert "203.0.113.0/24" in page.text
    assert "<h1>Intelligence</h1>" in page.text
    assert "not a value" not in page.text
    assert "Nothing in the store" in client.get("/ui/intel", params={"q": "192.0.2.55"}).text
