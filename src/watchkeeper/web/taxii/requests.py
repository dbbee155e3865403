"""What every TAXII endpoint checks first: the caller's role, its ``Accept``, the API root,
and the filters, page size and ``next`` token of its query string."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.federation import (
    COMMUNITIES,
    DEFAULT_PAGE,
    MAX_PAGE,
    TAXII_ROLES,
    Selection,
    selection,
)
from watchkeeper.security import Principal
from watchkeeper.web.deps import require
from watchkeeper.web.taxii.errors import TaxiiRefusal
from watchkeeper.web.taxii.media import TAXII_MEDIA_TYPE, accepts_taxii

TaxiiUser = Annotated[Principal, Depends(require(*TAXII_ROLES))]
"""A partner node's service account, or staff who may use TAXII (401/403 audited)."""

ADDED_AFTER = "added_after"
MATCHES = {
    "id": "match[id]",
    "type": "match[type]",
    "version": "match[version]",
    "spec_version": "match[spec_version]",
}
# The filters each endpoint takes (TAXII 2.1); others are ignored, as the specification asks.
FILTERS: dict[str, frozenset[str]] = {
    "objects": frozenset({ADDED_AFTER, *MATCHES}),
    "manifest": frozenset({ADDED_AFTER, *MATCHES}),
    "object": frozenset({ADDED_AFTER, "version", "spec_version"}),
    "versions": frozenset({ADDED_AFTER, "spec_version"}),
    "delete": frozenset({"version", "spec_version"}),
}
# Which versions are meant when match[version] is not given.
DEFAULT_VERSION = {"versions": "all", "delete": "all"}


async def taxii_accept(request: Request) -> None:
    """406 unless the request accepts TAXII 2.1."""
    accept = request.headers.get("accept")
    if not accepts_taxii(accept):
        raise TaxiiRefusal(
            406,
            f"this server answers only in {TAXII_MEDIA_TYPE}; send it in the Accept header",
            code="taxii.not_acceptable",
            accept=accept,
        )


Accepting = Annotated[None, Depends(taxii_accept)]


def community_of(root: str) -> str:
    """The community whose API root ``root`` is, or ``NotFound``."""
    if root not in COMMUNITIES:
        raise NotFound(f"no API root {root!r}; they are {', '.join(COMMUNITIES)}", api_root=root)
    return root


def _one(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise TaxiiRefusal(400, f"{name}: given more than once", code="taxii.filter", field=name)
    return values[0] if values else None


def _joined(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    return ",".join(values) if values else None


def selection_of(request: Request, *, endpoint: str) -> Selection:
    """The filters of the query string that ``endpoint`` takes; 400 naming a bad one."""
    taken = FILTERS[endpoint]

    def match(name: str) -> str | None:
        return _joined(request, MATCHES[name]) if name in taken else None

    try:
        return selection(
            added_after=_one(request, ADDED_AFTER) if ADDED_AFTER in taken else None,
            ids=match("id"),
            types=match("type"),
            versions=match("version"),
            spec_versions=match("spec_version"),
            default_version=DEFAULT_VERSION.get(endpoint, "last"),
        )
    except InvalidInput as exc:
        raise TaxiiRefusal(400, exc.message, code="taxii.filter", **exc.fields) from None


def limit_of(request: Request) -> int:
    """``limit``: a positive integer, capped at the server's largest page (400 otherwise)."""
    text = _one(request, "limit")
    if text is None:
        return DEFAULT_PAGE
    value = text.strip()
    if not value.isdigit() or int(value) < 1:
        raise TaxiiRefusal(
            400, f"limit: expected a positive integer, got {text!r}", code="taxii.filter"
        )
    return min(int(value), MAX_PAGE)


def next_of(request: Request) -> str | None:
    """The ``next`` token, if one is given (an empty one is none)."""
    token = _one(request, "next")
    return token if token else None
