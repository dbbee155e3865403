"""The custody ledger: every touch of an item is an event chained to the one before and signed.

An event's hash is SHA-256 over the canonical JSON of all its fields including ``prev_hash``;
the node signs that hash with its Ed25519 key, so nobody without the key can rewrite a chain
and re-sign it. The item's ``custody_head`` is updated in the same transaction, so cutting
events off the end is found as well. ``anchor_ledger`` writes one hash over every item's head
into the audit ledger, tying the evidence ledger to the node's audit chain at that moment.

Who may open content: an evidence officer, or a member of the case team (responder, analyst);
admin holds every role. Per-case team membership lives in ``respond`` (a layer above), which
checks it before calling here; this module enforces the role and the stated purpose.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, canonical_json, sha256_hex, utc
from watchkeeper.errors import Conflict, IntegrityError, InvalidInput, NotFound
from watchkeeper.evidence.models import ACTIONS, KINDS, STATUSES, CustodyEvent, EvidenceItem
from watchkeeper.evidence.vault import content_path, rehash
from watchkeeper.node import Node
from watchkeeper.security import Principal, load_signing_key, record, record_change
from watchkeeper.security.models import AuditEntry

GENESIS = "0" * 64
SIGNATURE_CONTEXT = b"watchkeeper-custody-v1\n"
OPEN_ROLES = ("evidence-officer", "responder", "analyst")
EVIDENCE_LOCK = "watchkeeper.evidence"


@dataclass(frozen=True)
class Signer:
    """The node's signing key and the fingerprint events name it by."""

    key: Ed25519PrivateKey
    fingerprint: str

    def sign(self, event_hash: str) -> str:
        """Base64 Ed25519 signature of one event hash."""
        return base64.b64encode(self.key.sign(SIGNATURE_CONTEXT + event_hash.encode())).decode()


def node_signer(node: Node) -> Signer:
    """The node's signer (``NotFound`` telling to run ``node init`` when it has no keys)."""
    identity = node.identity()
    return Signer(key=load_signing_key(node.data_dir), fingerprint=identity.fingerprint)


def event_hash(
    *,
    item_id: str,
    seq: int,
    action: str,
    actor: str,
    role: str,
    at: datetime,
    location: str | None,
    purpose: str | None,
    authority_ref: str | None,
    hash_before: str | None,
    hash_after: str | None,
    detail: dict[str, Any],
    prev_hash: str,
    signer: str,
) -> str:
    """The chained hash of one custody event."""
    return sha256_hex(
        canonical_json(
            {
                "item_id": item_id,
                "seq": seq,
                "action": action,
                "actor": actor,
                "role": role,
                "at": utc(at).isoformat(),
                "location": location,
                "purpose": purpose,
                "authority_ref": authority_ref,
                "hash_before": hash_before,
                "hash_after": hash_after,
                "detail": detail,
                "prev_hash": prev_hash,
                "signer": signer,
            }
        )
    )


def record_custody(
    session: Session,
    *,
    clock: Clock,
    signer: Signer,
    item_id: str,
    action: str,
    actor: str,
    role: str,
    purpose: str | None = None,
    location: str | None = None,
    authority_ref: str | None = None,
    hash_before: str | None = None,
    hash_after: str | None = None,
    detail: dict[str, Any] | None = None,
) -> CustodyEvent:
    """Append one signed event to the item's chain and move its head, in this transaction."""
    if action not in ACTIONS:
        raise InvalidInput(
            f"unknown custody action {action!r}; valid: {', '.join(ACTIONS)}", field="action"
        )
    item = session.get(EvidenceItem, item_id, with_for_update=True)
    if item is None:
        raise NotFound(f"no evidence item {item_id!r}", field="item")
    last = session.scalar(select(func.max(CustodyEvent.seq)).where(CustodyEvent.item_id == item_id))
    seq = (last or 0) + 1
    at = clock.now()
    clean: dict[str, Any] = orjson.loads(canonical_json(detail or {}))
    digest = event_hash(
        item_id=item_id,
        seq=seq,
        action=action,
        actor=actor,
        role=role,
        at=at,
        location=location,
        purpose=purpose,
        authority_ref=authority_ref,
        hash_before=hash_before,
        hash_after=hash_after,
        detail=clean,
        prev_hash=item.custody_head,
        signer=signer.fingerprint,
    )
    event = CustodyEvent(
        item_id=item_id,
        seq=seq,
        action=action,
        actor=actor,
        role=role,
        at=at,
        location=location,
        purpose=purpose,
        authority_ref=authority_ref,
        hash_before=hash_before,
        hash_after=hash_after,
        detail=clean,
        prev_hash=item.custody_head,
        event_hash=digest,
        signature=signer.sign(digest),
        signer=signer.fingerprint,
    )
    session.add(event)
    item.custody_head = digest
    session.flush()
    return event


