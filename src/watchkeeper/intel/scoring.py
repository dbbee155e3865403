"""Scoring indicators: how much an indicator is still worth matching and sharing, 0 to 100.

Decay is computed when asked, never stored, so changing a setting re-scores everything at once
and no job has to rewrite rows (an indicator is never mutated; it only drops out of matching
and exports). The model:

- **base** = mean of the indicator's ``confidence`` (50 when absent) and the reliability of its
  best source (``intel_source_reliability``, longest matching key, else 50);
- **sightings** add ``intel_sighting_bonus`` points per sighting whose ``last_seen`` falls
  within the lifetime, at most ``intel_sighting_cap`` points in all (base capped at 100);
- **false-positive reports** multiply the base by ``intel_false_positive_factor`` each, or set
  it to 0 when the report came from a trusted reporter (``intel_trusted_reporters``);
- **decay** is MISP's polynomial model (app/Model/DecayingModelsFormulas/Polynomial.php):
  ``score = base × (1 − (t / lifetime) ^ (1 / speed))``, floored at 0, where ``t`` runs from the
  latest of the last sighting and ``valid_from`` (else ``modified``), and ``lifetime`` is the
  setting for the value kind, or the time left until ``valid_until`` when the indicator has one
  (past ``valid_until`` it is expired, score 0).

A score of 0 means expired or decayed: such indicators drop out of exports by default.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, and_, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import ScalarSelect

from watchkeeper.config import DEFAULT_LIFETIMES, Settings
from watchkeeper.core import stix_time
from watchkeeper.intel.models import ImportRun, IndicatorValue, Provenance, StixObject

DAY = 86_400.0
LIKE_CHUNK = 200  # indicator ids per look-up of their sightings and opinions


@dataclass(frozen=True)
class ScoringPolicy:
    """The scoring settings of a node (defaults as in :class:`~watchkeeper.config.Settings`)."""

    reliability: Mapping[str, int] = field(default_factory=dict)
    default_reliability: int = 50
    default_confidence: int = 50
    lifetimes: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_LIFETIMES))
    speed: float = 0.3
    sighting_bonus: float = 5.0
    sighting_cap: float = 25.0
    false_positive_factor: float = 0.5
    trusted_reporters: tuple[str, ...] = ("local:",)

    @classmethod
    def from_settings(cls, settings: Settings) -> ScoringPolicy:
        """The policy the node's settings describe."""
        return cls(
            reliability=dict(settings.intel_source_reliability),
            default_reliability=settings.intel_default_reliability,
            lifetimes=dict(settings.intel_lifetimes),
            speed=settings.intel_decay_speed,
            sighting_bonus=settings.intel_sighting_bonus,
            sighting_cap=settings.intel_sighting_cap,
            false_positive_factor=settings.intel_false_positive_factor,
            trusted_reporters=tuple(settings.intel_trusted_reporters),
        )

    def lifetime_days(self, kinds: Iterable[str]) -> float:
        """The longest lifetime of ``kinds`` (an indicator lives as long as its longest value)."""
        fallback = self.lifetimes.get("default", DEFAULT_LIFETIMES["default"])
        found = [self.lifetimes.get(kind, fallback) for kind in kinds]
        return max(found, default=fallback)


@dataclass(frozen=True)
class Sighted:
    """One sighting of an indicator: how many times, last seen when."""

    count: int
    last_seen: datetime | None


