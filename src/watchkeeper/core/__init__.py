"""Pure vocabulary shared by every layer: time, identifiers, canonical JSON. No I/O here."""

from watchkeeper.core.canonical import canonical_json, sha256_hex
from watchkeeper.core.clock import Clock, FixedClock, SystemClock, utc
from watchkeeper.core.ids import new_id

__all__ = [
    "Clock",
    "FixedClock",
    "SystemClock",
    "canonical_json",
    "new_id",
    "sha256_hex",
    "utc",
]
