"""Zeek logs, in both of Zeek's writers: TSV with ``#`` headers, and JSON lines.

The TSV writer announces everything the reader needs in its header (separator, set separator,
the unset and empty markers, the log path, the field names), and may repeat the header in the
middle of a stream when logs are concatenated; a header is obeyed wherever it appears. Column
counts are checked for all lines at once (separators counted with NumPy) so a ragged line is
reported instead of silently shifting or padding fields. JSON logs name their log in ``_path``
when Zeek is told to; otherwise the file name (``dns.log``) or the fields present tell.
"""

from __future__ import annotations

import io
import re

import numpy as np
import polars as pl

from watchkeeper.detect.fields import DATASET, LINE, MODULE, TIMESTAMP
from watchkeeper.detect.telemetry_columns import EPOCH, ISO, flatten, json_lines, rename, times
from watchkeeper.detect.telemetry_lines import Chunk, Malformed

COMMON = {
    "id.orig_h": "source.ip",
    "id.orig_p": "source.port",
    "id.resp_h": "destination.ip",
    "id.resp_p": "destination.port",
}
LOGS: dict[str, dict[str, str]] = {
    "conn": {"proto": "network.transport", "service": "network.protocol"},
    "dns": {
        "query": "dns.question.name",
        "qtype_name": "dns.question.type",
        "answers": "dns.answers",
        "rcode_name": "dns.response_code",
        "proto": "network.transport",
    },
    "http": {
        "method": "http.request.method",
        "host": "url.domain",
        "uri": "url.path",
        "status_code": "http.response.status_code",
        "user_agent": "user_agent.original",
        "username": "user.name",
    },
    "ssl": {
        "server_name": "tls.server.name",
        "subject": "x509.subject.distinguished_name",
        "issuer": "x509.issuer.distinguished_name",
    },
    "files": {
        "filename": "file.name",
        "mime_type": "file.mime_type",
        "md5": "file.hash.md5",
        "sha1": "file.hash.sha1",
        "sha256": "file.hash.sha256",
    },
    "x509": {
        "certificate.subject": "x509.subject.distinguished_name",
        "certificate.issuer": "x509.issuer.distinguished_name",
        "certificate.serial": "x509.serial_number",
    },
}
KINDS = {
    "conn": ("network", "connection", None),
    "dns": ("dns", "protocol", "dns"),
    "http": ("web", "access", "http"),
    "ssl": ("network", "protocol", "tls"),
    "files": ("file", "info", None),
    "x509": ("certificate", "info", None),
}
KNOWN_LOGS = frozenset(LOGS) | {
    "notice", "weird", "dhcp", "smtp", "ssh", "ftp", "rdp", "smb_files", "smb_mapping",
    "kerberos", "ntlm", "dpd", "software", "known_hosts", "known_services", "intel", "pe",
    "ocsp", "tunnel", "sip", "snmp", "radius", "dce_rpc", "quic", "ldap", "analyzer",
}  # fmt: skip
IGNORED = ("ts", "_path", "_write_ts", "_system_name")
_NAME = re.compile(r"^([a-z0-9_]+)\.")


def log_from_name(name: str) -> str | None:
    """The log a file holds by Zeek's naming (``dns.log``, ``conn.2026-01-02-10-00-00.log.gz``)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    found = _NAME.match(base)
    return found.group(1) if found and found.group(1) in KNOWN_LOGS else None


def log_from_columns(columns: set[str]) -> str:
    """The log a JSON record comes from, judged by the fields it has."""
    if "query" in columns:
        return "dns"
    if "conn_state" in columns or "history" in columns:
        return "conn"
    if "method" in columns and "uri" in columns:
        return "http"
    if "server_name" in columns or "cipher" in columns:
        return "ssl"
    if "certificate.subject" in columns:
        return "x509"
    if "fuid" in columns and ("mime_type" in columns or "sha256" in columns):
        return "files"
    return "unknown"


def map_log(frame: pl.DataFrame, *, log: str) -> pl.DataFrame:
    """One Zeek log's rows (flattened, ``log.file.line`` set) in dictionary columns."""
    mapping = {**COMMON, **LOGS.get(log, {})}
    exprs = rename(frame, mapping=mapping, prefix=f"zeek.{log}.", skip=(*IGNORED, LINE))
    category, kind, protocol = KINDS.get(log, (None, "info", None))
    exprs[TIMESTAMP] = (
        times(frame, pl.col("ts"), formats=(EPOCH, ISO))
        if "ts" in frame.schema
        else pl.lit(None, pl.Datetime("us", "UTC"))
    )
    exprs[MODULE] = pl.lit("zeek")
    exprs[DATASET] = pl.lit(f"zeek.{log}" if log != "unknown" else "zeek")
    if category:
        exprs["event.category"] = pl.lit(category)
    exprs["event.type"] = pl.lit(kind)
    if protocol and "network.protocol" not in exprs:
        exprs["network.protocol"] = pl.lit(protocol)
    if log == "conn" and {"orig_bytes", "resp_bytes"} <= set(frame.columns):
        sent = pl.col("orig_bytes").cast(pl.Int64, strict=False)
        received = pl.col("resp_bytes").cast(pl.Int64, strict=False)
        exprs["network.bytes"] = (
            pl.when(sent.is_null() & received.is_null())
            .then(None)
            .otherwise(sent.fill_null(0) + received.fill_null(0))
            .cast(pl.String)
        )
    if log == "http" and "url.domain" in exprs and "url.path" in exprs:
        exprs["url.full"] = pl.concat_str(
            [pl.lit("http://"), exprs["url.domain"], exprs["url.path"]]
        )
    return frame.select(*(expr.alias(name) for name, expr in exprs.items()), pl.col(LINE))


