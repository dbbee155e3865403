"""Detection: telemetry read into frames, matched against the indicator index and Sigma rules,
scored by analytics that need no indicator; hits become alerts and sightings.

pySigma (slow to import) is loaded only by the modules that evaluate rules: ``sigma_rules``,
``sigma_hits`` and ``rule_hits``.
"""

from watchkeeper.detect.alerts import AlertCounts, alert_summary, write_alerts
from watchkeeper.detect.detector import Detector, rule_paths, telemetry_root
from watchkeeper.detect.fields import FIELDS as TELEMETRY_FIELDS
from watchkeeper.detect.formats import TELEMETRY_FORMATS, detect_telemetry_format
from watchkeeper.detect.hunt import hunt, parse_since
from watchkeeper.detect.index import KINDS, IndicatorIndex, Memory
from watchkeeper.detect.live import LiveIndex
from watchkeeper.detect.matching import FIELDS, Matches, match_column, match_frame
from watchkeeper.detect.runs import RunReport, run_detection
from watchkeeper.detect.telemetry import Batch, Malformed, read_stream, read_telemetry

__all__ = [
    "FIELDS",
    "KINDS",
    "TELEMETRY_FIELDS",
    "TELEMETRY_FORMATS",
    "AlertCounts",
    "Batch",
    "Detector",
    "IndicatorIndex",
    "LiveIndex",
    "Malformed",
    "Matches",
    "Memory",
    "RunReport",
    "alert_summary",
    "detect_telemetry_format",
    "hunt",
    "match_column",
    "match_frame",
    "parse_since",
    "read_stream",
    "read_telemetry",
    "rule_paths",
    "run_detection",
    "telemetry_root",
    "write_alerts",
]
