"""The playbook runner: durable runs that end, one step transition per transaction.

``start_run`` records a run (queued when its playbook already has ``max_concurrent_runs`` in
progress). ``run_due`` takes due runs under a lease (``lease_owner``/``lease_until``: two
processes never advance the same run; a dead process's lease lapses and another resumes it)
and walks each one step at a time (:mod:`~watchkeeper.respond.run_walk`), committing every
transition.

Side effects happen once. A local action (database work) runs inside the transaction that
completes its step and writes its receipt, so a crash leaves both or neither. An external one
(HTTP, SMTP) runs in a worker thread under the step's timeout; before calling it the runner
looks for the step's receipt (``action_receipts``, keyed by run and step path, the same for
every attempt) and, if found, reuses its result instead of calling again; the key also travels
with the request (``Idempotency-Key``) so a receiver drops the resend that follows a crash
between the call and the commit.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from watchkeeper.bus import emit
from watchkeeper.config import Settings
from watchkeeper.core import Clock, new_id
from watchkeeper.errors import InvalidInput, NotFound, WatchkeeperError
from watchkeeper.node import Node
from watchkeeper.respond.actions import ActionContext, ActionRegistry, default_actions
from watchkeeper.respond.expressions import json_safe
from watchkeeper.respond.playbook_model import Playbook
from watchkeeper.respond.playbook_snapshot import restore, snapshot
from watchkeeper.respond.run_models import (
    RUN_ACTIVE,
    RUN_ENDED,
    ActionReceipt,
    PlaybookApproval,
    PlaybookRun,
    PlaybookStep,
)
from watchkeeper.respond.run_walk import Act, Blocked, Ended, Failed, Progressed, Scope, Walk

log = logging.getLogger(__name__)
LEASE_SECONDS = 30.0
MAX_TRANSITIONS = 500  # per run and pass: a long run yields to the others, then goes on


class ActionTimeout(WatchkeeperError):
    """An action attempt ran past its step's timeout."""

    code = "playbook.action.timeout"
    status = 504
    title = "Action timed out"


class _LeaseLost(Exception):
    """Another process took the run over, or it ended meanwhile: drop this transaction."""


@dataclass
class RunnerReport:
    """What one ``run_due`` pass did."""

    claimed: int = 0
    promoted: int = 0
    actions: int = 0
    ended: dict[str, int] = field(default_factory=dict)
    waiting: int = 0
    lost: int = 0

    def document(self) -> dict[str, Any]:
        """As JSON."""
        return {"claimed": self.claimed, "promoted": self.promoted, "actions": self.actions,
                "ended": dict(self.ended), "waiting": self.waiting, "lost": self.lost}  # fmt: skip


