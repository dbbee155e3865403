"""Plain-HTTP helpers of the TAXII suite: requests as a given caller, and the checks every
TAXII answer must pass (media type, error message shape, page walks)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from taxii_seed import MEDIA, Seeded

TIMEOUT = 30.0
# One client for the suite: connections are kept alive between requests, as real clients do.
CLIENT = httpx.Client(timeout=TIMEOUT)


def call(
    seeded: Seeded,
    method: str,
    url: str,
    *,
    who: str | None = None,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> httpx.Response:
    """A request as ``who`` (no credentials when None), accepting TAXII 2.1 by default."""
    sent = seeded.auth(who) if who is not None else {"Accept": MEDIA}
    sent.update(headers or {})
    return CLIENT.request(method, url, headers=sent, **options)


def get(seeded: Seeded, url: str, *, who: str = "qa", **params: Any) -> httpx.Response:
    """GET as ``who`` with query ``params``."""
    return call(seeded, "GET", url, who=who, params=params)


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON of a successful TAXII answer (checking its status and media type)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA
    return response.json() if response.content else None


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The TAXII error message of a failed answer, checked."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA
    body: dict[str, Any] = response.json()
    assert isinstance(body["title"], str) and body["title"]
    assert body["http_status"] == str(status)
    assert isinstance(body["description"], str)
    assert body["error_id"] and body["error_code"]
    assert "Traceback" not in response.text
    return body


def walk(
    seeded: Seeded, url: str, *, who: str = "qa", limit: int | None = None, **params: Any
) -> tuple[list[dict[str, Any]], list[httpx.Response]]:
    """Every item of a paged endpoint (objects, manifest entries or versions), following
    ``next``; with the responses of every page."""
    items: list[dict[str, Any]] = []
    pages: list[httpx.Response] = []
    query = dict(params)
    if limit is not None:
        query["limit"] = limit
    while True:
        response = get(seeded, url, who=who, **query)
        body = ok(response)
        pages.append(response)
        items += body.get("objects", body.get("versions", []))
        if not body.get("more"):
            assert "next" not in body
            return items, pages
        assert body["next"]
        query["next"] = body["next"]


def envelope(*objects: dict[str, Any]) -> bytes:
    """A TAXII envelope of ``objects``."""
    return json.dumps({"objects": list(objects)}).encode()
