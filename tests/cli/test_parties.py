"""``parties status|list|show|set`` through the real entry point."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import Run, ok, ok_json

DEPOSIT = "2026-01-01"


def _forty_parties() -> None:
    """40 states depositing on the same day: in force 2026-04-01 (90th day)."""
    for a in "BCDEF":
        for b in "ABCDEFGH":
            ok("parties", "set", f"{a}{b}", "--name", f"State {a}{b}", "--deposited", DEPOSIT)


def test_status_says_why_not(data_dir: Path, run: Run) -> None:
    outcome = run("parties", "status", "VN", "--with", "QA", "--on", "2026-12-01")
    assert outcome.code == 0, outcome.text
    assert "does not apply between VN and QA on 2026-12-01" in outcome.out
    assert "3 of the 40 instruments needed are deposited" in outcome.out
    assert "Art. 65(1)" in outcome.out


def test_status_json_between_two_parties(data_dir: Path) -> None:
    _forty_parties()
    ok("parties", "set", "VN", "--deposited", "2026-05-01", "--verified", "--source", "UNTC")
    answer = ok_json("parties", "status", "VN", "--with", "BA", "--on", "2026-06-01")
    assert answer["applies"] is True and answer["states"] == ["VN", "BA"]
    assert answer["in_force"] == {"VN": "2026-05-31", "BA": "2026-04-01"}
    assert answer["instrument"] == "un-cybercrime" and answer["on"] == "2026-06-01"
    assert "UN Convention against Cybercrime is in force since 2026-04-01" in answer["reasons"][0]
    early = ok_json("parties", "status", "VN", "--with", "BA", "--on", "2026-05-30")
    assert early["applies"] is False


def test_status_defaults_to_this_nodes_country(data_dir: Path, run: Run) -> None:
    refused = run("parties", "status", "VN")
    assert refused.code == 2 and "--with" in refused.err
    ok("node", "init", "--code", "QA-NCSA", "--name", "Test agency", "--country", "QA")
    answer = ok_json("parties", "status", "VN")
    assert answer["states"] == ["VN", "QA"]


def test_status_of_all_states(data_dir: Path) -> None:
    ok("parties", "set", "FR", "--name", "France", "--signed", "2025-10-25")
    table = ok_json("parties", "status", "--with", "FR", "--on", "2026-12-01")
    rows = {row["code"]: row for row in table["states"]}
    assert {"QA", "AZ", "VN", "FR"} <= set(rows) and table["general_date"] is None
    assert rows["FR"]["signed"] == "2025-10-25" and rows["FR"]["applies"] is None
    assert rows["QA"]["applies"] is False and rows["QA"]["ratified"] is True
    text = ok("parties", "status", env={"COLUMNS": "200"}).output
    assert "Azerbaijan" in text and "not in force" in text


def test_set_list_show(data_dir: Path, run: Run) -> None:
    ok("parties", "set", "AZ", "--language", "az,en", "--poc", "24/7 desk",
       "--reservation", "Art. 7(2)", "--unverified")  # fmt: skip
    listed = ok_json("parties", "list")
    azerbaijan = next(row for row in listed if row["code"] == "AZ")
    assert azerbaijan["languages"] == ["az", "en"] and azerbaijan["poc"] == "24/7 desk"
    assert azerbaijan["instruments"]["un-cybercrime"]["reservations"] == ["Art. 7(2)"]
    shown = ok_json("parties", "show", "az")
    assert shown["updated_by"].startswith("cli:")
    cleared = ok_json("parties", "set", "AZ", "--no-reservations", "--instrument", "budapest")
    assert cleared["instruments"]["budapest"]["reservations"] == []
    audit = ok_json("audit", "list")
    assert any(entry["action"] == "cooperation.state.set" for entry in audit)


def test_set_errors_are_one_line(data_dir: Path, run: Run) -> None:
    unknown = run("parties", "set", "ZZ", "--poc", "x")
    assert unknown.code == 1 and "give --name" in unknown.err
    bad_language = run("parties", "set", "QA", "--language", "arabic")
    assert bad_language.code == 2 and "ISO 639-1" in bad_language.err
    bad_instrument = run("parties", "set", "QA", "--instrument", "nope", "--signed", "2025-10-25")
    assert bad_instrument.code == 1 and "unknown instrument 'nope'" in bad_instrument.err
    bad_date = run("parties", "status", "QA", "--with", "VN", "--on", "tomorrow")
    assert bad_date.code == 2
