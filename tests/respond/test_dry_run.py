"""Dry runs: what would run, with which inputs and approvals, without calling any action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from watchkeeper.respond.dry_run import dry_run, dry_run_text
from watchkeeper.respond.playbook_files import (
    builtin_playbook_files,
    load_playbooks,
    parse_playbook,
)
from watchkeeper.respond.playbook_model import Playbook


def _builtin(name: str) -> Playbook:
    playbooks, errors = load_playbooks(paths=(), texts=builtin_playbook_files(), builtin=True)
    assert errors == []
    return next(p for p in playbooks if p.name == name)


ESCALATION: dict[str, Any] = {
    "type": "detect.alert.escalate",
    "payload": {
        "escalation": "esc-1",
        "title": "Beaconing to evil.example",
        "requested_by": "ann",
        "alerts": [
            {"id": "a1", "severity": "high", "value": "evil.example", "value_kind": "domain"},
            {"id": "a2", "severity": "low", "value": "203.0.113.9", "value_kind": "ipv4"},
            {"id": "a3", "severity": "low", "value": None, "value_kind": None},
        ],
        "again": [],
    },
}


def test_demo_playbook_dry_run_shows_case_approval_and_block() -> None:
    rows = dry_run(playbook=_builtin("alert-escalation"), event=ESCALATION, actions=None)
    by_id = {row["id"]: row for row in rows}
    assert by_id["(trigger)"]["would_run"] is True
    case = by_id["open_case"]
    assert case["would_run"] and case["side_effects"]
    assert case["inputs"]["alert_ids"] == ["a1", "a2", "a3"]
    assert case["inputs"]["severity"] == "high"
    assert by_id["to_block"]["inputs"]["value"] == ["evil.example", "203.0.113.9"]
    assert by_id["nothing_to_block"]["next"] == "(next step)"
    approval = by_id["approve_block"]["approval"]
    assert approval["quorum"] == 1 and approval["roles"] == ["responder"]
    assert "evil.example, 203.0.113.9" in approval["prompt"]
    assert by_id["block"]["inputs"]["values"] == ["evil.example", "203.0.113.9"]
    text = dry_run_text(rows)
    assert "approve_block" in text and "[side effects]" in text


def test_nothing_to_block_jumps_over_the_approval() -> None:
    event = {
        **ESCALATION,
        "payload": {
            **ESCALATION["payload"],
            "alerts": [{"id": "a3", "severity": "low", "value": None, "value_kind": None}],
        },
    }
    rows = dry_run(playbook=_builtin("alert-escalation"), event=event)
    by_id = {row["id"]: row for row in rows}
    assert by_id["nothing_to_block"]["next"] == "done"
    assert by_id["approve_block"]["would_run"] is False
    assert by_id["block"]["would_run"] is False and by_id["done"]["would_run"] is True


def test_trigger_filter_and_when_are_evaluated_on_the_event() -> None:
    event = {
        "type": "detect.alert",
        "payload": {
            "id": "a1",
            "kind": "indicator",
            "title": "Hit",
            "severity": "medium",
            "value": "x.example",
            "value_kind": "domain",
            "host": "h1",
            "organization": "o",
            "count": 1,
            "first_seen": "2026-01-15T09:00:00+00:00",
            "tlp": None,
        },
    }
    rows = dry_run(playbook=_builtin("indicator-hit-critical-asset"), event=event)
    assert rows[0]["would_run"] is False and "manual run" in rows[0]["why"]
    by_id = {row["id"]: row for row in rows}
    assert by_id["block_value"]["would_run"] is True
    assert by_id["notify_owner"]["would_run"] is False


@dataclass(frozen=True)
class Info:
    side_effects: bool


def test_outputs_of_actions_are_placeholders_and_foreach_walks_items() -> None:
    rows = dry_run(
        playbook=_builtin("phishing-report"),
        event={"type": "respond.phishing_report", "payload": {"path": "mail.eml"}},
        actions={
            "extract_observables": Info(False),
            "enrich": Info(False),
            "create_case": Info(True),
            "add_observable": Info(True),
            "add_note": Info(True),
        },
    )
    by_id = {row["id"]: row for row in rows}
    assert by_id["extract"]["inputs"] == {"eml_path": "mail.eml"}
    assert by_id["lookup"]["would_run"] is True and "unknown" in by_id["lookup"]["why"]
    assert by_id["urls"]["items"] is None
    assert any(str(row.get("path")).startswith("urls[?].") for row in rows)
    assert rows[-1]["id"] == "known_note"


def test_a_failing_step_stops_the_dry_run_like_the_run() -> None:
    playbook = parse_playbook(
        text="name: x\nsteps:\n  - id: a\n    action: add_note\n"
        "    inputs: {text: '{{ event.payload.missing }}'}\n  - id: b\n    action: add_note\n",
        file="x.yaml",
    )
    rows = dry_run(playbook=playbook, event={"type": "manual", "payload": {}})
    assert rows[1]["fails"] and "x.yaml:3" in rows[1]["why"]
    assert rows[-1]["id"] == "(end)"
    assert "b" not in {row["id"] for row in rows}


def test_unknown_action_in_the_registry_is_a_failure() -> None:
    playbook = parse_playbook(text="name: x\nsteps:\n  - id: a\n    action: zap\n", file="x.yaml")
    rows = dry_run(playbook=playbook, event={}, actions={"block": Info(True)})
    assert "unknown action 'zap'" in rows[1]["why"]
