"""TAXII 2.1 conformance, over plain HTTP: objects, manifests, one object and its versions;
every filter, ordering, the date headers, and paging (checklist: "Filtering and pagination").
"""

from __future__ import annotations

from typing import Any

import pytest
from taxii_http import error, get, ok, walk
from taxii_seed import BULK, STIX_MEDIA, V1, V2, V3, Seeded, mixed

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _stored(stamp: str) -> str:
    """A timestamp as the server writes versions (microseconds)."""
    return stamp.replace(".000Z", ".000000Z")


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def _names(served: Seeded, items: list[dict[str, Any]]) -> set[str]:
    by_id = {identifier: name for name, identifier in served.ids.items()}
    return {by_id[item["id"]] for item in items if item["id"] in by_id}


def _objects(served: Seeded, alias: str = "all", who: str = "qa", **params: Any) -> list[Any]:
    items, _ = walk(served, served.collection(alias) + "objects/", who=who, **params)
    return items


# --- what each caller reads -------------------------------------------------------------------


def test_objects_are_the_stored_documents(served: Seeded) -> None:
    found = {obj["id"]: obj for obj in _objects(served)}
    for name, obj in mixed().items():
        if name in ("clear", "green", "amber", "sco", "malware", "strict_qa"):
            assert found[obj["id"]] == obj, name


def test_the_sharing_policy_applies_to_every_peer(served: Seeded) -> None:
    readable = {"clear", "green", "amber", "unmarked", "strict_qa", "versioned", "sco"}
    qa = _names(served, _objects(served, who="qa"))
    assert readable | {"malware"} <= qa
    assert not qa & {"red", "red_granular", "red_labelled", "strict_other"}
    ke = _names(served, _objects(served, who="ke"))
    assert {"clear", "green", "versioned", "sco", "malware"} <= ke
    assert not ke & {"amber", "unmarked", "strict_qa", "strict_other", "red", "red_granular"}
    # Delivered by QA-NCSA into the national community, not to be re-shared wider: KE-CERT
    # is international.
    assert not ke & {"delivered", "delivered_versions"}
    staff = _names(served, _objects(served, who="analyst"))
    assert {"strict_qa", "strict_other", "amber", "unmarked"} <= staff
    assert not staff & {"red", "red_granular", "red_labelled"}


def test_collection_filters(served: Seeded) -> None:
    iocs = _objects(served, "iocs")
    assert {obj["type"] for obj in iocs} == {"indicator"}
    assert not _names(served, iocs) & {"amber", "unmarked", "strict_qa", "sco", "malware"}
    assert {"clear", "green", "versioned", "delivered"} <= _names(served, iocs)
    assert _names(served, _objects(served, "phishing")) == {"green"}
    assert _names(served, _objects(served, "from-qa")) == {"delivered", "delivered_versions"}
    bulk = _objects(served, "bulk")
    assert sorted(_ids(bulk)) == sorted(served.bulk)


def test_an_empty_page(served: Seeded) -> None:
    response = get(served, served.collection("all") + "objects/", **{"match[type]": "tool"})
    assert ok(response) == {"more": False}
    assert "x-taxii-date-added-first" not in response.headers


# --- filters ----------------------------------------------------------------------------------


def test_added_after_is_exclusive(served: Seeded) -> None:
    mixed_added = served.added["mixed"]
    after = _names(served, _objects(served, added_after=mixed_added))
    assert "versioned" in after  # its third version came later
    assert not after & {"clear", "green", "amber", "sco"}
    after_bulk = set(_ids(_objects(served, added_after=served.added["bulk"])))
    assert not after_bulk & set(served.bulk)
    before_bulk = set(_ids(_objects(served, "bulk", added_after="2000-01-01T00:00:00Z")))
    assert before_bulk == set(served.bulk)
    assert ok(
        get(served, served.collection("all") + "objects/", added_after="2999-01-01T00:00:00Z")
    ) == {"more": False}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "-3"},
        {"limit": "many"},
        {"added_after": "yesterday"},
        {"added_after": "2026-13-45T00:00:00Z"},
        {"match[version]": "newest"},
        {"match[spec_version]": "two"},
        {"next": "not-a-token"},
    ],
)
def test_bad_filters_are_400(served: Seeded, params: dict[str, str]) -> None:
    for endpoint in ("objects/", "manifest/"):
        body = error(get(served, served.collection("all") + endpoint, **params), 400)
        assert body["description"]


def test_limit_bounds_a_page(served: Seeded) -> None:
    body = ok(get(served, served.collection("bulk") + "objects/", limit=7))
    assert len(body["objects"]) == 7
    assert body["more"] is True and body["next"]
    # A limit above the server's largest page is capped, never refused.
    large = ok(get(served, served.collection("bulk") + "manifest/", limit=1_000_000))
    assert 0 < len(large["objects"]) <= 10_000


def test_match_id_and_type(served: Seeded) -> None:
    ids = served.ids
    both = _objects(served, **{"match[id]": f"{ids['clear']},{ids['malware']}"})
    assert _names(served, both) == {"clear", "malware"}
    assert _names(served, _objects(served, **{"match[type]": "ipv4-addr"})) == {"sco"}
    kinds = {o["type"] for o in _objects(served, **{"match[type]": "malware,ipv4-addr"})}
    assert kinds == {"malware", "ipv4-addr"}
    # Different filters are ANDed.
    assert _objects(served, **{"match[id]": ids["clear"], "match[type]": "malware"}) == []
    # A withheld object is not found by its id either.
    assert _objects(served, **{"match[id]": ids["red"]}) == []


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (None, [V3]),
        ("last", [V3]),
        ("first", [V1]),
        ("all", [V1, V2, V3]),
        (V2, [V2]),
        (_stored(V2), [V2]),
        (f"{V1},{V3}", [V1, V3]),
        ("first,last", [V1, V3]),
        ("2020-01-01T00:00:00Z", []),
    ],
)
def test_match_version(served: Seeded, version: str | None, expected: list[str]) -> None:
    params: dict[str, str] = {"match[id]": served.ids["versioned"]}
    if version is not None:
        params["match[version]"] = version
    found = _objects(served, **params)
    assert [obj["modified"] for obj in found] == expected
    object_url = served.collection("all") + f"objects/{served.ids['versioned']}/"
    one = ok(get(served, object_url, **({"match[version]": version} if version else {})))
    assert [obj["modified"] for obj in one.get("objects", [])] == expected


