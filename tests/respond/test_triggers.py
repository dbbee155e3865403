"""Triggers: events start the active playbooks whose type pattern and filter match, once per
event even when the event is delivered again."""

from __future__ import annotations

from run_samples import Recorder, action, playbook, registry
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.bus import Event, emit
from watchkeeper.node import Node
from watchkeeper.respond.playbook_model import Playbook, Trigger
from watchkeeper.respond.run_models import PlaybookRun
from watchkeeper.respond.runner import run_due
from watchkeeper.respond.triggers import handle_event, register, unregister

HIGH = playbook(action("a"), name="high", trigger=Trigger(
    event="detect.*", filter="event.payload.severity == 'high'"))  # fmt: skip
ANY = playbook(action("a"), name="any", trigger=Trigger(event="detect.alert"))
DRAFT = playbook(action("a"), name="draft", status="draft", trigger=Trigger(event="*"))
BROKEN = playbook(action("a"), name="broken", trigger=Trigger(
    event="detect.alert", filter="event.payload.missing.deeper == 1"))  # fmt: skip


def _books(session: Session) -> list[Playbook]:
    return [HIGH, ANY, DRAFT, BROKEN]


def _emit(node: Node, type: str, severity: str) -> None:
    with node.database.transaction() as session:
        emit(session, type=type, actor="user:det", payload={"severity": severity},
             clock=node.clock)  # fmt: skip


def test_matching_playbooks_start_once(node: Node) -> None:
    woken: list[int] = []
    register(node, playbooks=_books, on_start=lambda: woken.append(1))
    try:
        _emit(node, "detect.alert", "high")
        _emit(node, "detect.alert", "low")
        _emit(node, "intel.sighting", "high")
        node.dispatcher.run_once()
    finally:
        unregister(node)
    with node.database.reader() as session:
        runs = list(session.scalars(select(PlaybookRun).order_by(PlaybookRun.event_seq)))
        first = session.scalars(select(Event).where(Event.type == "detect.alert")).first()
        assert first is not None
        # delivered again (a replay): the same runs, nothing new
        again = handle_event(session, first, node=node, playbooks=_books)
    assert sorted((r.playbook, r.event["payload"]["severity"]) for r in runs) == [
        ("any", "high"), ("any", "low"), ("high", "high"),
    ]  # fmt: skip
    assert sorted(again) == sorted(r.id for r in runs if r.event_seq == first.seq)
    assert woken  # the runner loop was woken after the commit
    assert all(r.requested_by == "user:det" for r in runs)
    report = run_due(node=node, actions=registry(Recorder()))
    assert report.ended == {"completed": 3}
