"""The ``watchkeeper`` command end to end, on SQLite and on PostgreSQL.

Happy paths go through ``CliRunner`` against the click group; exit codes and error lines go
through :func:`watchkeeper.cli.main`, the real entry point that turns exceptions into one line
on stderr and an exit code (0 ok, 1 failed or found a problem, 2 usage or invalid input).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import delete, insert, select, update

from watchkeeper.cli import cli, main
from watchkeeper.security import ROLES, AuditEntry
from watchkeeper.security.audit import entry_hash
from watchkeeper.store import Database

UNREACHABLE = "postgresql+psycopg://wk:secretpw@127.0.0.1:1/nowhere"


# --- helpers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one run of ``main`` did."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


Run = Callable[..., Outcome]


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """Run the click group in-process; exceptions are not swallowed."""
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def ok(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """Run a command that must succeed."""
    result = invoke(*args, env=env)
    assert result.exit_code == 0, f"{args} exited {result.exit_code}:\n{result.output}"
    return result


def ok_json(*args: str, env: dict[str, str | None] | None = None) -> Any:
    """Run a ``--json`` command that must succeed; stdout must be exactly one JSON document."""
    return json.loads(ok(*args, "--json", env=env).stdout)


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


@pytest.fixture
def database(data_dir: Path, database_url: str) -> Iterator[Database]:
    """Direct access to the node's database, for tampering behind the CLI's back."""
    db = Database(database_url)
    yield db
    db.dispose()


def public_key(kind: str = "ed25519") -> str:
    """Base64 of a fresh raw public key."""
    key = Ed25519PrivateKey.generate() if kind == "ed25519" else X25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def add_peer(code: str = "QA-NCSA", *, key: str | None = None) -> str:
    """Register a partner through the CLI; returns its signing public key."""
    key = key or public_key()
    ok(
        "peer",
        "add",
        code,
        "--url",
        "https://qa.example.org/",
        "--country",
        code[:2],
        "--public-key",
        key,
        "--encryption-key",
        public_key("x25519"),
        "--name",
        "Qatar NCSA",
    )
    return key


# --- users --------------------------------------------------------------------------------------


def test_user_add_with_several_roles(data_dir: Path) -> None:
    result = ok("user", "add", "alice", "--role", "analyst", "--role", "responder")
    assert "alice" in result.stderr
    assert result.stdout == ""
    users = ok_json("user", "list")
    assert [(u["name"], u["roles"], u["disabled"]) for u in users] == [
        ("alice", ["analyst", "responder"], False)
    ]


def test_user_add_unknown_role_exits_2_listing_every_role(data_dir: Path, run: Run) -> None:
    outcome = run("user", "add", "bob", "--role", "wizard")
    assert outcome.code == 2
    assert "wizard" in outcome.err
    for role in ROLES:
        assert role in outcome.err
    assert ok_json("user", "list") == []


def test_user_add_without_role_is_a_usage_error(data_dir: Path, run: Run) -> None:
    outcome = run("user", "add", "bob")
    assert outcome.code == 2
    assert "--role" in outcome.err


def test_duplicate_user_exits_1(data_dir: Path, run: Run) -> None:
    ok("user", "add", "alice", "--role", "analyst")
    outcome = run("user", "add", "alice", "--role", "auditor")
    assert outcome.code == 1
    assert outcome.err.startswith("error: ")
    assert "alice" in outcome.err
    assert "already exists" in outcome.err
    assert [u["roles"] for u in ok_json("user", "list")] == [["analyst"]]


# --- tokens -------------------------------------------------------------------------------------


def test_token_create_prints_the_secret_once_on_stdout(data_dir: Path) -> None:
    ok("user", "add", "alice", "--role", "analyst")
    result = ok("token", "create", "alice", "--expires", "30d")
    secret = result.stdout.strip()
    assert result.stdout == secret + "\n"  # stdout holds the secret and nothing else
    assert secret.startswith("wk_")
    assert result.output.count(secret) == 1
    assert "alice" in result.stderr
    assert secret not in result.stderr

    [listed] = ok_json("token", "list")
    assert listed["user"] == "alice"
    assert listed["state"] == "active"
    assert listed["id"] in result.stderr
    # Nothing the node prints afterwards holds the secret.
    for args in (("token", "list"), ("events", "tail"), ("audit", "list")):
        assert secret not in ok(*args).output
        assert secret not in ok(*args, "--json").output


def test_token_create_json_is_one_document(data_dir: Path) -> None:
    ok("user", "add", "alice", "--role", "analyst")
    document = ok_json("token", "create", "alice", "--expires", "30d", "--label", "ci")
    assert set(document) >= {"id", "secret", "user", "expires_at"}
    assert document["user"] == "alice"
    assert document["secret"].startswith(f"wk_{document['id']}_")

    [listed] = ok_json("token", "list")
    assert listed["id"] == document["id"]
    assert listed["label"] == "ci"
    assert listed["expires_at"] == document["expires_at"]
    assert "secret" not in listed
    assert document["secret"] not in json.dumps(listed)


def test_token_lifetime_follows_expires(data_dir: Path) -> None:
    ok("user", "add", "alice", "--role", "analyst")
    ok("token", "create", "alice", "--expires", "30d")
    [listed] = ok_json("token", "list")
    lifetime = datetime.fromisoformat(listed["expires_at"]) - datetime.fromisoformat(
        listed["created_at"]
    )
    assert lifetime == timedelta(days=30)


def test_token_revoke_then_revoke_again_fails(data_dir: Path, run: Run) -> None:
    ok("user", "add", "alice", "--role", "analyst")
    token_id = ok_json("token", "create", "alice")["id"]

    revoked = ok("token", "revoke", token_id)
    assert token_id in revoked.stderr
    assert [t["state"] for t in ok_json("token", "list")] == ["revoked"]

    again = run("token", "revoke", token_id)
    assert again.code == 1
    assert again.err.startswith("error: ")
    assert "already revoked" in again.err
    assert token_id in again.err


def test_token_revoke_unknown_id_exits_1(data_dir: Path, run: Run) -> None:
    outcome = run("token", "revoke", "000000000000")
    assert outcome.code == 1
    assert "000000000000" in outcome.err


@pytest.mark.parametrize("expires", ["3x", "0d", "d", "-1d"])
def test_token_bad_expires_exits_2(data_dir: Path, run: Run, expires: str) -> None:
    ok("user", "add", "alice", "--role", "analyst")
    outcome = run("token", "create", "alice", "--expires", expires)
    assert outcome.code == 2
    assert expires in outcome.err
    assert outcome.out == ""
    assert ok_json("token", "list") == []


def test_token_create_for_unknown_user_exits_1(data_dir: Path, run: Run) -> None:
    outcome = run("token", "create", "nobody")
    assert outcome.code == 1
    assert "nobody" in outcome.err
    assert outcome.out == ""


@pytest.mark.parametrize("args", [(), ("alice", "--peer", "QA-NCSA")])
def test_token_create_needs_user_or_peer(data_dir: Path, run: Run, args: tuple[str, ...]) -> None:
    outcome = run("token", "create", *args)
    assert outcome.code == 2
    assert "--peer" in outcome.err


def test_token_for_a_peer_goes_to_its_partner_node_account(data_dir: Path, run: Run) -> None:
    add_peer("QA-NCSA")
    first = ok_json("token", "create", "--peer", "QA-NCSA")
    assert first["user"] == "peer:qa-ncsa"
    second = ok_json("token", "create", "--peer", "QA-NCSA")  # the account is reused
    assert second["user"] == "peer:qa-ncsa"

    users = {u["name"]: u for u in ok_json("user", "list")}
    assert users["peer:qa-ncsa"]["roles"] == ["partner-node"]
    assert users["peer:qa-ncsa"]["disabled"] is False
    assert {t["user"] for t in ok_json("token", "list")} == {"peer:qa-ncsa"}

    ok("peer", "remove", "QA-NCSA")
    assert {u["name"]: u for u in ok_json("user", "list")}["peer:qa-ncsa"]["disabled"] is True

    unknown = run("token", "create", "--peer", "QA-NCSA")
    assert unknown.code == 1
    assert "QA-NCSA" in unknown.err


# --- audit --------------------------------------------------------------------------------------


def _four_entries() -> None:
    for name in ("alice", "bob", "carol"):
        ok("user", "add", name, "--role", "analyst")
    ok("token", "create", "alice")


def test_audit_verify_intact(data_dir: Path, run: Run) -> None:
    _four_entries()
    outcome = run("audit", "verify")
    assert outcome.code == 0
    assert "4 entries" in outcome.err
    as_json = run("audit", "verify", "--json")
    assert as_json.code == 0
    assert json.loads(as_json.out) == {"ok": True, "checked": 4, "bad_seq": None, "reason": None}


def test_audit_verify_on_an_empty_ledger(data_dir: Path, run: Run) -> None:
    outcome = run("audit", "verify", "--json")
    assert outcome.code == 0
    assert json.loads(outcome.out)["checked"] == 0


def _rows(database: Database) -> dict[int, dict[str, Any]]:
    with database.reader() as session:
        table = AuditEntry.__table__
        return {r.seq: dict(r._mapping) for r in session.execute(select(table))}


def _edit_actor(database: Database) -> None:
    with database.transaction() as session:
        session.execute(
            update(AuditEntry.__table__)
            .where(AuditEntry.__table__.c.seq == 2)
            .values(actor="cli:mallory")
        )


def _delete_middle(database: Database) -> None:
    with database.transaction() as session:
        session.execute(delete(AuditEntry.__table__).where(AuditEntry.__table__.c.seq == 2))


def _swap(database: Database) -> None:
    table = AuditEntry.__table__
    with database.transaction() as session:
        for old, new in ((2, -2), (3, 2), (-2, 3)):
            session.execute(update(table).where(table.c.seq == old).values(seq=new))


def _forged(prev: dict[str, Any], seq: int) -> dict[str, Any]:
    """A well-formed entry chained onto ``prev`` (what a forger with DB access can write)."""
    row = {
        "seq": seq,
        "at": prev["at"],
        "actor": "cli:mallory",
        "action": "user.add",
        "subject": "user:mallory",
        "outcome": "ok",
        "detail": {"roles": ["admin"]},
        "prev_hash": prev["hash"],
    }
    row["hash"] = entry_hash(
        prev_hash=row["prev_hash"],
        seq=seq,
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        outcome=row["outcome"],
        detail=row["detail"],
    )
    return row


def _insert_middle(database: Database) -> None:
    table = AuditEntry.__table__
    rows = _rows(database)
    with database.transaction() as session:
        for seq in (4, 3):
            session.execute(update(table).where(table.c.seq == seq).values(seq=seq + 1))
        session.execute(insert(table).values(**_forged(rows[2], 3)))


def _append(database: Database) -> None:
    rows = _rows(database)
    with database.transaction() as session:
        session.execute(insert(AuditEntry.__table__).values(**_forged(rows[4], 5)))


def _delete_last(database: Database) -> None:
    with database.transaction() as session:
        session.execute(delete(AuditEntry.__table__).where(AuditEntry.__table__.c.seq == 4))


TAMPERING = {
    "edit actor of entry 2": (_edit_actor, 2),
    "delete entry 2": (_delete_middle, 2),
    "swap entries 2 and 3": (_swap, 2),
    # The forged entry 3 chains onto entry 2; the genuine old 3 (now 4) no longer follows it.
    "insert forged entry in the middle": (_insert_middle, 4),
    "append forged entry 5": (_append, 5),
    "delete last entry": (_delete_last, 4),
}


@pytest.mark.parametrize("tamper", list(TAMPERING))
def test_audit_verify_finds_tampering(
    data_dir: Path, database: Database, run: Run, tamper: str
) -> None:
    action, bad_seq = TAMPERING[tamper]
    _four_entries()
    assert run("audit", "verify").code == 0
    action(database)

    outcome = run("audit", "verify")
    assert outcome.code == 1
    assert f"entry {bad_seq}" in outcome.err
    assert "BROKEN" in outcome.err

    as_json = run("audit", "verify", "--json")
    assert as_json.code == 1
    document = json.loads(as_json.out)
    assert document["ok"] is False
    assert document["bad_seq"] == bad_seq
    assert document["reason"]


# --- node identity ------------------------------------------------------------------------------

NODE = ("node", "init", "--code", "QA-NCSA", "--name", "Qatar National Cyber Security Agency")


def _key_files(data_dir: Path) -> dict[str, bytes]:
    keys = data_dir / "keys"
    return {p.name: p.read_bytes() for p in sorted(keys.iterdir()) if p.is_file()}


def test_node_init_creates_private_keys_readable_only_by_owner(data_dir: Path) -> None:
    result = ok(*NODE, "--country", "QA")
    keys = data_dir / "keys"
    assert set(_key_files(data_dir)) == {"signing.key", "encryption.key", "node.json"}
    for name in ("signing.key", "encryption.key"):
        assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600
        assert (keys / name).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700

    shown = ok_json("node", "show")
    assert shown["fingerprint"] in result.stderr
    [entry] = ok_json("audit", "list", "--action", "node.init")
    assert entry["subject"] == "node:QA-NCSA"
    assert entry["detail"]["fingerprint"] == shown["fingerprint"]


def test_node_init_refuses_to_overwrite_without_force(data_dir: Path, run: Run) -> None:
    ok(*NODE, "--country", "QA")
    before = _key_files(data_dir)

    outcome = run(*NODE, "--country", "QA")
    assert outcome.code == 1
    assert "--force" in outcome.err
    assert _key_files(data_dir) == before
    assert not list((data_dir / "keys").glob("replaced-*"))


def test_node_init_force_keeps_old_keys_aside(data_dir: Path) -> None:
    ok(*NODE, "--country", "QA")
    before = _key_files(data_dir)
    old_fingerprint = ok_json("node", "show")["fingerprint"]

    ok(*NODE, "--country", "QA", "--force")
    after = _key_files(data_dir)
    assert set(after) == set(before)
    assert after["signing.key"] != before["signing.key"]
    assert after["encryption.key"] != before["encryption.key"]
    for name in ("signing.key", "encryption.key"):
        assert stat.S_IMODE((data_dir / "keys" / name).stat().st_mode) == 0o600

    [aside] = list((data_dir / "keys").glob("replaced-*"))
    assert aside.is_dir()
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == before
    assert ok_json("node", "show")["fingerprint"] != old_fingerprint
    entries = ok_json("audit", "list", "--action", "node.init")
    assert [e["detail"]["replaced"] for e in entries] == [False, True]


def test_node_show_json_is_what_partners_register(data_dir: Path) -> None:
    ok(*NODE, "--country", "QA")
    shown = ok_json("node", "show")
    assert shown["code"] == "QA-NCSA"
    assert shown["country"] == "QA"
    assert shown["name"] == "Qatar National Cyber Security Agency"
    for field in ("signing_public_key", "encryption_public_key"):
        assert len(base64.b64decode(shown[field], validate=True)) == 32
    assert (
        shown["fingerprint"]
        == hashlib.sha256(base64.b64decode(shown["signing_public_key"])).hexdigest()
    )
    assert shown["url"] == "http://127.0.0.1:8470"
    assert "PRIVATE" not in json.dumps(shown)


def test_node_show_before_init_exits_1(data_dir: Path, run: Run) -> None:
    outcome = run("node", "show", "--json")
    assert outcome.code == 1
    assert "node init" in outcome.err
    assert outcome.out == ""


@pytest.mark.parametrize(
    ("code", "country", "field"),
    [
        ("qa-ncsa", "QA", "code"),
        ("QANCSA", "QA", "code"),
        ("QA-NCSA", "qa", "country"),
        ("QA-NCSA", "QAT", "country"),
    ],
)
def test_node_init_bad_code_or_country_exits_2(
    data_dir: Path, run: Run, code: str, country: str, field: str
) -> None:
    outcome = run("node", "init", "--code", code, "--name", "X", "--country", country)
    assert outcome.code == 2
    assert field in outcome.err
    assert repr(code if field == "code" else country) in outcome.err
    assert not (data_dir / "keys" / "signing.key").exists()


# --- peers --------------------------------------------------------------------------------------


def test_peer_add_list_show_remove(data_dir: Path, run: Run) -> None:
    key = add_peer("QA-NCSA")
    fingerprint = hashlib.sha256(base64.b64decode(key)).hexdigest()

    [listed] = ok_json("peer", "list")
    assert listed["code"] == "QA-NCSA"
    assert listed["url"] == "https://qa.example.org"
    assert listed["country"] == "QA"
    assert listed["name"] == "Qatar NCSA"
    assert listed["public_key"] == key
    assert listed["fingerprint"] == fingerprint
    assert ok_json("peer", "show", "QA-NCSA") == listed
    assert "QA-NCSA" in ok("peer", "show", "QA-NCSA").output
    assert "QA-NCSA" in ok("peer", "list").output

    duplicate = run(
        "peer", "add", "QA-NCSA", "--url", "https://x.example", "--country", "QA",
        "--public-key", key,
    )  # fmt: skip
    assert duplicate.code == 1
    assert "already" in duplicate.err

    ok("peer", "remove", "QA-NCSA")
    assert ok_json("peer", "list") == []
    for args in (("peer", "show", "QA-NCSA"), ("peer", "remove", "QA-NCSA")):
        outcome = run(*args)
        assert outcome.code == 1
        assert "QA-NCSA" in outcome.err

    assert [e["type"] for e in ok_json("events", "tail", "--type", "peer.*")] == [
        "peer.add",
        "peer.remove",
    ]


def test_unknown_peer_exits_1(data_dir: Path, run: Run) -> None:
    outcome = run("peer", "show", "XX-NONE")
    assert outcome.code == 1
    assert outcome.err.startswith("error: ")
    assert "XX-NONE" in outcome.err


def test_peer_add_from_another_nodes_identity(
    tmp_path: Path, data_dir: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = {"WATCHKEEPER_DATA_DIR": str(tmp_path / "other"), "WATCHKEEPER_DATABASE_URL": None}
    ok("node", "init", "--code", "OM-CERT", "--name", "Oman CERT", "--country", "OM", env=other)
    identity = tmp_path / "om-cert.json"
    identity.write_text(ok("node", "show", "--json", env=other).stdout)
    document = json.loads(identity.read_text())
    assert not (data_dir / "keys").exists()  # the other node did not touch ours

    ok("peer", "add", "--from-file", str(identity))
    shown = ok_json("peer", "show", "OM-CERT")
    assert shown["name"] == "Oman CERT"
    assert shown["country"] == "OM"
    assert shown["url"] == document["url"]
    assert shown["public_key"] == document["signing_public_key"]
    assert shown["encryption_key"] == document["encryption_public_key"]
    assert shown["fingerprint"] == document["fingerprint"]


def test_peer_add_from_file_with_url_and_matching_code(tmp_path: Path, data_dir: Path) -> None:
    identity = tmp_path / "peer.json"
    identity.write_text(
        json.dumps({"code": "OM-CERT", "country": "OM", "signing_public_key": public_key()})
    )
    ok("peer", "add", "OM-CERT", "--from-file", str(identity), "--url", "https://om.example")
    assert ok_json("peer", "show", "OM-CERT")["url"] == "https://om.example"


PARTNER = {
    "code": "OM-CERT",
    "country": "OM",
    "url": "https://om.example",
    "signing_public_key": public_key(),
}


def _without(key: str) -> str:
    return json.dumps({k: v for k, v in PARTNER.items() if k != key})


@pytest.mark.parametrize(
    ("content", "extra", "expected"),
    [
        (_without("signing_public_key"), (), "signing_public_key"),
        (_without("url"), (), "url"),
        (json.dumps({**PARTNER, "fingerprint": "0" * 64}), (), "fingerprint"),
        (json.dumps(PARTNER), ("QA-NCSA",), "OM-CERT"),
        ("[1, 2]", (), "JSON object"),
        ("not json", (), "not JSON"),
    ],
    ids=["missing-key", "missing-url", "bad-fingerprint", "other-code", "array", "not-json"],
)
def test_peer_add_from_bad_file_exits_2(
    tmp_path: Path, data_dir: Path, run: Run, content: str, extra: tuple[str, ...], expected: str
) -> None:
    path = tmp_path / "peer.json"
    path.write_text(content)
    outcome = run("peer", "add", *extra, "--from-file", str(path))
    assert outcome.code == 2
    assert expected in outcome.err
    assert ok_json("peer", "list") == []


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--public-key", "not base64!", "public_key"),
        ("--public-key", base64.b64encode(b"x" * 16).decode(), "public_key"),
        ("--encryption-key", "AAAA", "encryption_key"),
    ],
)
def test_peer_add_bad_key_exits_2_naming_the_field(
    data_dir: Path, run: Run, option: str, value: str, field: str
) -> None:
    keys = {"--public-key": public_key(), "--encryption-key": public_key("x25519"), option: value}
    outcome = run(
        "peer", "add", "QA-NCSA", "--url", "https://qa.example", "--country", "QA",
        *[part for pair in keys.items() for part in pair],
    )  # fmt: skip
    assert outcome.code == 2
    assert field in outcome.err
    assert ok_json("peer", "list") == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("--url", "ftp://qa.example"), "url"),
        (("--country", "Qatar"), "country"),
    ],
)
def test_peer_add_bad_url_or_country_exits_2(
    data_dir: Path, run: Run, change: tuple[str, str], expected: str
) -> None:
    options = {"--url": "https://qa.example", "--country": "QA", "--public-key": public_key()}
    options[change[0]] = change[1]
    outcome = run("peer", "add", "QA-NCSA", *[p for pair in options.items() for p in pair])
    assert outcome.code == 2
    assert expected in outcome.err.lower()


def test_peer_add_without_options_is_a_usage_error(data_dir: Path, run: Run) -> None:
    outcome = run("peer", "add", "QA-NCSA", "--country", "QA")
    assert outcome.code == 2
    assert "--url" in outcome.err
    assert "--public-key" in outcome.err


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
