"""Exporting intelligence: every format, the release policy, round trip, audit, the CLI."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from stix2validator import ValidationOptions, validate_string
from stix_samples import STAMP, bundle, indicator

from watchkeeper.bus import read_events
from watchkeeper.cli import cli
from watchkeeper.core.tlp import TLP1_MARKING_IDS, TLP2_MARKING_IDS, Tlp
from watchkeeper.errors import Conflict, InvalidInput
from watchkeeper.intel import (
    Exporter,
    ExporterRegistry,
    ExportFilters,
    ExportReport,
    StixObject,
    default_exporters,
    expand,
    export,
    import_stix,
)
from watchkeeper.intel import export_selection as selection_module
from watchkeeper.node import Node
from watchkeeper.security import list_entries
from watchkeeper.testing import make_node

CLEAR, GREEN, AMBER, STRICT, RED = (TLP2_MARKING_IDS[level] for level in Tlp)
OLD_GREEN = TLP1_MARKING_IDS["green"]
LATER = "2026-03-05T08:00:00.000Z"
SHA256 = "5d41402abc4b2a76b9719d911017c592" * 2


def _id(kind: str, n: int) -> str:
    return f"{kind}--0a0a0a0a-0000-4000-8000-{n:012d}"


def _sample() -> list[dict[str, Any]]:
    """One object per rule of the release policy (the comment says what it tests)."""
    versioned = indicator("[domain-name:value = 'old-version.net']", id=_id("indicator", 9))
    return [
        indicator(
            "[domain-name:value = 'evil-site.org']",
            id=_id("indicator", 1),
            confidence=80,
            object_marking_refs=[GREEN],
        ),
        indicator(
            "[ipv4-addr:value = '45.9.148.10'] OR [ipv6-addr:value = '2a0b:4d07::1']",
            id=_id("indicator", 2),
            confidence=60,
            object_marking_refs=[AMBER],
        ),
        indicator(  # a TLP 1.0 marking, and a URL Zeek cannot see
            "[url:value = 'http://bad.evil-site.org/x'] OR "
            "[url:value = 'https://phish.evil-site.org/login']",
            id=_id("indicator", 3),
            object_marking_refs=[OLD_GREEN],
        ),
        indicator(  # no TLP marking: counts as AMBER
            f"[email-addr:value = 'boss@evil-site.org'] OR [file:hashes.'SHA-256' = '{SHA256}'] "
            "OR [ipv4-addr:value = '45.9.148.0/24']",
            id=_id("indicator", 4),
            confidence=40,
        ),
        indicator(
            "[domain-name:value = 'red-only.net']",
            id=_id("indicator", 5),
            object_marking_refs=[RED],
        ),
        indicator(
            "[domain-name:value = 'strict-only.net']",
            id=_id("indicator", 6),
            object_marking_refs=[STRICT],
        ),
        indicator("[ipv4-addr:value = '198.51.100.7']", id=_id("indicator", 7)),  # warninglisted
        indicator("[domain-name:value = 'revoked.net']", id=_id("indicator", 8), revoked=True),
        versioned,
        {
            **versioned,
            "modified": LATER,
            "pattern": "[domain-name:value = 'new-version.net']",
        },
        indicator(  # the same value as indicator 1, newer
            "[domain-name:value = 'evil-site.org']",
            id=_id("indicator", 10),
            modified=LATER,
            confidence=90,
            object_marking_refs=[CLEAR],
        ),
        indicator(  # GREEN as a whole, but its pattern is RED
            "[domain-name:value = 'granular-red.net']",
            id=_id("indicator", 11),
            object_marking_refs=[GREEN],
            granular_markings=[{"marking_ref": RED, "selectors": ["pattern"]}],
        ),
        indicator(  # not matchable by value alone
            "[domain-name:value = 'partial.net'] AND [process:name = 'evil.exe']",
            id=_id("indicator", 12),
        ),
        {
            "type": "malware",
            "spec_version": "2.1",
            "id": _id("malware", 13),
            "created": STAMP,
            "modified": STAMP,
            "name": "EvilBot",
            "is_family": True,
            "object_marking_refs": [GREEN],
        },
        {
            "type": "relationship",
            "spec_version": "2.1",
            "id": _id("relationship", 14),
            "created": STAMP,
            "modified": STAMP,
            "relationship_type": "indicates",
            "source_ref": _id("indicator", 1),
            "target_ref": _id("malware", 13),
        },
        {  # an observable, not an indicator: value formats leave it out by default
            "type": "ipv4-addr",
            "spec_version": "2.1",
            "id": _id("ipv4-addr", 15),
            "value": "45.9.148.99",
        },
    ]


@pytest.fixture
def stored(node: Node, write: Any, ingest: Any) -> Node:
    report = ingest(write(bundle(*_sample())))
    assert (report.created, report.rejected) == (15, 0)
    return node


def _export(node: Node, fmt: str, **filters: Any) -> tuple[bytes, ExportReport]:
    target = io.BytesIO()
    report = export(
        node.database,
        clock=node.clock,
        actor="user:tester",
        format=fmt,
        target=target,
        filters=ExportFilters(**filters),
    )
    return target.getvalue(), report


def _lines(node: Node, fmt: str = "text", **filters: Any) -> list[str]:
    return _export(node, fmt, **filters)[0].decode().splitlines()


def _ids(document: dict[str, Any]) -> set[str]:
    return {obj["id"] for obj in document.get("objects", [])}


# --- STIX --------------------------------------------------------------------------------


def test_stix_bundle_is_valid_and_holds_only_what_may_go(stored: Node) -> None:
    data, report = _export(stored, "stix")
    result = validate_string(data.decode(), ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for o in result.as_dict()["results"] for e in o["errors"]]
    document = orjson.loads(data)
    assert document["type"] == "bundle"
    assert re.fullmatch(r"bundle--[0-9a-f-]{36}", document["id"])
    sent = {(o["id"], o.get("modified")) for o in document["objects"]}
    assert (_id("indicator", 9), LATER) in sent
    assert (_id("indicator", 9), STAMP) not in sent  # the old version stays home
    ids = _ids(document)
    for n in (5, 6, 8, 11):  # RED, AMBER+STRICT, revoked, RED pattern
        assert _id("indicator", n) not in ids
    assert {_id("indicator", n) for n in (1, 2, 3, 4, 7, 10, 12)} <= ids
    assert {_id("malware", 13), _id("relationship", 14), _id("ipv4-addr", 15)} <= ids
    markings = {o["id"]: o for o in document["objects"] if o["type"] == "marking-definition"}
    assert set(markings) == {CLEAR, GREEN, AMBER, OLD_GREEN}
    assert markings[OLD_GREEN]["definition"] == {"tlp": "green"}
    assert (report.objects, report.markings) == (11, 4)
    assert report.skipped == {"tlp": 3, "revoked": 1}


def test_stix_docs_are_served_verbatim(stored: Node) -> None:
    data, _ = _export(stored, "stix")
    with stored.database.reader() as session:
        docs = set(session.scalars(select(StixObject.doc).where(StixObject.current)))
    text = data.decode()
    sent = [doc for doc in docs if doc in text]
    assert len(sent) == 11  # every released object, byte for byte


def test_amber_strict_only_when_asked_and_red_never(stored: Node) -> None:
    ids = _ids(orjson.loads(_export(stored, "stix", max_tlp=Tlp.AMBER_STRICT)[0]))
    assert _id("indicator", 6) in ids
    assert STRICT in ids
    assert not {_id("indicator", 5), _id("indicator", 11), RED} & ids
    with pytest.raises(InvalidInput, match="never exported"):
        _export(stored, "stix", max_tlp=Tlp.RED)
    for fmt in ("stix", "csv", "text", "zeek", "rpz", "suricata"):
        data, _ = _export(stored, fmt, max_tlp=Tlp.AMBER_STRICT, include_warninglisted=True)
        if fmt == "suricata":
            data = b"".join(_members(data).values())
        assert b"red-only" not in data
        assert base64.b64encode(b"red-only.net") not in data
        assert b"granular-red" not in data
        assert base64.b64encode(b"granular-red.net") not in data


def test_empty_bundle_has_no_objects_list(node: Node) -> None:
    data, report = _export(node, "stix")
    assert set(orjson.loads(data)) == {"type", "id"}
    assert validate_string(data.decode()).is_valid
    assert report.objects == 0


def test_round_trip_into_a_fresh_node(stored: Node, tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(_export(stored, "stix")[0])
    other = make_node(tmp_path / "other")
    try:
        report = import_stix(
            other.database,
            clock=other.clock,
            actor="user:tester",
            inputs=expand([str(path)]),
            source="partner",
        )
        assert report.rejected == 0
        with stored.database.reader() as session:
            mine = {
                (o.id, o.modified): o.doc
                for o in session.scalars(select(StixObject).where(StixObject.current))
            }
        with other.database.reader() as session:
            theirs = {(o.id, o.modified): o.doc for o in session.scalars(select(StixObject))}
    finally:
        other.close()
    sent = {key: doc for key, doc in theirs.items() if key in mine}
    assert len(sent) == 11
    assert all(mine[key] == doc for key, doc in sent.items())  # identical stored documents
    assert {key[0] for key in set(theirs) - set(sent)} == {CLEAR, GREEN, AMBER, OLD_GREEN}


# --- value formats -----------------------------------------------------------------------


def test_csv_rows_per_value_and_indicator(stored: Node) -> None:
    data, report = _export(stored, "csv")
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == ["kind", "value", "indicator_id", "tlp", "confidence", "modified"]
    body = rows[1:]
    assert [r[:3] for r in body if r[1] == "evil-site.org"] == [
        ["domain", "evil-site.org", _id("indicator", 10)],  # newest first
        ["domain", "evil-site.org", _id("indicator", 1)],
    ]
    by_value = {r[1]: r for r in body}
    assert by_value["45.9.148.10"][3:] == ["TLP:AMBER", "60", "2026-03-01T10:00:00.000000Z"]
    assert by_value["boss@evil-site.org"][3:5] == ["", "40"]  # unmarked: empty TLP
    assert by_value["http://bad.evil-site.org/x"][3] == "TLP:GREEN"  # a TLP 1.0 marking
    assert set(by_value) == {
        "evil-site.org",
        "45.9.148.10",
        "2a0b:4d07::1",
        "http://bad.evil-site.org/x",
        "https://phish.evil-site.org/login",
        "boss@evil-site.org",
        SHA256,
        "45.9.148.0/24",
        "new-version.net",
    }
    assert report.values == 10
    assert report.skipped == {"tlp": 3, "revoked": 1, "warninglisted": 1, "not_matchable": 1}


def test_text_blocklist_once_per_value_and_by_kind(stored: Node) -> None:
    lines = _lines(stored)
    assert len(lines) == len(set(lines)) == 9
    assert "evil-site.org" in lines
    data, report = _export(stored, "text", kinds=("domain", "ipv4"))
    assert data.decode().splitlines() == ["evil-site.org", "new-version.net", "45.9.148.10"]
    assert report.skipped["duplicate"] == 1


def test_zeek_intel_file_parses_as_tsv_with_its_header(stored: Node) -> None:
    data, report = _export(stored, "zeek")
    text = data.decode()
    assert text.startswith("#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\n")
    reader = csv.DictReader(
        io.StringIO(text.removeprefix("#fields\t")), delimiter="\t", quoting=csv.QUOTE_NONE
    )
    rows = list(reader)
    assert all(len(row) == 4 and None not in row.values() for row in rows)
    types = {row["indicator"]: row["indicator_type"] for row in rows}
    assert types == {
        "evil-site.org": "Intel::DOMAIN",
        "new-version.net": "Intel::DOMAIN",
        "45.9.148.10": "Intel::ADDR",
        "2a0b:4d07::1": "Intel::ADDR",
        "45.9.148.0/24": "Intel::SUBNET",
        "bad.evil-site.org/x": "Intel::URL",  # without the scheme, as Zeek reports URLs
        "boss@evil-site.org": "Intel::EMAIL",
        SHA256: "Intel::FILE_HASH",
    }
    first = next(row for row in rows if row["indicator"] == "evil-site.org")
    assert first["meta.source"] == "watchkeeper"
    assert first["meta.desc"] == f"{_id('indicator', 10)} TLP:CLEAR confidence 90"
    assert report.skipped["unsupported_url_scheme"] == 1  # the https URL


def test_rpz_zone_blocks_each_domain_and_its_subdomains(stored: Node, tmp_path: Path) -> None:
    data, report = _export(stored, "rpz")
    lines = data.decode().splitlines()
    assert lines[1:4] == [
        "$TTL 300",
        "@ IN SOA localhost. hostmaster.localhost. 1768467600 3600 600 86400 300",
        "@ IN NS localhost.",
    ]
    assert lines[4:] == [
        "evil-site.org CNAME .",
        "*.evil-site.org CNAME .",
        "new-version.net CNAME .",
        "*.new-version.net CNAME .",
    ]
    assert report.values == 2
    assert report.skipped["unsupported_kind"] == 7
    checker = shutil.which("named-checkzone")
    if checker is not None:  # BIND's own zone checker, where it is installed
        zone = tmp_path / "rpz.zone"
        zone.write_bytes(data)
        subprocess.run([checker, "rpz.local", str(zone)], check=True, capture_output=True)


def test_rpz_skips_single_label_names(node: Node, write: Any, ingest: Any) -> None:
    ingest(write(bundle(indicator("[domain-name:value = 'intranet']"))))
    data, report = _export(node, "rpz")
    assert b"intranet" not in data
    assert report.skipped["single_label"] == 1


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
        }


def test_suricata_datasets_and_rules(stored: Node) -> None:
    data, report = _export(stored, "suricata")
    members = _members(data)
    assert set(members) == {
        "watchkeeper-domains.lst",
        "watchkeeper-ipv4.lst",
        "watchkeeper-ipv6.lst",
        "watchkeeper.rules",
    }
    domains = [base64.b64decode(line) for line in members["watchkeeper-domains.lst"].split()]
    assert domains == [b"evil-site.org", b"new-version.net"]
    assert members["watchkeeper-ipv4.lst"] == b"45.9.148.10\n"
    assert members["watchkeeper-ipv6.lst"] == b"2a0b:4d07::1\n"
    rules = [
        line
        for line in members["watchkeeper.rules"].decode().splitlines()
        if not line.startswith("#")
    ]
    assert len(rules) == 7
    sids = [re.search(r"sid:(\d+);", rule).group(1) for rule in rules]  # type: ignore[union-attr]
    assert len(set(sids)) == 7
    for rule in rules:
        loaded = re.search(r"dataset:isset,([\w-]+), type (\w+), load ([\w.-]+);", rule)
        assert loaded is not None, rule
        assert loaded.group(3) in members
        assert loaded.group(3) == f"{loaded.group(1)}.lst"
    assert any(r.startswith("alert dns ") and "dns.query;" in r for r in rules)
    assert any("ip.dst; dataset:isset,watchkeeper-ipv6, type ip," in r for r in rules)
    assert report.values == 4
    assert report.skipped["unsupported_kind"] == 5  # URLs, e-mail, hash, network


# --- filters -----------------------------------------------------------------------------


def test_filters_narrow_the_selection(stored: Node) -> None:
    malware = orjson.loads(_export(stored, "stix", types=("malware",))[0])
    assert {o["type"] for o in malware["objects"]} == {"malware", "marking-definition"}
    assert set(_lines(stored, min_confidence=60)) == {
        "evil-site.org",
        "45.9.148.10",
        "2a0b:4d07::1",
    }
    since = datetime(2026, 3, 5, tzinfo=UTC)
    assert set(_lines(stored, since=since)) == {"evil-site.org", "new-version.net"}
    assert _lines(stored, since=datetime(2026, 3, 6)) == []  # naive: taken as UTC
    green = set(_lines(stored, max_tlp=Tlp.GREEN))
    assert green == {
        "evil-site.org",
        "http://bad.evil-site.org/x",
        "https://phish.evil-site.org/login",
    }
    cleared = set(_lines(stored, max_tlp=Tlp.GREEN, unmarked_tlp=Tlp.CLEAR))
    assert {"new-version.net", "boss@evil-site.org"} <= cleared
    observables = _lines(stored, types=("ipv4-addr",))
    assert observables == ["45.9.148.99"]


def test_default_exclusions_can_be_lifted(stored: Node) -> None:
    lines = set(_lines(stored))
    assert not {"198.51.100.7", "revoked.net", "partial.net", "old-version.net"} & lines
    assert "198.51.100.7" in _lines(stored, include_warninglisted=True)
    assert "revoked.net" in _lines(stored, include_revoked=True)
    assert "partial.net" in _lines(stored, include_unmatchable=True)
    assert "old-version.net" in _lines(stored, all_versions=True)


def test_bad_filters_are_refused_before_writing(stored: Node) -> None:
    for fmt, filters, field in [
        ("stix", {"kinds": ("domain",)}, "kind"),
        ("rpz", {"kinds": ("ipv4",)}, "kind"),
        ("text", {"kinds": ("bogus",)}, "kind"),
        ("text", {"min_confidence": 101}, "min_confidence"),
        ("text", {"max_tlp": Tlp.RED}, "tlp_max"),
        ("yaml", {}, "format"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            _export(stored, fmt, **filters)
        assert caught.value.fields["field"] == field


def test_rows_stream_in_chunks(stored: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _export(stored, "csv")[0]
    monkeypatch.setattr(selection_module, "CHUNK", 2)
    seen: list[int] = []
    target = io.BytesIO()
    export(
        stored.database,
        clock=stored.clock,
        actor="user:tester",
        format="csv",
        target=target,
        progress=seen.append,
    )
    assert target.getvalue() == whole
    assert seen == [2, 4, 6, 8, 10]


# --- audit, registry, CLI ----------------------------------------------------------------


def test_exports_are_audited(stored: Node) -> None:
    _, report = _export(stored, "text", min_confidence=50)
    with pytest.raises(InvalidInput):
        _export(stored, "stix", max_tlp=Tlp.RED)
    with stored.database.reader() as session:
        done, refused = list_entries(session, action="intel.export")
        [event] = read_events(session, types=["intel.export"])
    assert done.outcome == "ok"
    assert done.subject is None
    assert done.detail["format"] == "text"
    assert done.detail["filters"]["min_confidence"] == 50
    assert done.detail["filters"]["max_tlp"] == "TLP:AMBER"
    assert done.detail["counts"] == report.counts
    assert event.payload["counts"]["values"] == report.values
    assert refused.outcome == "failed"
    assert "never exported" in refused.detail["error"]


def test_registry_takes_plugins_like_built_ins(stored: Node) -> None:
    registry = default_exporters()
    assert registry.names() == ["csv", "rpz", "stix", "suricata", "text", "zeek"]

    def count_only(selection: Any, target: Any) -> None:
        total = sum(1 for _ in selection.distinct_values())
        selection.report.values = total
        target.write(f"{total}\n".encode())

    plugin = Exporter(name="count", summary="how many values", write=count_only)
    registry.register(plugin)
    with pytest.raises(Conflict):
        registry.register(Exporter(name="stix", summary="impostor", write=count_only))
    with pytest.raises(InvalidInput):
        ExporterRegistry().register(Exporter(name="Bad Name", summary="", write=count_only))
    target = io.BytesIO()
    report = export(
        stored.database,
        clock=stored.clock,
        actor="user:tester",
        format="count",
        target=target,
        exporters=registry,
    )
    assert target.getvalue() == b"9\n"
    assert report.values == 9


def test_cli_export(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, write: Any
) -> None:
    monkeypatch.setenv("WATCHKEEPER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", database_url)
    runner = CliRunner()
    imported = runner.invoke(cli, ["intel", "import", str(write(bundle(*_sample())))])
    assert imported.exit_code == 0, imported.output
    # The CLI runs on the wall clock: samples dated 2026-03 may have decayed by now.
    listed = runner.invoke(
        cli, ["intel", "export", "--format", "text", "--kind", "domain", "--include-expired"]
    )
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines() == ["evil-site.org", "new-version.net"]
    assert "2 values written" in listed.stderr
    target = tmp_path / "out" / "intel.json"
    target.parent.mkdir()
    saved = runner.invoke(
        cli,
        [
            *("intel", "export", "--format", "stix", "--since", "2026-03-05", "-o", str(target)),
            *("--tlp-max", "amber+strict", "--type", "indicator", "--json", "--include-expired"),
        ],
    )
    assert saved.exit_code == 0, saved.output
    report = json.loads(saved.stdout)
    assert (report["format"], report["objects"]) == ("stix", 2)
    assert _ids(orjson.loads(target.read_bytes())) >= {_id("indicator", 9), _id("indicator", 10)}
    assert [p.name for p in target.parent.iterdir()] == ["intel.json"]  # no partial file left
    refused = runner.invoke(cli, ["intel", "export", "--format", "csv", "--tlp-max", "red"])
    assert isinstance(refused.exception, InvalidInput)
    bad = runner.invoke(cli, ["intel", "export", "--format", "csv", "--since", "soon"])
    assert bad.exit_code == 2
