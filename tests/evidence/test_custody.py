"""Custody: chained signed events, check-out/in with re-hash, opening content, anchoring."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from watchkeeper.errors import Conflict, Forbidden, IntegrityError, InvalidInput
from watchkeeper.evidence.custody import (
    SIGNATURE_CONTEXT,
    anchor_if_changed,
    anchor_ledger,
    checkin,
    checkout,
    custody_timeline,
    ledger_head,
    node_signer,
    open_content,
    record_custody,
)
from watchkeeper.evidence.intake import add_evidence
from watchkeeper.evidence.models import CustodyEvent
from watchkeeper.evidence.vault import content_path
from watchkeeper.node import Node
from watchkeeper.security import Principal, list_entries

OFFICER = Principal(name="eve", roles=frozenset({"evidence-officer"}), via="cli")
AUDITOR = Principal(name="aud", roles=frozenset({"auditor"}), via="cli")


def _item(node: Node, sample: Path) -> dict[str, object]:
    return add_evidence(
        node=node, actor="cli:eve", role="evidence-officer", paths=[sample], case_ref="C-1"
    )[0]


def test_events_chain_and_are_signed_by_the_node(keyed: Node, sample: Path) -> None:
    item = _item(keyed, sample)
    with keyed.database.transaction() as session:
        record_custody(
            session, clock=keyed.clock, signer=node_signer(keyed), item_id=str(item["id"]),
            action="transfer", actor="cli:eve", role="evidence-officer", purpose="to lab",
            location="HQ room 2",
        )  # fmt: skip
    with keyed.database.reader() as session:
        timeline = custody_timeline(session, item=str(item["exhibit_number"]))
    first, second = timeline["custody"]
    assert second["prev_hash"] == first["event_hash"]
    assert timeline["custody_head"] == second["event_hash"]
    public = Ed25519PublicKey.from_public_bytes(
        base64.b64decode(keyed.identity().signing_public_key)
    )
    public.verify(  # raises if the signature is not the node's
        base64.b64decode(second["signature"]), SIGNATURE_CONTEXT + second["event_hash"].encode()
    )
    assert second["signer"] == keyed.identity().fingerprint


def test_checkout_needs_purpose_and_checkin_rehashes(keyed: Node, sample: Path) -> None:
    item = str(_item(keyed, sample)["exhibit_number"])
    with pytest.raises(InvalidInput, match="purpose"):
        checkout(node=keyed, principal=OFFICER, item=item, purpose=" ")
    with pytest.raises(Forbidden):
        checkout(node=keyed, principal=AUDITOR, item=item, purpose="look")
    assert checkout(node=keyed, principal=OFFICER, item=item, purpose="imaging")["status"] == (
        "checked-out"
    )
    with pytest.raises(Conflict):
        checkout(node=keyed, principal=OFFICER, item=item, purpose="again")
    done = checkin(node=keyed, principal=OFFICER, item=item)
    assert done["status"] == "sealed"
    with keyed.database.reader() as session:
        events = custody_timeline(session, item=item)["custody"]
    assert [e["action"] for e in events] == ["collect", "check-out", "check-in"]
    assert events[2]["hash_before"] == events[2]["hash_after"] == done["sha256"]
    assert events[2]["detail"] == {"hash_match": True}


def test_checkin_of_altered_content_is_recorded_and_refused(keyed: Node, sample: Path) -> None:
    item = _item(keyed, sample)
    checkout(node=keyed, principal=OFFICER, item=str(item["id"]), purpose="analysis")
    stored = content_path(keyed.data_dir, str(item["sha256"]))
    stored.chmod(0o644)
    stored.write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="expected"):
        checkin(node=keyed, principal=OFFICER, item=str(item["id"]))
    with keyed.database.reader() as session:
        last = session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq.desc())).first()
    assert last is not None and last.detail == {"hash_match": False}


def test_open_content_needs_role_and_purpose_and_is_recorded(keyed: Node, sample: Path) -> None:
    item = str(_item(keyed, sample)["id"])
    with (
        pytest.raises(Forbidden),
        open_content(node=keyed, principal=AUDITOR, item=item, purpose="curious"),
    ):
        pass
    with (
        pytest.raises(InvalidInput),
        open_content(node=keyed, principal=OFFICER, item=item, purpose=""),
    ):
        pass
    with open_content(node=keyed, principal=OFFICER, item=item, purpose="timeline") as handle:
        assert handle.read() == sample.read_bytes()
    with keyed.database.reader() as session:
        events = custody_timeline(session, item=item)["custody"]
    assert [(e["action"], e["purpose"]) for e in events][-1] == ("analyse", "timeline")
    assert len(events) == 2  # refused attempts wrote nothing


def test_anchor_writes_the_ledger_head_into_the_audit_ledger(keyed: Node, sample: Path) -> None:
    _item(keyed, sample)
    with keyed.database.transaction() as session:
        detail = anchor_ledger(session, clock=keyed.clock, actor="test")
        assert (detail["items"], detail["head"]) == ledger_head(session)
    with keyed.database.reader() as session:
        [entry] = list_entries(session, action="evidence.anchor")
    assert entry.detail == detail


def test_anchor_if_changed_anchors_only_a_moved_head(keyed: Node, sample: Path) -> None:
    with keyed.database.transaction() as session:
        assert anchor_if_changed(session, clock=keyed.clock, actor="test") is None  # empty vault
    _item(keyed, sample)
    with keyed.database.transaction() as session:
        first = anchor_if_changed(session, clock=keyed.clock, actor="test")
    with keyed.database.transaction() as session:
        assert first is not None
        assert anchor_if_changed(session, clock=keyed.clock, actor="test") is None
    with keyed.database.reader() as session:
        assert len(list_entries(session, action="evidence.anchor")) == 1
