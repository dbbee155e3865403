"""The peer registry: partner nodes this node exchanges with, and their service accounts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.security.accounts import add_user
from watchkeeper.security.actions import record_change
from watchkeeper.security.keys import (
    check_code,
    check_country,
    decode_public_key,
    fingerprint,
)
from watchkeeper.security.models import Peer, User


def peer_user_name(code: str) -> str:
    """The service account a partner node authenticates as."""
    return f"peer:{code.lower()}"


def add_peer(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    code: str,
    url: str,
    country: str,
    public_key: str,
    encryption_key: str | None = None,
    name: str = "",
    expected_fingerprint: str | None = None,
) -> Peer:
    """Register a partner node after validating its code, URL and keys."""
    check_code(code)
    check_country(country)
    if not url.startswith(("https://", "http://")):
        raise InvalidInput(f"invalid URL {url!r}: expected http(s)://...", field="url")
    decode_public_key(public_key, kind="ed25519", field="public_key")
    if encryption_key is not None:
        decode_public_key(encryption_key, kind="x25519", field="encryption_key")
    digest = fingerprint(public_key)
    if expected_fingerprint is not None and expected_fingerprint != digest:
        raise InvalidInput(
            f"fingerprint {expected_fingerprint} does not match the public key ({digest})",
            field="fingerprint",
        )
    if session.get(Peer, code) is not None:
        raise Conflict(f"peer {code} is already registered", peer=code)
    peer = Peer(
        code=code,
        name=name,
        url=url.rstrip("/"),
        country=country,
        public_key=public_key,
        encryption_key=encryption_key,
        fingerprint=digest,
        created_at=clock.now(),
    )
    session.add(peer)
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="peer.add",
        subject=f"peer:{code}",
        detail={"url": peer.url, "country": country, "fingerprint": digest},
    )
    return peer


def set_peer_url(session: Session, *, clock: Clock, actor: str, code: str, url: str) -> Peer:
    """Point a registered peer at a new address (its keys stay; audited with both URLs)."""
    if not url.startswith(("https://", "http://")):
        raise InvalidInput(f"invalid URL {url!r}: expected http(s)://...", field="url")
    peer = get_peer(session, code)
    before, peer.url = peer.url, url.rstrip("/")
    if before != peer.url:
        record_change(
            session,
            clock=clock,
            actor=actor,
            action="peer.url",
            subject=f"peer:{code}",
            detail={"before": before, "after": peer.url},
        )
    return peer


def peer_from_document(document: dict[str, Any], *, source: str) -> dict[str, Any]:
    """Arguments for :func:`add_peer` from another node's ``node show --json``."""
    missing = [key for key in ("code", "country", "signing_public_key") if key not in document]
    if missing:
        raise InvalidInput(
            f"{source}: missing {', '.join(missing)} (expected the output of "
            "'watchkeeper node show --json')",
            file=source,
            missing=missing,
        )
    if "url" not in document:
        raise InvalidInput(f"{source}: no url; give --url", file=source, field="url")
    return {
        "code": document["code"],
        "name": document.get("name", ""),
        "country": document["country"],
        "url": document["url"],
        "public_key": document["signing_public_key"],
        "encryption_key": document.get("encryption_public_key"),
        "expected_fingerprint": document.get("fingerprint"),
    }


def get_peer(session: Session, code: str) -> Peer:
    """The peer with ``code``, or ``NotFound``."""
    peer = session.get(Peer, code)
    if peer is None:
        raise NotFound(f"no peer {code!r}; see: watchkeeper peer list", peer=code)
    return peer


def list_peers(session: Session) -> list[Peer]:
    """All peers by code."""
    return list(session.scalars(select(Peer).order_by(Peer.code)))


def remove_peer(session: Session, *, clock: Clock, actor: str, code: str) -> None:
    """Forget a peer and disable its service account (tokens stop working at once)."""
    peer = get_peer(session, code)
    if peer.user_id:
        user = session.get(User, peer.user_id)
        if user is not None:
            user.disabled = True
    session.delete(peer)
    record_change(session, clock=clock, actor=actor, action="peer.remove", subject=f"peer:{code}")


def peer_account(session: Session, *, clock: Clock, actor: str, code: str) -> User:
    """The peer's service account (role partner-node), created on first use."""
    peer = get_peer(session, code)
    if peer.user_id:
        user = session.get(User, peer.user_id)
        if user is not None:
            return user
    existing = session.scalars(select(User).where(User.name == peer_user_name(code))).first()
    if existing is not None:  # the peer was removed and registered again
        existing.disabled = False
        peer.user_id = existing.id
        return existing
    user = add_user(
        session,
        clock=clock,
        actor=actor,
        name=peer_user_name(code),
        roles=["partner-node"],
        display_name=f"Partner node {code}",
    )
    peer.user_id = user.id
    return user


def peer_document(peer: Peer) -> dict[str, Any]:
    """A peer as JSON."""
    return {
        "code": peer.code,
        "name": peer.name,
        "url": peer.url,
        "country": peer.country,
        "public_key": peer.public_key,
        "encryption_key": peer.encryption_key,
        "fingerprint": peer.fingerprint,
        "created_at": peer.created_at.isoformat(),
    }
