"""Threat intelligence: the STIX 2.1 store, imports and exports, TLP, warninglists, scoring."""

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
from watchkeeper.intel.models import ImportRun, IndicatorValue, Provenance, StixObject
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
    "ImportReport",
    "ImportRun",
    "IndicatorValue",
    "Input",
    "Item",
    "Provenance",
    "Reader",
    "Reject",
    "StixObject",
    "Warninglist",
    "WarninglistMatcher",
    "default_warninglists",
    "detect_format",
    "expand",
    "import_stix",
    "intel_stats",
    "load_warninglist",
    "load_warninglists",
    "lookup",
    "parse_warninglist",
    "read_warninglist",
    "run_import",
    "stix_reader",
]
