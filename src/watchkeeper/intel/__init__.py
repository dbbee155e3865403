"""Threat intelligence: the STIX 2.1 store, imports and exports, TLP, warninglists, scoring."""

from watchkeeper.intel.active import MATCHED_KINDS, ActiveValue, active_values
from watchkeeper.intel.deletions import delete_versions
from watchkeeper.intel.export_selection import (
    Exporter,
    ExportFilters,
    ExportReport,
    Selection,
)
from watchkeeper.intel.exports import ExporterRegistry, default_exporters, export
from watchkeeper.intel.feed_definitions import (
    FEED_FORMATS,
    FeedSpec,
    builtin_definition,
    builtin_definitions,
    parse_definition,
    read_definition,
)
from watchkeeper.intel.feeds import add_feed, get_feed, list_feeds, pull_feed, remove_feed
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
from watchkeeper.intel.inputs import Input, expand, open_input
from watchkeeper.intel.lookup import explain_score, intel_stats, lookup
from watchkeeper.intel.misp_export import MispExport, export_misp_event, export_misp_feed
from watchkeeper.intel.misp_feed import feed_state, import_misp_feed
from watchkeeper.intel.misp_import import import_misp, misp_reader
from watchkeeper.intel.models import (
    FeedDefinition,
    ImportRun,
    IndicatorValue,
    MispFeedEvent,
    Provenance,
    StixObject,
)
from watchkeeper.intel.objects import object_versions, object_view
from watchkeeper.intel.queries import MAX_LIMIT, query_objects
from watchkeeper.intel.scoring import Score, ScoringPolicy
from watchkeeper.intel.sightings import (
    Observation,
    Recorded,
    record_sighting,
    report_false_positive,
    resolve,
    write_sightings,
)
from watchkeeper.intel.stix import TYPE as STIX_TYPE
from watchkeeper.intel.synthetic import indicators, write_bundle
from watchkeeper.intel.text_feeds import import_text, text_reader
from watchkeeper.intel.tlp_gate import tlp_withholds, withheld_by_tlp
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
    "FEED_FORMATS",
    "FORMATS",
    "MATCHED_KINDS",
    "MAX_LIMIT",
    "STIX_TYPE",
    "WARNINGLIST_KINDS",
    "ActiveValue",
    "ExportFilters",
    "ExportReport",
    "Exporter",
    "ExporterRegistry",
    "FeedDefinition",
    "FeedSpec",
    "ImportReport",
    "ImportRun",
    "IndicatorValue",
    "Input",
    "Item",
    "MispExport",
    "MispFeedEvent",
    "Observation",
    "Provenance",
    "Reader",
    "Recorded",
    "Reject",
    "Score",
    "ScoringPolicy",
    "Selection",
    "StixObject",
    "Warninglist",
    "WarninglistMatcher",
    "active_values",
    "add_feed",
    "builtin_definition",
    "builtin_definitions",
    "default_exporters",
    "default_warninglists",
    "delete_versions",
    "detect_format",
    "expand",
    "explain_score",
    "export",
    "export_misp_event",
    "export_misp_feed",
    "feed_state",
    "get_feed",
    "import_misp",
    "import_misp_feed",
    "import_stix",
    "import_text",
    "indicators",
    "intel_stats",
    "list_feeds",
    "load_warninglist",
    "load_warninglists",
    "lookup",
    "misp_reader",
    "object_versions",
    "object_view",
    "open_input",
    "parse_definition",
    "parse_warninglist",
    "pull_feed",
    "query_objects",
    "read_definition",
    "read_warninglist",
    "record_sighting",
    "remove_feed",
    "report_false_positive",
    "resolve",
    "run_import",
    "stix_reader",
    "text_reader",
    "tlp_withholds",
    "withheld_by_tlp",
    "write_bundle",
    "write_sightings",
]
