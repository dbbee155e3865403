"""Indicator matches of a telemetry batch as hits (see ``alerts.HIT_SCHEMA``).

Which telemetry columns are matched, and as what, is :data:`MATCHED_COLUMNS`. The indicator
details an alert shows (STIX id, name, TLP, confidence) are read once per distinct indicator
version that matched, not per event.
"""

from __future__ import annotations

from typing import Any

import orjson
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.detect.alerts import HIT_SCHEMA, TIME, empty_hits, event_context
from watchkeeper.detect.live import LiveIndex
from watchkeeper.intel import StixObject

MATCHED_COLUMNS = {
    "source.ip": "ip",
    "destination.ip": "ip",
    "dns.question.name": "domain",
    "url.domain": "domain",
    "tls.server.name": "domain",
    "url.full": "url",
    "email.from.address": "email",
    "email.to.address": "email",
    "file.hash.md5": "hash",
    "file.hash.sha1": "hash",
    "file.hash.sha256": "hash",
    "process.hash.md5": "hash",
    "process.hash.sha1": "hash",
    "process.hash.sha256": "hash",
}


def severity_of(score: int) -> str:
    """A score (0-100) as a severity word."""
    if score >= 90:
        return "critical"
    if score >= 70:
        return "high"
    if score >= 40:
        return "medium"
    return "low"


def severity_expr(score: pl.Expr) -> pl.Expr:
    """:func:`severity_of` as a column expression."""
    return (
        pl.when(score >= 90)
        .then(pl.lit("critical"))
        .when(score >= 70)
        .then(pl.lit("high"))
        .when(score >= 40)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


def _details(session: Session, refs: list[int]) -> pl.DataFrame:
    """Per indicator version: STIX id, title, TLP, score (its confidence, 50 when unset)."""
    o = StixObject
    rows: list[dict[str, Any]] = []
    for start in range(0, len(refs), 500):
        for seq, identifier, tlp, confidence, doc in session.execute(
            select(o.seq, o.id, o.tlp, o.confidence, o.doc).where(
                o.seq.in_(refs[start : start + 500])
            )
        ):
            document = orjson.loads(doc)
            name = document.get("name") or document.get("pattern") or identifier
            score = 50 if confidence is None else int(confidence)
            rows.append(
                {
                    "ref": seq,
                    "subject": identifier,
                    "title": f"Indicator hit: {str(name)[:250]}",
                    "tlp": tlp,
                    "score": score,
                    "severity": severity_of(score),
                }
            )
    schema = {
        "ref": pl.Int64,
        "subject": pl.String,
        "title": pl.String,
        "tlp": pl.String,
        "score": pl.Int64,
        "severity": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def indicator_hits(*, session: Session, live: LiveIndex, frame: pl.DataFrame) -> pl.DataFrame:
    """The batch's indicator matches as hits, one per (event, column, indicator)."""
    matches = live.match(frame=frame, fields=MATCHED_COLUMNS)
    if matches.is_empty():
        return empty_hits()
    details = _details(session, matches["ref"].unique().to_list())
    context = event_context(frame)
    values = pl.concat(
        [
            matches.filter(pl.col("column") == column).with_columns(
                frame[column]
                .cast(pl.String)
                .gather(matches.filter(pl.col("column") == column)["row"])
                .alias("value")
            )
            for column in matches["column"].unique(maintain_order=True).to_list()
        ]
    )
    joined = values.join(details, on="ref", how="inner").join(context, on="row", how="left")
    return joined.select(
        pl.lit("indicator").alias("kind"),
        "subject",
        "title",
        "severity",
        "score",
        pl.format("{} {} matched in {}", pl.col("kind"), pl.col("value"), pl.col("column")).alias(
            "explanation"
        ),
        "value",
        pl.col("kind").alias("value_kind"),
        pl.col("column").alias("field"),
        "tlp",
        "host",
        "organization",
        TIME,
        "source",
        "line",
        pl.col("row").cast(pl.Int64),
    ).cast(HIT_SCHEMA)  # type: ignore[arg-type]
