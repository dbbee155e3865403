"""Web proxy and web server access logs: Squid's native format and the common/combined format.

Both are one request per line with positional fields, read with one regular expression applied
to the whole chunk at once (Polars ``extract_groups``); a line the expression does not match is
reported with its number, the others are kept.
"""

from __future__ import annotations

import io

import numpy as np
import polars as pl

from watchkeeper.detect.fields import DATASET, LINE, MODULE, TIMESTAMP
from watchkeeper.detect.telemetry_columns import EPOCH, times
from watchkeeper.detect.telemetry_lines import Chunk, Malformed

SQUID = (
    r"^\s*(?P<ts>\d+(?:\.\d+)?)\s+(?P<elapsed>-?\d+)\s+(?P<client>\S+)\s+"
    r"(?P<code>[A-Za-z_]+)/(?P<status>\d{1,3})\s+(?P<bytes>-?\d+)\s+(?P<method>\S+)\s+"
    r"(?P<url>\S+)\s+(?P<user>\S+)\s+(?P<hier>[A-Za-z_]+)/(?P<peer>\S+)\s+(?P<type>\S+)"
)
CLF = (
    r"^(?P<host>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}|-) (?P<bytes>\d+|-)'
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?'
)
CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"
_HOST = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?(\[[^\]]+\]|[^:/?#]+)"
_PATH = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([/?#].*)?$"
_ADDRESS = r"^[0-9A-Fa-f:.]+$"


def _unset(column: pl.Expr) -> pl.Expr:
    return pl.when(column == "-").then(None).otherwise(column)


def _lines(chunk: Chunk, mask: np.ndarray) -> pl.Series:
    """The picked lines as one text column (no splitting: an unlikely byte as separator)."""
    frame = pl.read_csv(
        io.BytesIO(chunk.select(mask)),
        separator="\x1f",
        has_header=False,
        new_columns=["line"],
        schema={"line": pl.String},
        quote_char=None,
        truncate_ragged_lines=True,
        encoding="utf8-lossy",
    )
    return frame["line"]


def _matched(chunk: Chunk, pattern: str, what: str) -> tuple[pl.DataFrame | None, list[Malformed]]:
    mask = ~chunk.blank
    if not mask.any():
        return None, []
    lines = _lines(chunk, mask)
    numbers = chunk.numbers(mask)
    groups = lines.str.extract_groups(pattern).struct.unnest()
    ok = groups[groups.columns[0]].is_not_null().to_numpy()
    bad = [
        Malformed(chunk.path, int(line), f"does not match the {what} format")
        for line in numbers[~ok].tolist()
    ]
    if not ok.any():
        return None, bad
    frame = groups.filter(pl.Series(ok)).with_columns(pl.Series(LINE, numbers[ok]))
    return frame, bad


def _url_parts(url: pl.Expr, method: pl.Expr) -> dict[str, pl.Expr]:
    absolute = url.str.contains(r"^[A-Za-z][A-Za-z0-9+.-]*://")
    connect = method == "CONNECT"
    return {
        "url.full": pl.when(absolute).then(url).otherwise(None),
        "url.domain": pl.when(absolute)
        .then(url.str.extract(_HOST, 1))
        .when(connect)
        .then(url.str.replace(r":\d+$", ""))
        .otherwise(None),
        "url.path": pl.when(absolute)
        .then(url.str.extract(_PATH, 1))
        .when(connect)
        .then(None)
        .otherwise(url),
    }


class SquidParser:
    """Squid's native access.log: time elapsed client code/status bytes method URL user
    hierarchy/peer type."""

    def __init__(self, *, name: str) -> None:
        self.name = name

    def parse(self, chunk: Chunk) -> tuple[pl.DataFrame, list[Malformed]]:
        """The chunk's requests and its bad lines."""
        frame, bad = _matched(chunk, SQUID, "squid access.log")
        if frame is None:
            return pl.DataFrame(), bad
        code, peer = pl.col("code"), pl.col("peer")
        denied = code.str.contains("DENIED")
        exprs = {
            TIMESTAMP: times(frame, pl.col("ts"), formats=(EPOCH,)),
            MODULE: pl.lit("squid"),
            DATASET: pl.lit("proxy.squid"),
            "event.category": pl.lit("web"),
            "event.type": pl.when(denied).then(pl.lit("denied")).otherwise(pl.lit("access")),
            "event.outcome": pl.when(denied).then(pl.lit("failure")).otherwise(pl.lit("success")),
            "event.code": code,
            "source.ip": pl.col("client"),
            "destination.ip": pl.when(peer.str.contains(_ADDRESS)).then(peer).otherwise(None),
            "network.bytes": pl.col("bytes"),
            "http.request.method": pl.col("method"),
            "http.response.status_code": pl.col("status"),
            "user.name": _unset(pl.col("user")),
            "file.mime_type": _unset(pl.col("type")),
            **_url_parts(pl.col("url"), pl.col("method")),
        }
        return frame.select(*(e.alias(n) for n, e in exprs.items()), pl.col(LINE)), bad


class ClfParser:
    """The common and combined log formats of web servers."""

    def __init__(self, *, name: str) -> None:
        self.name = name

    def parse(self, chunk: Chunk) -> tuple[pl.DataFrame, list[Malformed]]:
        """The chunk's requests and its bad lines."""
        frame, bad = _matched(chunk, CLF, "common/combined log")
        if frame is None:
            return pl.DataFrame(), bad
        request = pl.col("request").str.extract_groups(
            r"^(?P<method>[A-Za-z]+) (?P<target>\S+)(?: (?P<protocol>\S+))?$"
        )
        frame = frame.with_columns(request.alias("_request")).unnest("_request")
        status = _unset(pl.col("status"))
        exprs = {
            TIMESTAMP: times(frame, pl.col("time"), formats=(CLF_TIME,)),
            MODULE: pl.lit("clf"),
            DATASET: pl.lit("proxy.clf"),
            "event.category": pl.lit("web"),
            "event.type": pl.lit("access"),
            "event.outcome": pl.when(status.cast(pl.Int32, strict=False) >= 400)
            .then(pl.lit("failure"))
            .otherwise(pl.when(status.is_not_null()).then(pl.lit("success"))),
            "source.ip": pl.col("host"),
            "user.name": _unset(pl.col("user")),
            "http.request.method": pl.col("method"),
            "http.response.status_code": status,
            "network.bytes": _unset(pl.col("bytes")),
            "user_agent.original": _unset(pl.col("agent")),
            **_url_parts(pl.col("target"), pl.col("method")),
        }
        return frame.select(*(e.alias(n) for n, e in exprs.items()), pl.col(LINE)), bad
