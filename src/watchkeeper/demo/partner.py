"""The demo's partner node: a second node that receives what the demo node may share with it.

The partner lives in ``partner/`` inside the demo directory, with its own keys and database.
Each side registers the other from its real identity; the demo node lets the partner read
one regional collection (need-to-know, up to TLP:AMBER) and issues it a token, and the
partner pulls that collection over TAXII 2.1 once the demo node is serving. A few
TLP:AMBER+STRICT and TLP:RED indicators are imported beside the shareable sample, and the
check proves none of them reached the partner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
from sqlalchemy import func, select

from watchkeeper.config import load_settings
from watchkeeper.core import Tlp, marking_id
from watchkeeper.errors import NotFound
from watchkeeper.federation import (
    Credentials,
    SyncPolicy,
    add_collection,
    add_link,
    find_collection,
    list_links,
    pull_link,
    remove_link,
    set_rights,
    set_sharing,
)
from watchkeeper.intel import StixObject, expand, import_stix
from watchkeeper.node import Node
from watchkeeper.security import (
    NodeIdentity,
    SecretBox,
    add_peer,
    create_token,
    get_peer,
    peer_account,
    remove_peer,
)
from watchkeeper.security.peers import peer_user_name

PARTNER_CODE, PARTNER_NAME, PARTNER_COUNTRY = "YY-CERT", "Demo Partner CERT", "YY"
COLLECTION_ALIAS = "demo-shared"
COMMUNITY = "regional"
ACTOR = "demo:script"
RESTRICTED = ((Tlp.RED, 3), (Tlp.AMBER_STRICT, 2))
"""Indicators the demo node keeps to itself: (TLP level, how many)."""


@dataclass
class Partner:
    """The partner node and the token the demo node issued to it."""

    node: Node
    token: str
    collection_id: str


def _register(node: Node, other: NodeIdentity, *, url: str) -> None:
    """Register ``other`` as a peer of ``node``, again if its keys changed since last time."""
    with node.database.transaction() as session:
        try:
            known = get_peer(session, other.code)
        except NotFound:
            known = None
        if known is not None and known.public_key == other.signing_public_key:
            return
        if known is not None:
            remove_peer(session, clock=node.clock, actor=ACTOR, code=other.code)
        add_peer(
            session,
            clock=node.clock,
            actor=ACTOR,
            code=other.code,
            url=url,
            country=other.country,
            name=other.name,
            public_key=other.signing_public_key,
            encryption_key=other.encryption_public_key,
        )


def _identity(node: Node, *, code: str, name: str, country: str) -> NodeIdentity:
    try:
        return node.identity()
    except NotFound:
        return node.init_identity(actor=ACTOR, code=code, name=name, country=country)


def restricted_bundle(path: Path) -> list[str]:
    """Write the demo's own TLP:RED and AMBER+STRICT indicators to ``path``; their ids."""
    objects: list[dict[str, object]] = []
    ids: list[str] = []
    for series, (level, count) in enumerate(RESTRICTED, start=1):
        for number in range(1, count + 1):
            ids.append(f"indicator--0d3e0000-0000-4000-8000-{series:08d}{number:04d}")
            objects.append(
                {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": ids[-1],
                    "created": "2026-01-15T08:00:00.000Z",
                    "modified": "2026-01-15T08:00:00.000Z",
                    "name": f"Demo {level.label} source {number}",
                    "pattern": f"[ipv4-addr:value = '198.18.{series}.{number}']",
                    "pattern_type": "stix",
                    "valid_from": "2026-01-15T08:00:00.000Z",
                    "object_marking_refs": [marking_id(level)],
                }
            )
    bundle = {"type": "bundle", "id": "bundle--0d3e0000-0000-4000-8000-000000000001"}
    path.write_bytes(orjson.dumps({**bundle, "objects": objects}))
    return ids


def build_partner(main: Node, *, directory: Path, base_url: str) -> Partner:
    """Create or refresh the partner node and everything both sides need to share."""
    partner = Node(load_settings(data_dir=directory / "partner", database_url=None)).start()
    ours = main.identity()
    theirs = _identity(partner, code=PARTNER_CODE, name=PARTNER_NAME, country=PARTNER_COUNTRY)
    _register(main, theirs, url="https://partner.invalid")
    _register(partner, ours, url=base_url)
    with main.database.transaction() as session:
        set_sharing(
            session,
            clock=main.clock,
            actor=ACTOR,
            code=PARTNER_CODE,
            community=COMMUNITY,
            max_tlp="amber",
            need_to_know=True,
        )
        try:
            collection = find_collection(session, COLLECTION_ALIAS, community=COMMUNITY)
        except NotFound:
            collection = add_collection(
                session,
                clock=main.clock,
                actor=ACTOR,
                title="Demo shared intelligence",
                community=COMMUNITY,
                alias=COLLECTION_ALIAS,
                description="Indicators the demo node shares with its regional partner.",
                types=["indicator"],
                max_tlp="amber",
            )
        set_rights(session, clock=main.clock, actor=ACTOR, peer=PARTNER_CODE, read=[collection.id])
        peer_account(session, clock=main.clock, actor=ACTOR, code=PARTNER_CODE)
        issued = create_token(
            session,
            clock=main.clock,
            actor=ACTOR,
            user_name=peer_user_name(PARTNER_CODE),
            expires_in=timedelta(days=7),
            label="demo partner pull",
        )
        collection_id = collection.id
    return Partner(node=partner, token=issued.secret, collection_id=collection_id)


def pull_shared(partner: Partner, *, main: Node, base_url: str, withheld: list[str]) -> str:
    """The partner pulls the demo node's shared collection over TAXII; prove nothing withheld
    arrived. Returns what happened, in one line; ``AssertionError`` if policy leaked."""
    node = partner.node
    url = f"{base_url}/taxii2/{COMMUNITY}/collections/{partner.collection_id}/"
    box = SecretBox(node.data_dir)
    with node.database.transaction() as session:
        code = main.identity().code
        for link in list_links(session, peer=code):
            remove_link(session, clock=node.clock, actor=ACTOR, link=link.id)
        link_id = add_link(
            session,
            clock=node.clock,
            actor=ACTOR,
            peer=code,
            direction="pull",
            url=url,
            credentials=Credentials(scheme="bearer", secret=partner.token),
            box=box,
        ).id
    run = pull_link(
        node.database,
        clock=node.clock,
        actor=ACTOR,
        link=link_id,
        box=box,
        policy=SyncPolicy.from_settings(node.settings),
    )
    with node.database.reader() as session:
        stored = session.scalar(select(func.count()).select_from(StixObject)) or 0
        leaked = session.scalars(select(StixObject.id).where(StixObject.id.in_(withheld))).all()
    assert run.ok, f"the partner's pull failed: {run.error}"
    assert not leaked, f"withheld objects reached the partner: {', '.join(leaked)}"
    return (
        f"{PARTNER_CODE} pulled {run.objects} objects over TAXII ({stored} held), "
        f"0 of {len(withheld)} TLP:RED/AMBER+STRICT"
    )


def import_restricted(main: Node, *, directory: Path) -> list[str]:
    """Import the demo node's own restricted indicators; their ids."""
    sample = directory / "samples" / "demo-restricted.json"
    sample.parent.mkdir(parents=True, exist_ok=True)
    ids = restricted_bundle(sample)
    report = import_stix(
        main.database,
        clock=main.clock,
        actor=ACTOR,
        inputs=expand([str(sample)]),
        source="local:demo-restricted",
    )
    assert report.rejected == 0, f"{report.rejected} restricted objects rejected"
    return ids
