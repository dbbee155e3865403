"""The demo's evidence step: the case opened by the response step preserves the DNS log that
matched the campaign and a small disk image of the workstation, under a demo warrant, and
verifies both end to end (content re-hashed, custody chains and signatures checked).

The image is project-made bytes (a readable header, then seeded pseudo-random sectors), so the
demo carries no real data. A re-run finds the exhibits already preserved and only verifies.
"""

from __future__ import annotations

import random
from pathlib import Path

from sqlalchemy import select

from watchkeeper.errors import NotFound
from watchkeeper.evidence import add_evidence, find_item, verify_evidence
from watchkeeper.node import Node
from watchkeeper.respond.models import Case

AUTHORITY = "DEMO-WARRANT-001"
IMAGE_BYTES = 4 * 1024**2
IMAGE_HEADER = b"WATCHKEEPER DEMO DISK IMAGE v1\nhost=ws-07 sectors=512B seed=2026\n"
LOCATION = "Demo National CERT, evidence room 1"


def write_image(path: Path, *, size: int = IMAGE_BYTES, seed: int = 2026) -> Path:
    """A recognisable, reproducible sample "disk image" of ``size`` bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = random.Random(seed).randbytes(size - len(IMAGE_HEADER))
    path.write_bytes(IMAGE_HEADER + body)
    return path


def preserve_evidence(node: Node, *, actor: str) -> str:
    """Preserve the matched log and the sample image in the demo case; verify; one line back."""
    with node.database.reader() as session:
        case = session.scalars(select(Case).order_by(Case.created_at, Case.number)).first()
        if case is None:
            raise NotFound("no case to preserve evidence for (the response step opens it)")
        case_id, number = case.id, case.number
    samples = node.data_dir / "samples"
    wanted = (
        (f"{number}-LOG1", samples / "telemetry" / "dns.log", "log", "DNS log that matched"),
        (
            f"{number}-IMG1",
            write_image(samples / "evidence" / "ws-07.img"),
            "disk-image",
            "Disk image of workstation ws-07",
        ),
    )
    exhibits, added = [], 0
    for exhibit, path, kind, description in wanted:
        exhibits.append(exhibit)
        try:
            with node.database.reader() as session:
                find_item(session, exhibit)
            continue
        except NotFound:
            pass
        add_evidence(
            node=node,
            actor=actor,
            role="evidence-officer",
            paths=[path],
            case_ref=case_id,
            exhibit=exhibit,
            authority=AUTHORITY,
            kind=kind,
            description=f"{description} (demo)",
            location=LOCATION,
        )
        added += 1
    report = verify_evidence(node=node, item_ids=exhibits)
    assert report.ok, "; ".join(failure.line() for failure in report.failures)
    return (
        f"{', '.join(exhibits)} in case {number} under {AUTHORITY} ({added} new); verified: "
        f"{report.bytes_hashed} bytes re-hashed, {report.events} custody events signed"
    )
