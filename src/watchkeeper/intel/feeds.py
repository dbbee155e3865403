"""The feeds registry: named feed definitions, and pulling them (local path or http(s) URL).

A feed is added once (``feeds add``) and pulled on demand or by a scheduler: a pull reads the
definition stored in ``intel_feeds``, fetches the list (a local file or directory is read in
place; a URL is streamed to a temporary file under a timeout and a byte cap, so a huge or
endless response cannot fill the disk), and imports it with ``import_text`` or, for MISP feeds,
``import_misp_feed``. Adding and removing are audited; each pull is audited by the import.
Removing a feed keeps its indicators: they expire by their own ``valid_until``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.errors import Conflict, InvalidInput, NotFound, WatchkeeperError
from watchkeeper.intel.feed_definitions import FeedSpec, parse_definition
from watchkeeper.intel.imports import ImportReport, Progress
from watchkeeper.intel.inputs import Input, expand
from watchkeeper.intel.misp_feed import MANIFEST, feed_state, import_misp_feed, read_manifest
from watchkeeper.intel.models import FeedDefinition, MispFeedEvent
from watchkeeper.intel.text_feeds import import_text
from watchkeeper.intel.warninglists import WarninglistMatcher
from watchkeeper.security import record_change
from watchkeeper.store import Database

DEFAULT_DOWNLOAD_BYTES = 512 * 1024**2
DEFAULT_TIMEOUT = 60.0
CHUNK_BYTES = 64 * 1024


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def add_feed(session: Session, *, clock: Clock, actor: str, definition: FeedSpec) -> None:
    """Register a feed under its name; ``Conflict`` if the name is taken."""
    if definition.source is None:
        raise InvalidInput(
            f"feed {definition.name}: a source (path or URL) is needed", field="source"
        )
    if session.get(FeedDefinition, definition.name) is not None:
        raise Conflict(
            f"feed {definition.name} already exists; remove it first", name=definition.name
        )
    document = definition.document()
    session.add(FeedDefinition(name=definition.name, definition=document, created_at=clock.now()))
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="feed.add",
        subject=f"feed:{definition.name}",
        detail=document,
    )


def get_feed(session: Session, *, name: str) -> FeedSpec:
    """The stored definition of feed ``name``, checked again; ``NotFound`` if there is none."""
    row = session.get(FeedDefinition, name)
    if row is None:
        raise NotFound(f"no feed named {name!r} (see feeds list)", name=name)
    return parse_definition(row.definition, where=f"feed {name}")


def list_feeds(session: Session) -> list[dict[str, Any]]:
    """Every registered feed: its definition and when it was last pulled, by name."""
    rows = session.scalars(select(FeedDefinition).order_by(FeedDefinition.name))
    return [
        {
            **row.definition,
            "created_at": row.created_at.isoformat(),
            "last_pull_at": row.last_pull_at.isoformat() if row.last_pull_at else None,
            "last_import_id": row.last_import_id,
        }
        for row in rows
    ]


def remove_feed(session: Session, *, clock: Clock, actor: str, name: str) -> None:
    """Forget a feed (and a MISP feed's pull state); its indicators stay until they expire."""
    row = session.get(FeedDefinition, name)
    if row is None:
        raise NotFound(f"no feed named {name!r} (see feeds list)", name=name)
    session.delete(row)
    session.execute(delete(MispFeedEvent).where(MispFeedEvent.feed == name))
    record_change(session, clock=clock, actor=actor, action="feed.remove", subject=f"feed:{name}")


def download(url: str, destination: Path, *, max_bytes: int, timeout: float) -> None:
    """Stream ``url`` to ``destination``; refused past ``max_bytes`` (announced or received)."""
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code != 200:
                raise WatchkeeperError(
                    f"{url}: the server answered HTTP {response.status_code}",
                    code="feed.download_failed",
                    url=url,
                )
            announced = response.headers.get("content-length", "")
            if announced.isdigit() and int(announced) > max_bytes:
                raise _too_big(url, max_bytes)
            received = 0
            with destination.open("wb") as out:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    received += len(chunk)
                    if received > max_bytes:
                        raise _too_big(url, max_bytes)
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise WatchkeeperError(
            f"{url}: download failed: {type(exc).__name__}: {exc}",
            code="feed.download_failed",
            url=url,
        ) from None


def _too_big(url: str, max_bytes: int) -> InvalidInput:
    return InvalidInput(
        f"{url}: more than {max_bytes} bytes; refused as a safeguard", url=url, field="source"
    )


def _fetch_misp_feed(
    database: Database, *, url: str, name: str, folder: Path, max_bytes: int, timeout: float
) -> None:
    """Download a remote MISP feed's manifest and the events changed since the last pull."""
    base = url.rstrip("/")
    download(f"{base}/{MANIFEST}", folder / MANIFEST, max_bytes=max_bytes, timeout=timeout)
    entries, _problems = read_manifest(folder, max_bytes=max_bytes)
    known = feed_state(database, feed_name=name)
    for key in sorted(key for key, stamp in entries.items() if known.get(key) != stamp):
        try:
            download(
                f"{base}/{key}.json", folder / f"{key}.json", max_bytes=max_bytes, timeout=timeout
            )
        except WatchkeeperError:
            (folder / f"{key}.json").unlink(missing_ok=True)  # rejected as missing, tried again


def pull_feed(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    name: str,
    progress: Progress | None = None,
    warninglists: WarninglistMatcher | None = None,
    max_bytes: int = DEFAULT_DOWNLOAD_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
) -> ImportReport:
    """Fetch and import feed ``name`` now; the report is the import's (source ``feed:NAME``)."""
    with database.reader() as session:
        spec = get_feed(session, name=name)
    assert spec.source is not None  # add_feed requires one
    with tempfile.TemporaryDirectory(prefix="watchkeeper-feed-") as scratch:
        folder = Path(scratch)
        if spec.format == "misp-feed":
            directory = Path(spec.source)
            if _is_url(spec.source):
                _fetch_misp_feed(
                    database, url=spec.source, name=name, folder=folder,
                    max_bytes=max_bytes, timeout=timeout,
                )  # fmt: skip
                directory = folder
            report = import_misp_feed(
                database,
                clock=clock,
                actor=actor,
                directory=directory,
                feed_name=name,
                warninglists=warninglists,
                progress=progress,
            )
        else:
            if _is_url(spec.source):
                target = folder / "list"
                download(spec.source, target, max_bytes=max_bytes, timeout=timeout)
                inputs = [Input(spec.source, target)]
            else:
                inputs = expand([spec.source])
            report = import_text(
                database,
                clock=clock,
                actor=actor,
                inputs=inputs,
                definition=spec,
                source=f"feed:{name}",
                warninglists=warninglists,
                progress=progress,
                max_bytes=max_bytes,
            )
    with database.transaction() as session:
        row = session.get(FeedDefinition, name)
        if row is not None:  # removed while it was being pulled: nothing to update
            row.last_pull_at, row.last_import_id = clock.now(), report.id
    return report
