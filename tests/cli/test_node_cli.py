"""``watchkeeper node`` and ``watchkeeper peer``: node identity and partner nodes."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest
from cli_helpers import Run, add_peer, ok, ok_json, public_key

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
