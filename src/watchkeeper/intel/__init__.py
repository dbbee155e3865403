"""Threat intelligence: the STIX 2.1 store, imports and exports, TLP, warninglists, scoring."""

from watchkeeper.intel.export_selection import (
    Exporter,
    ExportFilters,
    ExportReport,
    Selection,
)
from watchkeeper.intel.exports import ExporterRegistry, default_exporters, export
from watchkeeper.intel.formats import FORMATS, detect_format
from watchkeeper.intel.imports import (
    ImportReport,
    Item,
    Reader,
    Reject,
    import_stix,
    run_import,
    stix_reader,
)
from watchkeeper.intel.inputs import Input, expand
from watchkeeper.intel.lookup import intel_stats, lookup
from watchkeeper.intel.misp_export import MispExport, export_misp_event, export_misp_feed
from watchkeeper.intel.misp_feed import feed_state, import_misp_feed
from watchkeeper.intel.misp_import import import_misp, misp_reader
from watchkeeper.intel.models import (
    ImportRun,
    IndicatorValue,
    MispFeedEvent,
    Provenance,
    StixObject,
)
from watchkeeper.intel.warninglist_files import KINDS as WARNINGLIST_KINDS
from watchkeeper.intel.warninglist_files import (
    Warninglist,
    default_warninglists,
    load_warninglist,
    load_warninglists,
    parse_warninglist,
    read_warninglist,
)
from watchkeeper.intel.warninglists import WarninglistMatcher

__all__ = [
    "FORMATS",
    "WARNINGLIST_KINDS",
    "ExportFilters",
    "ExportReport",
    "Exporter",
    "ExporterRegistry",
    "ImportReport",
    "ImportRun",
    "IndicatorValue",
    "Input",
    "Item",
    "MispExport",
    "MispFeedEvent",
    "Provenance",
    "Reader",
    "Reject",
    "Selection",
    "StixObject",
    "Warninglist",
    "WarninglistMatcher",
    "default_exporters",
    "default_warninglists",
    "detect_format",
    "expand",
    "export",
    "export_misp_event",
    "export_misp_feed",
    "feed_state",
    "import_misp",
    "import_misp_feed",
    "import_stix",
    "intel_stats",
    "load_warninglist",
    "load_warninglists",
    "lookup",
    "misp_reader",
    "parse_warninglist",
    "read_warninglist",
    "run_import",
    "stix_reader",
]
