"""Deliveries from peers: importing what a peer sends, remembering the scope it came with.

The TAXII server (objects POSTed by a peer) and node sync (objects pulled from a peer) both
land data through :func:`receive`: an ordinary import (``intel_imports``, provenance per
object version, source ``peer:<CODE>``) plus a ``federation_receipts`` row naming the peer,
the scope (community) the data arrived in and whether the sender allows re-sharing beyond
it. The sharing policy's ``received_scope`` rule reads those rows through provenance, so an
object a peer sent is held to that scope wherever it would leave again. An import made any
other way (a file an analyst loads, a feed) has no receipt: it is this node's own source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, new_id
from watchkeeper.federation.models import Receipt
from watchkeeper.federation.policy import Delivery, Origin, parse_community
from watchkeeper.federation.sharing import get_sharing
from watchkeeper.intel import (
    ImportReport,
    ImportRun,
    Item,
    Provenance,
    Reader,
    Reject,
    WarninglistMatcher,
    run_import,
)
from watchkeeper.security import record_change
from watchkeeper.store import Database

CHUNK = 500


def peer_source(code: str) -> str:
    """The provenance source of a peer's deliveries (what collection ``sources`` name)."""
    return f"peer:{code}"


def receive(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    peer: str,
    reader: Reader,
    scope: str | None = None,
    reshare: bool | None = None,
    format: str = "stix",
    warninglists: WarninglistMatcher | None = None,
) -> ImportReport:
    """Import what peer ``peer`` delivered (``reader``'s objects) as a receipt of that peer.

    ``scope`` is the community the objects arrived in (the API root they were posted to or
    pulled from), by default the peer's own community; ``reshare`` is the sender's permission
    to share them beyond it, by default what the peer's settings record. The receipt and its
    audit entry (``federation.receive``) commit before the first batch, so no object of the
    delivery is ever stored without its scope.
    """
    with database.transaction() as session:
        settings = get_sharing(session, peer)
        arrived = parse_community(scope, field="scope") if scope is not None else settings.community
        allowed = settings.reshare if reshare is None else reshare
        import_id = new_id()
        source = peer_source(settings.peer)
        session.add(
            ImportRun(
                id=import_id,
                source=source,
                format=format,
                actor=actor,
                started_at=clock.now(),
                status="running",
                counts=ImportReport(id=import_id, source=source, format=format).counts,
                rejects=[],
            )
        )
        session.flush()
        session.add(
            Receipt(import_id=import_id, peer=settings.peer, scope=arrived, reshare=allowed)
        )
        record_change(
            session,
            clock=clock,
            actor=actor,
            action="federation.receive",
            subject=f"import:{import_id}",
            detail={"peer": settings.peer, "scope": arrived, "reshare": allowed},
        )
    return run_import(
        database,
        clock=clock,
        actor=actor,
        source=source,
        format=format,
        reader=reader,
        warninglists=warninglists,
        import_id=import_id,
    )


def items_reader(objects: Iterable[Any], *, name: str) -> Reader:
    """A reader over STIX objects already parsed (a TAXII envelope's ``objects``)."""

    def read(reject: Callable[[Reject], None]) -> Iterator[Item]:
        for index, obj in enumerate(objects):
            yield name, index, obj

    return read


def origins(session: Session | Connection, seqs: Iterable[int]) -> dict[int, Origin]:
    """How each object version ``seqs`` reached this node: its peer deliveries, and whether
    an import that was not a peer delivery also brought it (for :func:`~.policy.decide`)."""
    wanted = sorted(set(seqs))
    deliveries: dict[int, list[Delivery]] = {seq: [] for seq in wanted}
    independent: set[int] = set()
    p, r = Provenance, Receipt
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        rows = session.execute(
            select(p.object_seq, r.import_id, r.scope, r.reshare)
            .select_from(p)
            .outerjoin(r, r.import_id == p.import_id)
            .where(p.object_seq.in_(chunk))
            .order_by(p.object_seq, p.import_id)
        )
        for seq, receipt, scope, reshare in rows:
            if receipt is None:
                independent.add(seq)
            else:
                deliveries[seq].append(Delivery(scope, reshare))
    return {
        seq: Origin(deliveries=tuple(found), independent=seq in independent)
        for seq, found in deliveries.items()
    }
