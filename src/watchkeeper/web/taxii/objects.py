"""TAXII collection content: objects, manifests, one object, its versions; adding, deleting.

Reads are one query per page (see :mod:`watchkeeper.federation.taxii_pages`) with a ``next``
token that continues exactly after the last version served (:mod:`.cursor`); the headers
``X-TAXII-Date-Added-First`` and ``-Last`` give the page's first and last ``date_added``.
An add-objects request is answered 202 with a status resource: stored before the answer when
small, in the background otherwise (then ``pending`` until done). Bodies larger than the API
root's ``max_content_length`` are refused while streaming in, never held whole.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Depends, Request
from starlette.concurrency import run_in_threadpool

from watchkeeper.errors import NotFound
from watchkeeper.federation import (
    SYNC_LIMIT,
    Access,
    Caller,
    Page,
    TaxiiStatus,
    delete_object,
    envelope_body,
    manifest_body,
    object_visible,
    open_collection,
    open_status,
    read_page,
    status_resource,
    store_objects,
    taxii_caller,
    versions_body,
)
from watchkeeper.node import Node
from watchkeeper.security import Principal, is_signed
from watchkeeper.web.deps import NodeDep
from watchkeeper.web.taxii.cursor import issue, redeem
from watchkeeper.web.taxii.errors import TaxiiRefusal
from watchkeeper.web.taxii.media import TAXII_MEDIA_TYPE, TaxiiResponse, is_taxii_content
from watchkeeper.web.taxii.requests import (
    Accepting,
    TaxiiUser,
    community_of,
    limit_of,
    next_of,
    selection_of,
)
from watchkeeper.web.taxii.signed import remember, request_nonce, signed_read

router = APIRouter(dependencies=[Depends(signed_read)])
COLLECTION = "/{root}/collections/{collection_id}"
BODIES = {"objects": envelope_body, "object": envelope_body}


def _page(
    request: Request,
    node: Node,
    principal: Principal,
    *,
    endpoint: str,
    root: str,
    collection_id: str,
    object_id: str | None = None,
) -> TaxiiResponse:
    """One page of ``endpoint`` (objects, manifest, object, versions), with its headers."""
    community = community_of(root)
    chosen = selection_of(request, endpoint=endpoint)
    limit = limit_of(request)
    token = next_of(request)
    now = node.clock.now()
    with node.database.reader() as session:
        caller = taxii_caller(session, principal=principal)
        access = open_collection(
            session, caller=caller, community=community, key=collection_id, need="read"
        )
        scope: list[object] = [
            endpoint,
            community,
            access.collection.id,
            object_id,
            chosen.key(),
            caller.name,
        ]
        after = redeem(token, scope=scope, now=now) if token is not None else None
        page = read_page(
            session,
            collection=access.collection,
            audience=caller.audience,
            chosen=chosen,
            limit=limit,
            after_seq=after,
            object_id=object_id,
            documents=endpoint in BODIES,
        )
        if (
            object_id is not None
            and not page.rows
            and token is None
            and not object_visible(
                session, collection=access.collection, audience=caller.audience, object_id=object_id
            )
        ):
            raise NotFound(f"no object {object_id} in collection {access.collection.id}")
    last = page.last_seq
    next_token = issue(last, scope=scope, now=now) if page.more and last is not None else None
    if endpoint == "manifest":
        body = manifest_body(page, next_token=next_token)
    elif endpoint == "versions":
        body = versions_body(page, next_token=next_token)
    else:
        body = envelope_body(page, next_token=next_token)
    return TaxiiResponse(body, headers=_date_headers(page))


def _date_headers(page: Page) -> dict[str, str]:
    first, last = page.date_added_first, page.date_added_last
    if first is None or last is None:
        return {}
    return {"X-TAXII-Date-Added-First": first, "X-TAXII-Date-Added-Last": last}


@router.get(f"{COLLECTION}/objects/")
def get_objects(
    request: Request,
    root: str,
    collection_id: str,
    principal: TaxiiUser,
    accepting: Accepting,
    node: NodeDep,
) -> TaxiiResponse:
    """A page of the collection's objects (``added_after``, ``limit``, ``next``, ``match``)."""
    return _page(
        request, node, principal, endpoint="objects", root=root, collection_id=collection_id
    )


@router.get(f"{COLLECTION}/manifest/")
def get_manifest(
    request: Request,
    root: str,
    collection_id: str,
    principal: TaxiiUser,
    accepting: Accepting,
    node: NodeDep,
) -> TaxiiResponse:
    """A page of the manifest: id, date_added, version and media type of each version."""
    return _page(
        request, node, principal, endpoint="manifest", root=root, collection_id=collection_id
    )


@router.get(f"{COLLECTION}/objects/{{object_id}}/")
def get_object(
    request: Request,
    root: str,
    collection_id: str,
    object_id: str,
    principal: TaxiiUser,
    accepting: Accepting,
    node: NodeDep,
) -> TaxiiResponse:
    """The versions of one object that the filters select (the newest by default)."""
    return _page(
        request,
        node,
        principal,
        endpoint="object",
        root=root,
        collection_id=collection_id,
        object_id=object_id,
    )


