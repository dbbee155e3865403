"""TLP markings that producers define under their own ids keep their level (RED stays RED)."""

from __future__ import annotations

import io
from typing import Any

import orjson
from sqlalchemy import select
from stix_samples import STAMP, bundle, indicator

from watchkeeper.core.tlp import TLP2_EXTENSION_ID, Tlp
from watchkeeper.intel import ExportFilters, StixObject, export
from watchkeeper.node import Node

OWN_RED = "marking-definition--0b7e8c1a-2f3d-4c5e-9a6b-7c8d9e0f1a2b"


def red_definition() -> dict[str, Any]:
    """A TLP 2.0 RED marking definition under a producer's own id."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": OWN_RED,
        "created": STAMP,
        "name": "TLP:RED (producer copy)",
        "extensions": {
            TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": "red"}
        },
    }


def _tlp(node: Node, stix_id: str) -> str | None:
    with node.database.reader() as session:
        return session.scalars(select(StixObject.tlp).where(StixObject.id == stix_id)).one()


def test_definition_later_in_the_same_bundle(node: Node, write: Any, ingest: Any) -> None:
    secret = indicator("[domain-name:value = 'secret-site.org']", object_marking_refs=[OWN_RED])
    report = ingest(write(bundle(secret, red_definition())))
    assert report.rejected == 0
    assert _tlp(node, secret["id"]) == Tlp.RED.value


def test_definition_stored_by_an_earlier_import(node: Node, write: Any, ingest: Any) -> None:
    ingest(write(bundle(red_definition()), "markings.json"))
    secret = indicator("[domain-name:value = 'secret-site.org']", object_marking_refs=[OWN_RED])
    ingest(write(bundle(secret), "later.json"))
    assert _tlp(node, secret["id"]) == Tlp.RED.value
    out = io.BytesIO()
    export(
        node.database,
        clock=node.clock,
        actor="t",
        format="stix",
        target=out,
        filters=ExportFilters(max_tlp=Tlp.AMBER_STRICT),
    )
    exported = orjson.loads(out.getvalue()).get("objects", [])
    assert secret["id"] not in {obj["id"] for obj in exported}  # RED never leaves
