"""What an export may release, read straight from the store: the contract between exporters.

Every exporter, built-in or plugin, gets a :class:`Selection` and a binary target. The
selection applies the release policy in SQL, once, so no format can get it wrong: TLP above
the export's maximum (TLP:RED always), revoked objects, and for value formats warninglisted
values, indicators not matchable by value and kinds the format cannot carry are withheld and
counted by reason in the :class:`ExportReport`. What the caller asked to narrow (types,
confidence, since, kinds, current versions) is simply not selected. Rows are streamed in
chunks (a server-side cursor on PostgreSQL), and objects come as their stored ``doc`` text:
no STIX library objects, no re-serialisation.

The TLP test (object-level and granular markings) is :mod:`watchkeeper.intel.tlp_gate`, the one
every release path shares (MISP exports, federation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol

from sqlalchemy import ColumnElement, Connection, String, case, func, literal, select
from sqlalchemy.sql.expression import Executable, Select

from watchkeeper.core import stix_time
from watchkeeper.core.observables import KINDS
from watchkeeper.core.tlp import Tlp
from watchkeeper.errors import InvalidInput
from watchkeeper.intel.models import IndicatorValue, StixObject
from watchkeeper.intel.score_gate import ScoreGate
from watchkeeper.intel.scoring import ScoringPolicy
from watchkeeper.intel.tlp_gate import withheld_by_tlp

CHUNK = 2000  # rows fetched per round trip (and between progress calls)
BLOCK = 64 * 1024  # bytes gathered before one write to the target

Progress = Callable[[int], None]


class BinaryTarget(Protocol):
    """Where an export goes: any binary file-like object (file, ``BytesIO``, stdout's buffer)."""

    def write(self, data: bytes, /) -> object:
        """Write ``data``."""


class ObjectRow(NamedTuple):
    """A stored STIX object version, as its canonical JSON text."""

    id: str
    type: str
    doc: str


class ValueRow(NamedTuple):
    """One normalised value of an object (an indicator unless the types say otherwise)."""

    kind: str
    value: str
    object_id: str
    tlp: str | None
    confidence: int | None
    modified: str


@dataclass(frozen=True)
class ExportFilters:
    """What to export; the defaults are the release policy of a node.

    ``max_tlp`` is the most restrictive level released (AMBER unless raised to AMBER+STRICT;
    TLP:RED is refused). Objects without a TLP marking count as ``unmarked_tlp``. Empty
    ``types`` means every type for object formats and ``indicator`` for value formats.
    """

    max_tlp: Tlp = Tlp.AMBER
    types: tuple[str, ...] = ()
    min_confidence: int | None = None
    since: datetime | None = None
    kinds: tuple[str, ...] = ()
    unmarked_tlp: Tlp = Tlp.AMBER
    include_warninglisted: bool = False
    include_revoked: bool = False
    include_unmatchable: bool = False
    all_versions: bool = False
    min_score: float | None = None
    include_expired: bool = False

    def check(self, exporter: Exporter) -> None:
        """Refuse what no export may do, naming the field (before anything is written)."""
        if self.max_tlp is Tlp.RED:
            raise InvalidInput(
                "TLP:RED is never exported; the most an export releases is TLP:AMBER+STRICT",
                field="tlp_max",
                value=self.max_tlp.label,
            )
        if self.min_confidence is not None and not 0 <= self.min_confidence <= 100:
            raise InvalidInput("min_confidence: expected 0 to 100", field="min_confidence")
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown:
            raise InvalidInput(
                f"unknown kind {', '.join(unknown)}; known: {', '.join(KINDS)}", field="kind"
            )
        if self.kinds and exporter.reads == "objects":
            raise InvalidInput(
                f"{exporter.name} exports whole objects; a kind filter applies to value formats",
                field="kind",
            )
        if self.kinds and exporter.kinds is not None:
            foreign = sorted(set(self.kinds) - exporter.kinds)
            if foreign:
                raise InvalidInput(
                    f"{exporter.name} cannot carry {', '.join(foreign)}; it carries "
                    f"{', '.join(sorted(exporter.kinds))}",
                    field="kind",
                )
        if self.min_score is not None and not 0 <= self.min_score <= 100:
            raise InvalidInput("min_score: expected 0 to 100", field="min_score")
        if any(not name for name in self.types):
            raise InvalidInput("type: an empty type name", field="type")

    def document(self) -> dict[str, Any]:
        """As JSON, for the audit entry and the report."""
        return {
            "max_tlp": self.max_tlp.label,
            "unmarked_tlp": self.unmarked_tlp.label,
            "types": list(self.types),
            "min_confidence": self.min_confidence,
            "since": _stamp(self.since) if self.since is not None else None,
            "kinds": list(self.kinds),
            "include_warninglisted": self.include_warninglisted,
            "include_revoked": self.include_revoked,
            "include_unmatchable": self.include_unmatchable,
            "all_versions": self.all_versions,
            "min_score": self.min_score,
            "include_expired": self.include_expired,
        }


@dataclass
class ExportReport:
    """What an export wrote and what it held back, by reason."""

    format: str
    objects: int = 0
    values: int = 0
    markings: int = 0  # TLP marking definitions added to a STIX bundle
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def skip(self, reason: str, count: int = 1) -> None:
        """Count ``count`` objects or values held back for ``reason``."""
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    @property
    def counts(self) -> dict[str, Any]:
        """The figures of the summary (what the audit entry keeps)."""
        return {
            "objects": self.objects,
            "values": self.values,
            "markings": self.markings,
            "skipped": dict(sorted(self.skipped.items())),
        }

    def document(self) -> dict[str, Any]:
        """As JSON."""
        return {"format": self.format, **self.counts, "seconds": round(self.seconds, 3)}


Writer = Callable[["Selection", BinaryTarget], None]


@dataclass(frozen=True)
class Exporter:
    """A named output format: what it reads, which value kinds it carries, how it writes.

    ``reads`` is ``"objects"`` (whole STIX objects) or ``"values"`` (normalised values);
    ``kinds`` lists the value kinds the format can carry (None: all), the others being
    counted as ``unsupported_kind``. Plugins publish an instance under the entry-point group
    ``watchkeeper.exporters``.
    """

    name: str
    summary: str
    write: Writer
    reads: Literal["objects", "values"] = "values"
    kinds: frozenset[str] | None = None
    media_type: str = "application/octet-stream"


class Sink:
    """Bytes gathered into blocks, so a target sees one write per 64 KiB instead of per row."""

    def __init__(self, target: BinaryTarget, *, block: int = BLOCK) -> None:
        self._target = target
        self._parts: list[bytes] = []
        self._size = 0
        self._block = block

    def write(self, data: bytes) -> None:
        """Queue ``data``; pass the block on once it is full."""
        self._parts.append(data)
        self._size += len(data)
        if self._size >= self._block:
            self.flush()

    def flush(self) -> None:
        """Pass on what is queued."""
        if self._parts:
            self._target.write(b"".join(self._parts))
            self._parts.clear()
            self._size = 0


def _stamp(moment: datetime) -> str:
    """The stored timestamp form (UTC, microseconds, Z), so text order is time order."""
    return stix_time(moment)


class Selection:
    """The rows an exporter may write under the filters, and the report it adds to."""

    def __init__(
        self,
        connection: Connection,
        *,
        exporter: Exporter,
        filters: ExportFilters,
        report: ExportReport,
        now: datetime,
        progress: Progress | None = None,
        scoring: ScoringPolicy | None = None,
    ) -> None:
        self.exporter = exporter
        self.filters = filters
        self.report = report
        self.now = now
        self._connection = connection
        self._progress = progress
        self._gate = ScoreGate(
            connection,
            policy=scoring or ScoringPolicy(),
            now=now,
            min_score=filters.min_score,
            include_expired=filters.include_expired,
        )

    def skip(self, reason: str, count: int = 1) -> None:
        """Count what the writer itself holds back (duplicates, forms it cannot express)."""
        self.report.skip(reason, count)

    def objects(self) -> Iterator[ObjectRow]:
        """Releasable object versions in commit order, after counting the withheld ones."""
        o = StixObject
        where = self._object_filters(default_types=())
        reason = self._reasons([])
        self._count_withheld(select(reason.label("reason")).where(*where))
        statement = select(
            o.id, o.type, o.doc, *self._gate.columns(self._connection.dialect.name)
        ).where(*where, reason.is_(None))
        rows = self._stream(statement.order_by(o.seq), tuple)
        yield from (
            ObjectRow._make(row[:3])
            for row in self._gate.filter(rows, extra_at=3, skip=self.report.skip)
        )

    def values(self) -> Iterator[ValueRow]:
        """Releasable values ordered by kind and value (newest object first within a value)."""
        o, v = StixObject, IndicatorValue
        where = [*self._object_filters(default_types=("indicator",))]
        if self.filters.kinds:
            where.append(v.kind.in_(self.filters.kinds))
        more: list[tuple[ColumnElement[bool], str]] = []
        if not self.filters.include_unmatchable:
            more.append((o.matchable.is_(False), "not_matchable"))
        if not self.filters.include_warninglisted:
            more.append((v.warninglists.is_not(None), "warninglisted"))
        if self.exporter.kinds is not None:
            more.append((v.kind.not_in(sorted(self.exporter.kinds)), "unsupported_kind"))
        reason = self._reasons(more)
        joined = (
            select(reason.label("reason"))
            .select_from(v)
            .join(o, o.seq == v.object_seq)
            .where(*where)
        )
        self._count_withheld(joined)
        statement = (
            select(
                v.kind,
                v.value,
                o.id,
                o.tlp,
                o.confidence,
                o.modified,
                *self._gate.columns(self._connection.dialect.name),
            )
            .join(o, o.seq == v.object_seq)
            .where(*where, reason.is_(None))
            .order_by(v.kind, v.value, o.modified.desc(), o.seq.desc())
        )
        rows = self._stream(statement, tuple)
        yield from (
            ValueRow._make(row[:6])
            for row in self._gate.filter(rows, extra_at=6, skip=self.report.skip)
        )

    def distinct_values(self) -> Iterator[ValueRow]:
        """``values()`` once per (kind, value), from its newest object; repeats are counted."""
        previous: tuple[str, str] | None = None
        for row in self.values():
            key = (row.kind, row.value)
            if key == previous:
                self.report.skip("duplicate")
                continue
            previous = key
            yield row

    # --- SQL ------------------------------------------------------------------------------

    def _object_filters(self, *, default_types: tuple[str, ...]) -> list[ColumnElement[bool]]:
        o, f = StixObject, self.filters
        where: list[ColumnElement[bool]] = []
        if not f.all_versions:
            where.append(o.current.is_(True))
        types = f.types or default_types
        if types:
            where.append(o.type.in_(types))
        if f.min_confidence is not None:
            where.append(o.confidence >= f.min_confidence)
        if f.since is not None:
            where.append(o.modified >= _stamp(f.since))
        return where

    def _withheld_tlp(self) -> ColumnElement[bool]:
        return withheld_by_tlp(max_tlp=self.filters.max_tlp, unmarked_tlp=self.filters.unmarked_tlp)

    def _reasons(self, more: list[tuple[ColumnElement[bool], str]]) -> ColumnElement[Any]:
        """The first reason a row is withheld, NULL if it may go (CASE keeps NULLs apart)."""
        whens: list[tuple[ColumnElement[bool], str]] = [(self._withheld_tlp(), "tlp")]
        if not self.filters.include_revoked:
            whens.append((StixObject.revoked.is_(True), "revoked"))
        whens += more
        return case(*((when, literal(name, String())) for when, name in whens))

    def _count_withheld(self, reasons: Select[Any]) -> None:
        rows = reasons.subquery()
        counted = (
            select(rows.c.reason, func.count())
            .where(rows.c.reason.is_not(None))
            .group_by(rows.c.reason)
        )
        for name, count in self._connection.execute(counted):
            self.report.skip(name, count)

    def _stream(self, statement: Executable, make: Callable[[Any], Any]) -> Iterator[Any]:
        read = 0
        result = self._connection.execute(statement, execution_options={"yield_per": CHUNK})
        for chunk in result.partitions():
            for row in chunk:
                yield make(row)
            read += len(chunk)
            if self._progress is not None:
                self._progress(read)