def find_item(session: Session, ref: str) -> EvidenceItem:
    """The item with this id or exhibit number."""
    wanted = (ref or "").strip()
    item = session.scalars(
        select(EvidenceItem).where(
            or_(EvidenceItem.id == wanted, EvidenceItem.exhibit_number == wanted)
        )
    ).first()
    if item is None:
        raise NotFound(f"no evidence item {wanted!r} (give an id or exhibit number)", field="item")
    return item


def _purpose(purpose: str | None) -> str:
    text = (purpose or "").strip()
    if not text:
        raise InvalidInput("a purpose is required for this custody action", field="purpose")
    return text


def acting_role(principal: Principal) -> str:
    """The role custody events record for this principal (the most specific it holds).

    An admin (the local operator at the CLI) acts as evidence officer here.
    """
    for role in OPEN_ROLES:
        if role in principal.roles:
            return role
    if "admin" in principal.roles:
        return "evidence-officer"
    return sorted(principal.roles)[0] if principal.roles else "none"


def _audit(
    session: Session,
    node: Node,
    principal: Principal,
    action: str,
    item: EvidenceItem,
    detail: dict[str, Any],
) -> None:
    record_change(
        session,
        clock=node.clock,
        actor=principal.actor,
        action=action,
        subject=f"evidence:{item.exhibit_number}",
        detail=detail,
    )


def checkout(
    *, node: Node, principal: Principal, item: str, purpose: str, location: str | None = None
) -> dict[str, Any]:
    """Take an item out of the vault for work; it stays checked out until checked in."""
    principal.require(*OPEN_ROLES)
    reason = _purpose(purpose)
    signer = node_signer(node)
    with node.database.transaction() as session:
        row = find_item(session, item)
        if row.status != "sealed":
            raise Conflict(
                f"{row.exhibit_number} is {row.status}; only a sealed item can be checked out",
                item=row.exhibit_number,
            )
        record_custody(
            session,
            clock=node.clock,
            signer=signer,
            item_id=row.id,
            action="check-out",
            actor=principal.actor,
            role=acting_role(principal),
            purpose=reason,
            location=location,
            hash_before=row.sha256,
        )
        row.status = "checked-out"
        _audit(session, node, principal, "evidence.check-out", row, {"purpose": reason})
        return item_document(row)


def checkin(
    *, node: Node, principal: Principal, item: str, purpose: str = "return to vault"
) -> dict[str, Any]:
    """Return an item to the vault after re-hashing its content (hash before and after)."""
    principal.require(*OPEN_ROLES)
    signer = node_signer(node)
    with node.database.reader() as session:
        sha = find_item(session, item).sha256
    current = rehash(node.data_dir, sha) if sha else None
    after = current.sha256 if current else (None if sha is None else "missing")
    with node.database.transaction() as session:
        row = find_item(session, item)
        if row.status != "checked-out":
            raise Conflict(f"{row.exhibit_number} is {row.status}, not checked out", item=item)
        match = after == row.sha256
        record_custody(
            session,
            clock=node.clock,
            signer=signer,
            item_id=row.id,
            action="check-in",
            actor=principal.actor,
            role=acting_role(principal),
            purpose=_purpose(purpose),
            hash_before=row.sha256,
            hash_after=after,
            detail={"hash_match": match},
        )
        row.status = "sealed"
        _audit(session, node, principal, "evidence.check-in", row, {"hash_match": match})
        document = item_document(row)
    if not match:
        raise IntegrityError(
            f"{document['exhibit_number']}: content hash on check-in is {after}, "
            f"expected {document['sha256']}",
            item=document["exhibit_number"],
            expected=document["sha256"],
            actual=after,
        )
    return document


