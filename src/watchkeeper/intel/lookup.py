"""Looking a value up in the store, and counting what it holds.

A look-up normalises the value as an import would, then asks the index for the exact value
and for what contains it: every parent of a domain, every network around an IP address (an
address has at most 33 IPv4 or 129 IPv6 enclosing networks, so that is one indexed IN query,
not a scan).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from watchkeeper.core.observables import Observable, guess, parent_domains, refang
from watchkeeper.errors import InvalidInput
from watchkeeper.intel.models import ImportRun, IndicatorValue, Provenance, StixObject


def candidates(observable: Observable) -> list[tuple[str, str]]:
    """(kind, value) pairs that match ``observable``: itself and what encloses it."""
    kind, value = observable
    found = [(kind, value)]
    if kind == "domain":
        found += [("domain", parent) for parent in parent_domains(value)[1:]]
    elif kind in ("ipv4", "ipv6"):
        address = ipaddress.ip_address(value)
        family = "cidr4" if kind == "ipv4" else "cidr6"
        found += [
            (family, str(ipaddress.ip_network(f"{address}/{prefix}", strict=False)))
            for prefix in range(address.max_prefixlen - 1, -1, -1)
        ]
    elif kind == "url":
        from urllib.parse import urlsplit

        host = urlsplit(value).hostname or ""
        try:
            ip = ipaddress.ip_address(host)
            found += candidates(Observable("ipv4" if ip.version == 4 else "ipv6", str(ip)))
        except ValueError:
            if host:
                found += [("domain", parent) for parent in parent_domains(host)]
    elif kind == "email":
        found += [("domain", parent) for parent in parent_domains(value.rsplit("@", 1)[1])]
    return found


def _any_of(pairs: list[tuple[str, str]]) -> ColumnElement[bool]:
    """``kind = k AND value IN (...)`` per kind, OR-ed: each branch is an index search.

    (A row-value ``(kind, value) IN (...)`` makes SQLite scan the whole index.)
    """
    by_kind: dict[str, list[str]] = {}
    for kind, value in pairs:
        by_kind.setdefault(kind, []).append(value)
    return or_(
        *(
            and_(IndicatorValue.kind == kind, IndicatorValue.value.in_(values))
            for kind, values in by_kind.items()
        )
    )


def lookup(session: Session, *, value: str) -> list[dict[str, Any]]:
    """Every stored object carrying ``value`` or an enclosing value, newest versions first."""
    observable = guess(refang(value.strip()))
    if observable is None:
        raise InvalidInput(
            f"cannot tell what kind of value {value[:100]!r} is (IP, CIDR, domain, URL, "
            "e-mail, hash)",
            field="value",
        )
    pairs = candidates(observable)
    sources = (
        select(func.group_concat(ImportRun.source.distinct()))
        if session.get_bind().dialect.name == "sqlite"
        else select(func.string_agg(ImportRun.source.distinct(), ","))
    )
    sources = sources.join(Provenance, Provenance.import_id == ImportRun.id).where(
        Provenance.object_seq == StixObject.seq
    )
    rows = session.execute(
        select(
            IndicatorValue.kind,
            IndicatorValue.value,
            IndicatorValue.warninglists,
            StixObject.id,
            StixObject.type,
            StixObject.modified,
            StixObject.current,
            StixObject.revoked,
            StixObject.tlp,
            StixObject.confidence,
            StixObject.matchable,
            sources.scalar_subquery().label("sources"),
        )
        .join(StixObject, StixObject.seq == IndicatorValue.object_seq)
        .where(_any_of(pairs))
        .order_by(StixObject.modified.desc())
    )
    return [dict(row._mapping) for row in rows]


def intel_stats(session: Session) -> dict[str, Any]:
    """Objects by type (current and all versions) and indexed values by kind."""
    objects = session.execute(
        select(
            StixObject.type,
            func.count().filter(StixObject.current).label("current"),
            func.count().label("versions"),
        )
        .group_by(StixObject.type)
        .order_by(StixObject.type)
    )
    values = session.execute(
        select(IndicatorValue.kind, func.count().label("values"))
        .group_by(IndicatorValue.kind)
        .order_by(IndicatorValue.kind)
    )
    return {
        "objects": [dict(row._mapping) for row in objects],
        "values": [dict(row._mapping) for row in values],
    }