@router.get(f"{COLLECTION}/objects/{{object_id}}/versions/")
def get_versions(
    request: Request,
    root: str,
    collection_id: str,
    object_id: str,
    principal: TaxiiUser,
    accepting: Accepting,
    node: NodeDep,
) -> TaxiiResponse:
    """The versions of one object, by ``date_added``."""
    return _page(
        request,
        node,
        principal,
        endpoint="versions",
        root=root,
        collection_id=collection_id,
        object_id=object_id,
    )


@router.delete(f"{COLLECTION}/objects/{{object_id}}/")
def delete(
    request: Request,
    root: str,
    collection_id: str,
    object_id: str,
    principal: TaxiiUser,
    accepting: Accepting,
    node: NodeDep,
) -> TaxiiResponse:
    """Delete versions of an object (all it may see, unless ``match[version]`` narrows)."""
    community = community_of(root)
    chosen = selection_of(request, endpoint="delete")
    with node.database.reader() as session:
        caller = taxii_caller(session, principal=principal)
    nonce = request_nonce(node, caller, request, b"")
    with node.database.transaction() as session:
        access = open_collection(
            session, caller=caller, community=community, key=collection_id, need="write"
        )
        remember(session, node, caller, nonce)
        delete_object(
            session,
            clock=node.clock,
            caller=caller,
            access=access,
            object_id=object_id,
            chosen=chosen,
        )
    return TaxiiResponse(b"")


# --- adding objects ---------------------------------------------------------------------


async def _body(request: Request, *, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.strip().isdigit():
        raise TaxiiRefusal(400, "Content-Length is not a number", code="taxii.request")
    if declared is not None and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> TaxiiRefusal:
    return TaxiiRefusal(
        413,
        f"the body exceeds this API root's max_content_length of {limit} bytes",
        code="taxii.too_large",
        max_content_length=limit,
    )


def _objects(body: bytes) -> list[Any]:
    """The objects of a TAXII envelope: 400 if the body is not JSON, 422 if not an envelope."""
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TaxiiRefusal(400, f"the body is not JSON: {exc}", code="taxii.json") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
        raise TaxiiRefusal(
            422,
            'expected a TAXII envelope: a JSON object with an "objects" list',
            code="taxii.envelope",
        )
    objects: list[Any] = envelope["objects"]
    return objects


def _writable(node: Node, principal: Principal, community: str, key: str) -> tuple[Caller, Access]:
    with node.database.reader() as session:
        caller = taxii_caller(session, principal=principal)
        access = open_collection(session, caller=caller, community=community, key=key, need="write")
    return caller, access


def _open(
    node: Node,
    caller: Caller,
    community: str,
    access: Access,
    objects: list[Any],
    nonce: str | None,
) -> TaxiiStatus:
    with node.database.transaction() as session:
        remember(session, node, caller, nonce)  # a replay is refused before anything is kept
        return open_status(
            session,
            clock=node.clock,
            caller=caller,
            community=community,
            collection=access.collection,
            objects=objects,
        )


def _status(node: Node, status_id: str) -> dict[str, Any]:
    with node.database.reader() as session:
        return status_resource(session.get_one(TaxiiStatus, status_id))


@router.post(f"{COLLECTION}/objects/", status_code=202)
async def add_objects(
    request: Request,
    root: str,
    collection_id: str,
    principal: TaxiiUser,
    accepting: Accepting,
    node: NodeDep,
    background: BackgroundTasks,
) -> TaxiiResponse:
    """Add the objects of an envelope; 202 with the request's status resource."""
    community = community_of(root)
    if not is_taxii_content(request.headers.get("content-type")):
        raise TaxiiRefusal(
            415,
            f"send the envelope as {TAXII_MEDIA_TYPE}",
            code="taxii.unsupported_media_type",
            content_type=request.headers.get("content-type"),
        )
    caller, access = await run_in_threadpool(_writable, node, principal, community, collection_id)
    signed = is_signed(request.headers)
    if not signed:  # a partner's unsigned write is refused before its body is read
        await run_in_threadpool(request_nonce, node, caller, request, b"")
    body = await _body(request, limit=node.settings.taxii_max_content_length)
    nonce = await run_in_threadpool(request_nonce, node, caller, request, body) if signed else None
    objects = _objects(body)
    status = await run_in_threadpool(_open, node, caller, community, access, objects, nonce)
    job: dict[str, Any] = {
        "clock": node.clock,
        "status_id": status.id,
        "caller": caller,
        "objects": objects,
    }
    if len(objects) <= SYNC_LIMIT:
        await run_in_threadpool(lambda: store_objects(node.database, **job))
        resource = await run_in_threadpool(_status, node, status.id)
    else:
        background.add_task(store_objects, node.database, **job)
        resource = status_resource(status)
    return TaxiiResponse(orjson.dumps(resource), status_code=202)
