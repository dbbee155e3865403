"""TAXII DELETE of an object: who may take which versions out of the store.

A collection holds no copies, so deleting an object from a collection deletes versions from
the store. That is why it is narrow: it takes the write right on the collection; a peer may
delete only versions it can read there that reached this node solely through its own
deliveries (what it sent by mistake, not what anyone else also sent or this node holds from
its own sources); among staff only administrators may delete, and any version. Without
``match[version]`` every version the caller can see is deleted; ``match[version]`` and
``match[spec_version]`` narrow that. Nothing is deleted unless every version meant may be.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.errors import Forbidden, NotFound
from watchkeeper.federation.models import Receipt
from watchkeeper.federation.taxii_access import Access, Caller
from watchkeeper.federation.taxii_filters import Selection
from watchkeeper.federation.taxii_pages import MAX_PAGE, read_page
from watchkeeper.intel import Provenance, delete_versions
from watchkeeper.security import record_change


def _senders(session: Session, seqs: list[int]) -> dict[int, set[str | None]]:
    """Per version, the peers whose deliveries brought it (None for a source of this node)."""
    p, r = Provenance, Receipt
    found: dict[int, set[str | None]] = defaultdict(set)
    rows = session.execute(
        select(p.object_seq, r.peer)
        .select_from(p)
        .outerjoin(r, r.import_id == p.import_id)
        .where(p.object_seq.in_(seqs))
    )
    for seq, peer in rows:
        found[seq].add(peer)
    return found


def delete_object(
    session: Session,
    *,
    clock: Clock,
    caller: Caller,
    access: Access,
    object_id: str,
    chosen: Selection,
) -> list[str]:
    """Delete the versions of ``object_id`` that ``chosen`` selects in the collection, as
    ``caller`` sees it; their versions, oldest first. Audited as ``taxii.delete``.

    ``NotFound`` when no such version is visible; ``Forbidden`` without the write right, for
    staff who are not administrators, and for a peer when one of the versions did not come
    solely from it (then nothing is deleted).
    """
    collection = access.collection
    if not access.can_write or (caller.peer is None and not caller.admin):
        raise Forbidden(
            f"{caller.actor} lacks the right to remove versions from collection {collection.id}",
            reason="no_delete_right",
            collection=collection.id,
        )
    rows = []
    after: int | None = None
    while True:
        page = read_page(
            session,
            collection=collection,
            audience=caller.audience,
            chosen=chosen,
            limit=MAX_PAGE,
            after_seq=after,
            object_id=object_id,
            documents=False,
        )
        rows += page.rows
        after = page.last_seq
        if not page.more:
            break
    if not rows:
        raise NotFound(
            f"no version of {object_id} to delete in collection {collection.id}",
            object=object_id,
        )
    if caller.peer is not None:
        senders = _senders(session, [row.seq for row in rows])
        others = [row.version for row in rows if senders.get(row.seq) != {caller.peer}]
        if others:
            raise Forbidden(
                f"{object_id}: version {', '.join(others)} did not reach this node solely "
                f"from {caller.peer}; a peer may delete only what it alone sent",
                reason="not_sender",
                object=object_id,
            )
    delete_versions(session, seqs=[row.seq for row in rows])
    versions = [row.version for row in rows]
    record_change(
        session,
        clock=clock,
        actor=caller.actor,
        action="taxii.delete",
        subject=f"stix:{object_id}",
        detail={"collection": collection.id, "versions": versions},
    )
    return versions
