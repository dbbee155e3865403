"""MISP import and export: mapping, idempotence, feeds (incremental), PyMISP, round trip."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymisp import MISPEvent
from sqlalchemy import select
from stix2validator import ValidationOptions, validate_string

from watchkeeper.core.tlp import TLP2_MARKING_IDS, Tlp
from watchkeeper.errors import InvalidInput
from watchkeeper.intel import (
    ImportReport,
    IndicatorValue,
    StixObject,
    expand,
    export_misp_event,
    export_misp_feed,
    feed_state,
    import_misp,
    import_misp_feed,
)
from watchkeeper.intel.misp_attributes import stix_id
from watchkeeper.node import Node
from watchkeeper.security import list_entries
from watchkeeper.testing import make_node

AMBER, RED, STRICT, GREEN = (
    TLP2_MARKING_IDS[t] for t in (Tlp.AMBER, Tlp.RED, Tlp.AMBER_STRICT, Tlp.GREEN)
)
PHISHING = "6c7b1a2e-3f4d-4e5a-9b8c-1d2e3f4a5b01"
BOTNET = "6c7b1a2e-3f4d-4e5a-9b8c-1d2e3f4a5b02"
INSIDER = "6c7b1a2e-3f4d-4e5a-9b8c-1d2e3f4a5b03"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
MD5 = "0CC175B9C0F1B6A831C399E269772661"
SHA1 = "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"
SHA512 = "1f40fc92da241694750979ee6cf582f2d5d7d28e18335de05abc54d0560e0f5302860c652bf08d560252aa5e74210546f369fbbbce8c12cfc7957b2652fe9a75"  # noqa: E501
YARA = 'rule invoice_dropper { strings: $a = "INV-2026" condition: $a }'
REGKEY = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\O'Brien"


def _attr(n: int, kind: str, value: str, *, to_ids: bool = True, **extra: Any) -> dict[str, Any]:
    category = extra.pop("category", "Network activity")
    return {
        "uuid": f"5a0e0000-0000-4000-8000-{n:012d}",
        "type": kind,
        "category": category,
        "value": value,
        "to_ids": to_ids,
        "distribution": "5",
        "timestamp": "1772100000",
        "comment": "",
        **extra,
    }


def phishing() -> dict[str, Any]:
    """A realistic event: many attribute types, two objects, TLP tags, galaxies."""
    return {
        "Event": {
            "uuid": PHISHING,
            "info": "Invoice-themed phishing wave against finance departments",
            "date": "2026-02-25",
            "timestamp": "1772200000",
            "publish_timestamp": "1772200500",
            "published": True,
            "analysis": "2",
            "threat_level_id": "1",
            "distribution": "1",
            "Orgc": {"name": "CERT-Example", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"},
            "Tag": [
                {"name": "tlp:amber", "colour": "#FFC000"},
                {"name": 'osint:source-type="blog-post"'},
                {"name": 'misp-galaxy:threat-actor="APT 28"'},
            ],
            "Galaxy": [
                {
                    "type": "threat-actor",
                    "name": "Threat Actor",
                    "GalaxyCluster": [
                        {"value": "APT 28", "tag_name": 'misp-galaxy:threat-actor="APT 28"'}
                    ],
                },
                {
                    "type": "mitre-attack-pattern",
                    "name": "Attack Pattern",
                    "GalaxyCluster": [{"value": "Spearphishing Attachment - T1566.001"}],
                },
            ],
            "Attribute": [
                _attr(1, "ip-dst", "45.133.1.20"),
                _attr(2, "ip-src", "2A03:2880:F10C:0083:FACE:B00C:0000:25DE"),
                _attr(3, "ip-dst|port", "91.219.236.18|8443"),
                _attr(4, "domain", "Secure-Login-Portal.xyz"),
                _attr(5, "hostname", "mail.secure-login-portal.xyz."),
                _attr(6, "domain|ip", "update-cdn.top|185.220.101.33"),
                _attr(7, "url", "HTTP://secure-login-portal.xyz:80/Owa/Auth.php?user=o'neil"),
                _attr(8, "email-src", "billing@invoice-notice.biz", category="Payload delivery"),
                _attr(9, "md5", MD5, category="Payload delivery"),
                _attr(10, "sha1", SHA1, category="Payload delivery"),
                _attr(11, "sha512", SHA512, category="Payload delivery"),
                _attr(
                    12, "filename|sha256", f"invoice.pdf.exe|{SHA256}", category="Payload delivery"
                ),
                _attr(13, "AS", "AS202425", to_ids=False),
                _attr(14, "regkey", REGKEY, category="Persistence mechanism"),
                _attr(15, "text", "Targets accounts payable staff", to_ids=False, category="Other"),
                _attr(16, "ip-dst", "10.20.30.40", to_ids=False),  # private: warninglisted
                _attr(17, "ip-dst", "256.1.1.1"),  # not an address: rejected
                _attr(
                    18,
                    "domain",
                    "c2-red-channel.info",
                    Tag=[{"name": "tlp:red"}],
                    comment="shared with us only",
                ),
                _attr(19, "yara", YARA, category="Payload installation"),
                _attr(20, "url", "https://cdn-files.top/payload.bin", to_ids=False),
                _attr(21, "ip-dst", "45.133.1.99", deleted=True),  # deleted: a revoked version
                _attr(22, "ip-dst", "45.133.1.0/24", first_seen="2026-02-01T00:00:00+00:00"),
            ],
            "Object": [
                {
                    "name": "file",
                    "meta-category": "file",
                    "uuid": "0b1e0000-0000-4000-8000-000000000001",
                    "timestamp": "1772150000",
                    "distribution": "5",
                    "comment": "dropper",
                    "Attribute": [
                        _attr(31, "filename", "invoice.pdf.exe", object_relation="filename"),
                        _attr(32, "sha256", SHA256.upper(), object_relation="sha256"),
                        _attr(
                            33,
                            "size-in-bytes",
                            "48213",
                            to_ids=False,
                            object_relation="size-in-bytes",
                            category="Other",
                        ),
                    ],
                    "ObjectReference": [
                        {
                            "referenced_uuid": "0b1e0000-0000-4000-8000-000000000002",
                            "relationship_type": "connects-to",
                        }
                    ],
                },
                {
                    "name": "domain-ip",
                    "meta-category": "network",
                    "uuid": "0b1e0000-0000-4000-8000-000000000002",
                    "timestamp": "1772150000",
                    "Attribute": [
                        _attr(41, "domain", "files-update.top", object_relation="domain"),
                        _attr(42, "ip-dst", "185.220.101.34", object_relation="ip", to_ids=False),
                    ],
                },
            ],
        }
    }


def botnet(timestamp: str = "1772300000") -> dict[str, Any]:
    """A TLP:GREEN event of C2 addresses."""
    return {
        "Event": {
            "uuid": BOTNET,
            "info": "Botnet C2 servers, week 9",
            "date": "2026-02-28",
            "timestamp": timestamp,
            "published": True,
            "distribution": "3",
            "Tag": [{"name": "tlp:green"}],
            "Attribute": [
                _attr(51, "ip-dst", "193.42.33.7", timestamp=timestamp),
                _attr(52, "ip-dst|port", "193.42.33.8|443", timestamp=timestamp),
                _attr(53, "url", "http://193.42.33.9/gate.php", timestamp=timestamp),
            ],
        }
    }


def insider() -> dict[str, Any]:
    """No TLP tag, distribution "your organisation only": TLP:AMBER+STRICT is implied."""
    return {
        "Event": {
            "uuid": INSIDER,
            "info": "Internal investigation",
            "date": "2026-03-01",
            "timestamp": "1772400000",
            "distribution": "0",
            "Attribute": [_attr(61, "email-dst", "exfil@protonmail.ch")],
        }
    }


def _import(node: Node, *paths: Path, source: str = "misp-test") -> ImportReport:
    return import_misp(
        node.database,
        clock=node.clock,
        actor="user:tester",
        inputs=expand([str(p) for p in paths]),
        source=source,
    )


def _objects(node: Node, kind: str | None = None) -> dict[str, dict[str, Any]]:
    """Current objects by id (of one type)."""
    with node.database.reader() as session:
        query = select(StixObject).where(StixObject.current)
        if kind is not None:
            query = query.where(StixObject.type == kind)
        return {o.id: orjson.loads(o.doc) for o in session.scalars(query)}


def _values(node: Node, ids: list[str]) -> set[tuple[str, str]]:
    with node.database.reader() as session:
        rows = session.execute(
            select(IndicatorValue.kind, IndicatorValue.value)
            .join(StixObject, StixObject.seq == IndicatorValue.object_seq)
            .where(StixObject.id.in_(ids), StixObject.current)
        )
        return {(kind, value) for kind, value in rows}


def _indicator(n: int) -> str:
    return stix_id("indicator", f"5a0e0000-0000-4000-8000-{n:012d}")


# --- import ---------------------------------------------------------------------------------


def test_event_maps_to_report_indicators_observables(node: Node, write: Any) -> None:
    report = _import(node, write(phishing(), "phishing.json"))
    assert report.rejected == 1
    [reject] = report.rejects
    assert reject.file.endswith("phishing.json")
    assert "5a0e0000-0000-4000-8000-000000000017" in reject.reason
    assert "256.1.1.1" in reject.reason
    assert report.warninglisted == 1  # 10.20.30.40
    objects = _objects(node)
    by_type: dict[str, int] = {}
    for obj in objects.values():
        by_type[obj["type"]] = by_type.get(obj["type"], 0) + 1
    assert by_type == {
        "report": 1,
        "indicator": 20,  # 17 to_ids attributes (YARA, revoked too; not 256.1.1.1), 3 in objects
        "note": 1,
        "grouping": 2,
        "autonomous-system": 1,
        "ipv4-addr": 2,
        "url": 1,
    }
    assert report.created == sum(by_type.values())

    [event] = _objects(node, "report").values()
    assert event["id"] == stix_id("report", PHISHING)
    assert event["name"].startswith("Invoice-themed")
    assert event["object_marking_refs"] == [AMBER]
    assert event["published"] == "2026-02-27T13:55:00.000Z"
    assert event["x_misp_distribution"] == 1 and event["x_misp_orgc"] == "CERT-Example"
    assert event["labels"] == [
        'osint:source-type="blog-post"',
        'misp-galaxy:threat-actor="APT 28"',
        'misp-galaxy:mitre-attack-pattern="Spearphishing Attachment - T1566.001"',
    ]
    assert set(event["object_refs"]) == set(objects) - {event["id"]}

    patterns = {o["x_misp_uuid"][-2:]: o["pattern"] for o in _objects(node, "indicator").values()}
    assert patterns["02"] == "[ipv6-addr:value = '2a03:2880:f10c:83:face:b00c:0:25de']"
    assert patterns["03"] == (
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = "
        "'91.219.236.18' AND network-traffic:dst_port = 8443]"
    )
    assert patterns["05"] == "[domain-name:value = 'mail.secure-login-portal.xyz']"
    assert (
        patterns["07"]
        == "[url:value = 'http://secure-login-portal.xyz/Owa/Auth.php?user=o\\'neil']"
    )
    assert patterns["12"] == (
        f"[file:name = 'invoice.pdf.exe' AND file:hashes.'SHA-256' = '{SHA256}']"
    )
    assert patterns["14"] == (
        "[windows-registry-key:key = 'HKCU\\\\Software\\\\Microsoft\\\\Windows\\\\CurrentVersion"
        "\\\\Run\\\\O\\'Brien']"
    )
    assert patterns["19"] == YARA
    assert patterns["22"] == "[ipv4-addr:value = '45.133.1.0/24']"

    red = objects[_indicator(18)]
    assert red["object_marking_refs"] == [RED]
    assert red["description"] == "shared with us only"
    assert objects[_indicator(19)]["pattern_type"] == "yara"
    assert objects[_indicator(21)]["revoked"] is True
    assert objects[_indicator(22)]["valid_from"] == "2026-02-01T00:00:00.000000Z"
    assert 'misp-galaxy:threat-actor="APT 28"' in objects[_indicator(1)]["labels"]
    assert _values(node, [_indicator(1), _indicator(9), _indicator(8)]) == {
        ("ipv4", "45.133.1.20"),
        ("md5", MD5.lower()),
        ("email", "billing@invoice-notice.biz"),
    }

    [note] = _objects(node, "note").values()
    assert note["content"] == "Targets accounts payable staff"
    assert note["object_refs"] == [event["id"]] and note["x_misp_type"] == "text"
    groupings = {g["name"]: g for g in _objects(node, "grouping").values()}
    dropper = groupings["file"]
    assert dropper["description"] == "dropper"
    assert len(dropper["object_refs"]) == 2
    assert dropper["x_misp_attributes"][0]["type"] == "size-in-bytes"
    assert dropper["x_misp_references"][0]["relationship_type"] == "connects-to"
    assert dropper["modified"] == "2026-02-27T13:46:40.000Z"  # the event is newer than it


def test_mapped_objects_are_valid_stix(node: Node, write: Any) -> None:
    _import(node, write(phishing()))
    bundle = {
        "type": "bundle",
        "id": "bundle--6c7b1a2e-3f4d-4e5a-9b8c-1d2e3f4a5b99",
        "objects": list(_objects(node).values()),
    }
    result = validate_string(orjson.dumps(bundle).decode(), ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for o in result.as_dict()["results"] for e in o["errors"]]


def test_reimport_is_unchanged(node: Node, write: Any) -> None:
    path = write(phishing())
    first = _import(node, path)
    again = _import(node, path, source="misp-again")
    total = first.created
    assert again.counts == {
        "created": 0,
        "updated": 0,
        "unchanged": total,
        "rejected": 1,
        "warninglisted": 0,
    }


def test_changed_event_gives_new_versions_not_clashes(node: Node, write: Any) -> None:
    _import(node, write(phishing(), "v1.json"))
    changed = phishing()
    changed["Event"]["timestamp"] = "1772900000"
    changed["Event"]["Tag"][0] = {"name": "tlp:red"}  # re-marked: every object must follow
    report = _import(node, write(changed, "v2.json"))
    assert report.rejected == 1  # still only 256.1.1.1
    assert report.created == 4  # observables carry the marking in their content (and id)
    indicators = _objects(node, "indicator")
    assert {o["object_marking_refs"][0] for o in indicators.values()} == {RED}


def test_wrappings_and_bad_files(node: Node, write: Any, tmp_path: Path) -> None:
    listed = write([botnet(), insider()], "list.json")
    rest = write({"response": [phishing()]}, "rest.json")
    broken = write(b'{"Event": {"uuid": ', "broken.json")
    attributes = write({"response": {"Attribute": []}}, "attributes.json")
    no_uuid = write({"Event": {"info": "x", "timestamp": "1", "Attribute": []}}, "nouuid.json")
    purple = copy.deepcopy(botnet())
    purple["Event"]["Tag"] = [{"name": "tlp:purple"}]
    unknown = write(purple, "purple.json")
    report = _import(node, listed, rest, broken, attributes, no_uuid, unknown)
    reasons = {Path(r.file).name: r.reason for r in report.rejects}
    assert "malformed JSON at line 1" in reasons["broken.json"]
    assert "attribute search" in reasons["attributes.json"]
    assert "uuid" in reasons["nouuid.json"]
    assert "unknown TLP level" in reasons["purple.json"]
    reports = _objects(node, "report")
    assert set(reports) == {stix_id("report", u) for u in (PHISHING, BOTNET, INSIDER)}
    [internal] = [
        o for o in _objects(node, "indicator").values() if o["x_misp_uuid"].endswith("61")
    ]
    assert internal["object_marking_refs"] == [STRICT]  # distribution 0, no TLP tag
    assert internal["x_misp_distribution"] == 0


# --- feeds ------------------------------------------------------------------------------------


def _feed(folder: Path, *events: dict[str, Any], corrupt: str | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    manifest = {}
    for wrapped in events:
        event = wrapped["Event"]
        (folder / f"{event['uuid']}.json").write_bytes(orjson.dumps(wrapped))
        manifest[event["uuid"]] = {
            "info": event["info"],
            "date": event["date"],
            "timestamp": int(event["timestamp"]),
            "Tag": event.get("Tag", []),
        }
    if corrupt is not None:
        (folder / f"{corrupt}.json").write_bytes(b'{"Event": {"uuid": "' + corrupt.encode())
        manifest[corrupt] = {"info": "broken", "timestamp": 1772000000}
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))
    (folder / "hashes.csv").write_text("")
    return folder


def _pull(node: Node, folder: Path) -> ImportReport:
    return import_misp_feed(
        node.database, clock=node.clock, actor="user:tester", directory=folder, feed_name="circl"
    )


def _read(report: ImportReport) -> int:
    return report.created + report.updated + report.unchanged


def test_feed_is_pulled_incrementally(node: Node, tmp_path: Path) -> None:
    folder = _feed(tmp_path / "feed", phishing(), botnet(), corrupt=INSIDER)
    first = _pull(node, folder)
    assert first.format == "misp-feed" and first.source == "feed:circl"
    corrupt = [r for r in first.rejects if INSIDER in r.file]
    assert len(corrupt) == 1 and "malformed JSON" in corrupt[0].reason
    assert first.created > 0
    assert set(feed_state(node.database, feed_name="circl")) == {PHISHING, BOTNET}

    second = _pull(node, folder)  # only the corrupt event is tried again
    assert _read(second) == 0 and [Path(r.file).stem for r in second.rejects] == [INSIDER]

    _feed(folder, phishing(), botnet(), insider())  # repaired
    third = _pull(node, folder)
    assert (third.created, third.rejected) == (2, 0)  # the report and its indicator

    _feed(folder, phishing(), botnet(timestamp="1772390000"), insider())  # one event changed
    fourth = _pull(node, folder)
    assert (fourth.updated, _read(fourth), fourth.rejected) == (4, 4, 0)  # report, 3 indicators
    assert feed_state(node.database, feed_name="circl")[BOTNET] == 1772390000

    assert _read(_pull(node, folder)) == 0


def test_feed_without_manifest_is_refused(node: Node, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match=r"manifest\.json"):
        _pull(node, tmp_path / "empty")


# --- export -----------------------------------------------------------------------------------


def _exportable(node: Node) -> set[tuple[str, str]]:
    """Values an AMBER export may carry: current indicators, not RED, not warninglisted."""
    with node.database.reader() as session:
        rows = session.execute(
            select(IndicatorValue.kind, IndicatorValue.value)
            .join(StixObject, StixObject.seq == IndicatorValue.object_seq)
            .where(
                StixObject.type == "indicator",
                StixObject.current,
                StixObject.revoked.is_(False),
                StixObject.tlp != "red",
                IndicatorValue.warninglists.is_(None),
            )
        )
        return {(kind, value) for kind, value in rows}


def test_event_export_loads_in_pymisp_and_round_trips(node: Node, write: Any) -> None:
    _import(node, write(phishing()))
    expected = _exportable(node)
    document = export_misp_event(
        node.database,
        clock=node.clock,
        actor="user:tester",
        report=stix_id("report", PHISHING),
        organisation="CERT-Test",
    )
    event = MISPEvent()
    event.load(orjson.dumps(document))
    assert event.info.startswith("Invoice-themed")
    assert {t.name for t in event.tags} >= {"tlp:amber", 'misp-galaxy:threat-actor="APT 28"'}
    values = {a.value for a in event.attributes}
    assert "c2-red-channel.info" not in values  # TLP:RED never leaves
    assert "45.133.1.99" not in values  # revoked
    assert {a.type for a in event.attributes} >= {"ip-dst", "domain", "url", "md5", "email-src"}
    assert all(a.to_ids for a in event.attributes)
    assert document == export_misp_event(
        node.database,
        clock=node.clock,
        actor="user:tester",
        report=stix_id("report", PHISHING),
        organisation="CERT-Test",
    )  # deterministic

    report = _import(node, write(document, "exported.json"), source="round-trip")
    assert report.rejected == 0
    again = _objects(node, "report")[stix_id("report", document["Event"]["uuid"])]
    assert _values(node, again["object_refs"]) == expected
    with node.database.reader() as session:
        [entry, *_] = list_entries(session, action="intel.export")
    assert entry.detail["format"] == "misp" and entry.detail["max_tlp"] == "TLP:AMBER"


def test_export_filters(node: Node, write: Any) -> None:
    _import(node, write([phishing(), botnet()]))
    green = export_misp_event(
        node.database, clock=node.clock, actor="user:tester", max_tlp=Tlp.GREEN
    )
    assert {(a["type"], a["value"]) for a in green["Event"]["Attribute"]} == {
        ("ip-dst", "193.42.33.7"),
        ("ip-dst|port", "193.42.33.8|443"),  # the port travels with the address
        ("url", "http://193.42.33.9/gate.php"),
    }
    assert green["Event"]["Tag"] == [{"name": "tlp:green"}]
    assert green["Event"]["distribution"] == "2"
    with pytest.raises(InvalidInput, match="TLP:RED"):
        export_misp_event(node.database, clock=node.clock, actor="user:tester", max_tlp=Tlp.RED)
    chosen = export_misp_event(
        node.database,
        clock=node.clock,
        actor="user:tester",
        indicators=[_indicator(1), _indicator(18)],
        info="Two picks",
    )
    assert [a["value"] for a in chosen["Event"]["Attribute"]] == ["45.133.1.20"]
    assert chosen["Event"]["info"] == "Two picks"


def test_feed_export_loads_in_pymisp_and_pulls_back(node: Node, write: Any, tmp_path: Path) -> None:
    _import(node, write([phishing(), botnet(), insider()]))
    folder = tmp_path / "out"
    result = export_misp_feed(
        node.database, clock=node.clock, actor="user:tester", directory=folder
    )
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    assert result.events == len(manifest) == 2  # the insider event is AMBER+STRICT
    hashes = (folder / "hashes.csv").read_text().splitlines()
    assert len(hashes) == result.attributes
    attributes = 0
    for event_uuid, summary in manifest.items():
        data = (folder / f"{event_uuid}.json").read_bytes()
        event = MISPEvent()
        event.load(data)
        assert event.uuid == event_uuid
        assert int(event.timestamp.timestamp()) == summary["timestamp"]
        attributes += len(event.attributes)
        for attribute in event.attributes:
            digest = hashlib.md5(attribute.value.encode(), usedforsecurity=False).hexdigest()
            assert f"{digest},{event_uuid}" in hashes
    assert attributes == result.attributes

    second = export_misp_feed(
        node.database, clock=node.clock, actor="user:tester", directory=folder
    )
    assert second.uuids == result.uuids
    assert orjson.loads((folder / "manifest.json").read_bytes()) == manifest

    other = tmp_path / "other-node"
    peer = make_node(other, database_url=f"sqlite:///{other / 'peer.db'}")
    try:
        pulled = import_misp_feed(
            peer.database, clock=peer.clock, actor="user:peer", directory=folder, feed_name="us"
        )
        assert pulled.rejected == 0
        assert _exportable(peer) == _exportable(node) - {("email", "exfil@protonmail.ch")}
    finally:
        peer.close()


# --- shared corpora -----------------------------------------------------------------------------

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"


@pytest.mark.skipif(
    not any(CORPORA.glob("**/*misp*")),
    reason=f"no MISP samples under {CORPORA} (the shared corpora are not on this machine)",
)
def test_shared_misp_corpora_import(node: Node) -> None:
    for feed in sorted({p.parent for p in CORPORA.glob("**/*misp*/**/manifest.json")}):
        report = import_misp_feed(
            node.database,
            clock=node.clock,
            actor="user:tester",
            directory=feed,
            feed_name=feed.name,
        )
        assert report.created + report.unchanged > 0, report.document()
    files = [
        p
        for p in CORPORA.glob("**/*misp*/**/*.json")
        if p.name != "manifest.json" and not (p.parent / "manifest.json").exists()
    ]
    if files:
        report = _import(node, *files, source="corpora")
        assert report.created + report.unchanged > 0, report.document()
