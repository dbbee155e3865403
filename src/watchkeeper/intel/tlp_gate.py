"""The TLP test every release path shares: which stored object versions a ceiling withholds.

Exports, MISP feeds and federation (TAXII pages, pushes) all ask the same question of a row
of ``intel_objects``: does a TLP level above the ceiling apply to it? Answering it once, in SQL
for pages of thousands of rows and in Python for a single stored row, keeps every path
identical; a second copy that drifted would be a leak.

A level applies to a row through its ``tlp`` column (the strictest object-level marking) or,
when the row carries none, through the level the caller gives unmarked objects. ``tlp`` does
not see markings in ``granular_markings``, so a document with granular markings that names a
withheld level is withheld whole (a cheap text test, and only documents that have granular
markings pay for it).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_

from watchkeeper.core.tlp import MARKING_LEVELS, Tlp
from watchkeeper.intel.models import StixObject

GRANULAR = '"granular_markings"'


def _allowed(max_tlp: Tlp) -> list[str]:
    return [level.value for level in Tlp if level <= max_tlp]


def _withheld_markings(max_tlp: Tlp) -> list[str]:
    return sorted(marking for marking, level in MARKING_LEVELS.items() if level > max_tlp)


def withheld_by_tlp(*, max_tlp: Tlp, unmarked_tlp: Tlp = Tlp.AMBER) -> ColumnElement[bool]:
    """SQL, true for the ``intel_objects`` rows that ``max_tlp`` withholds (never NULL).

    Never NULL, so that ``not_()`` of it (or of an ``and_``/``or_`` built on it) keeps exactly
    the complement: a NULL would silently drop unmarked rows from both sides.
    """
    o = StixObject
    clauses: list[ColumnElement[bool]] = [and_(o.tlp.is_not(None), o.tlp.not_in(_allowed(max_tlp)))]
    if unmarked_tlp > max_tlp:
        clauses.append(o.tlp.is_(None))
    withheld = _withheld_markings(max_tlp)
    if withheld:
        clauses.append(
            and_(
                o.doc.contains(GRANULAR, autoescape=True),
                or_(*(o.doc.contains(marking, autoescape=True) for marking in withheld)),
            )
        )
    return or_(false(), *clauses)


def tlp_withholds(
    tlp: str | None, doc: str, *, max_tlp: Tlp, unmarked_tlp: Tlp = Tlp.AMBER
) -> bool:
    """The test of :func:`withheld_by_tlp` on one stored row (its ``tlp`` and ``doc``)."""
    if tlp is None:
        if unmarked_tlp > max_tlp:
            return True
    elif tlp not in _allowed(max_tlp):
        return True
    return GRANULAR in doc and any(marking in doc for marking in _withheld_markings(max_tlp))
