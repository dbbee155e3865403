"""Telemetry readers: every format mapped to the dictionary, inputs of every kind, bad lines."""

from __future__ import annotations

import gzip
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import telemetry_samples as samples

from watchkeeper.detect.fields import ALWAYS, FIELDS, dtype, is_known
from watchkeeper.detect.formats import TELEMETRY_FORMATS, detect_telemetry_format
from watchkeeper.detect.telemetry import (
    Batch,
    TelemetryReader,
    input_sizes,
    read_stream,
    read_telemetry,
)
from watchkeeper.errors import InvalidInput


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _read(paths: list[str], **options: Any) -> tuple[pl.DataFrame, list[Batch]]:
    batches = list(read_telemetry(paths=paths, **options))
    frames = [batch.frame for batch in batches if batch.frame.height]
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    return frame, batches


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dicts()


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def _check_schema(frame: pl.DataFrame) -> None:
    for name in ALWAYS:
        assert name in frame.columns, name
    for name, kind in frame.schema.items():
        assert is_known(name), name
        assert kind == dtype(name), (name, kind)


# --- formats -----------------------------------------------------------------------------


def test_zeek_tsv_dns(tmp_path: Path) -> None:
    path = _write(tmp_path / "dns.log", samples.ZEEK_DNS_TSV)
    frame, batches = _read([str(path)])
    _check_schema(frame)
    assert [b.format for b in batches] == ["zeek"]
    first, second = _rows(frame)
    assert first["@timestamp"] == _utc(2026, 3, 1, 10, 0, 0, 250000)
    assert first["event.dataset"] == "zeek.dns"
    assert first["event.category"] == "dns"
    assert first["source.ip"] == "192.0.2.10"
    assert first["destination.port"] == "53"
    assert first["dns.question.name"] == "c2.evil.example"
    assert first["dns.answers"] == "203.0.113.7,203.0.113.8"
    assert first["network.transport"] == "udp"
    assert first["zeek.dns.trans_id"] == "4711"
    assert first["log.file.line"] == 9
    assert first["log.file.path"] == str(path)
    assert second["dns.question.type"] == "AAAA"
    assert second["dns.answers"] == ""  # (empty) is an empty set, not unset
    assert second["zeek.dns.TTLs"] is None  # "-" is unset
    assert second["log.file.line"] == 10


def test_zeek_tsv_conn_and_header_repeated_midstream(tmp_path: Path) -> None:
    # Two logs concatenated (cat dns.log conn.log): the second header is obeyed.
    path = _write(tmp_path / "all.log", samples.ZEEK_DNS_TSV + samples.ZEEK_CONN_TSV)
    frame, _ = _read([str(path)])
    conn = frame.filter(pl.col("event.dataset") == "zeek.conn").to_dicts()
    assert len(conn) == 1
    assert conn[0]["network.bytes"] == "4300"
    assert conn[0]["network.protocol"] == "ssl"
    assert conn[0]["zeek.conn.conn_state"] == "SF"
    assert conn[0]["log.file.line"] == 11 + 8
    assert frame.filter(pl.col("event.dataset") == "zeek.dns").height == 2


def test_zeek_json_by_file_name_and_by_path(tmp_path: Path) -> None:
    http = _write(tmp_path / "http.log", samples.ZEEK_HTTP_JSON + "\n")
    frame, batches = _read([str(http)])
    assert batches[0].format == "zeek"
    (row,) = _rows(frame)
    assert row["event.dataset"] == "zeek.http"
    assert row["url.full"] == "http://www.example.com/payload.bin?x=1"
    assert row["url.path"] == "/payload.bin?x=1"
    assert row["http.response.status_code"] == "200"
    assert row["zeek.http.resp_mime_types"] == "application/octet-stream"
    assert row["@timestamp"] == _utc(2026, 3, 1, 10, 1, 40)
    mixed = _write(tmp_path / "zeek.json", samples.ZEEK_MIXED_JSON)
    frame, _ = _read([str(mixed)])
    rows = {row["event.dataset"]: row for row in _rows(frame)}
    assert rows["zeek.ssl"]["tls.server.name"] == "login.example.net"
    assert rows["zeek.ssl"]["log.file.line"] == 1
    assert rows["zeek.files"]["file.hash.md5"] == "0123456789abcdef0123456789abcdef"
    assert rows["zeek.files"]["file.mime_type"] == "application/x-dosexec"
    assert rows["zeek.x509"]["x509.issuer.distinguished_name"] == "CN=Example CA"
    assert rows["zeek.x509"]["x509.serial_number"] == "0A1B"
    assert rows["zeek.x509"]["log.file.line"] == 3
    assert rows["zeek.x509"]["@timestamp"] == _utc(2026, 3, 1, 10, 0, 2)


