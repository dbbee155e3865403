"""The areas of a node as the UI shows them: navigation entries and what each is for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    """One navigation entry."""

    slug: str
    title: str
    purpose: str
    available: bool = False
    pages: tuple[tuple[str, str], ...] = ()
    """The area's own pages (path, title), listed on its page."""


AREAS: tuple[Area, ...] = (
    Area(
        "intel",
        "Intelligence",
        "Collect, clean, score and correlate indicators; STIX 2.1 and MISP.",
        available=True,
    ),
    Area(
        "detect",
        "Detection",
        "Match national telemetry against intelligence and Sigma rules.",
        available=True,
        pages=(
            ("/ui/detect", "Alert queue: filter, acknowledge, close, open a case"),
            ("/ui/detect/runs", "Detection runs: what was read, found and could not be read"),
        ),
    ),
    Area(
        "respond",
        "Response",
        "Alerts become cases; playbooks act; people approve.",
        available=True,
        pages=(
            ("/ui/cases", "Cases board: every case by status, with filters"),
            ("/ui/cases/new", "Open a case (from a template, with alerts)"),
            ("/ui/playbooks/runs", "Playbook runs: status, steps, timings, errors"),
            ("/ui/approvals", "Approvals inbox: approve or deny what playbooks wait for"),
        ),
    ),
    Area(
        "evidence",
        "Evidence",
        "Hash on arrival, write-once vault, signed chain of custody.",
        available=True,
        pages=(("/ui/evidence", "Evidence vault: items per case, custody timelines, verify"),),
    ),
    Area(
        "cooperation",
        "Cooperation",
        "24/7 point of contact and central authority: preservation, disclosure, "
        "mutual legal assistance and extradition requests.",
        available=True,
        pages=(
            ("/ui/cooperation", "24/7 inbox: clocks, who is on duty, deadlines"),
            ("/ui/cooperation/new", "New outgoing request, checked before it goes"),
        ),
    ),
    Area(
        "federation",
        "Federation",
        "Share with partner nodes over TAXII 2.1 and MISP feeds.",
        available=True,
        pages=(
            ("/ui/peers", "Partner nodes: sharing settings, sync links and lag"),
            ("/ui/collections", "TAXII collections and who may read or write them"),
        ),
    ),
    Area("analytics", "Analytics", "Trace criminal networks across cases and borders."),
    Area("governance", "Governance", "Security performance indicators and the risk register."),
    Area("exercise", "Exercises", "Cyber-range scenarios replayed through the real node."),
)
AREAS_BY_SLUG = {area.slug: area for area in AREAS}
