"""The Peers page: sharing settings and sync links with their state, lag and last error."""

from __future__ import annotations

import html
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import update
from test_ui import log_in, make_user

from watchkeeper.core import FixedClock
from watchkeeper.federation import (
    SyncLink,
    SyncPolicy,
    add_collection,
    add_link,
    run_due_links,
    set_rights,
    set_sharing,
)
from watchkeeper.node import Node
from watchkeeper.security import SecretBox, add_peer
from watchkeeper.security.keys import public_key_text

COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"


def test_peers_page_shows_sharing_and_sync_state(client: TestClient, node: Node) -> None:
    make_user(node, "ana", ["analyst"])
    with node.database.transaction() as session:
        key = public_key_text(Ed25519PrivateKey.generate())
        add_peer(session, clock=node.clock, actor="test", code="AE-TDRA", url="https://ae.example",
                 country="AE", public_key=key, name="UAE TDRA")  # fmt: skip
        set_sharing(session, clock=node.clock, actor="test", code="AE-TDRA",
                    community="regional", max_tlp="amber", need_to_know=True)  # fmt: skip
        add_collection(session, clock=node.clock, actor="test", title="Region", alias="region",
                       community="regional")  # fmt: skip
        set_rights(session, clock=node.clock, actor="test", peer="AE-TDRA", read=["region"])
        down = add_link(session, clock=node.clock, actor="test", peer="AE-TDRA",
                        direction="pull",
                        url=f"http://127.0.0.1:9/r/collections/{COLLECTION}/")  # fmt: skip
        add_link(session, clock=node.clock, actor="test", peer="AE-TDRA", direction="push",
                 url=f"http://127.0.0.1:9/r/collections/{COLLECTION}/",
                 collection="region", enabled=False)  # fmt: skip
        down_id = down.id
        # Not due: only the pull runs and fails (nothing listens on port 9).
        session.execute(
            update(SyncLink).where(SyncLink.direction == "push").values(next_attempt_at=None)
        )
    policy = SyncPolicy(timeout=2)
    [run] = run_due_links(node.database, clock=node.clock, box=SecretBox(node.data_dir),
                          policy=policy)  # fmt: skip
    assert not run.ok
    assert isinstance(node.clock, FixedClock)
    node.clock.advance(timedelta(seconds=5))

    assert log_in(client, "ana").status_code == 303
    page = client.get("/ui/peers")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "AE-TDRA · UAE TDRA" in text
    assert "<td>regional</td>" in text and "TLP:AMBER" in text
    assert "Collections it reads</th><td>region</td>" in text
    assert down_id[:8] in text
    assert '<td class="error">failing</td>' in text
    assert "cannot reach" in text and "never succeeded" in text
    assert "disabled" in text and "push of region" in text
    assert page.text.count("<h1>") == 1


def test_peers_page_without_partners(client: TestClient, node: Node) -> None:
    make_user(node, "ana", ["analyst"])
    assert log_in(client, "ana").status_code == 303
    assert "No partner node registered" in client.get("/ui/peers").text


def test_peers_page_needs_a_login(client: TestClient) -> None:
    response = client.get("/ui/peers", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"


def test_federation_page_links_its_pages(client: TestClient, node: Node) -> None:
    make_user(node, "ana", ["analyst"])
    log_in(client, "ana")
    text = client.get("/ui/federation").text
    assert 'href="/ui/peers"' in text and 'href="/ui/collections"' in text
    assert "not yet installed" not in text
