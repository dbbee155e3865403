"""Cooperation between three nodes as real ``watchkeeper serve`` processes on loopback ports.

A (state XX) asks B (state YY) to preserve data: B acknowledges, orders and preserves; A's
follow-up request is linked to the preservation, B executes it and answers with a sealed
package that A registers and verifies. Every message crosses a real HTTP hop, carried by
the serving nodes' own cooperation loops. C (state ZZ) is offline when A writes to it: the
message waits in A's outbox, its failures visible, and arrives when C starts. A message
forged in A's name, a replayed request and a mis-addressed message are refused by B, and
each refusal is in B's audit ledger.

The people's steps are taken by use cases on each node's database (as the CLI and the API
do), while the servers run; the servers do everything between the nodes.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import orjson
import pytest

from cooperation.pairs import STAFF, prepare, preservation_fields, register, staff
from integration.served import ServedProcess, free_port
from watchkeeper.config import load_settings
from watchkeeper.cooperation import (
    SCREEN_CHECKS,
    acknowledge,
    advance,
    approve_request,
    check_incoming,
    decide,
    find_request,
    list_messages,
    list_requests,
    new_request,
    outbox_status,
    parse_fields,
    preserve,
    screen_request,
    send_request,
    send_results,
    submit_request,
    validate_request,
)
from watchkeeper.cooperation.envelopes import new_envelope, sign_envelope
from watchkeeper.cooperation.transport import INBOX_PATH
from watchkeeper.core import SystemClock, canonical_json
from watchkeeper.evidence import add_evidence, verify_evidence
from watchkeeper.node import Node
from watchkeeper.security import list_entries, load_signing_key, sign_request

WAIT = 20.0
T = TypeVar("T")
assert STAFF


@dataclass
class Served(ServedProcess):
    """One node: its folder, its port, its server process and a Node on its database."""

    code: str
    state: str
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    node: Node | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **super().env,
            "WATCHKEEPER_COOPERATION_RETRY_SECONDS": "0.5",
            "WATCHKEEPER_COOPERATION_RETRY_MAX_SECONDS": "1",
        }

    def open(self) -> Node:
        settings = load_settings(
            data_dir=self.folder / "data", database_url=self.env["WATCHKEEPER_DATABASE_URL"]
        )
        self.node = Node(settings, clock=SystemClock()).start()
        return self.node

    def stop(self) -> None:
        super().stop()
        log = self.folder / "serve.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        assert "Traceback" not in text, f"{self.code} logged a traceback:\n{text[-3000:]}"


def wait_for(what: str, check: Callable[[], T], *, seconds: float = WAIT) -> T:
    """Poll ``check`` until it returns something true; fail naming ``what``."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what} (last: {value!r})")
        time.sleep(0.1)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[dict[str, Served]]:
    """A, B and C with identities, staff, states and each other registered; A and B served."""
    every = {
        "a": Served("XX-POC", "XX", tmp_path / "a"),
        "b": Served("YY-POC", "YY", tmp_path / "b"),
        "c": Served("ZZ-POC", "ZZ", tmp_path / "c"),
    }
    identities = {}
    for key, served in every.items():
        served.folder.mkdir()
        node = served.open()
        identities[key] = prepare(node, code=served.code, state=served.state, name=served.code)
    for key, served in every.items():
        assert served.node is not None
        for other_key, other in every.items():
            if other_key != key:
                register(served.node, identities[other_key], other.base)
    every["a"].start()
    every["b"].start()
    try:
        yield every
    finally:
        for served in every.values():
            served.stop()
            if served.node is not None:
                served.node.close()


def _node(served: Served) -> Node:
    assert served.node is not None
    return served.node


def _send(a: Node, *, type: str, to: str, fields: dict[str, object]) -> str:
    with a.database.transaction() as session:
        ref = new_request(
            session, node=a, actor=staff("alice").actor, type=type, to_state=to,
            fields=parse_fields(fields),
        ).reference  # fmt: skip
    with a.database.transaction() as session:
        validate_request(session, node=a, principal=staff("alice"), ref=ref)
        submit_request(session, node=a, principal=staff("alice"), ref=ref)
        screen_request(
            session, node=a, principal=staff("lena"), ref=ref,
            checks=dict.fromkeys(SCREEN_CHECKS, True),
        )  # fmt: skip
        approve_request(session, node=a, principal=staff("bob"), ref=ref)
        send_request(session, node=a, principal=staff("bob"), ref=ref)
    return ref


def _status(node: Node, ref: str) -> str:
    with node.database.reader() as session:
        return find_request(session, ref).status


def _incoming(node: Node, requester: Node, ref: str) -> str | None:
    with requester.database.reader() as session:
        thread = find_request(session, ref).thread
    with node.database.reader() as session:
        for request in list_requests(session, direction="in", limit=500):
            if request.thread == thread:
                return request.reference
    return None


def _rejections(node: Node) -> list[str]:
    with node.database.reader() as session:
        entries = list_entries(session, action="cooperation.message.rejected", limit=100)
        return [str((entry.detail or {}).get("reason")) for entry in entries]


