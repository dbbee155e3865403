"""TAXII collections: filtered views of the store, per API root, with per-peer rights.

A collection holds no copy of anything: it is a filter (STIX types, a TLP ceiling, the
provenance sources that delivered an object, labels) over ``intel_objects``, in one API root,
which is a sharing community. Peers see a collection only with a right on it (read, write or
both; no row means neither). What a peer reads from a collection is the collection's filter
AND the sharing policy for that peer, both in one SQL query ordered by ``seq``, the store's
unique, increasing sequence, so TAXII pages are cut on a cursor that never skips or repeats an
object (:func:`collection_objects`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, Tlp
from watchkeeper.errors import Conflict, Forbidden, InvalidInput, NotFound
from watchkeeper.federation.models import Collection, CollectionRight
from watchkeeper.federation.policy import (
    UNMARKED,
    Audience,
    outgoing_doc,
    parse_community,
    parse_release_tlp,
    peer_audience,
    shared_clause,
)
from watchkeeper.federation.properties import has_any_label
from watchkeeper.federation.sharing import get_sharing
from watchkeeper.intel import STIX_TYPE, ImportRun, Provenance, StixObject, withheld_by_tlp
from watchkeeper.security import get_peer, record_change

ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_TITLE = 200
MAX_SOURCE = 500
DEFAULT_COMMUNITY = "national"


@dataclass(frozen=True)
class CollectionFilters:
    """What a collection holds; an empty field does not narrow.

    ``sources`` are provenance sources as imports record them (``feed:abuse``, ``peer:QA-NCSA``,
    ``local:sightings``); one ending in ``:`` is a prefix (``feed:`` is every feed), as for
    source reliability. ``max_tlp`` counts unmarked objects as TLP:AMBER.
    """

    types: tuple[str, ...] = ()
    max_tlp: Tlp | None = None
    sources: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        """As stored (and shown): lists, the TLP level by its name."""
        return {
            "types": list(self.types),
            "max_tlp": self.max_tlp.value if self.max_tlp is not None else None,
            "sources": list(self.sources),
            "labels": list(self.labels),
        }


def _strings(values: Iterable[str], *, field: str, limit: int) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        text = value.strip() if isinstance(value, str) else ""
        if not text or len(text) > limit:
            raise InvalidInput(
                f"{field}: expected non-empty text of at most {limit} characters, got {value!r}",
                field=field,
                value=value,
            )
        if text not in found:
            found.append(text)
    return tuple(found)


def check_filters(
    *,
    types: Iterable[str] = (),
    max_tlp: str | None = None,
    sources: Iterable[str] = (),
    labels: Iterable[str] = (),
) -> CollectionFilters:
    """Validated filters, or ``InvalidInput`` naming the field (``types``, ``max_tlp``...)."""
    kinds = _strings(types, field="types", limit=250)
    wrong = [kind for kind in kinds if not STIX_TYPE.match(kind)]
    if wrong:
        raise InvalidInput(
            f"types: {', '.join(wrong)} is not a STIX type name (e.g. indicator, ipv4-addr)",
            field="types",
            value=wrong,
        )
    return CollectionFilters(
        types=kinds,
        max_tlp=parse_release_tlp(max_tlp) if max_tlp is not None else None,
        sources=_strings(sources, field="sources", limit=MAX_SOURCE),
        labels=_strings(labels, field="labels", limit=MAX_SOURCE),
    )


def collection_filters(collection: Collection) -> CollectionFilters:
    """The stored filters of ``collection``, checked again (stored JSON is never trusted)."""
    stored = collection.filters
    return check_filters(
        types=stored.get("types") or (),
        max_tlp=stored.get("max_tlp"),
        sources=stored.get("sources") or (),
        labels=stored.get("labels") or (),
    )


def add_collection(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    title: str,
    community: str = DEFAULT_COMMUNITY,
    alias: str | None = None,
    description: str = "",
    types: Sequence[str] = (),
    max_tlp: str | None = None,
    sources: Sequence[str] = (),
    labels: Sequence[str] = (),
) -> Collection:
    """Define a collection in the API root of ``community``; audited as ``collection.add``.

    The alias, when given, is unique within the API root (TAXII) and cannot look like a
    collection id, so a name given on the command line means one thing.
    """
    name = title.strip()
    if not name or len(name) > MAX_TITLE:
        raise InvalidInput(f"title: expected 1 to {MAX_TITLE} characters", field="title")
    root = parse_community(community)
    if alias is not None and (not ALIAS.match(alias) or UUID.match(alias.lower())):
        raise InvalidInput(
            f"alias: {alias!r} is not a name of letters, digits, '.', '_' and '-' "
            "(and not a collection id)",
            field="alias",
            value=alias,
        )
    filters = check_filters(types=types, max_tlp=max_tlp, sources=sources, labels=labels)
    if alias is not None:
        taken = session.scalars(
            select(Collection.id).where(Collection.community == root, Collection.alias == alias)
        ).first()
        if taken is not None:
            raise Conflict(
                f"alias {alias!r} is already collection {taken} in {root}",
                field="alias",
                collection=taken,
            )
    collection = Collection(
        id=str(uuid.uuid4()),
        community=root,
        title=name,
        description=description,
        alias=alias,
        filters=filters.document(),
        created_at=clock.now(),
    )
    session.add(collection)
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="collection.add",
        subject=f"collection:{collection.id}",
        detail={"title": name, "community": root, "alias": alias, "filters": filters.document()},
    )
    return collection


def list_collections(session: Session, *, community: str | None = None) -> list[Collection]:
    """Collections, of one API root or of all, by community then title."""
    query = select(Collection).order_by(Collection.community, Collection.title, Collection.id)
    if community is not None:
        query = query.where(Collection.community == parse_community(community))
    return list(session.scalars(query))


def find_collection(
    session: Session, key: str, *, community: str | None = None, field: str = "collection"
) -> Collection:
    """The collection whose id or alias is ``key`` (in ``community`` if given), or ``NotFound``.

    An alias used in several API roots is ambiguous without ``community``: ``InvalidInput``.
    """
    root = parse_community(community) if community is not None else None
    identifier = key.strip().lower()
    found = session.get(Collection, identifier) if UUID.match(identifier) else None
    if found is not None and root in (None, found.community):
        return found
    query = select(Collection).where(Collection.alias == key)
    if root is not None:
        query = query.where(Collection.community == root)
    matches = list(session.scalars(query))
    if len(matches) > 1:
        raise InvalidInput(
            f"{field}: alias {key!r} names collections in several API roots "
            f"({', '.join(c.community for c in matches)}); give the collection id",
            field=field,
            value=key,
        )
    if not matches:
        raise NotFound(f"no collection {key!r}; see: watchkeeper taxii collections", collection=key)
    return matches[0]


def set_rights(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    peer: str,
    read: Sequence[str] = (),
    write: Sequence[str] = (),
    revoke: Sequence[str] = (),
) -> list[CollectionRight]:
    """Grant peer ``peer`` read or write on collections (ids or aliases); ``revoke`` removes both.

    Grants add to what the peer has. All names are resolved before anything changes; one
    audit entry and event (``collection.rights``) holds the new rights per collection.
    """
    code = get_peer(session, peer).code
    clash = sorted(set(revoke) & (set(read) | set(write)))
    if clash:
        raise InvalidInput(
            f"revoke: {', '.join(clash)} is also granted in the same change", field="revoke"
        )
    wanted: dict[str, tuple[bool, bool]] = {}
    for keys, grant in ((read, (True, False)), (write, (False, True)), (revoke, None)):
        for key in keys:
            collection_id = find_collection(session, key).id
            if grant is None:
                wanted[collection_id] = (False, False)
                continue
            can_read, can_write = wanted.get(collection_id) or rights_of(
                session, peer=code, collection_id=collection_id
            )
            wanted[collection_id] = (can_read or grant[0], can_write or grant[1])
    changed: dict[str, dict[str, bool]] = {}
    for collection_id, (can_read, can_write) in sorted(wanted.items()):
        row = session.get(CollectionRight, (collection_id, code))
        current = (row.can_read, row.can_write) if row is not None else (False, False)
        if current == (can_read, can_write):
            continue
        if not (can_read or can_write):
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(
                CollectionRight(
                    collection_id=collection_id, peer=code, can_read=can_read, can_write=can_write
                )
            )
        else:
            row.can_read, row.can_write = can_read, can_write
        changed[collection_id] = {"read": can_read, "write": can_write}
    if changed:
        session.flush()
        record_change(
            session,
            clock=clock,
            actor=actor,
            action="collection.rights",
            subject=f"peer:{code}",
            detail={"rights": changed},
        )
    return peer_rights(session, peer=code)


def rights_of(session: Session, *, peer: str, collection_id: str) -> tuple[bool, bool]:
    """(can_read, can_write) of ``peer`` on the collection; (False, False) without a row."""
    row = session.get(CollectionRight, (collection_id, peer))
    return (row.can_read, row.can_write) if row is not None else (False, False)


def peer_rights(session: Session, *, peer: str) -> list[CollectionRight]:
    """The rights rows of ``peer``, by collection id."""
    return list(
        session.scalars(
            select(CollectionRight)
            .where(CollectionRight.peer == peer)
            .order_by(CollectionRight.collection_id)
        )
    )


def rights_by_collection(session: Session) -> dict[str, list[CollectionRight]]:
    """Every rights row, grouped by collection id (peers in code order)."""
    found: dict[str, list[CollectionRight]] = {}
    for row in session.scalars(select(CollectionRight).order_by(CollectionRight.peer)):
        found.setdefault(row.collection_id, []).append(row)
    return found


def peer_collections(
    session: Session, *, peer: str, community: str
) -> list[tuple[Collection, CollectionRight]]:
    """The collections of API root ``community`` that ``peer`` may read or write (TAXII's
    ``GET {root}/collections/``), with its rights; the others do not exist for it."""
    rows = session.execute(
        select(Collection, CollectionRight)
        .join(CollectionRight, CollectionRight.collection_id == Collection.id)
        .where(
            Collection.community == parse_community(community),
            CollectionRight.peer == peer,
            or_(CollectionRight.can_read, CollectionRight.can_write),
        )
        .order_by(Collection.title, Collection.id)
    )
    return [(collection, right) for collection, right in rows]


# --- reading a collection ------------------------------------------------------------------


class SharedObject(NamedTuple):
    """One object version as it leaves: its place in the sequence and its outgoing JSON."""

    seq: int
    id: str
    type: str
    modified: str
    spec_version: str
    doc: str


def _from_sources(sources: Sequence[str]) -> ColumnElement[bool]:
    p, i = Provenance, ImportRun
    tests = [
        func.substr(i.source, 1, len(key)) == key if key.endswith(":") else i.source == key
        for key in sources
    ]
    return exists(
        select(literal(1))
        .select_from(p)
        .join(i, i.id == p.import_id)
        .where(p.object_seq == StixObject.seq, or_(*tests))
    )


def filter_clause(filters: CollectionFilters) -> list[ColumnElement[bool]]:
    """SQL over ``intel_objects``: the conditions of a collection's filters (AND them)."""
    o = StixObject
    where: list[ColumnElement[bool]] = []
    if filters.types:
        # Compared through an expression so that no index on ``type`` is used: a page is read
        # in ``seq`` order and stops at its limit, where the (type, current) index would make
        # SQLite read every object of the type and sort them (35x slower at 50,000 objects;
        # a rare type costs a scan of cheap comparisons instead).
        where.append(o.type.concat("").in_(filters.types))
    if filters.max_tlp is not None:
        where.append(not_(withheld_by_tlp(max_tlp=filters.max_tlp, unmarked_tlp=UNMARKED)))
    if filters.sources:
        where.append(_from_sources(filters.sources))
    if filters.labels:
        where.append(
            and_(
                o.doc.contains('"labels"', autoescape=True),
                has_any_label(o.doc, list(filters.labels)),
            )
        )
    return where


