"""The telemetry formats the readers know, and telling them apart from a file's first bytes.

Each format is a name, a one-line description, a sniffer (does this sample look like mine?)
and a parser factory. ``--format auto`` asks the sniffers in a fixed order, most specific
first; the generic ``jsonl`` and ``csv`` never claim a file on their own, since without the
analyst's mapping file their columns mean nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import orjson
import polars as pl

from watchkeeper.detect.telemetry_access import CLF, SQUID, ClfParser, SquidParser
from watchkeeper.detect.telemetry_lines import Chunk, Malformed
from watchkeeper.detect.telemetry_mapping import CsvParser, FieldMapping, JsonlParser
from watchkeeper.detect.telemetry_suricata import SuricataParser
from watchkeeper.detect.telemetry_sysmon import SysmonParser
from watchkeeper.detect.telemetry_zeek import ZeekParser, log_from_name
from watchkeeper.errors import InvalidInput


class Parser(Protocol):
    """Reads one stream chunk by chunk; may keep state between chunks (e.g. a header)."""

    def parse(self, chunk: Chunk) -> tuple[pl.DataFrame, list[Malformed]]:
        """The chunk's events (dictionary columns and ``log.file.line``) and its bad lines."""
        ...


@dataclass(frozen=True)
class TelemetryFormat:
    """One format: how to recognise it and how to read it."""

    name: str
    description: str
    sniff: Callable[[bytes, str], bool]
    open_parser: Callable[[str, FieldMapping | None], Parser]
    needs_mapping: bool = False


def _first_lines(sample: bytes, count: int = 3) -> list[bytes]:
    lines = [line.strip() for line in sample.split(b"\n")[:50]]
    return [line for line in lines if line][:count]


def _first_object(sample: bytes) -> dict[str, Any] | None:
    for line in _first_lines(sample, 1):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None
    return None


def _zeek(sample: bytes, name: str) -> bool:
    if sample.startswith(b"#separator") or b"\n#fields\t" in sample[:65536]:
        return True
    record = _first_object(sample)
    if record is None:
        return False
    if "_path" in record or "id.orig_h" in record:
        return True
    nested = record.get("id")
    if isinstance(nested, dict) and "orig_h" in nested:
        return True
    return "ts" in record and ("uid" in record or "fuid" in record or bool(log_from_name(name)))


def _suricata(sample: bytes, name: str) -> bool:
    record = _first_object(sample)
    return record is not None and "event_type" in record and "timestamp" in record


def _sysmon(sample: bytes, name: str) -> bool:
    record = _first_object(sample)
    if record is None:
        return False
    if "EventID" in record or isinstance(record.get("winlog"), dict):
        return True
    event = record.get("Event")
    return isinstance(event, dict) and isinstance(event.get("System"), dict)


def _matches(pattern: str) -> Callable[[bytes, str], bool]:
    compiled = re.compile(pattern.encode())

    def sniff(sample: bytes, name: str) -> bool:
        lines = _first_lines(sample)
        return bool(lines) and all(compiled.match(line) for line in lines[:-1] or lines)

    return sniff


def _never(sample: bytes, name: str) -> bool:
    return False


def _plain(factory: Callable[..., Parser]) -> Callable[[str, FieldMapping | None], Parser]:
    return lambda name, mapping: factory(name=name)


def _mapped(factory: Callable[..., Parser]) -> Callable[[str, FieldMapping | None], Parser]:
    def open_parser(name: str, mapping: FieldMapping | None) -> Parser:
        assert mapping is not None  # checked by the reader before any parser opens
        return factory(name=name, mapping=mapping)

    return open_parser


TELEMETRY_FORMATS: Mapping[str, TelemetryFormat] = MappingProxyType(
    {
        fmt.name: fmt
        for fmt in (
            TelemetryFormat(
                "zeek",
                "Zeek logs (conn, dns, http, ssl, files, x509...), TSV or JSON",
                _zeek,
                _plain(ZeekParser),
            ),
            TelemetryFormat(
                "suricata", "Suricata EVE JSON (dns, http, tls, flow, alert, fileinfo)",
                _suricata, _plain(SuricataParser),
            ),
            TelemetryFormat(
                "sysmon", "Sysmon / Windows events as JSON lines (flat, Winlogbeat, Event XML)",
                _sysmon, _plain(SysmonParser),
            ),
            TelemetryFormat(
                "squid", "Squid native access.log", _matches(SQUID), _plain(SquidParser)
            ),
            TelemetryFormat(
                "clf", "Web server common/combined log format", _matches(CLF), _plain(ClfParser)
            ),
            TelemetryFormat(
                "jsonl", "Any JSON lines, with a mapping file", _never, _mapped(JsonlParser),
                needs_mapping=True,
            ),
            TelemetryFormat(
                "csv", "Any CSV with a header row, with a mapping file", _never,
                _mapped(CsvParser), needs_mapping=True,
            ),
        )
    }
)  # fmt: skip


def supported() -> str:
    """The format names, for messages."""
    return ", ".join(TELEMETRY_FORMATS)


def telemetry_format(name: str) -> TelemetryFormat:
    """The format called ``name``; an unknown name lists the supported ones."""
    found = TELEMETRY_FORMATS.get(name)
    if found is None:
        raise InvalidInput(
            f"unknown telemetry format {name!r}; supported: auto, {supported()}",
            field="format",
        )
    return found


def detect_telemetry_format(*, sample: bytes, name: str) -> str:
    """The format whose sniffer recognises the first bytes of a file called ``name``."""
    for fmt in TELEMETRY_FORMATS.values():
        if fmt.sniff(sample, name):
            return fmt.name
    raise InvalidInput(
        f"{name}: cannot tell the telemetry format; supported: {supported()} "
        "(jsonl and csv need an explicit format and a mapping file)",
        file=name,
    )
