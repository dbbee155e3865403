"""The Collections page: the TAXII collections of each API root, what defines each (its
filters), which partners may read or write it, and the URL partners use.

Collections are filters over the store, so what a partner receives is decided here and by its
sharing settings; showing both side by side lets staff check a grant before a partner pulls.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from watchkeeper.core import Tlp
from watchkeeper.federation import (
    COMMUNITIES,
    collection_document,
    list_collections,
    rights_by_collection,
)
from watchkeeper.web.deps import node_of
from watchkeeper.web.ui.pages import guard, page

router = APIRouter(prefix="/ui", include_in_schema=False)
READERS = ("admin", "analyst", "auditor")


def _filters(filters: dict[str, Any]) -> list[tuple[str, str]]:
    """The filters as (name, value) lines; none means the collection holds everything."""
    shown = []
    if filters["types"]:
        shown.append(("types", ", ".join(filters["types"])))
    if filters["max_tlp"]:
        shown.append(("at most", Tlp(filters["max_tlp"]).label))
    if filters["sources"]:
        shown.append(("sources", ", ".join(filters["sources"])))
    if filters["labels"]:
        shown.append(("labels", ", ".join(filters["labels"])))
    return shown


@router.get("/collections")
def collections_page(request: Request) -> Response:
    """Collections by API root, with their filters and each partner's rights."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    with node.database.reader() as session:
        rights = rights_by_collection(session)
        roots: dict[str, list[dict[str, Any]]] = {community: [] for community in COMMUNITIES}
        for collection in list_collections(session):
            document = collection_document(collection)
            granted = rights.get(collection.id, [])
            roots[collection.community].append(
                {
                    **document,
                    "filter_lines": _filters(document["filters"]),
                    "rights": [
                        {"peer": r.peer, "read": r.can_read, "write": r.can_write} for r in granted
                    ],
                }
            )
    base = str(request.base_url).rstrip("/") + "/taxii2"
    if node.settings.public_url:
        base = node.settings.public_url.rstrip("/") + "/taxii2"
    return page(request, "collections.html", login, roots=roots, taxii=base)
