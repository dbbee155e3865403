"""The whole way of a preservation and its follow-up between two nodes, in one process:
drafted, checked, screened, approved by a second person, sent, acknowledged, preserved, the
follow-up request linked to it, executed, and the results returned as a sealed package that
the requesting node verifies. And what must be refused on the way."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cooperation.pairs import Side, preservation_fields, register, staff
from watchkeeper.cooperation import (
    SCREEN_CHECKS,
    accept_results,
    acknowledge,
    advance,
    approve_request,
    check_incoming,
    consult,
    deadline_rows,
    decide,
    find_request,
    inbox_page,
    new_request,
    parse_fields,
    preserve,
    record_oral,
    request_document,
    scan_deadlines,
    screen_request,
    send_request,
    send_results,
    submit_request,
    timeline,
    validate_request,
)
from watchkeeper.core import FixedClock
from watchkeeper.errors import Conflict, InvalidInput
from watchkeeper.evidence import add_evidence, authorise_onward, build_package, verify_evidence
from watchkeeper.node import Node
from watchkeeper.testing import make_node


def _status(node: Node, ref: str) -> str:
    with node.database.reader() as session:
        return find_request(session, ref).status


def _draft(side: Side, type: str = "preservation", **fields: object) -> str:
    values = preservation_fields() if type == "preservation" else {}
    values.update(fields)
    with side.node.database.transaction() as session:
        request = new_request(
            session,
            node=side.node,
            actor=staff("alice").actor,
            type=type,
            to_state="YY",
            fields=parse_fields(values),
        )
        return request.reference


def _through_approval(side: Side, ref: str) -> None:
    node = side.node
    with node.database.transaction() as session:
        _, problems = validate_request(session, node=node, principal=staff("alice"), ref=ref)
        assert [p for p in problems if p.severity == "error" and p.stage == "validate"] == []
        submit_request(session, node=node, principal=staff("alice"), ref=ref)
        screen_request(
            session,
            node=node,
            principal=staff("lena"),
            ref=ref,
            checks=dict.fromkeys(SCREEN_CHECKS, True),
        )
        approve_request(session, node=node, principal=staff("bob"), ref=ref)
        send_request(session, node=node, principal=staff("bob"), ref=ref)


def _incoming_ref(side: Side, thread_of: str, requester: Side) -> str:
    with requester.node.database.reader() as session:
        thread = find_request(session, thread_of).thread
    with side.node.database.reader() as session:
        page = inbox_page(session, now=side.node.clock.now(), include_closed=True)
        for row in page["requests"]:
            request = find_request(session, row["id"])
            if request.thread == thread:
                return request.reference
    raise AssertionError(f"no incoming request for {thread_of}")


def test_preservation_follow_up_and_sealed_results(pair: tuple[Side, Side], tmp_path: Path) -> None:
    xx, yy = pair
    ref = _draft(xx)
    _through_approval(xx, ref)
    assert _status(xx.node, ref) == "sent"
    assert xx.deliver() == 1
    incoming = _incoming_ref(yy, ref, xx)
    with yy.node.database.transaction() as session:
        page = inbox_page(session, now=yy.node.clock.now())
        assert page["waiting"] == 1 and page["requests"][0]["clock"]["state"] == "running"
        acknowledge(session, node=yy.node, principal=staff("duty"), ref=incoming)
        check_incoming(session, node=yy.node, principal=staff("duty"), ref=incoming)
        decide(session, node=yy.node, principal=staff("duty"), ref=incoming, decision="grant")
        preserve(session, node=yy.node, principal=staff("duty"), ref=incoming)
    yy.deliver()
    assert _status(xx.node, ref) == "preserved"

    mla = _draft(
        xx,
        "stored-data",
        parent=ref,
        contents={
            "authority": "XX Prosecutor General",
            "case-subject": "Ransomware case 2026/17, conducted by the XX Cybercrime Unit",
            "facts": "Ransomware attack on the XX national hospital network",
            "assistance-sought": "Search and disclosure of the preserved logs",
            "persons": "Unknown",
            "purpose": "Identify the attackers",
        },
        offence={"basis": "art-10", "max_penalty_years": 7},
        data=preservation_fields()["data"],
    )
    _through_approval(xx, mla)
    xx.deliver()
    assert _status(yy.node, incoming) == "held-pending-decision"
    follow_up = _incoming_ref(yy, mla, xx)
    evidence_file = tmp_path / "logs.txt"
    evidence_file.write_bytes(b"2026-01-10T03:12:00Z 203.0.113.7 login customer-4711\n" * 50)
    items = add_evidence(
        node=yy.node,
        actor="user:duty",
        role="evidence-officer",
        paths=[evidence_file],
        case_ref=None,
        authority="YY order 2026/3",
    )
    with yy.node.database.transaction() as session:
        acknowledge(session, node=yy.node, principal=staff("duty"), ref=follow_up)
        check_incoming(session, node=yy.node, principal=staff("duty"), ref=follow_up)
        decide(session, node=yy.node, principal=staff("bob"), ref=follow_up, decision="grant")
        advance(session, node=yy.node, principal=staff("duty"), ref=follow_up, to="executed")
    send_results(
        node=yy.node,
        principal=staff("duty"),
        ref=follow_up,
        evidence=[items[0]["id"]],
        authority="YY order 2026/3",
    )
    assert _status(yy.node, incoming) == "disclosed"
    assert yy.deliver() >= 1
    accept_results(xx.node)
    with xx.node.database.reader() as session:
        request = find_request(session, mla)
        document = request_document(request, steps=timeline(session, request))
    assert document["status"] == "answered"
    assert len(document["evidence_ids"]) == 1
    assert "results-received" in [step["action"] for step in document["timeline"]]
    assert verify_evidence(node=xx.node).ok
    assert _status(xx.node, ref) == "closed"
    _onward_transfer_needs_authorisation(xx.node, document["evidence_ids"][0], tmp_path)


def _onward_transfer_needs_authorisation(node: Node, item_id: str, tmp_path: Path) -> None:
    """What YY sent may go back to YY, but to a third state only with YY's authorisation."""
    third = make_node(tmp_path / "zz")
    try:
        identity = third.init_identity(actor="test", code="ZZ-POC", name="ZZ", country="ZZ")
        register(node, identity, "http://zz.test")
        package = {
            "node": node, "actor": "user:duty", "role": "evidence-officer", "item_ids": [item_id],
            "peer_code": "ZZ-POC", "authority": "XX order", "use_restrictions": [],
            "purpose": "joint investigation",
        }  # fmt: skip
        with pytest.raises(InvalidInput, match=r"36\(3\)"):
            build_package(**package, output=tmp_path / "onward.wkp")
        assert not (tmp_path / "onward.wkp").exists()
        with node.database.transaction() as session:
            authorise_onward(
                session, clock=node.clock, actor="user:duty", item_id=item_id, peer="ZZ-POC",
                authority="YY letter 2026/88",
            )  # fmt: skip
        build_package(**package, output=tmp_path / "onward.wkp")
        assert (tmp_path / "onward.wkp").stat().st_size > 0
    finally:
        third.close()


