"""``config``, ``db``, ``node`` and ``peer`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import message, print_json, print_table, show_record, show_rows
from watchkeeper.config import describe_settings
from watchkeeper.errors import InvalidInput
from watchkeeper.security import (
    add_peer,
    get_peer,
    list_peers,
    peer_document,
    peer_from_document,
    record,
    remove_peer,
)
from watchkeeper.store import current_revision, upgrade


@click.group()
def config() -> None:
    """Settings of this node."""


@config.command("show")
@json_option
@pass_cli
def config_show(cli: CliContext, as_json: bool) -> None:
    """Print the effective settings and where each comes from (secrets masked)."""
    rows = describe_settings(cli.settings)
    if as_json:
        print_json({row["name"]: {"value": row["value"], "source": row["source"]} for row in rows})
    else:
        print_table(rows, ["name", "value", "source", "help"], title="settings")


@click.group()
def db() -> None:
    """The node's database."""


@db.command("upgrade")
@pass_cli
def db_upgrade(cli: CliContext) -> None:
    """Apply pending migrations (serve and demo do this on start too)."""
    node = cli.node(migrate=False)
    before = current_revision(node.database)
    upgrade(node.database)
    after = current_revision(node.database)
    if before != after:
        with node.database.transaction() as session:
            record(
                session,
                clock=node.clock,
                actor=cli.principal.actor,
                action="db.upgrade",
                detail={"from": before, "to": after},
            )
    message(f"database {node.database.masked_url} at revision {after}")


@click.group()
def node() -> None:
    """This node's identity and keys."""


@node.command("init")
@click.option("--code", required=True, help="Node code, e.g. QA-NCSA.")
@click.option("--name", required=True, help="Agency name.")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 country code.")
@click.option("--force", is_flag=True, help="Replace existing keys (old ones are kept aside).")
@pass_cli
@audit_failures("node.init")
def node_init(cli: CliContext, code: str, name: str, country: str, force: bool) -> None:
    """Create the node's Ed25519 signing key and X25519 encryption key."""
    identity = cli.node().init_identity(
        actor=cli.principal.actor, code=code, name=name, country=country, force=force
    )
    message(f"node {code} initialised; fingerprint {identity.fingerprint}")


@node.command("show")
@json_option
@pass_cli
def node_show(cli: CliContext, as_json: bool) -> None:
    """Print the node's public keys and fingerprint (what partners register)."""
    the_node = cli.node()
    document = the_node.identity().document(url=the_node.settings.effective_public_url)
    show_record(document, as_json=as_json)


@click.group()
def peer() -> None:
    """Partner nodes."""


@peer.command("add")
@click.argument("code", required=False)
@click.option("--url", help="Base URL of the partner node.")
@click.option("--country", help="ISO 3166-1 alpha-2 country code.")
@click.option("--public-key", help="Partner's Ed25519 public key (base64).")
@click.option("--encryption-key", help="Partner's X25519 public key (base64).")
@click.option("--name", default="", help="Partner agency name.")
@click.option(
    "--from-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The partner's 'watchkeeper node show --json' output.",
)
@pass_cli
@audit_failures("peer.add")
def peer_add(
    cli: CliContext,
    code: str | None,
    url: str | None,
    country: str | None,
    public_key: str | None,
    encryption_key: str | None,
    name: str,
    from_file: Path | None,
) -> None:
    """Register a partner node from options or from its identity file."""
    args: dict[str, Any]
    if from_file is not None:
        try:
            document = orjson.loads(from_file.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"{from_file}: not JSON ({exc})", file=str(from_file)) from None
        if not isinstance(document, dict):
            raise InvalidInput(f"{from_file}: expected a JSON object", file=str(from_file))
        if url:
            document["url"] = url
        args = peer_from_document(document, source=str(from_file))
        if code and code != args["code"]:
            raise InvalidInput(f"{from_file} is node {args['code']}, not {code}", field="code")
    else:
        missing = [
            flag
            for flag, value in (
                ("CODE", code),
                ("--url", url),
                ("--country", country),
                ("--public-key", public_key),
            )
            if not value
        ]
        if missing:
            raise click.UsageError(f"missing {', '.join(missing)} (or give --from-file)")
        args = {
            "code": code,
            "url": url,
            "country": country,
            "public_key": public_key,
            "encryption_key": encryption_key,
            "name": name,
        }
    the_node = cli.node()
    with the_node.database.transaction() as session:
        added = add_peer(session, clock=the_node.clock, actor=cli.principal.actor, **args)
        message(f"peer {added.code} added; fingerprint {added.fingerprint}")


@peer.command("list")
@json_option
@pass_cli
def peer_list(cli: CliContext, as_json: bool) -> None:
    """List partner nodes."""
    the_node = cli.node()
    with the_node.database.reader() as session:
        rows = [peer_document(p) for p in list_peers(session)]
    show_rows(
        rows, ["code", "name", "country", "url", "fingerprint"], as_json=as_json, title="peers"
    )


@peer.command("show")
@click.argument("code")
@json_option
@pass_cli
def peer_show(cli: CliContext, code: str, as_json: bool) -> None:
    """Show one partner node."""
    the_node = cli.node()
    with the_node.database.reader() as session:
        document = peer_document(get_peer(session, code))
    show_record(document, as_json=as_json)


@peer.command("remove")
@click.argument("code")
@pass_cli
@audit_failures("peer.remove")
def peer_remove(cli: CliContext, code: str) -> None:
    """Forget a partner node and disable its service account."""
    the_node = cli.node()
    with the_node.database.transaction() as session:
        remove_peer(session, clock=the_node.clock, actor=cli.principal.actor, code=code)
    message(f"peer {code} removed")