def test_match_spec_version(served: Seeded) -> None:
    assert len(_objects(served, "bulk", **{"match[spec_version]": "2.1"})) == BULK
    assert _objects(served, "bulk", **{"match[spec_version]": "2.0"}) == []
    assert len(_objects(served, "bulk", **{"match[spec_version]": "2.0,2.1"})) == BULK


def test_a_cyber_observable_takes_date_added_as_its_version(served: Seeded) -> None:
    sco = served.ids["sco"]
    manifest, _ = walk(served, served.collection("all") + "manifest/", **{"match[id]": sco})
    assert manifest == [
        {
            "id": sco,
            "date_added": served.added["sco"],
            "version": served.added["sco"],
            "media_type": STIX_MEDIA,
        }
    ]
    versions = ok(get(served, served.collection("all") + f"objects/{sco}/versions/"))
    assert versions == {"more": False, "versions": [served.added["sco"]]}
    exact = _objects(served, **{"match[id]": sco, "match[version]": served.added["sco"]})
    assert _ids(exact) == [sco]


# --- order, headers, manifests, one object, versions -----------------------------------------


def test_results_are_ordered_by_date_added_with_the_page_headers(served: Seeded) -> None:
    manifest, pages = walk(served, served.collection("all") + "manifest/", limit=500)
    stamps = [entry["date_added"] for entry in manifest]
    assert stamps == sorted(stamps)
    assert len(pages) > 1
    position = 0
    for page in pages:
        entries = page.json()["objects"]
        assert page.headers["x-taxii-date-added-first"] == entries[0]["date_added"]
        assert page.headers["x-taxii-date-added-last"] == entries[-1]["date_added"]
        position += len(entries)
    assert position == len(manifest)
    for entry in manifest:
        assert set(entry) == {"id", "date_added", "version", "media_type"}
        assert entry["media_type"] == STIX_MEDIA


def test_objects_and_manifest_agree(served: Seeded) -> None:
    objects = _objects(served)
    manifest, _ = walk(served, served.collection("all") + "manifest/")
    assert _ids(objects) == _ids(manifest)


def test_one_object(served: Seeded) -> None:
    url = served.collection("all") + f"objects/{served.ids['clear']}/"
    response = get(served, url)
    body = ok(response)
    assert body["more"] is False
    assert _ids(body["objects"]) == [served.ids["clear"]]
    assert response.headers["x-taxii-date-added-first"] == served.added["mixed"]
    assert response.headers["x-taxii-date-added-last"] == served.added["mixed"]
    for unknown in ("indicator--5eed0000-0000-4000-8000-999999999999", served.ids["red"]):
        error(get(served, served.collection("all") + f"objects/{unknown}/"), 404)
        error(get(served, served.collection("all") + f"objects/{unknown}/versions/"), 404)
    # Outside the collection's filters: not there either.
    error(get(served, served.collection("iocs") + f"objects/{served.ids['malware']}/"), 404)


def test_versions_of_an_object(served: Seeded) -> None:
    url = served.collection("all") + f"objects/{served.ids['versioned']}/versions/"
    response = get(served, url)
    assert ok(response) == {"more": False, "versions": [_stored(v) for v in (V1, V2, V3)]}
    assert response.headers["x-taxii-date-added-first"] == served.added["mixed"]
    assert response.headers["x-taxii-date-added-last"] == served.added["versioned_last"]
    versions, pages = walk(served, url, limit=1)
    assert versions == [_stored(v) for v in (V1, V2, V3)]
    assert len(pages) == 3
    assert ok(get(served, url, **{"match[spec_version]": "2.0"})) == {"more": False}


# --- paging -------------------------------------------------------------------------------------


def test_paging_loses_and_repeats_nothing_when_thousands_share_one_date_added(
    served: Seeded,
) -> None:
    manifest, _ = walk(served, served.collection("bulk") + "manifest/", limit=1000)
    assert len(manifest) == BULK
    assert {entry["date_added"] for entry in manifest} == {served.added["bulk"]}
    objects, pages = walk(served, served.collection("bulk") + "objects/", limit=700)
    assert len(pages) == 5
    assert len(objects) == BULK
    assert _ids(objects) == served.bulk  # each once, in the order they were stored


def test_next_continues_only_the_request_that_issued_it(served: Seeded) -> None:
    url = served.collection("bulk") + "objects/"
    first = ok(get(served, url, limit=100))
    token = first["next"]
    # Same filters, another page size: fine.
    second = ok(get(served, url, limit=50, next=token))
    assert _ids(second["objects"]) == served.bulk[100:150]
    changed = [
        (url, "qa", {"match[type]": "indicator"}),
        (url, "qa", {"added_after": "2000-01-01T00:00:00Z"}),
        (url, "qa", {"match[version]": "all"}),
        (served.collection("bulk") + "manifest/", "qa", {}),
        (served.collection("all") + "objects/", "qa", {}),
        (url, "ke", {}),
    ]
    for target, who, params in changed:
        body = error(get(served, target, who=who, next=token, **params), 400)
        assert body["details"]["reason"] == "filters_changed", (target, who, params)
