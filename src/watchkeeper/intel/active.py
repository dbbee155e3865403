"""The values worth matching now: what detection compiles its indicator index from.

An indicator value is matched only while its indicator is current, not revoked, not expired or
decayed (score above 0, see ``scoring``), and the value itself hits no warninglist. Scores
depend on time and feedback, so they are computed here in one streamed pass over the current
indicators, and the values of the live ones are then read in a second streamed pass; neither
pass holds more than the set of live ``seq`` numbers in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from watchkeeper.intel.models import IndicatorValue, StixObject
from watchkeeper.intel.scoring import ScoringPolicy, current_scores

MATCHED_KINDS = (
    "ipv4", "ipv6", "cidr4", "cidr6", "domain", "url", "email",
    "md5", "sha1", "sha256", "sha512",
)  # fmt: skip


class ActiveValue(NamedTuple):
    """One matchable value and the indicator version (``seq``, STIX ``id``) that carries it."""

    kind: str
    value: str
    seq: int
    id: str


def active_values(
    session: Session,
    *,
    policy: ScoringPolicy | None = None,
    now: datetime | None = None,
    since_seq: int = 0,
) -> Iterator[ActiveValue]:
    """Values of current, live indicators that hit no warninglist, in ``seq`` order; with
    ``since_seq``, only those of versions stored after it."""
    policy = policy or ScoringPolicy()
    now = now or datetime.now(UTC)
    alive = {  # seq -> STIX id of each live indicator version
        seq: identifier
        for seq, identifier, result in current_scores(
            session, policy=policy, now=now, since_seq=since_seq
        )
        if result.value > 0
    }
    if not alive:
        return
    o, v = StixObject, IndicatorValue
    values = (
        select(v.kind, v.value, v.object_seq)
        .join(o, o.seq == v.object_seq)
        .where(
            o.type == "indicator",
            o.current.is_(True),
            o.revoked.is_(False),
            o.seq > since_seq,
            v.kind.in_(MATCHED_KINDS),
            or_(v.warninglists.is_(None), v.warninglists == ""),
        )
        .order_by(v.object_seq, v.id)
    )
    for kind, value, seq in session.execute(values, execution_options={"yield_per": 5000}):
        identifier = alive.get(seq)
        if identifier is not None:
            yield ActiveValue(kind, value, seq, identifier)
