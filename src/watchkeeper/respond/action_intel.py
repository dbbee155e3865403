"""Intelligence actions: look values up, report a sighting or a false positive, tag, block.

They work in the step's transaction. The intelligence use cases that open their own transaction
(``record_sighting``, ``report_false_positive``) are given a database whose "transaction" is a
savepoint of the step's, so the sighting and the step's completion still commit together.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from watchkeeper.bus import emit
from watchkeeper.errors import InvalidInput
from watchkeeper.intel import ScoringPolicy, lookup, record_sighting, report_false_positive
from watchkeeper.respond.actions import ActionContext, ActionSpec
from watchkeeper.respond.blocklist import block_values

MAX_VALUES = 1000


class _Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrichIn(_Inputs):
    values: list[str] = Field(min_length=1, max_length=MAX_VALUES)


class ScoreIn(_Inputs):
    indicator_id: str | None = None
    value: str | None = None
    verdict: Literal["sighting", "false_positive"] = "sighting"
    reason: str = ""
    count: int = Field(1, ge=1)
    where: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> ScoreIn:
        if (self.indicator_id is None) == (self.value is None):
            raise ValueError("give exactly one of indicator_id or value")
        return self


class TagIn(_Inputs):
    indicator_id: str | None = None
    value: str | None = None
    tags: list[str] = Field(min_length=1, max_length=50)


class BlockIn(_Inputs):
    values: list[str] = Field(min_length=1, max_length=MAX_VALUES)
    reason: str = Field(min_length=1, max_length=2000)
    expires_seconds: float | None = Field(None, gt=0)


class _StepDatabase:
    """A stand-in ``Database`` whose transactions are savepoints of the step's session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._session.begin_nested():
            yield self._session


def _enrich(ctx: ActionContext, inputs: EnrichIn) -> dict[str, Any]:
    policy = ScoringPolicy.from_settings(ctx.settings)
    found: dict[str, Any] = {}
    for value in inputs.values:
        try:
            rows = lookup(ctx.db(), value=value, policy=policy, now=ctx.clock.now())
        except InvalidInput as exc:
            found[value] = {"error": exc.message, "objects": 0}
            continue
        scores = [row["score"] for row in rows if row.get("score") is not None]
        found[value] = {
            "objects": len(rows),
            "indicators": sorted({row["id"] for row in rows if row["type"] == "indicator"}),
            "max_score": max(scores) if scores else None,
            "sightings": sum(row.get("sightings") or 0 for row in rows),
            "false_positives": sum(row.get("false_positives") or 0 for row in rows),
            "known": bool(rows),
        }
    return {"values": found, "known": sorted(v for v, r in found.items() if r.get("known"))}


def _score(ctx: ActionContext, inputs: ScoreIn) -> dict[str, Any]:
    database: Any = _StepDatabase(ctx.db())
    if inputs.verdict == "sighting":
        done = record_sighting(
            database, clock=ctx.clock, actor=ctx.actor, indicator_id=inputs.indicator_id,
            value=inputs.value, count=inputs.count, where=inputs.where,
        )  # fmt: skip
    else:
        done = report_false_positive(
            database, clock=ctx.clock, actor=ctx.actor, indicator_id=inputs.indicator_id,
            value=inputs.value, reason=inputs.reason or f"playbook run {ctx.run_id}",
        )  # fmt: skip
    return dict(done.document())


def _tag(ctx: ActionContext, inputs: TagIn) -> dict[str, Any]:
    # Tags are published as an event: the intelligence area and partners' filters read the
    # log; the STIX objects themselves are never mutated.
    payload = {
        "indicator_id": inputs.indicator_id, "value": inputs.value, "tags": sorted(inputs.tags),
        "run_id": ctx.run_id,
    }  # fmt: skip
    event = emit(ctx.db(), type="respond.indicator.tagged", actor=ctx.actor, payload=payload,
                 subject=inputs.indicator_id or inputs.value, clock=ctx.clock)  # fmt: skip
    return {**payload, "event_seq": event.seq}


def _block(ctx: ActionContext, inputs: BlockIn) -> dict[str, Any]:
    added = block_values(
        ctx.db(), now=ctx.clock.now(), values=inputs.values, reason=inputs.reason,
        run_id=ctx.run_id, expires_seconds=inputs.expires_seconds,
    )  # fmt: skip
    emit(ctx.db(), type="respond.block.added", actor=ctx.actor, clock=ctx.clock,
         payload={"entries": added, "reason": inputs.reason, "run_id": ctx.run_id})  # fmt: skip
    return {"blocked": added}


INTEL_ACTIONS = (
    ActionSpec("enrich", EnrichIn, _enrich, side_effects=False, local=True,
               description="Look values up in the node's intelligence: scores, sightings."),
    ActionSpec("score_indicator", ScoreIn, _score, side_effects=True, local=True,
               description="Record a sighting of, or a false positive on, an indicator."),
    ActionSpec("tag_indicator", TagIn, _tag, side_effects=True, local=True,
               description="Tag an indicator or value (event respond.indicator.tagged)."),
    ActionSpec("block", BlockIn, _block, side_effects=True, local=True,
               description="Add values to the blocklist (RPZ, plain, iptables exports)."),
)  # fmt: skip