@dataclass
class Feedback:
    """What analysts and partners said about one indicator: sightings and false positives."""

    sightings: list[Sighted] = field(default_factory=list)
    # Per false-positive report, the provenance sources that delivered it.
    false_positives: list[tuple[str, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class Evidence:
    """Everything the score of one indicator depends on."""

    confidence: int | None
    sources: tuple[str, ...]
    kinds: tuple[str, ...]
    modified: datetime
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    feedback: Feedback = field(default_factory=Feedback)


@dataclass(frozen=True)
class Score:
    """A score and how it was reached (what ``watchkeeper intel score`` explains)."""

    value: float
    base: float
    confidence: int
    reliability: int
    best_source: str | None
    sightings: int
    recent_sightings: int
    sighting_points: float
    false_positives: int
    false_positive_factor: float
    anchor: datetime
    age_days: float
    lifetime_days: float
    decay: float
    expired: bool

    @property
    def decayed(self) -> bool:
        """Worth nothing any more, though not past ``valid_until``."""
        return self.value <= 0 and not self.expired

    def document(self) -> dict[str, Any]:
        """As JSON, rounded for people."""
        return {
            "score": round(self.value, 2),
            "base": round(self.base, 2),
            "confidence": self.confidence,
            "reliability": self.reliability,
            "best_source": self.best_source,
            "sightings": self.sightings,
            "recent_sightings": self.recent_sightings,
            "sighting_points": round(self.sighting_points, 2),
            "false_positives": self.false_positives,
            "false_positive_factor": round(self.false_positive_factor, 4),
            "anchor": stamp(self.anchor),
            "age_days": round(self.age_days, 3),
            "lifetime_days": round(self.lifetime_days, 3),
            "decay": round(self.decay, 4),
            "expired": self.expired,
            "decayed": self.decayed,
        }


def stamp(moment: datetime) -> str:
    """A STIX timestamp (UTC, Z)."""
    return stix_time(moment)


def parse_time(value: Any) -> datetime | None:
    """A STIX timestamp as an aware datetime; None when absent or unreadable (never fatal)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def matches(source: str, key: str) -> bool:
    """A provenance source matches a key equal to it, or a prefix key ending in ``:``."""
    return source == key or (key.endswith(":") and source.startswith(key))


def reliability(sources: Iterable[str], policy: ScoringPolicy) -> tuple[int, str | None]:
    """The best reliability among ``sources`` and the source that has it."""
    best: tuple[int, str | None] = (-1, None)
    for source in sources:
        keys = [key for key in policy.reliability if matches(source, key)]
        level = policy.reliability[max(keys, key=len)] if keys else policy.default_reliability
        if level > best[0]:
            best = (level, source)
    return best if best[1] is not None else (policy.default_reliability, None)


def decay(age_days: float, lifetime_days: float, speed: float) -> float:
    """MISP's polynomial decay factor ``1 − (t / lifetime) ^ (1 / speed)`` within [0, 1]."""
    if lifetime_days <= 0 or age_days >= lifetime_days:
        return 0.0
    return float(1.0 - (max(age_days, 0.0) / lifetime_days) ** (1.0 / speed))


def score(evidence: Evidence, *, policy: ScoringPolicy, now: datetime) -> Score:
    """The score of one indicator at ``now`` (see the module docstring for the model)."""
    confidence = (
        evidence.confidence if evidence.confidence is not None else policy.default_confidence
    )
    level, best = reliability(evidence.sources, policy)
    feedback = evidence.feedback
    seen = [s.last_seen for s in feedback.sightings if s.last_seen is not None]
    anchor = evidence.valid_from or evidence.modified
    if seen:
        anchor = max(anchor, *seen)
    if evidence.valid_until is not None:
        lifetime = (evidence.valid_until - anchor).total_seconds() / DAY
    else:
        lifetime = policy.lifetime_days(evidence.kinds)
    window = policy.lifetime_days(evidence.kinds) * DAY
    recent = sum(
        s.count
        for s in feedback.sightings
        if s.last_seen is not None and (now - s.last_seen).total_seconds() <= window
    )
    points = min(policy.sighting_cap, policy.sighting_bonus * recent)
    factor = 1.0
    for reporters in feedback.false_positives:
        trusted = any(matches(r, key) for r in reporters for key in policy.trusted_reporters)
        factor = 0.0 if trusted else factor * policy.false_positive_factor
    base = min(100.0, (confidence + level) / 2 + points) * factor
    age = max((now - anchor).total_seconds() / DAY, 0.0)  # a future valid_from: not yet aged
    expired = evidence.valid_until is not None and now >= evidence.valid_until
    factor_decay = 0.0 if expired else decay(age, lifetime, policy.speed)
    return Score(
        value=max(base * factor_decay, 0.0),
        base=base,
        confidence=confidence,
        reliability=level,
        best_source=best,
        sightings=sum(s.count for s in feedback.sightings),
        recent_sightings=recent,
        sighting_points=points,
        false_positives=len(feedback.false_positives),
        false_positive_factor=factor,
        anchor=anchor,
        age_days=age,
        lifetime_days=lifetime,
        decay=factor_decay,
        expired=expired,
    )


def evidence(
    *,
    doc: str,
    confidence: int | None,
    sources: str | None,
    kinds: Iterable[str],
    modified: str,
    feedback: Feedback | None = None,
) -> Evidence:
    """Evidence from stored columns (``sources`` comma-joined, as the store aggregates them)."""
    parsed = orjson.loads(doc)
    return Evidence(
        confidence=confidence,
        sources=tuple(s for s in (sources or "").split(",") if s),
        kinds=tuple(kind for kind in kinds if kind),
        modified=parse_time(modified) or datetime.min.replace(tzinfo=UTC),
        valid_from=parse_time(parsed.get("valid_from")),
        valid_until=parse_time(parsed.get("valid_until")),
        feedback=feedback or Feedback(),
    )


# --- queries ----------------------------------------------------------------------------------


def sources_of(dialect: str) -> ScalarSelect[Any]:
    """A correlated subquery: the sources that delivered the ``StixObject`` row, comma-joined."""
    joined = (
        select(func.group_concat(ImportRun.source.distinct()))
        if dialect == "sqlite"
        else select(func.string_agg(ImportRun.source.distinct(), ","))
    )
    return (
        joined.join(Provenance, Provenance.import_id == ImportRun.id)
        .where(Provenance.object_seq == StixObject.seq)
        .scalar_subquery()
    )


def kinds_of(dialect: str) -> ScalarSelect[Any]:
    """A correlated subquery: the value kinds of the ``StixObject`` row, comma-joined.

    Over an alias, so it also works inside a query that already joins ``intel_values``.
    """
    v = aliased(IndicatorValue)
    joined = (
        func.group_concat(v.kind.distinct())
        if dialect == "sqlite"
        else func.string_agg(v.kind.distinct(), ",")
    )
    return (
        select(joined).where(v.object_seq == StixObject.seq).correlate(StixObject).scalar_subquery()
    )


def feedback(connection: Connection, ids: Collection[str] | None = None) -> dict[str, Feedback]:
    """Sightings and false-positive opinions per indicator id, from the current versions.

    Sightings and opinions carry no values, so they are found through the ``type`` index and
    a text test on their canonical JSON (keys sorted, so ``"sighting_of_ref":"<id>"`` is
    exact); ``ids=None`` reads them all (one pass, for exports and counts).
    """
    o = StixObject
    found: dict[str, Feedback] = {}
    base = select(o.type, o.doc, sources_of(connection.dialect.name)).where(
        o.type.in_(("sighting", "opinion")), o.current.is_(True), o.revoked.is_(False)
    )
    chunks: list[ColumnElement[bool] | None]
    if ids is None:
        chunks = [None]
    else:
        listed = sorted(set(ids))
        chunks = [
            or_(*(_mentions(i) for i in listed[start : start + LIKE_CHUNK]))
            for start in range(0, len(listed), LIKE_CHUNK)
        ]
    wanted = None if ids is None else set(ids)
    for condition in chunks:
        statement = base if condition is None else base.where(condition)
        for kind, doc, sources in connection.execute(statement):
            _add(found, kind, orjson.loads(doc), tuple((sources or "").split(",")), wanted)
    return found


def _mentions(identifier: str) -> ColumnElement[bool]:
    o = StixObject
    return or_(
        and_(
            o.type == "sighting",
            o.doc.contains(f'"sighting_of_ref":"{identifier}"', autoescape=True),
        ),
        and_(o.type == "opinion", o.doc.contains(f'"{identifier}"', autoescape=True)),
    )


def _add(
    found: dict[str, Feedback],
    kind: str,
    doc: dict[str, Any],
    sources: tuple[str, ...],
    wanted: set[str] | None,
) -> None:
    if kind == "sighting":
        target = doc.get("sighting_of_ref")
        if isinstance(target, str) and (wanted is None or target in wanted):
            count = doc.get("count", 1)
            seen = parse_time(doc.get("last_seen")) or parse_time(doc.get("modified"))
            found.setdefault(target, Feedback()).sightings.append(
                Sighted(count if isinstance(count, int) and count >= 0 else 1, seen)
            )
    elif doc.get("opinion") in ("strongly-disagree", "disagree"):
        for target in doc.get("object_refs") or ():
            if isinstance(target, str) and (wanted is None or target in wanted):
                found.setdefault(target, Feedback()).false_positives.append(sources)


def current_scores(
    session: Session, *, policy: ScoringPolicy, now: datetime, since_seq: int = 0
) -> Iterator[tuple[int, str, Score]]:
    """(seq, id, score) of every current, unrevoked indicator, streamed in one pass.

    Scores depend on time and feedback, so they cannot be a SQL condition: statistics and the
    detection index both need this one pass, with sightings and opinions read once.
    ``since_seq`` keeps only versions stored after it (an index refreshed incrementally).
    """
    o = StixObject
    dialect = session.get_bind().dialect.name
    statement = select(
        o.seq,
        o.id,
        o.confidence,
        o.modified,
        o.doc,
        sources_of(dialect).label("sources"),
        kinds_of(dialect).label("kinds"),
    ).where(o.type == "indicator", o.current.is_(True), o.revoked.is_(False), o.seq > since_seq)
    known = feedback(session.connection())
    for row in session.execute(statement, execution_options={"yield_per": 2000}):
        found = evidence(
            doc=row.doc,
            confidence=row.confidence,
            sources=row.sources,
            kinds=(row.kinds or "").split(","),
            modified=row.modified,
            feedback=known.get(row.id),
        )
        yield row.seq, row.id, score(found, policy=policy, now=now)
