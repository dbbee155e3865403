"""Looking a value up in the store, and counting what it holds.

A look-up normalises the value as an import would, then asks the index for the exact value
and for what contains it: every parent of a domain, every network around an IP address (an
address has at most 33 IPv4 or 129 IPv6 enclosing networks, so that is one indexed IN query,
not a scan).

Indicator rows carry their score (see ``scoring``), sightings and false-positive reports, read
for the found indicators only; ``intel_stats`` counts expired and decayed indicators, which
scores every current indicator (one streamed pass).

Rows also say whether their value is ``common``: carried by more current objects than a
threshold, so a correlation through it means little and a page listing every holder would be
huge. The holders are counted per (kind, value) in one grouped query over the found pairs.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from watchkeeper.core.observables import Observable, guess, parent_domains, refang
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.intel.models import IndicatorValue, StixObject
from watchkeeper.intel.scoring import (
    Score,
    ScoringPolicy,
    current_scores,
    evidence,
    feedback,
    kinds_of,
    score,
    sources_of,
)


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


def any_of(pairs: list[tuple[str, str]]) -> ColumnElement[bool]:
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


COMMON_THRESHOLD = 50  # the default of the intel_common_threshold setting


def holder_counts(session: Session, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """How many current objects carry each of ``pairs``: one grouped query, not one per pair."""
    if not pairs:
        return {}
    rows = session.execute(
        select(
            IndicatorValue.kind,
            IndicatorValue.value,
            func.count(func.distinct(StixObject.id)),
        )
        .join(StixObject, StixObject.seq == IndicatorValue.object_seq)
        .where(any_of(pairs), StixObject.current.is_(True))
        .group_by(IndicatorValue.kind, IndicatorValue.value)
    )
    return {(kind, value): count for kind, value, count in rows}


def lookup(
    session: Session,
    *,
    value: str,
    policy: ScoringPolicy | None = None,
    now: datetime | None = None,
    scored: bool = True,
    common_threshold: int | None = None,
) -> list[dict[str, Any]]:
    """Every stored object carrying ``value`` or an enclosing value, newest versions first.

    Indicator rows gain ``score`` (at ``now``, default the system time), ``sightings`` and
    ``false_positives``; other rows have them None. ``scored=False`` skips that work. Every
    row has ``holders`` (current objects carrying its value) and ``common`` (more holders than
    ``common_threshold``, default ``COMMON_THRESHOLD``).
    """
    observable = guess(refang(value.strip()))
    if observable is None:
        raise InvalidInput(
            f"cannot tell what kind of value {value[:100]!r} is (IP, CIDR, domain, URL, "
            "e-mail, hash)",
            field="value",
        )
    pairs = candidates(observable)
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
            sources_of(session.get_bind().dialect.name).label("sources"),
            kinds_of(session.get_bind().dialect.name).label("kinds"),
            StixObject.doc,
        )
        .join(StixObject, StixObject.seq == IndicatorValue.object_seq)
        .where(any_of(pairs))
        .order_by(StixObject.modified.desc())
    )
    found = [dict(row._mapping) for row in rows]
    holders = holder_counts(session, sorted({(row["kind"], row["value"]) for row in found}))
    threshold = COMMON_THRESHOLD if common_threshold is None else common_threshold
    for row in found:
        row["holders"] = holders.get((row["kind"], row["value"]), 0)
        row["common"] = row["holders"] > threshold
    indicators = {row["id"] for row in found if row["type"] == "indicator"}
    known = feedback(session.connection(), indicators) if scored and indicators else {}
    chosen, moment = policy or ScoringPolicy(), now or datetime.now(UTC)
    for row in found:
        doc, kinds = row.pop("doc"), row.pop("kinds")
        row["score"] = row["sightings"] = row["false_positives"] = None
        if scored and row["type"] == "indicator":
            result = score(
                evidence(
                    doc=doc,
                    confidence=row["confidence"],
                    sources=row["sources"],
                    kinds=(kinds or "").split(","),
                    modified=row["modified"],
                    feedback=known.get(row["id"]),
                ),
                policy=chosen,
                now=moment,
            )
            row["score"] = round(result.value, 2)
            row["sightings"] = result.sightings
            row["false_positives"] = result.false_positives
            row["expired"] = result.expired
    return found


def explain_score(
    session: Session,
    *,
    target: str,
    policy: ScoringPolicy | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The score of an indicator id, or of every current indicator carrying a value, explained.

    One entry per indicator: its id, kinds, sources and each step of the computation
    (``Score.document``). ``NotFound`` when no current indicator is meant.
    """
    o = StixObject
    text = target.strip()
    if text.startswith("indicator--"):
        ids = {text}
    else:
        ids = {
            row["id"]
            for row in lookup(session, value=text, scored=False)
            if row["type"] == "indicator" and row["current"]
        }
    rows = session.execute(
        select(
            o.id,
            o.confidence,
            o.modified,
            o.doc,
            sources_of(session.get_bind().dialect.name).label("sources"),
            o.seq,
        ).where(o.id.in_(sorted(ids)), o.current.is_(True), o.type == "indicator")
    ).all()
    if not rows:
        raise NotFound("no current indicator matches", field="value")
    kinds: dict[int, list[str]] = {}
    for seq, kind in session.execute(
        select(IndicatorValue.object_seq, IndicatorValue.kind).where(
            IndicatorValue.object_seq.in_([row.seq for row in rows])
        )
    ):
        kinds.setdefault(seq, []).append(kind)
    known = feedback(session.connection(), ids)
    chosen, moment = policy or ScoringPolicy(), now or datetime.now(UTC)
    explained = []
    for row in rows:
        result: Score = score(
            evidence(
                doc=row.doc,
                confidence=row.confidence,
                sources=row.sources,
                kinds=sorted(set(kinds.get(row.seq, []))),
                modified=row.modified,
                feedback=known.get(row.id),
            ),
            policy=chosen,
            now=moment,
        )
        explained.append(
            {
                "id": row.id,
                "kinds": sorted(set(kinds.get(row.seq, []))),
                "sources": sorted(s for s in (row.sources or "").split(",") if s),
                **result.document(),
            }
        )
    return sorted(explained, key=lambda entry: (-entry["score"], entry["id"]))


def intel_stats(
    session: Session,
    *,
    policy: ScoringPolicy | None = None,
    now: datetime | None = None,
    scores: bool = True,
) -> dict[str, Any]:
    """Objects by type (current and all versions), indexed values by kind, indicator scores.

    ``indicators`` counts current indicators that are ``expired`` (past ``valid_until``),
    ``decayed`` (score 0 otherwise) and ``live``; ``scores=False`` skips that pass.
    """
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
    stats: dict[str, Any] = {
        "objects": [dict(row._mapping) for row in objects],
        "values": [dict(row._mapping) for row in values],
    }
    if scores:
        stats["indicators"] = _score_counts(
            session, policy=policy or ScoringPolicy(), now=now or datetime.now(UTC)
        )
    return stats


def _score_counts(session: Session, *, policy: ScoringPolicy, now: datetime) -> dict[str, int]:
    counts = {"live": 0, "expired": 0, "decayed": 0}
    for _, _, result in current_scores(session, policy=policy, now=now):
        counts["expired" if result.expired else "decayed" if result.decayed else "live"] += 1
    return counts
