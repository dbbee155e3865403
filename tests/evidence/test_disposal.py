"""Retention, legal hold and four-eyes disposal: content goes, custody stays and verifies."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.errors import Conflict, Forbidden, InvalidInput
from watchkeeper.evidence.custody import checkout, custody_timeline
from watchkeeper.evidence.disposal import (
    dispose_approve,
    dispose_request,
    list_disposals,
    set_legal_hold,
    set_retention,
)
from watchkeeper.evidence.intake import add_evidence
from watchkeeper.evidence.vault import content_path
from watchkeeper.evidence.verify import verify_evidence
from watchkeeper.node import Node
from watchkeeper.security import Principal, list_entries


def _officer(name: str) -> Principal:
    return Principal(name=name, roles=frozenset({"evidence-officer"}), via="cli")


ANN, BOB, CAT = _officer("ann"), _officer("bob"), _officer("cat")


def _add(node: Node, path: Path) -> dict[str, Any]:
    return add_evidence(
        node=node, actor="cli:ann", role="evidence-officer", paths=[path], case_ref="C-1"
    )[0]


def test_two_other_approvers_dispose_and_custody_is_kept(keyed: Node, sample: Path) -> None:
    item = _add(keyed, sample)
    stored = content_path(keyed.data_dir, item["sha256"])
    request = dispose_request(node=keyed, principal=ANN, item=item["exhibit_number"],
                              reason="case closed, retention over")  # fmt: skip
    with pytest.raises(Forbidden, match="requested this disposal"):
        dispose_approve(node=keyed, principal=ANN, request_id=request["id"])
    first = dispose_approve(node=keyed, principal=BOB, request_id=request["id"])
    assert first["status"] == "pending" and stored.exists()
    with pytest.raises(Conflict, match="already approved"):
        dispose_approve(node=keyed, principal=BOB, request_id=request["id"])
    done = dispose_approve(node=keyed, principal=CAT, request_id=request["id"])
    assert done["status"] == "disposed" and done["approvers"] == ["cli:bob", "cli:cat"]
    assert done["content_removed"] and not stored.exists()
    with keyed.database.reader() as session:
        timeline = custody_timeline(session, item=item["id"])
        assert list_disposals(session)[0]["status"] == "disposed"
        actions = {e.action for e in list_entries(session, limit=50)}
    assert timeline["status"] == "disposed"
    last = timeline["custody"][-1]
    assert [e["action"] for e in timeline["custody"]] == ["collect", "dispose"]
    assert last["hash_before"] == item["sha256"] and last["hash_after"] is None
    assert last["prev_hash"] == timeline["custody"][0]["event_hash"]
    assert last["detail"]["approvers"] == ["cli:bob", "cli:cat"]
    assert {"evidence.dispose.request", "evidence.dispose.approve"} <= actions
    report = verify_evidence(node=keyed)
    assert report.ok, [f.line() for f in report.failures]
    assert report.events == 2
    with pytest.raises(Conflict, match="already disposed"):
        dispose_request(node=keyed, principal=ANN, item=item["id"], reason="again")


def test_legal_hold_and_retention_refuse(keyed: Node, sample: Path) -> None:
    item = _add(keyed, sample)
    with keyed.database.transaction() as session:
        set_legal_hold(session, clock=keyed.clock, actor="cli:ann", item_id=item["id"],
                       hold=True, reason="court order 12/2026")  # fmt: skip
    with pytest.raises(Conflict, match="legal hold"):
        dispose_request(node=keyed, principal=ANN, item=item["id"], reason="tidy up")
    with keyed.database.transaction() as session:
        set_legal_hold(session, clock=keyed.clock, actor="cli:ann", item_id=item["id"],
                       hold=False, reason="order lifted")  # fmt: skip
    request = dispose_request(node=keyed, principal=ANN, item=item["id"], reason="tidy up")
    dispose_approve(node=keyed, principal=BOB, request_id=request["id"])
    # A hold put on between approvals still stops the disposal.
    with keyed.database.transaction() as session:
        set_legal_hold(session, clock=keyed.clock, actor="cli:bob", item_id=item["id"],
                       hold=True, reason="new proceedings")  # fmt: skip
    with pytest.raises(Conflict, match="legal hold"):
        dispose_approve(node=keyed, principal=CAT, request_id=request["id"])
    assert content_path(keyed.data_dir, item["sha256"]).exists()
    with keyed.database.transaction() as session:
        set_legal_hold(session, clock=keyed.clock, actor="cli:bob", item_id=item["id"],
                       hold=False, reason="closed")  # fmt: skip
        later = date(keyed.clock.now().year + 5, 1, 1)
        document = set_retention(session, clock=keyed.clock, actor="cli:ann",
                                 item_id=item["id"], until=later)  # fmt: skip
    assert document["legal"]["retention_until"] == later.isoformat()
    with pytest.raises(Conflict, match="retained until"):
        dispose_approve(node=keyed, principal=CAT, request_id=request["id"])
    with keyed.database.transaction() as session:
        set_retention(session, clock=keyed.clock, actor="cli:ann", item_id=item["id"],
                      until=date(2000, 1, 1))  # fmt: skip
    assert dispose_approve(node=keyed, principal=CAT, request_id=request["id"])["content_removed"]


def test_shared_content_is_kept_until_its_last_item_goes(
    keyed: Node, sample: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.log"
    copy.write_bytes(sample.read_bytes())
    first, second = _add(keyed, sample), _add(keyed, copy)
    assert first["sha256"] == second["sha256"]
    stored = content_path(keyed.data_dir, first["sha256"])
    for item, expect_removed in ((first, False), (second, True)):
        request = dispose_request(node=keyed, principal=ANN, item=item["id"], reason="done")
        dispose_approve(node=keyed, principal=BOB, request_id=request["id"])
        done = dispose_approve(node=keyed, principal=CAT, request_id=request["id"])
        assert done["content_removed"] is expect_removed
        assert stored.exists() is not expect_removed
        assert verify_evidence(node=keyed).ok


def test_refusals_name_the_problem(keyed: Node, sample: Path, tmp_path: Path) -> None:
    item = _add(keyed, sample)
    with pytest.raises(InvalidInput, match="reason"):
        dispose_request(node=keyed, principal=ANN, item=item["id"], reason=" ")
    analyst = Principal(name="al", roles=frozenset({"analyst"}), via="cli")
    with pytest.raises(Forbidden):
        dispose_request(node=keyed, principal=analyst, item=item["id"], reason="x")
    request = dispose_request(node=keyed, principal=ANN, item=item["id"], reason="x")
    with pytest.raises(Conflict, match="already has disposal request"):
        dispose_request(node=keyed, principal=BOB, item=item["id"], reason="y")
    checkout(node=keyed, principal=BOB, item=item["id"], purpose="one more look")
    with pytest.raises(Conflict, match="checked out"):
        dispose_approve(node=keyed, principal=BOB, request_id=request["id"])
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "a").write_bytes(b"a")
    parent = add_evidence(
        node=keyed, actor="cli:ann", role="evidence-officer", paths=[folder], case_ref="C-1"
    )[0]
    with pytest.raises(Conflict, match="not disposed yet"):
        dispose_request(node=keyed, principal=ANN, item=parent["id"], reason="x")
