"""Receiving signed messages from partner nodes, over HTTP or on a file.

A message is acted on only when it is for this node, from a registered peer, signed by that
peer's registered key, and new. Then, in one transaction, it is recorded, its handler
(:func:`~watchkeeper.cooperation.handlers.handle_message`) acts on it and the receipt this
node signs is stored: a message is received and acted on, or neither. The same message again
(same id, same bytes) is answered with its receipt marked ``duplicate`` and nothing is done
twice, which is what makes the sender's retries safe; a different message under an id already
received is a replay and refused.

Every refusal is audited as ``cooperation.message.rejected`` with its reason (``malformed``,
``too-large``, ``misaddressed``, ``unknown-sender``, ``forged``, ``replayed``, or the
handler's), the claimed sender, the message id and the way it came, in a transaction of its
own, so the record survives the refusal.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError as DuplicateKey
from sqlalchemy.orm import Session

from watchkeeper.bus import emit
from watchkeeper.cooperation import handlers
from watchkeeper.cooperation.envelopes import (
    envelope_digest,
    parse_signed,
    sign_receipt,
    verify_envelope,
)
from watchkeeper.cooperation.message_models import ACCEPTED, IN, CoopMessage
from watchkeeper.cooperation.transport import (
    FILE_FORMAT,
    RECEIPTS_FORMAT,
    accept_receipts,
    next_seq,
)
from watchkeeper.core import canonical_json
from watchkeeper.errors import (
    IntegrityError,
    InvalidInput,
    Unauthenticated,
    WatchkeeperError,
)
from watchkeeper.node import Node
from watchkeeper.security import NodeIdentity, Peer, load_signing_key, record, record_change

INBOX_ACTOR = "system:cooperation-inbox"
VIAS = ("http", "file")


def audit_refusal(
    node: Node,
    *,
    error: WatchkeeperError,
    via: str,
    sender: str | None,
    message_id: str | None,
    source: str | None = None,
) -> None:
    """Record a refused message (or signed request) in the ledger and as an event, in a
    transaction of its own."""
    detail: dict[str, Any] = {
        "reason": str(error.fields.get("reason", error.code)),
        "sender": sender,
        "message_id": message_id,
        "via": via,
        "error": error.message[:500],
    }
    if source is not None:
        detail["file"] = source
    subject = f"message:{message_id}" if message_id else None
    with node.database.transaction() as session:
        record(
            session,
            clock=node.clock,
            actor=INBOX_ACTOR,
            action="cooperation.message.rejected",
            subject=subject,
            outcome="denied",
            detail=detail,
        )
        emit(
            session,
            type="cooperation.message.rejected",
            actor=INBOX_ACTOR,
            subject=subject,
            payload=detail,
            clock=node.clock,
        )


def _refusal(error: WatchkeeperError, status: int) -> WatchkeeperError:
    # A forged or replayed message is the sender's fault, not a fault of this node's store:
    # answer it as a refusal (4xx), which the sender does not retry at once.
    error.status = status
    return error


def _sender(session: Session, identity: NodeIdentity, envelope: dict[str, Any]) -> Peer:
    """The registered peer that sent ``envelope`` to this node, or the refusal."""
    if envelope["to"] != identity.code:
        raise InvalidInput(
            f"message {envelope['id']} is addressed to {envelope['to']}, not to this node "
            f"({identity.code})",
            reason="misaddressed",
            field="to",
        )
    peer = session.get(Peer, envelope["from"])
    if peer is None:
        raise Unauthenticated(
            f"message {envelope['id']} comes from {envelope['from']}, which is not a "
            "registered peer",
            reason="unknown-sender",
        )
    return peer


def _duplicate(
    session: Session, node: Node, identity: NodeIdentity, row: CoopMessage, digest: str
) -> dict[str, Any]:
    """The receipt of a message received before (the same one), or the replay refusal."""
    if row.digest != digest or row.receipt is None:
        raise _refusal(
            IntegrityError(
                f"message id {row.id} from {row.peer} was received before with other content",
                reason="replayed",
                message_id=row.id,
            ),
            409,
        )
    first = row.receipt["receipt"]
    receipt = sign_receipt(
        load_signing_key(node.data_dir),
        message_id=row.id,
        receiver=identity.code,
        sender=row.peer,
        received_at=row.created_at,
        status="duplicate",
        result=first.get("result", {}),
    )
    record_change(
        session,
        clock=node.clock,
        actor=f"node:{row.peer}",
        action="cooperation.message.duplicate",
        subject=f"message:{row.id}",
        detail={"peer": row.peer, "kind": row.kind, "thread": row.thread},
    )
    return receipt


def _accept(
    node: Node,
    identity: NodeIdentity,
    signed: dict[str, Any],
    *,
    via: str,
    sender_hint: str | None,
) -> dict[str, Any]:
    envelope = signed["envelope"]
    digest = envelope_digest(signed)
    with node.database.transaction() as session:
        peer = _sender(session, identity, envelope)
        if sender_hint is not None and sender_hint != peer.code:
            raise _refusal(
                IntegrityError(
                    f"message {envelope['id']} claims to come from {peer.code} but was sent "
                    f"by {sender_hint}",
                    reason="forged",
                    message_id=envelope["id"],
                ),
                422,
            )
        try:
            verify_envelope(signed, public_key=peer.public_key, fingerprint=peer.fingerprint)
        except IntegrityError as exc:
            raise _refusal(exc, 422) from None
        existing = session.get(CoopMessage, (envelope["id"], IN))
        if existing is not None:
            return _duplicate(session, node, identity, existing, digest)
        now = node.clock.now()
        row = CoopMessage(
            id=envelope["id"],
            direction=IN,
            seq=next_seq(session),
            peer=peer.code,
            kind=envelope["kind"],
            thread=envelope["thread"],
            envelope=signed,
            digest=digest,
            status=ACCEPTED,
            attempts=1,
            next_attempt_at=None,
            last_error=None,
            refused=False,
            created_at=now,
            delivered_at=now,
            receipt=None,
        )
        session.add(row)
        session.flush()
        result = handlers.handle_message(session, node=node, envelope=envelope)
        receipt = sign_receipt(
            load_signing_key(node.data_dir),
            message_id=row.id,
            receiver=identity.code,
            sender=peer.code,
            received_at=now,
            status="accepted",
            result=result,
        )
        row.receipt = receipt
        record_change(
            session,
            clock=node.clock,
            actor=f"node:{peer.code}",
            action="cooperation.message.received",
            subject=f"message:{row.id}",
            detail={"peer": peer.code, "kind": row.kind, "thread": row.thread, "via": via},
        )
        return receipt


def receive_message(
    node: Node,
    *,
    raw: bytes,
    via: str,
    sender_hint: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Check, record and act on one signed message; the receipt this node signed.

    ``via``: ``http`` or ``file``; ``sender_hint``: the node that signed the HTTP request
    (the message must be its own); ``source``: the file it came on, for the audit. Refusals
    (each audited): ``InvalidInput`` reason ``malformed``/``too-large``/``misaddressed``,
    ``Unauthenticated`` reason ``unknown-sender``, ``IntegrityError`` reason
    ``forged``/``replayed``, or the handler's error (nothing of the message is kept then).
    """
    sender, message_id = sender_hint, None
    try:
        signed = parse_signed(raw, max_bytes=node.settings.cooperation_max_message_bytes)
        sender, message_id = signed["envelope"]["from"], signed["envelope"]["id"]
        identity = node.identity()
        try:
            return _accept(node, identity, signed, via=via, sender_hint=sender_hint)
        except DuplicateKey:
            # The same message arrived twice at once: the other copy is recorded now.
            return _accept(node, identity, signed, via=via, sender_hint=sender_hint)
    except WatchkeeperError as exc:
        audit_refusal(node, error=exc, via=via, sender=sender, message_id=message_id, source=source)
        raise