def test_suricata_eve(tmp_path: Path) -> None:
    path = _write(tmp_path / "eve.json", samples.SURICATA_EVE)
    frame, batches = _read([str(path)])
    _check_schema(frame)
    assert batches[0].format == "suricata"
    rows = _rows(frame)
    assert [row["log.file.line"] for row in rows] == list(range(1, 8))
    v2, v3, http, tls, alert, flow, fileinfo = rows
    assert v2["dns.question.name"] == "v2.evil.example"
    assert v2["dns.question.type"] == "A"
    assert v2["event.dataset"] == "suricata.dns"
    assert v2["network.transport"] == "udp"
    assert v2["@timestamp"] == _utc(2026, 3, 1, 10, 0, 0, 123456)
    assert v3["dns.question.name"] == "v3.evil.example"
    assert v3["dns.answers"] == "203.0.113.5"
    assert v3["dns.response_code"] == "NOERROR"
    assert http["url.full"] == "http://www.example.com/index.html"
    assert http["http.request.method"] == "GET"
    assert http["network.protocol"] == "http"
    assert http["event.category"] == "web"
    assert tls["tls.server.name"] == "login.example.net"
    assert tls["x509.serial_number"] == "0A:1B"
    assert alert["rule.name"] == "ET MALWARE Example C2"
    assert alert["event.category"] == "intrusion_detection"
    assert alert["event.type"] == "denied"
    assert alert["suricata.alert.signature_id"] == "2100001"
    assert flow["network.bytes"] == "1000"
    assert flow["event.type"] == "connection"
    assert fileinfo["file.hash.sha256"] == "cd" * 32
    assert "suricata.dns.answers" not in frame.columns  # lists are not kept as extensions


def test_sysmon_three_shapes(tmp_path: Path) -> None:
    _write(tmp_path / "logs" / "a-flat.json", samples.SYSMON_FLAT)
    _write(tmp_path / "logs" / "b-beat.json", samples.SYSMON_WINLOGBEAT)
    _write(tmp_path / "logs" / "c-xml.json", samples.SYSMON_EVENT_XML)
    frame, batches = _read([str(tmp_path / "logs")])
    _check_schema(frame)
    assert {batch.format for batch in batches} == {"sysmon"}
    start, dns, net, created, registry = _rows(frame)
    assert start["event.code"] == "1"
    assert start["event.category"] == "process"
    assert start["event.type"] == "start"
    assert start["process.name"] == "cmd.exe"
    assert start["process.executable"] == "C:\\Windows\\System32\\cmd.exe"
    assert start["process.parent.name"] == "explorer.exe"
    assert start["process.pid"] == "4242"
    assert start["process.hash.md5"] == "a" * 32
    assert start["process.hash.sha256"] == "b" * 64
    assert start["file.hash.md5"] is None
    assert start["user.name"] == "CORP\\alice"
    assert start["host.name"] == "WS01.corp.example"
    assert start["winlog.event_data.IntegrityLevel"] == "Medium"
    assert start["@timestamp"] == _utc(2026, 3, 1, 10, 0, 0, 123000)
    assert dns["dns.question.name"] == "c2.evil.example"
    assert dns["dns.answers"] == "cdn.example.net,203.0.113.7,203.0.113.8"
    assert dns["event.category"] == "dns"
    assert net["destination.ip"] == "203.0.113.66"
    assert net["network.transport"] == "tcp"
    assert net["host.name"] == "WS02.corp.example"
    assert net["winlog.event_data.DestinationHostname"] == "c2.evil.example"
    assert net["@timestamp"] == _utc(2026, 3, 1, 10, 0, 2, 500000)  # UtcTime wins
    assert created["file.path"] == "C:\\Temp\\drop.dll"
    assert created["file.name"] == "drop.dll"
    assert created["event.type"] == "creation"
    assert created["@timestamp"] == _utc(2026, 3, 1, 10, 0, 3, 123456)
    assert registry["registry.path"] == "HKLM\\Software\\Run\\x"
    assert registry["event.category"] == "registry"
    assert registry["winlog.event_data.Details"] == "C:\\Tools\\persist.exe"


