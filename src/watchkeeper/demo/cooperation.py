"""The demo's cross-border case: a preservation request to the partner state and its answer.

Both demo nodes serve over real HTTP, and their cooperation loops carry signed messages
between them. The demo node (state ZZ) asks the partner (state YY) to preserve the logs of a
server used in the demo campaign; the partner's duty officer acknowledges, checks, orders
and preserves; the demo node follows up with a request for the stored data (linked to the
preservation, Art 42); the partner executes it and answers with a sealed evidence package,
which the demo node registers and verifies.

ZZ and YY are fictional states, and the convention's general entry-into-force date is a
demo assumption written into the demo's own instrument override; a real node reads the
depositary's dates from its states registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from watchkeeper.cooperation import (
    SCREEN_CHECKS,
    acknowledge,
    advance,
    approve_request,
    check_incoming,
    decide,
    find_request,
    list_requests,
    new_request,
    parse_fields,
    preserve,
    screen_request,
    send_request,
    send_results,
    set_state,
    submit_request,
    validate_request,
)
from watchkeeper.errors import NotFound
from watchkeeper.evidence import add_evidence, verify_evidence
from watchkeeper.node import Node
from watchkeeper.security import Principal, add_user, get_user

ACTOR = "demo:script"
OVERRIDE = (
    "# Demo assumption: the convention is in force for the demo's fictional states.\n"
    "id: un-cybercrime\nentry_into_force:\n  date: 2026-01-01\n"
)
STATES = (("ZZ", "Demo State"), ("YY", "Demo Partner State"))
STAFF = (
    ("duty", "Duty Officer", ("poc-officer", "responder")),
    ("carla", "Carla Central Authority", ("central-authority",)),
    ("lena", "Lena Legal Reviewer", ("legal-reviewer",)),
)
WAIT_SECONDS = 30.0
EVIDENCE_LINES = 200


def _as(name: str, roles: tuple[str, ...]) -> Principal:
    return Principal(name=name, roles=frozenset(roles), via="token")


DUTY = _as("duty", ("poc-officer",))
CENTRAL = _as("carla", ("central-authority",))
LEGAL = _as("lena", ("legal-reviewer",))


def prepare_cooperation(node: Node) -> None:
    """The override, both states' standing and the cooperation staff on ``node``."""
    folder = node.data_dir / "instruments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "un-cybercrime.yaml").write_text(OVERRIDE, encoding="utf-8")
    with node.database.transaction() as session:
        for code, name in STATES:
            set_state(
                session,
                clock=node.clock,
                actor=ACTOR,
                code=code,
                name=name,
                languages=["en", "fr"],
                central_authority=f"{name} Ministry of Justice",
                poc=f"{name} 24/7 point of contact",
                instrument="un-cybercrime",
                signed=date(2025, 10, 25),
                deposited=date(2025, 11, 3),
                source="demo data",
            )
        for name, display, roles in STAFF:
            try:
                get_user(session, name)
            except NotFound:
                add_user(
                    session,
                    clock=node.clock,
                    actor=ACTOR,
                    name=name,
                    roles=list(roles),
                    display_name=display,
                )


