"""The object view: versions, values, provenance, score, correlations; common values; web."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from stix_samples import bundle, indicator

from watchkeeper.errors import NotFound
from watchkeeper.intel import (
    ImportReport,
    expand,
    import_stix,
    lookup,
    object_versions,
    object_view,
)
from watchkeeper.intel.scoring import ScoringPolicy
from watchkeeper.node import Node
from watchkeeper.security import add_user
from watchkeeper.testing import issue_token, make_node
from watchkeeper.web.app import create_app

MAIN = "indicator--0b0b0b0b-0000-4000-8000-000000000001"
OTHER = "indicator--0b0b0b0b-0000-4000-8000-000000000002"
THIRD = "indicator--0b0b0b0b-0000-4000-8000-000000000003"
NEWER = "2026-03-02T10:00:00.000Z"
STORED_NEWER, STORED_OLDER = "2026-03-02T10:00:00.000000Z", "2026-03-01T10:00:00.000000Z"
PATTERN = "[domain-name:value = 'shared.example'] OR [ipv4-addr:value = '198.51.100.9']"


@pytest.fixture
def common_node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    """A node marking values carried by more than two current objects as common."""
    the_node = make_node(tmp_path / "d", database_url=database_url, intel_common_threshold=2)
    yield the_node
    the_node.close()


def _store(node: Node, write: Any) -> list[ImportReport]:
    """Two versions of MAIN (two imports), and two other indicators sharing its domain."""

    def _import(document: dict[str, Any], name: str, source: str) -> ImportReport:
        return import_stix(
            node.database,
            clock=node.clock,
            actor="user:tester",
            inputs=expand([str(write(document, name))]),
            source=source,
        )

    first = _import(
        bundle(
            indicator(PATTERN, id=MAIN, confidence=40),
            indicator("[domain-name:value = 'shared.example']", id=OTHER),
            indicator("[domain-name:value = 'shared.example']", id=THIRD),
        ),
        "one.json",
        "feed:one",
    )
    second = _import(
        bundle(
            indicator(PATTERN, id=MAIN, modified=NEWER, confidence=80, name="<script>x</script>")
        ),
        "two.json",
        "feed:two",
    )
    return [first, second]


def _view(node: Node, stix_id: str = MAIN) -> dict[str, Any]:
    with node.database.reader() as session:
        return object_view(
            session,
            stix_id=stix_id,
            policy=ScoringPolicy(),
            now=datetime(2026, 3, 5, tzinfo=UTC),
        )


def test_versions_newest_first_with_current_flag(node: Node, write: Any) -> None:
    _store(node, write)
    with node.database.reader() as session:
        versions = object_versions(session, stix_id=MAIN)
        assert object_versions(session, stix_id="indicator--unknown") == []
    assert [(v["modified"], v["current"], v["confidence"]) for v in versions] == [
        (STORED_NEWER, True, 80),
        (STORED_OLDER, False, 40),
    ]
    assert all(len(v["content_hash"]) == 64 for v in versions)


def test_view_values_provenance_score_and_correlations(node: Node, write: Any) -> None:
    first, second = _store(node, write)
    view = _view(node)
    assert view["type"] == "indicator" and view["document"]["name"] == "<script>x</script>"
    assert [(v["kind"], v["value"]) for v in view["values"]] == [
        ("domain", "shared.example"),
        ("ipv4", "198.51.100.9"),
    ]
    assert {v["value"]: v["holders"] for v in view["values"]} == {
        "shared.example": 3,
        "198.51.100.9": 1,
    }
    # Both imports start at the node's fixed clock time: compare as a set.
    assert {(p["import_id"], p["source"], p["modified"]) for p in view["provenance"]} == {
        (second.id, "feed:two", STORED_NEWER),
        (first.id, "feed:one", STORED_OLDER),
    }
    assert all(p["format"] == "stix" for p in view["provenance"])
    assert view["score"]["id"] == MAIN and view["score"]["confidence"] == 80
    assert {(c["id"], c["value"]) for c in view["correlations"]} == {
        (OTHER, "shared.example"),
        (THIRD, "shared.example"),
    }
    with node.database.reader() as session, pytest.raises(NotFound):
        object_view(
            session, stix_id="indicator--unknown", policy=ScoringPolicy(), now=datetime.now(UTC)
        )


def test_common_values_are_marked(common_node: Node, write: Any) -> None:
    _store(common_node, write)
    with common_node.database.reader() as session:
        rows = lookup(session, value="shared.example", common_threshold=2)
        default = lookup(session, value="shared.example")
        address = lookup(session, value="198.51.100.9", common_threshold=2)
    assert rows and all(row["common"] and row["holders"] == 3 for row in rows)
    assert not any(row["common"] for row in default)  # the default threshold is 50
    assert address and not any(row["common"] for row in address)


def _log_in(client: TestClient, node: Node, name: str, roles: list[str]) -> None:
    with node.database.transaction() as session:
        add_user(
            session, clock=node.clock, actor="test", name=name, roles=roles, password="pw-" * 6
        )
    form = client.get("/ui/login").text
    match = re.search(r'name="csrf" value="([^"]*)"', form)
    assert match
    sent = client.post(
        "/ui/login",
        data={"name": name, "password": "pw-" * 6, "csrf": match.group(1)},
        follow_redirects=False,
    )
    assert sent.status_code == 303


def test_ui_object_page_and_common_note(common_node: Node, write: Any) -> None:
    _store(common_node, write)
    with TestClient(create_app(node=common_node)) as client:
        _log_in(client, common_node, "ana", ["analyst"])
        page = client.get(f"/ui/intel/object/{MAIN}")
        assert page.status_code == 200
        assert "<script>x</script>" not in page.text
        assert "&#34;name&#34;: &#34;&lt;script&gt;x&lt;/script&gt;&#34;" in page.text
        assert STORED_NEWER in page.text and "feed:two" in page.text and OTHER in page.text
        assert client.get("/ui/intel/object/indicator--unknown").status_code == 404
        found = client.get("/ui/intel", params={"q": "shared.example"})
        assert found.status_code == 200
        assert "common (3 objects)" in found.text
        assert f'href="/ui/intel/object/{MAIN}"' in found.text


def test_ui_object_page_refuses_auditors(common_node: Node, write: Any) -> None:
    with TestClient(create_app(node=common_node)) as client:
        _log_in(client, common_node, "aud", ["auditor"])
        assert client.get(f"/ui/intel/object/{MAIN}").status_code == 403


def test_api_object(node: Node, write: Any) -> None:
    _store(node, write)
    analyst = {"Authorization": f"Bearer {issue_token(node, name='amira', roles=['analyst'])}"}
    auditor = {"Authorization": f"Bearer {issue_token(node, name='ledger', roles=['auditor'])}"}
    with TestClient(create_app(node=node)) as client:
        answer = client.get(f"/api/v1/intel/objects/{MAIN}", headers=analyst)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert [v["current"] for v in body["versions"]] == [True, False]
        assert body["document"]["id"] == MAIN and len(body["correlations"]) == 2
        missing = client.get("/api/v1/intel/objects/indicator--unknown", headers=analyst)
        assert missing.status_code == 404
        refused = client.get(f"/api/v1/intel/objects/{MAIN}", headers=auditor)
        assert refused.status_code == 403
