"""Users and API tokens (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from watchkeeper.security import (
    add_user,
    create_token,
    list_tokens,
    list_users,
    parse_duration,
    revoke_token,
    token_document,
    user_document,
)
from watchkeeper.web.deps import Admin, NodeDep

router = APIRouter(tags=["accounts"])


class UserOut(BaseModel):
    """A user as listed."""

    name: str
    display_name: str
    roles: list[str]
    disabled: bool
    created_at: datetime


class UserIn(BaseModel):
    """A new user."""

    name: str = Field(description="Login name: lower-case letters, digits and . _ : @ -")
    roles: list[str] = Field(min_length=1)
    display_name: str = ""
    password: str | None = Field(None, description="UI password, at least 12 characters.")


class TokenIn(BaseModel):
    """A token to issue."""

    user: str
    expires: str = Field("90d", description="Lifetime such as 12h, 30d, 1y.")
    label: str = ""


class TokenOut(BaseModel):
    """A token as listed (never its secret)."""

    id: str
    user: str
    label: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    state: Literal["active", "expired", "revoked"]


class IssuedTokenOut(TokenOut):
    """A new token: ``secret`` is shown this once."""

    secret: str


@router.get("/users")
def users(node: NodeDep, principal: Admin) -> list[UserOut]:
    """All users."""
    with node.database.reader() as session:
        return [UserOut.model_validate(user_document(u)) for u in list_users(session)]


@router.post("/users", status_code=201)
def create_user(body: UserIn, node: NodeDep, principal: Admin) -> UserOut:
    """Create a user."""
    with node.database.transaction() as session:
        user = add_user(
            session,
            clock=node.clock,
            actor=principal.actor,
            name=body.name,
            roles=body.roles,
            display_name=body.display_name,
            password=body.password,
        )
        return UserOut.model_validate(user_document(user))


@router.get("/tokens")
def tokens(node: NodeDep, principal: Admin, user: str | None = None) -> list[TokenOut]:
    """Tokens, newest first (optionally of one user)."""
    now = node.clock.now()
    with node.database.reader() as session:
        return [
            TokenOut.model_validate(token_document(t, user_name=name, now=now))
            for t, name in list_tokens(session, user_name=user)
        ]


@router.post("/tokens", status_code=201)
def issue_token(body: TokenIn, node: NodeDep, principal: Admin) -> IssuedTokenOut:
    """Issue a token; its secret is in this response only."""
    expires_in = parse_duration(body.expires)
    with node.database.transaction() as session:
        issued = create_token(
            session,
            clock=node.clock,
            actor=principal.actor,
            user_name=body.user,
            expires_in=expires_in,
            label=body.label,
        )
        document = token_document(issued.token, user_name=body.user, now=node.clock.now())
    return IssuedTokenOut.model_validate({**document, "secret": issued.secret})


@router.delete("/tokens/{token_id}", status_code=204)
def revoke(token_id: str, node: NodeDep, principal: Admin) -> None:
    """Revoke a token; it stops working at once."""
    with node.database.transaction() as session:
        revoke_token(session, clock=node.clock, actor=principal.actor, token_id=token_id)
