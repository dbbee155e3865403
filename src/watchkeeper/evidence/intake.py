"""Intake: files and directories into the vault, each with its "collect" custody event.

Order of work, so a kill at any moment leaves nothing half-registered: every path is checked
first (one unreadable file refuses the whole intake); then each file is hashed in one pass
while being copied into the write-once vault; only then, in one transaction, the item rows
and their signed "collect" events are written. Content without a row (killed before the
commit) is harmless and is reused when the intake is run again.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper import __version__
from watchkeeper.core import new_id
from watchkeeper.errors import Conflict, InvalidInput
from watchkeeper.evidence.custody import (
    EVIDENCE_LOCK,
    GENESIS,
    Signer,
    item_document,
    node_signer,
    record_custody,
)
from watchkeeper.evidence.digests import Digests
from watchkeeper.evidence.models import KINDS, EvidenceItem
from watchkeeper.evidence.vault import store_file, sweep_partial
from watchkeeper.node import Node
from watchkeeper.security import record_change
from watchkeeper.store import serialize

EXHIBIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,59}$")


@dataclass
class _Source:
    """One path given by the user and the files it stands for."""

    path: Path
    files: list[Path]
    directory: bool


def _check_paths(paths: list[Path]) -> list[_Source]:
    sources = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            if not os.access(path, os.R_OK | os.X_OK):
                raise InvalidInput(f"cannot read directory {path}", path=str(path))
            sources.append(_Source(path, files, True))
        elif path.is_file():
            sources.append(_Source(path, [path], False))
        else:
            raise InvalidInput(f"no such file or directory: {path}", path=str(path))
        for file in sources[-1].files:
            if not os.access(file, os.R_OK):
                raise InvalidInput(
                    f"cannot read {file}: permission denied; nothing was registered",
                    path=str(file),
                )
    if not sources:
        raise InvalidInput("no path given", field="paths")
    return sources


def _next_exhibit(session: Session, *, year: int) -> str:
    prefix = f"E-{year}-"
    numbers = session.scalars(
        select(EvidenceItem.exhibit_number).where(EvidenceItem.exhibit_number.like(f"{prefix}%"))
    )
    highest = 0
    for number in numbers:
        tail = number[len(prefix) :]
        if tail.isdigit():
            highest = max(highest, int(tail))
    return f"{prefix}{highest + 1:04d}"


def add_evidence(
    *,
    node: Node,
    actor: str,
    role: str,
    paths: list[Path],
    case_ref: str | None,
    exhibit: str | None = None,
    authority: str | None = None,
    kind: str = "file",
    description: str = "",
    location: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Preserve ``paths`` in the vault and register them; return the new items.

    A directory becomes one parent item (``kind``, no content) with one child item per file
    (exhibit ``<parent>/<n>``). ``on_progress(done_bytes, total_bytes)`` follows the hashing.
    """
    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}", field="kind")
    if exhibit is not None and not EXHIBIT.match(exhibit):
        raise InvalidInput(f"invalid exhibit number {exhibit!r}", field="exhibit")
    sources = _check_paths([Path(p) for p in paths])
    if exhibit is not None and len(sources) > 1:
        raise InvalidInput("--exhibit names one exhibit: give one path with it", field="exhibit")
    signer = node_signer(node)
    sweep_partial(node.data_dir)
    total = sum(file.stat().st_size for source in sources for file in source.files)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, total)

    stored: list[list[Digests]] = []
    for source in sources:
        stored.append([store_file(node.data_dir, file, on_chunk=advance) for file in source.files])

    now = node.clock.now()
    created: list[EvidenceItem] = []
    with node.database.transaction() as session:
        serialize(session, EVIDENCE_LOCK)
        for source, digests in zip(sources, stored, strict=True):
            number = exhibit or _next_exhibit(session, year=now.year)
            if session.scalar(select(EvidenceItem.id).where(EvidenceItem.exhibit_number == number)):
                raise Conflict(f"exhibit {number} already exists", field="exhibit")
            common: dict[str, Any] = {
                "actor": actor,
                "role": role,
                "case_ref": case_ref,
                "authority": authority,
                "location": location,
                "description": description,
            }
            if source.directory:
                parent = _register(
                    session,
                    node=node,
                    signer=signer,
                    number=number,
                    root=number,
                    parent_id=None,
                    kind=kind,
                    name=str(source.path),
                    digests=None,
                    **common,
                )
                created.append(parent)
                for index, (file, digest) in enumerate(zip(source.files, digests, strict=True)):
                    created.append(
                        _register(
                            session,
                            node=node,
                            signer=signer,
                            number=f"{number}/{index + 1}",
                            root=number,
                            parent_id=parent.id,
                            kind="file",
                            name=str(file.relative_to(source.path)),
                            digests=digest,
                            **common,
                        )
                    )
            else:
                created.append(
                    _register(
                        session,
                        node=node,
                        signer=signer,
                        number=number,
                        root=number,
                        parent_id=None,
                        kind=kind,
                        name=source.path.name,
                        digests=digests[0],
                        **common,
                    )
                )
        record_change(
            session,
            clock=node.clock,
            actor=actor,
            action="evidence.collect",
            subject=f"evidence:{created[0].exhibit_number}",
            detail={
                "case_ref": case_ref,
                "exhibits": [item.exhibit_number for item in created],
                "bytes": total,
            },
        )
        return [item_document(item) for item in created]


