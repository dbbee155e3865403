"""The shared corpora (real public data, ``../shared/corpora``): Sigma rules fire on the sample
logs published with them, and real Zeek logs read without a malformed line.

Sigma's regression data pairs a rule with a log in an ``info.yml`` (``rule_metadata`` ids,
``regression_tests_info`` entries with a ``path`` and a ``match_count``); the log is used in
its JSON form beside that path. Both tests skip, saying why, when the corpora are absent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchkeeper.detect.sigma_hits import rules_test
from watchkeeper.detect.sigma_rules import load_rules
from watchkeeper.detect.telemetry import read_telemetry

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
INFOS = sorted(CORPORA.glob("**/info.yml")) if CORPORA.is_dir() else []
ZEEK_LOGS = (
    sorted(p for p in CORPORA.glob("**/*.log") if p.read_bytes()[:10].startswith(b"#separator"))
    if CORPORA.is_dir()
    else []
)
RULE_ID = re.compile(r"^id:\s*([0-9a-fA-F-]{36})\s*$", re.MULTILINE)


def _rule_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in CORPORA.glob("**/*.yml"):
        if path.name == "info.yml":
            continue
        match = RULE_ID.search(path.read_text(encoding="utf-8", errors="replace"))
        if match:
            found.setdefault(match.group(1).lower(), path)
    return found


@pytest.mark.skipif(
    not INFOS,
    reason=f"no Sigma regression data (info.yml) under {CORPORA}: the shared corpora are not "
    "on this machine",
)
def test_sigma_rules_fire_on_their_regression_logs() -> None:
    rules_by_id = _rule_files()
    checked, silent, unsupported = 0, [], []
    for info_path in INFOS:
        info: dict[str, Any] = yaml.safe_load(info_path.read_text(encoding="utf-8")) or {}
        ids = [str(item.get("id", "")).lower() for item in info.get("rule_metadata") or []]
        rule_files = [rules_by_id[i] for i in ids if i in rules_by_id]
        for case in info.get("regression_tests_info") or []:
            log = info_path.parent / (Path(str(case.get("path", ""))).stem + ".json")
            if not rule_files or not log.exists():
                continue
            rules = load_rules(paths=rule_files)
            assert not rules.errors, f"{rule_files}: {rules.errors[0].message}"
            for test in [t for b in read_telemetry(paths=[str(log)], format="sysmon")
                         for t in rules_test(rules=rules, frame=b.frame)]:  # fmt: skip
                if test.status == "unsupported":
                    unsupported.append(f"{test.file}: {'; '.join(test.reasons)}")
                    continue
                checked += 1
                if len(test.events) < int(case.get("match_count") or 1):
                    silent.append(f"{test.file} on {log.name}: {len(test.events)} hits")
    assert checked, "no rule of the regression data could be evaluated"
    assert not silent, f"{len(silent)} of {checked} rules did not fire: {silent[:10]}"
    print(f"{checked} rules fired where expected; {len(unsupported)} not supported")


@pytest.mark.skipif(
    not ZEEK_LOGS, reason=f"no Zeek TSV logs under {CORPORA}: the shared corpora are not here"
)
def test_real_zeek_logs_read_without_malformed_lines() -> None:
    for log in ZEEK_LOGS:
        batches = list(read_telemetry(paths=[str(log)], format="zeek"))
        rows = sum(batch.frame.height for batch in batches)
        bad = [m for batch in batches for m in batch.malformed]
        assert rows > 0, f"{log}: no events read"
        assert not bad, f"{log}: {bad[0].line}: {bad[0].reason}"
