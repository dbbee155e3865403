"""Who is asking the TAXII server, and which collections of an API root exist for them.

A TAXII request comes from a partner node's service account (role ``partner-node``) or from
this node's own staff (``admin``, ``analyst``). A peer reads through its sharing settings
(:func:`~.policy.peer_audience`) and sees only the collections it holds a right on: the others
do not exist for it (404), and a right it lacks is a refusal (403). Staff act as the node's
own organisation (:func:`~.policy.local_audience`, up to TLP:AMBER+STRICT) on every collection;
TLP:RED still never leaves, whoever asks. The resources built here are the TAXII collection
resources, whose ``can_read`` and ``can_write`` are exactly what the endpoints then allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, Tlp
from watchkeeper.errors import Forbidden, NotFound, Unauthenticated
from watchkeeper.federation.collections import UUID
from watchkeeper.federation.models import Collection, CollectionRight
from watchkeeper.federation.policy import (
    Audience,
    local_audience,
    parse_community,
    peer_audience,
)
from watchkeeper.federation.sharing import get_sharing
from watchkeeper.security import Peer, Principal, check_signature, get_peer, is_signed

TAXII_ROLES: tuple[str, ...] = ("admin", "analyst", "partner-node")
"""Roles that may use the TAXII server at all."""
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
Need = Literal["read", "write", "any"]
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Caller:
    """Who asks: their account name (which owns their status resources), how the audit
    ledger names them, their peer code (None for staff) and the audience they read as."""

    name: str
    actor: str
    peer: str | None
    audience: Audience
    admin: bool = False


@dataclass(frozen=True)
class Access:
    """A collection as one caller may use it."""

    collection: Collection
    can_read: bool
    can_write: bool


def taxii_caller(session: Session, *, principal: Principal) -> Caller:
    """The caller a principal is. A partner-node account must belong to a registered peer
    (``Forbidden`` otherwise); one that also holds staff roles still reads as the peer."""
    if "partner-node" in principal.roles:
        peer = None
        if principal.user_id is not None:
            peer = session.scalars(select(Peer).where(Peer.user_id == principal.user_id)).first()
        if peer is None:
            raise Forbidden(
                f"{principal.actor} is not the account of a registered peer",
                reason="not_a_peer",
            )
        settings = get_sharing(session, peer.code)
        return Caller(
            name=principal.name,
            actor=principal.actor,
            peer=peer.code,
            audience=peer_audience(settings),
        )
    principal.require("admin", "analyst")
    return Caller(
        name=principal.name,
        actor=principal.actor,
        peer=None,
        audience=local_audience(max_tlp=Tlp.AMBER_STRICT),
        admin=principal.has("admin"),
    )


def root_collections(session: Session, *, caller: Caller, community: str) -> list[Access]:
    """The collections of API root ``community`` that exist for ``caller``, by title."""
    root = parse_community(community)
    if caller.peer is None:
        rows = session.scalars(
            select(Collection)
            .where(Collection.community == root)
            .order_by(Collection.title, Collection.id)
        )
        return [Access(collection, True, True) for collection in rows]
    found = session.execute(
        select(Collection, CollectionRight)
        .join(CollectionRight, CollectionRight.collection_id == Collection.id)
        .where(
            Collection.community == root,
            CollectionRight.peer == caller.peer,
            or_(CollectionRight.can_read, CollectionRight.can_write),
        )
        .order_by(Collection.title, Collection.id)
    )
    return [Access(collection, right.can_read, right.can_write) for collection, right in found]


def open_collection(
    session: Session, *, caller: Caller, community: str, key: str, need: Need
) -> Access:
    """The collection ``key`` (id, or alias within the root) for ``caller``.

    ``NotFound`` when it is not in this API root or the caller holds no right on it;
    ``Forbidden`` when it lacks the right ``need`` names.
    """
    root = parse_community(community)
    identifier = key.strip().lower()
    query = select(Collection).where(Collection.community == root)
    if UUID.match(identifier):
        query = query.where(Collection.id == identifier)
    else:
        query = query.where(Collection.alias == key)
    collection = session.scalars(query).first()
    access: Access | None = None
    if collection is not None and caller.peer is None:
        access = Access(collection, True, True)
    elif collection is not None:
        right = session.get(CollectionRight, (collection.id, caller.peer))
        if right is not None and (right.can_read or right.can_write):
            access = Access(collection, right.can_read, right.can_write)
    if access is None:
        raise NotFound(f"no collection {key!r} in API root {root}", collection=key)
    if (need == "read" and not access.can_read) or (need == "write" and not access.can_write):
        raise Forbidden(
            f"{caller.actor} may not {need} collection {access.collection.id}",
            reason=f"no_{need}_right",
            collection=access.collection.id,
        )
    return access


def collection_resource(access: Access) -> dict[str, Any]:
    """The TAXII collection resource (``alias`` and ``description`` only when set).

    The filters that define the collection stay out of it: they name sources, which may be
    other partners.
    """
    collection = access.collection
    resource: dict[str, Any] = {"id": collection.id, "title": collection.title}
    if collection.description:
        resource["description"] = collection.description
    if collection.alias:
        resource["alias"] = collection.alias
    resource["can_read"] = access.can_read
    resource["can_write"] = access.can_write
    resource["media_types"] = [STIX_MEDIA_TYPE]
    return resource


def caller_signature(
    session: Session,
    *,
    clock: Clock,
    caller: Caller,
    method: str,
    target: str,
    body: bytes,
    headers: Mapping[str, str],
    unsigned_writes: bool,
) -> str | None:
    """Check a partner node's request signature; the nonce to remember with the request's
    work, or None when there is nothing to remember (staff, or an unsigned read).

    A token alone may have leaked; a signature made with the key the peer registered may
    not, and its nonce stops a captured request from being sent again. So a peer's writes
    must be signed unless the node lets third-party TAXII clients (which cannot sign) write
    (``unsigned_writes``); reads may go unsigned, but signature headers that are present
    must verify. ``Unauthenticated`` (reason ``unsigned``, ``forged`` or ``stale``) otherwise.
    """
    if caller.peer is None:
        return None  # staff authenticate as people; node signatures are between nodes
    if not is_signed(headers):
        if method.upper() in WRITES and not unsigned_writes:
            raise Unauthenticated(
                f"{caller.peer} must sign its writes with its node key (a Watchkeeper node "
                "does so on its own once it has run `watchkeeper node init`); this node does "
                "not take unsigned writes from partner nodes (taxii_unsigned_peer_writes)",
                reason="unsigned",
                peer=caller.peer,
            )
        return None
    peer = get_peer(session, caller.peer)
    return check_signature(
        clock=clock, peer=peer, method=method, target=target, body=body, headers=headers
    )
