"""The Peers page: each partner node, what it may receive, and its sync links with their state.

For the watch floor: a partner that is down shows as a failing link with its last error,
its failure count, when it is tried again (back-off) and how far behind it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from watchkeeper.federation import (
    get_sharing,
    link_document,
    list_collections,
    list_links,
    peer_rights,
    sharing_document,
)
from watchkeeper.security import list_peers, peer_document
from watchkeeper.web.deps import node_of
from watchkeeper.web.ui.pages import page, signed_in, to_login

router = APIRouter(prefix="/ui", include_in_schema=False)


def _lag(document: dict[str, Any]) -> str:
    lag = document["lag"]
    parts = []
    if lag["objects"] is not None:
        more = "+" if lag["objects_capped"] else ""
        parts.append(f"{lag['objects']}{more} object(s) not yet sent")
    if lag["seconds"] is not None:
        parts.append(f"last success {_duration(lag['seconds'])} ago")
    elif document["enabled"]:
        parts.append("never succeeded")
    return "; ".join(parts)


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def peer_rows(session: Session, *, now: datetime) -> list[dict[str, Any]]:
    """Each peer with its sharing settings, collection rights and sync links."""
    names = {c.id: c.alias or c.id for c in list_collections(session)}
    rows = []
    for peer in list_peers(session):
        sharing = sharing_document(get_sharing(session, peer.code))
        rights = peer_rights(session, peer=peer.code)
        links = []
        for link in list_links(session, peer=peer.code):
            document = link_document(session, link, now=now)
            links.append({**document, "lag_text": _lag(document)})
        rows.append(
            {
                **peer_document(peer),
                "sharing": sharing,
                "read": sorted(names.get(r.collection_id, r.collection_id) for r in rights
                               if r.can_read),
                "write": sorted(names.get(r.collection_id, r.collection_id) for r in rights
                                if r.can_write),
                "links": links,
            }
        )  # fmt: skip
    return rows


@router.get("/peers")
def peers_page(request: Request) -> Response:
    """Partner nodes with their sharing settings and sync state."""
    login = signed_in(request)
    if login is None:
        return to_login()
    node = node_of(request)
    with node.database.reader() as session:
        peers = peer_rows(session, now=node.clock.now())
    return page(request, "peers.html", login, peers=peers)
