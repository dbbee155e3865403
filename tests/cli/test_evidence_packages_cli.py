"""``evidence package`` and ``evidence receive`` between two nodes through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Run, ok, ok_json


def _identity(env: dict[str, str | None] | None, folder: Path, url: str) -> Path:
    document = ok_json("node", "show", env=env)
    document["url"] = url
    path = folder / f"{document['code']}.json"
    path.write_text(json.dumps(document))
    return path


def test_package_and_receive(
    data_dir: Path, tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = {
        "WATCHKEEPER_DATA_DIR": str(tmp_path / "b"),
        "WATCHKEEPER_DATABASE_URL": f"sqlite:///{(tmp_path / 'b.db').as_posix()}",
    }
    ok("node", "init", "--code", "QA-NCSA", "--name", "Sender", "--country", "QA")
    ok("node", "init", "--code", "FR-ANSSI", "--name", "Receiver", "--country", "FR", env=other)
    ok("peer", "add", "--from-file", str(_identity(other, tmp_path, "https://fr.example")))
    sender = _identity(None, tmp_path, "https://qa.example")
    ok("peer", "add", "--from-file", str(sender), env=other)
    case = ok_json("case", "new", "--title", "Extortion")
    evidence_file = tmp_path / "chat.txt"
    evidence_file.write_bytes(b"pay 2 BTC or else\n" * 20)
    (item,) = ok_json("evidence", "add", str(evidence_file), "--case", str(case["number"]))
    package = tmp_path / "pkg.tar"
    sent = ok_json("evidence", "package", item["exhibit_number"], "--for", "FR-ANSSI",
                   "-o", str(package), "--authority", "EIO-2026-4", "--restriction",
                   "court use only", "--purpose", "EIO response")  # fmt: skip
    assert sent["peer"] == "FR-ANSSI" and package.is_file()
    got = ok_json("evidence", "receive", str(package), env=other)
    assert got["items"][0]["sha256"] == item["sha256"]
    assert got["items"][0]["legal"]["use_restrictions"] == ["court use only"]
    own = run("evidence", "receive", str(package))  # the sender does not list itself as peer
    assert own.code == 2 and "package refused (unknown-sender)" in own.err
    with monkeypatch.context() as patched:
        for key, value in other.items():
            patched.setenv(key, str(value))
        again = run("evidence", "receive", str(package))
    assert again.code == 2 and "replayed" in again.err
    missing = run("evidence", "package", item["exhibit_number"], "--for", "FR-ANSSI", "-o",
                  str(tmp_path / "x.tar"), "--authority", "A", "--purpose", " ")  # fmt: skip
    assert missing.code == 2 and "purpose" in missing.err
