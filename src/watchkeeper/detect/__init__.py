"""Detection: telemetry matched against the indicator index (exact, parent domain, CIDR)."""

from watchkeeper.detect.index import KINDS, IndicatorIndex, Memory
from watchkeeper.detect.matching import FIELDS, Matches, match_column, match_frame

__all__ = [
    "FIELDS",
    "KINDS",
    "IndicatorIndex",
    "Matches",
    "Memory",
    "match_column",
    "match_frame",
]
