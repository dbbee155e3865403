"""TAXII pages over the store: cursors that survive deletions, ``added_after`` as a cursor,
the cap on page size, and the callers TAXII admits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sharing_samples import GREEN, indicator, load, register, sid

from watchkeeper.core import FixedClock
from watchkeeper.errors import Forbidden
from watchkeeper.federation import (
    add_collection,
    local_audience,
    read_page,
    selection,
    taxii_caller,
)
from watchkeeper.federation import taxii_pages as module
from watchkeeper.federation.models import Collection
from watchkeeper.intel import delete_versions
from watchkeeper.node import Node
from watchkeeper.security import Principal, add_user


def _collection(node: Node) -> Collection:
    with node.database.transaction() as session:
        return add_collection(session, clock=node.clock, actor="test", title="All")


def _page(node: Node, collection: Collection, **options: object) -> module.Page:
    chosen = options.pop("chosen", selection())
    with node.database.reader() as session:
        return read_page(
            session,
            collection=collection,
            audience=local_audience(),
            chosen=chosen,  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        )


def test_a_cursor_never_passes_over_a_version_stored_after_a_deletion(node: Node) -> None:
    collection = _collection(node)
    load(node, indicator(1, markings=[GREEN]), indicator(2, markings=[GREEN]))
    page = _page(node, collection, limit=10)
    cursor = page.last_seq
    assert cursor is not None and not page.more
    with node.database.transaction() as session:
        delete_versions(session, seqs=[cursor])  # the newest version of the store
    load(node, indicator(3, markings=[GREEN]))
    after = _page(node, collection, limit=10, after_seq=cursor)
    assert [row.id for row in after.rows] == [sid("indicator", 3)]


def test_added_after_pages_through_a_shared_date_added(node: Node) -> None:
    collection = _collection(node)
    load(node, indicator(1, markings=[GREEN]))
    first = _page(node, collection, limit=10).rows[0].added_at
    assert isinstance(node.clock, FixedClock)
    node.clock.advance(timedelta(seconds=1))
    load(node, *(indicator(n, markings=[GREEN]) for n in range(10, 40)))
    chosen = selection(added_after=first)
    seen: list[str] = []
    cursor = None
    while True:
        page = _page(node, collection, limit=7, after_seq=cursor, chosen=chosen)
        seen += [row.id for row in page.rows]
        cursor = page.last_seq
        if not page.more:
            break
    assert seen == [sid("indicator", n) for n in range(10, 40)]
    later = selection(added_after="2999-01-01T00:00:00Z")
    assert _page(node, collection, limit=7, chosen=later).rows == []


def test_a_page_is_capped(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    collection = _collection(node)
    load(node, *(indicator(n, markings=[GREEN]) for n in range(1, 6)))
    monkeypatch.setattr(module, "MAX_PAGE", 3)
    page = _page(node, collection, limit=1000)
    assert len(page.rows) == 3 and page.more


def test_taxii_admits_peers_of_the_registry_and_some_staff(node: Node) -> None:
    register(node, "QA-NCSA")
    with node.database.transaction() as session:
        orphan = add_user(
            session, clock=node.clock, actor="test", name="peer:xx-gone", roles=["partner-node"]
        )
        responder = Principal(name="r", roles=frozenset({"responder"}), user_id="x")
        with pytest.raises(Forbidden):
            taxii_caller(
                session,
                principal=Principal(
                    name=orphan.name, roles=frozenset({"partner-node"}), user_id=orphan.id
                ),
            )
        with pytest.raises(Forbidden):
            taxii_caller(session, principal=responder)
        admin = taxii_caller(
            session, principal=Principal(name="a", roles=frozenset({"admin"}), user_id="y")
        )
        assert admin.admin and admin.peer is None
        assert admin.audience.own_organisation