def test_squid(tmp_path: Path) -> None:
    path = _write(tmp_path / "access.log", samples.SQUID)
    frame, batches = _read([str(path)])
    _check_schema(frame)
    assert batches[0].format == "squid"
    hit, denied = _rows(frame)
    assert hit["url.full"] == "http://www.example.com/a/b.js?v=1"
    assert hit["url.domain"] == "www.example.com"
    assert hit["url.path"] == "/a/b.js?v=1"
    assert hit["destination.ip"] == "203.0.113.80"
    assert hit["user.name"] is None
    assert hit["file.mime_type"] == "application/javascript"
    assert hit["@timestamp"] == _utc(2026, 3, 1, 10, 0, 0, 123000)
    assert denied["event.type"] == "denied"
    assert denied["url.domain"] == "bad.example.org"
    assert denied["http.request.method"] == "CONNECT"
    assert denied["user.name"] == "alice"
    assert denied["destination.ip"] is None


def test_clf(tmp_path: Path) -> None:
    path = _write(tmp_path / "access_log", samples.CLF)
    frame, batches = _read([str(path)])
    _check_schema(frame)
    assert batches[0].format == "clf"
    common, combined = _rows(frame)
    assert common["@timestamp"] == _utc(2026, 3, 1, 9, 0, 0)
    assert common["url.path"] == "/index.html"
    assert common["event.outcome"] == "success"
    assert combined["user.name"] == "bob"
    assert combined["http.response.status_code"] == "401"
    assert combined["network.bytes"] is None
    assert combined["user_agent.original"] == "Mozilla/5.0 (X11)"
    assert combined["event.outcome"] == "failure"


MAPPING = """
fields:
  client.addr: source.ip
  q: dns.question.name
timestamp:
  field: when
  format: "%d.%m.%Y %H:%M"
dataset: resolver
"""


def test_jsonl_and_csv_with_mapping(tmp_path: Path) -> None:
    mapping = _write(tmp_path / "map.yaml", MAPPING)
    lines = [
        {"when": "01.03.2026 10:05", "client": {"addr": "192.0.2.1"}, "q": "a.example"},
        {"when": "01.03.2026 10:06", "client": {"addr": "192.0.2.2"}, "q": "b.example", "x": 1},
    ]
    jsonl = _write(tmp_path / "r.jsonl", "\n".join(json.dumps(line) for line in lines))
    frame, batches = _read([str(jsonl)], format="jsonl", mapping=str(mapping))
    _check_schema(frame)
    assert batches[0].format == "jsonl"
    assert frame["source.ip"].to_list() == ["192.0.2.1", "192.0.2.2"]
    assert frame["event.dataset"].to_list() == ["resolver", "resolver"]
    assert frame["@timestamp"][1] == _utc(2026, 3, 1, 10, 6)
    assert "x" not in frame.columns
    csv_text = 'when,client.addr,q\n01.03.2026 10:07,192.0.2.3,"c.example"\n'
    csv_text += '01.03.2026 10:08,192.0.2.4,"d,e.example"\nbroken,line\n'
    csv_path = _write(tmp_path / "r.csv", csv_text)
    frame, batches = _read([str(csv_path)], format="csv", mapping=str(mapping))
    assert frame["dns.question.name"].to_list() == ["c.example", "d,e.example"]
    assert frame["log.file.line"].to_list() == [2, 3]
    assert [(m.line, m.reason) for m in batches[0].malformed] == [(4, "expected 3 fields, found 2")]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("fields: {a: source.ip}\ncolour: red\n", "colour"),
        ("fields: {a: source.address}\n", "fields.a"),
        ("fields: {a: log.file.line}\n", "fields.a"),
        ("timestamp: {field: t}\n", "fields"),
        ("fields: {a: source.ip}\ntimestamp: {format: '%Y'}\n", "timestamp.field"),
        ("fields: {a: source.ip}\ntimestamp: {field: t, tz: x}\n", "timestamp.tz"),
        ("fields: {a: source.ip}\nseparator: ';;'\n", "separator"),
    ],
)
def test_bad_mapping_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    mapping = _write(tmp_path / "bad-map.yaml", text)
    data = _write(tmp_path / "x.jsonl", '{"a": 1}\n')
    with pytest.raises(InvalidInput) as caught:
        list(read_telemetry(paths=[str(data)], format="jsonl", mapping=str(mapping)))
    assert str(caught.value).startswith(f"{mapping}: {key}:")
    assert caught.value.fields["field"] == key


