"""Sysmon (and other Windows event) records as JSON lines, in the three shapes met in practice.

* flat: ``{"EventID": 1, "Image": ..., "Computer": ...}`` (NXLog, many SIEM exports);
* Winlogbeat: ``{"winlog": {"event_id": 1, "event_data": {...}, "computer_name": ...}}``;
* the event XML converted to JSON: ``{"Event": {"System": {...}, "EventData": {...}}}``,
  where EventData is either an object or a list of ``{"@Name": ..., "#text": ...}`` pairs.

The three are folded into one set of event-data columns (the first shape present on a row
wins), then mapped once. Sysmon's own field names mean the same thing in every event ID
(``Image`` is always the acting process), so most of the mapping is one renaming; only the
category, the type and where ``Hashes`` belong depend on the event ID.
"""

from __future__ import annotations

import polars as pl

from watchkeeper.detect.fields import DATASET, LINE, MODULE, TIMESTAMP
from watchkeeper.detect.telemetry_columns import (
    ISO,
    ISO_NAIVE,
    SPACED,
    as_text,
    basename,
    flatten,
    json_lines,
    times,
)
from watchkeeper.detect.telemetry_lines import Chunk, Malformed

DATA = {
    "Image": "process.executable",
    "CommandLine": "process.command_line",
    "ProcessId": "process.pid",
    "ParentImage": "process.parent.executable",
    "ParentCommandLine": "process.parent.command_line",
    "ParentProcessId": "process.parent.pid",
    "CurrentDirectory": "process.working_directory",
    "User": "user.name",
    "RuleName": "rule.name",
    "Company": "organization.name",
    "SourceIp": "source.ip",
    "SourcePort": "source.port",
    "DestinationIp": "destination.ip",
    "DestinationPort": "destination.port",
    "QueryName": "dns.question.name",
    "QueryStatus": "dns.response_code",
    "TargetObject": "registry.path",
}
SPECIAL = ("Hashes", "QueryResults", "UtcTime", "TargetFilename", "ImageLoaded", "Protocol")
DATA_PREFIXES = ("winlog.event_data.", "Event.EventData.")
EVENT_ID = ("EventID", "winlog.event_id", "Event.System.EventID", "Event.System.EventID.#text")
COMPUTER = ("Computer", "Hostname", "winlog.computer_name", "host.name", "Event.System.Computer")
SYSTEM_TIME = (
    "Event.System.TimeCreated.@SystemTime",
    "Event.System.TimeCreated.SystemTime",
    "@timestamp",
    "TimeCreated",
    "EventTime",
)
SYSTEM = frozenset(
    {*EVENT_ID, *COMPUTER, *SYSTEM_TIME, "Channel", "ProviderName", "Provider", "SourceName",
     "Level", "Task", "Opcode", "Keywords", "RecordNumber", "EventRecordID", "ThreadID",
     "ExecutionProcessID", "Version", "Severity", "SeverityValue", "Message", "message",
     "Category", "EventReceivedTime", "SourceModuleName", "SourceModuleType", "AccountName",
     "AccountType", "Domain", "UserID", "ProcessID", "OpcodeValue"}
)  # fmt: skip
KINDS = {
    "1": ("process", "start"),
    "2": ("file", "change"),
    "3": ("network", "connection"),
    "5": ("process", "info"),
    "7": ("process", "info"),
    "8": ("process", "info"),
    "10": ("process", "access"),
    "11": ("file", "creation"),
    "12": ("registry", "change"),
    "13": ("registry", "change"),
    "14": ("registry", "change"),
    "15": ("file", "creation"),
    "22": ("dns", "protocol"),
    "23": ("file", "deletion"),
    "26": ("file", "deletion"),
}
_NAME_KEYS = ("@Name", "Name", "@name", "name")
_TEXT_KEYS = ("#text", "text", "Value", "value", "$")


def _pivot_data(frame: pl.DataFrame) -> pl.DataFrame:
    """EventData as a list of name/value pairs becomes one ``Event.EventData.<Name>`` column
    per name."""
    column = "Event.EventData.Data"
    dtype = frame.schema.get(column)
    if not isinstance(dtype, pl.List) or not isinstance(dtype.inner, pl.Struct):
        return frame
    keys = {field.name for field in dtype.inner.fields}
    name = next((key for key in _NAME_KEYS if key in keys), None)
    text = next((key for key in _TEXT_KEYS if key in keys), None)
    if name is None or text is None:
        return frame.drop(column)
    pairs = (
        frame.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"), pl.col(column))
        .explode(column)
        .select(
            "_row",
            pl.col(column).struct.field(name).cast(pl.String).alias("_name"),
            pl.col(column).struct.field(text).cast(pl.String).alias("_text"),
        )
        .filter(pl.col("_name").is_not_null())
    )
    if not pairs.height:
        return frame.drop(column)
    wide = pairs.pivot(on="_name", index="_row", values="_text", aggregate_function="first")
    wide = wide.rename({c: f"Event.EventData.{c}" for c in wide.columns if c != "_row"})
    return (
        frame.drop(column)
        .with_row_index("_row")
        .with_columns(pl.col("_row").cast(pl.Int64))
        .join(wide, on="_row", how="left", coalesce=True)
        .drop("_row")
    )


