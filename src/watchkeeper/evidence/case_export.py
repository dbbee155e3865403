"""CASE/UCO export: the vault's items and custody as one JSON-LD investigation graph.

CASE is the only exchange format for digital evidence that other states' tools read, so the
export follows the CASE 1.x / UCO 1.x shapes that ``case_validate`` (case-utils) checks:

- one ``case-investigation:Investigation`` whose ``uco-core:object`` lists every node, with
  an ``Authorization`` per distinct authority reference of the items;
- each item as ``uco-observable:File`` (``ObservableObject`` for a device or media without
  content of its own) with a ``FileFacet`` and a ``ContentDataFacet`` carrying the hashes;
- a ``ProvenanceRecord`` per item (exhibit and root exhibit numbers);
- an ``InvestigativeAction`` per custody event, its result being the item's provenance record;
- a ``Relationship`` "Contained_Within" from each child item to its parent.

Every node id is a UUIDv5 derived from the item id (and event seq, actor...), so exporting the
same vault twice yields the same IRIs and a receiver can merge graphs without duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from watchkeeper.core import utc
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.evidence.custody import (
    OPEN_ROLES,
    acting_role,
    node_signer,
    record_custody,
)
from watchkeeper.evidence.models import CustodyEvent, EvidenceItem
from watchkeeper.node import Node
from watchkeeper.security import Principal, record_change

UCO = "https://ontology.unifiedcyberontology.org/uco/"
CONTEXT: dict[str, str] = {
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": f"{UCO}action/",
    "uco-core": f"{UCO}core/",
    "uco-identity": f"{UCO}identity/",
    "uco-location": f"{UCO}location/",
    "uco-observable": f"{UCO}observable/",
    "uco-types": f"{UCO}types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
DEFAULT_KB = "urn:watchkeeper:kb:"
# Fixed namespace: ids must not change between exports or releases.
ID_NAMESPACE = uuid.UUID("6f1d3c52-9a41-5b7e-8c0d-2e4a7b9f1c36")
HASHES = (("md5", "MD5"), ("sha1", "SHA1"), ("sha256", "SHA256"))
CHARACTERISATIONS = (
    "uco-observable:FileFacet",
    "uco-observable:ContentDataFacet",
    "uco-types:Hash",
)
CONTENTLESS_OBSERVABLES = ("device", "media", "provider-production", "cloud-export")


def _iri(kind: str, key: str) -> str:
    return f"kb:{kind}-{uuid.uuid5(ID_NAMESPACE, f'{kind}:{key}')}"


def _ref(iri: str) -> dict[str, str]:
    return {"@id": iri}


def _time(value: datetime) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": utc(value).isoformat()}


def _select_items(
    session: Session, *, case_ref: str | None, item_ids: Iterable[str] | None
) -> list[EvidenceItem]:
    query = select(EvidenceItem).order_by(EvidenceItem.exhibit_number)
    if case_ref:
        query = query.where(EvidenceItem.case_ref == case_ref)
    if item_ids is None:
        return list(session.scalars(query))
    wanted = [ref.strip() for ref in item_ids]
    rows = list(
        session.scalars(
            query.where(or_(EvidenceItem.id.in_(wanted), EvidenceItem.exhibit_number.in_(wanted)))
        )
    )
    found = {r.id for r in rows} | {r.exhibit_number for r in rows}
    missing = [ref for ref in wanted if ref not in found]
    if missing:
        raise NotFound(f"no evidence item {', '.join(missing)}", field="item")
    # A named parent (a directory, a device) stands for its children too.
    seen = {r.id for r in rows}
    parents = [r.id for r in rows if r.sha256 is None]
    while parents:
        children = list(
            session.scalars(select(EvidenceItem).where(EvidenceItem.parent_id.in_(parents)))
        )
        fresh = [c for c in children if c.id not in seen]
        rows.extend(fresh)
        seen.update(c.id for c in fresh)
        parents = [c.id for c in fresh if c.sha256 is None]
    return sorted(rows, key=lambda r: r.exhibit_number)


def _observable(item: EvidenceItem) -> list[dict[str, Any]]:
    """The item node and its facet and hash nodes."""
    iri = _iri("item", item.id)
    facets: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    is_file = item.sha256 is not None or item.kind not in CONTENTLESS_OBSERVABLES
    if is_file:
        file_facet: dict[str, Any] = {
            "@id": _iri("file-facet", item.id),
            "@type": "uco-observable:FileFacet",
            "uco-observable:fileName": item.original_name or item.exhibit_number,
            "uco-observable:isDirectory": item.sha256 is None,
        }
        if item.size is not None:
            file_facet["uco-observable:sizeInBytes"] = item.size
        facets.append(file_facet)
    if item.sha256 is not None:
        hashes = []
        for column, method in HASHES:
            value = getattr(item, column)
            if value is None:
                continue
            hash_iri = _iri(f"hash-{column}", item.id)
            hashes.append(_ref(hash_iri))
            extra.append(
                {
                    "@id": hash_iri,
                    "@type": "uco-types:Hash",
                    # UCO 1.4+ wants a plain string from the HashNameVocab list.
                    "uco-types:hashMethod": method,
                    "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": value.upper()},
                }
            )
        content: dict[str, Any] = {
            "@id": _iri("content-facet", item.id),
            "@type": "uco-observable:ContentDataFacet",
            "uco-observable:hash": hashes,
        }
        if item.size is not None:
            content["uco-observable:sizeInBytes"] = item.size
        if item.media_type:
            content["uco-observable:mimeType"] = item.media_type
        facets.append(content)
    node: dict[str, Any] = {
        "@id": iri,
        "@type": "uco-observable:File" if is_file else "uco-observable:ObservableObject",
        "uco-core:name": item.exhibit_number,
        "uco-core:description": item.description or f"{item.kind} {item.exhibit_number}",
        "uco-core:objectCreatedTime": _time(item.created_at),
        "uco-core:tag": [item.kind, f"status:{item.status}"],
    }
    if facets:
        node["uco-core:hasFacet"] = [_ref(f["@id"]) for f in facets]
    return [node, *facets, *extra]


def _provenance(item: EvidenceItem) -> dict[str, Any]:
    return {
        "@id": _iri("provenance", item.id),
        "@type": "case-investigation:ProvenanceRecord",
        "case-investigation:exhibitNumber": item.exhibit_number,
        "case-investigation:rootExhibitNumber": item.root_exhibit,
        "uco-core:object": [_ref(_iri("item", item.id))],
    }


def _action(event: CustodyEvent, *, provenance: str, performer: str) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": _iri("action", f"{event.item_id}:{event.seq}"),
        "@type": "case-investigation:InvestigativeAction",
        "uco-core:name": event.action,
        "uco-action:performer": _ref(performer),
        "uco-action:startTime": _time(event.at),
        "uco-action:result": [_ref(provenance)],
        "uco-core:tag": [f"role:{event.role}", f"custody-event:{event.event_hash}"],
    }
    if event.seq > 1:
        node["uco-action:object"] = [_ref(provenance)]
    if event.purpose:
        node["uco-core:description"] = event.purpose
    if event.location:
        node["uco-action:location"] = [_ref(_iri("location", event.location))]
    return node


def export_case(
    session: Session,
    *,
    case_ref: str | None = None,
    item_ids: Iterable[str] | None = None,
    kb_base: str = DEFAULT_KB,
) -> dict[str, Any]:
    """The CASE/UCO JSON-LD document of the selected items (all items when nothing is given).

    ``case_ref`` limits to one case; ``item_ids`` names items by id or exhibit number (a
    parent brings its children). An empty selection is refused: an empty graph proves nothing.
    """
    items = _select_items(session, case_ref=case_ref, item_ids=item_ids)
    if not items:
        raise InvalidInput("no evidence item to export for this selection", field="item")
    included = {item.id for item in items}
    graph: list[dict[str, Any]] = []
    actors: set[str] = set()
    locations: set[str] = set()
    authorities: set[str] = set()
    events = session.scalars(
        select(CustodyEvent)
        .where(CustodyEvent.item_id.in_(list(included)))
        .order_by(CustodyEvent.item_id, CustodyEvent.seq)
    )
    by_item: dict[str, list[CustodyEvent]] = {item.id: [] for item in items}
    for event in events:
        by_item[event.item_id].append(event)
    for item in items:
        graph.extend(_observable(item))
        graph.append(_provenance(item))
        if item.legal.get("authority_ref"):
            authorities.add(str(item.legal["authority_ref"]))
        for event in by_item[item.id]:
            actors.add(event.actor)
            if event.location:
                locations.add(event.location)
            if event.authority_ref:
                authorities.add(event.authority_ref)
            graph.append(
                _action(
                    event,
                    provenance=_iri("provenance", item.id),
                    performer=_iri("identity", event.actor),
                )
            )
        if item.parent_id in included:
            graph.append(
                {
                    "@id": _iri("relationship", item.id),
                    "@type": "uco-core:Relationship",
                    "uco-core:source": [_ref(_iri("item", item.id))],
                    "uco-core:target": _ref(_iri("item", str(item.parent_id))),
                    "uco-core:kindOfRelationship": "Contained_Within",
                    "uco-core:isDirectional": True,
                }
            )
    graph.extend(
        {"@id": _iri("identity", actor), "@type": "uco-identity:Identity", "uco-core:name": actor}
        for actor in sorted(actors)
    )
    graph.extend(
        {"@id": _iri("location", place), "@type": "uco-location:Location", "uco-core:name": place}
        for place in sorted(locations)
    )
    graph.extend(
        {
            "@id": _iri("authorization", ref),
            "@type": "case-investigation:Authorization",
            "case-investigation:authorizationType": "legal authority",
            "case-investigation:authorizationIdentifier": ref,
        }
        for ref in sorted(authorities)
    )
    cases = sorted({item.case_ref for item in items if item.case_ref})
    name = case_ref or (", ".join(cases) if cases else "evidence vault export")
    investigation: dict[str, Any] = {
        "@id": _iri("investigation", case_ref or ",".join(sorted(included))),
        "@type": "case-investigation:Investigation",
        "uco-core:name": name,
        "case-investigation:focus": "electronic evidence and its chain of custody",
        "case-investigation:relevantAuthorization": [
            _ref(_iri("authorization", ref)) for ref in sorted(authorities)
        ],
        # Facets and hashes characterise their object; only UcoObjects are listed here.
        "uco-core:object": [
            _ref(node["@id"]) for node in graph if node["@type"] not in CHARACTERISATIONS
        ],
    }
    return {"@context": {"kb": kb_base, **CONTEXT}, "@graph": [investigation, *graph]}


def export_case_bundle(
    *,
    node: Node,
    principal: Principal,
    purpose: str,
    case_ref: str | None = None,
    item_ids: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Record an "export" custody event on every selected item, then export them.

    Exporting is a touch of the evidence (issue 7: opening or exporting needs a role and a
    stated purpose), so the document carries its own export actions.
    """
    principal.require(*OPEN_ROLES)
    reason = (purpose or "").strip()
    if not reason:
        raise InvalidInput("a purpose is required to export evidence", field="purpose")
    signer = node_signer(node)
    wanted = None if item_ids is None else list(item_ids)
    with node.database.transaction() as session:
        items = _select_items(session, case_ref=case_ref, item_ids=wanted)
        if not items:
            raise InvalidInput("no evidence item to export for this selection", field="item")
        for item in items:
            record_custody(
                session,
                clock=node.clock,
                signer=signer,
                item_id=item.id,
                action="export",
                actor=principal.actor,
                role=acting_role(principal),
                purpose=reason,
                hash_before=item.sha256,
                detail={"format": "case"},
            )
        record_change(
            session,
            clock=node.clock,
            actor=principal.actor,
            action="evidence.export",
            subject=f"evidence:{items[0].exhibit_number}",
            detail={
                "format": "case",
                "purpose": reason,
                "exhibits": [item.exhibit_number for item in items],
            },
        )
        return export_case(session, case_ref=case_ref, item_ids=wanted)