def test_mapping_required_and_yaml_errors(tmp_path: Path) -> None:
    data = _write(tmp_path / "x.csv", "a\n1\n")
    with pytest.raises(InvalidInput, match="needs a mapping file"):
        list(read_telemetry(paths=[str(data)], format="csv"))
    broken = _write(tmp_path / "m.yaml", "fields:\n  a: [source.ip\n")
    with pytest.raises(InvalidInput, match=r"m\.yaml:\d+: not valid YAML"):
        list(read_telemetry(paths=[str(data)], format="csv", mapping=str(broken)))


# --- detection and errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        (samples.ZEEK_DNS_TSV, "whatever.txt", "zeek"),
        (samples.ZEEK_HTTP_JSON, "http.log", "zeek"),
        (samples.ZEEK_MIXED_JSON, "x.json", "zeek"),
        (samples.SURICATA_EVE, "eve.json", "suricata"),
        (samples.SYSMON_FLAT, "s.json", "sysmon"),
        (samples.SYSMON_WINLOGBEAT, "s.json", "sysmon"),
        (samples.SYSMON_EVENT_XML, "s.json", "sysmon"),
        (samples.SQUID, "access.log", "squid"),
        (samples.CLF, "access.log", "clf"),
    ],
)
def test_auto_detection(text: str, name: str, expected: str) -> None:
    assert detect_telemetry_format(sample=text.encode(), name=name) == expected


def test_unknown_format_and_undetectable_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        list(read_telemetry(paths=[], format="netflow"))
    message = str(caught.value)
    assert "'netflow'" in message
    for name in TELEMETRY_FORMATS:
        assert name in message
    odd = _write(tmp_path / "notes.txt", "hello world\n")
    with pytest.raises(InvalidInput, match=r"notes\.txt: cannot tell the telemetry format"):
        list(read_telemetry(paths=[str(odd)]))
    with pytest.raises(InvalidInput, match="no such file"):
        list(read_telemetry(paths=[str(tmp_path / "missing.log")]))


# --- inputs ------------------------------------------------------------------------------


def test_gzip_glob_directory_and_sizes(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "dns.log.gz").write_bytes(gzip.compress(samples.ZEEK_DNS_TSV.encode()))
    (logs / "eve.json.gz").write_bytes(gzip.compress(samples.SURICATA_EVE.encode()))
    _write(logs / "sub" / "access.log", samples.SQUID)
    _write(logs / "notes.md", "# not telemetry\n")
    frame, batches = _read([str(logs / "*.gz")])
    assert [(b.format, Path(b.path).name) for b in batches] == [
        ("zeek", "dns.log.gz"),
        ("suricata", "eve.json.gz"),
    ]
    assert frame.height == 2 + 7
    seen: list[int] = []
    total = input_sizes([str(logs / "*.gz"), str(logs / "sub")])
    frame, batches = _read([str(logs / "*.gz"), str(logs / "sub")], on_progress=seen.append)
    assert [b.format for b in batches] == ["zeek", "suricata", "squid"]
    assert (
        sum(seen)
        == total
        == len(samples.ZEEK_DNS_TSV) + len(samples.SURICATA_EVE) + len(samples.SQUID)
    )
    with pytest.raises(InvalidInput, match="no file matches"):
        list(read_telemetry(paths=[str(logs / "*.pcap")]))
    assert input_sizes(["-"]) is None


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = io.TextIOWrapper(io.BytesIO(samples.SQUID.encode()))
    monkeypatch.setattr(sys, "stdin", fake)
    frame, batches = _read(["-"])
    assert batches[0].path == "<stdin>"
    assert frame["log.file.path"].to_list() == ["<stdin>", "<stdin>"]
    assert frame["source.ip"].to_list() == ["192.0.2.10", "192.0.2.11"]


