"""Pulling a MISP feed directory, incrementally: only events whose manifest entry changed.

A MISP feed is a static directory (served over HTTP, or carried on a disk): ``manifest.json``
maps each event uuid to a summary holding its ``timestamp``, ``<uuid>.json`` holds the event,
and ``hashes.csv`` lists an MD5 per value for look-ups without the events (not needed here:
every value is in the event files). Feeds hold thousands of events and change a few a day,
so a pull compares the manifest with the timestamps kept from the last pull
(``intel_misp_feed_events``) and reads only new and changed events.

An event file that is missing or corrupt is rejected by name and the others go on; it is not
remembered, so the next pull tries it again. Only events read to their end are remembered,
after their objects are stored: a pull that dies half-way is simply repeated (a re-read
event reports its objects unchanged).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import select

from watchkeeper.core import Clock
from watchkeeper.errors import InvalidInput
from watchkeeper.intel.imports import ImportReport, Item, Progress, Reject, run_import
from watchkeeper.intel.inputs import DEFAULT_MAX_BYTES, Input, open_input
from watchkeeper.intel.misp_fields import epoch
from watchkeeper.intel.misp_import import misp_reader, parse_json
from watchkeeper.intel.models import MispFeedEvent
from watchkeeper.intel.warninglists import WarninglistMatcher
from watchkeeper.store import Database

MANIFEST = "manifest.json"


def read_manifest(
    directory: Path, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[dict[str, int], list[str]]:
    """The feed's events (uuid -> manifest timestamp) and the entries that are unusable.

    ``InvalidInput`` if there is no readable manifest: without it nothing can be pulled.
    """
    path = directory / MANIFEST
    if not path.is_file():
        raise InvalidInput(f"{path}: no {MANIFEST}; not a MISP feed directory", file=str(path))
    with open_input(Input(str(path), path), max_bytes=max_bytes) as stream:
        document = parse_json(stream.read(), name=str(path))
    if not isinstance(document, dict):
        raise InvalidInput(f"{path}: expected an object of event uuid -> summary", file=str(path))
    entries: dict[str, int] = {}
    problems: list[str] = []
    for key, summary in document.items():
        try:
            event_uuid = str(uuid.UUID(key))
            if event_uuid != key.lower() or not isinstance(summary, dict):
                raise ValueError
        except ValueError:
            problems.append(f"entry {key[:100]!r}: expected a uuid -> event summary")
            continue
        try:
            entries[event_uuid] = epoch(summary.get("timestamp"), field="timestamp")
        except InvalidInput as exc:
            problems.append(f"entry {key}: {exc.message}")
    return entries, problems


def feed_state(database: Database, *, feed_name: str) -> dict[str, int]:
    """The manifest timestamp of each event of ``feed_name`` as last pulled."""
    with database.reader() as session:
        rows = session.execute(
            select(MispFeedEvent.event_uuid, MispFeedEvent.timestamp).where(
                MispFeedEvent.feed == feed_name
            )
        )
        return {row.event_uuid: row.timestamp for row in rows}


def _remember(
    database: Database, *, clock: Clock, feed_name: str, pulled: dict[str, int], import_id: str
) -> None:
    if not pulled:
        return
    now = clock.now()
    with database.transaction() as session:
        rows = session.scalars(select(MispFeedEvent).where(MispFeedEvent.feed == feed_name))
        known = {row.event_uuid: row for row in rows}  # a feed has thousands, not millions
        for event_uuid, timestamp in pulled.items():
            row = known.get(event_uuid)
            if row is None:
                session.add(
                    MispFeedEvent(
                        feed=feed_name,
                        event_uuid=event_uuid,
                        timestamp=timestamp,
                        import_id=import_id,
                        pulled_at=now,
                    )
                )
            else:
                row.timestamp, row.import_id, row.pulled_at = timestamp, import_id, now


def import_misp_feed(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    directory: Path | str,
    feed_name: str,
    full: bool = False,
    warninglists: WarninglistMatcher | None = None,
    progress: Progress | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ImportReport:
    """Pull the new and changed events of a MISP feed directory (all of them with ``full``)."""
    if not feed_name.strip() or len(feed_name) > 200:
        raise InvalidInput("feed name: 1 to 200 characters", field="feed_name")
    folder = Path(directory)
    if not folder.is_dir():
        raise InvalidInput(f"{folder}: not a directory", file=str(folder))
    entries, problems = read_manifest(folder, max_bytes=max_bytes)
    known = {} if full else feed_state(database, feed_name=feed_name)
    pending = sorted(key for key, stamp in entries.items() if known.get(key) != stamp)
    files = {str(folder / f"{key}.json"): key for key in pending}
    pulled: dict[str, int] = {}

    def done(source: Input) -> None:
        key = files[source.name]
        pulled[key] = entries[key]

    events = misp_reader(
        [Input(name, Path(name)) for name in files], max_bytes=max_bytes, done=done
    )

    def read(reject: Callable[[Reject], None]) -> Iterator[Item]:
        for problem in problems:
            reject(Reject(str(folder / MANIFEST), None, None, problem))
        yield from events(reject)

    report = run_import(
        database,
        clock=clock,
        actor=actor,
        source=f"feed:{feed_name}",
        format="misp-feed",
        reader=read,
        warninglists=warninglists,
        progress=progress,
    )
    _remember(database, clock=clock, feed_name=feed_name, pulled=pulled, import_id=report.id)
    return report
