"""The state machines of a request: outgoing, incoming preservation, incoming assistance.

Each machine is a table of allowed transitions, drawn from the reference's state machines
(convention Arts 40, 42, 44). The workflow is ours to fix in code; the law it serves (which
items, grounds and deadlines apply) is data in the instrument packs. Every transition goes
through :func:`check_transition`, so a request cannot jump a step (a preservation cannot be
disclosed before the follow-up request arrives, a refused request cannot be executed).

``withdrawn`` is reachable from every open state (Art 40(25): the requesting state withdraws
when help is no longer needed).
"""

from __future__ import annotations

from watchkeeper.errors import Conflict

OUTGOING: dict[str, tuple[str, ...]] = {
    "draft": ("validated",),
    "validated": ("draft", "submitted"),
    "submitted": ("draft", "approved"),
    "approved": ("draft", "sent", "oral"),
    "oral": ("sent",),
    "sent": ("acknowledged", "preserved", "in-execution", "refused", "postponed", "answered"),
    "acknowledged": (
        "preserved",
        "in-execution",
        "refused",
        "postponed",
        "info-requested",
        "ineffective",
        "answered",
    ),
    "info-requested": ("acknowledged", "in-execution", "refused", "answered"),
    "preserved": ("ineffective", "answered", "expired", "closed"),
    "ineffective": ("preserved", "closed"),
    "postponed": ("in-execution", "refused", "answered"),
    "in-execution": ("answered", "refused"),
    "answered": ("closed",),
    "refused": ("closed",),
    "expired": ("closed",),
    "closed": (),
    "withdrawn": (),
}
"""Outgoing: drafted, checked, approved by a second person, sent, then the partner's steps.
An urgent request may first be made orally, where the two states agree; its written
confirmation (the signed message) is then due forthwith (Art 40(14))."""

INCOMING_PRESERVATION: dict[str, tuple[str, ...]] = {
    "received": ("checked",),
    "checked": ("ordered", "refused"),
    "ordered": ("preserved", "ineffective-notified"),
    "preserved": (
        "ineffective-notified",
        "partial-traffic-disclosed",
        "awaiting-mla",
        "mla-received",
        "expired",
        "released",
    ),
    "partial-traffic-disclosed": ("awaiting-mla", "mla-received", "expired", "released"),
    "ineffective-notified": ("preserved", "released", "closed"),
    "awaiting-mla": ("mla-received", "expired", "released"),
    "mla-received": ("held-pending-decision",),
    "held-pending-decision": ("disclosed", "released"),
    "disclosed": ("closed",),
    "released": ("closed",),
    "expired": ("closed",),
    "refused": ("closed",),
    "closed": (),
    "withdrawn": (),
}
"""Incoming preservation (Arts 42, 25, 43, 44): checked, ordered, preserved, then held until
the follow-up request is decided; expiry never before the minimum period."""

INCOMING_MLA: dict[str, tuple[str, ...]] = {
    "received": ("completeness",),
    "completeness": ("info-requested", "legal-review"),
    "info-requested": ("completeness", "legal-review"),
    "legal-review": ("consultation", "in-execution", "conditional", "partial"),
    "consultation": ("refused", "postponed", "conditional", "partial", "in-execution"),
    "postponed": ("in-execution", "consultation"),
    "conditional": ("in-execution",),
    "partial": ("in-execution",),
    "in-execution": ("executed",),
    "executed": ("results-sent",),
    "results-sent": ("closed",),
    "refused": ("closed",),
    "closed": (),
    "withdrawn": (),
}
"""Incoming assistance (Art 40): completeness (15), more information (16), legal review
(21-22, dual criminality, 24, 36), consultation before refusal or postponement (26-27),
execution (17), results."""

MACHINES: dict[str, dict[str, tuple[str, ...]]] = {
    "out": OUTGOING,
    "preservation": INCOMING_PRESERVATION,
    "mla": INCOMING_MLA,
}

FINAL = frozenset({"closed", "withdrawn"})


def machine_name(*, direction: str, incoming_machine: str) -> str:
    """Which machine a request follows: ``out``, or the incoming one its type names."""
    return "out" if direction == "out" else incoming_machine


def next_states(machine: str, status: str) -> tuple[str, ...]:
    """The states reachable in one step from ``status`` (``withdrawn`` from any open one)."""
    table = MACHINES[machine]
    steps = table.get(status, ())
    if status in FINAL:
        return steps
    return (*steps, "withdrawn")


def check_transition(machine: str, *, current: str, target: str, reference: str) -> None:
    """``Conflict`` naming the allowed next states unless ``current`` -> ``target`` is a step."""
    allowed = next_states(machine, current)
    if target not in allowed:
        choices = ", ".join(allowed) or "none (the request is closed)"
        raise Conflict(
            f"request {reference} is {current}; it cannot become {target} (next: {choices})",
            reason="transition",
            status=current,
            target=target,
        )


def is_open(status: str) -> bool:
    """True until a request is closed or withdrawn."""
    return status not in FINAL
