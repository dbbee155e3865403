"""UI login sessions: a random cookie secret (stored hashed) and a per-session CSRF token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.errors import Unauthenticated
from watchkeeper.security.models import UiSession, User
from watchkeeper.security.roles import Principal
from watchkeeper.security.tokens import hash_token


@dataclass(frozen=True)
class UiLogin:
    """A browser session: ``cookie`` goes to the browser, ``csrf`` into every form."""

    cookie: str
    csrf: str
    principal: Principal


def open_session(session: Session, *, clock: Clock, user: User, hours: int) -> UiLogin:
    """Start a login session for ``user``."""
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        UiSession(
            id_hash=hash_token(cookie),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    return UiLogin(cookie=cookie, csrf=csrf, principal=_principal(user))


def resolve_session(session: Session, *, clock: Clock, cookie: str) -> UiLogin:
    """The login a cookie belongs to, or ``Unauthenticated`` if unknown or expired."""
    row = session.execute(
        select(UiSession, User).join(User).where(UiSession.id_hash == hash_token(cookie))
    ).first()
    if row is None:
        raise Unauthenticated("not logged in")
    ui_session, user = row
    if ui_session.expires_at <= clock.now() or user.disabled:
        raise Unauthenticated("session expired")
    return UiLogin(cookie=cookie, csrf=ui_session.csrf_token, principal=_principal(user))


def close_session(session: Session, *, cookie: str) -> None:
    """Log out: forget the session."""
    session.execute(delete(UiSession).where(UiSession.id_hash == hash_token(cookie)))


def _principal(user: User) -> Principal:
    return Principal(
        name=user.name, roles=frozenset(user.role_names), user_id=user.id, via="session"
    )
