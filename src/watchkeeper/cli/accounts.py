"""``user`` and ``token`` commands."""

from __future__ import annotations

import sys

import click

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import message, print_json, show_rows
from watchkeeper.security import (
    add_user,
    create_token,
    list_tokens,
    list_users,
    parse_duration,
    peer_account,
    revoke_token,
    set_password,
    set_roles,
    token_document,
    user_document,
)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group()
def user() -> None:
    """People (and partner service accounts) who may act on this node."""


@user.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="Role; repeat for several.")
@click.option("--display-name", default="", help="Full name shown in the UI.")
@click.option("--password", "ask_password", is_flag=True, help="Prompt for a UI password.")
@click.option("--password-stdin", is_flag=True, help="Read the UI password from stdin.")
@pass_cli
@audit_failures("user.add")
def user_add(
    cli: CliContext,
    name: str,
    roles: tuple[str, ...],
    display_name: str,
    ask_password: bool,
    password_stdin: bool,
) -> None:
    """Add a user with one or more roles."""
    password = _read_password(password_stdin) if (ask_password or password_stdin) else None
    node = cli.node()
    with node.database.transaction() as session:
        created = add_user(
            session,
            clock=node.clock,
            actor=cli.principal.actor,
            name=name,
            roles=roles,
            display_name=display_name,
            password=password,
        )
        message(f"user {created.name} added with roles {', '.join(created.role_names)}")


@user.command("list")
@json_option
@pass_cli
def user_list(cli: CliContext, as_json: bool) -> None:
    """List users."""
    node = cli.node()
    with node.database.reader() as session:
        rows = [user_document(u) for u in list_users(session)]
    show_rows(rows, ["name", "display_name", "roles", "disabled"], as_json=as_json, title="users")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@pass_cli
@audit_failures("user.password")
def user_passwd(cli: CliContext, name: str, password_stdin: bool) -> None:
    """Set a user's UI password."""
    password = _read_password(password_stdin)
    node = cli.node()
    with node.database.transaction() as session:
        set_password(
            session, clock=node.clock, actor=cli.principal.actor, name=name, password=password
        )
    message(f"password of {name} set")


@user.command("roles")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="Role; repeat for several.")
@pass_cli
@audit_failures("user.roles")
def user_roles(cli: CliContext, name: str, roles: tuple[str, ...]) -> None:
    """Replace a user's roles."""
    node = cli.node()
    with node.database.transaction() as session:
        changed = set_roles(
            session, clock=node.clock, actor=cli.principal.actor, name=name, roles=roles
        )
        message(f"{name} now has roles {', '.join(changed.role_names)}")


@click.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("user_name", metavar="USER", required=False)
@click.option("--peer", "peer_code", help="Issue the token to a partner node's account.")
@click.option("--expires", default=None, help="Lifetime such as 12h, 30d, 1y.")
@click.option("--label", default="", help="What the token is for.")
@json_option
@pass_cli
@audit_failures("token.create")
def token_create(
    cli: CliContext,
    user_name: str | None,
    peer_code: str | None,
    expires: str | None,
    label: str,
    as_json: bool,
) -> None:
    """Issue a token; the secret is printed once and never stored."""
    if bool(user_name) == bool(peer_code):
        raise click.UsageError("give either USER or --peer CODE")
    node = cli.node()
    lifetime = parse_duration(expires or f"{node.settings.token_default_expiry_days}d")
    actor = cli.principal.actor
    with node.database.transaction() as session:
        if peer_code:
            user_name = peer_account(session, clock=node.clock, actor=actor, code=peer_code).name
        assert user_name is not None
        issued = create_token(
            session,
            clock=node.clock,
            actor=actor,
            user_name=user_name,
            expires_in=lifetime,
            label=label,
        )
    document = {
        "id": issued.token.id,
        "user": user_name,
        "expires_at": issued.token.expires_at.isoformat(),
        "secret": issued.secret,
    }
    if as_json:
        print_json(document)
    else:
        message(
            f"token {issued.token.id} for {user_name}, valid until "
            f"{issued.token.expires_at:%Y-%m-%d %H:%M} UTC; shown once, keep it safe:"
        )
        print(issued.secret)


@token.command("revoke")
@click.argument("token_id", metavar="ID")
@pass_cli
@audit_failures("token.revoke")
def token_revoke(cli: CliContext, token_id: str) -> None:
    """Revoke a token by id."""
    node = cli.node()
    with node.database.transaction() as session:
        revoke_token(session, clock=node.clock, actor=cli.principal.actor, token_id=token_id)
    message(f"token {token_id} revoked")


@token.command("list")
@click.option("--user", "user_name", default=None, help="Only this user's tokens.")
@json_option
@pass_cli
def token_list(cli: CliContext, user_name: str | None, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    node = cli.node()
    now = node.clock.now()
    with node.database.reader() as session:
        rows = [
            token_document(t, user_name=name, now=now)
            for t, name in list_tokens(session, user_name=user_name)
        ]
    show_rows(rows, ["id", "user", "label", "expires_at", "state"], as_json=as_json, title="tokens")
