"""``evidence add|list|show|verify|checkout|checkin`` through the real entry point."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import Run, ok, ok_json

from watchkeeper.evidence import content_path


def _setup(tmp_path: Path) -> tuple[str, Path]:
    ok("node", "init", "--code", "QA-NCSA", "--name", "Test agency", "--country", "QA")
    case = ok_json("case", "new", "--title", "Phishing of the ministry")
    folder = tmp_path / "seized"
    folder.mkdir()
    (folder / "mail.eml").write_bytes(b"From: x\r\n\r\nclick here\r\n")
    (folder / "proxy.log").write_bytes(b"GET http://bad.example/ 200\n" * 50)
    return str(case["number"]), folder


def test_evidence_lifecycle(data_dir: Path, tmp_path: Path, run: Run) -> None:
    number, folder = _setup(tmp_path)
    added = ok_json("evidence", "add", str(folder), "--case", number, "--kind", "media",
                    "--authority", "W-2026-17", "--description", "seized mailbox")  # fmt: skip
    assert [i["exhibit_number"] for i in added] == ["E-2026-0001", "E-2026-0001/1", "E-2026-0001/2"]
    listed = ok_json("evidence", "list", "--case", number)
    assert len(listed) == 3 and {i["case_ref"] for i in listed} == {added[0]["case_ref"]}
    ok_json("evidence", "checkout", "E-2026-0001/2", "--purpose", "timeline analysis")
    ok_json("evidence", "checkin", "E-2026-0001/2")
    shown = ok_json("evidence", "show", "E-2026-0001/2")
    assert [e["action"] for e in shown["custody"]] == ["collect", "check-out", "check-in"]
    assert shown["custody"][0]["authority_ref"] == "W-2026-17"
    text = ok("evidence", "show", "E-2026-0001/2", env={"COLUMNS": "200"}).output
    assert "check-out" in text and "timeline analysis" in text
    verified = run("evidence", "verify", "--all")
    assert verified.code == 0, verified.text
    assert "verified 3 items, 5 custody events" in verified.err
    report = ok_json("evidence", "verify", "E-2026-0001/1", "--no-rehash")
    assert report["ok"] and report["bytes_hashed"] == 0


def test_verify_names_each_failure_and_exits_1(data_dir: Path, tmp_path: Path, run: Run) -> None:
    number, folder = _setup(tmp_path)
    added = ok_json("evidence", "add", str(folder / "proxy.log"), "--case", number)
    stored = content_path(data_dir, added[0]["sha256"])
    stored.chmod(0o644)
    stored.write_bytes(b"GET http://good.example/ 200\n" * 50)
    outcome = run("evidence", "verify", "--all")
    assert outcome.code == 1
    assert f"E-2026-0001: content sha256 mismatch (expected {added[0]['sha256']}" in outcome.out


def test_errors_name_what_is_wrong(data_dir: Path, tmp_path: Path, run: Run) -> None:
    number, folder = _setup(tmp_path)
    missing = run("evidence", "add", str(folder / "nope.bin"), "--case", number)
    assert missing.code == 2 and "nope.bin" in missing.err
    assert ok_json("evidence", "list") == []
    no_case = run("evidence", "add", str(folder), "--case", "C-2026-0404")
    assert no_case.code == 1 and "C-2026-0404" in no_case.err
    unknown = run("evidence", "show", "E-9")
    assert unknown.code == 1 and "E-9" in unknown.err
    usage = run("evidence", "verify")
    assert usage.code == 2
    no_purpose = run("evidence", "checkout", "E-9")
    assert no_purpose.code == 2 and "--purpose" in no_purpose.err
