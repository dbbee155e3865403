"""``watchkeeper demo --check``: the scripted demo builds a node, serves it and probes it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

# The steps every demo has; later areas add their own, so more rows are fine.
CORE_STEPS = (
    "database migrated",
    "node identity",
    "admin account",
    "staff accounts",
    "API token",
    "intelligence sample",
    "restricted intelligence",
    "partner node",
    "events delivered",
    "audit ledger intact",
    "health",
    "API with token",
    "API refuses bad token",
    "UI login",
    "partner pulls over TAXII",
    "audit ledger intact after use",
)


def _demo_check(directory: Path, cwd: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    env.update(WATCHKEEPER_CONFIG=str(cwd / "absent.toml"))
    done = subprocess.run(
        [sys.executable, "-m", "watchkeeper", "demo", "--check", "--json", "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=cwd,
        check=False,
    )
    document = json.loads(done.stdout) if done.stdout else {"ok": False, "steps": []}
    steps = {s["name"]: ("ok" if s["ok"] else "FAILED", s["detail"]) for s in document["steps"]}
    assert document["ok"] == all(state == "ok" for state, _ in steps.values())
    return done, steps


def _passed(done: subprocess.CompletedProcess[str], steps: dict) -> None:
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stdout + done.stderr
    assert "FAILED" not in done.stdout + done.stderr
    for name in CORE_STEPS:
        assert name in steps, f"step {name!r} missing from:\n{done.stdout}"
    failed = {name: detail for name, (state, detail) in steps.items() if state != "ok"}
    assert failed == {}
    announced = re.search(r"demo check passed: (\d+) steps", done.stderr)
    assert announced is not None, done.stderr
    assert int(announced.group(1)) == len(steps)


def test_demo_check_passes_every_step(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    done, steps = _demo_check(directory, tmp_path)
    _passed(done, steps)
    assert steps["admin account"][1] == "admin created"
    assert (directory / "watchkeeper.db").is_file()
    assert (directory / "keys" / "signing.key").is_file()
    assert not (tmp_path / "watchkeeper-data").exists()  # only the demo dir was touched


def test_demo_check_is_rerunnable(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    first, first_steps = _demo_check(directory, tmp_path)
    _passed(first, first_steps)
    identity = (directory / "keys" / "node.json").read_bytes()

    second, second_steps = _demo_check(directory, tmp_path)
    _passed(second, second_steps)
    assert second_steps["admin account"][1] == "existing admin, new password"
    assert "(0 new)" in second_steps["staff accounts"][1]
    # The node keeps its identity: partners registered it by fingerprint.
    assert (directory / "keys" / "node.json").read_bytes() == identity
    assert not list((directory / "keys").glob("replaced-*"))
