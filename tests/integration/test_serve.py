"""``watchkeeper serve`` as a real process: migrates, answers /healthz, stops cleanly on signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from integration.served import free_port
from watchkeeper.cli import cli
from watchkeeper.store import Database, current_revision

START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


@pytest.fixture
def node_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment of a throwaway node (also set in this process, for in-process CLI calls)."""
    values = {
        "WATCHKEEPER_DATA_DIR": str(tmp_path / "data"),
        "WATCHKEEPER_DATABASE_URL": database_url,
        "WATCHKEEPER_CONFIG": str(tmp_path / "absent.toml"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def _start(env: dict[str, str], port: int, cwd: Path) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    full.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "watchkeeper", "serve", "--port", str(port)],
        env=full,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_healthy(process: subprocess.Popen[str], port: int) -> httpx.Response:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"serve exited with {process.returncode} before it was healthy:\n{err}")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    _, err = process.communicate()
    pytest.fail(f"/healthz not 200 within {START_TIMEOUT} s:\n{err}")


@pytest.fixture
def stop_leftovers() -> Iterator[list[subprocess.Popen[str]]]:
    """Kill any server a failing test left running (only the ones this test started)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_migrates_answers_and_stops_on_signal(
    tmp_path: Path,
    node_env: dict[str, str],
    database: Database,
    stop_leftovers: list[subprocess.Popen[str]],
    signum: signal.Signals,
) -> None:
    assert current_revision(database) is None  # a fresh, empty database
    port = free_port()
    process = _start(node_env, port, tmp_path)
    stop_leftovers.append(process)

    health = _wait_healthy(process, port)
    assert health.json()["status"] == "ok"
    assert current_revision(database) is not None  # serve migrated on start

    process.send_signal(signum)
    try:
        _, err = process.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"serve still running {STOP_TIMEOUT} s after {signum.name}:\n{err}")
    assert process.returncode == 0, (
        f"serve exited with {process.returncode} after {signum.name}:\n{err}"
    )
    assert "Traceback" not in err
    assert f"http://127.0.0.1:{port}" in err
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)

    # The database serve left behind is ready for use without `db upgrade`.
    runner = CliRunner()
    added = runner.invoke(cli, ["user", "add", "alice", "--role", "analyst"])
    assert added.exit_code == 0, added.output
    verified = runner.invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
