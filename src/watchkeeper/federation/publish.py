"""Publishing a MISP feed for a sharing community: what its members may have, as MISP pulls it.

A MISP feed is a static directory (``manifest.json``, one ``<uuid>.json`` per event,
``hashes.csv``) that partners' MISP instances pull without an account on this node; it is
put where the community reads it (a web server, a share). One feed per community
(national, regional, international): it holds what the sharing policy lets that community
have, the same rules as TAXII pages and pushes, so the feed of a wider community never
carries what only a narrower one may see.

The audience is the community as a whole, not a peer: it owns nothing, so TLP:AMBER+STRICT
never goes in; TLP:RED never leaves; the ceiling is TLP:GREEN unless the operator publishes
up to TLP:AMBER (TLP 2.0's GREEN is "within the community", AMBER is need-to-know, so
choosing AMBER is choosing to treat the feed's readers as having that need); objects
received from peers in a narrower scope without leave to re-share are left out
(``received_scope``).
"""

from __future__ import annotations

from pathlib import Path

from watchkeeper.core import Clock, Tlp
from watchkeeper.errors import InvalidInput
from watchkeeper.federation.policy import (
    Audience,
    parse_community,
    parse_release_tlp,
    shared_clause,
)
from watchkeeper.intel import MispExport, export_misp_feed
from watchkeeper.store import Database

DEFAULT_MAX_TLP = Tlp.GREEN


def community_audience(community: str, *, max_tlp: Tlp = DEFAULT_MAX_TLP) -> Audience:
    """The members of ``community`` together, as the readers of a published feed."""
    return Audience(
        name=f"community:{community}",
        max_tlp=max_tlp,
        need_to_know=max_tlp >= Tlp.AMBER,
        community=community,
    )


def publish_misp_feed(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    community: str,
    directory: Path | str,
    max_tlp: str | Tlp = DEFAULT_MAX_TLP,
    organisation: str = "Watchkeeper",
) -> MispExport:
    """Write the MISP feed of ``community`` into ``directory`` (earlier events replaced).

    ``max_tlp`` is clear, green (the default) or amber; ``InvalidInput`` for RED and
    AMBER+STRICT, which a community feed can never carry. Audited as ``intel.export`` with
    the community and the audience.
    """
    root = parse_community(community)
    level = max_tlp if isinstance(max_tlp, Tlp) else parse_release_tlp(max_tlp)
    if level is Tlp.RED:
        raise InvalidInput("max_tlp: TLP:RED never leaves the node", field="max_tlp")
    if level > Tlp.AMBER:
        raise InvalidInput(
            "max_tlp: a community feed can carry at most TLP:AMBER (TLP:AMBER+STRICT is for "
            "the owning organisation only)",
            field="max_tlp",
        )
    audience = community_audience(root, max_tlp=level)
    return export_misp_feed(
        database,
        clock=clock,
        actor=actor,
        directory=directory,
        max_tlp=level,
        organisation=organisation,
        where=[shared_clause(audience)],
        detail={"community": root, "audience": audience.name},
    )