def test_four_eyes_and_screen(pair: tuple[Side, Side]) -> None:
    xx, _ = pair
    ref = _draft(xx)
    node = xx.node
    with node.database.transaction() as session:
        validate_request(session, node=node, principal=staff("alice"), ref=ref)
        submit_request(session, node=node, principal=staff("alice"), ref=ref)
    alice_as_approver = staff("alice")
    with node.database.transaction() as session, pytest.raises(InvalidInput, match="screen"):
        approve_request(session, node=node, principal=staff("bob"), ref=ref)
    with node.database.transaction() as session:
        screen_request(
            session,
            node=node,
            principal=staff("lena"),
            ref=ref,
            checks=dict.fromkeys(SCREEN_CHECKS, True),
        )
    with node.database.transaction() as session, pytest.raises(InvalidInput, match="four-eyes"):
        approve_request(
            session,
            node=node,
            principal=type(alice_as_approver)(
                name="alice", roles=frozenset({"central-authority"}), via="token"
            ),
            ref=ref,
        )


def test_missing_item_names_the_article(pair: tuple[Side, Side]) -> None:
    xx, _ = pair
    fields = preservation_fields()
    del fields["contents"]["necessity"]
    ref = _draft(xx, **fields)
    with xx.node.database.transaction() as session:
        request, problems = validate_request(
            session, node=xx.node, principal=staff("alice"), ref=ref
        )
        assert request.status == "draft"
    messages = [p.message for p in problems if p.severity == "error"]
    assert any("42(3)(e)" in message for message in messages)


def _received_and_checked(xx: Side, yy: Side) -> tuple[str, str]:
    """A preservation sent by XX, acknowledged and checked by YY: (XX's ref, YY's ref)."""
    ref = _draft(xx)
    _through_approval(xx, ref)
    xx.deliver()
    incoming = _incoming_ref(yy, ref, xx)
    with yy.node.database.transaction() as session:
        acknowledge(session, node=yy.node, principal=staff("duty"), ref=incoming)
        check_incoming(session, node=yy.node, principal=staff("duty"), ref=incoming)
    return ref, incoming


