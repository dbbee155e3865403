"""Fixtures of the CLI tests: the real entry point, and a throwaway node per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Outcome, Run

from watchkeeper.cli import main


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run the real entry point ``main``; returns its exit code, stdout and stderr."""

    def _run(*args: str) -> Outcome:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        captured = capsys.readouterr()
        code = exited.value.code
        outcome = Outcome(code if isinstance(code, int) else 1, captured.out, captured.err)
        if "--debug" not in args:
            assert "Traceback" not in outcome.text, outcome.text
        return outcome

    return _run


@pytest.fixture
def data_dir(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the CLI at a throwaway node on the backend under test."""
    data = tmp_path / "data"
    monkeypatch.setenv("WATCHKEEPER_DATA_DIR", str(data))
    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", database_url)
    return data
