"""``evidence`` commands: add files to the vault, list, show the custody timeline, verify,
check out and check in.

An item is named by its id or exhibit number (``E-2026-0007``). A case is named by its id or
number; it is resolved here (the evidence layer sits below cases) and the case id is stored.
The local operator acts in the evidence-officer role.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import message, print_json, progress_bar, show_record, show_rows
from watchkeeper.evidence import (
    KINDS,
    acting_role,
    add_evidence,
    checkin,
    checkout,
    custody_timeline,
    list_items,
    verify_evidence,
)
from watchkeeper.node import Node
from watchkeeper.respond.cases import find_case

COLUMNS = ["exhibit_number", "kind", "status", "size", "sha256", "original_name", "created_at"]
TIMELINE = ["seq", "at", "action", "actor", "role", "purpose", "hash_after", "event_hash"]


def _case_id(node: Node, ref: str) -> str:
    with node.database.reader() as session:
        return find_case(session, case_id=ref).id


@click.group("evidence")
def evidence() -> None:
    """Preserve electronic evidence: hashed intake, custody ledger, verification."""


@evidence.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--case", "case", required=True, help="Case id or number (C-2026-0042).")
@click.option("--exhibit", default=None, help="Exhibit number (default: next E-<year>-NNNN).")
@click.option("--authority", default=None, help="Warrant, order or request id.")
@click.option("--kind", type=click.Choice(KINDS), default="file", show_default=True)
@click.option("--description", default="", help="What this evidence is.")
@click.option("--location", default=None, help="Where it was acquired.")
@json_option
@pass_cli
@audit_failures("evidence.collect")
def evidence_add(
    cli: CliContext,
    paths: tuple[Path, ...],
    case: str,
    exhibit: str | None,
    authority: str | None,
    kind: str,
    description: str,
    location: str | None,
    as_json: bool,
) -> None:
    """Hash files or directories into the vault and record their collection."""
    node = cli.node()
    case_id = _case_id(node, case)
    with progress_bar("preserving", unit="bytes", quiet=as_json) as progress:
        items = add_evidence(
            node=node,
            actor=cli.principal.actor,
            role=acting_role(cli.principal),
            paths=list(paths),
            case_ref=case_id,
            exhibit=exhibit,
            authority=authority,
            kind=kind,
            description=description,
            location=location,
            on_progress=progress,
        )
    if as_json:
        print_json(items)
        return
    for item in items:
        hashes = f"sha256 {item['sha256']}" if item["sha256"] else "(parent)"
        message(f"{item['exhibit_number']}  {item['original_name']}  {hashes}")


@evidence.command("list")
@click.option("--case", "case", default=None, help="Only this case (id or number).")
@json_option
@pass_cli
def evidence_list(cli: CliContext, case: str | None, as_json: bool) -> None:
    """Evidence items in exhibit order."""
    node = cli.node()
    case_id = _case_id(node, case) if case else None
    with node.database.reader() as session:
        rows = list_items(session, case_ref=case_id)
    show_rows(rows, COLUMNS, as_json=as_json, title="evidence")


@evidence.command("show")
@click.argument("item")
@json_option
@pass_cli
def evidence_show(cli: CliContext, item: str, as_json: bool) -> None:
    """One item and its custody timeline."""
    node = cli.node()
    with node.database.reader() as session:
        document = custody_timeline(session, item=item)
    if as_json:
        print_json(document)
        return
    events: list[dict[str, Any]] = document.pop("custody")
    show_record(document, as_json=False)
    show_rows(events, TIMELINE, as_json=False, title="custody")


@evidence.command("verify")
@click.argument("items", nargs=-1)
@click.option("--all", "all_items", is_flag=True, help="Every item in the vault.")
@click.option("--no-rehash", is_flag=True, help="Check chains and signatures only.")
@click.option(
    "--signatures",
    type=click.Choice(["all", "heads"]),
    default="all",
    show_default=True,
    help="Check every event's signature, or each chain's newest (it covers the chain).",
)
@json_option
@pass_cli
def evidence_verify(
    cli: CliContext,
    items: tuple[str, ...],
    all_items: bool,
    no_rehash: bool,
    signatures: str,
    as_json: bool,
) -> None:
    """Re-hash content and check every chain and signature; exit 1 on any failure."""
    if not items and not all_items:
        raise click.UsageError("name ITEM... or give --all")
    node = cli.node()
    with progress_bar("verifying", unit="items", quiet=as_json) as progress:
        report = verify_evidence(
            node=node,
            item_ids=None if all_items else list(items),
            rehash_content=not no_rehash,
            signatures=signatures,
            on_progress=progress,
        )
    if as_json:
        print_json(report.document())
    else:
        for failure in report.failures:
            click.echo(failure.line())
        state = "ok" if report.ok else f"{len(report.failures)} failure(s)"
        message(
            f"verified {report.items} items, {report.events} custody events, "
            f"{report.bytes_hashed} bytes re-hashed: {state}"
        )
    if not report.ok:
        sys.exit(1)


@evidence.command("checkout")
@click.argument("item")
@click.option("--purpose", required=True, help="Why the item leaves the vault.")
@click.option("--location", default=None, help="Where it goes.")
@json_option
@pass_cli
@audit_failures("evidence.check-out")
def evidence_checkout(
    cli: CliContext, item: str, purpose: str, location: str | None, as_json: bool
) -> None:
    """Check an item out of the vault for work (recorded in its custody)."""
    node = cli.node()
    document = checkout(
        node=node, principal=cli.principal, item=item, purpose=purpose, location=location
    )
    if as_json:
        print_json(document)
    else:
        message(f"{document['exhibit_number']} checked out")


@evidence.command("checkin")
@click.argument("item")
@click.option("--purpose", default="return to vault", show_default=True)
@json_option
@pass_cli
@audit_failures("evidence.check-in")
def evidence_checkin(cli: CliContext, item: str, purpose: str, as_json: bool) -> None:
    """Return an item to the vault; its content is re-hashed and compared."""
    node = cli.node()
    document = checkin(node=node, principal=cli.principal, item=item, purpose=purpose)
    if as_json:
        print_json(document)
    else:
        message(f"{document['exhibit_number']} checked in, content hash matches")


from watchkeeper.cli import evidence_export  # noqa: E402, F401, I001  (export, dispose, retention)
from watchkeeper.cli import evidence_packages  # noqa: E402, F401  (registers package/receive)
