"""``evidence export``, ``dispose`` and ``retention``: CASE/UCO export and the end of an item.

These add commands to the ``evidence`` group; ``cli/evidence.py`` imports this module last.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
import orjson

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.evidence import _case_id, evidence
from watchkeeper.cli.output import message, print_json
from watchkeeper.errors import StorageError
from watchkeeper.evidence.case_export import export_case_bundle
from watchkeeper.evidence.disposal import (
    DISPOSE_ROLES,
    dispose_approve,
    dispose_request,
    set_legal_hold,
    set_retention,
)


@evidence.command("export")
@click.argument("items", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["case"]), default="case", show_default=True)
@click.option("--case", "case", default=None, help="Only this case (id or number).")
@click.option("--purpose", required=True, help="Why the evidence leaves the vault.")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path))
@pass_cli
@audit_failures("evidence.export")
def evidence_export(
    cli: CliContext,
    items: tuple[str, ...],
    fmt: str,
    case: str | None,
    purpose: str,
    output: Path,
) -> None:
    """Write CASE/UCO JSON-LD of the items (or of a case); records an export per item."""
    if not items and not case:
        raise click.UsageError("name ITEM... or give --case")
    node = cli.node()
    document = export_case_bundle(
        node=node,
        principal=cli.principal,
        purpose=purpose,
        case_ref=_case_id(node, case) if case else None,
        item_ids=list(items) or None,
    )
    try:
        output.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    except OSError as exc:
        raise StorageError(
            f"cannot write {output}: {exc.strerror or exc}", path=str(output)
        ) from None
    records = sum(
        1 for n in document["@graph"] if n["@type"] == "case-investigation:ProvenanceRecord"
    )
    message(f"wrote {fmt} export of {records} item(s) to {output}")


@evidence.command("dispose")
@click.argument("item", required=False)
@click.option("--reason", default=None, help="Why the item may be destroyed (to request).")
@click.option("--approve", "approve", default=None, metavar="REQUEST_ID", help="Approve it.")
@json_option
@pass_cli
@audit_failures("evidence.dispose")
def evidence_dispose(
    cli: CliContext, item: str | None, reason: str | None, approve: str | None, as_json: bool
) -> None:
    """Request disposal of ITEM, or approve a request (two other officers must approve)."""
    if approve and (item or reason):
        raise click.UsageError("give either ITEM --reason TEXT or --approve REQUEST_ID")
    node = cli.node()
    if approve:
        document = dispose_approve(node=node, principal=cli.principal, request_id=approve)
        text = (
            f"{document['exhibit_number']} disposed"
            + (", content removed" if document["content_removed"] else ", content kept (shared)")
            if document["status"] == "disposed"
            else f"approval recorded ({len(document['approvers'])} of 2)"
        )
    else:
        if not item or not reason:
            raise click.UsageError("give ITEM --reason TEXT, or --approve REQUEST_ID")
        document = dispose_request(node=node, principal=cli.principal, item=item, reason=reason)
        text = f"disposal of {document['exhibit_number']} requested: {document['id']}"
    if as_json:
        print_json(document)
    else:
        message(text)


def _date(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


@evidence.command("retention")
@click.argument("item")
@click.option("--until", "until", default=None, help="Keep until this date (YYYY-MM-DD).")
@click.option("--clear", is_flag=True, help="Remove the retention date.")
@click.option("--hold/--release", "hold", default=None, help="Put on or release a legal hold.")
@click.option("--reason", default=None, help="Why (required for --hold/--release).")
@json_option
@pass_cli
@audit_failures("evidence.retention")
def evidence_retention(
    cli: CliContext,
    item: str,
    until: str | None,
    clear: bool,
    hold: bool | None,
    reason: str | None,
    as_json: bool,
) -> None:
    """Set an item's retention date or legal hold (disposal is refused while either applies)."""
    if until is None and not clear and hold is None:
        raise click.UsageError("give --until DATE, --clear, --hold or --release")
    if until is not None and clear:
        raise click.UsageError("--until and --clear exclude each other")
    keep = _date(until).date() if until else None
    cli.principal.require(*DISPOSE_ROLES)
    node = cli.node()
    actor = cli.principal.actor
    with node.database.transaction() as session:
        if until is not None or clear:
            document = set_retention(
                session, clock=node.clock, actor=actor, item_id=item, until=keep
            )
        if hold is not None:
            document = set_legal_hold(
                session, clock=node.clock, actor=actor, item_id=item, hold=hold,
                reason=reason or "",
            )  # fmt: skip
    if as_json:
        print_json(document)
    else:
        legal = document["legal"]
        message(
            f"{document['exhibit_number']}: retention until {legal.get('retention_until')}, "
            f"legal hold {'on' if legal.get('legal_hold') else 'off'}"
        )
