"""A small TAXII 2.1 client: discovery, collections, object pages, adding objects, status.

Enough of the protocol to pull from and push to any TAXII 2.1 server (a partner's
Watchkeeper, medallion, OpenCTI, MISP's TAXII server...), on httpx as every outbound call
of the node. Requests carry ``Accept: application/taxii+json;version=2.1``; an add sends an
envelope with the same ``Content-Type``. Object pages follow the spec's two ways of paging:
the ``next`` token of the envelope, and ``added_after`` with the
``X-TAXII-Date-Added-First``/``-Last`` headers (:class:`Page`).

Credentials are HTTP Basic (user and password, which TAXII 2.1 servers must accept) or a
bearer token. They are given per client and never appear in a URL, a message or a ``repr``.
Redirects are not followed (a server that moved is re-registered under its new URL, so
credentials only ever go where they were given for), answers are read up to a size cap, and
every failure is a :class:`~watchkeeper.errors.RemoteError` naming the URL and what
happened, for the link's ``last_error``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import orjson

from watchkeeper.errors import InvalidInput, RemoteError

MEDIA_TYPE = "application/taxii+json;version=2.1"
MAX_RESPONSE_BYTES = 256 * 1024**2
DEFAULT_TIMEOUT = 60.0
SCHEMES = ("basic", "bearer")
KEPT_DETAILS = 20
Signer = Callable[[str, str, bytes], dict[str, str]]
"""Headers that sign one request: (method, target as sent — path and query —, body)."""


@dataclass(frozen=True)
class Credentials:
    """How this node authenticates to a partner: ``basic`` (``user`` and ``secret`` as the
    password) or ``bearer`` (``secret`` as the token). The secret is left out of ``repr``."""

    scheme: str
    secret: str = field(repr=False)
    user: str | None = None

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise InvalidInput(
                f"auth: unknown scheme {self.scheme!r}; expected basic or bearer", field="auth"
            )
        if not self.secret:
            raise InvalidInput("auth: the password or token is empty", field="token")
        if self.scheme == "basic" and not self.user:
            raise InvalidInput("auth: HTTP Basic needs a user name", field="user")

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header."""
        if self.scheme == "bearer":
            return {"Authorization": f"Bearer {self.secret}"}
        pair = base64.b64encode(f"{self.user}:{self.secret}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}


@dataclass(frozen=True)
class Page:
    """One page of a collection's objects.

    ``more`` and ``next`` are the envelope's; ``added_first`` and ``added_last`` the
    ``date_added`` of its first and last object (response headers), the cursor for servers
    that page by ``added_after``.
    """

    objects: list[dict[str, Any]]
    more: bool
    next: str | None
    added_first: str | None
    added_last: str | None


@dataclass(frozen=True)
class AddStatus:
    """A TAXII status resource: what the server did with the objects of one add request."""

    id: str
    status: str
    total: int
    success: int
    failure: int
    pending: int
    failures: list[dict[str, Any]]

    def document(self) -> dict[str, Any]:
        """As JSON (failures limited to the first ones)."""
        return {
            "id": self.id,
            "status": self.status,
            "total": self.total,
            "success": self.success,
            "failure": self.failure,
            "pending": self.pending,
            "failures": self.failures[:KEPT_DETAILS],
        }


def check_collection_url(url: str, *, field: str = "url") -> str:
    """A TAXII collection URL (``https://host/{api-root}/collections/{id}/``), normalised
    with its trailing slash; ``InvalidInput`` otherwise (and for user:password@ in it:
    credentials are given apart, so they are never stored or shown in a URL)."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{field}: expected an http(s) URL, got {url!r}", field=field)
    if parts.username or parts.password:
        raise InvalidInput(
            f"{field}: give credentials with --user/--token-file, not in the URL",
            field=field,
        )
    if parts.query or parts.fragment:
        raise InvalidInput(f"{field}: a collection URL has no query or fragment", field=field)
    path = parts.path.rstrip("/")
    _root, marker, collection = path.rpartition("/collections/")
    if not marker or not collection or "/" in collection:
        raise InvalidInput(
            f"{field}: expected a TAXII collection URL ending in /collections/<id>/, got "
            f"{url!r}; see: watchkeeper sync discover",
            field=field,
        )
    return f"{parts.scheme}://{parts.netloc}{path}/"


def api_root_of(collection_url: str) -> str:
    """The API root URL of a collection URL (with its trailing slash)."""
    return collection_url.rstrip("/").rpartition("/collections/")[0] + "/"


def _count(document: dict[str, Any], key: str) -> int:
    value = document.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def timestamp_key(text: str) -> tuple[datetime | None, str]:
    """A sort key of a TAXII timestamp: its time when it parses (precisions differ between
    servers, so the text alone does not order them), else only its text."""
    try:
        return datetime.fromisoformat(text), text
    except ValueError:
        return None, text


def later(first: str | None, second: str | None) -> str | None:
    """The later of two TAXII timestamps (either may be missing)."""
    if not first or not second:
        return first or second
    a, b = timestamp_key(first), timestamp_key(second)
    if a[0] is not None and b[0] is not None:
        return second if b[0] > a[0] else first
    return max(first, second)


class TaxiiClient:
    """HTTP access to TAXII 2.1 servers with one set of credentials (use as a context manager).

    ``transport`` replaces the network (tests inject failures with it). ``signer`` adds
    headers signing each request as this node (a partner Watchkeeper node checks them).
    """

    def __init__(
        self,
        *,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        max_bytes: int = MAX_RESPONSE_BYTES,
        signer: Signer | None = None,
    ) -> None:
        headers = {"Accept": MEDIA_TYPE, "User-Agent": "watchkeeper-taxii-client"}
        if credentials is not None:
            headers.update(credentials.headers())
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._signer = signer
        self._http = httpx.Client(
            headers=headers, timeout=timeout, transport=transport, follow_redirects=False
        )

    def __enter__(self) -> TaxiiClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    # --- requests -----------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
        expect: Sequence[int] = (200,),
    ) -> tuple[httpx.Response, Any]:
        headers = {"Content-Type": MEDIA_TYPE} if body is not None else None
        try:
            request = self._http.build_request(
                method, url, params=params, content=body, headers=headers
            )
            if self._signer is not None:  # signs the target exactly as it goes on the wire
                target = request.url.raw_path.decode("ascii")
                request.headers.update(self._signer(method, target, body or b""))
            response = self._http.send(request, stream=True)
            try:
                data = self._read(response, url)
            finally:
                response.close()
        except httpx.TimeoutException:
            raise RemoteError(
                f"{url}: no answer within {self.timeout:g} s", url=url, http_status=None
            ) from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise RemoteError(
                f"{url}: cannot reach the server ({reason})", url=url, http_status=None
            ) from None
        if response.status_code not in expect:
            raise self._refusal(url, response, data)
        try:
            return response, orjson.loads(data) if data else None
        except orjson.JSONDecodeError:
            raise RemoteError(
                f"{url}: the answer is not JSON (not a TAXII 2.1 server?)",
                url=url,
                http_status=response.status_code,
            ) from None

    def _read(self, response: httpx.Response, url: str) -> bytes:
        announced = response.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > self.max_bytes:
            raise self._too_big(url)
        chunks, received = [], 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > self.max_bytes:
                raise self._too_big(url)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_big(self, url: str) -> RemoteError:
        return RemoteError(
            f"{url}: the answer is larger than {self.max_bytes} bytes; refused",
            url=url,
            http_status=None,
        )

    @staticmethod
    def _refusal(url: str, response: httpx.Response, data: bytes) -> RemoteError:
        code = response.status_code
        detail = ""
        try:
            error = orjson.loads(data) if data else None
        except orjson.JSONDecodeError:
            error = None
        if isinstance(error, dict):  # a TAXII error message: title, description
            parts = [str(error.get(k)) for k in ("title", "description") if error.get(k)]
            detail = ": " + "; ".join(parts)[:300] if parts else ""
        explained = {
            401: "the server refused our credentials",
            403: "our credentials may not do this (can_read / can_write)",
            404: "no such API root or collection (or not visible to us)",
            406: "the server does not speak TAXII 2.1",
            415: "the server does not accept TAXII 2.1 content",
        }.get(code)
        if 300 <= code < 400:
            explained = f"redirected to {response.headers.get('location', '?')}; register that URL"
        reason = f" ({explained})" if explained else ""
        return RemoteError(f"{url}: HTTP {code}{reason}{detail}", url=url, http_status=code)

    def get_json(self, url: str) -> dict[str, Any]:
        """A TAXII resource (discovery, API root, collections, collection) as a JSON object."""
        _, document = self._request("GET", url)
        if not isinstance(document, dict):
            raise RemoteError(f"{url}: expected a JSON object", url=url, http_status=200)
        return document

    # --- the TAXII endpoints -------------------------------------------------------------

    def discover(self, url: str) -> dict[str, Any]:
        """The discovery resource at ``url`` (a server's ``/taxii2/``)."""
        return self.get_json(url)

    def collections(self, api_root: str) -> list[dict[str, Any]]:
        """The collections of an API root that our credentials see."""
        root = api_root.rstrip("/") + "/"
        found = self.get_json(urljoin(root, "collections/")).get("collections") or []
        return [c for c in found if isinstance(c, dict)]

    def collection(self, collection_url: str) -> dict[str, Any]:
        """One collection resource (its title, ``can_read`` and ``can_write``)."""
        return self.get_json(collection_url)

    def get_objects(
        self,
        collection_url: str,
        *,
        added_after: str | None = None,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> Page:
        """One page of the collection's objects, after ``added_after``, continuing ``next``."""
        url = urljoin(collection_url, "objects/")
        params: dict[str, str] = {}
        if added_after:
            params["added_after"] = added_after
        if next_token:
            params["next"] = next_token
        if limit:
            params["limit"] = str(limit)
        response, envelope = self._request("GET", url, params=params)
        if envelope is None:
            envelope = {}  # an empty body: no objects
        if not isinstance(envelope, dict):
            raise RemoteError(f"{url}: expected a TAXII envelope", url=url, http_status=200)
        objects = envelope.get("objects") or []
        if not isinstance(objects, list):
            raise RemoteError(f"{url}: the envelope's objects are not a list", url=url)
        found_next = envelope.get("next")
        first = response.headers.get("X-TAXII-Date-Added-First")
        last = response.headers.get("X-TAXII-Date-Added-Last")
        return Page(
            objects=objects,
            more=envelope.get("more") is True,
            next=str(found_next) if found_next not in (None, "") else None,
            added_first=first,
            added_last=later(first, last),
        )

    def add_objects(self, collection_url: str, documents: Sequence[str]) -> AddStatus:
        """POST ``documents`` (STIX objects as JSON text, sent verbatim) in one envelope."""
        url = urljoin(collection_url, "objects/")
        body = b'{"objects":[' + ",".join(documents).encode() + b"]}"
        _, status = self._request("POST", url, body=body, expect=(200, 201, 202))
        return self._status(url, status)

    def status(self, collection_url: str, status_id: str) -> AddStatus:
        """The status resource ``status_id`` of the collection's API root."""
        url = urljoin(api_root_of(collection_url), f"status/{status_id}/")
        _, status = self._request("GET", url)
        return self._status(url, status)

    def wait_status(self, collection_url: str, status: AddStatus, *, seconds: float) -> AddStatus:
        """Poll a pending add until it completes or ``seconds`` pass (then as it stands)."""
        deadline = time.monotonic() + seconds
        pause = 0.2
        while status.status == "pending" and status.pending and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
            status = self.status(collection_url, status.id)
        return status

    @staticmethod
    def _status(url: str, document: Any) -> AddStatus:
        if not isinstance(document, dict) or not isinstance(document.get("id"), str):
            raise RemoteError(f"{url}: expected a TAXII status resource", url=url)
        failures = [
            {"id": f.get("id"), "version": f.get("version"), "message": f.get("message")}
            for f in document.get("failures") or ()
            if isinstance(f, dict)
        ]
        return AddStatus(
            id=document["id"],
            status=str(document.get("status") or "complete"),
            total=_count(document, "total_count"),
            success=_count(document, "success_count"),
            failure=_count(document, "failure_count"),
            pending=_count(document, "pending_count"),
            failures=failures[:KEPT_DETAILS],
        )
