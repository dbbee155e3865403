"""``case list|show|new|assign|status|note|merge|link|close`` through the real entry point."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from cli_helpers import Run, ok, ok_json

from watchkeeper.detect.models import Alert
from watchkeeper.testing import make_node


def _alert(data_dir: Path, database_url: str, host: str) -> str:
    """An alert row as detection writes it (no intelligence needed for these commands)."""
    node = make_node(data_dir, database_url=database_url)
    now = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    alert_id = str(uuid.uuid4())
    with node.database.transaction() as session:
        session.add(
            Alert(
                id=alert_id, key=f"sigma|rule-1|{host}|{now.isoformat()}", kind="sigma",
                title="Encoded PowerShell", severity="high", score=70, indicator_id=None,
                rule_id="rule-1", value=None, value_kind=None, host=host, organization="moh",
                window_start=now, first_seen=now, last_seen=now, count=2, status="new",
                case_id=None, retro=False, tlp=None, explanation="rule-1 matched",
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
    node.close()
    return alert_id


def test_case_lifecycle(data_dir: Path, database_url: str, run: Run) -> None:
    ok("user", "add", "bo", "--role", "responder")
    alert = _alert(data_dir, database_url, "ws-12")
    opened = ok_json("case", "new", "--title", "Encoded PowerShell", "--template",
                     "malware-infection", "--alert", alert)  # fmt: skip
    number = opened["number"]
    assert number.startswith("C-") and opened["severity"] == "high"
    child = ok_json("case", "new", "--title", "Second host", "--severity", "low", "--tlp",
                    "TLP:GREEN")  # fmt: skip
    assert child["tlp"] == "green"
    assert ok_json("case", "assign", number, "bo")["assignee"] == "bo"
    assert ok_json("case", "status", number, "contained")["status"] == "contained"
    ok("case", "note", number, "Host isolated by the ministry's IT")
    linked = ok_json("case", "link", child["number"], "--parent", number, "--campaign", "Op X")
    assert linked["parent_id"] == opened["id"] and linked["campaign"] == "Op X"
    second = _alert(data_dir, database_url, "10.9.8.7")
    merged = ok_json("case", "merge", child["id"], "--alert", second)
    assert merged["merged"] == [second]
    assert {"kind": "ipv4", "value": "10.9.8.7"} in merged["observables"]
    clash = run("case", "merge", child["number"], "--alert", alert)
    assert clash.code == 1 and alert in clash.err and "another case" in clash.err

    shown = ok_json("case", "show", number)
    assert [a["id"] for a in shown["alerts"]] == [alert]
    assert shown["notes"][0]["text"] == "Host isolated by the ministry's IT"
    assert [c["number"] for c in shown["children"]] == [child["number"]]
    kinds = [entry["kind"] for entry in shown["timeline"]]
    assert kinds.index("case.open") < kinds.index("case.assign") < kinds.index("case.note")
    text = ok("case", "show", number, env={"COLUMNS": "200"}).output
    assert "Isolate the host" in text and "assigned to bo" in text

    refused = run("case", "close", number, "--disposition", "true-positive", "--reason", "done")
    assert refused.code == 1 and "mandatory tasks open" in refused.err
    closed = ok_json("case", "close", number, "--disposition", "benign", "--reason", "admin test")
    assert closed["status"] == "closed" and closed["false_positive"] is None
    listed = ok_json("case", "list", "--status", "open")
    assert [c["number"] for c in listed["cases"]] == [child["number"]]
    table = ok("case", "list", env={"COLUMNS": "200"}).output
    assert number in table and child["number"] in table


def test_case_errors_name_what_is_wrong(data_dir: Path, run: Run) -> None:
    missing = run("case", "show", "C-2026-0404")
    assert missing.code == 1 and "no case 'C-2026-0404'" in missing.err
    bad_tlp = run("case", "new", "--title", "x", "--tlp", "purple")
    assert bad_tlp.code == 2 and "unknown TLP level 'purple'" in bad_tlp.err
    bad_template = run("case", "new", "--title", "x", "--template", "nope")
    assert bad_template.code == 2 and "phishing" in bad_template.err
    usage = run("case", "status", "C-2026-0001", "closed")
    assert usage.code == 2
    nothing = run("case", "link", "C-2026-0001")
    assert nothing.code == 2 and "--parent" in nothing.err
    number = ok_json("case", "new", "--title", "x")["number"]
    nobody = run("case", "assign", number, "ghost")
    assert nobody.code == 1 and "no user 'ghost'" in nobody.err
    audited = ok_json("audit", "list")
    assert any(e["action"] == "case.assign" and e["outcome"] == "failed" for e in audited)
