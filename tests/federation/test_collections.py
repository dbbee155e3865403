"""TAXII collections: definitions, per-peer rights, and the pages a peer reads from them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sharing_samples import (
    AMBER,
    CLEAR,
    GREEN,
    IDENTITY_A,
    RED,
    STRICT,
    deliver,
    indicator,
    load,
    register,
    sid,
)
from sqlalchemy.orm import Session

from watchkeeper.errors import Conflict, Forbidden, InvalidInput, NotFound
from watchkeeper.federation import (
    Collection,
    add_collection,
    collection_document,
    collection_objects,
    find_collection,
    list_collections,
    peer_collections,
    set_rights,
)
from watchkeeper.node import Node
from watchkeeper.security import list_entries


def _add(node: Node, title: str = "Indicators", **options: Any) -> dict[str, Any]:
    with node.database.transaction() as session:
        collection = add_collection(
            session, clock=node.clock, actor="user:admin", title=title, **options
        )
        return collection_document(collection)


def _grant(node: Node, peer: str, **rights: Any) -> None:
    with node.database.transaction() as session:
        set_rights(session, clock=node.clock, actor="user:admin", peer=peer, **rights)


def _read(node: Node, collection: str, peer: str, **options: Any) -> list[int]:
    """Object numbers (see ``sid``) of what ``peer`` reads from ``collection``."""
    with node.database.reader() as session:
        found = collection_objects(session, collection=collection, peer=peer, **options)
    assert [row.seq for row in found] == sorted(row.seq for row in found)
    return [int(row.id.rsplit("-", 1)[1]) for row in found]


def _visible(session: Session, peer: str, community: str) -> list[str]:
    return [c.id for c, _ in peer_collections(session, peer=peer, community=community)]


# --- definitions ----------------------------------------------------------------------------


def test_add_list_and_find_collections(node: Node) -> None:
    first = _add(
        node,
        alias="iocs",
        description="Network indicators",
        types=["indicator", "ipv4-addr"],
        max_tlp="TLP:AMBER",
        sources=["feed:", "peer:QA-NCSA"],
        labels=["malicious-activity"],
    )
    assert first["community"] == "national"
    assert first["filters"] == {
        "types": ["indicator", "ipv4-addr"],
        "max_tlp": "amber",
        "sources": ["feed:", "peer:QA-NCSA"],
        "labels": ["malicious-activity"],
    }
    second = _add(node, "Everything", community="regional", alias="iocs")  # other API root
    with node.database.reader() as session:
        assert [c.id for c in list_collections(session)] == [first["id"], second["id"]]
        assert [c.id for c in list_collections(session, community="regional")] == [second["id"]]
        assert find_collection(session, first["id"].upper()).id == first["id"]
        assert find_collection(session, "iocs", community="regional").id == second["id"]
        with pytest.raises(InvalidInput, match="several API roots"):
            find_collection(session, "iocs")
        with pytest.raises(NotFound):
            find_collection(session, "nothing")
        entries = list_entries(session, action="collection.add")
    assert [e.subject for e in entries] == [f"collection:{c['id']}" for c in (first, second)]
    assert entries[0].detail["filters"]["max_tlp"] == "amber"


def test_an_alias_is_unique_in_its_api_root(node: Node) -> None:
    _add(node, alias="iocs")
    with pytest.raises(Conflict):
        _add(node, "Again", alias="iocs")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"title": "  "}, "title"),
        ({"community": "galactic"}, "community"),
        ({"alias": "has space"}, "alias"),
        ({"alias": "0f0f0f0f-0000-4000-8000-000000000001"}, "alias"),
        ({"types": ["Indicator"]}, "types"),
        ({"types": [""]}, "types"),
        ({"max_tlp": "red"}, "max_tlp"),
        ({"max_tlp": "blue"}, "max_tlp"),
        ({"sources": [" "]}, "sources"),
        ({"labels": [""]}, "labels"),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(
    node: Node, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        _add(node, **{"title": "T", **options})
    assert caught.value.fields["field"] == field
    with node.database.reader() as session:
        assert list_collections(session) == []


# --- rights ---------------------------------------------------------------------------------


def test_rights_are_granted_revoked_and_audited(node: Node) -> None:
    register(node, "QA-NCSA")
    register(node, "KE-CERT")
    iocs = _add(node, alias="iocs")["id"]
    reports = _add(node, "Reports", alias="reports")["id"]
    regional = _add(node, "Regional", community="regional")["id"]
    _grant(node, "QA-NCSA", read=["iocs", regional], write=["iocs"])
    _grant(node, "QA-NCSA", read=["reports"])
    _grant(node, "KE-CERT", read=["reports"])
    with node.database.reader() as session:
        seen = {
            c.id: (r.can_read, r.can_write)
            for c, r in peer_collections(session, peer="QA-NCSA", community="national")
        }
        assert seen == {iocs: (True, True), reports: (True, False)}
        assert _visible(session, "QA-NCSA", "regional") == [regional]
    _grant(node, "QA-NCSA", revoke=["iocs"])
    _grant(node, "QA-NCSA", revoke=["iocs"])  # nothing left to revoke: not audited
    with node.database.reader() as session:
        assert _visible(session, "QA-NCSA", "national") == [reports]
        entries = list_entries(session, action="collection.rights")
    assert [e.detail["rights"] for e in entries] == [
        {iocs: {"read": True, "write": True}, regional: {"read": True, "write": False}},
        {reports: {"read": True, "write": False}},
        {reports: {"read": True, "write": False}},
        {iocs: {"read": False, "write": False}},
    ]
    assert [e.subject for e in entries] == ["peer:QA-NCSA"] * 2 + ["peer:KE-CERT", "peer:QA-NCSA"]


def test_bad_rights_change_nothing(node: Node) -> None:
    register(node, "QA-NCSA")
    _add(node, alias="iocs")
    with pytest.raises(NotFound):
        _grant(node, "QA-NCSA", read=["iocs", "missing"])
    with pytest.raises(InvalidInput) as caught:
        _grant(node, "QA-NCSA", read=["iocs"], revoke=["iocs"])
    assert caught.value.fields["field"] == "revoke"
    with pytest.raises(NotFound):
        _grant(node, "XX-NONE", read=["iocs"])
    with node.database.reader() as session:
        assert peer_collections(session, peer="QA-NCSA", community="national") == []


# --- pages ----------------------------------------------------------------------------------


def _store(node: Node) -> None:
    register(node, "QA-NCSA", community="national", max_tlp="amber+strict", need_to_know=True,
             identity=IDENTITY_A)  # fmt: skip
    register(node, "KE-CERT", community="regional", max_tlp="green")
    load(
        node,
        indicator(1, markings=[CLEAR], labels=["malicious-activity"]),
        indicator(2, markings=[GREEN], labels=["benign", "anonymization"]),
        indicator(3, markings=[AMBER], labels=["malicious-activity"]),
        indicator(4, markings=[STRICT], created_by_ref=IDENTITY_A),
        indicator(5, markings=[RED], labels=["malicious-activity"]),
        indicator(6, markings=[GREEN], labels="malicious-activity"),  # not a list: no label
        indicator(7, markings=[GREEN], description="labels: malicious-activity"),
        {"type": "ipv4-addr", "spec_version": "2.1", "id": sid("ipv4-addr", 8),
         "value": "198.51.100.8", "object_marking_refs": [GREEN]},
        source="feed:abuse",
    )  # fmt: skip
    load(node, indicator(9, markings=[GREEN]), source="local:sightings")
    deliver(node, "QA-NCSA", indicator(10, markings=[GREEN]), scope="national")
    load(node, indicator(11, markings=[GREEN]), source="feedback:x")


def test_a_page_is_the_collection_filter_and_the_policy(node: Node) -> None:
    _store(node)
    everything = _add(node, "All", alias="all")["id"]
    _add(node, "Labelled", alias="labelled", labels=["malicious-activity", "anonymization"])
    _add(node, "Feeds", alias="feeds", sources=["feed:"], types=["indicator"])
    _add(node, "Abuse", alias="abuse", sources=["feed:abuse"], max_tlp="clear")
    _add(node, "Peers", alias="peers", sources=["peer:QA-NCSA", "local:sightings"])
    _add(node, "Observables", alias="sco", types=["ipv4-addr"])
    for peer in ("QA-NCSA", "KE-CERT"):
        _grant(node, peer, read=["all", "labelled", "feeds", "abuse", "peers", "sco"])

    assert _read(node, "all", "QA-NCSA") == [1, 2, 3, 4, 6, 7, 8, 9, 10, 11]
    assert _read(node, everything, "KE-CERT") == [1, 2, 6, 7, 8, 9, 11]  # 10 came national
    assert _read(node, "labelled", "QA-NCSA") == [1, 2, 3]
    assert _read(node, "labelled", "KE-CERT") == [1, 2]
    assert _read(node, "feeds", "QA-NCSA") == [1, 2, 3, 4, 6, 7]  # not "feedback:x"
    assert _read(node, "abuse", "QA-NCSA") == [1]
    assert _read(node, "peers", "QA-NCSA") == [9, 10]
    assert _read(node, "sco", "KE-CERT") == [8]


def test_pages_follow_the_sequence_without_gaps_or_repeats(node: Node) -> None:
    _store(node)
    _add(node, "All", alias="all")
    _grant(node, "QA-NCSA", read=["all"])
    with node.database.reader() as session:
        whole = collection_objects(session, collection="all", peer="QA-NCSA")
        pages, after = [], None
        while True:
            page = collection_objects(
                session, collection="all", peer="QA-NCSA", after_seq=after, limit=3
            )
            if not page:
                break
            pages.extend(page)
            after = page[-1].seq
    assert pages == whole
    assert len(whole) == 10


def test_a_page_holds_current_versions_on_request_and_no_internal_properties(
    node: Node,
) -> None:
    register(node, "QA-NCSA", max_tlp="green")
    load(
        node,
        indicator(1, markings=[GREEN], x_watchkeeper_note="from the night shift"),
        indicator(1, markings=[GREEN], modified="2026-03-02T10:00:00.000Z"),
    )
    _add(node, "All", alias="all")
    _grant(node, "QA-NCSA", read=["all"])
    with node.database.reader() as session:
        versions = collection_objects(session, collection="all", peer="QA-NCSA")
        current = collection_objects(session, collection="all", peer="QA-NCSA", current_only=True)
    assert [v.modified for v in versions] == [
        "2026-03-01T10:00:00.000000Z",
        "2026-03-02T10:00:00.000000Z",
    ]
    assert [v.modified for v in current] == ["2026-03-02T10:00:00.000000Z"]
    first = orjson.loads(versions[0].doc)
    assert "x_watchkeeper_note" not in first
    assert first["id"] == sid("indicator", 1)


def test_reading_needs_the_read_right(node: Node) -> None:
    register(node, "QA-NCSA", max_tlp="green")
    _add(node, alias="iocs")
    with node.database.reader() as session, pytest.raises(Forbidden):
        collection_objects(session, collection="iocs", peer="QA-NCSA")
    _grant(node, "QA-NCSA", write=["iocs"])
    with node.database.reader() as session:
        with pytest.raises(Forbidden):
            collection_objects(session, collection="iocs", peer="QA-NCSA")
        with pytest.raises(NotFound):
            collection_objects(session, collection="iocs", peer="XX-NONE")
        with pytest.raises(NotFound):
            collection_objects(session, collection="none", peer="QA-NCSA")


def test_stored_filters_are_checked_again(node: Node) -> None:
    identifier = _add(node, alias="iocs")["id"]
    register(node, "QA-NCSA")
    _grant(node, "QA-NCSA", read=["iocs"])
    with node.database.transaction() as session:
        session.get_one(Collection, identifier).filters = {"max_tlp": "red"}
    with node.database.reader() as session, pytest.raises(InvalidInput):
        collection_objects(session, collection="iocs", peer="QA-NCSA")
