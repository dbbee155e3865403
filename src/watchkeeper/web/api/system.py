"""Who am I, and which node is this."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from watchkeeper import __version__
from watchkeeper.errors import NotFound
from watchkeeper.web.deps import AnyPrincipal, NodeDep

router = APIRouter(tags=["system"])


class WhoAmI(BaseModel):
    """The caller as the node sees it."""

    name: str
    roles: list[str]
    token_id: str | None
    actor: str


@router.get("/whoami")
async def whoami(principal: AnyPrincipal) -> WhoAmI:
    """The authenticated caller and its roles."""
    return WhoAmI(
        name=principal.name,
        roles=sorted(principal.roles),
        token_id=principal.token_id,
        actor=principal.actor,
    )


@router.get("/node")
def node_info(node: NodeDep, principal: AnyPrincipal) -> dict[str, Any]:
    """This node's public identity (what partners register) and software version."""
    try:
        identity: dict[str, Any] | None = node.identity().document(
            url=node.settings.effective_public_url
        )
    except NotFound:
        identity = None
    return {"version": __version__, "identity": identity}
