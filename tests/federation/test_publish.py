"""MISP feeds published per sharing community: loadable by PyMISP, nothing beyond the policy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymisp import MISPEvent
from sharing_samples import AMBER, CLEAR, GREEN, RED, STRICT, deliver, load, register

from watchkeeper.core import FixedClock
from watchkeeper.errors import InvalidInput
from watchkeeper.federation import publish_misp_feed
from watchkeeper.intel import add_feed, import_misp_feed, parse_definition, pull_feed
from watchkeeper.node import Node
from watchkeeper.security import list_entries
from watchkeeper.testing import make_node


def address(n: int, *, markings: list[str] | None = None) -> dict[str, Any]:
    """An indicator of address 45.133.1.n (a routable address: no warninglist drops it)."""
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--5a5a5a5a-0000-4000-8000-{n:012d}",
        "created": "2026-01-10T10:00:00.000Z",
        "modified": "2026-01-10T10:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '45.133.1.{n}']",
        "pattern_type": "stix",
        "valid_from": "2026-01-10T10:00:00.000Z",
    }
    if markings is not None:
        obj["object_marking_refs"] = markings
    return obj


@pytest.fixture
def store(node: Node) -> Node:
    """Own objects at every level, and deliveries from peers in various scopes."""
    register(node, "OM-CERT")
    register(node, "AE-TDRA")
    load(
        node,
        address(1, markings=[CLEAR]),
        address(2, markings=[GREEN]),
        address(3, markings=[AMBER]),
        address(4, markings=[STRICT]),
        address(5, markings=[RED]),
        address(6),  # unmarked: counts as AMBER
    )
    deliver(node, "OM-CERT", address(7, markings=[GREEN]), scope="national", reshare=False)
    deliver(node, "AE-TDRA", address(8, markings=[GREEN]), scope="regional", reshare=True)
    deliver(node, "AE-TDRA", address(9, markings=[GREEN]), scope="regional", reshare=False)
    return node


def publish(node: Node, folder: Path, community: str, **options: Any) -> set[int]:
    """Publish, load every event with PyMISP, and return the address numbers in the feed."""
    publish_misp_feed(
        node.database, clock=node.clock, actor="user:admin", community=community,
        directory=folder, **options,
    )  # fmt: skip
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    found: set[int] = set()
    for event_uuid in manifest:
        event = MISPEvent()
        event.load((folder / f"{event_uuid}.json").read_bytes())
        assert event.uuid == event_uuid
        for attribute in event.attributes:
            assert attribute.type == "ip-dst"
            found.add(int(attribute.value.rsplit(".", 1)[1]))
            assert not any(t.name.startswith("tlp:red") for t in attribute.tags)
    hashes = (folder / "hashes.csv").read_text().splitlines()
    assert len(hashes) == len(found)
    return found


def test_each_community_gets_what_the_policy_lets_it_have(store: Node, tmp_path: Path) -> None:
    assert publish(store, tmp_path / "national", "national") == {1, 2, 7, 8, 9}
    assert publish(store, tmp_path / "regional", "regional") == {1, 2, 8, 9}
    assert publish(store, tmp_path / "international", "international") == {1, 2, 8}
    amber = publish(store, tmp_path / "amber", "regional", max_tlp="amber")
    assert amber == {1, 2, 3, 6, 8, 9}  # never AMBER+STRICT (no owner), never RED

    with store.database.reader() as session:
        *_, entry = list_entries(session, action="intel.export")
    assert entry.detail["community"] == "regional"
    assert entry.detail["audience"] == "community:regional"
    assert entry.detail["max_tlp"] == "TLP:AMBER"


def test_red_and_strict_ceilings_are_refused(store: Node, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="TLP:RED"):
        publish_misp_feed(store.database, clock=store.clock, actor="user:admin",
                          community="national", directory=tmp_path, max_tlp="red")  # fmt: skip
    with pytest.raises(InvalidInput, match="AMBER\\+STRICT"):
        publish_misp_feed(store.database, clock=store.clock, actor="user:admin",
                          community="national", directory=tmp_path,
                          max_tlp="amber+strict")  # fmt: skip
    with pytest.raises(InvalidInput, match="community"):
        publish_misp_feed(store.database, clock=store.clock, actor="user:admin",
                          community="galactic", directory=tmp_path)  # fmt: skip


def test_a_partner_pulls_the_published_feed(store: Node, tmp_path: Path) -> None:
    folder = tmp_path / "regional"
    publish(store, folder, "regional")
    other = tmp_path / "partner"
    partner = make_node(other / "data", database_url=f"sqlite:///{other / 'partner.db'}")
    try:
        first = import_misp_feed(partner.database, clock=partner.clock, actor="user:peer",
                                 directory=folder, feed_name="qa-regional")  # fmt: skip
        assert first.rejected == 0 and first.created > 0
        again = import_misp_feed(partner.database, clock=partner.clock, actor="user:peer",
                                 directory=folder, feed_name="qa-regional")  # fmt: skip
        assert again.created + again.updated + again.unchanged == 0  # nothing changed
    finally:
        partner.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """A static web server over a directory (as a feed is published), logging the paths."""
    folder = tmp_path / "www"
    folder.mkdir()
    requested: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *_args: Any) -> None:
            requested.append(self.path)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/regional/", folder, requested
    httpd.shutdown()
    httpd.server_close()


def test_a_partner_pulls_the_published_feed_over_http_incrementally(
    store: Node, tmp_path: Path, served: tuple[str, Path, list[str]]
) -> None:
    url, www, requested = served
    publish(store, www / "regional", "regional")
    events = len(orjson.loads((www / "regional" / "manifest.json").read_bytes()))
    other = tmp_path / "partner"
    partner = make_node(other / "data", database_url=f"sqlite:///{other / 'partner.db'}")
    try:
        with partner.database.transaction() as session:
            spec = parse_definition({"name": "qa-regional", "format": "misp-feed", "source": url})
            add_feed(session, clock=partner.clock, actor="user:peer", definition=spec)

        def pull() -> Any:
            requested.clear()
            return pull_feed(partner.database, clock=partner.clock, actor="user:peer",
                             name="qa-regional")  # fmt: skip

        first = pull()
        assert first.rejected == 0 and first.created > 0
        assert len(requested) == 1 + events  # the manifest, then every event
        again = pull()
        assert again.created + again.updated + again.unchanged == 0
        assert requested == ["/regional/manifest.json"]  # nothing changed: no event fetched

        store_clock = store.clock
        assert isinstance(store_clock, FixedClock)
        store_clock.advance(timedelta(days=1))
        load(
            store,
            address(20, markings=[GREEN])
            | {"created": "2026-01-12T10:00:00.000Z", "modified": "2026-01-12T10:00:00.000Z"},
        )
        publish(store, www / "regional", "regional")
        third = pull()
        assert third.created > 0 and third.rejected == 0
        assert len(requested) == 2  # the manifest and the one new day-event
    finally:
        partner.close()
