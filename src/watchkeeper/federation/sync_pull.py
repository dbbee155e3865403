"""Pulling from a partner's TAXII 2.1 collection: one run of a pull link.

Each page of the objects added after the cursor's ``added_after`` (following the server's
``next`` token) is stored through :func:`~watchkeeper.federation.receive` (a delivery of the
peer, in the peer's community, re-sharable as its settings say) and only then does the
cursor move, so a run that dies resumes at the page it was on: nothing is lost, and a page
stored twice is reported "unchanged" by the idempotent import. Mid-run the cursor holds the
``next`` token and keeps the ``added_after`` its query began with (a server only honours
``next`` with the same filters); a server that forgot the token (expired, restarted) gets the
query again from ``added_after``. At the end of a run ``added_after`` becomes the newest
``date_added`` received. Servers that page by ``added_after`` alone (no ``next``) are followed
through the ``X-TAXII-Date-Added-Last`` header.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from watchkeeper.core import Clock
from watchkeeper.errors import RemoteError
from watchkeeper.federation.receipts import items_reader, receive
from watchkeeper.federation.sync_links import SyncPolicy
from watchkeeper.federation.sync_runs import Snapshot, Stop, SyncRun
from watchkeeper.federation.taxii_client import TaxiiClient, later
from watchkeeper.store import Database

log = logging.getLogger(__name__)
FORGOTTEN_NEXT = (400, 404, 410)
"""Answers of a server that no longer knows a ``next`` token (expired, restarted)."""


def pull(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    link: Snapshot,
    client: TaxiiClient,
    policy: SyncPolicy,
    run: SyncRun,
    save: Callable[[dict[str, Any]], None],
    stop: Stop,
) -> None:
    """Pull pages from ``link``'s collection until it has no more, ``stop`` says so or the
    run's page budget is spent (then ``run.more``); ``save`` keeps the cursor after each page."""
    cursor = dict(link.cursor)
    while True:
        if run.pages >= policy.max_pages or stop():
            run.more = True
            return
        try:
            page = client.get_objects(
                link.url,
                added_after=cursor.get("added_after"),
                next_token=cursor.get("next"),
                limit=policy.page_size,
            )
        except RemoteError as exc:
            if cursor.get("next") and exc.fields.get("http_status") in FORGOTTEN_NEXT:
                log.info("%s forgot its paging token; asking again from added_after", link.url)
                cursor = {k: v for k, v in cursor.items() if k != "next"}
                save(cursor)
                continue
            raise
        run.pages += 1
        if page.objects:
            report = receive(
                database,
                clock=clock,
                actor=actor,
                peer=link.peer,
                reader=items_reader(page.objects, name=f"{link.url}objects/"),
                format="taxii",
            )
            run.add_import(report, received=len(page.objects))
        seen = later(cursor.get("seen"), page.added_last)
        if page.more and page.next:
            cursor = {"added_after": cursor.get("added_after"), "next": page.next, "seen": seen}
        elif page.more and page.added_last and page.added_last != cursor.get("added_after"):
            cursor = {"added_after": page.added_last}  # a server that pages by date_added
        elif page.more and page.objects:
            raise RemoteError(
                f"{link.url}: the server says there is more but gives neither a next token "
                "nor X-TAXII-Date-Added-Last to go on from",
                url=link.url,
            )
        else:
            cursor = {"added_after": later(cursor.get("added_after"), seen)}
        cursor = {k: v for k, v in cursor.items() if v is not None}
        save(cursor)
        run.cursor = cursor
        if not page.more or not page.objects:
            return
