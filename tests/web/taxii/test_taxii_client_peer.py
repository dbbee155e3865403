"""taxii2-client, the OASIS TAXII 2.1 client, against the served node: discovery, API roots,
collections, paging through thousands of objects that share one ``date_added``, adding."""

from __future__ import annotations

import uuid

import pytest
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages
from taxii_seed import BULK, GREEN, Seeded, indicator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _server(served: Seeded, who: str = "qa") -> Server:
    return Server(f"{served.base}/taxii2/", user=served.users[who], password=served.tokens[who])


def test_discovery_roots_and_collections(served: Seeded) -> None:
    server = _server(served)
    assert server.title
    assert [root.url for root in server.api_roots] == [
        served.root(c) for c in ("national", "regional", "international")
    ]
    assert server.default is not None and server.default.url == served.root("national")
    national: ApiRoot = server.api_roots[0]
    assert national.max_content_length > 0
    titles = {c.alias: (c.can_read, c.can_write) for c in national.collections}
    assert titles["all"] == (True, True)
    assert titles["inbox"] == (False, True)


@pytest.mark.parametrize("per_request", [1000, 700])
def test_as_pages_reads_every_object_once(served: Seeded, per_request: int) -> None:
    collection = Collection(
        served.collection("bulk"), user=served.users["qa"], password=served.tokens["qa"]
    )
    seen: list[str] = []
    pages = 0
    for envelope in as_pages(collection.get_objects, per_request=per_request):
        seen += [obj["id"] for obj in envelope.get("objects", [])]
        pages += 1
    assert len(seen) == len(set(seen)) == BULK
    assert seen == served.bulk
    assert pages == -(-BULK // per_request)
    manifest = [
        entry["id"]
        for page in as_pages(collection.get_manifest, per_request=per_request)
        for entry in page.get("objects", [])
    ]
    assert manifest == served.bulk


def test_add_objects_and_wait_for_the_status(served: Seeded) -> None:
    collection = Collection(
        served.collection("all"), user=served.users["qa"], password=served.tokens["qa"]
    )
    good = indicator(0, markings=[GREEN])
    good["id"] = f"indicator--{uuid.uuid4()}"
    status = collection.add_objects({"objects": [good, {"type": "nonsense"}]}, poll_interval=0.2)
    assert status.status == "complete"
    assert (status.total_count, status.success_count, status.failure_count) == (2, 1, 1)
    assert collection.get_object(good["id"])["objects"] == [good]
    versions = collection.object_versions(good["id"])
    assert versions["versions"] == ["2026-01-10T00:00:00.000000Z"]
