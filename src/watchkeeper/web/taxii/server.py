"""TAXII server information: discovery, API roots, status resources and collections.

There is one API root per sharing community (national, regional, international): a
collection lives in the root of the community it is shared with, and what a peer posts to a
root arrives with that root's community as its scope.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, Request

from watchkeeper.errors import NotFound
from watchkeeper.federation import (
    COMMUNITIES,
    collection_resource,
    find_status,
    open_collection,
    root_collections,
    status_resource,
    taxii_caller,
)
from watchkeeper.node import Node
from watchkeeper.web.deps import NodeDep
from watchkeeper.web.taxii.media import TAXII_MEDIA_TYPE, TaxiiResponse
from watchkeeper.web.taxii.requests import Accepting, TaxiiUser, community_of
from watchkeeper.web.taxii.signed import signed_read

router = APIRouter(dependencies=[Depends(signed_read)])
PREFIX = "/taxii2"
"""Where the node's app mounts the TAXII server."""
DEFAULT_ROOT = "national"


def _base(request: Request, node: Node) -> str:
    """The URL of the TAXII server as partners see it: public_url when set, else the URL
    this request came in on (the node's own base URL, which a mount does not change)."""
    if node.settings.public_url:
        return node.settings.public_url.rstrip("/") + PREFIX + "/"
    return str(request.base_url).rstrip("/") + PREFIX + "/"


def _json(document: object) -> TaxiiResponse:
    return TaxiiResponse(orjson.dumps(document))


@router.get("/")
def discovery(
    request: Request, principal: TaxiiUser, accepting: Accepting, node: NodeDep
) -> TaxiiResponse:
    """Server discovery: the API roots, and the caller's own community as the default."""
    with node.database.reader() as session:
        caller = taxii_caller(session, principal=principal)
    default = caller.audience.community or DEFAULT_ROOT
    base = _base(request, node)
    try:
        identity = node.identity()
        title, contact = f"Watchkeeper {identity.code} TAXII server", identity.name
    except NotFound:
        title, contact = "Watchkeeper TAXII server", ""
    document = {
        "title": title,
        "description": "Threat intelligence shared with partner nodes, one API root per "
        "sharing community.",
        "default": f"{base}{default}/",
        "api_roots": [f"{base}{community}/" for community in COMMUNITIES],
    }
    if contact:
        document["contact"] = contact
    return _json(document)


@router.get("/{root}/")
def api_root(root: str, principal: TaxiiUser, accepting: Accepting, node: NodeDep) -> TaxiiResponse:
    """An API root: its title, the TAXII version it speaks, the largest body it takes."""
    community = community_of(root)
    return _json(
        {
            "title": f"{community.capitalize()} community",
            "description": f"Collections shared with partners of the {community} community.",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": node.settings.taxii_max_content_length,
        }
    )


@router.get("/{root}/status/{status_id}/")
def status(
    root: str, status_id: str, principal: TaxiiUser, accepting: Accepting, node: NodeDep
) -> TaxiiResponse:
    """The status of an add-objects request, for the account that made it only."""
    community = community_of(root)
    with node.database.reader() as session:
        caller = taxii_caller(session, principal=principal)
        found = find_status(session, caller=caller, community=community, status_id=status_id)
        return _json(status_resource(found))


@router.get("/{root}/collections/")
def collections(
    root: str, principal: TaxiiUser, accepting: Accepting, node: NodeDep
) -> TaxiiResponse:
    """The collections of the root that exist for the caller, with its rights on each."""
    community = community_of(root)
    with node.database.reader() as session:
        caller = taxii_caller(session, principal=principal)
        found = root_collections(session, caller=caller, community=community)
    if not found:
        return _json({})
    return _json({"collections": [collection_resource(access) for access in found]})


@router.get("/{root}/collections/{collection_id}/")
def collection(  # type: ignore[no-untyped-def]
    root: str, collection_id: str, principal: TaxiiUser, accepting: Accepting, node: NodeDep
):
    """One collection (404 if it does not exist for the caller)."""
    community = community_of(root)
    with node.database.reader() as session:
        caller = taxii_caller(session, principal=principal)
        access = open_collection(
            session, caller=caller, community=community, key=collection_id, need="any"
        )
        return _json(collection_resource(access))
