"""The peer registry over the API (admin changes it; operational staff read it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from watchkeeper.security import (
    Principal,
    add_peer,
    get_peer,
    list_peers,
    peer_document,
    remove_peer,
)
from watchkeeper.web.deps import Admin, NodeDep, require

router = APIRouter(tags=["peers"])
Reader = Annotated[
    Principal,
    Depends(require("admin", "analyst", "poc-officer", "central-authority", "auditor")),
]


class PeerIn(BaseModel):
    """A partner node to register."""

    code: str
    url: str
    country: str
    public_key: str
    encryption_key: str | None = None
    name: str = ""


@router.get("/peers")
def peers(node: NodeDep, principal: Reader) -> list[dict[str, Any]]:
    """Registered partner nodes."""
    with node.database.reader() as session:
        return [peer_document(p) for p in list_peers(session)]


@router.get("/peers/{code}")
def peer(code: str, node: NodeDep, principal: Reader) -> dict[str, Any]:
    """One partner node."""
    with node.database.reader() as session:
        return peer_document(get_peer(session, code))


@router.post("/peers", status_code=201)
def create_peer(body: PeerIn, node: NodeDep, principal: Admin) -> dict[str, Any]:
    """Register a partner node."""
    with node.database.transaction() as session:
        return peer_document(
            add_peer(session, clock=node.clock, actor=principal.actor, **body.model_dump())
        )


@router.delete("/peers/{code}", status_code=204)
def delete_peer(code: str, node: NodeDep, principal: Admin) -> None:
    """Forget a partner node and disable its service account."""
    with node.database.transaction() as session:
        remove_peer(session, clock=node.clock, actor=principal.actor, code=code)
