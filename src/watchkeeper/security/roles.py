"""Roles of a national agency's staff and partners, and who holds what.

A principal is whoever acts: a user through a token or a UI session, a partner node through
its token, or the local operator at the CLI (who holds the data dir, hence admin).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from watchkeeper.errors import Forbidden, InvalidInput

ROLES: tuple[str, ...] = (
    "admin",
    "analyst",
    "responder",
    "evidence-officer",
    "poc-officer",
    "central-authority",
    "legal-reviewer",
    "auditor",
    "partner-node",
)

STAFF_ROLES: tuple[str, ...] = tuple(role for role in ROLES if role != "partner-node")


def check_roles(names: Iterable[str]) -> list[str]:
    """Return the roles sorted and de-duplicated, or fail naming the unknown ones and the valid."""
    wanted = sorted(set(names))
    unknown = [name for name in wanted if name not in ROLES]
    if unknown:
        raise InvalidInput(
            f"unknown role {', '.join(unknown)}; valid roles: {', '.join(ROLES)}",
            field="role",
            unknown=unknown,
            valid=list(ROLES),
        )
    if not wanted:
        raise InvalidInput(f"at least one role is needed; valid roles: {', '.join(ROLES)}")
    return wanted


@dataclass(frozen=True)
class Principal:
    """Who is acting, with which roles, and through what (token id, session, CLI)."""

    name: str
    roles: frozenset[str]
    user_id: str | None = None
    token_id: str | None = None
    via: str = "token"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        """How the audit ledger and the event log name this principal."""
        prefix = "cli" if self.via == "cli" else "user"
        return f"{prefix}:{self.name}"

    def has(self, *roles: str) -> bool:
        """True when the principal holds one of ``roles`` (admin holds all but partner-node)."""
        if "admin" in self.roles and "partner-node" not in roles:
            return True
        return bool(self.roles.intersection(roles))

    def require(self, *roles: str) -> None:
        """Fail with ``Forbidden`` unless the principal holds one of ``roles``."""
        if not self.has(*roles):
            raise Forbidden(
                f"{self.actor} lacks a role for this action (needs one of: {', '.join(roles)})",
                needed=list(roles),
            )


def cli_principal(os_user: str) -> Principal:
    """The local operator: whoever can read the data dir controls the node anyway."""
    return Principal(name=os_user, roles=frozenset({"admin"}), via="cli")
