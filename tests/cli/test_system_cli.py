"""Events, config, database upgrade and failures, and ``python -m watchkeeper``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import Run, ok, ok_json

UNREACHABLE = "postgresql+psycopg://wk:secretpw@127.0.0.1:1/nowhere"


# --- events -------------------------------------------------------------------------------------


def test_events_tail_shows_what_happened(data_dir: Path) -> None:
    ok("user", "add", "alice", "--role", "analyst")
    token_id = ok_json("token", "create", "alice")["id"]

    events = ok_json("events", "tail")
    assert [(e["type"], e["subject"]) for e in events] == [
        ("user.add", "user:alice"),
        ("token.create", f"token:{token_id}"),
    ]
    assert events[0]["payload"] == {"roles": ["analyst"]}
    assert events[0]["actor"].startswith("cli:")
    assert events[0]["seq"] < events[1]["seq"]

    only_users = ok_json("events", "tail", "--type", "user.*")
    assert [e["type"] for e in only_users] == ["user.add"]
    assert "user.add" in ok("events", "tail").output


def test_events_dead_letters(data_dir: Path, run: Run) -> None:
    assert ok_json("events", "dlq", "list") == []
    outcome = run("events", "dlq", "replay")
    assert outcome.code == 2
    assert "--all" in outcome.err


# --- config -------------------------------------------------------------------------------------


def test_config_show_names_each_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Run
) -> None:
    toml = tmp_path / "watchkeeper.toml"
    toml.write_text('port = 9000\nlog_level = "debug"\nhost = "192.0.2.10"\n')
    monkeypatch.setenv("WATCHKEEPER_CONFIG", str(toml))
    monkeypatch.setenv("WATCHKEEPER_PORT", "9100")
    monkeypatch.setenv("WATCHKEEPER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(
        "WATCHKEEPER_DATABASE_URL", "postgresql+psycopg://wk:secretpw@db.example:5432/wk"
    )

    shown = ok_json("config", "show")
    assert shown["port"] == {"value": 9100, "source": "env WATCHKEEPER_PORT"}
    assert shown["log_level"] == {"value": "debug", "source": str(toml)}
    assert shown["host"] == {"value": "192.0.2.10", "source": str(toml)}
    assert shown["session_hours"] == {"value": 12, "source": "default"}
    assert shown["data_dir"] == {
        "value": str(tmp_path / "data"),
        "source": "env WATCHKEEPER_DATA_DIR",
    }
    assert shown["database_url"] == {
        "value": "postgresql+psycopg://wk:***@db.example:5432/wk",
        "source": "env WATCHKEEPER_DATABASE_URL",
    }

    for args in (("config", "show", "--json"), ("config", "show")):
        outcome = run(*args)
        assert outcome.code == 0
        assert "secretpw" not in outcome.text
    assert "wk:***@" in run("config", "show", "--json").out


def test_config_show_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shown = ok_json("config", "show")
    assert shown["port"] == {"value": 8470, "source": "default"}
    assert shown["database_url"] == {"value": None, "source": "default"}
    assert all(setting["source"] == "default" for setting in shown.values())


@pytest.mark.parametrize(
    "args",
    [("user", "list"), ("config", "show"), ("audit", "verify"), ("events", "tail", "--json")],
)
def test_invalid_setting_fails_every_command_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Run, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("WATCHKEEPER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WATCHKEEPER_PORT", "notaport")
    outcome = run(*args)
    assert outcome.code == 1
    assert outcome.err.startswith("error: ")
    assert "port" in outcome.err
    assert "WATCHKEEPER_PORT" in outcome.err
    assert outcome.out == ""
    assert not (tmp_path / "data").exists()


def test_invalid_toml_value_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Run
) -> None:
    toml = tmp_path / "watchkeeper.toml"
    toml.write_text('log_level = "loud"\n')
    monkeypatch.setenv("WATCHKEEPER_CONFIG", str(toml))
    outcome = run("config", "show")
    assert outcome.code == 1
    assert "log_level" in outcome.err


def test_unreadable_toml_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Run
) -> None:
    toml = tmp_path / "watchkeeper.toml"
    toml.write_text("port = = 1\n")
    monkeypatch.setenv("WATCHKEEPER_CONFIG", str(toml))
    outcome = run("config", "show")
    assert outcome.code == 1
    assert str(toml) in outcome.err


# --- database -----------------------------------------------------------------------------------


def test_unreachable_database_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Run
) -> None:
    monkeypatch.setenv("WATCHKEEPER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", UNREACHABLE)
    outcome = run("user", "list")
    assert outcome.code == 1
    assert outcome.err.startswith("error: ")
    assert "127.0.0.1:1" in outcome.err
    assert "secretpw" not in outcome.text
    assert outcome.out == ""
    assert len(outcome.err.strip().splitlines()) == 1


def test_unreachable_database_with_debug_shows_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Run
) -> None:
    monkeypatch.setenv("WATCHKEEPER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", UNREACHABLE)
    outcome = run("--debug", "user", "list")
    assert outcome.code == 1
    assert "Traceback" in outcome.err
    assert "127.0.0.1:1" in outcome.err


def test_db_upgrade_is_idempotent_and_audited_once(data_dir: Path, run: Run) -> None:
    first = run("db", "upgrade")
    assert first.code == 0
    assert "revision" in first.err
    second = run("db", "upgrade")
    assert second.code == 0
    assert second.err == first.err

    [entry] = ok_json("audit", "list", "--action", "db.upgrade")
    assert entry["detail"]["from"] is None
    assert entry["detail"]["to"]
    assert entry["detail"]["to"] in first.err
    assert run("audit", "verify").code == 0


def test_db_upgrade_after_another_command_is_not_audited(data_dir: Path) -> None:
    ok("user", "list")  # every command migrates on start
    ok("db", "upgrade")
    assert ok_json("audit", "list", "--action", "db.upgrade") == []


# --- the entry point ----------------------------------------------------------------------------


def _python_m(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    env["WATCHKEEPER_CONFIG"] = str(tmp_path / "absent.toml")
    return subprocess.run(
        [sys.executable, "-m", "watchkeeper", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )


def test_python_m_watchkeeper_help(tmp_path: Path) -> None:
    done = _python_m("--help", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    for group in ("config", "db", "events", "user", "token", "audit", "node", "peer", "serve"):
        assert group in done.stdout
    assert not (tmp_path / "watchkeeper-data").exists()


def test_python_m_watchkeeper_usage_error_exits_2(tmp_path: Path) -> None:
    done = _python_m("no-such-command", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "no-such-command" in done.stderr
    assert "Traceback" not in done.stderr
