"""Sigma rule hits of a telemetry batch as hits (see ``alerts.HIT_SCHEMA``).

Kept apart from the indicator hits because it imports pySigma (most of a second to load):
only a process that evaluates rules pays for it.
"""

from __future__ import annotations

import polars as pl

from watchkeeper.detect.alerts import HIT_SCHEMA, TIME, empty_hits, event_context
from watchkeeper.detect.hits import severity_expr
from watchkeeper.detect.sigma_hits import RuleHits, evaluate
from watchkeeper.detect.sigma_rules import RuleSet

LEVEL_SCORES = {"informational": 10, "low": 30, "medium": 50, "high": 75, "critical": 95}


def rule_hits(*, rules: RuleSet, frame: pl.DataFrame) -> tuple[pl.DataFrame, RuleHits]:
    """The batch's Sigma rule hits as hits (one per event and rule), and the raw result."""
    fired = evaluate(rules=rules, frame=frame)
    found = fired.to_frame()
    if found.is_empty():
        return empty_hits(), fired
    meta = pl.DataFrame(
        [
            {
                "rule_id": rule.id,
                "title": f"Sigma: {rule.title}"[:300],
                "score": LEVEL_SCORES.get(rule.level or "", 50),
                "explanation": f"rule {rule.id} ({rule.file}) level {rule.level or 'unset'}",
            }
            for rule in rules.supported
        ],
        schema={"rule_id": pl.String, "title": pl.String, "score": pl.Int64,
                "explanation": pl.String},
    ).unique("rule_id")  # fmt: skip
    joined = (
        found.join(meta, on="rule_id", how="left")
        .join(event_context(frame), on="row", how="left")
        .with_columns(severity_expr(pl.col("score")).alias("severity"))
    )
    return joined.select(
        pl.lit("sigma").alias("kind"),
        pl.col("rule_id").alias("subject"),
        "title",
        "severity",
        "score",
        "explanation",
        pl.lit(None, pl.String).alias("value"),
        pl.lit(None, pl.String).alias("value_kind"),
        pl.lit(None, pl.String).alias("field"),
        pl.lit(None, pl.String).alias("tlp"),
        "host",
        "organization",
        TIME,
        "source",
        "line",
        pl.col("row").cast(pl.Int64),
    ).cast(HIT_SCHEMA), fired  # type: ignore[arg-type]
