"""Observables of a case, normalised as intelligence normalises them, and what intel knows.

A value added to a case goes through ``core.observables.normalise`` (the same function as
imports and detection), so ``HTTP://Evil.ORG:80`` in a case meets ``http://evil.org/`` in a
feed. Besides the intelligence kinds a case holds ``host`` (a machine name from telemetry)
and ``other`` (kept as written). Adding a value twice returns the one already there: playbooks
retry, and a retry must not fail or duplicate.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.core import KINDS, Clock, guess, new_id, normalise
from watchkeeper.errors import InvalidInput
from watchkeeper.intel import lookup
from watchkeeper.respond.case_records import (
    audit,
    find_case,
    observable_document,
    require_open,
    text,
    tlp_value,
)
from watchkeeper.respond.models import Case, CaseObservable

CASE_KINDS = (*KINDS, "host", "other")
MAX_VALUE = 2000
MAX_INTEL = 20


def normalised(kind: str, value: str) -> tuple[str, str]:
    """(kind, value) as stored; ``InvalidInput`` names the kind and the value."""
    wanted = (kind or "").strip().lower()
    if wanted not in CASE_KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(CASE_KINDS)} (got {kind[:30]!r})",
            field="kind",
            valid=list(CASE_KINDS),
        )
    raw = (value or "").strip()
    if not raw:
        raise InvalidInput("value is required", field="value")
    if len(raw) > MAX_VALUE:
        raise InvalidInput(f"value longer than {MAX_VALUE} characters", field="value")
    if wanted == "host":
        return wanted, raw.lower()
    if wanted == "other":
        return wanted, raw
    return tuple(normalise(wanted, raw))  # type: ignore[return-value]


def host_observable(host: str) -> tuple[str, str] | None:
    """A telemetry host name as an observable: an address when it is one, else ``host``."""
    cleaned = host.strip()
    if not cleaned or cleaned == "unknown":
        return None
    found = guess(cleaned)
    if found is not None and found.kind in ("ipv4", "ipv6"):
        return found.kind, found.value
    return "host", cleaned.lower()[:MAX_VALUE]


def intel_for(session: Session, *, kind: str, value: str) -> list[dict[str, Any]]:
    """The intelligence objects carrying ``value`` (or what encloses it), newest first."""
    if kind in ("other",):
        return []
    try:
        rows = lookup(session, value=value, scored=False)
    except InvalidInput:
        return []  # a host name or value intel cannot hold: nothing to find
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["id"] in seen or not row["current"]:
            continue
        seen[row["id"]] = {
            "id": row["id"],
            "type": row["type"],
            "kind": row["kind"],
            "value": row["value"],
            "tlp": row["tlp"],
            "revoked": bool(row["revoked"]),
        }
        if len(seen) >= MAX_INTEL:
            break
    return list(seen.values())


def attach(
    session: Session,
    *,
    case: Case,
    actor: str,
    now: Any,
    kind: str,
    value: str,
    ioc: bool = False,
    tlp: str | None = None,
    note: str = "",
) -> tuple[CaseObservable, bool]:
    """The case's observable (kind, value), created if new: (row, created). Unaudited."""
    kind, value = normalised(kind, value)
    existing = session.scalars(
        select(CaseObservable).where(
            CaseObservable.case_id == case.id,
            CaseObservable.kind == kind,
            CaseObservable.value == value,
        )
    ).first()
    if existing is not None:
        return existing, False
    observable = CaseObservable(
        id=new_id(),
        case_id=case.id,
        kind=kind,
        value=value,
        ioc=bool(ioc),
        tlp=tlp_value(tlp) if tlp else None,
        note=text(note, field="note", limit=4000),
        added_by=actor,
        added_at=now,
    )
    session.add(observable)
    session.flush()
    return observable, True


def add_observable(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    case_id: str,
    kind: str,
    value: str,
    ioc: bool = False,
    tlp: str | None = None,
    note: str = "",
) -> dict[str, Any]:
    """Add a normalised value to a case (audited ``case.observable`` when new).

    Returns ``{"observable", "created", "intel"}``: ``intel`` lists the intelligence objects
    carrying the value, so the analyst sees at once whether it is known.
    """
    case = find_case(session, case_id=case_id)
    require_open(case, doing="adding observables")
    observable, created = attach(
        session,
        case=case,
        actor=actor,
        now=clock.now(),
        kind=kind,
        value=value,
        ioc=ioc,
        tlp=tlp,
        note=note,
    )
    if created:
        audit(
            session,
            clock=clock,
            actor=actor,
            action="case.observable",
            case=case,
            detail={
                "observable_id": observable.id,
                "kind": observable.kind,
                "value": observable.value,
                "ioc": observable.ioc,
            },
        )
    return {
        "observable": observable_document(observable),
        "created": created,
        "intel": intel_for(session, kind=observable.kind, value=observable.value),
    }
