"""Suricata EVE JSON: one event per line, of many types, mapped in one columnar pass.

A chunk mixes event types (dns, http, tls, flow, alert, fileinfo...), so Polars infers one
schema over the whole chunk and every mapping below is an expression that simply yields null
on rows of other types. DNS records changed shape between EVE versions 2 (``rrname`` on the
record) and 3 (``queries``: a list of questions); both are read, the first present wins.
"""

from __future__ import annotations

import polars as pl

from watchkeeper.detect.fields import DATASET, LINE, MODULE, TIMESTAMP
from watchkeeper.detect.telemetry_columns import ISO, flatten, json_lines, rename, times
from watchkeeper.detect.telemetry_lines import Chunk, Malformed

MAPPING = {
    "src_ip": "source.ip",
    "src_port": "source.port",
    "dest_ip": "destination.ip",
    "dest_port": "destination.port",
    "app_proto": "network.protocol",
    "host": "host.name",
    "dns.rrname": "dns.question.name",
    "dns.rrtype": "dns.question.type",
    "dns.rcode": "dns.response_code",
    "http.hostname": "url.domain",
    "http.http_method": "http.request.method",
    "http.status": "http.response.status_code",
    "http.http_user_agent": "user_agent.original",
    "http.http_content_type": "file.mime_type",
    "tls.sni": "tls.server.name",
    "tls.subject": "x509.subject.distinguished_name",
    "tls.issuerdn": "x509.issuer.distinguished_name",
    "tls.serial": "x509.serial_number",
    "alert.signature": "rule.name",
    "alert.action": "event.outcome",
    "fileinfo.filename": "file.name",
    "fileinfo.md5": "file.hash.md5",
    "fileinfo.sha1": "file.hash.sha1",
    "fileinfo.sha256": "file.hash.sha256",
}
HANDLED = ("timestamp", "proto", "event_type", "http.url", LINE)
KINDS = {
    "dns": ("dns", "protocol"),
    "http": ("web", "access"),
    "tls": ("network", "protocol"),
    "flow": ("network", "connection"),
    "netflow": ("network", "connection"),
    "fileinfo": ("file", "info"),
    "alert": ("intrusion_detection", "info"),
}


def _list_field(frame: pl.DataFrame, column: str, field: str) -> pl.Expr | None:
    """Each row's list of objects reduced to one field of each, comma-joined."""
    dtype = frame.schema.get(column)
    if not isinstance(dtype, pl.List) or not isinstance(dtype.inner, pl.Struct):
        return None
    if field not in {f.name for f in dtype.inner.fields}:
        return None
    values = pl.col(column).list.eval(pl.element().struct.field(field).cast(pl.String))
    return pl.when(values.list.len() > 0).then(values.list.join(",")).otherwise(None)


def _first_field(frame: pl.DataFrame, column: str, field: str) -> pl.Expr | None:
    dtype = frame.schema.get(column)
    if not isinstance(dtype, pl.List) or not isinstance(dtype.inner, pl.Struct):
        return None
    if field not in {f.name for f in dtype.inner.fields}:
        return None
    return pl.col(column).list.first().struct.field(field).cast(pl.String)


def _grouped(frame: pl.DataFrame) -> pl.Expr | None:
    """EVE's ``grouped`` answers (``{"A": [...], "CNAME": [...]}``) as one joined list."""
    columns = [
        name
        for name, dtype in frame.schema.items()
        if name.startswith("dns.grouped.") and isinstance(dtype, pl.List)
    ]
    if not columns:
        return None
    joined = pl.concat_list([pl.col(c).cast(pl.List(pl.String)) for c in columns])
    return pl.when(joined.list.len() > 0).then(joined.list.join(",")).otherwise(None)


def _present(*exprs: pl.Expr | None) -> list[pl.Expr]:
    return [expr for expr in exprs if expr is not None]


def map_eve(frame: pl.DataFrame) -> pl.DataFrame:
    """EVE records (flattened, ``log.file.line`` set) in dictionary columns."""
    exprs = rename(frame, mapping=MAPPING, prefix="suricata.", skip=HANDLED)
    columns = frame.schema

    def text(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.String) if name in columns else pl.lit(None, pl.String)

    event_type = text("event_type")
    names = _present(exprs.get("dns.question.name"), _first_field(frame, "dns.queries", "rrname"))
    if names:
        exprs["dns.question.name"] = pl.coalesce(names)
    types = _present(exprs.get("dns.question.type"), _first_field(frame, "dns.queries", "rrtype"))
    if types:
        exprs["dns.question.type"] = pl.coalesce(types)
    answers = _present(
        _list_field(frame, "dns.answers", "rdata"),
        _grouped(frame),
        text("dns.rdata") if "dns.rdata" in columns else None,
    )
    if answers:
        exprs["dns.answers"] = pl.coalesce(answers)
        exprs.pop("suricata.dns.rdata", None)
    if "proto" in columns:
        exprs["network.transport"] = text("proto").str.to_lowercase()
    if "http.url" in columns:
        url = text("http.url")
        exprs["url.path"] = url
        host = exprs.get("url.domain", pl.lit(None, pl.String))
        exprs["url.full"] = (
            pl.when(url.str.starts_with("http://") | url.str.starts_with("https://"))
            .then(url)
            .otherwise(pl.concat_str([pl.lit("http://"), host, url]))
        )
    if {"flow.bytes_toserver", "flow.bytes_toclient"} <= set(columns):
        sent = pl.col("flow.bytes_toserver").cast(pl.Int64, strict=False)
        received = pl.col("flow.bytes_toclient").cast(pl.Int64, strict=False)
        exprs["network.bytes"] = (sent + received).cast(pl.String)
    category = event_type.replace_strict(
        {name: cat for name, (cat, _) in KINDS.items()}, default=None, return_dtype=pl.String
    )
    kind = event_type.replace_strict(
        {name: typ for name, (_, typ) in KINDS.items()}, default="info", return_dtype=pl.String
    )
    if "alert.action" in columns:
        action = text("alert.action")
        kind = (
            pl.when((event_type == "alert") & action.is_in(["blocked", "drop", "reject"]))
            .then(pl.lit("denied"))
            .when((event_type == "alert") & (action == "allowed"))
            .then(pl.lit("allowed"))
            .otherwise(kind)
        )
    exprs["event.category"] = category
    exprs["event.type"] = kind
    exprs[TIMESTAMP] = times(frame, text("timestamp"), formats=(ISO,))
    exprs[MODULE] = pl.lit("suricata")
    exprs[DATASET] = pl.concat_str([pl.lit("suricata."), event_type.fill_null("unknown")])
    return frame.select(*(expr.alias(name) for name, expr in exprs.items()), pl.col(LINE))


class SuricataParser:
    """Reads one EVE JSON stream."""

    def __init__(self, *, name: str) -> None:
        self.name = name

    def parse(self, chunk: Chunk) -> tuple[pl.DataFrame, list[Malformed]]:
        """The chunk's events and its bad lines."""
        frame, mask, bad = json_lines(chunk)
        if not frame.width:
            return pl.DataFrame(), bad
        frame = flatten(frame).with_columns(pl.Series(LINE, chunk.numbers(mask)))
        return map_eve(frame), bad
