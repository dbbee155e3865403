"""The indicator index kept current while telemetry flows, without rebuilding it each time.

A full compile scores every current indicator (seconds for a million). Intelligence arrives in
small imports, so the live index is a **base** compiled in full plus a **delta** of the
indicator versions stored since (recompiled on each refresh; it stays small), and a set of
**retired** base versions: those replaced by a newer version, revoked, or named by a new
false-positive opinion. Hits of retired versions are dropped. A refresh costs one ``MAX(seq)``
query when nothing changed.

Scores also fall with time (decay) and deletions remove versions; neither writes a new
version, so the base is rebuilt after ``rebuild_after`` (and whenever the delta has grown to
a tenth of the base).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import orjson
import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.detect.index import IndicatorIndex, Memory
from watchkeeper.detect.matching import match_frame
from watchkeeper.intel import ScoringPolicy, StixObject, active_values

DEFAULT_REBUILD_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class Refresh:
    """What a refresh did."""

    rebuilt: bool
    added: int  # values in the delta after the refresh
    retired: int  # base versions no longer matched
    high_seq: int


def _high_seq(session: Session) -> int:
    return int(session.execute(select(func.max(StixObject.seq))).scalar() or 0)


def _compile(
    session: Session, *, policy: ScoringPolicy, now: datetime, since_seq: int
) -> tuple[IndicatorIndex, dict[int, str]]:
    kinds: list[str] = []
    values: list[str] = []
    refs: list[int] = []
    ids: dict[int, str] = {}
    for row in active_values(session, policy=policy, now=now, since_seq=since_seq):
        kinds.append(row.kind)
        values.append(row.value)
        refs.append(row.seq)
        ids[row.seq] = row.id
    return IndicatorIndex.from_rows(kinds=kinds, values=values, refs=refs), ids


@dataclass
class LiveIndex:
    """Base + delta - retired; build with :meth:`build`, keep current with :meth:`refresh`."""

    policy: ScoringPolicy
    base: IndicatorIndex
    base_seq: int  # every version up to this one was considered by the base
    built_at: datetime
    delta: IndicatorIndex = field(
        default_factory=lambda: IndicatorIndex.from_rows(kinds=[], values=[], refs=[])
    )
    high_seq: int = 0  # the delta considered every version up to this one
    ids: dict[int, str] = field(default_factory=dict)  # indicator version seq -> STIX id
    retired: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    @classmethod
    def build(
        cls,
        *,
        session: Session,
        policy: ScoringPolicy | None = None,
        now: datetime,
        since_seq: int = 0,
    ) -> LiveIndex:
        """Compile everything live now (stored after ``since_seq``: a retro-hunt's new
        indicators)."""
        policy = policy or ScoringPolicy()
        high = _high_seq(session)  # read first: a version stored meanwhile comes in the delta
        base, ids = _compile(session, policy=policy, now=now, since_seq=since_seq)
        return cls(policy=policy, base=base, base_seq=high, built_at=now, high_seq=high, ids=ids)

    def refresh(
        self,
        *,
        session: Session,
        now: datetime,
        rebuild_after: timedelta = DEFAULT_REBUILD_AFTER,
    ) -> Refresh:
        """Take in what was stored since the last refresh (or rebuild when due)."""
        if now - self.built_at >= rebuild_after or self.delta.entries * 10 > max(
            self.base.entries, 1000
        ):
            fresh = LiveIndex.build(session=session, policy=self.policy, now=now)
            self.base, self.base_seq, self.built_at = fresh.base, fresh.base_seq, fresh.built_at
            self.delta, self.high_seq, self.ids = fresh.delta, fresh.high_seq, fresh.ids
            self.retired = fresh.retired
            return Refresh(rebuilt=True, added=0, retired=0, high_seq=self.high_seq)
        high = _high_seq(session)
        if high <= self.high_seq:
            return Refresh(
                rebuilt=False,
                added=self.delta.entries,
                retired=len(self.retired),
                high_seq=self.high_seq,
            )
        retire = self._newly_retired(session, since_seq=self.high_seq)
        if retire:
            self.retired = np.union1d(self.retired, np.fromiter(retire, np.int64))
        self.delta, ids = _compile(session, policy=self.policy, now=now, since_seq=self.base_seq)
        self.ids.update(ids)
        self.high_seq = high
        return Refresh(
            rebuilt=False, added=self.delta.entries, retired=len(self.retired), high_seq=high
        )

    def _newly_retired(self, session: Session, *, since_seq: int) -> set[int]:
        """Base versions replaced, revoked or reported false positive since ``since_seq``."""
        o = StixObject
        touched: set[str] = set()
        for identifier, kind, doc in session.execute(
            select(o.id, o.type, o.doc).where(
                o.seq > since_seq, o.type.in_(("indicator", "opinion"))
            )
        ):
            if kind == "indicator":
                touched.add(identifier)
                continue
            opinion = orjson.loads(doc)
            if opinion.get("opinion") in ("strongly-disagree", "disagree"):
                touched.update(
                    ref for ref in opinion.get("object_refs") or [] if ref.startswith("indicator--")
                )
        if not touched:
            return set()
        retired: set[int] = set()
        names = sorted(touched)
        for start in range(0, len(names), 500):
            retired.update(
                session.execute(
                    select(o.seq).where(
                        o.id.in_(names[start : start + 500]), o.seq <= self.base_seq
                    )
                ).scalars()
            )
        return retired

    def match(self, *, frame: pl.DataFrame, fields: Mapping[str, str]) -> pl.DataFrame:
        """Hits of ``frame`` (``row``, ``column``, ``kind``, ``ref``), retired versions left out."""
        present = {column: kind for column, kind in fields.items() if column in frame.columns}
        hits = match_frame(index=self.base, frame=frame, fields=present)
        if len(self.retired):
            hits = hits.filter(~np.isin(hits["ref"].to_numpy(), self.retired))
        if self.delta.entries:
            more = match_frame(index=self.delta, frame=frame, fields=present)
            hits = pl.concat([hits, more]).unique(maintain_order=True)
        return hits

    def memory(self) -> Memory:
        """Bytes of base and delta together."""
        base, delta = self.base.memory(), self.delta.memory()
        return Memory(
            index_bytes=base.index_bytes + delta.index_bytes + self.retired.nbytes,
            raw_value_bytes=base.raw_value_bytes + delta.raw_value_bytes,
            entries=base.entries + delta.entries,
        )
