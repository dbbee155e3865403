"""Triggers: the event log starts playbooks.

The ``playbook-triggers`` subscriber sees every event, in the dispatcher's delivery transaction.
Each active playbook whose trigger type matches the event type (shell-style, ``detect.*``) and
whose filter holds for the event gets a run; the run and the subscriber's cursor commit together
and a run is unique per (playbook version, event seq), so a redelivered event starts nothing
twice. A filter that fails to evaluate on an event starts nothing and is logged: one malformed
event must not stop the playbook from seeing the next ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fnmatch import fnmatchcase

from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session

from watchkeeper.bus import Event, SubscriberCursor, event_document, last_seq
from watchkeeper.errors import InvalidInput
from watchkeeper.node import Node
from watchkeeper.respond.expressions import evaluate, run_context
from watchkeeper.respond.playbook_model import Playbook
from watchkeeper.respond.runner import start_run

log = logging.getLogger(__name__)
TRIGGER_SUBSCRIBER = "playbook-triggers"
PlaybookSource = Callable[[Session], list[Playbook]]


def _active(session: Session) -> list[Playbook]:
    from watchkeeper.respond.playbook_store import active_playbooks

    return active_playbooks(session)


def matches(playbook: Playbook, document: dict[str, object]) -> bool:
    """Whether ``playbook``'s trigger starts a run for the event ``document``."""
    trigger = playbook.trigger
    if trigger is None or not fnmatchcase(str(document.get("type", "")), trigger.event):
        return False
    if not trigger.filter:
        return True
    try:
        return bool(evaluate(trigger.filter, context=run_context(event=document),
                             where=trigger.where))  # fmt: skip
    except InvalidInput as exc:
        log.warning("playbook %s: trigger filter failed on event %s: %s", playbook.name,
                    document.get("seq"), exc.message)  # fmt: skip
        return False


def handle_event(
    session: Session, event: Event, *, node: Node, playbooks: PlaybookSource = _active
) -> list[str]:
    """Start the runs ``event`` calls for (in the caller's transaction); their ids."""
    document = event_document(event)
    started = []
    for playbook in playbooks(session):
        if playbook.status == "active" and matches(playbook, document):
            started.append(start_run(session, clock=node.clock, actor=event.actor,
                                     playbook=playbook, event=document))  # fmt: skip
    return started


def register(
    node: Node,
    *,
    playbooks: PlaybookSource = _active,
    on_start: Callable[[], None] | None = None,
) -> None:
    """Subscribe the triggers to ``node``'s dispatcher; ``on_start`` is called once a delivery
    that started runs has committed (the serving process wakes its runner loop with it)."""

    def handler(session: Session, event: Event) -> None:
        if handle_event(session, event, node=node, playbooks=playbooks) and on_start:
            orm_event.listen(session, "after_commit", lambda _s: on_start(), once=True)

    with node.database.transaction() as session:
        # The first time, start from the end of the log: playbooks act on what happens from
        # now on, not on years of history a node had before it had playbooks.
        if session.get(SubscriberCursor, TRIGGER_SUBSCRIBER) is None:
            session.add(SubscriberCursor(subscriber=TRIGGER_SUBSCRIBER,
                                         last_seq=last_seq(session), attempts=0))  # fmt: skip
    node.dispatcher.unsubscribe(TRIGGER_SUBSCRIBER)  # registering again replaces on_start
    node.dispatcher.subscribe(TRIGGER_SUBSCRIBER, handler)


def unregister(node: Node) -> None:
    """Stop starting runs from this process."""
    node.dispatcher.unsubscribe(TRIGGER_SUBSCRIBER)
