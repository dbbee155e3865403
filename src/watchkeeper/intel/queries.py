"""Paging through the current objects of the store with filters, for the objects API.

Pages are cut on ``seq`` (assigned in commit order), so a client walking ``after`` cursors
sees every object once even while imports land. The stored canonical JSON is returned as text:
the API splices it into its response instead of parsing and re-serialising each object.
"""

from __future__ import annotations

from datetime import datetime

import orjson
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from watchkeeper.core.observables import guess
from watchkeeper.core.tlp import Tlp
from watchkeeper.errors import InvalidInput
from watchkeeper.intel.export_selection import _stamp as stored_stamp
from watchkeeper.intel.models import IndicatorValue, StixObject

MAX_LIMIT = 1000
# Objects without a TLP marking are treated as AMBER, as exports treat them by default.
UNMARKED = Tlp.AMBER


def _filters(
    *,
    types: list[str],
    value: str | None,
    label: str | None,
    tlp_max: Tlp,
    since: datetime | None,
) -> list[ColumnElement[bool]]:
    o = StixObject
    where: list[ColumnElement[bool]] = [o.current.is_(True)]
    if types:
        where.append(o.type.in_(types))
    if value is not None:
        observable = guess(value)
        if observable is None:
            raise InvalidInput(f"cannot tell what kind of value {value!r} is", field="value")
        carriers = select(IndicatorValue.object_seq).where(
            IndicatorValue.kind == observable.kind, IndicatorValue.value == observable.value
        )
        where.append(o.seq.in_(carriers))
    if label is not None:
        # A cheap text test narrows the rows; the exact test on ``labels`` follows in Python.
        where.append(o.doc.contains('"labels"', autoescape=True))
        where.append(o.doc.contains(orjson.dumps(label).decode(), autoescape=True))
    allowed = [level.value for level in Tlp if level <= tlp_max]
    levels: ColumnElement[bool] = o.tlp.in_(allowed)
    if tlp_max >= UNMARKED:
        levels = or_(levels, o.tlp.is_(None))
    where.append(levels)
    if since is not None:
        where.append(o.modified >= stored_stamp(since))
    return where


def _has_label(doc: str, label: str) -> bool:
    labels = orjson.loads(doc).get("labels")
    return isinstance(labels, list) and label in labels


def query_objects(
    session: Session,
    *,
    types: list[str] | None = None,
    value: str | None = None,
    label: str | None = None,
    tlp_max: Tlp = Tlp.AMBER,
    since: datetime | None = None,
    after: int | None = None,
    limit: int = 100,
) -> tuple[list[str], int | None]:
    """The stored JSON of one page of current objects, and the cursor of the next page.

    ``value`` is normalised (a domain's case, an address's form) and matches the objects that
    carry it; ``label`` matches objects whose ``labels`` hold it exactly; ``tlp_max`` is the
    most restrictive level returned. The cursor is the ``seq`` of the last row the page read
    (None at the end): with a ``label`` filter a page may hold fewer than ``limit`` objects,
    yet none is skipped or repeated.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    where = _filters(types=types or [], value=value, label=label, tlp_max=tlp_max, since=since)
    if after is not None:
        where.append(StixObject.seq > after)
    rows = session.execute(
        select(StixObject.seq, StixObject.doc)
        .where(*where)
        .order_by(StixObject.seq)
        .limit(limit + 1)
    ).all()
    page = rows[:limit]
    cursor = page[-1].seq if len(rows) > limit else None
    docs = [row.doc for row in page]
    if label is not None:
        docs = [doc for doc in docs if _has_label(doc, label)]
    return docs, cursor
