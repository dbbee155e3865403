"""``watchkeeper sync`` against a real TAXII server (medallion), and ``feeds publish``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_helpers import Run, add_peer, ok, ok_json

from taxii_partner import COLLECTION, PASSWORD, USER, free_port, medallion

PEER = "AE-TDRA"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"


def indicator(n: int, *, marking: str = GREEN) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--7c7c7c7c-0000-4000-8000-{n:012d}",
        "created": "2026-01-10T10:00:00.000Z",
        "modified": "2026-01-10T10:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '45.133.2.{n}']",
        "pattern_type": "stix",
        "valid_from": "2026-01-10T10:00:00.000Z",
        "object_marking_refs": [marking],
    }


@pytest.fixture
def partner_node(data_dir: Path, tmp_path: Path) -> Path:
    """A node with keys and a regional peer; returns the file holding the partner's secret."""
    ok("node", "init", "--code", "QA-NCSA", "--name", "Qatar NCSA", "--country", "QA")
    add_peer(PEER)
    ok("peer", "set", PEER, "--community", "regional", "--max-tlp", "amber", "--need-to-know")
    secret = tmp_path / "partner-token"
    secret.write_text(PASSWORD + "\n")
    return secret


def test_pull_push_and_status(partner_node: Path, tmp_path: Path) -> None:
    with medallion(tmp_path / "partner", [indicator(n) for n in range(1, 151)]) as partner:
        added = ok(
            "sync", "add", PEER, "--pull", partner.collection_url,
            "--user", USER, "--token-file", str(partner_node), "--json",
        )  # fmt: skip
        link = json.loads(added.stdout)
        assert PASSWORD not in added.output
        assert link["auth"] == {"scheme": "basic", "user": USER}
        assert (link["direction"], link["state"], link["peer"]) == ("pull", "new", PEER)

        [pulled] = ok_json("sync", "pull")
        assert pulled["ok"] and (pulled["objects"], pulled["created"], pulled["pages"]) == (
            150,
            150,
            2,
        )
        [again] = ok_json("sync", "pull", PEER)
        assert again["objects"] == 0
        by_id = ok("sync", "pull", link["id"][:8], "--json")
        assert json.loads(by_id.stdout)[0]["link"] == link["id"]

        bundle = tmp_path / "local.json"
        local = [indicator(201), indicator(202, marking=RED)]
        bundle.write_bytes(orjson.dumps({"type": "bundle", "id": "bundle--1", "objects": local}))
        ok("intel", "import", str(bundle), "--json")
        ok("taxii", "add-collection", "--title", "Region", "--alias", "region",
           "--community", "regional")  # fmt: skip
        ok("peer", "set", PEER, "--read", "region")
        pushing = ok_json(
            "sync", "add", PEER, "--push", partner.collection_url, "--collection", "region",
            "--user", USER, "--token-env", "PARTNER_TOKEN",
            env={"PARTNER_TOKEN": PASSWORD},
        )  # fmt: skip
        assert pushing["collection"] == "region" and pushing["lag"]["objects"] == 1
        [pushed] = ok_json("sync", "push")
        assert pushed["ok"] and (pushed["objects"], pushed["succeeded"]) == (1, 1)
        there = {o["id"] for o in partner.objects()}
        assert indicator(201)["id"] in there and indicator(202)["id"] not in there  # never RED

        status = ok_json("sync", "status")
        assert [(s["direction"], s["state"], s["failures"]) for s in status] == [
            ("pull", "ok", 0),
            ("push", "ok", 0),
        ]
        assert status[1]["lag"]["objects"] == 0
        assert PASSWORD not in json.dumps(status)
        table = ok("sync", "status").stdout
        assert PEER in table and "pull" in table and PASSWORD not in table
        assert [s["id"] for s in ok_json("sync", "status", "--peer", PEER)] == [
            s["id"] for s in status
        ]

        ok("sync", "remove", pushing["id"][:8])
        assert [s["direction"] for s in ok_json("sync", "status")] == ["pull"]
    actions = [e["action"] for e in ok_json("audit", "list")]
    for action in ("sync.add", "sync.pull", "sync.push", "sync.sent", "sync.remove"):
        assert action in actions, action
    assert PASSWORD not in json.dumps(ok_json("audit", "list"))