def test_refusal_on_bank_secrecy_is_rejected(pair: tuple[Side, Side]) -> None:
    xx, yy = pair
    ref, incoming = _received_and_checked(xx, yy)
    with yy.node.database.transaction() as session:

        def refuse(ground: str, reason: str) -> None:
            decide(
                session, node=yy.node, principal=staff("bob"), ref=incoming,
                decision="refuse", ground=ground, reason=reason,
            )  # fmt: skip

        with pytest.raises(Conflict, match="consult"):
            refuse("essential-interests", "x")
        consult(session, node=yy.node, principal=staff("bob"), ref=incoming, note="Scope?")
        with pytest.raises(InvalidInput, match=r"never a ground.*40"):
            refuse("bank-secrecy", "Bank records")
        with pytest.raises(InvalidInput, match="not required"):
            refuse("no-dual-criminality", "Not an offence here")
        refuse("essential-interests", "Would prejudice national security")
    yy.deliver()
    assert _status(xx.node, ref) == "refused"


def test_preservation_cannot_expire_before_day_60(pair: tuple[Side, Side]) -> None:
    xx, yy = pair
    _, incoming = _received_and_checked(xx, yy)
    with yy.node.database.transaction() as session:
        decide(session, node=yy.node, principal=staff("duty"), ref=incoming, decision="grant")
        preserve(session, node=yy.node, principal=staff("duty"), ref=incoming)
        with pytest.raises(InvalidInput, match="at least 60"):
            preserve(session, node=yy.node, principal=staff("duty"), ref=incoming, days=30)
        with pytest.raises(Conflict, match="day 60"):
            advance(session, node=yy.node, principal=staff("duty"), ref=incoming, to="expired")
    clock = yy.node.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=61))
    with yy.node.database.transaction() as session:
        advance(session, node=yy.node, principal=staff("duty"), ref=incoming, to="expired")
    assert _status(yy.node, incoming) == "expired"


def test_instrument_not_in_force_is_explained(pair: tuple[Side, Side]) -> None:
    xx, _ = pair
    (xx.node.data_dir / "instruments" / "un-cybercrime.yaml").unlink()
    ref = _draft(xx)
    with xx.node.database.transaction() as session:
        _, problems = validate_request(session, node=xx.node, principal=staff("alice"), ref=ref)
    applicability = [p for p in problems if p.code == "not-applicable"]
    assert applicability and "65" in applicability[0].message


def test_an_oral_urgent_request_is_confirmed_in_writing_forthwith(
    pair: tuple[Side, Side],
) -> None:
    xx, yy = pair
    node = xx.node
    ref = _draft(xx, urgent=True)
    calm = _draft(xx, urgent=False)
    for each in (ref, calm):
        with node.database.transaction() as session:
            validate_request(session, node=node, principal=staff("alice"), ref=each)
            submit_request(session, node=node, principal=staff("alice"), ref=each)
            screen_request(
                session, node=node, principal=staff("lena"), ref=each,
                checks=dict.fromkeys(SCREEN_CHECKS, True),
            )  # fmt: skip
            approve_request(session, node=node, principal=staff("bob"), ref=each)
    with node.database.transaction() as session, pytest.raises(InvalidInput, match="40"):
        record_oral(session, node=node, principal=staff("bob"), ref=calm, note="call")
    with node.database.transaction() as session:
        record_oral(
            session, node=node, principal=staff("bob"), ref=ref,
            note="YY 24/7 desk, +99 555 0100, 09:05 UTC",
        )  # fmt: skip
    assert _status(node, ref) == "oral"
    clock = node.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(hours=5))  # past "forthwith" (the pack's 240 minutes)
    with node.database.transaction() as session:
        raised = scan_deadlines(session, node=node)
        rows = deadline_rows(session, now=clock.now(), limit=10)
    assert [a.kind for a in raised if a.reference == ref] == ["written-confirmation-due"]
    assert any(r["kind"] == "confirmation" and r["overdue"] for r in rows)
    with node.database.transaction() as session:
        send_request(session, node=node, principal=staff("bob"), ref=ref)
        rows = deadline_rows(session, now=clock.now(), limit=10)
    assert _status(node, ref) == "sent"
    assert not any(r["kind"] == "confirmation" for r in rows)
    partner_clock = yy.node.clock
    assert isinstance(partner_clock, FixedClock)
    partner_clock.advance(timedelta(hours=5))  # the signed request's time is checked there
    assert xx.deliver() == 1
    assert _incoming_ref(yy, ref, xx)
