"""API tokens: random bearer secrets, stored as SHA-256, shown once, with expiry and revocation.

A token reads ``wk_<id>_<secret>``: the id is public (listed, revoked, audited), the secret has
256 bits of randomness, so a plain SHA-256 is enough to store it (no slow hash needed).

The same token is also accepted as the password of HTTP Basic credentials, which TAXII 2.1
requires servers to support: the user name is then the account's name or, for a partner
node, its peer code, and must match the token's account.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from watchkeeper.security.accounts import get_user
from watchkeeper.security.actions import record_change
from watchkeeper.security.models import ApiToken, User, UserRole
from watchkeeper.security.peers import peer_user_name
from watchkeeper.security.roles import Principal

TOKEN_PATTERN = re.compile(r"^wk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")
DURATION_PATTERN = re.compile(r"^(\d+)([hdwy])$")
_UNITS = {"h": 1 / 24, "d": 1, "w": 7, "y": 365}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``1y`` as a timedelta; anything else is ``InvalidInput``."""
    match = DURATION_PATTERN.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(
            f"invalid duration {text!r}: expected a number and h, d, w or y, e.g. 30d",
            field="expires",
        )
    return timedelta(days=int(match.group(1)) * _UNITS[match.group(2)])


def hash_token(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``secret`` exists only here and is never stored."""

    token: ApiToken
    secret: str


def create_token(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    user_name: str,
    expires_in: timedelta,
    label: str = "",
) -> IssuedToken:
    """Issue a token for ``user_name`` valid for ``expires_in``."""
    user = get_user(session, user_name)
    token_id = secrets.token_hex(6)
    secret = f"wk_{token_id}_{secrets.token_urlsafe(32)}"
    now = clock.now()
    token = ApiToken(
        id=token_id,
        user_id=user.id,
        token_hash=hash_token(secret),
        label=label,
        created_at=now,
        expires_at=now + expires_in,
    )
    session.add(token)
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="token.create",
        subject=f"token:{token_id}",
        detail={"user": user.name, "expires_at": token.expires_at.isoformat(), "label": label},
    )
    return IssuedToken(token=token, secret=secret)


def revoke_token(session: Session, *, clock: Clock, actor: str, token_id: str) -> ApiToken:
    """Revoke a token by id; revoking twice is refused so the ledger stays truthful."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no token with id {token_id!r}", token=token_id)
    if token.revoked_at is not None:
        raise Conflict(f"token {token_id} is already revoked", token=token_id)
    token.revoked_at = clock.now()
    record_change(
        session, clock=clock, actor=actor, action="token.revoke", subject=f"token:{token_id}"
    )
    return token


def token_document(token: ApiToken, *, user_name: str, now: datetime) -> dict[str, Any]:
    """A token as JSON, with its state at ``now`` (never its secret or hash)."""
    if token.revoked_at is not None:
        state = "revoked"
    elif token.expires_at <= now:
        state = "expired"
    else:
        state = "active"
    return {
        "id": token.id,
        "user": user_name,
        "label": token.label,
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
        "state": state,
    }


def list_tokens(session: Session, *, user_name: str | None = None) -> list[tuple[ApiToken, str]]:
    """Tokens with their user's name, newest first."""
    query = select(ApiToken, User.name).join(User).order_by(ApiToken.created_at.desc())
    if user_name:
        query = query.where(User.name == user_name)
    return [(token, name) for token, name in session.execute(query)]


# Built once: on every API request, one round trip of plain columns (roles by outer join), no
# ORM objects, no statement construction (benchmarks/api.py).
_TOKEN_LOOKUP = (
    select(
        ApiToken.id,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        User.id,
        User.name,
        User.disabled,
        UserRole.role,
    )
    .join(User, ApiToken.user_id == User.id)
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def basic_credentials(encoded: str) -> tuple[str, str]:
    """(user name, password) of the base64 part of an HTTP Basic ``Authorization`` header.

    ``Unauthenticated`` (reason ``malformed``) when it is not base64 of ``user:password``.
    """
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("malformed basic credentials", reason="malformed") from None
    user, colon, password = decoded.partition(":")
    if not colon or not user or not password:
        raise Unauthenticated(
            "malformed basic credentials: expected user:token", reason="malformed"
        )
    return user, password


def authenticate(
    session: Session | Connection, *, secret: str, clock: Clock, user: str | None = None
) -> Principal:
    """The principal a bearer secret stands for, or ``Unauthenticated`` with the reason.

    ``user`` is the user name of HTTP Basic credentials whose password is ``secret``: the
    token must then belong to that account, or be the service account of the peer whose code
    it is (``QA-NCSA`` for ``peer:qa-ncsa``). Takes a session or, on the hot path of the API,
    a bare connection (cheaper by half).
    """
    match = TOKEN_PATTERN.match(secret)
    if not match:
        raise Unauthenticated("malformed token", reason="malformed")
    rows = session.execute(_TOKEN_LOOKUP, {"token_hash": hash_token(secret)}).all()
    if not rows:
        raise Unauthenticated("unknown token", reason="unknown", token=match.group(1))
    token_id, revoked_at, expires_at, user_id, name, disabled, _ = rows[0]
    if user is not None and name not in (user, peer_user_name(user)):
        raise Unauthenticated(
            "the user name does not match the token", reason="user_mismatch", token=token_id
        )
    if revoked_at is not None:
        raise Unauthenticated("token revoked", reason="revoked", token=token_id)
    if expires_at <= clock.now():
        raise Unauthenticated("token expired", reason="expired", token=token_id)
    if disabled:
        raise Unauthenticated("account disabled", reason="disabled", token=token_id)
    return Principal(
        name=name,
        roles=frozenset(row[6] for row in rows if row[6] is not None),
        user_id=user_id,
        token_id=token_id,
    )
