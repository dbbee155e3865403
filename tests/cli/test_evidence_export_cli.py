"""``evidence export|dispose|retention`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Run, invoke, ok, ok_json

from watchkeeper.errors import Forbidden
from watchkeeper.evidence import content_path


def _setup(tmp_path: Path) -> tuple[str, dict[str, str]]:
    ok("node", "init", "--code", "QA-NCSA", "--name", "Test agency", "--country", "QA")
    case = ok_json("case", "new", "--title", "Phishing of the ministry")
    path = tmp_path / "proxy.log"
    path.write_bytes(b"GET http://bad.example/ 200\n" * 50)
    added = ok_json("evidence", "add", str(path), "--case", case["number"], "--authority", "W-1")
    return str(case["number"]), added[0]


def test_export_writes_case_and_records_custody(data_dir: Path, tmp_path: Path, run: Run) -> None:
    number, _item = _setup(tmp_path)
    out = tmp_path / "case.jsonld"
    ok(
        "evidence",
        "export",
        "--format",
        "case",
        "--case",
        number,
        "--purpose",
        "MLA",
        "-o",
        str(out),
    )
    graph = json.loads(out.read_text())["@graph"]
    assert graph[0]["@type"] == "case-investigation:Investigation"
    assert any(n.get("case-investigation:exhibitNumber") == "E-2026-0001" for n in graph)
    shown = ok_json("evidence", "show", "E-2026-0001")
    assert shown["custody"][-1]["action"] == "export"
    no_purpose = run("evidence", "export", "E-2026-0001", "-o", str(out))
    assert no_purpose.code == 2 and "--purpose" in no_purpose.err
    nothing = run("evidence", "export", "--purpose", "x", "-o", str(out))
    assert nothing.code == 2


def test_dispose_needs_two_other_approvers(data_dir: Path, tmp_path: Path, run: Run) -> None:
    _, item = _setup(tmp_path)
    ann, bob, cat = ({"LOGNAME": name} for name in ("ann", "bob", "cat"))
    held = ok_json("evidence", "retention", "E-2026-0001", "--hold", "--reason", "court", env=ann)
    assert held["legal"]["legal_hold"] is True
    refused = run("evidence", "dispose", "E-2026-0001", "--reason", "closed")
    assert refused.code == 1 and "legal hold" in refused.err
    ok("evidence", "retention", "E-2026-0001", "--release", "--reason", "lifted", env=ann)
    request = ok_json("evidence", "dispose", "E-2026-0001", "--reason", "closed", env=ann)
    with pytest.raises(Forbidden, match="requested this disposal"):
        invoke("evidence", "dispose", "--approve", request["id"], env=ann)
    ok_json("evidence", "dispose", "--approve", request["id"], env=bob)
    done = ok_json("evidence", "dispose", "--approve", request["id"], env=cat)
    assert done["status"] == "disposed" and done["content_removed"]
    assert not content_path(data_dir, item["sha256"]).exists()
    assert run("evidence", "verify", "--all").code == 0
    bad_date = run("evidence", "retention", "E-2026-0001", "--until", "tomorrow")
    assert bad_date.code == 2 and "YYYY-MM-DD" in bad_date.err
