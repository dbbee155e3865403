"""Per-peer sharing settings: defaults, changes, validation, audit, and peer deliveries."""

from __future__ import annotations

from typing import Any

import pytest
from sharing_samples import IDENTITY_A, deliver, indicator, register
from sqlalchemy import select

from watchkeeper.bus import read_events
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.federation import (
    Receipt,
    SharingSettings,
    get_sharing,
    set_sharing,
    sharing_document,
)
from watchkeeper.intel import ImportRun
from watchkeeper.node import Node
from watchkeeper.security import list_entries, remove_peer


def _set(node: Node, code: str = "QA-NCSA", **changes: Any) -> dict[str, Any]:
    with node.database.transaction() as session:
        settings = set_sharing(session, clock=node.clock, actor="user:admin", code=code, **changes)
        return sharing_document(settings)


def _get(node: Node, code: str = "QA-NCSA") -> dict[str, Any]:
    with node.database.reader() as session:
        return sharing_document(get_sharing(session, code))


def _audited(node: Node, action: str) -> list[dict[str, Any]]:
    with node.database.reader() as session:
        return [
            {"subject": e.subject, "detail": e.detail}
            for e in list_entries(session, action=action, limit=100)
        ]


def test_an_unconfigured_peer_gets_the_most_restrictive_settings(node: Node) -> None:
    register(node, "QA-NCSA")
    assert _get(node) == {
        "peer": "QA-NCSA",
        "community": "international",
        "max_tlp": "TLP:CLEAR",
        "need_to_know": False,
        "identity": None,
        "reshare": False,
        "configured": False,
    }
    assert _set(node)["configured"] is False  # nothing asked, nothing stored or audited
    assert _audited(node, "peer.sharing") == []


def test_settings_change_and_are_audited_with_old_and_new_values(node: Node) -> None:
    register(node, "QA-NCSA")
    document = _set(
        node,
        community="Regional",
        max_tlp="TLP:AMBER",
        need_to_know=True,
        identity=IDENTITY_A,
        reshare=True,
    )
    assert document == {
        "peer": "QA-NCSA",
        "community": "regional",
        "max_tlp": "TLP:AMBER",
        "need_to_know": True,
        "identity": IDENTITY_A,
        "reshare": True,
        "configured": True,
    }
    assert _get(node) == document
    _set(node, max_tlp="green", identity="")  # the others kept; an empty identity clears it
    assert _get(node) == {**document, "max_tlp": "TLP:GREEN", "identity": None}
    _set(node, max_tlp="green")  # no change: not audited again
    entries = _audited(node, "peer.sharing")
    assert [e["subject"] for e in entries] == ["peer:QA-NCSA", "peer:QA-NCSA"]
    assert entries[0]["detail"]["community"] == {"from": "international", "to": "regional"}
    assert entries[0]["detail"]["configured"] == {"from": False, "to": True}
    assert entries[1]["detail"] == {
        "max_tlp": {"from": "TLP:AMBER", "to": "TLP:GREEN"},
        "identity": {"from": IDENTITY_A, "to": None},
    }
    with node.database.reader() as session:
        events = [e.type for e in read_events(session, types=["peer.sharing"])]
    assert events == ["peer.sharing", "peer.sharing"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"community": "galactic"}, "community", "national, regional, international"),
        ({"max_tlp": "red"}, "max_tlp", "TLP:RED never leaves"),
        ({"max_tlp": "TLP:RED"}, "max_tlp", "TLP:RED never leaves"),
        ({"max_tlp": "purple"}, "max_tlp", "unknown TLP level"),
        ({"identity": "indicator--0f0f0f0f-0000-4000-8000-000000000001"}, "identity", "identity"),
        ({"identity": "QA-NCSA"}, "identity", "identity--<uuid>"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    node: Node, changes: dict[str, Any], field: str, words: str
) -> None:
    register(node, "QA-NCSA", max_tlp="green")
    with pytest.raises(InvalidInput) as caught:
        _set(node, need_to_know=True, **changes)
    assert caught.value.fields["field"] == field
    assert words in caught.value.message
    assert _get(node)["need_to_know"] is False  # nothing changed
    assert _get(node)["max_tlp"] == "TLP:GREEN"


def test_unknown_peer(node: Node) -> None:
    with pytest.raises(NotFound):
        _set(node, code="XX-NONE", max_tlp="green")
    with pytest.raises(NotFound):
        _get(node, "XX-NONE")


def test_removing_a_peer_removes_its_settings_but_not_its_receipts(node: Node) -> None:
    register(node, "QA-NCSA", community="national", max_tlp="green")
    report = deliver(node, "QA-NCSA", indicator(1))
    with node.database.transaction() as session:
        remove_peer(session, clock=node.clock, actor="test", code="QA-NCSA")
    with node.database.reader() as session:
        assert session.scalars(select(SharingSettings)).all() == []
        receipt = session.get_one(Receipt, report.id)
        assert (receipt.peer, receipt.scope, receipt.reshare) == ("QA-NCSA", "national", False)


def test_a_delivery_records_peer_scope_and_terms(node: Node) -> None:
    register(node, "QA-NCSA", community="regional", reshare=True)
    default = deliver(node, "QA-NCSA", indicator(1))
    narrowed = deliver(node, "QA-NCSA", indicator(2), scope="National", reshare=False)
    with node.database.reader() as session:
        receipts = {r.import_id: r for r in session.scalars(select(Receipt))}
        runs = {r.id: r for r in session.scalars(select(ImportRun))}
    assert (receipts[default.id].scope, receipts[default.id].reshare) == ("regional", True)
    assert (receipts[narrowed.id].scope, receipts[narrowed.id].reshare) == ("national", False)
    assert {runs[i].source for i in receipts} == {"peer:QA-NCSA"}
    assert {runs[i].status for i in receipts} == {"done"}
    assert runs[default.id].counts["created"] == 1
    audited = _audited(node, "federation.receive")
    assert [e["detail"] for e in audited] == [
        {"peer": "QA-NCSA", "scope": "regional", "reshare": True},
        {"peer": "QA-NCSA", "scope": "national", "reshare": False},
    ]
    assert {e["subject"] for e in audited} == {f"import:{default.id}", f"import:{narrowed.id}"}


def test_a_delivery_with_a_bad_scope_stores_nothing(node: Node) -> None:
    register(node, "QA-NCSA")
    with pytest.raises(InvalidInput) as caught:
        deliver(node, "QA-NCSA", indicator(1), scope="everywhere")
    assert caught.value.fields["field"] == "scope"
    with node.database.reader() as session:
        assert session.scalars(select(ImportRun)).all() == []
    with pytest.raises(NotFound):
        deliver(node, "XX-NONE", indicator(1))
