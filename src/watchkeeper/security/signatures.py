"""Signed requests between nodes: who sent a request, and that it is not a copy of an old one.

A partner's API token says which account calls; it does not stop a token that leaked (a log,
a proxy) from being used by someone else, nor a captured request from being sent again. So a
node also signs what it sends to a partner node with its Ed25519 key (the one the partner
registered with ``peer add``): the method, the target (path and query), a SHA-256 of the
body, the time and a random nonce. The receiver checks the signature against the registered
key, refuses a time outside a short window, and remembers each nonce for that window, so a
replayed request is refused even inside it.

The headers travel beside ordinary TAXII requests, which third-party TAXII clients send
without them; where a signature is required is the caller's policy (see the TAXII routes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, utc
from watchkeeper.errors import Unauthenticated
from watchkeeper.security.keys import decode_public_key
from watchkeeper.security.models import Peer, RequestNonce

HEADER_NODE = "X-Watchkeeper-Node"
HEADER_DATE = "X-Watchkeeper-Date"
HEADER_NONCE = "X-Watchkeeper-Nonce"
HEADER_SIGNATURE = "X-Watchkeeper-Signature"
HEADERS = (HEADER_NODE, HEADER_DATE, HEADER_NONCE, HEADER_SIGNATURE)
WINDOW = timedelta(minutes=5)
"""How far a request's time may be from the receiver's clock (either way)."""
_PURPOSE = "watchkeeper-request-v1"


def _message(*, node: str, method: str, target: str, body: bytes, date: str, nonce: str) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((_PURPOSE, node, method.upper(), target, digest, date, nonce)).encode()


def sign_request(
    key: Ed25519PrivateKey, *, node: str, method: str, target: str, body: bytes, clock: Clock
) -> dict[str, str]:
    """The headers that sign one request of node ``node`` (its code) to ``target``.

    ``target`` is the path with its query string, exactly as sent (``/taxii2/regional/...``).
    """
    date = utc(clock.now()).isoformat()
    nonce = secrets.token_hex(16)
    signature = key.sign(
        _message(node=node, method=method, target=target, body=body, date=date, nonce=nonce)
    )
    return {
        HEADER_NODE: node,
        HEADER_DATE: date,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: base64.b64encode(signature).decode(),
    }


def is_signed(headers: Mapping[str, str]) -> bool:
    """Whether a request carries any of the signature headers (then all must verify)."""
    return any(headers.get(name) for name in HEADERS)


def _refuse(message: str, reason: str, **fields: str) -> Unauthenticated:
    return Unauthenticated(f"signed request refused: {message}", reason=reason, **fields)


def verify_request(
    session: Session,
    *,
    clock: Clock,
    peer: Peer,
    method: str,
    target: str,
    body: bytes,
    headers: Mapping[str, str],
) -> None:
    """Check that ``peer`` signed this very request, recently, and never sent it before.

    ``Unauthenticated`` with reason ``unsigned``, ``forged`` (wrong node, key or content),
    ``stale`` (time outside the window) or ``replayed`` (nonce already seen). The nonce is
    remembered in the caller's transaction, so commit it with the request's work.
    """
    nonce = check_signature(
        clock=clock, peer=peer, method=method, target=target, body=body, headers=headers
    )
    remember_nonce(session, clock=clock, peer=peer.code, nonce=nonce)


def check_signature(
    *,
    clock: Clock,
    peer: Peer,
    method: str,
    target: str,
    body: bytes,
    headers: Mapping[str, str],
) -> str:
    """The first half of :func:`verify_request`, without the database: that ``peer``
    signed this request within the window (``Unauthenticated`` otherwise); its nonce.

    A server checks this before parsing a body (a forged request is refused as such, not
    for its content) and remembers the nonce with the request's work.
    """
    node, date, nonce, signature = (headers.get(name) or "" for name in HEADERS)
    if not (node and date and nonce and signature):
        raise _refuse("missing signature headers", "unsigned", peer=peer.code)
    if node != peer.code:
        raise _refuse(f"signed by {node}, sent with {peer.code}'s token", "forged", peer=peer.code)
    try:
        moment = datetime.fromisoformat(date)
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise _refuse("unreadable date or signature", "forged", peer=peer.code) from None
    public = Ed25519PublicKey.from_public_bytes(
        decode_public_key(peer.public_key, kind="ed25519", field="public_key")
    )
    message = _message(node=node, method=method, target=target, body=body, date=date, nonce=nonce)
    try:
        public.verify(raw, message)
    except InvalidSignature:
        raise _refuse("the signature does not match", "forged", peer=peer.code) from None
    now = utc(clock.now())
    if moment.tzinfo is None or abs(now - moment) > WINDOW:
        raise _refuse(f"time {date} is outside the {WINDOW} window", "stale", peer=peer.code)
    if len(nonce) > 64:
        raise _refuse("nonce too long", "forged", peer=peer.code)
    return nonce


def remember_nonce(session: Session, *, clock: Clock, peer: str, nonce: str) -> None:
    """Record a checked request's nonce in the session's transaction (``Unauthenticated``,
    reason ``replayed``, if ``peer`` sent it before), forgetting nonces past the window."""
    now = utc(clock.now())
    session.execute(delete(RequestNonce).where(RequestNonce.seen_at < now - 2 * WINDOW))
    try:
        with session.begin_nested():  # the key (peer, nonce) refuses a second copy
            session.add(RequestNonce(peer=peer, nonce=nonce, seen_at=now))
    except IntegrityError:
        raise _refuse("this request was already received", "replayed", peer=peer) from None