def _file_error(source: str, index: int, message_id: Any, exc: WatchkeeperError) -> dict[str, Any]:
    return {
        "error": {
            "file": source,
            "index": index,
            "message_id": message_id,
            "code": exc.code,
            "reason": str(exc.fields.get("reason", exc.code)),
            "detail": f"{source}: message {index}: {exc.message}",
        }
    }


def import_messages(
    node: Node, *, data: bytes, source: str, actor: str = INBOX_ACTOR
) -> list[dict[str, Any]]:
    """Receive the messages of an exported file (``source`` names it), each as if it came
    over HTTP; one entry per message: its signed receipt (``accepted`` or ``duplicate``), or
    ``{"error": {file, index, message_id, code, reason, detail}}`` for a refused one (audited;
    the others still land). A file of receipts (``"watchkeeper": "receipts"``) marks this
    node's messages delivered instead. ``InvalidInput`` for a file that is neither."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{source}: not JSON ({exc})", file=source, reason="malformed") from None
    kind = document.get("watchkeeper") if isinstance(document, dict) else None
    if kind == RECEIPTS_FORMAT and isinstance(document.get("receipts"), list):
        return accept_receipts(node, receipts=document["receipts"], source=source, actor=actor)
    if kind != FILE_FORMAT or not isinstance(document.get("messages"), list):
        raise InvalidInput(
            f"{source}: not a Watchkeeper messages or receipts file (expected "
            '"watchkeeper": "messages" with a "messages" list)',
            file=source,
            reason="malformed",
        )
    results: list[dict[str, Any]] = []
    for index, item in enumerate(document["messages"]):
        envelope = item.get("envelope") if isinstance(item, dict) else None
        message_id = envelope.get("id") if isinstance(envelope, dict) else None
        try:
            results.append(
                receive_message(
                    node, raw=canonical_json(item), via="file", source=f"{source}#{index}"
                )
            )
        except WatchkeeperError as exc:
            results.append(_file_error(source, index, message_id, exc))
    return results
