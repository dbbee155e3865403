"""Playbook versions: loads, built-ins active, user files draft, one active version, audit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from watchkeeper.bus.models import Event
from watchkeeper.errors import Conflict, NotFound
from watchkeeper.node import Node
from watchkeeper.respond.playbook_models import PlaybookVersion
from watchkeeper.respond.playbook_store import (
    active_playbooks,
    disable_playbook,
    enable_playbook,
    get_playbook,
    list_playbooks,
    sync_playbooks,
)
from watchkeeper.security.models import AuditEntry

TEXT = """\
name: {name}
trigger: {{event: detect.alert}}
steps:
  - id: note
    action: add_note
    inputs: {{text: "{text}"}}
"""


def _sync(node: Node, folder: Path, *, builtin: bool = True) -> dict[str, Any]:
    with node.database.transaction() as session:
        report = sync_playbooks(
            session, clock=node.clock, actor="tester", paths=[folder], builtin=builtin
        )
    return report.document()


def _statuses(node: Node, name: str) -> list[tuple[int, str]]:
    with node.database.reader() as session:
        rows = session.scalars(select(PlaybookVersion).where(PlaybookVersion.name == name))
        return sorted((row.revision, row.status) for row in rows)


def test_builtins_load_active_once_and_user_files_as_draft(node: Node, tmp_path: Path) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "mine.yaml").write_text(TEXT.format(name="mine", text="one"), encoding="utf-8")
    first = _sync(node, folder)
    assert first["errors"] == []
    assert {row["name"]: row["status"] for row in first["loaded"]} == {
        "alert-escalation": "active",
        "indicator-hit-critical-asset": "active",
        "infrastructure-abroad": "active",
        "phishing-report": "active",
        "mine": "draft",
    }
    again = _sync(node, folder)
    assert again["loaded"] == [] and again["unchanged"] == 5
    with node.database.reader() as session:
        assert {p.name for p in active_playbooks(session)} == {
            "alert-escalation",
            "indicator-hit-critical-asset",
            "infrastructure-abroad",
            "phishing-report",
        }
        with pytest.raises(NotFound, match="no active version"):
            get_playbook(session, name="mine")
        assert get_playbook(session, name="mine", newest=True).status == "draft"


def test_one_active_version_per_name_and_every_change_audited(node: Node, tmp_path: Path) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    path = folder / "mine.yaml"
    path.write_text(TEXT.format(name="mine", text="one"), encoding="utf-8")
    _sync(node, folder, builtin=False)
    with node.database.transaction() as session:
        enabled = enable_playbook(session, clock=node.clock, actor="ann", name="mine")
    path.write_text(TEXT.format(name="mine", text="two"), encoding="utf-8")
    _sync(node, folder, builtin=False)
    assert _statuses(node, "mine") == [(1, "active"), (2, "draft")]
    with node.database.transaction() as session:
        enable_playbook(session, clock=node.clock, actor="ann", name="mine", version="2")
    assert _statuses(node, "mine") == [(1, "disabled"), (2, "active")]
    with node.database.transaction() as session:
        enable_playbook(
            session, clock=node.clock, actor="ann", name="mine", version=enabled["version"]
        )
        playbook = get_playbook(session, name="mine")
        assert playbook.version == enabled["version"] and playbook.status == "active"
        assert playbook.steps[0].inputs == {"text": "one"}
    assert _statuses(node, "mine") == [(1, "active"), (2, "disabled")]
    with node.database.transaction() as session:
        disable_playbook(session, clock=node.clock, actor="bob", name="mine")
        with pytest.raises(Conflict):
            disable_playbook(session, clock=node.clock, actor="bob", name="mine")
        with pytest.raises(NotFound, match="no version 'zzz'"):
            enable_playbook(session, clock=node.clock, actor="bob", name="mine", version="zzz")
    assert _statuses(node, "mine") == [(1, "disabled"), (2, "disabled")]
    with node.database.reader() as session:
        actions = [
            (entry.action, entry.actor)
            for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
            if entry.subject == "playbook:mine"
        ]
        events = session.scalars(select(Event.type).where(Event.subject == "playbook:mine")).all()
        listed = list_playbooks(session, name="mine", all_versions=True)
    assert actions == [
        ("playbook.load", "tester"),
        ("playbook.enable", "ann"),
        ("playbook.load", "tester"),
        ("playbook.enable", "ann"),
        ("playbook.enable", "ann"),
        ("playbook.disable", "bob"),
    ]
    assert sorted(set(events)) == ["playbook.disable", "playbook.enable", "playbook.load"]
    assert [row["revision"] for row in listed] == [2, 1]


def test_a_disabled_builtin_stays_off_and_a_user_version_overrides(
    node: Node, tmp_path: Path
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    _sync(node, folder)
    with node.database.transaction() as session:
        disable_playbook(session, clock=node.clock, actor="ann", name="phishing-report")
    (folder / "phish.yaml").write_text(
        TEXT.format(name="phishing-report", text="local"), encoding="utf-8"
    )
    _sync(node, folder)
    assert _statuses(node, "phishing-report") == [(1, "disabled"), (2, "draft")]
    with node.database.transaction() as session:
        enable_playbook(session, clock=node.clock, actor="ann", name="phishing-report")
        playbook = get_playbook(session, name="phishing-report")
    assert not playbook.builtin and playbook.steps[0].inputs == {"text": "local"}


def test_files_with_errors_are_reported_and_the_rest_loads(node: Node, tmp_path: Path) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "bad.yaml").write_text("name: bad\nsteps:\n  - id: a\n    kind: nope\n", "utf-8")
    (folder / "ok.yaml").write_text(TEXT.format(name="ok", text="x"), encoding="utf-8")
    report = _sync(node, folder, builtin=False)
    assert [row["name"] for row in report["loaded"]] == ["ok"]
    assert "bad.yaml:4" in report["errors"][0]["message"]
