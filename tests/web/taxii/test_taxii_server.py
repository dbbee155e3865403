"""TAXII 2.1 conformance, over plain HTTP: transport and security, discovery, API roots,
collections and their rights (checklist: "Transport and security", the server endpoints)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from taxii_http import call, error, get, ok
from taxii_seed import MAX_CONTENT, MEDIA, STIX_MEDIA, Seeded

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _audit(seeded: Seeded, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{seeded.base}/api/v1/audit",
        headers=seeded.auth("admin"),
        params={"limit": 1000, **params},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


# --- transport and security -------------------------------------------------------------


def test_missing_credentials_are_401_naming_basic_and_bearer(served: Seeded) -> None:
    for url in (f"{served.base}/taxii2/", served.root(), served.collection("all") + "objects/"):
        response = call(served, "GET", url)
        body = error(response, 401)
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Basic ")
        assert "Bearer" in challenge
        assert body["details"]["reason"] == "missing"


def test_basic_and_bearer_credentials_both_work(served: Seeded) -> None:
    url = f"{served.base}/taxii2/"
    assert ok(get(served, url, who="qa"))["title"]
    bearer = {"Authorization": f"Bearer {served.tokens['qa']}", "Accept": MEDIA}
    assert ok(httpx.get(url, headers=bearer, timeout=30))["title"]


def test_bad_credentials_are_401_and_audited(served: Seeded) -> None:
    wrong = base64.b64encode(f"KE-CERT:{served.tokens['qa']}".encode()).decode()
    response = httpx.get(
        f"{served.base}/taxii2/",
        headers={"Authorization": f"Basic {wrong}", "Accept": MEDIA},
        timeout=30,
    )
    body = error(response, 401)
    assert body["details"] == {"reason": "user_mismatch"}
    assert served.tokens["qa"] not in response.text
    entries = _audit(served, action="auth.token")
    assert any(
        e["detail"]["reason"] == "user_mismatch" and e["detail"]["path"] == "/taxii2/"
        for e in entries
    )


def test_staff_without_a_taxii_role_are_refused_and_audited(served: Seeded) -> None:
    error(get(served, served.root(), who="responder"), 403)
    entries = _audit(served, action="auth.role")
    assert any(
        e["actor"] == "user:responder" and e["detail"]["path"] == "/taxii2/national/"
        for e in entries
    )


@pytest.mark.parametrize(
    "accept",
    [
        "application/taxii+json;version=2.1",
        "application/taxii+json",
        "application/taxii+json; version=2.1",
        "application/json, application/taxii+json;version=2.1",
    ],
)
def test_taxii_media_types_are_accepted(served: Seeded, accept: str) -> None:
    response = call(served, "GET", served.root(), who="qa", headers={"Accept": accept})
    assert ok(response)["versions"] == [MEDIA]


@pytest.mark.parametrize(
    "accept",
    ["application/json", "application/taxii+json;version=2.0", "*/*", "text/html", ""],
)
def test_any_other_accept_is_406(served: Seeded, accept: str) -> None:
    for url in (served.root(), served.collection("all") + "objects/"):
        error(call(served, "GET", url, who="qa", headers={"Accept": accept}), 406)


def test_every_answer_is_in_the_taxii_media_type(served: Seeded) -> None:
    """Successes and every kind of error alike."""
    responses = [
        get(served, f"{served.base}/taxii2/"),
        get(served, served.collection("all") + "manifest/"),
        get(served, f"{served.base}/taxii2/nowhere/"),
        get(served, served.root() + "collections/no-such-collection/"),
        call(served, "GET", served.root()),
        call(served, "PUT", served.root(), who="qa"),
        get(served, served.collection("inbox") + "objects/"),
        get(served, served.root().rstrip("/")),  # TAXII URLs end with a slash
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 404, 401, 405, 403, 404]
    for response in responses:
        assert response.headers["content-type"] == MEDIA, response.url


# --- discovery and API roots -----------------------------------------------------------------


def test_discovery_lists_one_api_root_per_community(served: Seeded) -> None:
    body = ok(get(served, f"{served.base}/taxii2/", who="qa"))
    roots = [served.root(c) for c in ("national", "regional", "international")]
    assert body["api_roots"] == roots
    assert body["default"] == served.root("national")  # the peer's own community
    assert body["title"] and body["description"]
    ke = ok(get(served, f"{served.base}/taxii2/", who="ke"))
    assert ke["default"] == served.root("international")
    assert ok(get(served, f"{served.base}/taxii2/", who="analyst"))["default"] in roots


def test_api_root_information(served: Seeded) -> None:
    for community in ("national", "regional", "international"):
        body = ok(get(served, served.root(community)))
        assert body["title"]
        assert MEDIA in body["versions"]
        assert body["max_content_length"] == MAX_CONTENT


def test_an_unknown_api_root_is_404(served: Seeded) -> None:
    for url in (
        f"{served.base}/taxii2/galactic/",
        f"{served.base}/taxii2/galactic/collections/",
        f"{served.base}/taxii2/galactic/collections/{served.collections['all']}/objects/",
        f"{served.base}/taxii2/galactic/status/00000000-0000-4000-8000-000000000000/",
    ):
        error(get(served, url), 404)


# --- collections ---------------------------------------------------------------------------


def _collections(served: Seeded, who: str, community: str = "national") -> dict[str, Any]:
    body = ok(get(served, served.root(community) + "collections/", who=who))
    return {c["alias"]: c for c in body.get("collections", [])}


def test_a_peer_sees_the_collections_it_has_a_right_on_with_its_rights(served: Seeded) -> None:
    qa = _collections(served, "qa")
    assert set(qa) == {"all", "iocs", "phishing", "from-qa", "bulk", "inbox"}
    assert (qa["all"]["can_read"], qa["all"]["can_write"]) == (True, True)
    assert (qa["iocs"]["can_read"], qa["iocs"]["can_write"]) == (True, False)
    assert (qa["inbox"]["can_read"], qa["inbox"]["can_write"]) == (False, True)
    for collection in qa.values():
        assert collection["id"] == served.collections[collection["alias"]]
        assert collection["title"] and collection["media_types"] == [STIX_MEDIA]
        assert "filters" not in collection  # sources may name other partners
    assert set(_collections(served, "ke")) == {"all", "bulk"}
    assert set(_collections(served, "ke", "international")) == {"world"}
    assert _collections(served, "ke", "regional") == {}


def test_staff_see_every_collection_of_a_root_and_may_read_and_write(served: Seeded) -> None:
    staff = _collections(served, "analyst")
    assert "secret" in staff
    assert all(c["can_read"] and c["can_write"] for c in staff.values())


def test_one_collection_and_unknown_ones(served: Seeded) -> None:
    body = ok(get(served, served.collection("iocs")))
    assert body["id"] == served.collections["iocs"]
    assert body["alias"] == "iocs"
    assert body["description"] == "seeded collection iocs"
    error(get(served, served.root() + "collections/00000000-0000-4000-8000-00000000dead/"), 404)
    error(get(served, served.collection("secret")), 404)  # no right: it does not exist for QA
    error(get(served, served.root("regional") + f"collections/{served.collections['all']}/"), 404)


def test_can_read_and_can_write_agree_with_what_the_endpoints_allow(served: Seeded) -> None:
    for who in ("qa", "ke"):
        for community in ("national", "regional", "international"):
            for collection in _collections(served, who, community).values():
                url = served.root(community) + f"collections/{collection['id']}/objects/"
                read = get(served, url, who=who, limit=1)
                assert read.status_code == (200 if collection["can_read"] else 403), url
                write = call(
                    served,
                    "POST",
                    url,
                    who=who,
                    headers={"Content-Type": MEDIA},
                    content=b'{"objects": []}',
                )
                assert write.status_code == (202 if collection["can_write"] else 403), url
                assert write.headers["content-type"] == MEDIA


def test_a_refused_right_is_audited(served: Seeded) -> None:
    error(get(served, served.collection("inbox") + "objects/", who="qa"), 403)
    entries = _audit(served, action="auth.role")
    assert any(
        e["actor"] == "user:peer:qa-ncsa"
        and e["detail"]["reason"] == "no_read_right"
        and e["detail"]["path"].endswith("/objects/")
        for e in entries
    )
