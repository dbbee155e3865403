"""The TAXII client against servers that behave differently from medallion, or badly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from sharing_samples import indicator, register

from taxii_partner import COLLECTION
from watchkeeper.errors import InvalidInput, RemoteError
from watchkeeper.federation import (
    Credentials,
    SyncPolicy,
    TaxiiClient,
    add_link,
    check_collection_url,
    pull_link,
)
from watchkeeper.node import Node
from watchkeeper.security import SecretBox

URL = f"https://partner.example/root/collections/{COLLECTION}/"
OBJECTS_URL = URL + "objects/"
MEDIA = "application/taxii+json;version=2.1"
Handler = Callable[[httpx.Request], httpx.Response]


def envelope(objects: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"objects": objects, **extra}


def answer(document: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    return httpx.Response(status, content=orjson.dumps(document), headers=headers)


def client(handler: Handler, **options: Any) -> TaxiiClient:
    return TaxiiClient(transport=httpx.MockTransport(handler), **options)


def test_collection_urls_are_checked_and_normalised() -> None:
    assert check_collection_url(URL.rstrip("/")) == URL
    for bad, why in [
        ("partner.example/root/collections/x/", "http"),
        ("https://partner.example/taxii2/", "collections"),
        ("https://user:secret@partner.example/root/collections/x/", "not in the URL"),
        ("https://partner.example/root/collections/x/?a=1", "query"),
    ]:
        with pytest.raises(InvalidInput, match=why):
            check_collection_url(bad)


def test_credentials_headers_and_no_secret_in_repr() -> None:
    basic = Credentials(scheme="basic", secret="s3cret", user="qa")
    assert basic.headers() == {"Authorization": "Basic cWE6czNjcmV0"}
    assert Credentials(scheme="bearer", secret="tok").headers() == {"Authorization": "Bearer tok"}
    assert "s3cret" not in repr(basic)
    with pytest.raises(InvalidInput, match="user name"):
        Credentials(scheme="basic", secret="x")
    with pytest.raises(InvalidInput, match="scheme"):
        Credentials(scheme="digest", secret="x")


def test_requests_speak_taxii_and_send_credentials() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return answer({"id": "s1", "status": "complete", "total_count": 1,
                           "success_count": 1}, status=202)  # fmt: skip
        return answer(envelope([indicator(1)]))

    with client(handler, credentials=Credentials(scheme="bearer", secret="tok")) as taxii:
        page = taxii.get_objects(URL, added_after="2026-01-01T00:00:00Z", limit=5)
        status = taxii.add_objects(URL, [orjson.dumps(indicator(2)).decode()])
    assert len(page.objects) == 1 and not page.more
    assert (status.success, status.failure) == (1, 0)
    get, post = seen
    assert get.headers["accept"] == MEDIA and get.headers["authorization"] == "Bearer tok"
    assert get.url.params["added_after"] == "2026-01-01T00:00:00Z"
    assert get.url.params["limit"] == "5"
    assert post.headers["content-type"] == MEDIA
    assert orjson.loads(post.content)["objects"][0]["id"] == indicator(2)["id"]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(401), "HTTP 401 (the server refused our credentials)"),
        (httpx.Response(403), "can_read / can_write"),
        (answer({"title": "No such collection"}, status=404), "No such collection"),
        (httpx.Response(302, headers={"location": "https://elsewhere/"}), "redirected"),
        (httpx.Response(200, content=b"<html>"), "not JSON"),
        (httpx.Response(500, content=b"oops"), "HTTP 500"),
    ],
)
def test_refusals_name_the_url_and_the_reason(response: httpx.Response, message: str) -> None:
    with client(lambda request: response) as taxii, pytest.raises(RemoteError) as failure:
        taxii.get_objects(URL)
    assert message in failure.value.message and OBJECTS_URL in failure.value.message


def test_oversized_answers_and_timeouts_are_refused() -> None:
    big = answer(envelope([indicator(n) for n in range(100)]))
    with client(lambda request: big, max_bytes=1000) as taxii, pytest.raises(RemoteError) as e:
        taxii.get_objects(URL)
    assert "larger than 1000 bytes" in e.value.message

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with client(slow, timeout=3) as taxii, pytest.raises(RemoteError, match="within 3 s"):
        taxii.get_objects(URL)


def test_pending_adds_are_polled_until_complete() -> None:
    polls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return answer({"id": "s9", "status": "pending", "total_count": 2,
                           "pending_count": 2}, status=202)  # fmt: skip
        polls.append(str(request.url))
        return answer({"id": "s9", "status": "complete", "total_count": 2, "success_count": 1,
                       "failure_count": 1,
                       "failures": [{"id": "x", "version": "v", "message": "bad"}]})  # fmt: skip

    with client(handler) as taxii:
        status = taxii.add_objects(URL, ["{}", "{}"])
        done = taxii.wait_status(URL, status, seconds=5)
    assert polls == ["https://partner.example/root/status/s9/"]
    assert (done.status, done.success, done.failure) == ("complete", 1, 1)
    assert done.failures == [{"id": "x", "version": "v", "message": "bad"}]


# --- pulling from servers that page differently ---------------------------------------------


@pytest.fixture
def box(node: Node) -> SecretBox:
    register(node, "OM-CERT", community="national")
    return SecretBox(node.data_dir)


def _pull(node: Node, box: SecretBox, handler: Handler) -> Any:
    with node.database.transaction() as session:
        link = add_link(session, clock=node.clock, actor="test", peer="OM-CERT",
                        direction="pull", url=URL)  # fmt: skip
        link_id = link.id
    return pull_link(
        node.database, clock=node.clock, actor="test", link=link_id, box=box,
        policy=SyncPolicy(page_size=2), transport=httpx.MockTransport(handler),
    )  # fmt: skip


def test_a_server_paging_by_date_added_is_followed(node: Node, box: SecretBox) -> None:
    """No ``next`` token: the client goes on from X-TAXII-Date-Added-Last."""
    added = [f"2026-02-0{n}T00:00:00Z" for n in range(1, 6)]
    objects = [indicator(n) for n in range(1, 6)]
    asked: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("added_after")
        asked.append(after)
        rest = [(a, o) for a, o in zip(added, objects, strict=True) if after is None or a > after]
        page = rest[:2]
        headers = {"X-TAXII-Date-Added-First": page[0][0], "X-TAXII-Date-Added-Last": page[-1][0]}
        return answer(envelope([o for _, o in page], more=len(rest) > 2), headers=headers)

    run = _pull(node, box, handler)
    assert run.ok, run.error
    assert (run.pages, run.created) == (3, 5)
    assert asked == [None, added[1], added[3]]
    assert run.cursor == {"added_after": added[4]}


def test_a_server_that_says_more_but_gives_no_way_on_is_a_failure(
    node: Node, box: SecretBox
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return answer(envelope([indicator(1), indicator(2)], more=True))

    run = _pull(node, box, handler)
    assert not run.ok and "neither a next token" in (run.error or "")
    assert run.created == 2  # the page it did send is stored


def test_rejected_objects_are_recorded_and_the_rest_stored(node: Node, box: SecretBox) -> None:
    broken = {"type": "indicator", "id": "indicator--not-a-uuid"}

    def handler(request: httpx.Request) -> httpx.Response:
        return answer(envelope([indicator(1), broken]))

    run = _pull(node, box, handler)
    assert run.ok and (run.created, run.rejected) == (1, 1)
    assert run.problems and run.problems[0]["index"] == 1
