"""Signed message envelopes and receipts: the form every message between nodes takes.

An envelope says who sends what to whom, once: ``{"v": 1, "id", "kind", "from", "to",
"created", "thread", "body"}``. Its signed form ``{"envelope", "signature", "key"}`` is what
travels over HTTP and what an exported file holds; the signature is Ed25519 by the sender's
node key over a purpose line and the canonical JSON of the envelope, so a message cannot be
passed off as a receipt or an HTTP request (each has its own purpose), and the key field (the
sender's fingerprint) says which key signed it. A receipt is the receiver's signed word that it
received a message: its id, the two nodes, the time, ``accepted`` or ``duplicate`` and what the
handler answered.

Only the format and the cryptography live here; what a node does with them is
:mod:`~watchkeeper.cooperation.transport` (sending) and
:mod:`~watchkeeper.cooperation.inbox_messages` (receiving).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from watchkeeper.core import canonical_json, sha256_hex, utc
from watchkeeper.errors import IntegrityError, InvalidInput

VERSION = 1
MESSAGE_PURPOSE = b"watchkeeper-message-v1\n"
RECEIPT_PURPOSE = b"watchkeeper-receipt-v1\n"
RECEIPT_STATUSES = ("accepted", "duplicate")
_FIELDS = {"v", "id", "kind", "from", "to", "created", "thread", "body"}
_TEXT_LIMITS = {"kind": 80, "from": 40, "to": 40, "thread": 80}


def new_envelope(
    *,
    kind: str,
    sender: str,
    receiver: str,
    thread: str,
    body: dict[str, Any],
    created: datetime,
    message_id: str | None = None,
) -> dict[str, Any]:
    """An unsigned envelope, as plain JSON values (what is signed is what is stored)."""
    envelope = {
        "v": VERSION,
        "id": message_id or str(uuid.uuid4()),
        "kind": kind,
        "from": sender,
        "to": receiver,
        "created": utc(created).isoformat(),
        "thread": thread,
        "body": body,
    }
    try:
        plain: dict[str, Any] = orjson.loads(canonical_json(envelope))
    except TypeError as exc:
        raise InvalidInput(f"message body is not JSON: {exc}", field="body") from None
    check_envelope(plain)
    return plain


def _signature(key: Ed25519PrivateKey, purpose: bytes, value: dict[str, Any]) -> str:
    return base64.b64encode(key.sign(purpose + canonical_json(value))).decode()


def _verify(public_key: str, signature: Any, purpose: bytes, value: dict[str, Any]) -> bool:
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        raw = base64.b64decode(str(signature), validate=True)
        public.verify(raw, purpose + canonical_json(value))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def sign_envelope(
    key: Ed25519PrivateKey, envelope: dict[str, Any], *, fingerprint: str
) -> dict[str, Any]:
    """The signed form of ``envelope`` (``fingerprint``: the sender's key fingerprint)."""
    return {
        "envelope": envelope,
        "signature": _signature(key, MESSAGE_PURPOSE, envelope),
        "key": fingerprint,
    }


def _malformed(message: str, **fields: Any) -> InvalidInput:
    return InvalidInput(f"malformed message: {message}", reason="malformed", **fields)


def check_envelope(envelope: Any) -> dict[str, Any]:
    """``envelope`` if it has the fields and types of version 1 (``InvalidInput``, reason
    ``malformed``, naming the field, otherwise)."""
    if not isinstance(envelope, dict):
        raise _malformed("the envelope is not a JSON object", field="envelope")
    missing = sorted(_FIELDS - set(envelope))
    if missing:
        raise _malformed(f"missing {', '.join(missing)}", field=missing[0])
    if envelope["v"] != VERSION:
        raise _malformed(f"unknown version {envelope['v']!r}; expected {VERSION}", field="v")
    try:
        uuid.UUID(str(envelope["id"]))
    except ValueError:
        raise _malformed(f"id {envelope['id']!r} is not a UUID", field="id") from None
    for name, limit in _TEXT_LIMITS.items():
        value = envelope[name]
        if not isinstance(value, str) or not value or len(value) > limit:
            raise _malformed(f"{name}: expected text of 1 to {limit} characters", field=name)
    try:
        created = datetime.fromisoformat(str(envelope["created"]))
    except ValueError:
        created = None
    if created is None or created.tzinfo is None:
        raise _malformed("created: expected an ISO time with its offset", field="created")
    if not isinstance(envelope["body"], dict):
        raise _malformed("body: expected a JSON object", field="body")
    return envelope


def parse_signed(raw: bytes, *, max_bytes: int) -> dict[str, Any]:
    """A signed envelope read from ``raw`` and checked for form (not yet for its signature):
    ``InvalidInput`` with reason ``malformed`` (or ``too-large``) otherwise."""
    if len(raw) > max_bytes:
        raise InvalidInput(
            f"message of {len(raw)} bytes is over the limit of {max_bytes} "
            "(setting cooperation_max_message_bytes)",
            reason="too-large",
            size=len(raw),
        )
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _malformed(f"not JSON ({exc})") from None
    return signed_form(document)


def signed_form(document: Any) -> dict[str, Any]:
    """The ``{"envelope", "signature", "key"}`` of ``document`` (nothing else kept), checked
    for form."""
    if not isinstance(document, dict):
        raise _malformed("expected a JSON object")
    if not isinstance(document.get("signature"), str) or not isinstance(document.get("key"), str):
        raise _malformed("expected signature and key fields", field="signature")
    return {
        "envelope": check_envelope(document.get("envelope")),
        "signature": document["signature"],
        "key": document["key"],
    }


def verify_envelope(signed: dict[str, Any], *, public_key: str, fingerprint: str) -> None:
    """Check that the key of ``public_key`` (a peer's, with ``fingerprint``) signed this
    message: ``IntegrityError`` with reason ``forged`` otherwise."""
    envelope = signed["envelope"]
    message_id, sender = envelope.get("id"), envelope.get("from")
    if signed.get("key") != fingerprint:
        raise IntegrityError(
            f"message {message_id} names key {signed.get('key')!r}, not the registered key "
            f"of {sender} ({fingerprint})",
            reason="forged",
            message_id=message_id,
            sender=sender,
        )
    if not _verify(public_key, signed.get("signature"), MESSAGE_PURPOSE, envelope):
        raise IntegrityError(
            f"message {message_id}: the signature does not match {sender}'s key",
            reason="forged",
            message_id=message_id,
            sender=sender,
        )


def envelope_digest(signed: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical signed form: the same message gives the same digest."""
    return sha256_hex(canonical_json(signed))


def sign_receipt(
    key: Ed25519PrivateKey,
    *,
    message_id: str,
    receiver: str,
    sender: str,
    received_at: datetime,
    status: str,
    result: dict[str, Any],
) -> dict[str, Any]:
    """The receiver's signed receipt of message ``message_id`` from ``sender``."""
    receipt: dict[str, Any] = orjson.loads(
        canonical_json(
            {
                "message_id": message_id,
                "from": receiver,
                "to": sender,
                "received_at": utc(received_at).isoformat(),
                "status": status,
                "result": result,
            }
        )
    )
    return {"receipt": receipt, "signature": _signature(key, RECEIPT_PURPOSE, receipt)}


def verify_receipt(
    document: Any, *, public_key: str, message_id: str, receiver: str, sender: str
) -> dict[str, Any]:
    """The receipt in ``document`` if ``receiver`` signed it for ``message_id`` sent by
    ``sender``; ``IntegrityError`` with reason ``bad-receipt`` otherwise."""

    def refuse(why: str) -> IntegrityError:
        return IntegrityError(
            f"receipt of message {message_id} from {receiver} refused: {why}",
            reason="bad-receipt",
            message_id=message_id,
            peer=receiver,
        )

    if not isinstance(document, dict) or not isinstance(document.get("receipt"), dict):
        raise refuse("not a signed receipt")
    receipt: dict[str, Any] = document["receipt"]
    expected = {"message_id": message_id, "from": receiver, "to": sender}
    wrong = sorted(name for name, value in expected.items() if receipt.get(name) != value)
    if wrong:
        raise refuse(f"{', '.join(wrong)} do not match the message")
    if receipt.get("status") not in RECEIPT_STATUSES:
        raise refuse(f"unknown status {receipt.get('status')!r}")
    if not _verify(public_key, document.get("signature"), RECEIPT_PURPOSE, receipt):
        raise refuse(f"the signature does not match {receiver}'s key")
    return {"receipt": receipt, "signature": document["signature"]}
