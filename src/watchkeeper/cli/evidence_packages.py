"""``evidence package`` and ``evidence receive``: sealed packages for and from another state.

The local operator acts in the evidence-officer role (as for the other evidence commands).
A refused package exits non-zero with one line naming the reason.
"""

from __future__ import annotations

from pathlib import Path

import click

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.evidence import evidence
from watchkeeper.cli.output import message, print_json
from watchkeeper.evidence.custody import OPEN_ROLES, acting_role
from watchkeeper.evidence.package_receive import receive_package
from watchkeeper.evidence.packages import build_package


@evidence.command("package")
@click.argument("items", nargs=-1, required=True)
@click.option("--for", "peer", required=True, help="Code of the peer node (see: peer list).")
@click.option(
    "-o", "--output", required=True, type=click.Path(path_type=Path), help="Package file."
)
@click.option("--authority", required=True, help="Request, order or MLA reference.")
@click.option("--restriction", "restrictions", multiple=True, help="A use restriction (repeat).")
@click.option("--purpose", required=True, help="Why the evidence is sent.")
@click.option("--allow-red", is_flag=True, help="Send TLP:RED items too (deliberate override).")
@json_option
@pass_cli
@audit_failures("evidence.send-abroad")
def evidence_package(
    cli: CliContext,
    items: tuple[str, ...],
    peer: str,
    output: Path,
    authority: str,
    restrictions: tuple[str, ...],
    purpose: str,
    allow_red: bool,
    as_json: bool,
) -> None:
    """Seal items for a peer: encrypted to its key, signed by this node."""
    cli.principal.require(*OPEN_ROLES)
    result = build_package(
        node=cli.node(),
        actor=cli.principal.actor,
        role=acting_role(cli.principal),
        item_ids=list(items),
        peer_code=peer,
        authority=authority,
        use_restrictions=list(restrictions),
        output=output,
        purpose=purpose,
        allow_red=allow_red,
    )
    if as_json:
        print_json(result)
        return
    message(
        f"package {result['package_id']} for {result['peer']}: {len(result['items'])} item(s), "
        f"{result['bytes']} bytes -> {result['path']}"
    )


@evidence.command("receive")
@click.argument("path", type=click.Path(path_type=Path))
@json_option
@pass_cli
@audit_failures("evidence.receive")
def evidence_receive(cli: CliContext, path: Path, as_json: bool) -> None:
    """Check a package (signature, addressee, every hash) and register its items."""
    cli.principal.require(*OPEN_ROLES)
    result = receive_package(
        node=cli.node(), actor=cli.principal.actor, role=acting_role(cli.principal), path=path
    )
    if as_json:
        print_json(result)
        return
    for item in result["items"]:
        message(f"{item['exhibit_number']}  {item['original_name']}  sha256 {item['sha256']}")
    message(f"received package {result['package_id']} from {result['from']}")
