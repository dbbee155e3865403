"""Importing MISP event JSON: files of events in any of MISP's wrappings, as STIX items.

MISP hands events out in three wrappings: one ``{"Event": {...}}`` (the event view, feed
files), a list of them (exports), and ``{"response": [{"Event": ...}, ...]}`` (restSearch);
all three are read here. Each event is mapped (``misp.map_event``) and its STIX objects go to
``run_import`` like any importer's, so versions, warninglists, provenance and the audit work
the same. What cannot be mapped is rejected with the file, the event and the reason: a file
that is not JSON, an event without uuid, an attribute whose value is not its type.

A file is parsed whole (MISP events are single JSON documents that must be read to the end
before their tags and timestamp are known), within ``MAX_FILE_BYTES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from watchkeeper.core import Clock
from watchkeeper.errors import InvalidInput
from watchkeeper.intel.imports import ImportReport, Item, Progress, Reader, Reject, run_import
from watchkeeper.intel.inputs import DEFAULT_MAX_BYTES, Input, open_input
from watchkeeper.intel.misp import map_event
from watchkeeper.intel.warninglists import WarninglistMatcher
from watchkeeper.store import Database

MAX_FILE_BYTES = 512 * 1024**2
"""The largest MISP JSON file read (parsed whole, it takes several times this in memory).

MISP itself fails to sync events past about 150k attributes (a 512 MB PHP limit), so real
events stay well below; a larger file is refused by name instead of exhausting memory.
"""


def parse_json(data: bytes, *, name: str) -> Any:
    """A JSON document; ``InvalidInput`` with line, column and byte of a syntax error."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            f"{name}: malformed JSON at line {exc.lineno}, column {exc.colno} "
            f"(byte {exc.pos}): {exc.msg}",
            file=name,
            line=exc.lineno,
            column=exc.colno,
            offset=exc.pos,
        ) from None


def events_in(document: Any, *, name: str) -> list[Any]:
    """The events of a MISP JSON document, each without its ``{"Event": ...}`` wrapper."""
    if isinstance(document, dict) and "response" in document:
        document = document["response"]
        if not isinstance(document, list):
            raise InvalidInput(
                f"{name}: 'response' holds no list of events (an attribute search?); "
                "export events instead",
                file=name,
            )
    items = document if isinstance(document, list) else [document]
    events = []
    for item in items:
        if isinstance(item, dict) and "Event" in item:
            events.append(item["Event"])
        elif isinstance(item, dict) and "uuid" in item and "info" in item:
            events.append(item)  # an event without its wrapper, as some tools write it
        else:
            raise InvalidInput(
                f'{name}: expected MISP events ({{"Event": ...}}), found '
                f"{type(item).__name__}"
                + (f" with keys {sorted(item)[:5]}" if isinstance(item, dict) else ""),
                file=name,
            )
    return events


def read_events(source: Input, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Any]:
    """The events of one input; ``InvalidInput`` naming the file if it cannot be read."""
    try:
        with open_input(source, max_bytes=min(max_bytes, MAX_FILE_BYTES)) as stream:
            data = stream.read()
    except OSError as exc:
        raise InvalidInput(
            f"{source.name}: cannot read: {exc.strerror or exc}", file=source.name
        ) from None
    return events_in(parse_json(data, name=source.name), name=source.name)


def event_items(
    events: Iterable[Any], *, name: str, reject: Callable[[Reject], None]
) -> Iterator[Item]:
    """The STIX items of ``events`` read from file ``name``; what fails goes to ``reject``."""
    index = 0
    for position, event in enumerate(events):
        label = event.get("uuid") if isinstance(event, dict) else None
        where = f"event {label}" if isinstance(label, str) else f"event #{position}"
        try:
            mapped = map_event(event)
        except InvalidInput as exc:
            reject(Reject(name, None, None, f"{where}: {exc.message}"))
            continue
        for problem in mapped.problems:
            place = f", attribute {problem.uuid}" if problem.uuid else ""
            reject(Reject(name, None, None, f"{where}{place}: {problem.reason}"))
        for obj in mapped.objects:
            yield name, index, obj
            index += 1


def misp_reader(
    inputs: Iterable[Input],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    done: Callable[[Input], None] | None = None,
) -> Reader:
    """The STIX items of MISP event files; ``done`` is told of each file read to its end."""

    def read(reject: Callable[[Reject], None]) -> Iterator[Item]:
        for source in inputs:
            try:
                events = read_events(source, max_bytes=max_bytes)
            except InvalidInput as exc:
                reject(Reject(source.name, None, None, exc.message))
                continue
            yield from event_items(events, name=source.name, reject=reject)
            if done is not None:
                done(source)

    return read


def import_misp(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    inputs: list[Input],
    source: str,
    warninglists: WarninglistMatcher | None = None,
    progress: Progress | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ImportReport:
    """Import MISP event JSON files (event, list, restSearch output) as STIX objects."""
    return run_import(
        database,
        clock=clock,
        actor=actor,
        source=source,
        format="misp",
        reader=misp_reader(inputs, max_bytes=max_bytes),
        warninglists=warninglists,
        progress=progress,
    )
