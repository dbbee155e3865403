"""The outbox of signed messages to partner nodes: queueing, the messages' state, and files.

A use case that changes a request and has something to tell the other state calls
:func:`queue_message` in its own transaction: the message is signed with the node key and
written as a ``pending`` outbound row, so the change and the message commit together or not at
all. Delivery over HTTP with retries is :mod:`~watchkeeper.cooperation.delivery`
(:func:`deliver_due`, re-exported here).

For a state that is not connected the same signed messages leave as a file
(:func:`export_messages`, then :func:`mark_exported`), and come back as a file of the
receiver's signed receipts (:func:`accept_receipts`). Each message and each receipt in a file
is signed on its own, so a file can be carried by any means and still be checked item by item.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.cooperation.delivery import (
    DELIVER_ACTOR,
    INBOX_PATH,
    DeliveryReport,
    RetryPolicy,
    deliver_due,
    mark_delivered,
)
from watchkeeper.cooperation.envelopes import (
    envelope_digest,
    new_envelope,
    sign_envelope,
    verify_receipt,
)
from watchkeeper.cooperation.message_models import DELIVERED, EXPORTED, OUT, PENDING, CoopMessage
from watchkeeper.core import Clock, canonical_json, utc
from watchkeeper.errors import InvalidInput, NotFound, WatchkeeperError
from watchkeeper.node import Node
from watchkeeper.security import get_peer, load_signing_key, record_change

__all__ = [
    "DELIVER_ACTOR",
    "FILE_FORMAT",
    "INBOX_PATH",
    "RECEIPTS_FORMAT",
    "DeliveryReport",
    "RetryPolicy",
    "accept_receipts",
    "deliver_due",
    "export_messages",
    "list_messages",
    "mark_exported",
    "message_document",
    "next_seq",
    "outbox_status",
    "queue_message",
    "receipts_file",
]

FILE_FORMAT = "messages"
RECEIPTS_FORMAT = "receipts"


def next_seq(session: Session) -> int:
    """The creation order of a new message row."""
    return int(session.scalar(select(func.max(CoopMessage.seq))) or 0) + 1


def queue_message(
    session: Session,
    *,
    node: Node,
    clock: Clock,
    actor: str,
    peer: str,
    kind: str,
    thread: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    """Sign a message to ``peer`` and put it in the outbox in the caller's transaction; the
    signed envelope. ``NotFound`` for a peer that is not registered."""
    receiver = get_peer(session, peer)
    identity = node.identity()
    envelope = new_envelope(
        kind=kind,
        sender=identity.code,
        receiver=receiver.code,
        thread=thread,
        body=body,
        created=clock.now(),
    )
    signed = sign_envelope(
        load_signing_key(node.data_dir), envelope, fingerprint=identity.fingerprint
    )
    size = len(canonical_json(signed))
    limit = node.settings.cooperation_max_message_bytes
    if size > limit:
        raise InvalidInput(
            f"message {kind} to {receiver.code} is {size} bytes, over the limit of {limit} "
            "(setting cooperation_max_message_bytes)",
            field="body",
            reason="too-large",
        )
    digest = envelope_digest(signed)
    session.add(
        CoopMessage(
            id=envelope["id"],
            direction=OUT,
            seq=next_seq(session),
            peer=receiver.code,
            kind=kind,
            thread=thread,
            envelope=signed,
            digest=digest,
            status=PENDING,
            attempts=0,
            next_attempt_at=clock.now(),
            last_error=None,
            refused=False,
            created_at=clock.now(),
            delivered_at=None,
            receipt=None,
        )
    )
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="cooperation.message.queued",
        subject=f"message:{envelope['id']}",
        detail={"peer": receiver.code, "kind": kind, "thread": thread, "digest": digest},
    )
    return signed


def message_document(row: CoopMessage) -> dict[str, Any]:
    """A message as JSON: its state, the signed envelope and the receipt."""

    def iso(value: datetime | None) -> str | None:
        return utc(value).isoformat() if value is not None else None

    return {
        "id": row.id,
        "direction": row.direction,
        "peer": row.peer,
        "kind": row.kind,
        "thread": row.thread,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at),
        "last_error": row.last_error,
        "refused": row.refused,
        "created_at": iso(row.created_at),
        "delivered_at": iso(row.delivered_at),
        "digest": row.digest,
        "envelope": row.envelope,
        "receipt": row.receipt,
    }


def list_messages(
    session: Session,
    *,
    thread: str | None = None,
    direction: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[CoopMessage]:
    """Messages, newest first, filtered by thread, direction (``out``/``in``) and status."""
    query = select(CoopMessage).order_by(CoopMessage.seq.desc()).limit(limit)
    if thread is not None:
        query = query.where(CoopMessage.thread == thread)
    if direction is not None:
        query = query.where(CoopMessage.direction == direction)
    if status is not None:
        query = query.where(CoopMessage.status == status)
    return list(session.scalars(query))


def outbox_status(session: Session, *, now: datetime | None = None) -> dict[str, Any]:
    """Outbound messages not delivered yet, per peer: how many pending and exported, the
    oldest (with its age when ``now`` is given) and how many have failed attempts."""
    rows = session.execute(
        select(
            CoopMessage.peer,
            CoopMessage.status,
            func.count(),
            func.min(CoopMessage.created_at),
            func.sum(CoopMessage.attempts),
        )
        .where(CoopMessage.direction == OUT, CoopMessage.status.in_((PENDING, EXPORTED)))
        .group_by(CoopMessage.peer, CoopMessage.status)
    ).all()
    peers: dict[str, dict[str, Any]] = {}
    oldest: datetime | None = None
    for peer, status, count, first, attempts in rows:
        entry = peers.setdefault(peer, {PENDING: 0, EXPORTED: 0, "attempts": 0})
        entry[status] = int(count)
        entry["attempts"] += int(attempts or 0)
        if status == PENDING and first is not None:
            first = utc(first)
            oldest = first if oldest is None or first < oldest else oldest
    failing = int(
        session.scalar(
            select(func.count())
            .select_from(CoopMessage)
            .where(
                CoopMessage.direction == OUT,
                CoopMessage.status == PENDING,
                CoopMessage.attempts > 0,
            )
        )
        or 0
    )
    return {
        "pending": sum(entry[PENDING] for entry in peers.values()),
        "exported": sum(entry[EXPORTED] for entry in peers.values()),
        "failing": failing,
        "oldest_pending_at": oldest.isoformat() if oldest else None,
        "oldest_pending_age_seconds": (
            (utc(now) - oldest).total_seconds() if oldest and now is not None else None
        ),
        "peers": peers,
    }


def export_messages(session: Session, *, thread: str, peer: str | None = None) -> bytes:
    """A file of the undelivered outbound messages of ``thread`` (to ``peer`` only, if
    given), each signed as it would travel: ``{"watchkeeper": "messages", "v": 1,
    "messages": [...]}``. Exported ones are included again (a lost file can be redone)."""
    query = (
        select(CoopMessage)
        .where(
            CoopMessage.direction == OUT,
            CoopMessage.thread == thread,
            CoopMessage.status.in_((PENDING, EXPORTED)),
        )
        .order_by(CoopMessage.seq)
    )
    if peer is not None:
        query = query.where(CoopMessage.peer == peer)
    rows = list(session.scalars(query))
    if not rows:
        raise NotFound(
            f"no undelivered message of thread {thread}"
            + (f" to {peer}" if peer else "")
            + " to export",
            thread=thread,
        )
    document = {
        "watchkeeper": FILE_FORMAT,
        "v": 1,
        "thread": thread,
        "messages": [row.envelope for row in rows],
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def mark_exported(session: Session, *, clock: Clock, actor: str, data: bytes) -> list[str]:
    """Mark the pending messages of an exported file (the bytes :func:`export_messages`
    gave, once written) as ``exported``: no more HTTP attempts; the receipts file of the
    receiver makes them delivered. The ids marked."""
    document = orjson.loads(data)
    ids = [str(item["envelope"]["id"]) for item in document.get("messages", [])]
    marked: list[str] = []
    for message_id in ids:
        row = session.get(CoopMessage, (message_id, OUT))
        if row is None or row.status != PENDING:
            continue
        row.status = EXPORTED
        row.next_attempt_at = None
        marked.append(message_id)
        record_change(
            session,
            clock=clock,
            actor=actor,
            action="cooperation.message.exported",
            subject=f"message:{message_id}",
            detail={"peer": row.peer, "kind": row.kind, "thread": row.thread},
        )
    return marked


def receipts_file(receipts: Sequence[dict[str, Any]]) -> bytes:
    """A file of signed receipts for the sender: ``{"watchkeeper": "receipts", "v": 1,
    "receipts": [...]}`` (entries without a receipt, such as refusals, are left out)."""
    kept = [item for item in receipts if isinstance(item.get("receipt"), dict)]
    document = {"watchkeeper": RECEIPTS_FORMAT, "v": 1, "receipts": kept}
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def accept_receipts(
    node: Node, *, receipts: Sequence[Any], source: str, actor: str
) -> list[dict[str, Any]]:
    """Verify receipts that came back on a file and mark their messages delivered. One
    entry per receipt: the verified receipt, or ``{"error": {file, index, reason, detail}}``."""
    sender = node.identity().code
    results: list[dict[str, Any]] = []
    for index, document in enumerate(receipts):
        receipt = document.get("receipt") if isinstance(document, dict) else None
        message_id = str(receipt.get("message_id")) if isinstance(receipt, dict) else ""
        try:
            with node.database.transaction() as session:
                row = session.get(CoopMessage, (message_id, OUT))
                if row is None:
                    raise NotFound(f"no outbound message {message_id!r}", reason="unknown-message")
                peer = get_peer(session, row.peer)
                checked = verify_receipt(
                    document,
                    public_key=peer.public_key,
                    message_id=row.id,
                    receiver=row.peer,
                    sender=sender,
                )
                if row.status != DELIVERED:
                    mark_delivered(session, row, checked, clock=node.clock, actor=actor)
                results.append(checked)
        except WatchkeeperError as exc:
            results.append(
                {
                    "error": {
                        "file": source,
                        "index": index,
                        "message_id": message_id or None,
                        "code": exc.code,
                        "reason": str(exc.fields.get("reason", exc.code)),
                        "detail": f"{source}: receipt {index}: {exc.message}",
                    }
                }
            )
    return results
