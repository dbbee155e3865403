"""Signed requests between nodes: forged, stale and replayed requests are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from watchkeeper.core import FixedClock
from watchkeeper.errors import Unauthenticated
from watchkeeper.node import Node
from watchkeeper.security import add_peer
from watchkeeper.security.keys import public_key_text
from watchkeeper.security.models import Peer
from watchkeeper.security.signatures import (
    HEADER_NODE,
    HEADER_SIGNATURE,
    WINDOW,
    is_signed,
    sign_request,
    verify_request,
)
from watchkeeper.testing import FIXED_START

TARGET = "/taxii2/regional/collections/c1/objects/"
BODY = b'{"objects": []}'


@pytest.fixture
def partner(node: Node) -> tuple[Peer, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    with node.database.transaction() as session:
        peer = add_peer(
            session,
            clock=node.clock,
            actor="cli:test",
            code="KE-CERT",
            url="https://ke.example",
            country="KE",
            public_key=public_key_text(key),
        )
        session.expunge(peer)
    return peer, key


def _verify(node: Node, peer: Peer, headers: dict[str, str], *, body: bytes = BODY) -> None:
    with node.database.transaction() as session:
        verify_request(
            session,
            clock=node.clock,
            peer=peer,
            method="POST",
            target=TARGET,
            body=body,
            headers=headers,
        )


def _reason(node: Node, peer: Peer, headers: dict[str, str], *, body: bytes = BODY) -> str:
    with pytest.raises(Unauthenticated) as caught:
        _verify(node, peer, headers, body=body)
    return str(caught.value.fields["reason"])


def test_a_signed_request_verifies_once_then_is_a_replay(
    node: Node, partner: tuple[Peer, Ed25519PrivateKey]
) -> None:
    peer, key = partner
    headers = sign_request(
        key, node="KE-CERT", method="post", target=TARGET, body=BODY, clock=node.clock
    )
    assert is_signed(headers)
    _verify(node, peer, headers)
    assert _reason(node, peer, headers) == "replayed"


def test_forged_requests_are_refused(node: Node, partner: tuple[Peer, Ed25519PrivateKey]) -> None:
    peer, key = partner
    signed = sign_request(
        key, node="KE-CERT", method="POST", target=TARGET, body=BODY, clock=node.clock
    )
    assert _reason(node, peer, signed, body=b'{"objects": [1]}') == "forged"  # body changed
    other = Ed25519PrivateKey.generate()
    stranger = sign_request(
        other, node="KE-CERT", method="POST", target=TARGET, body=BODY, clock=node.clock
    )
    assert _reason(node, peer, stranger) == "forged"  # another key
    assert _reason(node, peer, {**signed, HEADER_NODE: "UG-CERT"}) == "forged"
    assert _reason(node, peer, {**signed, HEADER_SIGNATURE: "%%%"}) == "forged"
    assert _reason(node, peer, {}) == "unsigned"
    assert not is_signed({})


def test_requests_outside_the_window_are_stale(
    node: Node, partner: tuple[Peer, Ed25519PrivateKey]
) -> None:
    peer, key = partner
    old = FixedClock(FIXED_START - WINDOW - timedelta(seconds=1))
    headers = sign_request(key, node="KE-CERT", method="POST", target=TARGET, body=BODY, clock=old)
    assert _reason(node, peer, headers) == "stale"
