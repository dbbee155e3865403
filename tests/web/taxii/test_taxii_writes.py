"""TAXII 2.1 conformance, over plain HTTP: adding objects (202 and a status resource, bad
input as per-object failures, the 400/403/404/406/413/415/422 refusals) and deleting them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from taxii_http import call, envelope, error, get, ok
from taxii_seed import GREEN, MAX_CONTENT, MEDIA, V1, V2, Seeded, indicator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
WAIT = 60.0


def _fresh(**extra: Any) -> dict[str, Any]:
    """An indicator of its own, so that tests never meet each other's objects."""
    obj = indicator(0, markings=[GREEN], **extra)
    obj["id"] = f"indicator--{uuid.uuid4()}"
    return obj


def _post(
    served: Seeded, alias: str, body: bytes, *, who: str = "qa", **headers: str
) -> httpx.Response:
    sent = {"Content-Type": MEDIA, **headers}
    return call(
        served, "POST", served.collection(alias) + "objects/", who=who, headers=sent, content=body
    )


def _completed(served: Seeded, status: dict[str, Any], *, who: str = "qa") -> dict[str, Any]:
    """The status resource once complete (polling while pending)."""
    deadline = time.monotonic() + WAIT
    url = served.root() + f"status/{status['id']}/"
    while status["status"] == "pending":
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
        status = ok(get(served, url, who=who))
    assert status["status"] == "complete"
    return status


def _audit(served: Seeded, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{served.base}/api/v1/audit",
        headers=served.auth("admin"),
        params={"limit": 1000, **params},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


def _readable(served: Seeded, stix_id: str, alias: str = "all", who: str = "qa") -> list[str]:
    """The versions of ``stix_id`` that ``who`` reads in the collection."""
    response = get(served, served.collection(alias) + f"objects/{stix_id}/versions/", who=who)
    if response.status_code == 404:
        return []
    versions: list[str] = ok(response).get("versions", [])
    return versions


# --- adding objects ---------------------------------------------------------------------------


def test_good_objects_land_and_bad_ones_are_failures_with_reasons(served: Seeded) -> None:
    good, also_good = _fresh(), _fresh(modified=V2, created=V1)
    no_pattern = _fresh()
    del no_pattern["pattern"]
    bad_id = {**_fresh(), "id": "indicator--not-a-uuid"}
    response = _post(served, "all", envelope(good, bad_id, also_good, no_pattern, "text"))
    status = _completed(served, ok(response, 202))
    assert status["total_count"] == 5
    assert status["success_count"] == 2
    assert status["failure_count"] == 3
    assert status["pending_count"] == 0
    assert status["request_timestamp"].endswith("Z")
    assert status["successes"] == [
        {"id": good["id"], "version": "2026-01-10T00:00:00.000000Z"},
        {"id": also_good["id"], "version": "2026-03-01T00:00:00.000000Z"},
    ]
    failures = {f["id"]: f for f in status["failures"]}
    assert set(failures) == {"indicator--not-a-uuid", no_pattern["id"], ""}
    for failure in status["failures"]:
        assert set(failure) == {"id", "version", "message"}
        assert failure["message"]
    assert "pattern" in failures[no_pattern["id"]]["message"]
    assert _readable(served, good["id"]) == ["2026-01-10T00:00:00.000000Z"]
    assert _readable(served, no_pattern["id"]) == []
    # What a peer posts is its delivery into the root's community: in from-qa, not for KE.
    assert _readable(served, good["id"], alias="from-qa") != []
    assert _readable(served, good["id"], who="ke") == []


def test_a_large_envelope_is_stored_in_the_background(served: Seeded) -> None:
    objects = [_fresh() for _ in range(600)]
    first = ok(_post(served, "all", envelope(*objects)), 202)
    assert first["status"] == "pending"
    assert first["pending_count"] == first["total_count"] == 600
    assert [p["id"] for p in first["pendings"]] == [o["id"] for o in objects]
    status = _completed(served, first)
    assert status["success_count"] == 600
    assert "pendings" not in status


def test_a_collection_of_some_types_takes_only_those(served: Seeded) -> None:
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": f"malware--{uuid.uuid4()}",
        "created": V1,
        "modified": V1,
        "name": "not for the inbox",
        "is_family": False,
    }
    good = _fresh()
    status = _completed(served, ok(_post(served, "inbox", envelope(good, malware)), 202))
    assert [s["id"] for s in status["successes"]] == [good["id"]]
    assert status["failures"][0]["id"] == malware["id"]
    assert "not held by this collection" in status["failures"][0]["message"]


def test_staff_add_objects_as_this_node(served: Seeded) -> None:
    good = _fresh()
    status = _completed(
        served, ok(_post(served, "secret", envelope(good), who="analyst"), 202), who="analyst"
    )
    assert status["success_count"] == 1
    assert _readable(served, good["id"], alias="secret", who="admin") != []


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/taxii+json;version=2.0", "text/plain", None],
)
def test_a_wrong_content_type_is_415(served: Seeded, content_type: str | None) -> None:
    headers = {"Accept": MEDIA, "Authorization": served.auth("qa")["Authorization"]}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = httpx.post(
        served.collection("all") + "objects/",
        headers=headers,
        content=envelope(_fresh()),
        timeout=30,
    )
    error(response, 415)


