"""``watchkeeper demo --check``: the scripted demo builds a node, serves it and probes it."""

from __future__ import annotations

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
    "partner node",
    "API token",
    "events delivered",
    "audit ledger intact",
    "health",
    "API with token",
    "API refuses bad token",
    "UI login",
    "audit ledger intact after use",
)


def _demo_check(directory: Path, cwd: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    # A wide, UTF-8 table, so each step is one row whatever the terminal of the test run.
    env.update(WATCHKEEPER_CONFIG=str(cwd / "absent.toml"), COLUMNS="400", PYTHONIOENCODING="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "watchkeeper", "demo", "--check", "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=cwd,
        check=False,
    )
    steps = {}
    for line in done.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) == 3 and cells[0] not in ("", "step"):
            steps[cells[0]] = (cells[1], cells[2])
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