# --- bad lines, limits, batching ---------------------------------------------------------


def test_malformed_json_lines_are_counted_and_good_lines_kept(tmp_path: Path) -> None:
    good = samples.SURICATA_EVE.split("\n")
    lines = [good[0], "{not json", good[1], "", "[1, 2]", good[2], '{"truncated": ']
    path = _write(tmp_path / "eve.json", "\n".join(lines) + "\n")
    frame, batches = _read([str(path)], format="suricata")
    assert frame["log.file.line"].to_list() == [1, 3, 6]
    assert frame["dns.question.name"].to_list()[:2] == ["v2.evil.example", "v3.evil.example"]
    (batch,) = batches
    assert batch.malformed_count == 3
    assert [(m.path, m.line) for m in batch.malformed] == [
        (str(path), 2),
        (str(path), 5),
        (str(path), 7),
    ]
    assert batch.malformed[0].reason.startswith("invalid JSON")
    assert batch.malformed[1].reason == "not a JSON object"


def test_malformed_text_lines(tmp_path: Path) -> None:
    squid = _write(tmp_path / "access.log", samples.SQUID + "garbage here\n" + samples.SQUID)
    frame, batches = _read([str(squid)], format="squid")
    assert frame["log.file.line"].to_list() == [1, 2, 4, 5]
    assert [(m.line, m.reason) for m in batches[0].malformed] == [
        (3, "does not match the squid access.log format")
    ]
    zeek = samples.ZEEK_DNS_TSV.replace("\tNXDOMAIN\t", "\tNXDOMAIN\textra\t")
    frame, batches = _read([str(_write(tmp_path / "dns.log", zeek))])
    assert frame["log.file.line"].to_list() == [9]
    assert [(m.line, m.reason) for m in batches[0].malformed] == [
        (10, "expected 13 fields, found 14")
    ]


def test_over_long_line_and_field_truncation(tmp_path: Path) -> None:
    long_query = "a" * 5000 + ".example"
    huge = json.dumps(
        {"timestamp": "2026-03-01T10:00:00Z", "event_type": "dns", "pad": "x" * 300_000}
    )
    lines = [*samples.SURICATA_EVE.split("\n")[:2], huge]
    lines.append(lines[0].replace("v2.evil.example", long_query))
    path = _write(tmp_path / "eve.json", "\n".join(lines) + "\n")
    frame, batches = _read(
        [str(path)], format="suricata", max_line_bytes=100_000, max_field_chars=100
    )
    assert frame["log.file.line"].to_list() == [1, 2, 4]
    assert [(m.line, m.reason) for m in batches[0].malformed] == [
        (3, "line longer than 100000 bytes")
    ]
    assert frame["dns.question.name"][2] == "a" * 100
    assert frame["dns.question.name"][0] == "v2.evil.example"
    # An over-long line wholly inside one read, then one at the end of a file without a
    # final newline.
    inside = _write(tmp_path / "inside.json", "\n".join([lines[0], "z" * 5000, lines[1]]))
    frame, batches = _read([str(inside)], format="suricata", max_line_bytes=1000)
    assert frame["log.file.line"].to_list() == [1, 3]
    assert [m.line for m in batches[0].malformed] == [2]
    tail = _write(tmp_path / "tail.json", lines[0] + "\n" + "y" * 5000)
    frame, batches = _read([str(tail)], format="suricata", max_line_bytes=1000)
    assert frame.height == 1
    assert [m.line for m in batches[0].malformed] == [2]


def test_line_numbers_across_batches(tmp_path: Path) -> None:
    header, rows = samples.ZEEK_DNS_TSV.split("#close")[0].rsplit("\n", 3)[0], []
    template = samples.ZEEK_DNS_TSV.splitlines()[8]
    for i in range(53):
        rows.append(template.replace("c2.evil.example", f"n{i}.example"))
    rows[20] = "broken"
    text = header + "\n" + "\n".join(rows) + "\n"
    path = _write(tmp_path / "dns.log", text)
    batches = list(read_telemetry(paths=[str(path)], batch_rows=7))
    assert all(batch.frame.height <= 7 for batch in batches)
    frame = pl.concat([batch.frame for batch in batches])
    expected = [9 + i for i in range(53) if i != 20]
    assert frame["log.file.line"].to_list() == expected
    names = frame["dns.question.name"].to_list()
    assert names == [f"n{i}.example" for i in range(53) if i != 20]
    bad = [m for batch in batches for m in batch.malformed]
    assert [m.line for m in bad] == [29]