def _unescape(value: str) -> str:
    return value.encode().decode("unicode_escape")


class ZeekParser:
    """Reads one Zeek log stream; TSV header state carries from chunk to chunk."""

    def __init__(self, *, name: str) -> None:
        self.name = name
        self.log = log_from_name(name)
        self.json: bool | None = None
        self.separator = "\t"
        self.set_separator = ","
        self.empty = "(empty)"
        self.unset = "-"
        self.fields: list[str] | None = None

    def parse(self, chunk: Chunk) -> tuple[pl.DataFrame, list[Malformed]]:
        """The chunk's events and its bad lines."""
        if self.json is None:
            starts = chunk.first_byte[~chunk.blank]
            if not len(starts):
                return pl.DataFrame(), []
            self.json = int(starts[0]) == ord("{")
        return self._json(chunk) if self.json else self._tsv(chunk)

    def _json(self, chunk: Chunk) -> tuple[pl.DataFrame, list[Malformed]]:
        frame, mask, bad = json_lines(chunk)
        if not frame.width:
            return pl.DataFrame(), bad
        frame = flatten(frame).with_columns(pl.Series(LINE, chunk.numbers(mask)))
        if "_path" in frame.columns:
            parts = frame.partition_by("_path", maintain_order=True, as_dict=True)
            frames = [
                map_log(part, log=str(key[0]) if key[0] is not None else self._guess(part))
                for key, part in parts.items()
            ]
            return pl.concat(frames, how="diagonal_relaxed").sort(LINE), bad
        return map_log(frame, log=self.log or self._guess(frame)), bad

    def _guess(self, frame: pl.DataFrame) -> str:
        present = {name for name in frame.columns if frame[name].null_count() < frame.height}
        return log_from_columns(present)

    def _header(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        if text.startswith("#separator"):
            parts = text.split(" ", 1)
            if len(parts) == 2:
                self.separator = _unescape(parts[1].strip())
            return
        key, _, value = text[1:].partition(self.separator)
        if key == "fields":
            self.fields = value.split(self.separator)
        elif key == "set_separator":
            self.set_separator = value
        elif key == "empty_field":
            self.empty = value
        elif key == "unset_field":
            self.unset = value
        elif key == "path":
            self.log = value

    def _tsv(self, chunk: Chunk) -> tuple[pl.DataFrame, list[Malformed]]:
        frames: list[pl.DataFrame] = []
        bad: list[Malformed] = []
        headers = np.flatnonzero(chunk.first_byte == ord("#")).tolist()
        start = 0
        for index in [*headers, len(chunk)]:
            if index > start:
                mask = np.zeros(len(chunk), np.bool_)
                mask[start:index] = ~chunk.blank[start:index]
                if mask.any():
                    frame = self._rows(chunk, mask, bad)
                    if frame is not None:
                        frames.append(frame)
            if index < len(chunk):
                self._header(chunk.line(index))
            start = index + 1
        if not frames:
            return pl.DataFrame(), bad
        return pl.concat(frames, how="diagonal_relaxed"), bad

    def _rows(self, chunk: Chunk, mask: np.ndarray, bad: list[Malformed]) -> pl.DataFrame | None:
        if self.fields is None or len(self.separator.encode()) != 1:
            reason = (
                "data line before the #fields header"
                if self.fields is None
                else f"unsupported separator {self.separator!r}"
            )
            bad.extend(Malformed(chunk.path, int(n), reason) for n in chunk.numbers(mask))
            return None
        expected = len(self.fields)
        found = chunk.count_byte(self.separator.encode()[0]) + 1
        ragged = mask & (found != expected)
        if ragged.any():
            for index in np.flatnonzero(ragged).tolist():
                bad.append(
                    Malformed(
                        chunk.path,
                        chunk.first_line + index,
                        f"expected {expected} fields, found {int(found[index])}",
                    )
                )
            mask = mask & ~ragged
            if not mask.any():
                return None
        names = [f"_{i}" for i in range(expected)]
        frame = pl.read_csv(
            io.BytesIO(chunk.select(mask)),
            separator=self.separator,
            has_header=False,
            new_columns=names,
            schema=dict.fromkeys(names, pl.String),
            quote_char=None,
            encoding="utf8-lossy",
        )
        if chunk.has_carriage:  # CRLF line ends: the "\r" sticks to the last field
            frame = frame.with_columns(pl.col(names[-1]).str.strip_suffix("\r"))
        unset, empty = self.unset, self.empty
        frame = frame.select(
            pl.when(pl.col(raw) == unset)
            .then(None)
            .when(pl.col(raw) == empty)
            .then(pl.lit(""))
            .otherwise(pl.col(raw))
            .alias(field)
            for raw, field in zip(names, self.fields, strict=True)
        ).with_columns(pl.Series(LINE, chunk.numbers(mask)))
        if self.set_separator != "," and "answers" in frame.columns:
            frame = frame.with_columns(pl.col("answers").str.replace_all(self.set_separator, ","))
        return map_log(frame, log=self.log or "unknown")
