"""``watchkeeper peer set`` and ``watchkeeper taxii``: sharing settings and collections."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Run, add_peer, ok, ok_json

IDENTITY = "identity--aaaaaaaa-0000-4000-8000-000000000001"


def test_peer_set_shows_and_changes_what_a_peer_may_receive(data_dir: Path) -> None:
    add_peer("QA-NCSA")
    shown = ok_json("peer", "set", "QA-NCSA")
    assert shown == {
        "peer": "QA-NCSA",
        "community": "international",
        "max_tlp": "TLP:CLEAR",
        "need_to_know": False,
        "identity": None,
        "reshare": False,
        "configured": False,
        "read": [],
        "write": [],
    }
    assert ok_json("audit", "list", "--action", "peer.sharing") == []  # showing changes nothing

    iocs = ok_json("taxii", "add-collection", "--title", "Indicators", "--alias", "iocs")["id"]
    regional = ok_json("taxii", "add-collection", "--title", "Regional", "--community", "regional")
    changed = ok_json(
        "peer", "set", "QA-NCSA",
        "--community", "regional",
        "--max-tlp", "amber",
        "--need-to-know",
        "--identity", IDENTITY,
        "--read", "iocs", "--read", regional["id"],
        "--write", "iocs",
    )  # fmt: skip
    assert changed == {
        "peer": "QA-NCSA",
        "community": "regional",
        "max_tlp": "TLP:AMBER",
        "need_to_know": True,
        "identity": IDENTITY,
        "reshare": False,
        "configured": True,
        "read": sorted(["iocs", regional["id"]]),
        "write": ["iocs"],
    }
    again = ok_json("peer", "set", "QA-NCSA", "--no-need-to-know", "--revoke", "iocs")
    assert (again["need_to_know"], again["read"], again["write"]) == (False, [regional["id"]], [])
    assert "regional" in ok("peer", "set", "QA-NCSA").stdout  # the table form

    actions = [(e["action"], e["subject"]) for e in ok_json("audit", "list")]
    assert actions[-6:] == [
        ("collection.add", f"collection:{iocs}"),
        ("collection.add", f"collection:{regional['id']}"),
        ("peer.sharing", "peer:QA-NCSA"),
        ("collection.rights", "peer:QA-NCSA"),
        ("peer.sharing", "peer:QA-NCSA"),
        ("collection.rights", "peer:QA-NCSA"),
    ]


def test_taxii_collections_lists_filters_and_rights(data_dir: Path) -> None:
    add_peer("QA-NCSA")
    assert ok_json("taxii", "collections") == []
    created = ok_json(
        "taxii", "add-collection",
        "--title", "Network indicators",
        "--alias", "net",
        "--description", "Addresses and domains",
        "--types", "indicator,ipv4-addr", "--types", "domain-name",
        "--max-tlp", "TLP:GREEN",
        "--source", "feed:", "--source", "peer:KE-CERT",
        "--label", "malicious-activity",
    )  # fmt: skip
    assert created["filters"] == {
        "types": ["indicator", "ipv4-addr", "domain-name"],
        "max_tlp": "green",
        "sources": ["feed:", "peer:KE-CERT"],
        "labels": ["malicious-activity"],
    }
    assert (created["community"], created["alias"], created["title"]) == (
        "national",
        "net",
        "Network indicators",
    )
    ok("peer", "set", "QA-NCSA", "--read", "net")
    [listed] = ok_json("taxii", "collections")
    assert listed == {**created, "readers": ["QA-NCSA"], "writers": []}
    assert ok_json("taxii", "collections", "--community", "regional") == []
    table = ok("taxii", "collections").stdout
    assert "net" in table
    assert "QA-NCSA" in table


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("peer", "set", "QA-NCSA", "--max-tlp", "red"), 2, "TLP:RED never leaves"),
        (("peer", "set", "QA-NCSA", "--max-tlp", "mauve"), 2, "unknown TLP level"),
        (("peer", "set", "QA-NCSA", "--community", "galactic"), 2, "national, regional"),
        (("peer", "set", "QA-NCSA", "--identity", "QA-NCSA"), 2, "identity--<uuid>"),
        (("peer", "set", "QA-NCSA", "--read", "nothing"), 1, "no collection 'nothing'"),
        (("peer", "set", "XX-NONE", "--max-tlp", "green"), 1, "no peer 'XX-NONE'"),
        (("peer", "set"), 2, "Missing argument"),
        (("peer", "set", "QA-NCSA", "--need-to-know", "yes"), 2, "unexpected extra argument"),
        (("taxii", "add-collection"), 2, "Missing option '--title'"),
        (("taxii", "add-collection", "--title", "T", "--types", "Bad Type"), 2, "STIX type"),
        (("taxii", "add-collection", "--title", "T", "--max-tlp", "red"), 2, "TLP:RED"),
        (("taxii", "add-collection", "--title", "T", "--community", "x"), 2, "community"),
        (("taxii", "add-collection", "--title", "T", "--alias", "a b"), 2, "alias"),
        (("taxii", "collections", "--community", "x"), 2, "community"),
    ],
)
def test_bad_input_is_one_clear_line_and_changes_nothing(
    data_dir: Path, run: Run, args: tuple[str, ...], code: int, words: str
) -> None:
    add_peer("QA-NCSA")
    outcome = run(*args)
    assert outcome.code == code, outcome.text
    assert words in outcome.err
    assert outcome.out == ""
    assert ok_json("taxii", "collections") == []
    assert ok_json("peer", "set", "QA-NCSA")["configured"] is False


def test_a_duplicate_alias_is_refused_and_the_refusal_audited(data_dir: Path, run: Run) -> None:
    ok("taxii", "add-collection", "--title", "One", "--alias", "iocs")
    outcome = run("taxii", "add-collection", "--title", "Two", "--alias", "iocs")
    assert outcome.code == 1
    assert "already collection" in outcome.err
    failed = ok_json("audit", "list", "--action", "collection.add")
    assert [e["outcome"] for e in failed] == ["ok", "failed"]
    assert len(ok_json("taxii", "collections")) == 1
