"""``request`` commands through the CLI: drafting to sending with the four-eyes rule, the
24/7 inbox and decisions, the printable document, and signed files."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from cli_helpers import Run, ok, ok_json, public_key

from cooperation.factories import make_request
from watchkeeper.config import load_settings
from watchkeeper.cooperation import pdf_available
from watchkeeper.node import Node

PEER_URL = "http://127.0.0.1:9/"  # nothing listens there: delivery fails at once
COMPLETE = """
contents:
  authority: Public Prosecutor, Doha
  offence-facts: Illegal access to a ministry mail server on 1 March 2026
  data-link: Connection logs of the account used for the intrusion
  custodian-location: Example Hosting SAS, Paris
  necessity: The provider rotates its logs after 30 days
offence: {basis: art-7, max_penalty_years: 5, summary: illegal access}
data:
  - category: traffic
    identifiers:
      - {kind: ip, value: 203.0.113.7, timestamp: "2026-03-01T10:00:00+03:00",
         timezone: Asia/Qatar}
    time_range: {from: "2026-03-01T00:00:00+00:00", until: "2026-03-02T00:00:00+00:00"}
"""
FOLLOW_UP = "contents:\n  mla-follow-up: A request for disclosure will follow within 30 days\n"


@pytest.fixture
def parties(data_dir: Path) -> Path:
    """A QA node; the UN convention in force between QA and FR; three officers."""
    ok("node", "init", "--code", "QA-NCSA", "--name", "Test agency", "--country", "QA")
    override = data_dir / "instruments" / "un-cybercrime.yaml"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text("id: un-cybercrime\nentry_into_force:\n  date: 2026-01-01\n")
    ok("parties", "set", "QA", "--deposited", "2025-11-01")
    ok("parties", "set", "FR", "--name", "France", "--deposited", "2025-11-01",
       "--language", "en,fr")  # fmt: skip
    for name, role in (("alice", "poc-officer"), ("bob", "central-authority"),
                       ("lena", "legal-reviewer")):  # fmt: skip
        ok("user", "add", name, "--role", role)
    return data_dir


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _approved(tmp_path: Path) -> str:
    """A request drafted by alice, screened by lena and approved by bob."""
    ref = ok("request", "new", "preservation", "--to", "FR", "--as", "alice",
             "--from-file", str(_file(tmp_path, "full.yaml", COMPLETE))).stdout.strip()  # fmt: skip
    ok("request", "edit", ref, "--from-file", str(_file(tmp_path, "f.yaml", FOLLOW_UP)),
       "--as", "alice")  # fmt: skip
    ok("request", "validate", ref, "--as", "alice")
    ok("request", "submit", ref, "--as", "alice")
    ok("request", "screen", ref, "--all-clear", "--as", "lena")
    ok("request", "approve", ref, "--as", "bob")
    return ref


def test_draft_check_screen_approve_send(parties: Path, tmp_path: Path, run: Run) -> None:
    draft = _file(tmp_path, "draft.yaml", COMPLETE)
    created = run("request", "new", "preservation", "--to", "FR", "--from-file", str(draft),
                  "--as", "alice")  # fmt: skip
    assert created.code == 0, created.text
    ref = created.out.strip()
    assert ref.startswith("OUT-") and "next: watchkeeper request validate" in created.err

    missing = run("request", "validate", ref, "--as", "alice")
    assert missing.code == 1, missing.text
    assert "Art. 42(3)(f)" in missing.out and "contents.mla-follow-up" in missing.out
    checked = json.loads(run("request", "validate", ref, "--json", "--as", "alice").out)
    assert checked["ok"] is False and checked["status"] == "draft"
    assert {p["stage"] for p in checked["problems"]} == {"validate", "approve"}

    ok("request", "edit", ref, "--from-file", str(_file(tmp_path, "f.yaml", FOLLOW_UP)),
       "--as", "alice")  # fmt: skip
    valid = run("request", "validate", ref, "--as", "alice")
    assert valid.code == 0, valid.text
    assert f"{ref} is validated" in valid.err and "Art. 42(3)(f)" not in valid.out

    early = run("request", "approve", ref, "--as", "bob")
    assert early.code == 2 and "no signed-off legal screen" in early.err, early.text
    assert run("request", "submit", ref, "--as", "alice").code == 0
    bad = run("request", "screen", ref, "--check", "legal-basis=maybe", "--as", "lena")
    assert bad.code == 2 and "NAME=yes|no" in bad.err
    screened = run("request", "screen", ref, "--all-clear", "--as", "lena")
    assert screened.code == 0 and "screened by user:lena" in screened.err, screened.text

    own = run("request", "approve", ref, "--as", "alice")
    assert own.code == 2 and "four-eyes" in own.err, own.text
    approved = run("request", "approve", ref, "--as", "bob")
    assert approved.code == 0, approved.text
    assert f"{ref} approved by user:bob; next: watchkeeper request send {ref}" in approved.err

    unsent = run("request", "send", ref, "--as", "bob")
    assert unsent.code == 2 and "no partner node is registered for FR" in unsent.err
    shown = ok_json("request", "show", ref)
    assert shown["status"] == "approved" and shown["author"] == "user:alice"
    actions = [step["action"] for step in shown["timeline"]]
    assert actions[:3] == ["created", "edited", "validated"] and "approved" in actions
    text = ok("request", "show", ref).stdout
    assert "timeline:" in text and "user:bob  approved submitted -> approved" in text
    listed = ok_json("request", "list", "--direction", "out", "--status", "approved")
    assert [row["reference"] for row in listed] == [ref]


def test_send_queues_for_an_offline_partner_and_exports(
    parties: Path, tmp_path: Path, run: Run
) -> None:
    ok("peer", "add", "FR-ANSSI", "--url", PEER_URL, "--country", "FR",
       "--public-key", public_key(), "--encryption-key", public_key("x25519"))  # fmt: skip
    ref = _approved(tmp_path)
    sent = run("request", "send", ref, "--as", "bob")
    assert sent.code == 0, sent.text
    assert "queued; partner FR-ANSSI unreachable, will retry" in sent.err
    outbox = ok_json("request", "outbox")
    assert outbox["pending"] == 1 and outbox["peers"]["FR-ANSSI"]["pending"] == 1

    target = tmp_path / "to-fr.json"
    exported = run("request", "export", ref, "-o", str(target))
    assert exported.code == 0 and "1 message(s) exported" in exported.err, exported.text
    content = target.read_bytes()
    assert json.loads(content)["watchkeeper"] == "messages"
    again = run("request", "export", ref, "-o", str(target))
    assert again.code == 1 and "not overwritten" in again.err
    assert target.read_bytes() == content
    assert ok_json("request", "outbox")["exported"] == 1


@pytest.fixture
def incoming(parties: Path) -> str:
    """An MLA request received from FR whose acknowledgement is 10 minutes overdue."""
    node = Node(load_settings()).start()
    try:
        now = node.clock.now()
        with node.database.transaction() as session:
            row = make_request(session, direction="in", type="stored-data",
                               channel="central-authority", created_at=now - timedelta(hours=2),
                               ack_due_at=now - timedelta(minutes=10))  # fmt: skip
            return row.reference
    finally:
        node.close()


def test_inbox_ack_and_decisions(incoming: str, run: Run) -> None:
    page = ok_json("request", "inbox")
    row = next(r for r in page["requests"] if r["reference"] == incoming)
    assert row["overdue"] is True and row["minutes_left"] <= -10 and page["waiting"] == 1
    assert "OVERDUE by" in ok("request", "inbox", env={"COLUMNS": "200"}).stdout

    acked = run("request", "ack", incoming, "--as", "alice")
    assert acked.code == 0 and f"{incoming} acknowledged by user:alice" in acked.err
    assert run("request", "ack", incoming, "--as", "alice").code == 1
    assert run("request", "check", incoming, "--as", "alice").code == 0

    two = run("request", "decide", incoming, "--grant", "--refuse", "x", "--reason", "r")
    assert two.code == 2 and "exactly one" in two.err
    secrecy = run("request", "decide", incoming, "--refuse", "bank-secrecy",
                  "--reason", "banking law", "--as", "bob")  # fmt: skip
    assert secrecy.code == 2 and "never a ground for refusal (Art. 40" in secrecy.err
    unconsulted = run("request", "decide", incoming, "--refuse", "essential-interests",
                      "--reason", "sovereignty", "--as", "bob")  # fmt: skip
    assert unconsulted.code == 1 and "consult" in unconsulted.err
    ok("request", "consult", incoming, "--note", "Can the scope be narrowed?", "--as", "bob")
    refused = run("request", "decide", incoming, "--refuse", "essential-interests",
                  "--reason", "sovereignty", "--as", "bob")  # fmt: skip
    assert refused.code == 0 and "decided refuse on essential-interests" in refused.err
    assert ok_json("request", "show", incoming)["status"] == "refused"
    assert ok_json("request", "inbox")["waiting"] == 0


def test_show_html_in_arabic_and_deadlines(parties: Path, tmp_path: Path, run: Run) -> None:
    draft = _file(tmp_path, "draft.yaml", COMPLETE)
    case = ok_json("case", "new", "--title", "Ministry intrusion")
    ref = ok("request", "new", "preservation", "--to", "FR", "--from-file", str(draft),
             "--case", case["number"]).stdout  # fmt: skip
    assert ok_json("request", "show", ref.strip())["case_id"] == case["id"]
    page = tmp_path / "request.html"
    written = run("request", "show", ref.strip(), "--html", str(page), "--lang", "ar")
    assert written.code == 0, written.text
    html = page.read_text(encoding="utf-8")
    assert 'dir="rtl"' in html and "42(3)(a)" in html
    if not pdf_available():
        pdf = run("request", "show", ref.strip(), "--pdf", str(tmp_path / "r.pdf"))
        assert pdf.code == 2 and "needs WeasyPrint" in pdf.err
        assert not (tmp_path / "r.pdf").exists()
    assert ok_json("request", "deadlines", "--days", "5") == []
    unknown = run("request", "show", "OUT-1999-000001")
    assert unknown.code == 1 and "no request" in unknown.err


def _node_keys(env: dict[str, str | None] | None = None) -> tuple[str, str]:
    shown = ok_json("node", "show", env=env)
    return shown["signing_public_key"], shown["encryption_public_key"]


def test_signed_files_between_two_nodes(parties: Path, tmp_path: Path, run: Run) -> None:
    """QA sends to FR (not connected) as a file; FR imports it, answers with receipts and
    an acknowledgement file; QA imports both."""
    fr: dict[str, str | None] = {
        "WATCHKEEPER_DATA_DIR": str(tmp_path / "fr"),
        "WATCHKEEPER_DATABASE_URL": f"sqlite:///{(tmp_path / 'fr.db').as_posix()}",
    }
    ok("node", "init", "--code", "FR-ANSSI", "--name", "Partner", "--country", "FR", env=fr)
    (tmp_path / "fr" / "instruments").mkdir(parents=True)
    (tmp_path / "fr" / "instruments" / "un-cybercrime.yaml").write_text(
        "id: un-cybercrime\nentry_into_force:\n  date: 2026-01-01\n"
    )
    ok("user", "add", "remy", "--role", "poc-officer", env=fr)
    for code, keys, env in (("FR-ANSSI", _node_keys(fr), None), ("QA-NCSA", _node_keys(), fr)):
        ok("peer", "add", code, "--url", PEER_URL, "--country", code[:2],
           "--public-key", keys[0], "--encryption-key", keys[1], env=env)  # fmt: skip
    ref = _approved(tmp_path)
    assert "will retry" in ok("request", "send", ref, "--as", "bob").stderr
    ok("request", "export", ref, "-o", str(tmp_path / "to-fr.json"))

    receipts = tmp_path / "receipts.json"
    imported = ok("request", "import", str(tmp_path / "to-fr.json"), "--receipts", str(receipts),
                  env=fr)  # fmt: skip
    assert ": accepted (reference=IN-2026-000001" in imported.stdout
    assert "1 of 1 entries accepted" in imported.stderr
    (received,) = ok_json("request", "list", "--direction", "in", env=fr)
    assert received["type"] == "preservation" and received["requesting_state"] == "QA"
    assert ok_json("request", "inbox", env=fr)["waiting"] == 1
    replay = run("request", "import", str(tmp_path / "to-fr.json"))
    assert replay.code == 1 and "refused" in replay.out  # our own messages are not for us

    delivered = ok("request", "import", str(receipts))
    assert ": delivered to FR-ANSSI" in delivered.stdout
    assert ok_json("request", "outbox")["exported"] == 0

    acked = ok("request", "ack", received["reference"], "--as", "remy", env=fr)
    assert "partner: queued; partner QA-NCSA unreachable" in acked.stderr
    ok("request", "export", received["reference"], "-o", str(tmp_path / "to-qa.json"), env=fr)
    ok("request", "import", str(tmp_path / "to-qa.json"))
    shown = ok_json("request", "show", ref)
    assert "acknowledged" in [step["action"] for step in shown["timeline"]], shown["timeline"]


def test_oral_request_then_written_confirmation_due(
    parties: Path, tmp_path: Path, run: Run
) -> None:
    ref = _approved(tmp_path)  # a preservation: urgent by default
    refused = run("request", "oral", ref, "--as", "bob")
    assert refused.code == 2  # --note is required
    made = ok_json("request", "oral", ref, "--note", "FR 24/7 desk, 09:05 UTC", "--as", "bob",
                   "--json")  # fmt: skip
    assert made["status"] == "oral" and made["confirm_due_at"]
    again = run("request", "oral", ref, "--note", "again", "--as", "bob")
    assert again.code != 0 and "oral" in again.text
