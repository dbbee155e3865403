"""``peer set`` (what a partner node may receive) and ``taxii`` (collections) commands."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy.orm import Session

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import message, print_json, show_record, show_rows
from watchkeeper.federation import (
    COMMUNITIES,
    Collection,
    CollectionRight,
    add_collection,
    collection_document,
    get_sharing,
    list_collections,
    peer_rights,
    rights_by_collection,
    set_rights,
    set_sharing,
    sharing_document,
)

TLP_CHOICES = "clear, green, amber or amber+strict"


def _sharing(session: Session, code: str) -> dict[str, Any]:
    """A peer's settings and its rights, by collection alias (else id)."""
    settings = get_sharing(session, code)
    document = sharing_document(settings)
    names = {c.id: c.alias or c.id for c in list_collections(session)}
    rights = peer_rights(session, peer=settings.peer)
    document["read"] = sorted(names[r.collection_id] for r in rights if r.can_read)
    document["write"] = sorted(names[r.collection_id] for r in rights if r.can_write)
    return document


@click.command("set")
@click.argument("code")
@click.option("--community", help=f"Sharing community: {', '.join(COMMUNITIES)}.")
@click.option("--max-tlp", help=f"Most restrictive TLP level it may receive: {TLP_CHOICES}.")
@click.option(
    "--need-to-know/--no-need-to-know",
    default=None,
    help="Whether it may receive TLP:AMBER (shared on a need-to-know basis).",
)
@click.option(
    "--identity",
    help="STIX identity id of its organisation (owner of what it created, for "
    "TLP:AMBER+STRICT); an empty value clears it.",
)
@click.option(
    "--reshare/--no-reshare",
    default=None,
    help="Whether what it sends us may be re-shared beyond the community it arrives in.",
)
@click.option("--read", "read", multiple=True, help="Collection (id or alias) it may read.")
@click.option("--write", "write", multiple=True, help="Collection (id or alias) it may write.")
@click.option("--revoke", multiple=True, help="Collection to take both rights away on.")
@json_option
@pass_cli
@audit_failures("peer.sharing")
def peer_set(
    cli: CliContext,
    code: str,
    community: str | None,
    max_tlp: str | None,
    need_to_know: bool | None,
    identity: str | None,
    reshare: bool | None,
    read: tuple[str, ...],
    write: tuple[str, ...],
    revoke: tuple[str, ...],
    as_json: bool,
) -> None:
    """Set what a partner node may receive; with no option, show it.

    A peer nobody configured receives only TLP:CLEAR, without need-to-know, as a member of
    the international community, and may read no collection.
    """
    the_node = cli.node()
    actor = cli.principal.actor
    with the_node.database.transaction() as session:
        set_sharing(
            session,
            clock=the_node.clock,
            actor=actor,
            code=code,
            community=community,
            max_tlp=max_tlp,
            need_to_know=need_to_know,
            identity=identity,
            reshare=reshare,
        )
        if read or write or revoke:
            set_rights(
                session,
                clock=the_node.clock,
                actor=actor,
                peer=code,
                read=read,
                write=write,
                revoke=revoke,
            )
        document = _sharing(session, code)
    show_record(document, as_json=as_json)


@click.group()
def taxii() -> None:
    """TAXII collections: what partner nodes read and write, per sharing community."""


def _collection_row(collection: Collection, rights: list[CollectionRight]) -> dict[str, Any]:
    document = collection_document(collection)
    document["readers"] = [r.peer for r in rights if r.can_read]
    document["writers"] = [r.peer for r in rights if r.can_write]
    return document


@taxii.command("collections")
@click.option("--community", help=f"Only the API root of one community ({', '.join(COMMUNITIES)}).")
@json_option
@pass_cli
def taxii_collections(cli: CliContext, community: str | None, as_json: bool) -> None:
    """List collections with their filters and the peers that may read or write them."""
    the_node = cli.node()
    with the_node.database.reader() as session:
        rights = rights_by_collection(session)
        rows = [
            _collection_row(c, rights.get(c.id, []))
            for c in list_collections(session, community=community)
        ]
    if as_json:
        print_json(rows)
        return
    show_rows(
        [{**row, "filters": _filters_text(row["filters"])} for row in rows],
        ["id", "community", "alias", "title", "filters", "readers", "writers"],
        as_json=False,
        title="collections",
    )


def _filters_text(filters: dict[str, Any]) -> str:
    parts = [
        f"{name}={','.join(value) if isinstance(value, list) else value}"
        for name, value in filters.items()
        if value
    ]
    return " ".join(parts) or "everything"


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@taxii.command("add-collection")
@click.option("--title", required=True, help="Title shown to partner nodes.")
@click.option("--alias", help="Short name, unique in its API root (letters, digits, . _ -).")
@click.option(
    "--community",
    default="national",
    show_default=True,
    help=f"API root (sharing community): {', '.join(COMMUNITIES)}.",
)
@click.option("--description", default="", help="Description shown to partner nodes.")
@click.option("--types", "types", multiple=True, help="STIX types, comma-separated.")
@click.option("--max-tlp", help=f"Most restrictive TLP level it holds: {TLP_CHOICES}.")
@click.option(
    "--source",
    "sources",
    multiple=True,
    help="Provenance source (feed:NAME, peer:CODE...; a prefix ending in ':' takes all).",
)
@click.option("--label", "labels", multiple=True, help="STIX label an object must carry (any).")
@json_option
@pass_cli
@audit_failures("collection.add")
def taxii_add_collection(
    cli: CliContext,
    title: str,
    alias: str | None,
    community: str,
    description: str,
    types: tuple[str, ...],
    max_tlp: str | None,
    sources: tuple[str, ...],
    labels: tuple[str, ...],
    as_json: bool,
) -> None:
    """Define a collection: a filter over the store, in the API root of a community."""
    the_node = cli.node()
    with the_node.database.transaction() as session:
        collection = add_collection(
            session,
            clock=the_node.clock,
            actor=cli.principal.actor,
            title=title,
            community=community,
            alias=alias,
            description=description,
            types=_split(types),
            max_tlp=max_tlp,
            sources=sources,
            labels=labels,
        )
        document = _collection_row(collection, [])
    message(f"collection {document['id']} added to the {document['community']} API root")
    if as_json:
        print_json(document)
