"""The MISP formats through the command line: import an event and a feed, export both."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from test_misp import phishing

from watchkeeper.cli import cli


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WATCHKEEPER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", database_url)
    return tmp_path


def test_misp_import_and_export_on_the_command_line(env: Path) -> None:
    runner = CliRunner()
    event_file = env / "event.json"
    event_file.write_bytes(orjson.dumps(phishing()))
    imported = runner.invoke(cli, ["intel", "import", str(event_file), "--json"])
    document = json.loads(imported.stdout)
    assert imported.exit_code == (1 if document["rejected"] else 0)  # 1 names rejects
    assert document["format"] == "misp"
    assert document["created"] > 0

    exported = runner.invoke(cli, ["intel", "export", "--format", "misp"])
    assert exported.exit_code == 0, exported.output
    assert "Event" in json.loads(exported.stdout)

    feed = env / "feed"
    written = runner.invoke(
        cli, ["intel", "export", "--format", "misp-feed", "--feed-dir", str(feed), "--json"]
    )
    assert written.exit_code == 0, written.output
    assert json.loads(written.stdout)["events"] >= 1
    assert (feed / "manifest.json").is_file()
    missing = runner.invoke(cli, ["intel", "export", "--format", "misp-feed"])
    assert missing.exit_code != 0

    pulled = runner.invoke(cli, ["intel", "import", str(feed), "--format", "misp-feed", "--json"])
    report = json.loads(pulled.stdout)
    assert pulled.exit_code == (1 if report["rejected"] else 0), pulled.output
    assert report["format"] == "misp-feed"
    assert report["created"] + report["unchanged"] > 0
