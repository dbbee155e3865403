"""Delivering the outbox: posting due messages to partner nodes, with retries.

:func:`deliver_due` (run by the worker, or by hand) posts each due outbound message to the
partner's inbox, the request signed with the node key as every call between nodes is, and
only a receipt signed by the partner's registered key makes it ``delivered``. Anything else
leaves it ``pending`` with its attempts, the time of the next attempt and the last error, so a
partner that is offline gets it later and the state of every message is visible: an
unreachable or failing partner is retried after ``cooperation_retry_seconds`` doubling up to
``cooperation_retry_max_seconds``; a refusal (forged, mis-addressed, refused by the handler)
waits the longest delay, since sending it again at once would be refused the same way.

Messages of one peer go in the order they were queued: while one of them waits after failing
to reach the peer, the later ones wait too (a refused one does not hold them). No HTTP call is
made inside a database transaction: due messages are read first, then each answer is recorded
in short transactions, a batch at a time (a second worker that delivered the same message
meanwhile is harmless: the receiver answers a copy as a duplicate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from watchkeeper.config import Settings
from watchkeeper.cooperation.envelopes import verify_receipt
from watchkeeper.cooperation.message_models import DELIVERED, OUT, PENDING, CoopMessage
from watchkeeper.core import Clock, canonical_json
from watchkeeper.errors import IntegrityError
from watchkeeper.node import Node
from watchkeeper.security import Peer, load_signing_key, record_change, sign_request

INBOX_PATH = "/api/v1/cooperation/messages"
"""Where a node receives messages (appended to the peer's registered URL)."""
DELIVER_ACTOR = "worker:cooperation"
_ERROR_LIMIT = 1000
RECORD_BATCH = 20
"""Outcomes recorded per transaction (see :func:`_record_batch`)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off between attempts, the wait after a refusal, and the HTTP timeout."""

    backoff: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=1)
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy the node's settings give."""
        return cls(
            backoff=timedelta(seconds=settings.cooperation_retry_seconds),
            backoff_max=timedelta(seconds=settings.cooperation_retry_max_seconds),
            timeout=settings.cooperation_timeout_seconds,
        )

    def retry_delay(self, attempts: int, *, refused: bool = False) -> timedelta:
        """The wait after the ``attempts``-th failed attempt (a refusal: the longest wait)."""
        if refused:
            return self.backoff_max
        delay: timedelta = self.backoff * (2 ** min(max(attempts - 1, 0), 30))
        return min(delay, self.backoff_max)


@dataclass
class DeliveryReport:
    """What one pass of :func:`deliver_due` did; ``pending``: outbound messages still
    waiting after it (all peers)."""

    delivered: int = 0
    failed: int = 0
    pending: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "pending": self.pending,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class _Due:
    id: str
    peer: str
    envelope: dict[str, Any]
    url: str | None
    public_key: str | None


@dataclass(frozen=True)
class _Failure:
    error: str
    refused: bool
    http_status: int | None = None


def _due(node: Node, *, limit: int) -> list[_Due]:
    """Due messages in order, without those queued behind a message to the same peer that
    is waiting after a failure to reach it (a refused one does not hold the others)."""
    now = node.clock.now()
    waiting = (
        select(CoopMessage.peer, func.min(CoopMessage.seq).label("first"))
        .where(
            CoopMessage.direction == OUT,
            CoopMessage.status == PENDING,
            CoopMessage.next_attempt_at > now,
            CoopMessage.refused.is_(False),
        )
        .group_by(CoopMessage.peer)
        .subquery()
    )
    with node.database.reader() as session:
        rows = session.execute(
            select(
                CoopMessage.id, CoopMessage.peer, CoopMessage.envelope, Peer.url, Peer.public_key
            )
            .join(Peer, Peer.code == CoopMessage.peer, isouter=True)
            .join(waiting, waiting.c.peer == CoopMessage.peer, isouter=True)
            .where(
                CoopMessage.direction == OUT,
                CoopMessage.status == PENDING,
                CoopMessage.next_attempt_at <= now,
                or_(waiting.c.first.is_(None), CoopMessage.seq < waiting.c.first),
            )
            .order_by(CoopMessage.seq)
            .limit(limit)
        ).all()
    return [_Due(*row) for row in rows]


def _refusal_text(response: httpx.Response) -> str:
    try:
        problem = orjson.loads(response.content[:65536])
    except orjson.JSONDecodeError:
        return f"HTTP {response.status_code}"
    if not isinstance(problem, dict):
        return f"HTTP {response.status_code}"
    reason = problem.get("reason") or problem.get("code") or ""
    return f"HTTP {response.status_code} {reason}: {problem.get('detail', '')}".strip()


