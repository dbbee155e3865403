"""``watchkeeper user`` and ``watchkeeper token``: accounts, roles, token secrets."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import Run, add_peer, ok, ok_json

from watchkeeper.security import ROLES

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