def test_malformed_kept_list_is_bounded(tmp_path: Path) -> None:
    path = _write(tmp_path / "access.log", "nope\n" * 50)
    (batch,) = read_telemetry(paths=[str(path)], format="squid")
    assert batch.malformed_count == 50
    assert len(batch.malformed) == 20
    assert batch.frame.height == 0
    _check_schema(batch.frame)


def test_reader_follows_appended_data() -> None:
    text = samples.ZEEK_DNS_TSV.encode()
    cut = text.index(b"1772359201")
    reader = TelemetryReader(name="dns.log")
    first = list(reader.read(stream=io.BytesIO(text[:cut])))
    later = list(reader.read(stream=io.BytesIO(text[cut:]), first_line=10))
    assert [b.frame["log.file.line"].to_list() for b in first + later] == [[9], [10]]
    assert later[0].frame["dns.question.name"][0] == "nx.example.org"
    (batch,) = read_stream(stream=io.BytesIO(samples.CLF.encode()), name="x", format="clf")
    assert batch.frame.height == 2


def test_dictionary_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "telemetry-fields.md").read_text("utf-8")
    for name in FIELDS:
        assert f"`{name}`" in doc, name
    for name in TELEMETRY_FORMATS:
        assert f"`{name}`" in doc, name


def test_dictionary_table_is_current() -> None:
    from watchkeeper.detect.fields import dictionary_markdown

    doc = (Path(__file__).parents[2] / "docs" / "telemetry-fields.md").read_text("utf-8")
    assert dictionary_markdown() in doc


def test_crlf_line_ends(tmp_path: Path) -> None:
    crlf = samples.ZEEK_DNS_TSV.replace("\n", "\r\n").replace("\tNXDOMAIN\t", "\tNX\tx\t")
    frame, batches = _read([str(_write(tmp_path / "dns.log", crlf))])
    assert frame["zeek.dns.TTLs"].to_list() == ["60.000000,60.000000"]
    assert [m.line for m in batches[0].malformed] == [10]
    eve = samples.SURICATA_EVE.replace("\n", "\r\n") + "\r\n{bad\r\n"
    frame, batches = _read([str(_write(tmp_path / "eve.json", eve))])
    assert frame["log.file.line"].to_list() == list(range(1, 8))
    assert batches[0].malformed_count == 1
    mapping = _write(tmp_path / "m.yaml", "fields: {b: source.ip}\n")
    csv_path = _write(tmp_path / "x.csv", "a,b\r\n1,192.0.2.1\r\n2\r\n3,192.0.2.3\r\n")
    frame, batches = _read([str(csv_path)], format="csv", mapping=str(mapping))
    assert frame["source.ip"].to_list() == ["192.0.2.1", "192.0.2.3"]
    assert [m.line for m in batches[0].malformed] == [3]


class _Trickle(io.BytesIO):
    """A stream that hands out few bytes per read, as a pipe does."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(min(size if size is not None and size >= 0 else 4093, 4093))


def test_lines_split_across_reads() -> None:
    template = samples.SURICATA_EVE.split("\n")[0]
    lines = [template.replace("v2.evil", f"n{i}") for i in range(2500)]
    lines[1234] = "x" * 3000  # longer than the limit, and spread over reads
    data = ("\n".join(lines) + "\n").encode()
    assert len(data) > 200_000
    batches = list(
        read_stream(
            stream=_Trickle(data),
            name="pipe",
            format="suricata",
            batch_rows=300,
            max_line_bytes=2000,
        )
    )
    frame = pl.concat([batch.frame for batch in batches])
    assert frame["log.file.line"].to_list() == [n for n in range(1, 2501) if n != 1235]
    assert frame["dns.question.name"][-1] == "n2499.example"
    assert [m.line for batch in batches for m in batch.malformed] == [1235]
