"""The Collections page: every API root's collections, their filters and partners' rights."""

from __future__ import annotations

import html

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from test_ui import log_in, make_user

from watchkeeper.federation import add_collection, set_rights
from watchkeeper.node import Node
from watchkeeper.security import add_peer
from watchkeeper.security.keys import public_key_text


def test_collections_page_shows_filters_and_rights(client: TestClient, node: Node) -> None:
    make_user(node, "ana", ["analyst"])
    with node.database.transaction() as session:
        key = public_key_text(Ed25519PrivateKey.generate())
        add_peer(session, clock=node.clock, actor="test", code="QA-NCSA", url="https://qa.example",
                 country="QA", public_key=key)  # fmt: skip
        iocs = add_collection(
            session,
            clock=node.clock,
            actor="test",
            title="Network indicators",
            alias="iocs",
            description="Addresses & domains",
            types=["indicator", "ipv4-addr"],
            max_tlp="green",
            sources=["feed:"],
            labels=["phishing"],
        )
        add_collection(session, clock=node.clock, actor="test", title="Everything",
                       community="international")  # fmt: skip
        set_rights(session, clock=node.clock, actor="test", peer="QA-NCSA", read=["iocs"],
                   write=["iocs"])  # fmt: skip
        iocs_id = iocs.id
    log_in(client, "ana")
    response = client.get("/ui/collections")
    assert response.status_code == 200, response.text
    text = response.text
    assert "<h1>TAXII collections</h1>" in text
    assert 'href="/ui/collections" aria-current="page"' in text
    for expected in (
        "Network indicators",
        iocs_id,
        html.escape("Addresses & domains"),
        "types: indicator, ipv4-addr",
        "at most: TLP:GREEN",
        "sources: feed:",
        "labels: phishing",
        "QA-NCSA: read and write",
        "Everything",
        "everything",
        "http://testserver/taxii2/national/",
        "No collection in this API root.",  # regional
    ):
        assert expected in text, expected


def test_collections_page_is_for_staff_who_handle_sharing(client: TestClient, node: Node) -> None:
    assert client.get("/ui/collections", follow_redirects=False).status_code == 303
    make_user(node, "resp", ["responder"])
    log_in(client, "resp")
    assert client.get("/ui/collections").status_code == 403
    assert 'href="/ui/collections"' not in client.get("/ui/").text
