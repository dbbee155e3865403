"""The TAXII application in process, for what a running server cannot show quickly: ``next``
tokens expiring, an unexpected failure answered as a TAXII error, the media-type rules."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from watchkeeper.core import FixedClock
from watchkeeper.federation import add_collection, items_reader, receive, set_rights, set_sharing
from watchkeeper.node import Node
from watchkeeper.security import add_peer, create_token, parse_duration, peer_account
from watchkeeper.web.taxii import server as server_routes
from watchkeeper.web.taxii.cursor import LIFETIME
from watchkeeper.web.taxii.media import accepts_taxii, is_taxii_content

MEDIA = "application/taxii+json;version=2.1"
KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="  # an Ed25519 public key (RFC 8032)


def _indicator(n: int) -> dict[str, Any]:
    stamp = "2026-01-10T00:00:00.000Z"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--0a0a0a0a-0000-4000-8000-{n:012d}",
        "created": stamp,
        "modified": stamp,
        "pattern": f"[domain-name:value = 'app-{n}.example']",
        "pattern_type": "stix",
        "valid_from": stamp,
    }


@pytest.fixture
def peer(node: Node) -> tuple[dict[str, str], str]:
    """Headers of partner QA-NCSA and the id of a collection of five objects it may read."""
    with node.database.transaction() as session:
        add_peer(
            session,
            clock=node.clock,
            actor="test",
            code="QA-NCSA",
            url="https://qa.example",
            country="QA",
            public_key=KEY,
        )
        set_sharing(
            session,
            clock=node.clock,
            actor="test",
            code="QA-NCSA",
            max_tlp="amber",
            need_to_know=True,
        )
        collection = add_collection(session, clock=node.clock, actor="test", title="All")
        set_rights(session, clock=node.clock, actor="test", peer="QA-NCSA", read=[collection.id])
        account = peer_account(session, clock=node.clock, actor="test", code="QA-NCSA")
        secret = create_token(
            session,
            clock=node.clock,
            actor="test",
            user_name=account.name,
            expires_in=parse_duration("1y"),
        ).secret
        collection_id = collection.id
    receive(
        node.database,
        clock=node.clock,
        actor="test",
        peer="QA-NCSA",
        reader=items_reader([_indicator(n) for n in range(5)], name="envelope"),
        scope="international",
        reshare=True,
    )
    basic = base64.b64encode(f"QA-NCSA:{secret}".encode()).decode()
    return {"Authorization": f"Basic {basic}", "Accept": MEDIA}, collection_id


def test_a_next_token_expires(client: TestClient, node: Node, peer: Any) -> None:
    headers, collection_id = peer
    url = f"/taxii2/national/collections/{collection_id}/objects/"
    first = client.get(url, headers=headers, params={"limit": 2})
    assert first.status_code == 200, first.text
    token = first.json()["next"]
    assert client.get(url, headers=headers, params={"limit": 2, "next": token}).status_code == 200
    assert isinstance(node.clock, FixedClock)
    node.clock.advance(LIFETIME + timedelta(seconds=1))
    expired = client.get(url, headers=headers, params={"limit": 2, "next": token})
    assert expired.status_code == 400
    assert expired.headers["content-type"] == MEDIA
    assert expired.json()["details"]["reason"] == "expired"


def test_an_unexpected_failure_is_a_taxii_500_without_a_traceback(
    client: TestClient, peer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers, _ = peer

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(server_routes, "root_collections", broken)
    response = client.get("/taxii2/national/collections/", headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == MEDIA
    body = response.json()
    assert body["http_status"] == "500" and body["title"]
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"  # the node's headers too


@pytest.mark.parametrize(
    ("accept", "accepted"),
    [
        ("application/taxii+json;version=2.1", True),
        ("application/taxii+json", True),
        ('application/taxii+json; version="2.1"', True),
        ("APPLICATION/TAXII+JSON;VERSION=2.1", True),
        ("text/html, application/taxii+json;version=2.1;q=0.5", True),
        ("application/taxii+json;version=2.1;q=0", False),
        ("application/taxii+json;version=2.0", False),
        ("application/json", False),
        ("*/*", False),
        ("", False),
        (None, False),
    ],
)
def test_accept(accept: str | None, accepted: bool) -> None:
    assert accepts_taxii(accept) is accepted


@pytest.mark.parametrize(
    ("content_type", "taxii"),
    [
        ("application/taxii+json;version=2.1", True),
        ("application/taxii+json", True),
        ("application/taxii+json;version=2.1;charset=utf-8", True),
        ("application/taxii+json;version=2.0", False),
        ("application/json", False),
        ("application/taxii+json;version=2.1, application/json", False),
        (None, False),
    ],
)
def test_content_type(content_type: str | None, taxii: bool) -> None:
    assert is_taxii_content(content_type) is taxii
