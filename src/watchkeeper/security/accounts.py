"""Users, their roles and passwords."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, new_id
from watchkeeper.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from watchkeeper.security.actions import record_change
from watchkeeper.security.models import User, UserRole
from watchkeeper.security.roles import check_roles

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._:@-]{0,99}$")
MIN_PASSWORD = 12
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user is unknown, so a login takes as long either way."""
    return _hasher.hash("watchkeeper-timing-equaliser")


def get_user(session: Session, name: str) -> User:
    """The user called ``name``, or ``NotFound``."""
    user = session.scalars(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound(f"no user named {name!r}", user=name)
    return user


def list_users(session: Session) -> list[User]:
    """All users by name."""
    return list(session.scalars(select(User).order_by(User.name)))


def add_user(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    name: str,
    roles: Sequence[str],
    display_name: str = "",
    password: str | None = None,
) -> User:
    """Create a user with ``roles`` (validated) and optionally a password."""
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"invalid user name {name!r}: use lower-case letters, digits and . _ : @ -",
            field="name",
        )
    valid = check_roles(roles)
    if session.scalars(select(User.id).where(User.name == name)).first() is not None:
        raise Conflict(f"user {name!r} already exists", user=name)
    user = User(
        id=new_id(),
        name=name,
        display_name=display_name,
        created_at=clock.now(),
        roles=[UserRole(role=role) for role in valid],
    )
    if password is not None:
        user.password_hash = _hash_password(password)
    session.add(user)
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="user.add",
        subject=f"user:{name}",
        detail={"roles": valid},
    )
    return user


def set_password(session: Session, *, clock: Clock, actor: str, name: str, password: str) -> None:
    """Set or replace the UI password of ``name``."""
    user = get_user(session, name)
    user.password_hash = _hash_password(password)
    record_change(session, clock=clock, actor=actor, action="user.password", subject=f"user:{name}")


def set_roles(
    session: Session, *, clock: Clock, actor: str, name: str, roles: Sequence[str]
) -> User:
    """Replace the roles of ``name``."""
    valid = check_roles(roles)
    user = get_user(session, name)
    user.roles = [UserRole(role=role) for role in valid]
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="user.roles",
        subject=f"user:{name}",
        detail={"roles": valid},
    )
    return user


def check_password(session: Session, *, name: str, password: str) -> User:
    """The user if ``password`` is theirs; ``Unauthenticated`` otherwise, without saying why."""
    user = session.scalars(select(User).where(User.name == name)).first()
    stored = user.password_hash if user and user.password_hash else _dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        raise Unauthenticated("wrong user name or password") from None
    if user is None or user.password_hash is None or user.disabled:
        raise Unauthenticated("wrong user name or password")
    return user


def user_document(user: User) -> dict[str, Any]:
    """A user as JSON (never the password hash)."""
    return {
        "name": user.name,
        "display_name": user.display_name,
        "roles": user.role_names,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
    }


def _hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"password too short: at least {MIN_PASSWORD} characters", field="password"
        )
    return _hasher.hash(password)