def _wait(what: str, probe: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {WAIT_SECONDS:.0f} s waiting for {what}")


def _status(node: Node, ref: str) -> str:
    with node.database.reader() as session:
        return find_request(session, ref).status


def _incoming(node: Node, thread: str) -> str | None:
    with node.database.reader() as session:
        for request in list_requests(session, direction="in", limit=200):
            if request.thread == thread:
                return request.reference
    return None


def _thread(node: Node, ref: str) -> str:
    with node.database.reader() as session:
        return find_request(session, ref).thread


def _send(node: Node, *, type: str, fields: dict[str, Any]) -> str:
    with node.database.transaction() as session:
        ref = new_request(
            session, node=node, actor=DUTY.actor, type=type, to_state="YY",
            fields=parse_fields(fields, source="demo request"),
        ).reference  # fmt: skip
    with node.database.transaction() as session:
        _, problems = validate_request(session, node=node, principal=DUTY, ref=ref)
        errors = [p.message for p in problems if p.severity == "error" and p.stage == "validate"]
        assert not errors, f"{ref} does not validate: {errors[0]}"
        submit_request(session, node=node, principal=DUTY, ref=ref)
        screen_request(
            session, node=node, principal=LEGAL, ref=ref,
            checks=dict.fromkeys(SCREEN_CHECKS, True),
        )  # fmt: skip
        approve_request(session, node=node, principal=CENTRAL, ref=ref)
        send_request(session, node=node, principal=CENTRAL, ref=ref)
    return ref


DATA = [
    {
        "category": "traffic",
        "identifiers": [
            {"kind": "ip", "value": "198.51.100.23", "timestamp": "2026-11-30T02:14:00+00:00"}
        ],
        "time_range": {"from": "2026-11-29T00:00:00+00:00", "until": "2026-12-01T00:00:00+00:00"},
    }
]


def preservation_fields() -> dict[str, Any]:
    """The demo's preservation request (every Art 42(3) item)."""
    return {
        "contents": {
            "authority": "Demo State National CERT, 24/7 point of contact",
            "offence-facts": "Intrusion into a Demo State ministry (illegal access, Art. 7) "
            "controlled from a server hosted in the partner state",
            "data-link": "Connection logs of the server at 198.51.100.23, which the intruders "
            "used as their command server",
            "custodian-location": "A hosting provider in the partner state (its data centre)",
            "necessity": "The provider overwrites connection logs after 14 days",
            "mla-follow-up": "A request for access to the stored data will follow",
            "confidentiality": "Confidential; do not notify the customer",
        },
        "offence": {"basis": "art-7", "max_penalty_years": 5, "summary": "Illegal access"},
        "data": DATA,
        "no_user_notice": True,
        "language": "en",
    }


def follow_up_fields(parent: str) -> dict[str, Any]:
    """The follow-up request for the preserved data (Arts 40(15), 44)."""
    return {
        "parent": parent,
        "contents": {
            "authority": "Demo State Prosecutor General",
            "case-subject": "Intrusion into a ministry, investigated by the Demo State CERT "
            "with the cybercrime prosecutor",
            "facts": "The intruders controlled their implant from 198.51.100.23",
            "assistance-sought": "Disclosure of the preserved connection logs",
            "persons": "Unknown",
            "purpose": "Identify the intruders' other victims and infrastructure",
        },
        "offence": {"basis": "art-7", "max_penalty_years": 5},
        "data": DATA,
        "language": "en",
    }


def _preserved_logs(partner: Node) -> list[str]:
    source = partner.data_dir / "samples" / "hosting-connection-log.txt"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(
        "".join(
            f"2026-11-30T02:{minute % 60:02d}:00Z 198.51.100.23 -> 203.0.113.{minute % 250} "
            f"tcp/443 bytes={1200 + minute}\n"
            for minute in range(EVIDENCE_LINES)
        ),
        encoding="utf-8",
    )
    items = add_evidence(
        node=partner,
        actor=DUTY.actor,
        role="evidence-officer",
        paths=[source],
        case_ref=None,
        authority="Partner preservation order",
        description="Connection logs preserved at the hosting provider",
    )
    return [items[0]["id"]]


def run_cooperation(main: Node, partner: Node) -> str:
    """The whole exchange over the two serving nodes; one line saying what happened."""
    ref = _send(main, type="preservation", fields=preservation_fields())
    thread = _thread(main, ref)
    _wait(
        "the partner to receive the preservation request", lambda: bool(_incoming(partner, thread))
    )
    incoming = _incoming(partner, thread) or ""
    with partner.database.transaction() as session:
        acknowledge(session, node=partner, principal=DUTY, ref=incoming)
        check_incoming(session, node=partner, principal=DUTY, ref=incoming)
        decide(session, node=partner, principal=DUTY, ref=incoming, decision="grant")
        preserve(session, node=partner, principal=DUTY, ref=incoming)
    _wait("the preservation to be confirmed", lambda: _status(main, ref) == "preserved")
    follow_up = _send(main, type="stored-data", fields=follow_up_fields(ref))
    follow_thread = _thread(main, follow_up)
    _wait("the follow-up request", lambda: bool(_incoming(partner, follow_thread)))
    second = _incoming(partner, follow_thread) or ""
    items = _preserved_logs(partner)
    with partner.database.transaction() as session:
        acknowledge(session, node=partner, principal=DUTY, ref=second)
        check_incoming(session, node=partner, principal=DUTY, ref=second)
        decide(session, node=partner, principal=CENTRAL, ref=second, decision="grant")
        advance(session, node=partner, principal=DUTY, ref=second, to="executed")
    package = send_results(
        node=partner, principal=DUTY, ref=second, evidence=items, authority="Partner order"
    )
    _wait("the sealed package to be registered", lambda: _status(main, follow_up) == "answered")
    report = verify_evidence(node=main)
    assert report.ok, "the evidence received does not verify"
    return (
        f"{ref} preserved by the partner ({incoming}); follow-up {follow_up} answered with "
        f"sealed package {str(package.get('package_id'))[:8]}…, verified on arrival"
    )


def partner_dir(directory: Path) -> Path:
    """Where the demo's partner node lives."""
    return directory / "partner"
