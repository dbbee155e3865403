"""Playbook versions in the database: load files, list, enable, disable, and what is active.

Files are the source people edit; the table remembers every text that was loaded (a version
is the hash of the text), so a run can always say which text it followed and an edit never
silently changes what runs (Shuffle's "webhooks hit half-edited workflows").

Which version is active after a load (``sync_playbooks``):

- a user file (``data_dir/playbooks/*.yaml``, or paths given) is loaded as ``draft``; a person
  enables it (``enable_playbook``), which disables the version that was active;
- a built-in is ``active`` when its name has no version yet, and a new built-in text (a
  release changed it) replaces an active built-in version. It stays ``draft`` when a person
  has taken over the name: a user version is active, or the playbook was disabled.

Every change is audited and emitted through ``record_change`` (``playbook.load``,
``playbook.enable``, ``playbook.disable``) in the caller's transaction.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.respond.playbook_files import (
    builtin_playbook_files,
    load_playbooks,
    parse_playbook,
)
from watchkeeper.respond.playbook_model import Playbook
from watchkeeper.respond.playbook_models import PlaybookVersion
from watchkeeper.security import record_change
from watchkeeper.store.locks import serialize

log = logging.getLogger(__name__)
SYNC_LOCK = "watchkeeper.playbook-sync"


@dataclass
class SyncReport:
    """What a load did: new versions (with their status), unchanged ones, and file errors."""

    loaded: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    errors: list[InvalidInput] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        """As JSON data."""
        return {
            "loaded": self.loaded,
            "unchanged": self.unchanged,
            "errors": [{"message": e.message, **e.fields} for e in self.errors],
        }


def user_playbook_dir(data_dir: Path) -> Path:
    """Where people put their playbooks: ``data_dir/playbooks``."""
    return data_dir / "playbooks"


def sync_playbooks(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    paths: Iterable[Path | str] = (),
    builtin: bool = True,
    known_actions: Collection[str] | None = None,
) -> SyncReport:
    """Load the built-ins (unless ``builtin`` is false) and the files or directories in
    ``paths``; store each new text as a version (see the module docstring for its status).
    Files with errors are reported and skipped; the others still load."""
    serialize(session, SYNC_LOCK)  # two processes starting together store each version once
    report = SyncReport()
    sources: list[tuple[list[Playbook], list[InvalidInput]]] = []
    if builtin:
        sources.append(
            load_playbooks(
                paths=(), texts=builtin_playbook_files(), builtin=True, known_actions=known_actions
            )
        )
    wanted = [Path(p) for p in paths]
    existing = [p for p in wanted if p.exists()]
    sources.append(load_playbooks(paths=existing, known_actions=known_actions))
    for playbooks, errors in sources:
        report.errors.extend(errors)
        for playbook in playbooks:
            if session.get(PlaybookVersion, (playbook.name, playbook.version)) is not None:
                report.unchanged += 1
            else:
                report.loaded.append(_store(session, clock=clock, actor=actor, playbook=playbook))
    return report


def _store(session: Session, *, clock: Clock, actor: str, playbook: Playbook) -> dict[str, Any]:
    now = clock.now()
    rows = list(
        session.scalars(select(PlaybookVersion).where(PlaybookVersion.name == playbook.name))
    )
    active = next((row for row in rows if row.status == "active"), None)
    status = "draft"
    if playbook.builtin and (not rows or (active is not None and active.builtin)):
        status = "active"
        if active is not None:
            active.status, active.disabled_at, active.disabled_by = "disabled", now, actor
    row = PlaybookVersion(
        name=playbook.name,
        version=playbook.version,
        revision=max((r.revision for r in rows), default=0) + 1,
        status=status,
        title=playbook.title,
        source=playbook.source,
        file=playbook.file,
        builtin=playbook.builtin,
        loaded_at=now,
        loaded_by=actor,
        activated_at=now if status == "active" else None,
        activated_by=actor if status == "active" else None,
    )
    session.add(row)
    session.flush()
    detail = {
        "name": row.name,
        "version": row.version,
        "revision": row.revision,
        "status": status,
        "file": row.file,
        "builtin": row.builtin,
        "replaced": active.version if status == "active" and active is not None else None,
    }
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="playbook.load",
        subject=f"playbook:{row.name}",
        detail=detail,
    )
    return detail


def playbook_document(row: PlaybookVersion) -> dict[str, Any]:
    """One version as JSON data (without its source text)."""
    playbook = _parsed_or_none(row)
    trigger = playbook.trigger if playbook is not None else None
    return {
        "name": row.name,
        "version": row.version,
        "revision": row.revision,
        "status": row.status,
        "title": row.title,
        "file": row.file,
        "builtin": row.builtin,
        "trigger": trigger.event if trigger else None,
        "filter": trigger.filter if trigger else None,
        "steps": len(playbook.steps) if playbook is not None else None,
        "loaded_at": row.loaded_at,
        "loaded_by": row.loaded_by,
        "activated_at": row.activated_at,
        "activated_by": row.activated_by,
        "disabled_at": row.disabled_at,
        "disabled_by": row.disabled_by,
    }


def list_playbooks(
    session: Session, *, name: str | None = None, all_versions: bool = False
) -> list[dict[str, Any]]:
    """Playbooks by name: per name the active version, else the newest (``all_versions``:
    every version, newest first)."""
    query = select(PlaybookVersion).order_by(PlaybookVersion.name, PlaybookVersion.revision.desc())
    if name is not None:
        query = query.where(PlaybookVersion.name == name)
    rows = list(session.scalars(query))
    if all_versions:
        return [playbook_document(row) for row in rows]
    chosen: dict[str, PlaybookVersion] = {}
    for row in rows:
        if row.name not in chosen or (
            row.status == "active" and chosen[row.name].status != "active"
        ):
            chosen[row.name] = row
    return [playbook_document(row) for row in chosen.values()]


def _row(session: Session, *, name: str, version: str | None, newest: bool) -> PlaybookVersion:
    rows = list(
        session.scalars(
            select(PlaybookVersion)
            .where(PlaybookVersion.name == name)
            .order_by(PlaybookVersion.revision.desc())
        )
    )
    if not rows:
        known = session.scalars(
            select(PlaybookVersion.name).distinct().order_by(PlaybookVersion.name)
        )
        raise NotFound(f"no playbook {name!r}; known: {', '.join(known) or 'none'}", field="name")
    if version is not None:
        for row in rows:
            if row.version == version or (version.isdigit() and row.revision == int(version)):
                return row
        versions = ", ".join(f"{r.version} (r{r.revision}, {r.status})" for r in rows)
        raise NotFound(
            f"playbook {name!r} has no version {version!r}; versions: {versions}", field="version"
        )
    active = next((row for row in rows if row.status == "active"), None)
    if active is not None:
        return active
    if newest:
        return rows[0]
    versions = ", ".join(f"{r.version} (r{r.revision}, {r.status})" for r in rows)
    raise NotFound(f"playbook {name!r} has no active version; versions: {versions}", field="name")


def get_playbook(
    session: Session, *, name: str, version: str | None = None, newest: bool = False
) -> Playbook:
    """A stored playbook: ``version`` (a hash or a revision number) or the active one; with
    ``newest``, the newest version when none is active."""
    return _playbook(_row(session, name=name, version=version, newest=newest))


def active_playbooks(session: Session) -> list[Playbook]:
    """The active version of every playbook (what triggers start). A stored text that no
    longer validates (the rules got stricter) is logged and left out, never raised."""
    rows = session.scalars(
        select(PlaybookVersion)
        .where(PlaybookVersion.status == "active")
        .order_by(PlaybookVersion.name)
    )
    found = []
    for row in rows:
        playbook = _parsed_or_none(row)
        if playbook is not None:
            found.append(playbook)
    return found


def enable_playbook(
    session: Session, *, clock: Clock, actor: str, name: str, version: str | None = None
) -> dict[str, Any]:
    """Make ``version`` (default: the newest) the active one of ``name``; the version that
    was active becomes disabled. Enabling the active version again changes nothing."""
    rows = list(session.scalars(select(PlaybookVersion).where(PlaybookVersion.name == name)))
    target = (
        _row(session, name=name, version=version, newest=True)
        if version
        else (
            max(rows, key=lambda r: r.revision)
            if rows
            else _row(session, name=name, version=None, newest=True)
        )
    )
    _playbook(target)  # refuse a text that no longer validates
    if target.status == "active":
        return playbook_document(target)
    now = clock.now()
    previous = None
    for row in rows:
        if row.status == "active":
            row.status, row.disabled_at, row.disabled_by = "disabled", now, actor
            previous = row.version
    target.status, target.activated_at, target.activated_by = "active", now, actor
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="playbook.enable",
        subject=f"playbook:{name}",
        detail={
            "name": name,
            "version": target.version,
            "revision": target.revision,
            "previous": previous,
        },
    )
    return playbook_document(target)


def disable_playbook(session: Session, *, clock: Clock, actor: str, name: str) -> dict[str, Any]:
    """Switch ``name`` off: its active version becomes disabled, so no trigger starts it
    (runs under way go on: they follow their snapshot). ``Conflict`` when none is active."""
    row = _row(session, name=name, version=None, newest=True)
    if row.status != "active":
        raise Conflict(f"playbook {name!r} has no active version", field="name")
    now = clock.now()
    row.status, row.disabled_at, row.disabled_by = "disabled", now, actor
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="playbook.disable",
        subject=f"playbook:{name}",
        detail={"name": name, "version": row.version, "revision": row.revision},
    )
    return playbook_document(row)


def count_versions(session: Session) -> int:
    """How many versions are stored (all names)."""
    return int(session.scalar(select(func.count()).select_from(PlaybookVersion)) or 0)


def _playbook(row: PlaybookVersion) -> Playbook:
    return replace(_parse(row.source, row.file, row.builtin), status=row.status)  # type: ignore[arg-type]


def _parsed_or_none(row: PlaybookVersion) -> Playbook | None:
    try:
        return _playbook(row)
    except InvalidInput as exc:
        log.warning("stored playbook %s %s does not validate: %s", row.name, row.version, exc)
        return None


@functools.lru_cache(maxsize=256)
def _parse(source: str, file: str, builtin: bool) -> Playbook:
    """Parsing is pure, so a stored text is parsed once per process."""
    return parse_playbook(text=source, file=file, builtin=builtin)