@contextmanager
def open_content(
    *, node: Node, principal: Principal, item: str, purpose: str, action: str = "analyse"
) -> Iterator[IO[bytes]]:
    """A read-only handle on an item's content, after recording who opened it and why."""
    if action not in ("analyse", "export"):
        raise InvalidInput("action must be analyse or export", field="action")
    principal.require(*OPEN_ROLES)
    reason = _purpose(purpose)
    signer = node_signer(node)
    with node.database.transaction() as session:
        row = find_item(session, item)
        if row.sha256 is None:
            raise InvalidInput(f"{row.exhibit_number} has no content of its own", field="item")
        record_custody(
            session,
            clock=node.clock,
            signer=signer,
            item_id=row.id,
            action=action,
            actor=principal.actor,
            role=acting_role(principal),
            purpose=reason,
            hash_before=row.sha256,
        )
        _audit(session, node, principal, f"evidence.{action}", row, {"purpose": reason})
        path = content_path(node.data_dir, row.sha256)
    fd = os.open(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as handle:
        yield handle


def ledger_head(session: Session) -> tuple[int, str]:
    """Number of items and one hash over every item's custody head, in id order."""
    count = 0
    rows = session.execute(select(EvidenceItem.id, EvidenceItem.custody_head).order_by("id"))
    running = GENESIS
    for item_id, head in rows:
        running = sha256_hex(f"{running}:{item_id}:{head}".encode())
        count += 1
    return count, running


def anchor_ledger(session: Session, *, clock: Clock, actor: str) -> dict[str, Any]:
    """Write the head of the whole evidence ledger into the audit ledger (``evidence.anchor``)."""
    count, head = ledger_head(session)
    detail = {"items": count, "head": head}
    record(session, clock=clock, actor=actor, action="evidence.anchor", detail=detail)
    return detail


def anchor_if_changed(session: Session, *, clock: Clock, actor: str) -> dict[str, Any] | None:
    """Anchor the ledger head unless the last anchor already holds it (a serving node calls
    this periodically, so tampering with the evidence tables is also caught by the audit
    chain); None when nothing changed or the vault is empty."""
    count, head = ledger_head(session)
    last = session.scalars(
        select(AuditEntry.detail)
        .where(AuditEntry.action == "evidence.anchor")
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).first()
    if not count or (last or {}).get("head") == head:
        return None
    return anchor_ledger(session, clock=clock, actor=actor)


def item_document(item: EvidenceItem) -> dict[str, Any]:
    """An item as a JSON-ready dict."""
    return {
        "id": item.id,
        "exhibit_number": item.exhibit_number,
        "root_exhibit": item.root_exhibit,
        "parent_id": item.parent_id,
        "case_ref": item.case_ref,
        "kind": item.kind,
        "description": item.description,
        "source": item.source,
        "acquisition": item.acquisition,
        "legal": item.legal,
        "size": item.size,
        "media_type": item.media_type,
        "md5": item.md5,
        "sha1": item.sha1,
        "sha256": item.sha256,
        "blake3": item.blake3,
        "original_name": item.original_name,
        "status": item.status,
        "created_at": item.created_at,
        "created_by": item.created_by,
        "custody_head": item.custody_head,
    }


def event_document(event: CustodyEvent) -> dict[str, Any]:
    """A custody event as a JSON-ready dict."""
    return {
        "seq": event.seq,
        "action": event.action,
        "actor": event.actor,
        "role": event.role,
        "at": event.at,
        "location": event.location,
        "purpose": event.purpose,
        "authority_ref": event.authority_ref,
        "hash_before": event.hash_before,
        "hash_after": event.hash_after,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
        "event_hash": event.event_hash,
        "signature": event.signature,
        "signer": event.signer,
    }


def custody_timeline(session: Session, *, item: str) -> dict[str, Any]:
    """An item with its custody events in order."""
    row = find_item(session, item)
    events = session.scalars(
        select(CustodyEvent).where(CustodyEvent.item_id == row.id).order_by(CustodyEvent.seq)
    )
    return {**item_document(row), "custody": [event_document(e) for e in events]}


def list_items(session: Session, *, case_ref: str | None = None) -> list[dict[str, Any]]:
    """Items, optionally of one case, in exhibit order."""
    query = select(EvidenceItem).order_by(EvidenceItem.exhibit_number)
    if case_ref:
        query = query.where(EvidenceItem.case_ref == case_ref)
    return [item_document(row) for row in session.scalars(query)]


def page_of_items(
    session: Session,
    *,
    case_ref: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """A page of items in exhibit order, with the total matching the filters."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"unknown status {status!r}; valid: {', '.join(STATUSES)}", field="status"
        )
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}", field="kind")
    query = select(EvidenceItem)
    if case_ref:
        query = query.where(EvidenceItem.case_ref == case_ref)
    if status:
        query = query.where(EvidenceItem.status == status)
    if kind:
        query = query.where(EvidenceItem.kind == kind)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(EvidenceItem.exhibit_number).limit(limit).offset(offset))
    return {
        "items": [item_document(row) for row in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }
