"""Verification of the vault: content re-hashed, every chain walked, every signature checked.

Rows are streamed with SQLAlchemy Core in (item, seq) order, never loaded as ORM objects, so
a million events cost one pass of hashing and signature checks. Each failure names the item
(exhibit), the event (seq), what was expected and what was found; every failure is reported,
not only the first.

``signatures="heads"`` checks the signature of each item's newest event only: since every
event hash covers the previous one, a valid signed head authenticates the whole chain. It is
the fast mode for very large ledgers.

With every signature checked, the signatures are most of the work (a million of them). They
are checked with libsodium (PyNaCl), about twice as fast as OpenSSL's Ed25519 here, and it
releases the GIL: worker threads check one batch of signatures while this thread hashes the
next batch's chains (``benchmarks/evidence.py``; decision 0008).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError
from sqlalchemy import Row, select

from watchkeeper.errors import InvalidInput
from watchkeeper.evidence.custody import GENESIS, SIGNATURE_CONTEXT, event_hash
from watchkeeper.evidence.models import CustodyEvent, EvidenceItem
from watchkeeper.evidence.vault import rehash
from watchkeeper.node import Node

DIGEST_FIELDS = ("size", "md5", "sha1", "sha256", "blake3")
BATCH = 500
IN_FLIGHT = 4
"""Batches of signatures queued per worker thread at most (bounds the memory they hold)."""

_Check = tuple[str, int, str, str]
"""A signature to check: (exhibit, seq, signature in base64, event hash it signs)."""


@dataclass(frozen=True)
class Failure:
    """One thing that does not verify."""

    exhibit: str
    what: str
    seq: int | None = None
    expected: Any = None
    actual: Any = None

    def line(self) -> str:
        """One line for a person."""
        where = f"{self.exhibit} event {self.seq}" if self.seq is not None else self.exhibit
        text = f"{where}: {self.what}"
        if self.expected is not None or self.actual is not None:
            text += f" (expected {self.expected}, actual {self.actual})"
        return text


@dataclass
class VerifyReport:
    """What was checked and what failed."""

    items: int = 0
    events: int = 0
    bytes_hashed: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures

    def document(self) -> dict[str, Any]:
        """The report as JSON-ready dict."""
        return {
            "ok": self.ok,
            "items": self.items,
            "events": self.events,
            "bytes_hashed": self.bytes_hashed,
            "failures": [f.__dict__ | {"line": f.line()} for f in self.failures],
        }


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def verify_evidence(
    *,
    node: Node,
    item_ids: Iterable[str] | None = None,
    rehash_content: bool = True,
    signatures: str = "all",
    on_progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Verify the named items (ids or exhibit numbers; all when ``None``).

    ``on_progress(items_done, items_total)`` follows the walk.
    """
    if signatures not in ("all", "heads"):
        raise InvalidInput("signatures must be all or heads", field="signatures")
    identity = node.identity()
    public = base64.b64decode(identity.signing_public_key)
    report = VerifyReport()
    items_table = EvidenceItem.__table__
    events_table = CustodyEvent.__table__
    workers = max(1, min(4, os.cpu_count() or 1))
    pending: deque[Future[list[Failure]]] = deque()
    with node.database.reader() as session, ThreadPoolExecutor(workers) as pool:
        query = select(items_table).order_by(items_table.c.id)
        if item_ids is not None:
            wanted = list(item_ids)
            rows: list[Row[Any]] = []
            for part in _chunks(wanted, BATCH):
                rows.extend(
                    session.execute(
                        query.where(
                            items_table.c.id.in_(part) | items_table.c.exhibit_number.in_(part)
                        )
                    )
                )
            found = {r.id for r in rows} | {r.exhibit_number for r in rows}
            missing = [ref for ref in wanted if ref not in found]
            if missing:
                raise InvalidInput(f"no evidence item {', '.join(missing)}", field="item")
        else:
            rows = list(session.execute(query))
        total = len(rows)
        for start in range(0, total, BATCH):
            batch = rows[start : start + BATCH]
            by_id = {r.id: r for r in batch}
            events = session.execute(
                select(events_table)
                .where(events_table.c.item_id.in_(list(by_id)))
                .order_by(events_table.c.item_id, events_table.c.seq)
            )
            grouped: dict[str, list[Row[Any]]] = {item_id: [] for item_id in by_id}
            for event in events:
                grouped[event.item_id].append(event)
            checks: list[_Check] = []
            for item_id, chain in grouped.items():
                _check_chain(
                    by_id[item_id],
                    chain,
                    fingerprint=identity.fingerprint,
                    all_signatures=signatures == "all",
                    report=report,
                    checks=checks,
                )
            pending.append(pool.submit(_check_signatures, public, checks))
            while len(pending) > IN_FLIGHT * workers:
                report.failures.extend(pending.popleft().result())
            if on_progress is not None:
                on_progress(min(start + BATCH, total), total)
        while pending:
            report.failures.extend(pending.popleft().result())
    if rehash_content:
        for row in rows:
            _check_content(node, row, report)
    report.items = total
    return report