def _post(http: httpx.Client, node: Node, item: _Due, *, sender: str) -> dict[str, Any] | _Failure:
    """Send one message; the verified receipt, or why not."""
    if item.url is None or item.public_key is None:
        return _Failure(f"peer {item.peer} is no longer registered", refused=True)
    url = f"{item.url}{INBOX_PATH}"
    body = canonical_json(item.envelope)
    headers = sign_request(
        load_signing_key(node.data_dir),
        node=sender,
        method="POST",
        target=urlsplit(url).path,
        body=body,
        clock=node.clock,
    )
    headers["Content-Type"] = "application/json"
    try:
        response = http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return _Failure(f"{url}: unreachable ({type(exc).__name__}: {exc})", refused=False)
    if response.status_code != 200:
        transient = response.status_code >= 500 or response.status_code in (408, 429)
        return _Failure(
            f"{url}: {_refusal_text(response)}",
            refused=not transient,
            http_status=response.status_code,
        )
    try:
        return verify_receipt(
            orjson.loads(response.content),
            public_key=item.public_key,
            message_id=item.id,
            receiver=item.peer,
            sender=sender,
        )
    except (orjson.JSONDecodeError, IntegrityError) as exc:
        return _Failure(f"{url}: {exc}", refused=False, http_status=200)


def mark_delivered(
    session: Session, row: CoopMessage, receipt: dict[str, Any], *, clock: Clock, actor: str
) -> None:
    """Record ``row`` as delivered with the peer's verified ``receipt`` (audited and emitted
    as ``cooperation.message.delivered``, with the handler's result)."""
    row.status = DELIVERED
    row.receipt = receipt
    row.delivered_at = clock.now()
    row.next_attempt_at = None
    row.last_error = None
    row.refused = False
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="cooperation.message.delivered",
        subject=f"message:{row.id}",
        detail={
            "peer": row.peer,
            "kind": row.kind,
            "thread": row.thread,
            "attempts": row.attempts,
            "status": receipt["receipt"]["status"],
            "result": receipt["receipt"]["result"],
        },
    )


def _record(
    session: Session,
    item: _Due,
    outcome: dict[str, Any] | _Failure,
    policy: RetryPolicy,
    *,
    clock: Clock,
) -> bool:
    """Store the outcome of one attempt; whether it was recorded (not done meanwhile)."""
    row = session.get(CoopMessage, (item.id, OUT))
    if row is None or row.status != PENDING:
        return False
    row.attempts += 1
    if not isinstance(outcome, _Failure):
        mark_delivered(session, row, outcome, clock=clock, actor=DELIVER_ACTOR)
        return True
    delay = policy.retry_delay(row.attempts, refused=outcome.refused)
    row.next_attempt_at = clock.now() + delay
    row.last_error = outcome.error[:_ERROR_LIMIT]
    row.refused = outcome.refused
    record_change(
        session,
        clock=clock,
        actor=DELIVER_ACTOR,
        action="cooperation.message.failed",
        subject=f"message:{row.id}",
        detail={
            "peer": row.peer,
            "kind": row.kind,
            "thread": row.thread,
            "attempts": row.attempts,
            "refused": outcome.refused,
            "http_status": outcome.http_status,
            "error": row.last_error,
            "next_attempt_at": row.next_attempt_at.isoformat(),
        },
    )
    return True


def _record_batch(
    node: Node,
    outcomes: list[tuple[_Due, dict[str, Any] | _Failure]],
    policy: RetryPolicy,
    report: DeliveryReport,
) -> None:
    """Record the outcomes so far in one transaction (then forget them).

    One write per batch rather than per message: on SQLite every write waits for the one
    lock, and a node busy writing requests would otherwise slow its own deliveries. A crash
    before this commit only sends those messages again, and the partner answers a copy as a
    duplicate with the same receipt.
    """
    if not outcomes:
        return
    with node.database.transaction() as session:
        for item, outcome in outcomes:
            if not _record(session, item, outcome, policy, clock=node.clock):
                continue
            if isinstance(outcome, _Failure):
                report.failed += 1
                report.errors.append(
                    {"message_id": item.id, "peer": item.peer, "error": outcome.error}
                )
            else:
                report.delivered += 1
    outcomes.clear()


def deliver_due(
    node: Node, *, limit: int = 100, client: httpx.Client | None = None
) -> DeliveryReport:
    """Post up to ``limit`` due outbound messages to their peers' inboxes (``client``: the
    HTTP client to use; by default one of this call, without redirects)."""
    policy = RetryPolicy.from_settings(node.settings)
    sender = node.identity().code
    report = DeliveryReport()
    blocked: set[str] = set()
    http = client or httpx.Client(timeout=policy.timeout, follow_redirects=False)
    outcomes: list[tuple[_Due, dict[str, Any] | _Failure]] = []
    try:
        for item in _due(node, limit=limit):
            if item.peer in blocked:  # keep a peer's messages in order
                continue
            outcome = _post(http, node, item, sender=sender)
            outcomes.append((item, outcome))
            if isinstance(outcome, _Failure) and not outcome.refused:
                blocked.add(item.peer)
            if len(outcomes) >= RECORD_BATCH:
                _record_batch(node, outcomes, policy, report)
    finally:
        if client is None:
            http.close()
        _record_batch(node, outcomes, policy, report)
    with node.database.reader() as session:
        report.pending = int(
            session.scalar(
                select(func.count())
                .select_from(CoopMessage)
                .where(CoopMessage.direction == OUT, CoopMessage.status == PENDING)
            )
            or 0
        )
    return report
