"""Messages between two nodes in one process: the sender's outbox posts to the receiver's
app (served in-process), and only a receipt signed by the receiver delivers a message.
Offline partners, duplicates, forgeries, mis-addressed and replayed messages, handler
errors and the file route for states that are not connected."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from watchkeeper.cooperation import handlers
from watchkeeper.cooperation.envelopes import new_envelope, sign_envelope
from watchkeeper.cooperation.inbox_messages import import_messages
from watchkeeper.cooperation.message_models import CoopMessage
from watchkeeper.cooperation.transport import (
    INBOX_PATH,
    deliver_due,
    export_messages,
    list_messages,
    mark_exported,
    message_document,
    outbox_status,
    queue_message,
    receipts_file,
)
from watchkeeper.core import FixedClock, canonical_json
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.node import Node
from watchkeeper.security import (
    NodeIdentity,
    add_peer,
    entry_document,
    list_entries,
    load_signing_key,
    record_change,
    sign_request,
)
from watchkeeper.testing import make_node
from watchkeeper.web import create_app

SENDER, RECEIVER = "QA-NCSA", "FR-ANSSI"
RECEIVER_URL = "http://receiver.test"
KIND = "test.note"


@dataclass
class Pair:
    sender: Node
    receiver: Node
    inbox: TestClient
    handled: list[dict[str, Any]]

    def advance(self, delta: timedelta) -> None:
        for node in (self.sender, self.receiver):
            assert isinstance(node.clock, FixedClock)
            node.clock.advance(delta)


def _register(node: Node, other: NodeIdentity, url: str) -> None:
    with node.database.transaction() as session:
        add_peer(
            session,
            clock=node.clock,
            actor="test",
            code=other.code,
            url=url,
            country=other.country,
            public_key=other.signing_public_key,
        )


def _note(session: Session, *, node: Node, envelope: dict[str, Any]) -> dict[str, Any]:
    """The test handler: writes an audit entry, fails when the body asks it to."""
    record_change(
        session, clock=node.clock, actor="test", action="test.handled", subject=envelope["id"]
    )
    if envelope["body"].get("fail"):
        raise InvalidInput("the test handler refuses this note", field="body", reason="refused")
    return {"seen": envelope["body"].get("n")}


@pytest.fixture
def pair(
    tmp_path: Path,
    database_url: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Pair]:
    """Two nodes on the backend under test, each knowing the other as its peer."""
    if database_url.startswith("sqlite"):
        other_url = f"sqlite:///{(tmp_path / 'receiver.db').as_posix()}"
    else:
        other_url = request.getfixturevalue("postgres_schema_url")
    sender = make_node(tmp_path / "sender", database_url=database_url)
    receiver = make_node(tmp_path / "receiver", database_url=other_url)
    ours = sender.init_identity(actor="test", code=SENDER, name="Sender", country="QA")
    theirs = receiver.init_identity(actor="test", code=RECEIVER, name="Receiver", country="FR")
    _register(sender, theirs, RECEIVER_URL)
    _register(receiver, ours, "http://sender.test")
    handled: list[dict[str, Any]] = []

    def note(session: Session, *, node: Node, envelope: dict[str, Any]) -> dict[str, Any]:
        result = _note(session, node=node, envelope=envelope)
        handled.append(envelope)
        return result

    monkeypatch.setitem(handlers.HANDLERS, KIND, note)
    inbox = TestClient(create_app(node=receiver), base_url=RECEIVER_URL)
    yield Pair(sender, receiver, inbox, handled)
    inbox.close()
    sender.close()
    receiver.close()


def _queue(pair: Pair, body: dict[str, Any], *, thread: str = "thread-1") -> dict[str, Any]:
    with pair.sender.database.transaction() as session:
        return queue_message(
            session,
            node=pair.sender,
            clock=pair.sender.clock,
            actor="user:alice",
            peer=RECEIVER,
            kind=KIND,
            thread=thread,
            body=body,
        )


def _row(node: Node, message_id: str, direction: str) -> CoopMessage | None:
    with node.database.reader() as session:
        return session.get(CoopMessage, (message_id, direction))


def _audit(node: Node, action: str) -> list[dict[str, Any]]:
    with node.database.reader() as session:
        return [entry_document(e) for e in list_entries(session, action=action, limit=1000)]


def _post(pair: Pair, signed: dict[str, Any], *, node: Node | None = None) -> httpx.Response:
    """POST ``signed`` to the receiver as the sender node would (request signed)."""
    sender = node or pair.sender
    body = canonical_json(signed)
    headers = sign_request(
        load_signing_key(sender.data_dir),
        node=sender.identity().code,
        method="POST",
        target=INBOX_PATH,
        body=body,
        clock=sender.clock,
    )
    return pair.inbox.post(INBOX_PATH, content=body, headers=headers)


def _hand_made(pair: Pair, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": KIND,
        "sender": SENDER,
        "receiver": RECEIVER,
        "thread": "thread-1",
        "body": {"n": 1},
        "created": pair.sender.clock.now(),
    }
    values.update(changes)
    identity = pair.sender.identity()
    return sign_envelope(
        load_signing_key(pair.sender.data_dir),
        new_envelope(**values),
        fingerprint=identity.fingerprint,
    )


def _rejections(pair: Pair) -> list[tuple[str, Any, str]]:
    return [
        (e["detail"]["reason"], e["detail"]["sender"], e["detail"]["via"])
        for e in _audit(pair.receiver, "cooperation.message.rejected")
    ]


def test_a_message_is_delivered_with_a_signed_receipt(pair: Pair) -> None:
    signed = _queue(pair, {"n": 1})
    message_id = signed["envelope"]["id"]
    report = deliver_due(pair.sender, client=pair.inbox)
    assert (report.delivered, report.failed, report.pending) == (1, 0, 0)
    row = _row(pair.sender, message_id, "out")
    assert row is not None and row.status == "delivered" and row.attempts == 1
    assert row.receipt is not None
    assert row.receipt["receipt"]["status"] == "accepted"
    assert row.receipt["receipt"]["result"] == {"seen": 1}
    assert row.receipt["receipt"]["from"] == RECEIVER
    inbound = _row(pair.receiver, message_id, "in")
    assert inbound is not None and inbound.envelope == signed and inbound.receipt == row.receipt
    assert pair.handled == [signed["envelope"]]
    assert [e["subject"] for e in _audit(pair.sender, "cooperation.message.delivered")] == [
        f"message:{message_id}"
    ]
    assert _audit(pair.receiver, "cooperation.message.received")[0]["detail"]["via"] == "http"
    # Nothing is due any more.
    assert deliver_due(pair.sender, client=pair.inbox).delivered == 0


def test_an_offline_partner_gets_the_messages_later_in_order(pair: Pair) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    offline = httpx.Client(transport=httpx.MockTransport(refuse))
    first, second = _queue(pair, {"n": 1}), _queue(pair, {"n": 2})
    report = deliver_due(pair.sender, client=offline)
    assert (report.delivered, report.failed, report.pending) == (0, 1, 2)
    assert "unreachable" in report.errors[0]["error"]
    row = _row(pair.sender, first["envelope"]["id"], "out")
    assert row is not None and row.status == "pending" and row.attempts == 1
    assert row.next_attempt_at == pair.sender.clock.now() + timedelta(seconds=30)
    assert row.last_error is not None and "ConnectError" in row.last_error
    waiting = _row(pair.sender, second["envelope"]["id"], "out")
    assert waiting is not None and waiting.attempts == 0  # held behind the first, in order
    with pair.sender.database.reader() as session:
        status = outbox_status(session, now=pair.sender.clock.now() + timedelta(minutes=1))
    assert status["pending"] == 2 and status["failing"] == 1
    assert status["oldest_pending_age_seconds"] == 60.0
    assert status["peers"][RECEIVER]["attempts"] == 1
    # The second failure waits twice as long.
    pair.advance(timedelta(seconds=30))
    assert deliver_due(pair.sender, client=offline).failed == 1
    row = _row(pair.sender, first["envelope"]["id"], "out")
    assert row is not None and row.attempts == 2
    assert row.next_attempt_at == pair.sender.clock.now() + timedelta(seconds=60)
    assert deliver_due(pair.sender, client=pair.inbox).delivered == 0  # not due yet
    pair.advance(timedelta(seconds=60))
    report = deliver_due(pair.sender, client=pair.inbox)
    assert (report.delivered, report.pending) == (2, 0)
    assert [e["body"]["n"] for e in pair.handled] == [1, 2]
    assert len(_audit(pair.sender, "cooperation.message.failed")) == 2


def test_a_duplicate_is_answered_with_its_receipt_and_handled_once(pair: Pair) -> None:
    signed = _queue(pair, {"n": 7})
    assert deliver_due(pair.sender, client=pair.inbox).delivered == 1
    again = _post(pair, signed)
    assert again.status_code == 200, again.text
    receipt = again.json()["receipt"]
    assert receipt["status"] == "duplicate" and receipt["result"] == {"seen": 7}
    assert len(pair.handled) == 1
    assert len(_audit(pair.receiver, "test.handled")) == 1
    assert len(_audit(pair.receiver, "cooperation.message.duplicate")) == 1


def test_a_forged_message_is_refused_and_audited(pair: Pair) -> None:
    signed = _hand_made(pair)
    signed["envelope"]["body"]["n"] = 99  # changed after signing
    response = _post(pair, signed)
    assert response.status_code == 422, response.text
    assert response.json()["reason"] == "forged"
    assert _row(pair.receiver, signed["envelope"]["id"], "in") is None
    assert _rejections(pair) == [("forged", SENDER, "http")]
    assert pair.handled == []


def test_a_mis_addressed_message_is_refused_and_audited(pair: Pair) -> None:
    signed = _hand_made(pair, receiver="DE-BSI")
    response = _post(pair, signed)
    assert response.status_code == 422
    assert response.json()["reason"] == "misaddressed"
    assert _rejections(pair) == [("misaddressed", SENDER, "http")]


def test_a_replayed_request_is_refused(pair: Pair) -> None:
    body = canonical_json(_hand_made(pair))
    headers = sign_request(
        load_signing_key(pair.sender.data_dir),
        node=SENDER,
        method="POST",
        target=INBOX_PATH,
        body=body,
        clock=pair.sender.clock,
    )
    assert pair.inbox.post(INBOX_PATH, content=body, headers=headers).status_code == 200
    replay = pair.inbox.post(INBOX_PATH, content=body, headers=headers)
    assert replay.status_code == 401
    assert replay.json()["reason"] == "replayed"
    assert _rejections(pair) == [("replayed", SENDER, "http")]
    assert len(pair.handled) == 1


def test_another_message_under_a_used_id_is_refused(pair: Pair) -> None:
    first = _hand_made(pair)
    assert _post(pair, first).status_code == 200
    second = _hand_made(pair, message_id=first["envelope"]["id"], body={"n": 2})
    response = _post(pair, second)
    assert response.status_code == 409
    assert response.json()["reason"] == "replayed"
    assert _rejections(pair) == [("replayed", SENDER, "http")]
    assert [e["body"]["n"] for e in pair.handled] == [1]


def test_unknown_unsigned_and_relayed_senders_are_refused(pair: Pair, tmp_path: Path) -> None:
    stranger = make_node(tmp_path / "stranger")
    try:
        identity = stranger.init_identity(
            actor="test", code="DE-BSI", name="Stranger", country="DE"
        )
        theirs = sign_envelope(
            load_signing_key(stranger.data_dir),
            new_envelope(
                kind=KIND,
                sender="DE-BSI",
                receiver=RECEIVER,
                thread="t",
                body={"n": 5},
                created=stranger.clock.now(),
            ),
            fingerprint=identity.fingerprint,
        )
        response = _post(pair, theirs, node=stranger)
        assert response.status_code == 401
        assert response.json()["reason"] == "unknown-sender"
        # Once registered, its message is still refused when another node posts it.
        _register(pair.receiver, identity, "http://stranger.test")
        relayed = _post(pair, theirs)
        assert relayed.status_code == 422
        assert relayed.json()["reason"] == "forged"
        assert _post(pair, theirs, node=stranger).status_code == 200
    finally:
        stranger.close()
    unsigned = pair.inbox.post(INBOX_PATH, content=canonical_json(_hand_made(pair)))
    assert unsigned.status_code == 401
    assert _rejections(pair) == [
        ("unknown-sender", "DE-BSI", "http"),
        ("forged", "DE-BSI", "http"),
        ("unsigned", None, "http"),
    ]
    assert [e["body"]["n"] for e in pair.handled] == [5]


def test_a_handler_error_rolls_back_and_the_message_stays_pending(pair: Pair) -> None:
    signed = _queue(pair, {"n": 1, "fail": True})
    report = deliver_due(pair.sender, client=pair.inbox)
    assert (report.delivered, report.failed, report.pending) == (0, 1, 1)
    assert _row(pair.receiver, signed["envelope"]["id"], "in") is None
    assert _audit(pair.receiver, "test.handled") == []  # the handler's work was rolled back
    assert _rejections(pair) == [("refused", SENDER, "http")]
    row = _row(pair.sender, signed["envelope"]["id"], "out")
    assert row is not None and row.status == "pending" and row.attempts == 1
    assert row.last_error is not None and "422" in row.last_error and "refused" in row.last_error
    assert row.next_attempt_at == pair.sender.clock.now() + timedelta(hours=1)
    failed = _audit(pair.sender, "cooperation.message.failed")
    assert failed[0]["detail"]["refused"] is True


def test_export_and_import_for_a_state_that_is_not_connected(pair: Pair) -> None:
    first, second = _queue(pair, {"n": 1}), _queue(pair, {"n": 2})
    other = _queue(pair, {"n": 3}, thread="thread-2")
    with pair.sender.database.reader() as session:
        data = export_messages(session, thread="thread-1", peer=RECEIVER)
    with pair.sender.database.transaction() as session:
        marked = mark_exported(session, clock=pair.sender.clock, actor="user:alice", data=data)
    assert marked == [first["envelope"]["id"], second["envelope"]["id"]]
    assert orjson.loads(data)["messages"] == [first, second]

    posted: list[str] = []

    def unavailable(request: httpx.Request) -> httpx.Response:
        posted.append(orjson.loads(request.content)["envelope"]["id"])
        return httpx.Response(503)

    report = deliver_due(
        pair.sender, client=httpx.Client(transport=httpx.MockTransport(unavailable))
    )
    assert posted == [other["envelope"]["id"]]  # the exported ones are not posted
    assert "HTTP 503" in report.errors[0]["error"]

    receipts = import_messages(pair.receiver, data=data, source="stick/thread-1.json")
    assert [r["receipt"]["status"] for r in receipts] == ["accepted", "accepted"]
    again = import_messages(pair.receiver, data=data, source="stick/thread-1.json")
    assert [r["receipt"]["status"] for r in again] == ["duplicate", "duplicate"]
    assert [e["body"]["n"] for e in pair.handled] == [1, 2]

    applied = import_messages(pair.sender, data=receipts_file(receipts), source="reply.json")
    assert [r["receipt"]["message_id"] for r in applied] == marked
    for message_id in marked:
        row = _row(pair.sender, message_id, "out")
        assert row is not None and row.status == "delivered"
    with pair.sender.database.reader() as session:
        assert outbox_status(session)["exported"] == 0
        documents = [message_document(m) for m in list_messages(session, thread="thread-1")]
    assert {d["status"] for d in documents} == {"delivered"}


def test_a_forged_message_in_a_file_is_refused_by_index(pair: Pair) -> None:
    good, bad = _hand_made(pair, body={"n": 1}), _hand_made(pair, body={"n": 2})
    bad["envelope"]["body"]["n"] = 3
    data = orjson.dumps({"watchkeeper": "messages", "v": 1, "messages": [good, bad]})
    results = import_messages(pair.receiver, data=data, source="mail.json")
    assert results[0]["receipt"]["status"] == "accepted"
    error = results[1]["error"]
    assert (error["file"], error["index"], error["reason"]) == ("mail.json", 1, "forged")
    assert "mail.json: message 1" in error["detail"]
    rejected = _audit(pair.receiver, "cooperation.message.rejected")
    assert [(e["detail"]["via"], e["detail"]["file"]) for e in rejected] == [
        ("file", "mail.json#1")
    ]
    with pytest.raises(InvalidInput):
        import_messages(pair.receiver, data=b'{"watchkeeper": "other"}', source="x.json")


def test_a_message_needs_a_registered_peer(pair: Pair) -> None:
    with pytest.raises(NotFound), pair.sender.database.transaction() as session:
        queue_message(
            session,
            node=pair.sender,
            clock=pair.sender.clock,
            actor="user:alice",
            peer="DE-BSI",
            kind=KIND,
            thread="t",
            body={},
        )
    with pair.sender.database.reader() as session:
        assert list_messages(session) == []
        with pytest.raises(NotFound):
            export_messages(session, thread="t")