def collection_query(
    collection: Collection,
    audience: Audience,
    *,
    after_seq: int | None = None,
    limit: int | None = None,
    current_only: bool = False,
    where: Sequence[ColumnElement[bool]] = (),
) -> Select[int, str, str, str, str, str]:
    """The SELECT of the versions ``audience`` may read from ``collection``, by ``seq``.

    Collection filters and the sharing policy are both in the WHERE clause, so a page costs
    one query. ``where`` narrows it further (TAXII ``match[id]``, ``match[type]``) with
    conditions on :class:`~watchkeeper.intel.StixObject` columns. The documents it returns
    must still go through :func:`~.policy.outgoing_doc`; :func:`collection_objects` does.
    """
    o = StixObject
    query = select(o.seq, o.id, o.type, o.modified, o.spec_version, o.doc).where(
        *filter_clause(collection_filters(collection)), shared_clause(audience), *where
    )
    if current_only:
        query = query.where(o.current.is_(True))
    if after_seq is not None:
        query = query.where(o.seq > after_seq)
    query = query.order_by(o.seq)
    if limit is not None:
        query = query.limit(limit)
    return query


def collection_objects(
    session: Session,
    *,
    collection: str,
    peer: str,
    after_seq: int | None = None,
    limit: int | None = None,
    current_only: bool = False,
    where: Sequence[ColumnElement[bool]] = (),
) -> list[SharedObject]:
    """The versions peer ``peer`` may read from ``collection`` (id or alias), after a cursor.

    ``Forbidden`` unless the peer has the read right; the peer's sharing settings give the
    policy; ``where`` narrows as in :func:`collection_query`. Documents come without internal
    properties, ready to send.
    """
    found = find_collection(session, collection)
    settings = get_sharing(session, peer)
    if not rights_of(session, peer=settings.peer, collection_id=found.id)[0]:
        raise Forbidden(
            f"peer {settings.peer} may not read collection {found.id}",
            collection=found.id,
            peer=settings.peer,
        )
    query = collection_query(
        found,
        peer_audience(settings),
        after_seq=after_seq,
        limit=limit,
        current_only=current_only,
        where=where,
    )
    if session.get_bind().dialect.name == "postgresql":
        # The planner cannot know that a page stops at its limit early, costs the query as a
        # full scan and compiles it with JIT: 190 ms of compiling for 35 ms of work on a page
        # of 1,000 of 50,000 objects. And it would rather sort every match than walk the
        # seq index and stop at the limit (as the TAXII pages found, taxii_pages._page_plan).
        # Both off for this read-only transaction only.
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL enable_sort = off"))
    return [
        SharedObject(seq, id_, kind, modified, spec, outgoing_doc(doc))
        for seq, id_, kind, modified, spec, doc in session.execute(query)
    ]


def collection_document(
    collection: Collection, *, rights: CollectionRight | None = None
) -> dict[str, Any]:
    """A collection as JSON: the TAXII collection resource fields, its root and filters.

    With ``rights`` (a peer's), ``can_read`` and ``can_write`` are that peer's.
    """
    document: dict[str, Any] = {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "alias": collection.alias,
        "community": collection.community,
        "filters": collection_filters(collection).document(),
        "created_at": collection.created_at.isoformat(),
    }
    if rights is not None:
        document["can_read"] = rights.can_read
        document["can_write"] = rights.can_write
    return document
