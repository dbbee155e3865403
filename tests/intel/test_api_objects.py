"""The objects query API and bundle imports run in the background, on both backends."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from stix_samples import bundle, indicator

import watchkeeper.web.api.intel as intel_api
from watchkeeper.core.tlp import TLP2_MARKING_IDS, Tlp
from watchkeeper.node import Node
from watchkeeper.testing import issue_token
from watchkeeper.web.app import create_app

OBJECTS = "/api/v1/intel/objects"
IMPORTS = "/api/v1/intel/imports"


def _id(n: int) -> str:
    return f"indicator--0b0b0b0b-0000-4000-8000-{n:012d}"


def _marked(level: Tlp) -> dict[str, Any]:
    return {"object_marking_refs": [TLP2_MARKING_IDS[level]]}


@pytest.fixture
def client(node: Node) -> TestClient:
    return TestClient(create_app(node=node))


def _auth(node: Node, name: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(node, name=name, roles=[role])}"}


@pytest.fixture
def analyst(node: Node) -> dict[str, str]:
    return _auth(node, "amira", "analyst")


@pytest.fixture
def stored(node: Node, write: Any, ingest: Any) -> Node:
    ingest(
        write(
            bundle(
                indicator("[domain-name:value = 'evil-site.org']", id=_id(1), labels=["c2"]),
                indicator(
                    "[ipv4-addr:value = '203.0.113.5']",
                    id=_id(2),
                    labels=["scanner"],
                    modified="2026-04-01T00:00:00.000Z",
                ),
                indicator("[domain-name:value = 'red.example']", id=_id(3), **_marked(Tlp.RED)),
                indicator("[domain-name:value = 'ok.example']", id=_id(4), **_marked(Tlp.GREEN)),
                {
                    "type": "malware",
                    "spec_version": "2.1",
                    "id": "malware--0b0b0b0b-0000-4000-8000-000000000005",
                    "created": "2026-03-01T10:00:00.000Z",
                    "modified": "2026-03-01T10:00:00.000Z",
                    "name": "Badness",
                    "is_family": True,
                    "labels": ["c2x"],
                },
            )
        )
    )
    return node


def _ids(client: TestClient, headers: dict[str, str], **params: Any) -> set[str]:
    response = client.get(OBJECTS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return {obj["id"][-1:] for obj in response.json()["objects"]}


def test_filters(stored: Node, client: TestClient, analyst: dict[str, str]) -> None:
    assert _ids(client, analyst) == {"1", "2", "4", "5"}  # amber by default: RED withheld
    assert _ids(client, analyst, tlp_max="red") == {"1", "2", "3", "4", "5"}
    assert _ids(client, analyst, tlp_max="clear") == set()  # unmarked counts as amber
    assert _ids(client, analyst, tlp_max="TLP:GREEN") == {"4"}
    assert _ids(client, analyst, type="malware") == {"5"}
    assert _ids(client, analyst, type=["malware", "indicator"], tlp_max="green") == {"4"}
    assert _ids(client, analyst, label="c2") == {"1"}  # exact label, not "c2x"
    assert _ids(client, analyst, since="2026-03-15T00:00:00Z") == {"2"}
    assert _ids(client, analyst, value="Evil-Site.ORG.") == {"1"}  # normalised
    assert _ids(client, analyst, value="203.0.113.5", type="malware") == set()
    bad = client.get(OBJECTS, params={"value": "not a value"}, headers=analyst)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert client.get(OBJECTS, params={"tlp_max": "puce"}, headers=analyst).status_code == 422
    assert client.get(OBJECTS, params={"limit": 1001}, headers=analyst).status_code == 422


def test_pages_lose_and_repeat_nothing(
    node: Node, client: TestClient, analyst: dict[str, str], write: Any, ingest: Any
) -> None:
    objects = [indicator(f"[ipv4-addr:value = '198.51.100.{n}']", id=_id(n)) for n in range(25)]
    ingest(write(bundle(*objects)))
    seen: list[str] = []
    after: int | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 7}
        if after is not None:
            params["after"] = after
        page = client.get(OBJECTS, params=params, headers=analyst).json()
        assert len(page["objects"]) <= 7
        seen.extend(obj["id"] for obj in page["objects"])
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert pages == 4
    assert sorted(seen) == sorted(o["id"] for o in objects)
    assert len(seen) == len(set(seen))


def _import(client: TestClient, headers: dict[str, str], body: bytes, **extra: str) -> Any:
    return client.post(
        IMPORTS,
        content=body,
        headers={**headers, "Content-Type": "application/stix+json", **extra},
    )


def test_import_in_background(node: Node, client: TestClient, analyst: dict[str, str]) -> None:
    objects = [indicator(f"[domain-name:value = 'd{n}.example']") for n in range(3)]
    response = _import(client, analyst, orjson.dumps(bundle(*objects, {"type": "nonsense"})))
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "running"
    assert response.headers["location"] == accepted["location"] == f"{IMPORTS}/{accepted['id']}"
    status = client.get(accepted["location"], headers=analyst).json()
    assert status["status"] == "done"
    assert status["counts"]["created"] == 3
    assert status["counts"]["rejected"] == 1
    assert status["rejects"][0]["index"] == 3
    assert status["actor"] == "user:amira"
    listed = client.get(IMPORTS, headers=analyst).json()
    assert [run["id"] for run in listed] == [accepted["id"]]
    assert not list((node.data_dir / "spool").iterdir())  # the spooled body is gone
    assert len(client.get(OBJECTS, headers=analyst).json()["objects"]) == 3


def test_bad_json_fails_the_run(client: TestClient, analyst: dict[str, str]) -> None:
    response = _import(client, analyst, b'{"type": "bundle", "objects": [ {nope')
    assert response.status_code == 202
    status = client.get(response.headers["location"], headers=analyst).json()
    assert status["status"] == "failed"
    assert status["error"] and "Traceback" not in status["error"]
    assert status["finished_at"] is not None


def test_refusals(
    node: Node, client: TestClient, analyst: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = orjson.dumps(bundle(indicator("[domain-name:value = 'x.example']")))
    monkeypatch.setattr(intel_api, "MAX_BUNDLE_BYTES", 64)
    too_big = _import(client, analyst, body)
    assert too_big.status_code == 413
    assert too_big.headers["content-type"].startswith("application/problem+json")
    assert not list((node.data_dir / "spool").iterdir())
    monkeypatch.undo()
    wrong_type = client.post(
        IMPORTS, content=body, headers={**analyst, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    for role in ("auditor", "partner-node"):
        headers = _auth(node, f"who-{role}", role)
        assert _import(client, headers, body).status_code == 403
    auditor = _auth(node, "ledger", "auditor")
    assert client.get(OBJECTS, headers=auditor).status_code == 403
    assert client.get(f"{IMPORTS}/nope", headers=analyst).status_code == 404
    assert client.get(IMPORTS, headers=analyst).json() == []
