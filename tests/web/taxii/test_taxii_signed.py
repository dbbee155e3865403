"""Signed requests from partner nodes: writes must be signed with the peer's registered key,
signed reads must verify, and forged, stale or replayed requests are refused (401) and
audited. The requests go through the node's own TAXII client, which signs what it sends."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from watchkeeper.core import FixedClock
from watchkeeper.core.tlp import TLP2_MARKING_IDS, Tlp
from watchkeeper.errors import RemoteError
from watchkeeper.federation import (
    Credentials,
    TaxiiClient,
    TaxiiStatus,
    add_collection,
    set_rights,
    set_sharing,
)
from watchkeeper.intel import StixObject
from watchkeeper.node import Node
from watchkeeper.security import (
    add_peer,
    create_token,
    entry_document,
    list_entries,
    parse_duration,
    peer_account,
    sign_request,
)
from watchkeeper.security.keys import public_key_text
from watchkeeper.security.signatures import WINDOW
from watchkeeper.web import create_app

MEDIA = "application/taxii+json;version=2.1"
CODE = "QA-NCSA"
BASE = "http://testserver"


def _indicator() -> dict[str, Any]:
    stamp = "2026-01-10T00:00:00.000Z"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": stamp,
        "modified": stamp,
        "pattern": "[domain-name:value = 'signed.example']",
        "pattern_type": "stix",
        "valid_from": stamp,
        "object_marking_refs": [TLP2_MARKING_IDS[Tlp.GREEN]],
    }


class Partner:
    """Partner node QA-NCSA as the server sees it: its key, token and collection."""

    def __init__(self, node: Node, client: TestClient) -> None:
        self.node = node
        self.client = client
        self.key = Ed25519PrivateKey.generate()
        with node.database.transaction() as session:
            add_peer(
                session, clock=node.clock, actor="test", code=CODE, url="https://qa.example",
                country="QA", public_key=public_key_text(self.key),
            )  # fmt: skip
            set_sharing(
                session,
                clock=node.clock,
                actor="test",
                code=CODE,
                max_tlp="green",
                community="national",
            )
            collection = add_collection(session, clock=node.clock, actor="test", title="Inbox")
            set_rights(
                session, clock=node.clock, actor="test", peer=CODE, read=[collection.id],
                write=[collection.id],
            )  # fmt: skip
            account = peer_account(session, clock=node.clock, actor="test", code=CODE)
            self.secret = create_token(
                session, clock=node.clock, actor="test", user_name=account.name,
                expires_in=parse_duration("1y"),
            ).secret  # fmt: skip
            self.url = f"{BASE}/taxii2/national/collections/{collection.id}/"

    def taxii(self, key: Ed25519PrivateKey | None = None, *, signed: bool = True) -> TaxiiClient:
        """Our TAXII client as this partner, signing with ``key`` (its own by default)."""
        signing = key or self.key

        def signer(method: str, target: str, body: bytes) -> dict[str, str]:
            return sign_request(
                signing, node=CODE, method=method, target=target, body=body, clock=self.node.clock
            )

        return TaxiiClient(
            credentials=Credentials(scheme="basic", secret=self.secret, user=CODE),
            transport=self.client._transport,
            signer=signer if signed else None,
        )

    def headers(self) -> dict[str, str]:
        """Plain HTTP Basic headers of the partner, accepting TAXII."""
        pair = base64.b64encode(f"{CODE}:{self.secret}".encode()).decode()
        return {"Authorization": f"Basic {pair}", "Accept": MEDIA, "Content-Type": MEDIA}


@pytest.fixture
def partner(node: Node) -> Iterator[Partner]:
    with TestClient(create_app(node=node)) as client:
        yield Partner(node, client)


def _refusal(call: Any) -> tuple[int | None, str]:
    with pytest.raises(RemoteError) as caught:
        call()
    return caught.value.fields.get("http_status"), caught.value.message


def _denied(node: Node) -> list[dict[str, Any]]:
    with node.database.reader() as session:
        return [
            entry_document(e) for e in list_entries(session, action="auth.signature", limit=100)
        ]


def _stored(node: Node, stix_id: str) -> int:
    with node.database.reader() as session:
        return len(session.scalars(select(StixObject.seq).where(StixObject.id == stix_id)).all())


def test_a_signed_write_lands(partner: Partner) -> None:
    obj = _indicator()
    with partner.taxii() as client:
        status = client.add_objects(partner.url, [orjson.dumps(obj).decode()])
        assert status.success == 1
        page = client.get_objects(partner.url)  # a signed read, with a query string
        assert [o["id"] for o in page.objects] == [obj["id"]]
        client.get_objects(partner.url, limit=5, added_after="2020-01-01T00:00:00Z")
    assert _stored(partner.node, obj["id"]) == 1
    assert _denied(partner.node) == []


def test_an_unsigned_write_is_refused_and_audited(partner: Partner) -> None:
    obj = _indicator()
    with partner.taxii(signed=False) as client:
        code, message = _refusal(
            lambda: client.add_objects(partner.url, [orjson.dumps(obj).decode()])
        )
        assert code == 401 and "must sign" in message
        delete = client._http.delete(f"{partner.url}objects/{obj['id']}/")
        assert delete.status_code == 401
        assert client.get_objects(partner.url).objects == []  # an unsigned read is fine
    assert _stored(partner.node, obj["id"]) == 0
    denied = _denied(partner.node)
    assert [(e["detail"]["reason"], e["detail"]["method"]) for e in denied] == [
        ("unsigned", "POST"),
        ("unsigned", "DELETE"),
    ]
    assert all(e["outcome"] == "denied" and e["actor"] == "user:peer:qa-ncsa" for e in denied)
    with partner.node.database.reader() as session:
        assert session.scalars(select(TaxiiStatus)).all() == []  # nothing was recorded


def test_unsigned_writes_when_the_node_allows_them(partner: Partner) -> None:
    partner.node.settings = partner.node.settings.model_copy(
        update={"taxii_unsigned_peer_writes": True}
    )
    obj = _indicator()
    with partner.taxii(signed=False) as client:
        assert client.add_objects(partner.url, [orjson.dumps(obj).decode()]).success == 1
    with partner.taxii(Ed25519PrivateKey.generate()) as client:  # but what is signed must verify
        code, _ = _refusal(lambda: client.add_objects(partner.url, [orjson.dumps(obj).decode()]))
        assert code == 401


def test_forged_stale_and_replayed_requests_are_refused_and_audited(partner: Partner) -> None:
    obj = _indicator()
    body = orjson.dumps({"objects": [obj]})
    with partner.taxii(Ed25519PrivateKey.generate()) as client:  # another key: forged
        code, _ = _refusal(lambda: client.add_objects(partner.url, [orjson.dumps(obj).decode()]))
        assert code == 401
        assert _refusal(lambda: client.get_objects(partner.url))[0] == 401  # reads too

    target = partner.url.removeprefix(BASE) + "objects/"
    signed = sign_request(
        partner.key, node=CODE, method="POST", target=target, body=body, clock=partner.node.clock
    )
    first = partner.client.post(target, content=body, headers={**partner.headers(), **signed})
    assert first.status_code == 202, first.text
    again = partner.client.post(target, content=body, headers={**partner.headers(), **signed})
    assert again.status_code == 401
    assert again.headers["content-type"] == MEDIA
    assert again.json()["details"] == {"reason": "replayed"}
    other = orjson.dumps({"objects": [_indicator()]})  # the same headers on another body
    assert (
        partner.client.post(target, content=other, headers={**partner.headers(), **signed}).json()[
            "details"
        ]["reason"]
        == "forged"
    )
    old = FixedClock(partner.node.clock.now() - WINDOW - timedelta(seconds=5))
    stale = sign_request(partner.key, node=CODE, method="POST", target=target, body=body, clock=old)
    refused = partner.client.post(target, content=body, headers={**partner.headers(), **stale})
    assert refused.json()["details"] == {"reason": "stale"}

    assert _stored(partner.node, obj["id"]) == 1  # once, from the one genuine request
    reasons = [(e["detail"]["reason"], e["detail"]["method"]) for e in _denied(partner.node)]
    assert reasons == [
        ("forged", "POST"),
        ("forged", "GET"),
        ("replayed", "POST"),
        ("forged", "POST"),
        ("stale", "POST"),
    ]


def test_staff_need_no_signature(partner: Partner, node: Node) -> None:
    from watchkeeper.testing import issue_token

    token = issue_token(node, name="analyst", roles=["analyst"])
    response = partner.client.post(
        partner.url.removeprefix(BASE) + "objects/",
        content=orjson.dumps({"objects": [_indicator()]}),
        headers={"Authorization": f"Bearer {token}", "Accept": MEDIA, "Content-Type": MEDIA},
    )
    assert response.status_code == 202, response.text


def test_a_signature_binds_the_query(partner: Partner) -> None:
    with partner.taxii() as client:
        request = client._http.build_request("GET", f"{partner.url}objects/", params={"limit": "1"})
        assert client._signer is not None
        headers = client._signer("GET", request.url.raw_path.decode(), b"")
    moved = httpx.URL(f"{partner.url}objects/", params={"limit": "2"})
    answer = partner.client.get(str(moved), headers={**partner.headers(), **headers})
    assert answer.status_code == 401
    assert answer.json()["details"] == {"reason": "forged"}
