"""One STIX object as an analyst reviews it: versions, values, provenance, score, correlations.

The object page and ``GET /api/v1/intel/objects/{id}`` show the same document, built here so
the web layers stay thin and both answer alike. Correlations are the other current objects
sharing a value of the newest version; they are capped, since a common value (see
``lookup.holder_counts``) can be carried by thousands of objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.errors import NotFound
from watchkeeper.intel.lookup import COMMON_THRESHOLD, any_of, explain_score, holder_counts
from watchkeeper.intel.models import ImportRun, IndicatorValue, Provenance, StixObject
from watchkeeper.intel.scoring import ScoringPolicy

CORRELATION_LIMIT = 50


def object_versions(session: Session, *, stix_id: str) -> list[dict[str, Any]]:
    """Every stored version of ``stix_id``, newest first (empty when the id is unknown)."""
    o = StixObject
    rows = session.execute(
        select(
            o.seq,
            o.type,
            o.modified,
            o.current,
            o.revoked,
            o.tlp,
            o.confidence,
            o.content_hash,
        )
        .where(o.id == stix_id)
        .order_by(o.modified.desc())
    )
    return [dict(row._mapping) for row in rows]


def _values(session: Session, seq: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(IndicatorValue.kind, IndicatorValue.value, IndicatorValue.warninglists)
        .where(IndicatorValue.object_seq == seq)
        .order_by(IndicatorValue.kind, IndicatorValue.value)
    )
    return [
        {
            "kind": kind,
            "value": value,
            "warninglists": [name for name in (lists or "").split(",") if name],
        }
        for kind, value, lists in rows
    ]


def _provenance(session: Session, seqs: list[int]) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            StixObject.modified,
            ImportRun.id.label("import_id"),
            ImportRun.source,
            ImportRun.format,
            ImportRun.started_at,
        )
        .join(Provenance, Provenance.object_seq == StixObject.seq)
        .join(ImportRun, ImportRun.id == Provenance.import_id)
        .where(StixObject.seq.in_(seqs))
        .order_by(ImportRun.started_at.desc(), ImportRun.id)
    )
    return [dict(row._mapping) for row in rows]


def _correlations(
    session: Session, stix_id: str, values: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    pairs = [(value["kind"], value["value"]) for value in values]
    if not pairs:
        return []
    rows = session.execute(
        select(
            StixObject.id,
            StixObject.type,
            StixObject.modified,
            IndicatorValue.kind,
            IndicatorValue.value,
        )
        .join(StixObject, StixObject.seq == IndicatorValue.object_seq)
        .where(any_of(pairs), StixObject.current.is_(True), StixObject.id != stix_id)
        .order_by(IndicatorValue.kind, IndicatorValue.value, StixObject.id)
        .limit(CORRELATION_LIMIT)
    )
    return [dict(row._mapping) for row in rows]


def object_view(
    session: Session,
    *,
    stix_id: str,
    policy: ScoringPolicy,
    now: datetime,
    common_threshold: int = COMMON_THRESHOLD,
) -> dict[str, Any]:
    """Everything the object page shows about ``stix_id``; ``NotFound`` for an unknown id.

    ``values`` and ``correlations`` are those of the newest version; ``score`` explains an
    indicator's score (None for other types, or when no version is current).
    """
    versions = object_versions(session, stix_id=stix_id)
    if not versions:
        raise NotFound(f"no stored object {stix_id[:300]!r}", field="stix_id")
    newest = versions[0]
    doc = session.execute(
        select(StixObject.doc).where(StixObject.seq == newest["seq"])
    ).scalar_one()
    values = _values(session, newest["seq"])
    holders = holder_counts(session, [(value["kind"], value["value"]) for value in values])
    for value in values:
        value["holders"] = holders.get((value["kind"], value["value"]), 0)
        value["common"] = value["holders"] > common_threshold
    explained = None
    if newest["type"] == "indicator":
        try:
            [explained] = explain_score(session, target=stix_id, policy=policy, now=now)
        except NotFound:
            explained = None
    return {
        "id": stix_id,
        "type": newest["type"],
        "versions": [
            {key: version[key] for key in version if key != "seq"} for version in versions
        ],
        "document": orjson.loads(doc),
        "values": values,
        "provenance": _provenance(session, [version["seq"] for version in versions]),
        "score": explained,
        "correlations": _correlations(session, stix_id, values),
        "correlation_limit": CORRELATION_LIMIT,
    }
