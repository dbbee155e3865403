"""Exporting intelligence: the registry of formats and the one use case every entry point calls.

Exporters are looked up by name in an :class:`ExporterRegistry`. The built-in formats are
registered exactly as plugins are: ``default_exporters()`` registers them, then every
:class:`Exporter` published under the entry-point group ``watchkeeper.exporters``, so a plugin
is a package with one entry point, and cannot replace a built-in by taking its name.

An export reads one consistent snapshot (REPEATABLE READ on PostgreSQL, one read transaction on
SQLite), streams what the release policy allows into the target, and is audited: one
``intel.export`` entry and event with the format, the filters and the counts. Data may have
left before a failure, so a failed export is audited too (outcome ``failed``, counts so far).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from importlib.metadata import entry_points

from watchkeeper.core import Clock
from watchkeeper.errors import Conflict, InvalidInput, WatchkeeperError
from watchkeeper.intel.export_formats import CSV, RPZ, STIX, TEXT, ZEEK
from watchkeeper.intel.export_selection import (
    BinaryTarget,
    Exporter,
    ExportFilters,
    ExportReport,
    Progress,
    Selection,
)
from watchkeeper.intel.export_suricata import SURICATA
from watchkeeper.intel.scoring import ScoringPolicy
from watchkeeper.security import record, record_change
from watchkeeper.store import Database

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "watchkeeper.exporters"
BUILTIN_EXPORTERS: tuple[Exporter, ...] = (STIX, CSV, TEXT, SURICATA, ZEEK, RPZ)
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class ExporterRegistry:
    """Exporters by name; a name is taken once."""

    def __init__(self) -> None:
        self._exporters: dict[str, Exporter] = {}

    def register(self, exporter: Exporter) -> None:
        """Add ``exporter``; ``Conflict`` if its name is taken, ``InvalidInput`` if malformed."""
        if not NAME.match(exporter.name):
            raise InvalidInput(
                f"exporter name {exporter.name!r}: lower-case letters, digits and hyphens",
                field="name",
            )
        if exporter.name in self._exporters:
            raise Conflict(f"an exporter named {exporter.name!r} is already registered")
        self._exporters[exporter.name] = exporter

    def get(self, name: str) -> Exporter:
        """The exporter called ``name``; ``InvalidInput`` listing the known names otherwise."""
        found = self._exporters.get(name)
        if found is None:
            raise InvalidInput(
                f"unknown export format {name!r}; known: {', '.join(self.names())}",
                field="format",
                value=name,
                expected=self.names(),
            )
        return found

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._exporters)

    def __iter__(self) -> Iterator[Exporter]:
        return iter(self._exporters[name] for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._exporters


def default_exporters() -> ExporterRegistry:
    """The built-in exporters, then the installed plugins (a broken plugin is logged, skipped)."""
    registry = ExporterRegistry()
    for exporter in BUILTIN_EXPORTERS:
        registry.register(exporter)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            plugin = entry.load()
            if not isinstance(plugin, Exporter):
                raise TypeError(f"{entry.value} is not an Exporter")
            registry.register(plugin)
        except Exception:  # a plugin must not stop the built-ins
            log.warning("exporter plugin %s not registered", entry.name, exc_info=True)
    return registry


def export(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    format: str,
    target: BinaryTarget,
    filters: ExportFilters | None = None,
    exporters: ExporterRegistry | None = None,
    progress: Progress | None = None,
    scoring: ScoringPolicy | None = None,
) -> ExportReport:
    """Write what ``filters`` select, in ``format``, to ``target``; the report says what went.

    Bad filters or an unknown format are refused before anything is written. ``progress`` is
    called with the number of rows read so far, once per chunk. ``scoring`` is the node's
    scoring policy (default settings otherwise), for the expiry and ``min_score`` tests.
    """
    chosen_filters = filters or ExportFilters()
    report = ExportReport(format=format)
    started = time.perf_counter()
    try:
        exporter = (exporters or default_exporters()).get(format)
        chosen_filters.check(exporter)
        with database.connection() as connection:
            if connection.dialect.name == "postgresql":
                # The withheld counts and the rows come from two queries: one snapshot for both.
                connection.execution_options(isolation_level="REPEATABLE READ")
            selection = Selection(
                connection,
                exporter=exporter,
                filters=chosen_filters,
                report=report,
                now=clock.now(),
                progress=progress,
                scoring=scoring,
            )
            exporter.write(selection, target)
    except BaseException as exc:
        report.seconds = time.perf_counter() - started
        _audit_failure(
            database, clock=clock, actor=actor, report=report, filters=chosen_filters, error=exc
        )
        raise
    report.seconds = time.perf_counter() - started
    with database.transaction() as session:
        record_change(
            session,
            clock=clock,
            actor=actor,
            action="intel.export",
            subject=None,
            detail={
                "format": format,
                "filters": chosen_filters.document(),
                "counts": report.counts,
            },
        )
    return report


def _audit_failure(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    report: ExportReport,
    filters: ExportFilters,
    error: BaseException,
) -> None:
    reason = error.message if isinstance(error, WatchkeeperError) else type(error).__name__
    try:
        with database.transaction() as session:
            record(
                session,
                clock=clock,
                actor=actor,
                action="intel.export",
                outcome="failed",
                detail={
                    "format": report.format,
                    "filters": filters.document(),
                    "counts": report.counts,
                    "error": reason,
                },
            )
    except Exception:  # the export's own error matters more than a failed audit write
        log.warning("could not audit the failed intel.export", exc_info=True)
