"""``events`` and ``audit`` commands: the node's two logs."""

from __future__ import annotations

import time

import click

from watchkeeper.bus import (
    event_document,
    list_dead_letters,
    newest_events,
    read_events,
    request_replay,
)
from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import message, print_json, print_table, show_rows
from watchkeeper.security import entry_document, list_entries, record_change, verify


@click.group()
def events() -> None:
    """The event log (every state change of the node)."""


@events.command("tail")
@click.option("--type", "types", multiple=True, help="Event type (x.* for a prefix); repeatable.")
@click.option("--after", default=0, type=int, help="Only events after this sequence number.")
@click.option("--limit", default=50, type=click.IntRange(1, 10_000), help="How many events.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events.")
@json_option
@pass_cli
def events_tail(
    cli: CliContext, types: tuple[str, ...], after: int, limit: int, follow: bool, as_json: bool
) -> None:
    """Print the newest events (or those after --after), oldest first."""
    node = cli.node()
    with node.database.reader() as session:
        if not after and not follow:
            rows = newest_events(session, types=types or None, limit=limit)
        else:
            rows = read_events(session, after=after, types=types or None, limit=limit)
        documents = [event_document(e) for e in rows]
    if as_json and not follow:
        print_json(documents)
        return
    if not follow:
        print_table(documents, ["seq", "occurred_at", "type", "actor", "subject"], title="events")
        return
    last = documents[-1]["seq"] if documents else after
    for document in documents:
        _line(document)
    while True:
        time.sleep(node.settings.bus_poll_seconds)
        with node.database.reader() as session:
            for event in read_events(session, after=last, types=types or None, limit=500):
                _line(event_document(event))
                last = event.seq


def _line(document: dict[str, object]) -> None:
    click.echo(
        f"{document['seq']}\t{document['occurred_at']}\t{document['type']}\t"
        f"{document['actor']}\t{document['subject'] or ''}"
    )


@events.group("dlq")
def dlq() -> None:
    """Events a subscriber kept failing on."""


@dlq.command("list")
@json_option
@pass_cli
def dlq_list(cli: CliContext, as_json: bool) -> None:
    """List dead letters awaiting replay."""
    node = cli.node()
    with node.database.reader() as session:
        rows = [
            {
                "id": d.id,
                "subscriber": d.subscriber,
                "event_seq": d.event_seq,
                "attempts": d.attempts,
                "failed_at": d.failed_at.isoformat(),
                "error": d.error,
            }
            for d in list_dead_letters(session)
        ]
    show_rows(
        rows,
        ["id", "subscriber", "event_seq", "attempts", "error"],
        as_json=as_json,
        title="dead letters",
    )


@dlq.command("replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--subscriber", default=None, help="Only this subscriber's dead letters.")
@click.option("--all", "replay_all", is_flag=True, help="Replay every pending dead letter.")
@pass_cli
@audit_failures("events.dlq.replay")
def dlq_replay(
    cli: CliContext, ids: tuple[int, ...], subscriber: str | None, replay_all: bool
) -> None:
    """Redeliver dead letters now (and queue them for a running server)."""
    if not ids and not subscriber and not replay_all:
        raise click.UsageError("give dead-letter IDS, --subscriber NAME or --all")
    node = cli.node()
    with node.database.transaction() as session:
        letters = request_replay(session, clock=node.clock, ids=ids, subscriber=subscriber)
        queued = [letter.id for letter in letters]
        record_change(
            session,
            clock=node.clock,
            actor=cli.principal.actor,
            action="events.dlq.replay",
            subject=None,
            detail={"ids": queued},
        )
    report = node.dispatcher.run_once()
    message(
        f"queued {len(queued)} dead letter(s); replayed {report.replayed} here, "
        f"{report.failed} failed again"
    )
    if report.failed:
        raise SystemExit(1)


@click.group()
def audit() -> None:
    """The audit ledger."""


@audit.command("verify")
@json_option
@pass_cli
def audit_verify(cli: CliContext, as_json: bool) -> None:
    """Check the hash chain; exit 1 naming the first bad entry if it is broken."""
    node = cli.node()
    with node.database.reader() as session:
        result = verify(session)
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "bad_seq": result.bad_seq,
                "reason": result.reason,
            }
        )
    elif result.ok:
        message(f"audit ledger intact: {result.checked} entries verified")
    else:
        message(f"audit ledger BROKEN at entry {result.bad_seq}: {result.reason}")
    if not result.ok:
        raise SystemExit(1)


@audit.command("list")
@click.option("--after", default=0, type=int, help="Only entries after this sequence number.")
@click.option("--limit", default=50, type=click.IntRange(1, 10_000), help="How many entries.")
@click.option("--action", default=None, help="Only this action.")
@json_option
@pass_cli
def audit_list(cli: CliContext, after: int, limit: int, action: str | None, as_json: bool) -> None:
    """Print ledger entries in order."""
    node = cli.node()
    with node.database.reader() as session:
        rows = [
            entry_document(e)
            for e in list_entries(session, after=after, limit=limit, action=action)
        ]
    show_rows(
        rows, ["seq", "at", "actor", "action", "subject", "outcome"], as_json=as_json, title="audit"
    )