def _check_signatures(public: bytes, checks: list[_Check]) -> list[Failure]:
    """The bad signatures among ``checks`` (run in a worker thread: libsodium releases the
    GIL while it checks)."""
    bad: list[Failure] = []
    for exhibit, seq, signature, digest in checks:
        try:
            raw = base64.b64decode(signature, validate=True)
            if len(raw) != 64:
                raise ValueError(len(raw))
            crypto_sign_open(raw + SIGNATURE_CONTEXT + digest.encode(), public)
        except (BadSignatureError, binascii.Error, ValueError, TypeError):
            bad.append(Failure(exhibit, "bad signature", seq, "valid", "invalid"))
    return bad


def _check_chain(
    item: Row[Any],
    chain: list[Row[Any]],
    *,
    fingerprint: str,
    all_signatures: bool,
    report: VerifyReport,
    checks: list[_Check],
) -> None:
    """Walk one item's chain: sequence, links, hashes, signer and the item's digests; the
    signatures to check are added to ``checks``."""
    fail = report.failures.append
    exhibit = item.exhibit_number
    if not chain:
        fail(Failure(exhibit, "has no custody events"))
        return
    prev, expected_seq = GENESIS, 1
    for event in chain:
        report.events += 1
        if event.seq != expected_seq:
            fail(Failure(exhibit, "custody event missing", expected_seq, expected_seq, event.seq))
            expected_seq = event.seq
        if event.prev_hash != prev:
            fail(Failure(exhibit, "chain broken: prev_hash", event.seq, prev, event.prev_hash))
        digest = event_hash(
            item_id=event.item_id,
            seq=event.seq,
            action=event.action,
            actor=event.actor,
            role=event.role,
            at=event.at,
            location=event.location,
            purpose=event.purpose,
            authority_ref=event.authority_ref,
            hash_before=event.hash_before,
            hash_after=event.hash_after,
            detail=event.detail,
            prev_hash=event.prev_hash,
            signer=event.signer,
        )
        if digest != event.event_hash:
            fail(Failure(exhibit, "event altered: event_hash", event.seq, event.event_hash, digest))
        if event.signer != fingerprint:
            fail(Failure(exhibit, "signed by another key", event.seq, fingerprint, event.signer))
        elif all_signatures or event is chain[-1]:
            checks.append((exhibit, event.seq, event.signature, event.event_hash))
        prev, expected_seq = event.event_hash, expected_seq + 1
    if item.custody_head != prev:
        fail(Failure(exhibit, "custody head", chain[-1].seq, item.custody_head, prev))
    first = chain[0]
    if first.action in ("collect", "receive"):
        for name in DIGEST_FIELDS:
            if first.detail.get(name) != getattr(item, name):
                fail(
                    Failure(
                        exhibit,
                        f"item {name} differs from collect event",
                        first.seq,
                        first.detail.get(name),
                        getattr(item, name),
                    )
                )


def _check_content(node: Node, item: Row[Any], report: VerifyReport) -> None:
    if item.sha256 is None or item.status == "disposed":
        return
    current = rehash(node.data_dir, item.sha256)
    if current is None:
        report.failures.append(Failure(item.exhibit_number, "content file missing"))
        return
    report.bytes_hashed += current.size
    for name in ("size", "md5", "sha1", "sha256"):
        if getattr(current, name) != getattr(item, name):
            report.failures.append(
                Failure(
                    item.exhibit_number,
                    f"content {name} mismatch",
                    None,
                    getattr(item, name),
                    getattr(current, name),
                )
            )
