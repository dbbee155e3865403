"""``watchkeeper playbook``: list, validate, enable/disable, show, dry run."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import Run

GOOD = """\
name: mine
trigger: {event: detect.alert}
steps:
  - id: note
    action: add_note
    inputs: {text: "alert {{ event.payload.id }}"}
"""


def test_validate_prints_file_line_and_exits_1(run: Run, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD, encoding="utf-8")
    assert run("playbook", "validate", str(good)).code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("add_note", "add_note2").replace("inputs", "inptus"), "utf-8")
    outcome = run("playbook", "validate", str(good), str(bad))
    assert outcome.code == 1
    assert f"{bad}:5: steps.note.action: unknown action 'add_note2'" in outcome.out
    assert f"{bad}:6: steps.note.inptus: unknown key (did you mean 'inputs'?)" in outcome.out
    document = json.loads(run("playbook", "validate", str(bad), "--json").out)
    assert document["valid"] == [] and {e["line"] for e in document["errors"]} == {5, 6}


def test_list_enable_disable_show(run: Run, data_dir: Path) -> None:
    (data_dir / "playbooks").mkdir(parents=True)
    (data_dir / "playbooks" / "mine.yaml").write_text(GOOD, encoding="utf-8")
    listed = json.loads(run("playbook", "list", "--json").out)
    status = {row["name"]: row["status"] for row in listed}
    assert status["mine"] == "draft" and status["alert-escalation"] == "active"
    outcome = run("playbook", "enable", "mine")
    assert outcome.code == 0 and "enabled mine" in outcome.err
    shown = json.loads(run("playbook", "show", "mine", "--json").out)
    assert shown["status"] == "active" and shown["steps"][0]["line"] == 4
    assert run("playbook", "show", "mine", "--source").out == GOOD
    assert run("playbook", "disable", "mine").code == 0
    refused = run("playbook", "disable", "mine")
    assert refused.code == 1 and "no active version" in refused.err
    missing = run("playbook", "enable", "nope")
    assert missing.code == 1 and "no playbook 'nope'" in missing.err


def test_dry_run_of_the_demo_playbook_on_an_event_file(
    run: Run, data_dir: Path, tmp_path: Path
) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "type": "detect.alert.escalate",
                "payload": {
                    "escalation": "e1",
                    "title": "Two alerts",
                    "requested_by": "ann",
                    "again": [],
                    "alerts": [
                        {
                            "id": "a1",
                            "severity": "high",
                            "value": "evil.example",
                            "value_kind": "domain",
                        }
                    ],
                },
            }
        ),
        encoding="utf-8",
    )
    outcome = run(
        "playbook", "run", "alert-escalation", "--dry-run", "--event", str(event), "--json"
    )
    assert outcome.code == 0, outcome.err
    steps = {row["id"]: row for row in json.loads(outcome.out)["steps"]}
    assert steps["approve_block"]["approval"]["roles"] == ["responder"]
    assert steps["block"]["inputs"]["values"] == ["evil.example"]
    text = run("playbook", "run", "alert-escalation", "--dry-run", "--event", str(event))
    assert "no action runs" in text.err and "approve_block" in text.out


def test_dry_run_of_a_file_and_a_bad_event_file(run: Run, data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD, encoding="utf-8")
    event = tmp_path / "event.yaml"
    event.write_text("type: detect.alert\npayload: {id: A-7}\n", encoding="utf-8")
    outcome = run("playbook", "run", str(path), "--dry-run", "--event", str(event), "--json")
    assert json.loads(outcome.out)["steps"][1]["inputs"] == {"text": "alert A-7"}
    event.write_text("[1, 2]", encoding="utf-8")
    refused = run("playbook", "run", str(path), "--dry-run", "--event", str(event))
    assert refused.code == 2 and "expected an object" in refused.err