def _register(
    session: Session,
    *,
    node: Node,
    signer: Signer,
    number: str,
    root: str,
    parent_id: str | None,
    kind: str,
    name: str,
    digests: Digests | None,
    actor: str,
    role: str,
    case_ref: str | None,
    authority: str | None,
    location: str | None,
    description: str,
) -> EvidenceItem:
    now = node.clock.now()
    item = EvidenceItem(
        id=new_id(),
        exhibit_number=number,
        root_exhibit=root,
        parent_id=parent_id,
        case_ref=case_ref,
        kind=kind,
        description=description,
        source=name,
        acquisition={
            "method": "logical",
            "tool": "watchkeeper",
            "tool_version": __version__,
            "write_blocker": None,
            "acquired_by": actor,
            "role": role,
            "acquired_at": now.isoformat(),
            "location": location,
            "volatility_rank": None,
        },
        legal={
            "authority_ref": authority,
            "data_category": None,
            "privilege": [],
            "tlp": "amber",
            "legal_hold": False,
            "retention_until": None,
            "use_restrictions": [],
        },
        size=digests.size if digests else None,
        media_type=(mimetypes.guess_type(name)[0] or "application/octet-stream")
        if digests
        else None,
        md5=digests.md5 if digests else None,
        sha1=digests.sha1 if digests else None,
        sha256=digests.sha256 if digests else None,
        blake3=digests.blake3 if digests else None,
        original_name=name,
        status="sealed",
        created_at=now,
        created_by=actor,
        custody_head=GENESIS,
    )
    session.add(item)
    session.flush()
    record_custody(
        session,
        clock=node.clock,
        signer=signer,
        item_id=item.id,
        action="collect",
        actor=actor,
        role=role,
        purpose="preservation",
        location=location,
        authority_ref=authority,
        hash_after=item.sha256,
        detail=collect_detail(item),
    )
    return item


def collect_detail(item: EvidenceItem) -> dict[str, Any]:
    """What the "collect" event seals about the item: its identity and every digest."""
    return {
        "exhibit_number": item.exhibit_number,
        "root_exhibit": item.root_exhibit,
        "parent_id": item.parent_id,
        "case_ref": item.case_ref,
        "kind": item.kind,
        "size": item.size,
        "md5": item.md5,
        "sha1": item.sha1,
        "sha256": item.sha256,
        "blake3": item.blake3,
        "original_name": item.original_name,
    }