def default_owner() -> str:
    """This process's name in leases: host, process id and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


# -- starting -------------------------------------------------------------------------------
def _active_count(session: Session, playbook: str | None = None) -> int:
    query = select(func.count()).select_from(PlaybookRun)
    query = query.where(PlaybookRun.status.in_(("running", "waiting")))
    if playbook is not None:
        query = query.where(PlaybookRun.playbook == playbook)
    return int(session.scalar(query) or 0)


def start_run(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    playbook: Playbook,
    event: dict[str, Any],
) -> str:
    """Record a run of ``playbook`` for ``event`` and return its id.

    An event (``seq``) starts a given playbook version once: asking again returns the first
    run. Past the playbook's ``max_concurrent_runs`` the run waits ``queued``.
    """
    seq = event.get("seq")
    event_seq = int(seq) if isinstance(seq, int) else None
    if event_seq is not None:
        existing = session.scalar(
            select(PlaybookRun.id).where(
                PlaybookRun.playbook == playbook.name,
                PlaybookRun.version == playbook.version,
                PlaybookRun.event_seq == event_seq,
            )
        )
        if existing is not None:
            return existing
    now = clock.now()
    full = _active_count(session, playbook.name) >= playbook.max_concurrent_runs
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    case_id = payload.get("case_id") if isinstance(payload, dict) else None
    run = PlaybookRun(
        id=new_id(), playbook=playbook.name, version=playbook.version,
        status="queued" if full else "running", reason=None, event_seq=event_seq,
        event=json_safe(event), vars=json_safe(dict(playbook.vars)), definition=snapshot(playbook),
        case_id=str(case_id)[:36] if case_id else None, requested_by=actor[:200],
        created_at=now, started_at=None if full else now,
        deadline_at=now + timedelta(seconds=playbook.timeout_seconds), wake_at=None,
    )  # fmt: skip
    session.add(run)
    session.flush()
    emit(session, type="playbook.run.started", actor=actor, subject=f"run:{run.id}", clock=clock,
         payload={"run_id": run.id, "playbook": playbook.name, "version": playbook.version,
                  "event_seq": event_seq, "status": run.status})  # fmt: skip
    return run.id


# -- leases ---------------------------------------------------------------------------------
def _claim(session: Session, *, run_id: str, owner: str, now: datetime, seconds: float) -> bool:
    result = session.execute(
        update(PlaybookRun)
        .where(
            PlaybookRun.id == run_id,
            PlaybookRun.status.in_(("running", "waiting")),
            or_(
                PlaybookRun.lease_until.is_(None),
                PlaybookRun.lease_until < now,
                PlaybookRun.lease_owner == owner,
            ),
        )
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
    )
    return bool(getattr(result, "rowcount", 0))


def _held(session: Session, run_id: str, owner: str, now: datetime) -> PlaybookRun:
    run = session.get(PlaybookRun, run_id, populate_existing=True)
    if run is None or run.status in RUN_ENDED or run.lease_owner != owner:
        raise _LeaseLost(run_id)
    return run


def _promote(session: Session, *, settings: Settings, now: datetime) -> int:
    """Queued runs become running while their playbook and the node have room."""
    room = settings.respond_max_concurrent_runs - _active_count(session)
    promoted = 0
    if room <= 0:
        return 0
    queued = session.scalars(
        select(PlaybookRun).where(PlaybookRun.status == "queued").order_by(PlaybookRun.created_at)
        .limit(room * 4)
    )  # fmt: skip
    counts: dict[str, int] = {}
    for run in queued:
        if promoted >= room:
            break
        limit = int(run.definition.get("max_concurrent_runs", 10))
        if run.playbook not in counts:
            counts[run.playbook] = _active_count(session, run.playbook)
        if counts[run.playbook] >= limit:
            continue
        run.status, run.started_at = "running", now
        counts[run.playbook] += 1
        promoted += 1
    return promoted


# -- ending ---------------------------------------------------------------------------------
def finish_run(session: Session, *, run: PlaybookRun, status: str, reason: str, now: datetime,
               actor: str | None = None) -> None:  # fmt: skip
    """End ``run`` with ``status`` and ``reason``; steps still open are cancelled, approvals
    still pending expire; a failed run tied to a case gets a case note saying why."""
    run.status, run.reason, run.finished_at = status, reason[:4000], now
    run.wake_at = run.lease_owner = run.lease_until = None
    for row in session.scalars(
        select(PlaybookStep).where(
            PlaybookStep.run_id == run.id,
            PlaybookStep.status.in_(("pending", "running", "waiting")),
        )
    ):
        row.status = "timed-out" if status == "timed-out" else "cancelled"
        row.error = row.error or f"run {status}: {reason}"[:4000]
        row.finished_at, row.wake_at = now, None
    for approval in session.scalars(
        select(PlaybookApproval).where(
            PlaybookApproval.run_id == run.id, PlaybookApproval.status == "pending"
        )
    ):
        approval.status, approval.decided_at = "expired", now
    who = actor or f"playbook:{run.playbook}"
    emit(session, type=f"playbook.run.{status}", actor=who, subject=f"run:{run.id}",
         occurred_at=now, payload={"run_id": run.id, "playbook": run.playbook,
                                   "status": status, "reason": run.reason})  # fmt: skip
    if status != "completed" and run.case_id:
        _case_note(session, run=run, case_id=run.case_id, now=now, actor=who)


def _case_note(
    session: Session, *, run: PlaybookRun, case_id: str, now: datetime, actor: str
) -> None:
    try:
        from watchkeeper.respond.cases import add_note
    except ImportError:  # the cases module is not there: nothing to note in
        return
    text = f"Playbook {run.playbook} run {run.id} {run.status}: {run.reason}"
    try:
        with session.begin_nested():
            add_note(session, clock=_At(now), actor=actor, case_id=case_id, text=text)
    except WatchkeeperError as exc:
        log.warning("cannot note run %s in case %s: %s", run.id, run.case_id, exc)


@dataclass(frozen=True)
class _At:
    """A clock stopped at one instant (the transaction's now)."""

    moment: datetime

    def now(self) -> datetime:
        return self.moment


# -- advancing ------------------------------------------------------------------------------
@dataclass
class _Runner:
    node: Node
    owner: str
    actions: ActionRegistry
    report: RunnerReport

    @property
    def clock(self) -> Clock:
        return self.node.clock

    def advance(self, run_id: str) -> str:
        """Walk one leased run until it blocks, ends, or has made ``MAX_TRANSITIONS``."""
        for _ in range(MAX_TRANSITIONS):
            try:
                act = self._transition(run_id)
            except _LeaseLost:
                self.report.lost += 1
                return "lost"
            if isinstance(act, str):
                return act
            if act is not None:
                self._act(run_id, act)
        with self.node.database.transaction() as session:
            session.execute(update(PlaybookRun).where(PlaybookRun.id == run_id,
                            PlaybookRun.lease_owner == self.owner)
                            .values(lease_owner=None, lease_until=None))  # fmt: skip
        return "yielded"

    def _transition(self, run_id: str) -> Act | str | None:
        with self.node.database.transaction() as session:
            now = self.clock.now()
            run = _held(session, run_id, self.owner, now)
            run.lease_until = now + timedelta(seconds=LEASE_SECONDS)
            if now >= run.deadline_at:
                timeout = run.definition.get("timeout_seconds")
                finish_run(
                    session,
                    run=run,
                    status="timed-out",
                    now=now,
                    reason=f"run deadline passed ({timeout} s after it was created)",
                )
                self._ended("timed-out")
                return "ended"
            playbook = restore(run.definition)
            walk = Walk(session, run, now=now,
                        approval_ttl=self.node.settings.respond_approval_ttl_seconds)  # fmt: skip
            move = walk.sequence(playbook.steps, Scope())
            if isinstance(move, Ended):
                finish_run(session, run=run, status="completed", reason="all steps ended", now=now)
                self._ended("completed")
                return "ended"
            if isinstance(move, Failed):
                finish_run(session, run=run, status="failed", reason=move.reason, now=now)
                self._ended("failed")
                return "ended"
            if isinstance(move, Blocked):
                run.status, run.wake_at = "waiting", move.until
                run.lease_owner = run.lease_until = None
                self.report.waiting += 1
                return "waiting"
            run.status, run.wake_at = "running", None
            if isinstance(move, Progressed):
                return None
            row = session.get_one(PlaybookStep, move.row_id)
            row.status, row.inputs, row.started_at = "running", move.inputs, now
            row.wake_at = None
            run.lease_until = now + timedelta(seconds=move.step.timeout_seconds + LEASE_SECONDS)
            return move

    def _ended(self, status: str) -> None:
        self.report.ended[status] = self.report.ended.get(status, 0) + 1

    def _context(self, run: PlaybookRun, act: Act, session: Session | None) -> ActionContext:
        return ActionContext(
            clock=self.clock, settings=self.node.settings, actor=f"playbook:{run.playbook}",
            run_id=run.id, step_path=act.path, idempotency_key=f"{run.id}:{act.path}",
            timeout=act.step.timeout_seconds, event=dict(run.event), vars=dict(run.vars),
            case_id=run.case_id, session=session,
        )  # fmt: skip

    def _act(self, run_id: str, act: Act) -> None:
        """Call the action of ``act`` once (or reuse its receipt) and record the outcome."""
        self.report.actions += 1
        step = act.step
        try:
            spec = self.actions.get(step.action or "")
            inputs = spec.parse(act.inputs, where=str(step.where or ""))
        except (NotFound, InvalidInput) as exc:
            self._failed(run_id, act, exc.message, permanent=True)
            return
        side_effects = spec.side_effects or step.side_effects
        key = f"{run_id}:{act.path}"
        try:
            if side_effects:
                with self.node.database.reader() as session:
                    receipt = session.get(ActionReceipt, key)
                    result = receipt.result if receipt is not None else None
                if receipt is not None:
                    self._complete(run_id, act, result, receipt=None)
                    return
            if spec.local:
                with self.node.database.transaction() as session:
                    run = _held(session, run_id, self.owner, self.clock.now())
                    ctx = self._context(run, act, session)
                    output = json_safe(spec.run(ctx, inputs))
                    self._record(session, run, act, output, ctx=ctx,
                                 receipt=(key, spec.name) if side_effects else None)  # fmt: skip
                return
            with self.node.database.reader() as session:
                ctx = self._context(session.get_one(PlaybookRun, run_id), act, None)
            output = json_safe(_call(spec.run, ctx, inputs, timeout=step.timeout_seconds,
                                     name=spec.name))  # fmt: skip
            self._complete(run_id, act, output,
                           receipt=(key, spec.name) if side_effects else None)  # fmt: skip
        except _LeaseLost:
            self.report.lost += 1
        except ActionTimeout as exc:
            self._failed(run_id, act, exc.message, permanent=False, timed_out=True)
        except (InvalidInput, NotFound) as exc:
            self._failed(run_id, act, exc.message, permanent=True)
        except WatchkeeperError as exc:
            self._failed(run_id, act, exc.message, permanent=False)
        except Exception as exc:
            self._failed(run_id, act, f"{type(exc).__name__}: {exc}", permanent=False)

    def _complete(self, run_id: str, act: Act, output: Any,
                  receipt: tuple[str, str] | None) -> None:  # fmt: skip
        with self.node.database.transaction() as session:
            run = _held(session, run_id, self.owner, self.clock.now())
            self._record(session, run, act, output, ctx=None, receipt=receipt)

    def _record(self, session: Session, run: PlaybookRun, act: Act, output: Any, *,
                ctx: ActionContext | None, receipt: tuple[str, str] | None) -> None:  # fmt: skip
        now = self.clock.now()
        if receipt is not None and session.get(ActionReceipt, receipt[0]) is None:
            session.add(ActionReceipt(key=receipt[0], action=receipt[1], result=output, at=now))
        row = session.get_one(PlaybookStep, act.row_id)
        if row.status != "running":
            raise _LeaseLost(run.id)
        row.status, row.output, row.error, row.finished_at = "completed", output, None, now
        if ctx is not None:
            if ctx.vars != run.vars:
                run.vars = json_safe(ctx.vars)
            if ctx.case_id and ctx.case_id != run.case_id:
                run.case_id = ctx.case_id

    def _failed(self, run_id: str, act: Act, error: str, *, permanent: bool,
                timed_out: bool = False) -> None:  # fmt: skip
        step = act.step
        try:
            with self.node.database.transaction() as session:
                now = self.clock.now()
                run = _held(session, run_id, self.owner, now)
                row = session.get_one(PlaybookStep, act.row_id)
                if row.status != "running":
                    return
                if not permanent and row.attempt <= step.retries:
                    row.error = f"attempt {row.attempt}: {error}"[:4000]
                    row.attempt += 1
                    row.status = "pending"
                    row.wake_at = now + timedelta(seconds=step.retry_delay_seconds)
                    return
                attempts = f" after {row.attempt} attempts" if row.attempt > 1 else ""
                row.status = "timed-out" if timed_out else "failed"
                row.error = f"action {step.action}{attempts}: {error}"[:4000]
                row.finished_at, row.wake_at = now, None
                _ = run
        except _LeaseLost:
            self.report.lost += 1


def _call(function: Callable[[ActionContext, Any], Any], ctx: ActionContext, inputs: Any, *,
          timeout: float, name: str) -> Any:  # fmt: skip
    """Run an external action in a worker thread; give up on it after ``timeout`` seconds.

    A thread that hangs past its timeout is abandoned (a daemon: it never keeps the process
    alive); the actions set their own socket timeouts too, so it ends soon after anyway.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["value"] = function(ctx, inputs)
        except BaseException as exc:  # handed to the runner's thread, which decides
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name=f"playbook-action-{name}", daemon=True).start()
    if not done.wait(timeout):
        raise ActionTimeout(f"timed out after {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


# -- entry points ---------------------------------------------------------------------------
def run_due(
    *,
    node: Node,
    limit: int = 100,
    owner: str | None = None,
    actions: ActionRegistry | None = None,
) -> RunnerReport:
    """Promote queued runs that have room, then lease up to ``limit`` due runs and advance
    each until it waits or ends."""
    owner = owner or default_owner()
    report = RunnerReport()
    runner = _Runner(node, owner, actions or default_actions(), report)
    now = node.clock.now()
    with node.database.transaction() as session:
        report.promoted = _promote(session, settings=node.settings, now=now)
        due = list(
            session.scalars(
                select(PlaybookRun.id)
                .where(
                    or_(
                        PlaybookRun.status == "running",
                        (PlaybookRun.status == "waiting") & (PlaybookRun.wake_at <= now),
                    ),
                    or_(PlaybookRun.lease_until.is_(None), PlaybookRun.lease_until < now),
                )
                .order_by(PlaybookRun.created_at)
                .limit(limit)
            )
        )
        claimed = [
            run_id for run_id in due
            if _claim(session, run_id=run_id, owner=owner, now=now, seconds=LEASE_SECONDS)
        ]  # fmt: skip
    report.claimed = len(claimed)
    for run_id in claimed:
        runner.advance(run_id)
    return report


def advance_run(
    *, node: Node, run_id: str, owner: str | None = None, actions: ActionRegistry | None = None
) -> str:
    """Advance one run now (if no other process holds it) until it waits or ends; returns
    ``waiting``, ``ended``, ``lost``, ``busy`` or ``yielded``."""
    owner = owner or default_owner()
    with node.database.transaction() as session:
        _promote(session, settings=node.settings, now=node.clock.now())
        if not _claim(session, run_id=run_id, owner=owner, now=node.clock.now(),
                      seconds=LEASE_SECONDS):  # fmt: skip
            return "busy"
    runner = _Runner(node, owner, actions or default_actions(), RunnerReport())
    return runner.advance(run_id)


def start_manual_run(
    *,
    node: Node,
    actor: str,
    playbook_name: str,
    event: dict[str, Any],
    actions: ActionRegistry | None = None,
) -> dict[str, Any]:
    """Start the current version of ``playbook_name`` by hand with ``event`` (a document like
    the log's: type, payload...), run it until it waits or ends, and return the run."""
    from watchkeeper.respond.playbook_store import get_playbook
    from watchkeeper.respond.run_views import run_document

    document = {"type": "manual", "payload": {}, **event, "actor": actor}
    document.pop("seq", None)  # a hand-made event never counts as a logged one
    with node.database.transaction() as session:
        playbook = get_playbook(session, name=playbook_name, newest=True)
        run_id = start_run(session, clock=node.clock, actor=actor, playbook=playbook,
                           event=document)  # fmt: skip
    advance_run(node=node, run_id=run_id, actions=actions)
    with node.database.reader() as session:
        return run_document(session, run_id=run_id)


def is_active(status: str) -> bool:
    """Whether a run in ``status`` has yet to end."""
    return status in RUN_ACTIVE