def test_preservation_to_sealed_results_across_real_nodes(
    nodes: dict[str, Served], tmp_path: Path
) -> None:
    a, b = _node(nodes["a"]), _node(nodes["b"])
    ref = _send(a, type="preservation", to="YY", fields=preservation_fields())
    incoming = wait_for("B receives the request", lambda: _incoming(b, a, ref))
    with b.database.transaction() as session:
        acknowledge(session, node=b, principal=staff("duty"), ref=incoming)
    wait_for("A sees the acknowledgement", lambda: _status(a, ref) == "acknowledged")
    with b.database.transaction() as session:
        check_incoming(session, node=b, principal=staff("duty"), ref=incoming)
        decide(session, node=b, principal=staff("duty"), ref=incoming, decision="grant")
        preserve(session, node=b, principal=staff("duty"), ref=incoming)
    wait_for("A sees the data preserved", lambda: _status(a, ref) == "preserved")

    fields = {
        "parent": ref,
        "contents": {
            "authority": "XX Prosecutor General",
            "case-subject": "Ransomware case 2026/17 of the XX Cybercrime Unit",
            "facts": "Ransomware attack on the XX national hospital network",
            "assistance-sought": "Disclosure of the preserved logs",
            "purpose": "Identify the attackers",
        },
        "offence": {"basis": "art-10", "max_penalty_years": 7},
        "data": preservation_fields()["data"],
    }
    follow_up = _send(a, type="stored-data", to="YY", fields=fields)
    second = wait_for("B receives the follow-up", lambda: _incoming(b, a, follow_up))
    assert _status(b, incoming) == "held-pending-decision"
    source = tmp_path / "preserved-logs.txt"
    source.write_bytes(b"2026-01-10T03:12:00Z 203.0.113.7 session 4711\n" * 100)
    items = add_evidence(
        node=b, actor="user:duty", role="evidence-officer", paths=[source], case_ref=None,
        authority="YY preservation order",
    )  # fmt: skip
    with b.database.transaction() as session:
        acknowledge(session, node=b, principal=staff("duty"), ref=second)
        check_incoming(session, node=b, principal=staff("duty"), ref=second)
        decide(session, node=b, principal=staff("bob"), ref=second, decision="grant")
        advance(session, node=b, principal=staff("duty"), ref=second, to="executed")
    send_results(
        node=b, principal=staff("duty"), ref=second, evidence=[items[0]["id"]],
        authority="YY order",
    )  # fmt: skip
    wait_for("A registers the sealed package", lambda: _status(a, follow_up) == "answered")
    with a.database.reader() as session:
        received = find_request(session, follow_up).evidence_ids
    assert len(received) == 1
    report = verify_evidence(node=a)
    assert report.ok, report.failures
    assert _status(b, incoming) == "disclosed"
    wait_for("A sees the preservation closed", lambda: _status(a, ref) == "closed")


def test_offline_partner_gets_the_message_later(nodes: dict[str, Served]) -> None:
    a, c = _node(nodes["a"]), _node(nodes["c"])
    ref = _send(a, type="preservation", to="ZZ", fields=preservation_fields())

    def failed_attempts() -> int:
        with a.database.reader() as session:
            rows = list_messages(session, direction="out", limit=10)
            return max((row.attempts for row in rows if row.peer == "ZZ-POC"), default=0)

    wait_for("A's outbox records failed attempts to C", lambda: failed_attempts() >= 1)
    with a.database.reader() as session:
        status = outbox_status(session)
    assert orjson.dumps(status).count(b"ZZ-POC") >= 1, status
    assert _status(a, ref) == "sent"
    nodes["c"].start()
    wait_for("C receives the request", lambda: _incoming(c, a, ref))
    with c.database.transaction() as session:
        acknowledge(session, node=c, principal=staff("duty"), ref=_incoming(c, a, ref) or "")
    wait_for("A sees C's acknowledgement", lambda: _status(a, ref) == "acknowledged")


def test_forged_replayed_and_misaddressed_are_refused_and_audited(
    nodes: dict[str, Served],
) -> None:
    a, b, c = _node(nodes["a"]), _node(nodes["b"]), _node(nodes["c"])
    clock = SystemClock()

    def post(sender: Node, signed: dict[str, object], *, as_code: str) -> httpx.Response:
        body = canonical_json(signed)
        headers = sign_request(
            load_signing_key(sender.data_dir), node=as_code, method="POST", target=INBOX_PATH,
            body=body, clock=clock,
        )  # fmt: skip
        return httpx.post(nodes["b"].base + INBOX_PATH, content=body, headers=headers, timeout=10)

    def message(signer: Node, *, sender: str, receiver: str) -> dict[str, object]:
        envelope = new_envelope(
            kind="status", sender=sender, receiver=receiver, thread="no-such-thread",
            body={"status": "preserved"}, created=clock.now(),
        )  # fmt: skip
        return sign_envelope(
            load_signing_key(signer.data_dir), envelope, fingerprint=signer.identity().fingerprint
        )

    forged = post(c, message(c, sender="XX-POC", receiver="YY-POC"), as_code="XX-POC")
    assert forged.status_code == 401
    body = canonical_json(message(a, sender="XX-POC", receiver="ZZ-POC"))
    headers = sign_request(
        load_signing_key(a.data_dir), node="XX-POC", method="POST", target=INBOX_PATH,
        body=body, clock=clock,
    )  # fmt: skip
    misaddressed = httpx.post(nodes["b"].base + INBOX_PATH, content=body, headers=headers)
    assert misaddressed.status_code == 422, misaddressed.text
    replayed = httpx.post(nodes["b"].base + INBOX_PATH, content=body, headers=headers)
    assert replayed.status_code == 401
    reasons = _rejections(b)
    assert {"forged", "misaddressed", "replayed"} <= set(reasons), reasons
