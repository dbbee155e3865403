"""Sync with a partner's TAXII 2.1 server (a real medallion): pulls, pushes, failures, state."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sharing_samples import AMBER, CLEAR, GREEN, RED, STRICT, deliver, granular, indicator, load
from sharing_samples import register as register_peer
from sqlalchemy import select, update

from taxii_partner import (
    ADDED,
    PAGE,
    PASSWORD,
    USER,
    Partner,
    free_port,
    medallion,
    taxii_time,
)
from watchkeeper.bus.models import Event
from watchkeeper.core import FixedClock
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.federation import (
    SYNC_ACTOR,
    Credentials,
    Receipt,
    SyncLink,
    SyncPolicy,
    SyncRun,
    add_collection,
    add_link,
    get_link,
    link_document,
    list_links,
    origins,
    pull_link,
    push_link,
    remove_link,
    run_due_links,
    set_link,
    set_rights,
)
from watchkeeper.intel import StixObject
from watchkeeper.node import Node
from watchkeeper.security import SecretBox, entry_document, list_entries
from watchkeeper.workers import sync_loop

PEER = "AE-TDRA"
POLICY = SyncPolicy(page_size=PAGE)
CREDENTIALS = Credentials(scheme="basic", secret=PASSWORD, user=USER)


def sid_number(stix_id: str) -> int:
    return int(stix_id.rsplit("-", 1)[1])


@pytest.fixture
def box(node: Node) -> SecretBox:
    """The node has keys (to seal the partner's credentials) and a regional peer."""
    node.init_identity(actor="test", code="QA-NCSA", name="Qatar NCSA", country="QA")
    register_peer(node, PEER, community="regional", max_tlp="amber", need_to_know=True)
    return SecretBox(node.data_dir)


@pytest.fixture
def partner(tmp_path: Path) -> Iterator[Partner]:
    """Medallion holding 250 indicators (three pages of 100), one second apart."""
    with medallion(tmp_path / "partner", [indicator(n) for n in range(1, 251)]) as server:
        yield server


def add(node: Node, box: SecretBox, url: str, *, direction: str = "pull", **options: Any) -> str:
    options.setdefault("credentials", CREDENTIALS)
    with node.database.transaction() as session:
        link = add_link(
            session, clock=node.clock, actor="user:admin", peer=PEER, direction=direction,
            url=url, box=box, **options,
        )  # fmt: skip
        return link.id


def pull(node: Node, box: SecretBox, link: str, **options: Any) -> SyncRun:
    return pull_link(
        node.database, clock=node.clock, actor="user:admin", link=link, box=box,
        policy=options.pop("policy", POLICY), **options,
    )  # fmt: skip


def state(node: Node, link: str) -> dict[str, Any]:
    with node.database.reader() as session:
        return link_document(session, get_link(session, link), now=node.clock.now())


def stored(node: Node) -> set[int]:
    with node.database.reader() as session:
        return {sid_number(i) for i in session.scalars(select(StixObject.id))}


def ledger(node: Node, action: str) -> list[dict[str, Any]]:
    with node.database.reader() as session:
        return [entry_document(e) for e in list_entries(session, action=action, limit=1000)]


def clock(node: Node) -> FixedClock:
    assert isinstance(node.clock, FixedClock)
    return node.clock


class Failing(httpx.BaseTransport):
    """The network, until request number ``after`` + 1, which raises ``error``."""

    def __init__(self, *, after: int, error: BaseException) -> None:
        self.inner = httpx.HTTPTransport()
        self.after = after
        self.error = error
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls > self.after:
            raise self.error
        return self.inner.handle_request(request)


# --- pull -----------------------------------------------------------------------------------


def test_pull_stores_the_collection_as_the_peers_delivery(
    node: Node, box: SecretBox, partner: Partner
) -> None:
    link = add(node, box, partner.collection_url)
    run = pull(node, box, link)
    assert run.ok, run.error
    assert (run.pages, run.objects, run.created, run.rejected) == (3, 250, 250, 0)
    assert stored(node) == set(range(1, 251))
    assert run.cursor == {"added_after": taxii_time(ADDED + timedelta(seconds=249))}

    with node.database.reader() as session:
        seqs = list(session.scalars(select(StixObject.seq)))
        found = origins(session, seqs)
        receipts = list(session.scalars(select(Receipt)))
    assert {(r.peer, r.scope, r.reshare) for r in receipts} == {(PEER, "regional", False)}
    assert len(receipts) == 3  # one delivery per page
    assert all(o.deliveries and not o.independent for o in found.values())

    document = state(node, link)
    assert document["state"] == "ok" and document["failures"] == 0
    assert document["last_success_at"] == node.clock.now().isoformat()
    assert document["next_attempt_at"] == (node.clock.now() + POLICY.interval).isoformat()
    assert document["last_report"]["created"] == 250
    [entry] = ledger(node, "sync.pull")
    assert entry["detail"]["objects"] == 250 and entry["subject"] == f"sync:{link}"


def test_pull_again_gets_only_what_was_added(node: Node, box: SecretBox, partner: Partner) -> None:
    link = add(node, box, partner.collection_url)
    assert pull(node, box, link).created == 250

    again = pull(node, box, link)
    assert again.ok and (again.objects, again.created) == (0, 0)
    cursor = again.cursor

    assert partner.add([indicator(n) for n in range(300, 310)]) == {"success": 10, "failure": 0}
    third = pull(node, box, link)
    assert (third.objects, third.created, third.unchanged) == (10, 10, 0)
    assert third.cursor["added_after"] > cursor["added_after"]  # the server's clock, now
    assert stored(node) == set(range(1, 251)) | set(range(300, 310))

    with node.database.transaction() as session:
        set_link(session, clock=node.clock, actor="user:admin", link=link, reset=True)
    everything = pull(node, box, link)
    assert (everything.objects, everything.unchanged, everything.created) == (260, 260, 0)


def test_an_interrupted_pull_resumes_without_loss_or_duplicates(
    node: Node, box: SecretBox, partner: Partner
) -> None:
    link = add(node, box, partner.collection_url)
    dropped = Failing(after=1, error=httpx.ConnectError("connection reset by peer"))
    first = pull(node, box, link, transport=dropped)
    assert not first.ok and "connection reset" in (first.error or "")
    assert (first.pages, first.created) == (1, 100)
    after_first = state(node, link)
    assert after_first["state"] == "failing" and after_first["failures"] == 1
    assert "next" in after_first["cursor"]  # mid-run: the server's paging token

    resumed = pull(node, box, link)  # a person retries at once: back-off does not hold it
    assert resumed.ok, resumed.error
    assert (resumed.pages, resumed.objects, resumed.created) == (2, 150, 150)
    assert stored(node) == set(range(1, 251))
    assert state(node, link)["failures"] == 0
    [recovered] = ledger(node, "sync.pull")
    assert recovered["detail"]["recovered_after"] == 1

    # Killed outright (^C, SIGTERM): the lease is given back and the cursor stays.
    with node.database.transaction() as session:
        set_link(session, clock=node.clock, actor="user:admin", link=link, reset=True)
    with pytest.raises(KeyboardInterrupt):
        pull(node, box, link, transport=Failing(after=2, error=KeyboardInterrupt()))
    interrupted = state(node, link)
    assert interrupted["state"] == "ok" and "next" in interrupted["cursor"]  # not "running"
    rest = pull(node, box, link)
    assert (rest.objects, rest.unchanged, rest.created) == (50, 50, 0)


def test_a_forgotten_paging_token_starts_the_query_again(
    node: Node, box: SecretBox, partner: Partner
) -> None:
    link = add(node, box, partner.collection_url)
    with node.database.transaction() as session:
        session.execute(
            update(SyncLink).where(SyncLink.id == link).values(cursor={"next": "expired-token"})
        )
    run = pull(node, box, link)
    assert run.ok, run.error
    assert (run.objects, run.created) == (250, 250)
    assert "next" not in run.cursor


def test_a_partner_that_is_down_is_retried_with_backoff(node: Node, box: SecretBox) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/partner/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/"
    link = add(node, box, url)
    start = node.clock.now()

    [first] = run_due_links(node.database, clock=node.clock, box=box, policy=POLICY)
    assert not first.ok and "cannot reach" in (first.error or "")
    down = state(node, link)
    assert (down["state"], down["failures"]) == ("failing", 1)
    assert down["next_attempt_at"] == (start + timedelta(minutes=1)).isoformat()
    assert down["lag"]["seconds"] is None and down["last_success_at"] is None
    [failed] = ledger(node, "sync.failed")
    assert failed["detail"]["failures"] == 1 and "cannot reach" in failed["detail"]["error"]

    assert run_due_links(node.database, clock=node.clock, box=box, policy=POLICY) == []
    clock(node).advance(timedelta(seconds=61))
    [second] = run_due_links(node.database, clock=node.clock, box=box, policy=POLICY)
    assert not second.ok
    assert state(node, link)["failures"] == 2
    assert (
        state(node, link)["next_attempt_at"]
        == (node.clock.now() + timedelta(minutes=2)).isoformat()
    )

    capped = SyncPolicy(page_size=PAGE, backoff_max=timedelta(minutes=3))
    assert [capped.retry_delay(n).total_seconds() for n in (1, 2, 3, 10)] == [60, 120, 180, 180]

    with medallion(node.data_dir.parent / "late", [indicator(7)], port=port):
        clock(node).advance(timedelta(minutes=2))
        [back] = run_due_links(node.database, clock=node.clock, box=box, policy=POLICY)
    assert back.ok and back.created == 1
    up = state(node, link)
    assert (up["state"], up["failures"], up["last_error"]) == ("ok", 0, None)
    assert ledger(node, "sync.pull")[0]["detail"]["recovered_after"] == 2


def test_scheduled_runs_wait_for_their_time_and_idle_runs_leave_no_record(
    node: Node, box: SecretBox, partner: Partner
) -> None:
    link = add(node, box, partner.collection_url)
    [first] = run_due_links(node.database, clock=node.clock, box=box, policy=POLICY)
    assert first.created == 250
    assert run_due_links(node.database, clock=node.clock, box=box, policy=POLICY) == []
    clock(node).advance(POLICY.interval)
    [idle] = run_due_links(node.database, clock=node.clock, box=box, policy=POLICY)
    assert idle.ok and idle.objects == 0
    assert len(ledger(node, "sync.pull")) == 1  # the idle pass is not audited

    short = SyncPolicy(page_size=PAGE, max_pages=1)
    with node.database.transaction() as session:
        set_link(session, clock=node.clock, actor="user:admin", link=link, reset=True)
    [part] = run_due_links(node.database, clock=node.clock, box=box, policy=short)
    assert part.more and part.pages == 1
    assert state(node, link)["next_attempt_at"] == node.clock.now().isoformat()  # due again
    stopped = run_due_links(
        node.database, clock=node.clock, box=box, policy=POLICY, stop=lambda: True
    )
    assert stopped == []


def test_one_process_runs_a_link_at_a_time(node: Node, box: SecretBox, partner: Partner) -> None:
    link = add(node, box, partner.collection_url)
    lease = node.clock.now() + timedelta(minutes=5)
    with node.database.transaction() as session:
        session.execute(
            update(SyncLink)
            .where(SyncLink.id == link)
            .values(runner="another-worker", running_until=lease)
        )
    assert state(node, link)["state"] == "running"
    with pytest.raises(Conflict, match="another process"):
        pull(node, box, link)
    assert run_due_links(node.database, clock=node.clock, box=box, policy=POLICY) == []
    clock(node).advance(timedelta(minutes=6))  # that worker died: its lease ran out
    [run] = run_due_links(node.database, clock=node.clock, box=box, policy=POLICY)
    assert run.ok and run.created == 250

    with node.database.transaction() as session:
        set_link(session, clock=node.clock, actor="user:admin", link=link, enabled=False)
    assert state(node, link)["state"] == "disabled"
    with pytest.raises(Conflict, match="disabled"):
        pull(node, box, link)


def test_credentials_are_sealed_and_never_shown(
    node: Node, box: SecretBox, partner: Partner
) -> None:
    link = add(node, box, partner.collection_url)
    with node.database.reader() as session:
        row = session.get(SyncLink, link)
        assert row is not None and row.auth is not None
        assert PASSWORD not in orjson.dumps(row.auth).decode()
    assert state(node, link)["auth"] == {"scheme": "basic", "user": USER}

    wrong = Credentials(scheme="basic", secret="not-the-password", user=USER)
    with node.database.transaction() as session:
        set_link(session, clock=node.clock, actor="user:admin", link=link, credentials=wrong,
                 box=box)  # fmt: skip
    refused = pull(node, box, link)
    assert not refused.ok and "HTTP 401" in (refused.error or "")
    assert "refused our credentials" in (refused.error or "")

    with node.database.transaction() as session:
        set_link(session, clock=node.clock, actor="user:admin", link=link,
                 credentials=CREDENTIALS, box=box)  # fmt: skip
        # A row edited to send the secret elsewhere: the sealed value no longer opens.
        session.execute(
            update(SyncLink)
            .where(SyncLink.id == link)
            .values(collection_url=partner.collection_url.replace("127.0.0.1", "localhost"))
        )
    moved = pull(node, box, link)
    assert not moved.ok and "does not open" in (moved.error or "")

    with node.database.reader() as session:
        shown = [entry_document(e) for e in list_entries(session, limit=1000)]
        events = [e.payload for e in session.scalars(select(Event))]
    assert PASSWORD not in orjson.dumps([shown, events, state(node, link)]).decode()


def test_link_registry_checks_and_audits(node: Node, box: SecretBox, partner: Partner) -> None:
    url = partner.collection_url
    link = add(node, box, url, credentials=None)
    with pytest.raises(Conflict, match="already has pull link"):
        add(node, box, url)
    for bad in ("ftp://x/collections/a/", "https://h/taxii2/", "https://u:p@h/r/collections/a/"):
        with pytest.raises(InvalidInput):
            add(node, box, bad)
    with pytest.raises(InvalidInput, match="--collection"):
        add(node, box, url, direction="push")
    with pytest.raises(InvalidInput, match="only a push"):
        add(node, box, url.replace("91a7b528", "0000b528"), collection="anything")
    with pytest.raises(NotFound):
        add(node, box, url, direction="push", collection="nothing-like-it")
    with pytest.raises(InvalidInput, match="is a pull link"):
        push_link(node.database, clock=node.clock, actor="user:admin", link=link, box=box,
                  policy=POLICY)  # fmt: skip

    with node.database.reader() as session:
        assert get_link(session, link[:8]).id == link
        assert [x.id for x in list_links(session, peer=PEER, direction="pull")] == [link]
        with pytest.raises(NotFound):
            get_link(session, "00000000")
    anonymous = pull(node, box, link)  # medallion wants credentials
    assert not anonymous.ok and "HTTP 401" in (anonymous.error or "")
    with node.database.transaction() as session:
        remove_link(session, clock=node.clock, actor="user:admin", link=link)
    assert [e["detail"]["url"] for e in ledger(node, "sync.add")] == [url]
    assert ledger(node, "sync.remove")[0]["subject"] == f"sync:{link}"


# --- push -----------------------------------------------------------------------------------


def _collection(node: Node) -> str:
    with node.database.transaction() as session:
        collection = add_collection(
            session, clock=node.clock, actor="user:admin", title="Shared with the region",
            community="regional", alias="region",
        )  # fmt: skip
        set_rights(session, clock=node.clock, actor="user:admin", peer=PEER, read=["region"])
        return collection.id


def test_push_sends_what_the_policy_allows_and_never_red(
    node: Node, box: SecretBox, tmp_path: Path
) -> None:
    register_peer(node, "OM-CERT")
    load(
        node,
        indicator(1, markings=[CLEAR]),
        indicator(2, markings=[GREEN]),
        indicator(3, markings=[AMBER]),
        indicator(4, markings=[STRICT]),
        indicator(5, markings=[RED]),
        indicator(6),  # unmarked: counted as AMBER, and this peer is need-to-know
        indicator(7, markings=[GREEN], granular_markings=granular(RED), description="x"),
    )
    deliver(node, PEER, indicator(8, markings=[GREEN]))  # it has that one: not sent back
    deliver(node, "OM-CERT", indicator(9, markings=[GREEN]), scope="national")  # stays national
    _collection(node)
    with medallion(tmp_path / "partner", []) as partner:
        link = add(node, box, partner.collection_url, direction="push", collection="region")
        assert state(node, link)["lag"]["objects"] == 4
        run = push_link(node.database, clock=node.clock, actor="user:admin", link=link,
                        box=box, policy=POLICY)  # fmt: skip
        assert run.ok, run.error
        assert (run.pages, run.objects, run.succeeded, run.failed) == (1, 4, 4, 0)
        there = {sid_number(o["id"]) for o in partner.objects()}
        assert there == {1, 2, 3, 6}
        assert state(node, link)["lag"]["objects"] == 0

        again = push_link(node.database, clock=node.clock, actor="user:admin", link=link,
                          box=box, policy=POLICY)  # fmt: skip
        assert again.ok and again.objects == 0

        load(node, indicator(10, markings=[GREEN]), indicator(11, markings=[RED]))
        assert state(node, link)["lag"]["objects"] == 1
        more = push_link(node.database, clock=node.clock, actor="user:admin", link=link,
                         box=box, policy=POLICY)  # fmt: skip
        assert (more.objects, more.succeeded) == (1, 1)
        assert {sid_number(o["id"]) for o in partner.objects()} == {1, 2, 3, 6, 10}

        # Sent again after a reset: the partner reports them as failures; they are recorded.
        with node.database.transaction() as session:
            set_link(session, clock=node.clock, actor="user:admin", link=link, reset=True)
        resent = push_link(node.database, clock=node.clock, actor="user:admin", link=link,
                           box=box, policy=POLICY)  # fmt: skip
        assert resent.ok and (resent.objects, resent.failed) == (5, 5)
        assert len(resent.problems) == 5 and all(p["message"] for p in resent.problems)
        assert state(node, link)["last_report"]["failed"] == 5

    sent = ledger(node, "sync.sent")
    assert [e["detail"]["objects"] for e in sent] == [4, 1, 5]
    assert sent[-1]["detail"]["status"]["failure"] == 5
    assert all(e["detail"]["peer"] == PEER for e in sent)


def test_push_in_pages_resumes_after_a_failure(node: Node, box: SecretBox, tmp_path: Path) -> None:
    load(node, *(indicator(n, markings=[GREEN]) for n in range(1, 251)))
    _collection(node)
    with medallion(tmp_path / "partner", []) as partner:
        link = add(node, box, partner.collection_url, direction="push", collection="region")
        dropped = Failing(after=1, error=httpx.ConnectError("connection reset by peer"))
        first = push_link(node.database, clock=node.clock, actor="user:admin", link=link,
                          box=box, policy=POLICY, transport=dropped)  # fmt: skip
        assert not first.ok and first.objects == 100
        assert state(node, link)["failures"] == 1
        assert state(node, link)["lag"]["objects"] == 150
        rest = push_link(node.database, clock=node.clock, actor="user:admin", link=link,
                         box=box, policy=POLICY)  # fmt: skip
        assert rest.ok and (rest.pages, rest.objects, rest.failed) == (2, 150, 0)
        assert {sid_number(o["id"]) for o in partner.objects()} == set(range(1, 251))


def test_push_needs_the_peers_read_right(node: Node, box: SecretBox, partner: Partner) -> None:
    with node.database.transaction() as session:
        add_collection(session, clock=node.clock, actor="user:admin", title="Mine", alias="mine")
    with pytest.raises(InvalidInput, match="may not read collection mine"):
        add(node, box, partner.collection_url, direction="push", collection="mine")
    _collection(node)
    link = add(node, box, partner.collection_url, direction="push", collection="region")
    with node.database.transaction() as session:
        set_rights(session, clock=node.clock, actor="user:admin", peer=PEER, revoke=["region"])
    refused = push_link(node.database, clock=node.clock, actor="user:admin", link=link,
                        box=box, policy=POLICY)  # fmt: skip
    assert not refused.ok and "may not read" in (refused.error or "")


def test_the_serve_worker_runs_due_links(node: Node, box: SecretBox, partner: Partner) -> None:
    link = add(node, box, partner.collection_url)

    async def serve_briefly() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(sync_loop(node, stop))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if state(node, link)["last_success_at"] is not None:
                break
        stop.set()
        await asyncio.wait_for(worker, timeout=30)

    asyncio.run(serve_briefly())
    done = state(node, link)
    assert done["state"] == "ok" and done["last_report"]["created"] == 250
    [entry] = ledger(node, "sync.pull")
    assert entry["actor"] == SYNC_ACTOR
