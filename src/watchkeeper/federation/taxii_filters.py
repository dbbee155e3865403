"""TAXII filters: ``added_after`` and the ``match[...]`` parameters, checked, and as SQL.

A request names what it wants with ``added_after`` (exclusive, on the time this node stored a
version: TAXII's ``date_added``), ``match[id]``, ``match[type]``, ``match[version]`` and
``match[spec_version]``; values of one filter are comma-separated and ORed, different filters
are ANDed. ``match[version]`` takes ``last`` (the default: the current version), ``first``,
``all`` or exact timestamps; an object without ``modified`` or ``created`` (a cyber-observable)
has its ``date_added`` as its version. The store keeps STIX 2.1 only (2.0 is upgraded when it
is stored), so the default ``match[spec_version]``, the latest, selects every version.

A :class:`Selection` is also what a TAXII ``next`` token is bound to: its :meth:`~Selection.key`
goes into the token's digest, so a token used with other filters is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, literal, not_, or_, select
from sqlalchemy.orm import aliased

from watchkeeper.errors import InvalidInput
from watchkeeper.intel import StixObject

KEYWORDS = ("first", "last", "all")
TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$")
SPEC_VERSION = re.compile(r"^\d\.\d$")
MAX_VALUES = 1000  # values in one filter: a URL has room for about this many ids
MAX_VALUE = 300  # characters of one value (the longest STIX id the store keeps)


def stix_timestamp(text: str, *, field: str) -> str:
    """``text`` as the store writes timestamps (UTC, microseconds, ``Z``), so it compares as
    text with stored ones; ``InvalidInput`` naming ``field`` when it is not a STIX timestamp."""
    match = TIMESTAMP.match(text.strip())
    valid = match is not None
    if match is not None:
        try:
            datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            valid = False
    if match is None or not valid:
        raise InvalidInput(
            f"{field}: {text!r} is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.sss]Z)",
            field=field,
            value=text,
        )
    fraction = (match.group(2) or "")[:6].ljust(6, "0")
    return f"{match.group(1)}.{fraction}Z"


@dataclass(frozen=True)
class Selection:
    """What a request selects; empty tuples do not narrow."""

    added_after: str | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ("last",)
    spec_versions: tuple[str, ...] = ()

    def key(self) -> list[object]:
        """A canonical form of the filters (order of values does not matter)."""
        return [
            self.added_after,
            sorted(self.ids),
            sorted(self.types),
            sorted(self.versions),
            sorted(self.spec_versions),
        ]


def _values(text: str | None, *, field: str) -> tuple[str, ...]:
    if text is None:
        return ()
    found: list[str] = []
    for part in text.split(","):
        value = part.strip()
        if not value:
            continue
        if len(value) > MAX_VALUE:
            raise InvalidInput(
                f"{field}: a value longer than {MAX_VALUE} characters", field=field, value=value
            )
        if value not in found:
            found.append(value)
    if len(found) > MAX_VALUES:
        raise InvalidInput(f"{field}: more than {MAX_VALUES} values", field=field)
    return tuple(found)


def selection(
    *,
    added_after: str | None = None,
    ids: str | None = None,
    types: str | None = None,
    versions: str | None = None,
    spec_versions: str | None = None,
    default_version: str = "last",
) -> Selection:
    """A checked selection from the parameters' text (comma-separated values);
    ``InvalidInput`` names the parameter that is wrong."""
    wanted: list[str] = []
    for value in _values(versions, field="match[version]"):
        wanted.append(value if value in KEYWORDS else stix_timestamp(value, field="match[version]"))
    specs = _values(spec_versions, field="match[spec_version]")
    wrong = [spec for spec in specs if not SPEC_VERSION.match(spec)]
    if wrong:
        raise InvalidInput(
            f"match[spec_version]: {', '.join(wrong)} is not a version such as 2.1",
            field="match[spec_version]",
            value=wrong,
        )
    after = added_after.strip() if added_after is not None else ""
    return Selection(
        added_after=stix_timestamp(after, field="added_after") if after else None,
        ids=_values(ids, field="match[id]"),
        types=_values(types, field="match[type]"),
        versions=tuple(dict.fromkeys(wanted)) or (default_version,),
        spec_versions=specs,
    )


def version_of(modified: str, added_at: str) -> str:
    """The TAXII version of a stored version: its ``modified`` (or ``created``, which the
    store keeps there for unversioned objects), else the time it was added."""
    return modified or added_at


def selection_clause(chosen: Selection) -> list[ColumnElement[bool]]:
    """SQL over ``intel_objects``: the conditions of ``chosen`` but ``added_after`` (pages
    turn that into a cursor; see :mod:`.taxii_pages`)."""
    o = StixObject
    where: list[ColumnElement[bool]] = []
    if chosen.ids:
        where.append(o.id.in_(chosen.ids))
    if chosen.types:
        # Through an expression, as collection filters do: the page is read in seq order and
        # stops at its limit rather than sorting every object of the type.
        where.append(o.type.concat("").in_(chosen.types))
    if chosen.spec_versions:
        where.append(o.spec_version.in_(chosen.spec_versions))
    if "all" not in chosen.versions:
        alternatives: list[ColumnElement[bool]] = []
        if "last" in chosen.versions:
            alternatives.append(o.current.is_(True))
        if "first" in chosen.versions:
            earlier = aliased(StixObject)
            alternatives.append(
                not_(
                    exists(
                        select(literal(1))
                        .select_from(earlier)
                        .where(earlier.id == o.id, earlier.modified < o.modified)
                    )
                )
            )
        stamps = [value for value in chosen.versions if value not in KEYWORDS]
        if stamps:
            alternatives.append(
                or_(o.modified.in_(stamps), and_(o.modified == "", o.added_at.in_(stamps)))
            )
        where.append(or_(*alternatives))
    return where
