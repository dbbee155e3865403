"""STIX objects, peers and deliveries for the federation tests."""

from __future__ import annotations

import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from watchkeeper.core.tlp import TLP1_MARKING_IDS, TLP2_MARKING_IDS, Tlp
from watchkeeper.federation import items_reader, receive, set_sharing
from watchkeeper.intel import ImportReport, run_import
from watchkeeper.node import Node
from watchkeeper.security import add_peer
from watchkeeper.security.keys import public_key_text

STAMP = "2026-03-01T10:00:00.000Z"
CLEAR, GREEN, AMBER, STRICT, RED = (TLP2_MARKING_IDS[level] for level in Tlp)
OLD_WHITE, OLD_AMBER = TLP1_MARKING_IDS["white"], TLP1_MARKING_IDS["amber"]
IDENTITY_A = "identity--aaaaaaaa-0000-4000-8000-000000000001"
IDENTITY_OTHER = "identity--bbbbbbbb-0000-4000-8000-000000000002"


def sid(kind: str, n: int) -> str:
    """A fixed STIX id, so failures name the object."""
    return f"{kind}--0f0f0f0f-0000-4000-8000-{n:012d}"


def indicator(n: int, *, markings: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A minimal valid indicator, numbered ``n`` (its id and its domain)."""
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": sid("indicator", n),
        "created": STAMP,
        "modified": STAMP,
        "pattern": f"[domain-name:value = 'site-{n}.example']",
        "pattern_type": "stix",
        "valid_from": STAMP,
        **extra,
    }
    if markings is not None:
        obj["object_marking_refs"] = markings
    return obj


def granular(level_id: str) -> list[dict[str, Any]]:
    """A granular marking of ``description`` with ``level_id``."""
    return [{"marking_ref": level_id, "selectors": ["description"]}]


def public_key() -> str:
    return public_key_text(Ed25519PrivateKey.generate())


def register(node: Node, code: str, **sharing: Any) -> None:
    """Register peer ``code``; with ``sharing`` keywords, configure what it may receive."""
    with node.database.transaction() as session:
        add_peer(
            session,
            clock=node.clock,
            actor="test",
            code=code,
            url=f"https://{code.lower()}.example",
            country=code[:2],
            public_key=public_key(),
        )
        if sharing:
            set_sharing(session, clock=node.clock, actor="test", code=code, **sharing)


def load(node: Node, *objects: dict[str, Any], source: str = "feed:test") -> ImportReport:
    """Import ``objects`` from one of this node's own sources."""
    report = run_import(
        node.database,
        clock=node.clock,
        actor="test",
        source=source,
        format="stix",
        reader=items_reader(objects, name=source),
    )
    assert report.rejected == 0, report.document()
    return report


def deliver(
    node: Node,
    peer: str,
    *objects: dict[str, Any],
    scope: str | None = None,
    reshare: bool | None = None,
) -> ImportReport:
    """Import ``objects`` as a delivery from ``peer``."""
    report = receive(
        node.database,
        clock=node.clock,
        actor=f"user:peer:{peer.lower()}",
        peer=peer,
        reader=items_reader(objects, name="envelope"),
        scope=scope,
        reshare=reshare,
    )
    assert report.rejected == 0, report.document()
    return report


def new_uuid() -> str:
    return str(uuid.uuid4())
