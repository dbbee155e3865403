"""Pushing to a partner's TAXII 2.1 collection: one run of a push link.

A push sends the current versions of a local collection that the sharing policy lets the
peer have (TLP:RED never; the same query as the peer reading the collection over TAXII),
after the cursor's ``seq``, one page per POST, leaving out what the peer itself delivered.
The store's ``seq`` is unique and increasing, so nothing is skipped or sent twice. The cursor
moves once the server accepted the page; objects its status resource reports as failed are
kept in the run's report and audit entry (re-sending them would fail the same way). Every
page sent is audited (``sync.sent``): data leaving the node is on record.
"""

from __future__ import annotations

from watchkeeper.errors import InvalidInput
from watchkeeper.federation.collections import collection_objects
from watchkeeper.federation.sync_links import SyncPolicy, not_delivered_by
from watchkeeper.federation.sync_runs import Save, Snapshot, Stop, SyncRun
from watchkeeper.federation.taxii_client import TaxiiClient
from watchkeeper.store import Database


def push(
    database: Database,
    *,
    actor: str,
    link: Snapshot,
    client: TaxiiClient,
    policy: SyncPolicy,
    run: SyncRun,
    save: Save,
    stop: Stop,
) -> None:
    """Send ``link``'s collection page by page from the cursor until all is sent, ``stop``
    says so or the run's page budget is spent (then ``run.more``)."""
    if link.collection is None:
        raise InvalidInput("this push link names no local collection", field="collection")
    cursor = dict(link.cursor)
    while True:
        if run.pages >= policy.max_pages or stop():
            run.more = True
            return
        after = cursor.get("seq")
        with database.reader() as session:
            rows = collection_objects(
                session,
                collection=link.collection,
                peer=link.peer,
                after_seq=after if isinstance(after, int) else None,
                limit=policy.page_size,
                current_only=True,
                where=[not_delivered_by(link.peer)],
            )
        if not rows:
            return
        status = client.add_objects(link.url, [row.doc for row in rows])
        if status.status == "pending" and status.pending:
            status = client.wait_status(link.url, status, seconds=policy.timeout)
        run.pages += 1
        run.add_status(status, sent=len(rows))
        cursor = {"seq": rows[-1].seq}
        detail = {
            "peer": link.peer,
            "url": link.url,
            "collection": link.collection,
            "objects": len(rows),
            "from_seq": rows[0].seq,
            "to_seq": rows[-1].seq,
            "status": status.document(),
        }
        save(cursor, audit=(actor, "sync.sent", detail))
        run.cursor = cursor
        if len(rows) < policy.page_size:
            return
