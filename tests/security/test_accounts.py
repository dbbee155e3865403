"""Users, roles, passwords and API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from watchkeeper.bus import read_events
from watchkeeper.core import FixedClock
from watchkeeper.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from watchkeeper.node import Node
from watchkeeper.security import (
    ROLES,
    ApiToken,
    add_user,
    authenticate,
    check_password,
    cli_principal,
    create_token,
    list_entries,
    list_tokens,
    parse_duration,
    revoke_token,
    set_roles,
)


def _add(node: Node, name: str, *roles: str, password: str | None = None) -> None:
    with node.database.transaction() as session:
        add_user(
            session,
            clock=node.clock,
            actor="cli:root",
            name=name,
            roles=list(roles),
            password=password,
        )


def test_add_user_is_audited_and_emitted(node: Node) -> None:
    _add(node, "amira", "analyst", "responder")
    with node.database.reader() as session:
        [entry] = list_entries(session)
        [event] = read_events(session)
    assert (entry.actor, entry.action, entry.subject) == ("cli:root", "user.add", "user:amira")
    assert entry.detail == {"roles": ["analyst", "responder"]}
    assert (event.type, event.subject) == ("user.add", "user:amira")


def test_unknown_role_lists_the_valid_ones(node: Node) -> None:
    with pytest.raises(InvalidInput) as caught, node.database.transaction() as session:
        add_user(session, clock=node.clock, actor="t", name="x", roles=["analyst", "wizard"])
    assert "wizard" in caught.value.message
    for role in ROLES:
        assert role in caught.value.message


@pytest.mark.parametrize("name", ["", "Bad Name", "UPPER", "-dash", "x" * 101])
def test_bad_user_names_are_refused(node: Node, name: str) -> None:
    with pytest.raises(InvalidInput), node.database.transaction() as session:
        add_user(session, clock=node.clock, actor="t", name=name, roles=["analyst"])


def test_duplicate_user_is_a_conflict(node: Node) -> None:
    _add(node, "amira", "analyst")
    with pytest.raises(Conflict):
        _add(node, "amira", "auditor")


def test_password_check(node: Node) -> None:
    _add(node, "duty", "poc-officer", password="correct horse battery")
    with node.database.reader() as session:
        assert check_password(session, name="duty", password="correct horse battery").name == "duty"
        for name, password in (("duty", "wrong password!!"), ("nobody", "correct horse battery")):
            with pytest.raises(Unauthenticated, match="wrong user name or password"):
                check_password(session, name=name, password=password)
    with pytest.raises(InvalidInput, match="at least 12"):
        _add(node, "shorty", "analyst", password="short")


def test_set_roles(node: Node) -> None:
    _add(node, "amira", "analyst")
    with node.database.transaction() as session:
        user = set_roles(
            session, clock=node.clock, actor="t", name="amira", roles=["auditor", "legal-reviewer"]
        )
        assert user.role_names == ["auditor", "legal-reviewer"]
    with node.database.transaction() as session, pytest.raises(NotFound):
        set_roles(session, clock=node.clock, actor="t", name="ghost", roles=["auditor"])


def test_token_lifecycle(node: Node) -> None:
    clock = node.clock
    assert isinstance(clock, FixedClock)
    _add(node, "amira", "analyst")
    with node.database.transaction() as session:
        issued = create_token(
            session,
            clock=clock,
            actor="t",
            user_name="amira",
            expires_in=parse_duration("30d"),
            label="sensor",
        )
    with node.database.reader() as session:
        principal = authenticate(session, secret=issued.secret, clock=clock)
        stored = session.scalars(select(ApiToken)).one()
        assert [(t.id, name) for t, name in list_tokens(session)] == [(issued.token.id, "amira")]
    assert principal.name == "amira"
    assert principal.roles == frozenset({"analyst"})
    assert principal.token_id == issued.token.id
    assert issued.secret not in stored.token_hash  # only the hash is kept
    assert stored.token_hash != issued.secret

    clock.advance(timedelta(days=30))
    with node.database.reader() as session, pytest.raises(Unauthenticated, match="expired"):
        authenticate(session, secret=issued.secret, clock=clock)


def test_revoked_unknown_and_malformed_tokens(node: Node) -> None:
    _add(node, "amira", "analyst")
    with node.database.transaction() as session:
        issued = create_token(
            session, clock=node.clock, actor="t", user_name="amira", expires_in=timedelta(days=1)
        )
    with node.database.transaction() as session:
        revoke_token(session, clock=node.clock, actor="t", token_id=issued.token.id)
    with node.database.transaction() as session, pytest.raises(Conflict, match="already"):
        revoke_token(session, clock=node.clock, actor="t", token_id=issued.token.id)
    with node.database.transaction() as session, pytest.raises(NotFound):
        revoke_token(session, clock=node.clock, actor="t", token_id="000000000000")
    with node.database.reader() as session:
        with pytest.raises(Unauthenticated, match="revoked"):
            authenticate(session, secret=issued.secret, clock=node.clock)
        with pytest.raises(Unauthenticated, match="unknown"):
            authenticate(session, secret="wk_0123456789ab_" + "A" * 43, clock=node.clock)
        with pytest.raises(Unauthenticated, match="malformed"):
            authenticate(session, secret="hunter2", clock=node.clock)


@pytest.mark.parametrize(("text", "days"), [("30d", 30), ("12h", 0.5), ("2w", 14), ("1y", 365)])
def test_parse_duration(text: str, days: float) -> None:
    assert parse_duration(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["", "30", "3x", "0d", "-1d", "d"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(InvalidInput, match="duration"):
        parse_duration(text)


def test_principal_role_checks() -> None:
    operator = cli_principal("root")
    assert operator.actor == "cli:root"
    operator.require("legal-reviewer")  # admin holds every staff role
    with pytest.raises(Forbidden):
        operator.require("partner-node")  # but is not a partner node