def test_a_partner_that_is_down_is_shown_failing(partner_node: Path, run: Run) -> None:
    url = f"http://127.0.0.1:{free_port()}/partner/collections/{COLLECTION}/"
    link = ok_json("sync", "add", PEER, "--pull", url)["id"]
    failed = run("sync", "pull", "--json")
    assert failed.code == 1
    [report] = json.loads(failed.out)
    assert not report["ok"] and "cannot reach" in report["error"]

    [state] = json.loads(run("sync", "status", "--json").out)
    assert (state["id"], state["state"], state["failures"]) == (link, "failing", 1)
    assert "cannot reach" in state["last_error"]
    assert state["next_attempt_at"] > state["last_attempt_at"]  # backed off
    assert state["last_success_at"] is None

    again = run("sync", "pull", link[:8])
    assert again.code == 1 and "next scheduled attempt" in again.err
    [state] = json.loads(run("sync", "status", "--json").out)
    assert state["failures"] == 2
    assert "failing" in run("sync", "status").out


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["sync", "add", PEER], 2, "exactly one of --pull URL or --push URL"),
        (["sync", "add", PEER, "--pull", "a", "--push", "b"], 2, "exactly one"),
        (["sync", "add", PEER, "--pull", "not-a-url"], 2, "expected an http(s) URL"),
        (["sync", "add", PEER, "--pull", "https://h/r/collections/c/", "--user", "u"], 2,
         "--user needs the password"),
        (["sync", "add", PEER, "--pull", "https://h/r/collections/c/", "--token-env", "NOPE"],
         2, "NOPE is not set"),
        (["sync", "add", "ZZ-NONE", "--pull", "https://h/r/collections/c/"], 1, "no peer"),
        (["sync", "add", PEER, "--push", "https://h/r/collections/c/"], 2, "--collection"),
        (["sync", "pull", "deadbeef"], 1, "no sync link or peer 'deadbeef'"),
        (["sync", "remove", "deadbeef"], 1, "no sync link"),
        (["sync", "set", "deadbeef", "--disable"], 1, "no sync link"),
        (["sync", "bogus"], 2, "No such command"),
    ],
)  # fmt: skip
def test_errors_are_one_line_with_the_right_exit_code(
    partner_node: Path, run: Run, args: list[str], code: int, says: str
) -> None:
    outcome = run(*args)
    assert outcome.code == code, outcome.text
    assert says in outcome.err


def test_links_are_checked_and_changed(partner_node: Path, run: Run, tmp_path: Path) -> None:
    url = f"https://partner.example/root/collections/{COLLECTION}/"
    link = ok_json("sync", "add", PEER, "--pull", url, "--disabled")
    assert link["state"] == "disabled" and link["auth"] is None
    assert run("sync", "add", PEER, "--pull", url).code == 1  # already registered
    outcome = run("sync", "push", link["id"][:8])
    assert outcome.code == 2 and "is a pull link" in outcome.err
    disabled = run("sync", "pull", link["id"])
    assert disabled.code == 1 and "is disabled" in disabled.err
    assert json.loads(run("sync", "pull", "--json").out) == []  # none enabled: nothing to do

    changed = ok_json(
        "sync", "set", link["id"][:8], "--enable", "--token-file", str(partner_node), "--reset"
    )
    assert changed["state"] == "new" and changed["auth"] == {"scheme": "bearer", "user": None}
    cleared = ok_json("sync", "set", link["id"][:8], "--no-auth")
    assert cleared["auth"] is None
    assert "set" in [e["action"].split(".")[1] for e in ok_json("audit", "list")]
    empty = tmp_path / "empty"
    empty.write_text("\n")
    refused = run("sync", "set", link["id"][:8], "--token-file", str(empty))
    assert refused.code == 2 and "empty" in refused.err


def test_credentials_need_the_node_keys(data_dir: Path, run: Run, tmp_path: Path) -> None:
    add_peer(PEER)
    secret = tmp_path / "token"
    secret.write_text("t")
    outcome = run("sync", "add", PEER, "--pull", f"https://h/r/collections/{COLLECTION}/",
                  "--token-file", str(secret))  # fmt: skip
    assert outcome.code == 1 and "watchkeeper node init" in outcome.err
    failures = [e for e in ok_json("audit", "list") if e["outcome"] == "failed"]
    assert failures and failures[-1]["action"] == "sync.add"


def test_discover_lists_collection_urls(partner_node: Path, run: Run, tmp_path: Path) -> None:
    with medallion(tmp_path / "partner", []) as partner:
        found = ok_json("sync", "discover", partner.discovery_url, "--user", USER,
                        "--token-file", str(partner_node))  # fmt: skip
        assert found["title"] == "partner TAXII server"
        assert [c["url"] for c in found["collections"]] == [partner.collection_url]
        assert found["collections"][0]["can_write"] is True
        refused = run("sync", "discover", partner.discovery_url)
        assert refused.code == 1 and "HTTP 401" in refused.err


def test_feeds_publish(data_dir: Path, run: Run, tmp_path: Path) -> None:
    bundle = tmp_path / "local.json"
    local = [indicator(1), indicator(2, marking=RED)]
    bundle.write_bytes(orjson.dumps({"type": "bundle", "id": "bundle--1", "objects": local}))
    ok("intel", "import", str(bundle), "--json")
    out = tmp_path / "feed"
    published = ok_json("feeds", "publish", "--community", "regional", "-o", str(out))
    assert (published["events"], published["attributes"]) == (1, 1)
    assert published["community"] == "regional"
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    [event_file] = [out / f"{key}.json" for key in manifest]
    assert "45.133.2.1" in event_file.read_text() and "45.133.2.2" not in event_file.read_text()
    shown = run("feeds", "publish", "--community", "national", "-o", str(tmp_path / "n"))
    assert shown.code == 0 and "national community: 1 events, 1 attributes" in shown.err
    red = run("feeds", "publish", "--community", "regional", "-o", str(out), "--max-tlp", "red")
    assert red.code == 2 and "TLP:RED" in red.err
    missing = run("feeds", "publish", "-o", str(out))
    assert missing.code == 2 and "--community" in missing.err