def _coalesce(frame: pl.DataFrame, names: tuple[str, ...]) -> pl.Expr:
    present = [as_text(frame, name) for name in names if name in frame.schema]
    if not present:
        return pl.lit(None, pl.String)
    return present[0] if len(present) == 1 else pl.coalesce(present)


def _data_names(frame: pl.DataFrame) -> dict[str, list[str]]:
    """Event-data name -> the columns that may hold it, in order of preference."""
    names: dict[str, list[str]] = {}
    for column, dtype in frame.schema.items():
        if column == LINE or isinstance(dtype, pl.Null):
            continue
        for prefix in DATA_PREFIXES:
            if column.startswith(prefix):
                names.setdefault(column[len(prefix) :], []).append(column)
                break
        else:
            if "." not in column and column not in SYSTEM and not column.startswith("@"):
                names.setdefault(column, []).insert(0, column)
    return names


def _hash(hashes: pl.Expr, kind: str) -> pl.Expr:
    return hashes.str.extract(rf"(?i)(?:^|,)\s*{kind}=([0-9a-f]+)", 1).str.to_lowercase()


def _answers(results: pl.Expr) -> pl.Expr:
    """``type:  5 cname.example;::ffff:192.0.2.1;`` -> ``cname.example,192.0.2.1``."""
    parts = results.str.split(";").list.eval(
        pl.element()
        .str.strip_chars()
        .str.replace(r"^type:\s*\d+\s+", "")
        .str.replace(r"^::ffff:", "")
        .filter(pl.element().str.strip_chars().str.len_bytes() > 0)
    )
    return pl.when(parts.list.len() > 0).then(parts.list.join(",")).otherwise(None)


def map_sysmon(frame: pl.DataFrame) -> pl.DataFrame:
    """Windows event records (flattened, ``log.file.line`` set) in dictionary columns."""
    frame = _pivot_data(frame)
    sources = _data_names(frame)
    data = {name: _coalesce(frame, tuple(columns)) for name, columns in sources.items()}
    none = pl.lit(None, pl.String)
    eid = _coalesce(frame, EVENT_ID)
    exprs: dict[str, pl.Expr] = {}
    for name, expr in data.items():
        if name in SPECIAL:
            continue
        exprs[DATA.get(name, f"winlog.event_data.{name}")] = expr
    exprs["event.code"] = eid
    exprs["host.name"] = _coalesce(frame, COMPUTER)
    if "Protocol" in data:
        exprs["network.transport"] = data["Protocol"].str.to_lowercase()
    if "process.executable" in exprs:
        exprs["process.name"] = basename(exprs["process.executable"])
    if "process.parent.executable" in exprs:
        exprs["process.parent.name"] = basename(exprs["process.parent.executable"])
    files = [data[name] for name in ("TargetFilename", "ImageLoaded") if name in data]
    if files:
        exprs["file.path"] = files[0] if len(files) == 1 else pl.coalesce(files)
        exprs["file.name"] = basename(exprs["file.path"])
    if "Hashes" in data:
        started = eid == "1"
        for kind in ("md5", "sha1", "sha256"):
            value = _hash(data["Hashes"], kind)
            exprs[f"process.hash.{kind}"] = pl.when(started).then(value).otherwise(none)
            exprs[f"file.hash.{kind}"] = pl.when(started).then(none).otherwise(value)
    if "QueryResults" in data:
        exprs["dns.answers"] = _answers(data["QueryResults"])
    category = eid.replace_strict(
        {code: cat for code, (cat, _) in KINDS.items()}, default=None, return_dtype=pl.String
    )
    action = eid.replace_strict(
        {code: typ for code, (_, typ) in KINDS.items()}, default="info", return_dtype=pl.String
    )
    if "EventType" in data:
        change = data["EventType"]
        action = (
            pl.when((eid == "12") & change.str.starts_with("Create"))
            .then(pl.lit("creation"))
            .when((eid == "12") & change.str.starts_with("Delete"))
            .then(pl.lit("deletion"))
            .otherwise(action)
        )
    exprs["event.category"] = category
    exprs["event.type"] = action
    utc = data.get("UtcTime", none)
    when = pl.coalesce(utc, _coalesce(frame, SYSTEM_TIME))
    exprs[TIMESTAMP] = times(frame, when, formats=(SPACED, ISO, ISO_NAIVE))
    exprs[MODULE] = pl.lit("sysmon")
    exprs[DATASET] = pl.lit("sysmon")
    return frame.select(*(expr.alias(name) for name, expr in exprs.items()), pl.col(LINE))


class SysmonParser:
    """Reads one stream of Sysmon / Windows event JSON lines."""

    def __init__(self, *, name: str) -> None:
        self.name = name

    def parse(self, chunk: Chunk) -> tuple[pl.DataFrame, list[Malformed]]:
        """The chunk's events and its bad lines."""
        frame, mask, bad = json_lines(chunk)
        if not frame.width:
            return pl.DataFrame(), bad
        frame = flatten(frame).with_columns(pl.Series(LINE, chunk.numbers(mask)))
        return map_sysmon(frame), bad