def test_a_wrong_accept_is_406(served: Seeded) -> None:
    error(_post(served, "all", envelope(_fresh()), Accept="application/json"), 406)


def test_an_oversize_body_is_413(served: Seeded) -> None:
    big = envelope(*(_fresh(description="x" * 1000) for _ in range(MAX_CONTENT // 1000 + 10)))
    assert len(big) > MAX_CONTENT
    body = error(_post(served, "all", big), 413)
    assert body["details"]["max_content_length"] == MAX_CONTENT

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    response = call(
        served,
        "POST",
        served.collection("all") + "objects/",
        who="qa",
        headers={"Content-Type": MEDIA},
        content=chunks(),
    )
    error(response, 413)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"", 400),
        (b"[]", 422),
        (b'{"objects": 5}', 422),
        (b'{"type": "indicator"}', 422),
        (b'"objects"', 422),
    ],
)
def test_unusable_bodies(served: Seeded, body: bytes, status: int) -> None:
    error(_post(served, "all", body), status)


def test_posting_where_one_may_not(served: Seeded) -> None:
    error(_post(served, "iocs", envelope(_fresh())), 403)  # read only
    error(_post(served, "secret", envelope(_fresh())), 404)  # no right: does not exist
    error(_post(served, "all", envelope(_fresh()), who="ke"), 403)
    unknown = served.root() + "collections/00000000-0000-4000-8000-00000000dead/objects/"
    error(
        call(served, "POST", unknown, who="qa", headers={"Content-Type": MEDIA}, content=b"{}"), 404
    )


def test_a_status_is_for_its_requester_only(served: Seeded) -> None:
    status = ok(_post(served, "all", envelope(_fresh())), 202)
    url = served.root() + f"status/{status['id']}/"
    assert ok(get(served, url, who="qa"))["id"] == status["id"]
    error(get(served, url, who="ke"), 404)
    error(get(served, url, who="admin"), 404)
    error(get(served, served.root("regional") + f"status/{status['id']}/", who="qa"), 404)
    error(get(served, served.root() + f"status/{uuid.uuid4()}/", who="qa"), 404)


def test_posts_are_audited(served: Seeded) -> None:
    status = ok(_post(served, "all", envelope(_fresh())), 202)
    entries = _audit(served, action="taxii.add")
    assert any(e["detail"]["status"] == status["id"] for e in entries)
    error(_post(served, "iocs", envelope(_fresh())), 403)
    refused = _audit(served, action="auth.role")
    assert any(
        e["detail"]["reason"] == "no_write_right" and e["detail"]["method"] == "POST"
        for e in refused
    )
    error(_post(served, "all", b"{not json"), 400)
    failed = _audit(served, action="api.post")
    assert any(e["detail"]["code"] == "taxii.json" for e in failed)


# --- deleting objects -------------------------------------------------------------------------


def _delete(
    served: Seeded, stix_id: str, *, who: str = "qa", alias: str = "all", **params: str
) -> httpx.Response:
    url = served.collection(alias) + f"objects/{stix_id}/"
    return call(served, "DELETE", url, who=who, params=params)


def test_a_peer_deletes_what_it_alone_sent_version_by_version(served: Seeded) -> None:
    first, second = _fresh(modified=V1, created=V1), _fresh(modified=V2, created=V1)
    second["id"] = first["id"]
    _completed(served, ok(_post(served, "all", envelope(first, second)), 202))
    stix_id = first["id"]
    assert _readable(served, stix_id) == [
        "2026-02-01T00:00:00.000000Z",
        "2026-03-01T00:00:00.000000Z",
    ]
    response = _delete(served, stix_id, **{"match[version]": V1})
    assert ok(response) is None
    assert _readable(served, stix_id) == ["2026-03-01T00:00:00.000000Z"]
    ok(_delete(served, stix_id))
    assert _readable(served, stix_id) == []
    error(get(served, served.collection("all") + f"objects/{stix_id}/"), 404)
    error(_delete(served, stix_id), 404)
    entries = _audit(served, action="taxii.delete")
    assert [e["detail"]["versions"] for e in entries if e["subject"] == f"stix:{stix_id}"] == [
        ["2026-02-01T00:00:00.000000Z"],
        ["2026-03-01T00:00:00.000000Z"],
    ]


def test_a_peer_may_not_delete_what_it_did_not_alone_send(served: Seeded) -> None:
    clear = served.ids["clear"]
    body = error(_delete(served, clear), 403)
    assert body["details"]["reason"] == "not_sender"
    assert _readable(served, clear) != []
    error(_delete(served, clear, who="ke"), 403)  # no write right on the collection
    error(_delete(served, served.ids["red"]), 404)  # what it cannot see is not there
    error(_delete(served, "indicator--5eed0000-0000-4000-8000-999999999999"), 404)


def test_among_staff_only_administrators_delete(served: Seeded) -> None:
    target = served.ids["deletable_admin"]
    error(_delete(served, target, who="analyst"), 403)
    ok(_delete(served, target, who="admin"))
    assert _readable(served, target, who="admin") == []
