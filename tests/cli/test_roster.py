"""``watchkeeper roster``: put people on 24/7 duty, show who is called first, remove shifts."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import Run, ok, ok_json


def _officers() -> None:
    ok("user", "add", "ana", "--role", "poc-officer")
    ok("user", "add", "ben", "--role", "central-authority")
    ok("user", "add", "dev", "--role", "analyst")


def test_set_and_show_in_order_of_call(data_dir: Path) -> None:
    _officers()
    ben = ok_json(
        "roster", "set", "ben", "--from", "2026-03-01T08:00+01:00", "--until",
        "2026-03-01T20:00+01:00", "--rank", "2", "--contact", "+33 1 23 45 67 89",
    )  # fmt: skip
    assert ben["person"] == "ben"
    assert ben["starts_at"] == "2026-03-01T07:00:00Z"  # stored in UTC
    assert ben["rank"] == 2
    ok("roster", "set", "ana", "--from", "2026-03-01T00:00", "--until", "2026-03-02T00:00")
    shown = ok_json("roster", "show", "--at", "2026-03-01T12:00Z")
    assert shown["at"] == "2026-03-01T12:00:00Z"
    assert [(s["person"], s["rank"]) for s in shown["on_duty"]] == [("ana", 1), ("ben", 2)]
    assert shown["on_duty"][1]["contact"] == "+33 1 23 45 67 89"
    assert "shifts" not in shown
    evening = ok_json("roster", "show", "--at", "2026-03-01T21:00Z", "--all")
    assert [s["person"] for s in evening["on_duty"]] == ["ana"]
    assert [s["person"] for s in evening["shifts"]] == ["ana"]
    table = ok("roster", "show", "--at", "2026-03-01T12:00Z")
    assert "ana" in table.stdout and "ben" in table.stdout


def test_show_defaults_to_now(data_dir: Path) -> None:
    _officers()
    ok("roster", "set", "ana", "--from", "2000-01-01", "--until", "2100-01-01")
    assert [s["person"] for s in ok_json("roster", "show")["on_duty"]] == ["ana"]


def test_remove(data_dir: Path, run: Run) -> None:
    _officers()
    shift = ok_json("roster", "set", "ana", "--from", "2026-03-01", "--until", "2026-03-02")
    removed = ok("roster", "remove", str(shift["id"]))
    assert f"shift {shift['id']} removed" in removed.stderr
    assert ok_json("roster", "show", "--at", "2026-03-01T12:00")["on_duty"] == []
    missing = run("roster", "remove", str(shift["id"]))
    assert missing.code == 1
    assert f"no roster shift {shift['id']}" in missing.err


def test_invalid_shifts_exit_2_with_the_reason(data_dir: Path, run: Run) -> None:
    _officers()
    analyst = run("roster", "set", "dev", "--from", "2026-03-01", "--until", "2026-03-02")
    assert analyst.code == 2
    assert "none of the duty roles" in analyst.err
    unknown = run("roster", "set", "zed", "--from", "2026-03-01", "--until", "2026-03-02")
    assert unknown.code == 2 and "no user named 'zed'" in unknown.err
    backwards = run("roster", "set", "ana", "--from", "2026-03-02", "--until", "2026-03-01")
    assert backwards.code == 2 and "end after it starts" in backwards.err
    bad_time = run("roster", "set", "ana", "--from", "tomorrow", "--until", "2026-03-01")
    assert bad_time.code == 2 and "ISO 8601" in bad_time.err
    assert ok_json("roster", "show", "--at", "2026-03-01T12:00", "--all")["shifts"] == []
    failures = [
        entry for entry in ok_json("audit", "list") if entry["action"] == "cooperation.roster.set"
    ]
    assert len(failures) == 3
    assert all(entry["outcome"] == "failed" for entry in failures)
