"""Playbook files: the built-ins load; every mistake is reported with file:line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.errors import InvalidInput
from watchkeeper.respond.playbook_files import (
    builtin_playbook_files,
    load_playbooks,
    parse_playbook,
)
from watchkeeper.respond.playbook_grammar import STANDARD_ACTIONS, PlaybookErrors, version_of

GOOD = """\
name: demo
trigger:
  event: detect.alert
  filter: event.payload.severity == 'high'
steps:
  - id: open_case
    action: create_case
    inputs:
      title: "{{ event.payload.title }}"
  - id: approve
    approval: {quorum: 1, roles: [responder]}
  - id: block
    action: block
    inputs: {values: ["{{ event.payload.value }}"], reason: "case {{ steps.open_case.id }}"}
"""


def test_the_builtins_load_and_validate() -> None:
    playbooks, errors = load_playbooks(
        paths=(), texts=builtin_playbook_files(), known_actions=STANDARD_ACTIONS, builtin=True
    )
    assert errors == []
    names = {p.name for p in playbooks}
    assert names == {
        "indicator-hit-critical-asset",
        "phishing-report",
        "infrastructure-abroad",
        "alert-escalation",
    }
    escalation = next(p for p in playbooks if p.name == "alert-escalation")
    assert escalation.trigger is not None and escalation.trigger.event == "detect.alert.escalate"
    approvals = [s for s in escalation.steps if s.kind == "approval"]
    assert len(approvals) == 1 and approvals[0].approval is not None
    assert approvals[0].approval.quorum == 1 and approvals[0].approval.roles == ("responder",)


def test_a_good_file_gives_steps_with_lines_and_a_content_version() -> None:
    playbook = parse_playbook(text=GOOD, file="demo.yaml", known_actions=STANDARD_ACTIONS)
    assert [s.id for s in playbook.steps] == ["open_case", "approve", "block"]
    assert [s.kind for s in playbook.steps] == ["action", "approval", "action"]
    assert [str(s.where) for s in playbook.steps] == ["demo.yaml:6", "demo.yaml:10", "demo.yaml:12"]
    assert playbook.steps[0].side_effects and playbook.version == version_of(GOOD)
    assert len(playbook.version) == 12 and playbook.status == "draft"


H = "name: x\nsteps:\n"
BAD = [
    ("name: x\nsteps: [", 2, "not valid YAML"),
    (
        "name: x\nstep:\n  - id: a\n    action: block\n",
        2,
        "step: unknown key (did you mean 'steps'?)",
    ),
    (
        H + "  - id: a\n    action: blok\n",
        4,
        "steps.a.action: unknown action 'blok' (did you mean 'block'?)",
    ),
    (
        H + "  - id: a\n    action: enrich\n    inptus: {}\n",
        5,
        "steps.a.inptus: unknown key (did you mean 'inputs'?)",
    ),
    (
        H + "  - id: a\n    action: enrich\n  - id: a\n    action: enrich\n",
        5,
        "steps.a.id: 'a' is already used at line 3",
    ),
    (H + "  - id: a\n    kind: magic\n", 4, "steps.a.kind: 'magic' is not a kind"),
    (
        H + "  - id: c\n    expression: 'true'\n    then: nowhere\n  - id: d\n    action: enrich\n",
        3,
        "steps.c.then: no step 'nowhere'",
    ),
    (
        H + "  - id: c\n    expression: 'true'\n    then: c\n",
        3,
        "steps.c.then: a step cannot jump to itself",
    ),
    (
        H + "  - id: a\n    action: enrich\n  - id: c\n    expression: 'true'\n    then: a\n",
        5,
        "steps.c.then: 'a' comes earlier",
    ),
    (
        H + "  - id: a\n    approval: {users: [ann], quorum: 2}\n",
        4,
        "steps.a.approval.quorum: quorum 2 but only 1 users",
    ),
    (
        H + "  - id: a\n    approval:\n      roles: [responder]\n      quorum: 0\n",
        6,
        "steps.a.approval.quorum: 0 is outside 1..20",
    ),
    (
        H + "  - id: a\n    approval: {roles: [responders]}\n",
        4,
        "unknown role 'responders' (did you mean 'responder'?)",
    ),
    (
        H + "  - id: a\n    action: enrich\n    timeout: 3d\n",
        5,
        "steps.a.timeout: 259200 s is outside 1..86400 s",
    ),
    (
        H + "  - id: a\n    action: enrich\n    retries: 99\n",
        5,
        "steps.a.retries: 99 is outside 0..10",
    ),
    (
        "name: x\ntrigger:\n  event: Detect Alert\nsteps:\n  - id: a\n    action: enrich\n",
        3,
        "trigger.event: 'Detect Alert' is not an event type",
    ),
    (
        H + "  - id: a\n    action: enrich\n    when: event.payload.x ==\n",
        5,
        "steps.a.when: ",
    ),
    (
        H + "  - id: a\n    action: enrich\n    inputs:\n      v: '{{ evnt.payload }}'\n",
        6,
        "steps.a.inputs.v: ",
    ),
    (
        H
        + "  - id: a\n    action: enrich\n    inputs:\n      v: '{{ steps.later.id }}'\n"
        + "  - id: later\n    action: enrich\n",
        6,
        "steps.later is not available here",
    ),
    (
        H + "  - id: a\n    action: enrich\n    inputs: {v: '{{ item }}'}\n",
        5,
        "unknown name 'item'",
    ),
    (
        H + "  - id: a\n    action: enrich\n    on_error: retry\n",
        5,
        "steps.a.on_error: 'retry': expected fail, continue or goto",
    ),
    (
        H + "  - id: a\n    action: block\n    side_effects: false\n",
        5,
        "steps.a.side_effects: block changes things",
    ),
    ("name: x\nname: y\nsteps: []\n", 2, "name: duplicate key (first at line 1)"),
    ("title: no name\nsteps:\n  - id: a\n    action: enrich\n", 1, "name: required"),
    (
        H + "  - id: loop\n    items: event.payload.values\n",
        3,
        "steps.loop.steps: required",
    ),
    (
        H + "  - id: a\n    action: enrich\n    inputs: {v: '{% if 1 %}x{% endif %}'}\n",
        5,
        "statements",
    ),
]


@pytest.mark.parametrize(("text", "line", "expected"), BAD)
def test_each_mistake_names_file_line_and_key(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    playbooks, errors = load_playbooks(paths=[path], known_actions=STANDARD_ACTIONS)
    assert playbooks == []
    assert errors, text
    messages = [e.message for e in errors]
    matching = [m for m in messages if expected in m]
    assert matching, messages
    assert matching[0].startswith(f"{path}:{line}:"), messages
    assert all(isinstance(e, InvalidInput) and e.fields.get("file") == str(path) for e in errors)


def test_parse_raises_one_error_listing_all_problems() -> None:
    text = H + "  - id: a\n    action: blok\n  - id: b\n    action: enrich\n    retries: -1\n"
    with pytest.raises(PlaybookErrors) as caught:
        parse_playbook(text=text, file="two.yaml", known_actions=STANDARD_ACTIONS)
    assert [p.fields["line"] for p in caught.value.problems] == [4, 7]
    assert "two.yaml:4:" in caught.value.message and "two.yaml:7:" in caught.value.message


def test_action_names_are_only_checked_against_a_registry_when_given() -> None:
    text = H + "  - id: a\n    action: custom_thing\n"
    assert parse_playbook(text=text, file="x.yaml").steps[0].action == "custom_thing"


def test_nested_ids_are_unique_and_item_is_visible_inside_foreach(tmp_path: Path) -> None:
    text = """\
name: nest
steps:
  - id: each
    items: event.payload.values
    steps:
      - id: add
        action: add_observable
        inputs: {kind: domain, value: "{{ item }}"}
      - id: each
        action: enrich
"""
    with pytest.raises(PlaybookErrors, match=r"nest.yaml:9: steps.each.id: 'each' is already"):
        parse_playbook(text=text, file="nest.yaml")
    ok = text.replace("- id: each\n        action: enrich", "- id: look\n        action: enrich")
    playbook = parse_playbook(text=ok, file="nest.yaml")
    assert playbook.steps[0].kind == "foreach" and playbook.steps[0].steps[0].where is not None


def test_same_name_in_two_files_and_missing_paths_are_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD + "# edited\n", encoding="utf-8")
    playbooks, errors = load_playbooks(paths=[tmp_path, tmp_path / "nope.yaml"])
    assert [p.name for p in playbooks] == ["demo"]
    assert any("also defined by" in e.message for e in errors)
    assert any("no such file" in e.message for e in errors)


def test_alias_bombs_are_stopped() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    with pytest.raises(InvalidInput, match="YAML nodes"):
        parse_playbook(text="\n".join(lines) + "\nname: x\n", file="bomb.yaml")
