"""TAXII add-objects requests: the status resource, the job that stores the objects, and the
exact account of each object (success or failure with its reason), however many fail."""

from __future__ import annotations

from typing import Any

import pytest
from sharing_samples import GREEN, indicator, register, sid
from sqlalchemy import func, select

from watchkeeper.errors import NotFound
from watchkeeper.federation import (
    Receipt,
    TaxiiStatus,
    add_collection,
    find_status,
    open_status,
    status_resource,
    store_objects,
    taxii_caller,
)
from watchkeeper.federation import taxii_status as module
from watchkeeper.intel import ImportRun
from watchkeeper.node import Node
from watchkeeper.security import Principal, list_entries, peer_account


def _peer_caller(node: Node, code: str = "QA-NCSA") -> Any:
    register(node, code, community="national", max_tlp="green")
    with node.database.transaction() as session:
        account = peer_account(session, clock=node.clock, actor="test", code=code)
        principal = Principal(
            name=account.name, roles=frozenset({"partner-node"}), user_id=account.id
        )
        return taxii_caller(session, principal=principal)


def _request(node: Node, caller: Any, objects: list[Any], **options: Any) -> dict[str, Any]:
    with node.database.transaction() as session:
        collection = add_collection(
            session, clock=node.clock, actor="test", title="Inbox", **options
        )
        status = open_status(
            session,
            clock=node.clock,
            caller=caller,
            community="national",
            collection=collection,
            objects=objects,
        )
        pending = status_resource(status)
    assert pending["status"] == "pending"
    assert pending["pending_count"] == len(objects)
    store_objects(
        node.database, clock=node.clock, status_id=pending["id"], caller=caller, objects=objects
    )
    with node.database.reader() as session:
        return status_resource(session.get_one(TaxiiStatus, pending["id"]))


def test_every_object_is_accounted_for_even_past_the_kept_reasons(node: Node) -> None:
    caller = _peer_caller(node)
    bad = [{"type": "indicator", "id": sid("indicator", n)} for n in range(1, 1006)]
    good = [indicator(2001, markings=[GREEN]), indicator(2002, markings=[GREEN])]
    status = _request(node, caller, [good[0], *bad, good[1]])
    assert status["status"] == "complete"
    assert status["total_count"] == 1007
    assert status["success_count"] == 2
    assert [s["id"] for s in status["successes"]] == [good[0]["id"], good[1]["id"]]
    assert status["failure_count"] == len(status["failures"]) == 1005
    messages = [f["message"] for f in status["failures"]]
    assert sum("modified" in m for m in messages) == 1000  # the reasons an import keeps
    assert messages[-1] == "not stored (rejected; the reason was not kept)"
    assert status["pending_count"] == 0 and "pendings" not in status


def test_what_a_peer_posts_is_its_delivery_into_the_root(node: Node) -> None:
    caller = _peer_caller(node)
    status = _request(node, caller, [indicator(1, markings=[GREEN])])
    assert status["success_count"] == 1
    with node.database.reader() as session:
        row = session.get_one(TaxiiStatus, status["id"])
        receipt = session.get_one(Receipt, row.import_id)
        assert (receipt.peer, receipt.scope) == ("QA-NCSA", "national")
        entries = list_entries(session, action="taxii.add")
        assert entries[-1].detail["status"] == status["id"]


def test_types_outside_the_collection_fail(node: Node) -> None:
    caller = _peer_caller(node)
    tool = {
        "type": "tool",
        "spec_version": "2.1",
        "id": sid("tool", 1),
        "created": "2026-01-01T00:00:00Z",
        "modified": "2026-01-01T00:00:00Z",
        "name": "a tool",
    }
    status = _request(node, caller, [tool, indicator(3)], types=["indicator"])
    assert status["failures"] == [
        {
            "id": tool["id"],
            "version": "2026-01-01T00:00:00.000000Z",
            "message": "type 'tool' is not held by this collection (it holds indicator)",
        }
    ]


def test_an_empty_envelope_completes_without_an_import(node: Node) -> None:
    caller = _peer_caller(node)
    with node.database.reader() as session:
        before = session.scalar(select(func.count()).select_from(ImportRun))
    status = _request(node, caller, [])
    assert (status["status"], status["total_count"]) == ("complete", 0)
    with node.database.reader() as session:
        assert session.scalar(select(func.count()).select_from(ImportRun)) == before


def test_an_unexpected_failure_fails_every_object_and_completes(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = _peer_caller(node)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(module, "receive", broken)
    status = _request(node, caller, [indicator(4), "junk"])
    assert status["status"] == "complete"
    assert status["failure_count"] == 2
    assert {f["message"] for f in status["failures"]} == {"not stored: unexpected error (logged)"}
    assert "disk on fire" not in str(status)


def test_a_status_belongs_to_its_requester(node: Node) -> None:
    caller = _peer_caller(node)
    other = _peer_caller(node, "KE-CERT")
    status = _request(node, caller, [indicator(5)])
    with node.database.reader() as session:
        assert find_status(session, caller=caller, community="national", status_id=status["id"])
        with pytest.raises(NotFound):
            find_status(session, caller=other, community="national", status_id=status["id"])
        with pytest.raises(NotFound):
            find_status(session, caller=caller, community="regional", status_id=status["id"])
