"""The one field dictionary every telemetry reader maps to (ECS-style names), as data.

Readers of seven formats feed the same matchers, rules and analytics; agreeing on one set of
column names here, once, is what lets a Sigma rule or a beacon search ignore where an event
came from. Every column is text except the event time and the source line number, so a frame
from Zeek and one from Sysmon concatenate without casts and no reader guesses types wrongly
(a port, a PID or an EventID is compared as text by rules anyway).

Fields a format carries but the dictionary does not name are kept, not lost, under a prefix of
their origin: ``winlog.event_data.<Name>``, ``zeek.<log>.<field>``, ``suricata.<path>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import polars as pl

TIMESTAMP = "@timestamp"
LINE = "log.file.line"
PATH = "log.file.path"
MODULE = "event.module"
DATASET = "event.dataset"
ALWAYS = (TIMESTAMP, MODULE, DATASET, PATH, LINE)
EXTENSION_PREFIXES = ("winlog.event_data.", "zeek.", "suricata.")

MODULES = ("zeek", "suricata", "sysmon", "squid", "clf", "jsonl", "csv")
CATEGORIES = (
    "process",
    "network",
    "dns",
    "web",
    "file",
    "authentication",
    "registry",
    "intrusion_detection",
    "certificate",
)
TYPES = (
    "start",
    "connection",
    "protocol",
    "access",
    "creation",
    "deletion",
    "change",
    "info",
    "denied",
    "allowed",
)

_S = "string"
_ROWS: tuple[tuple[str, str, str], ...] = (
    (TIMESTAMP, "datetime", "When the event happened, UTC, microseconds"),
    (MODULE, _S, "Reader that produced the event: " + ", ".join(MODULES)),
    (DATASET, _S, "Log within the module, e.g. zeek.dns, suricata.alert, sysmon, proxy.squid"),
    ("event.category", _S, "Kind of event: " + ", ".join(CATEGORIES)),
    ("event.type", _S, "What happened: " + ", ".join(TYPES)),
    ("event.code", _S, "Source-specific event code, e.g. the Sysmon EventID"),
    ("event.outcome", _S, "success, failure or the source's own verdict (e.g. an alert action)"),
    ("source.ip", _S, "Address of the side that opened the connection or sent the request"),
    ("source.port", _S, "Port of the source"),
    ("destination.ip", _S, "Address of the side that was contacted"),
    ("destination.port", _S, "Port of the destination"),
    ("network.transport", _S, "tcp, udp, icmp... (lower case)"),
    ("network.protocol", _S, "Application protocol: dns, http, tls..."),
    ("network.bytes", _S, "Bytes transferred in both directions"),
    ("dns.question.name", _S, "Name that was queried"),
    ("dns.question.type", _S, "Record type queried: A, AAAA, TXT..."),
    ("dns.answers", _S, "Answer data, comma-joined"),
    ("dns.response_code", _S, "NOERROR, NXDOMAIN... (or the source's status text)"),
    ("url.full", _S, "Complete URL"),
    ("url.domain", _S, "Host part of the URL (or HTTP Host header)"),
    ("url.path", _S, "Path and query of the URL"),
    ("http.request.method", _S, "GET, POST, CONNECT..."),
    ("http.response.status_code", _S, "HTTP status"),
    ("user_agent.original", _S, "User-Agent header as sent"),
    ("tls.server.name", _S, "Server name indication"),
    ("x509.subject.distinguished_name", _S, "Certificate subject"),
    ("x509.issuer.distinguished_name", _S, "Certificate issuer"),
    ("x509.serial_number", _S, "Certificate serial number"),
    ("file.name", _S, "File name without its directory"),
    ("file.path", _S, "Full file path"),
    ("file.mime_type", _S, "MIME type of the file or content"),
    ("file.hash.md5", _S, "MD5 of the file"),
    ("file.hash.sha1", _S, "SHA-1 of the file"),
    ("file.hash.sha256", _S, "SHA-256 of the file"),
    ("process.executable", _S, "Full path of the process image"),
    ("process.name", _S, "Image file name without its directory"),
    ("process.command_line", _S, "Command line of the process"),
    ("process.pid", _S, "Process id"),
    ("process.parent.executable", _S, "Full path of the parent's image"),
    ("process.parent.name", _S, "Parent image file name"),
    ("process.parent.command_line", _S, "Command line of the parent"),
    ("process.parent.pid", _S, "Parent process id"),
    ("process.working_directory", _S, "Current directory of the process"),
    ("process.hash.md5", _S, "MD5 of the process image (Sysmon Hashes)"),
    ("process.hash.sha1", _S, "SHA-1 of the process image (Sysmon Hashes)"),
    ("process.hash.sha256", _S, "SHA-256 of the process image (Sysmon Hashes)"),
    ("user.name", _S, "Account name, as the source writes it (DOMAIN\\user or user)"),
    ("host.name", _S, "Host that recorded the event"),
    ("rule.name", _S, "Name of the rule that produced or tagged the event"),
    ("organization.name", _S, "Organisation named by the event (e.g. a binary's company)"),
    ("registry.path", _S, "Registry key or value path"),
    (PATH, _S, "File the event was read from (<stdin> for standard input)"),
    (LINE, "integer", "1-based line number of the event in that file"),
)

FIELDS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {name: (kind, description) for name, kind, description in _ROWS}
)
"""name -> (type, description), in display order."""

NAMES: tuple[str, ...] = tuple(FIELDS)
TIMESTAMP_TYPE = pl.Datetime("us", "UTC")


def dtype(name: str) -> pl.DataType:
    """The Polars type of a column: text, except the event time and the line number."""
    if name == TIMESTAMP:
        return TIMESTAMP_TYPE
    if name == LINE:
        return pl.Int64()
    return pl.String()


def is_known(name: str) -> bool:
    """A dictionary name, or an extension column kept under its origin's prefix."""
    return name in FIELDS or name.startswith(EXTENSION_PREFIXES)


def column_order(names: list[str]) -> list[str]:
    """Dictionary columns in dictionary order, then extension columns sorted."""
    present = set(names)
    known = [name for name in NAMES if name in present]
    return known + sorted(present.difference(known))


def dictionary_markdown() -> str:
    """The dictionary as a Markdown table, as published in docs/telemetry-fields.md."""
    rows = ["| Field | Type | Meaning |", "|---|---|---|"]
    rows += [f"| `{name}` | {kind} | {text} |" for name, (kind, text) in FIELDS.items()]
    return "\n".join(rows) + "\n"
