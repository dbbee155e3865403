"""Two nodes of two states that can cooperate, in one process (used by the ``pair``
fixture and the tests that drive it): each node's outbox posts to the
other's app through an in-process client, the convention applies between the two states,
and each has its staff (drafter, approver, legal reviewer, duty officer)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi.testclient import TestClient

from watchkeeper.cooperation import accept_results, deliver_due, set_state
from watchkeeper.node import Node
from watchkeeper.security import NodeIdentity, Principal, add_peer, add_user

STAFF = {
    "alice": ("poc-officer",),
    "bob": ("central-authority",),
    "lena": ("legal-reviewer",),
    "duty": ("poc-officer",),
}
OVERRIDE = "id: un-cybercrime\nentry_into_force:\n  date: 2025-12-01\n"
"""The tests' convention is in force: its general date is data (the pack's override)."""


def staff(name: str) -> Principal:
    """The principal of one of the test staff (``STAFF``)."""
    return Principal(name=name, roles=frozenset(STAFF[name]), via="token")


@dataclass
class Side:
    """One node, its state code and the client to reach its partner."""

    node: Node
    code: str
    state: str
    partner: TestClient | None = None

    def deliver(self) -> int:
        """Deliver this node's due messages to the partner; register received results."""
        report = deliver_due(self.node, client=self.partner)
        accept_results(self.node)
        return report.delivered


def prepare(node: Node, *, code: str, state: str, name: str) -> NodeIdentity:
    """Identity, staff, the override and both states' standing for ``node``."""
    identity = node.init_identity(actor="test", code=code, name=name, country=state)
    folder = node.data_dir / "instruments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "un-cybercrime.yaml").write_text(OVERRIDE, encoding="utf-8")
    with node.database.transaction() as session:
        for user, roles in STAFF.items():
            add_user(session, clock=node.clock, actor="test", name=user, roles=list(roles))
        for other, label in (
            ("XX", "Requesting State"),
            ("YY", "Requested State"),
            ("ZZ", "Third State"),
        ):
            set_state(
                session,
                clock=node.clock,
                actor="test",
                code=other,
                name=label,
                languages=["en", "fr"],
                instrument="un-cybercrime",
                signed=date(2025, 10, 25),
                deposited=date(2025, 11, 1),
            )
    return identity


def register(node: Node, other: NodeIdentity, url: str) -> None:
    """``other`` as a peer of ``node`` (both keys: messages and sealed packages)."""
    with node.database.transaction() as session:
        add_peer(
            session,
            clock=node.clock,
            actor="test",
            code=other.code,
            url=url,
            country=other.country,
            public_key=other.signing_public_key,
            encryption_key=other.encryption_public_key,
        )


def preservation_fields(**changes: Any) -> dict[str, Any]:
    """A complete preservation request (Art 42(3)(a)-(g)) as a request file holds it."""
    values: dict[str, Any] = {
        "language": "en",
        "contents": {
            "authority": "XX Cybercrime Unit, National Police",
            "offence-facts": "Ransomware attack on the XX national hospital network",
            "data-link": "The account hosted the attackers' command server",
            "custodian-location": "YY Hosting Ltd, data centre in YY",
            "necessity": "Logs are overwritten after 30 days",
            "mla-follow-up": "A request for disclosure will follow",
            "confidentiality": "Do not notify the account holder",
        },
        "offence": {"basis": "art-10", "max_penalty_years": 7, "summary": "ICT interference"},
        "data": [
            {
                "category": "traffic",
                "identifiers": [
                    {"kind": "ip", "value": "203.0.113.7", "timestamp": "2026-01-10T03:12:00+00:00"}
                ],
                "time_range": {
                    "from": "2026-01-09T00:00:00+00:00",
                    "until": "2026-01-11T00:00:00+00:00",
                },
            }
        ],
        "no_user_notice": True,
    }
    values.update(changes)
    return values
