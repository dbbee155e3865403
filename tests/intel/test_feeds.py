"""CSV and plain-text feeds: definitions, the shipped formats, idempotent pulls, the CLI, HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from watchkeeper.cli import cli
from watchkeeper.core import FixedClock, Observable, Tlp, marking_id
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.intel import (
    FeedSpec,
    ImportReport,
    StixObject,
    add_feed,
    builtin_definition,
    builtin_definitions,
    expand,
    import_text,
    list_feeds,
    lookup,
    parse_definition,
    pull_feed,
    read_definition,
    remove_feed,
)
from watchkeeper.intel.text_feeds import pattern
from watchkeeper.node import Node


def _spec(template: str, **changes: Any) -> FeedSpec:
    return parse_definition({**builtin_definition(template).document(), **changes})


def _import(node: Node, path: Path, spec: FeedSpec) -> ImportReport:
    return import_text(
        node.database,
        clock=node.clock,
        actor="user:tester",
        inputs=expand([str(path)]),
        definition=spec,
        source=f"feed:{spec.name}",
    )


def _docs(node: Node) -> dict[str, dict[str, Any]]:
    """Current indicators by pattern."""
    with node.database.reader() as session:
        rows = session.scalars(select(StixObject.doc).where(StixObject.current.is_(True)))
        docs = [orjson.loads(doc) for doc in rows]
    return {doc["pattern"]: doc for doc in docs}


def _add(node: Node, spec: FeedSpec) -> None:
    with node.database.transaction() as session:
        add_feed(session, clock=node.clock, actor="user:tester", definition=spec)


def _pull(node: Node, name: str, **options: Any) -> ImportReport:
    return pull_feed(node.database, clock=node.clock, actor="user:tester", name=name, **options)


def test_builtin_definitions_are_valid() -> None:
    assert {
        "ip-list",
        "domain-list",
        "url-list",
        "hosts",
        "abuse-csv",
        "rpz",
        "text",
        "csv",
    } <= set(builtin_definitions())
    assert builtin_definition("hosts").type == "domain"
    with pytest.raises(InvalidInput, match="no built-in feed definition"):
        builtin_definition("nope")


def test_ip_list_with_comments_blanks_cidrs_and_bad_lines(node: Node, tmp_path: Path) -> None:
    path = tmp_path / "ips.txt"
    path.write_text(
        "# bad addresses\n\n198.51.100.7\n203.0.113.0/24  # a network\n"
        "not-an-address\n010.1.1.1\n2001:db8::1\n"
    )
    report = _import(node, path, _spec("ip-list", name="ips"))
    assert (report.created, report.rejected) == (3, 2)
    assert [(r.file, r.index) for r in report.rejects] == [(str(path), 5), (str(path), 6)]
    assert "line 6" in report.rejects[1].reason and "010.1.1.1" in report.rejects[1].reason
    docs = _docs(node)
    assert set(docs) == {
        "[ipv4-addr:value = '198.51.100.7']",
        "[ipv4-addr:value = '203.0.113.0/24']",
        "[ipv6-addr:value = '2001:db8::1']",
    }
    with node.database.reader() as session:
        [hit] = lookup(session, value="203.0.113.9")
    assert hit["sources"] == "feed:ips"


def test_domain_list_refangs_and_applies_tlp_confidence_lifetime(
    node: Node, tmp_path: Path
) -> None:
    path = tmp_path / "domains.txt"
    path.write_text("evil-site[.]example\nBAD.Example.\n")
    spec = _spec("domain-list", name="doms", tlp="amber", confidence=80, lifetime="7d")
    assert _import(node, path, spec).created == 2
    doc = _docs(node)["[domain-name:value = 'evil-site.example']"]
    now = node.clock.now()
    assert doc["object_marking_refs"] == [marking_id(Tlp.AMBER)]
    assert doc["confidence"] == 80
    assert doc["labels"] == ["doms"]
    assert doc["valid_from"] == doc["created"] == doc["modified"]
    assert doc["valid_until"] == (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert "[domain-name:value = 'bad.example']" in _docs(node)


def test_url_list_and_pattern_escaping(node: Node, tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_text("hxxps://phish[.]example/login?a='x'\nhttp://ok.example/a\\b\n")
    report = _import(node, path, _spec("url-list", name="urls"))
    assert (report.created, report.rejected) == (2, 0)
    assert "[url:value = 'https://phish.example/login?a=\\'x\\'']" in _docs(node)
    escaped = pattern(Observable("domain", "a\\'b"))
    assert escaped == "[domain-name:value = 'a\\\\\\'b']"


def test_hosts_file(node: Node, tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text(
        "127.0.0.1 localhost\n::1 ip6-localhost\n0.0.0.0 ads.example tracker.example # x\n0.0.0.0\n"
    )
    report = _import(node, path, _spec("hosts", name="hosts-list"))
    assert (report.created, report.rejected) == (2, 1)
    assert report.rejects[0].index == 4
    assert "[domain-name:value = 'tracker.example']" in _docs(node)


def test_abuse_csv_first_seen_and_description(node: Node, tmp_path: Path) -> None:
    path = tmp_path / "abuse.csv"
    path.write_text(
        "# abuse list\n# id,first_seen_utc,value,description\n"
        '"1","2026-01-31 12:00:00","http://malware.example/x.exe","dropper"\n'
        '"2","yesterday","http://other.example/","bad date"\n'
        '"3","2026-02-01 00:00:00"\n'
    )
    report = _import(node, path, builtin_definition("abuse-csv"))
    assert (report.created, report.rejected) == (1, 2)
    assert [r.index for r in report.rejects] == [4, 5]
    doc = _docs(node)["[url:value = 'http://malware.example/x.exe']"]
    assert doc["created"] == doc["valid_from"] == "2026-01-31T12:00:00.000000Z"
    assert doc["valid_until"] == "2026-03-02T12:00:00.000000Z"  # 30 days after first_seen
    assert (doc["description"], doc["confidence"]) == ("dropper", 70)
    assert _import(node, path, builtin_definition("abuse-csv")).unchanged == 1


def test_csv_columns_header_delimiter_confidence(node: Node, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("value;score\n192.0.2.1;90\n192.0.2.2;300\n")
    spec = parse_definition(
        {
            "name": "scored",
            "format": "csv",
            "type": "ipv4",
            "delimiter": ";",
            "skip_header": True,
            "columns": {"value": 0, "confidence": 1},
        }
    )
    report = _import(node, path, spec)
    assert (report.created, report.rejected) == (1, 1)
    assert report.rejects[0].index == 3
    assert _docs(node)["[ipv4-addr:value = '192.0.2.1']"]["confidence"] == 90


def test_rpz_zone(node: Node, tmp_path: Path) -> None:
    path = tmp_path / "rpz.zone"
    path.write_text(
        "$TTL 300\n$ORIGIN rpz.local.\n@ IN SOA ns.rpz.local. admin.rpz.local. (\n"
        "  1 3600 600 86400 300 )\n@ IN NS ns.rpz.local.\n"
        "evil.example CNAME .  ; blocked\n*.evil.example CNAME .\n"
        "bad.example.rpz.local. 300 IN CNAME .\n32.7.2.0.192.rpz-ip CNAME .\n"
    )
    report = _import(node, path, _spec("rpz", name="zone"))
    assert (report.created, report.unchanged, report.rejected) == (2, 0, 0)
    assert set(_docs(node)) == {
        "[domain-name:value = 'evil.example']",
        "[domain-name:value = 'bad.example']",
    }


def test_long_and_undecodable_lines_are_rejected(node: Node, tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_bytes(b"a" * 10000 + b".example\n\xff\xfe.example\nok.example\n")
    report = _import(node, path, _spec("domain-list", name="long"))
    assert (report.created, [r.index for r in report.rejects]) == (1, [1, 2])


def test_repull_is_unchanged_then_refreshed_when_half_the_lifetime_is_used(
    node: Node, tmp_path: Path
) -> None:
    path = tmp_path / "ips.txt"
    path.write_text("198.51.100.1\n198.51.100.2\n")
    _add(node, _spec("ip-list", name="ips", source=str(path), lifetime="10d"))
    assert _pull(node, "ips").created == 2
    assert isinstance(node.clock, FixedClock)
    node.clock.advance(timedelta(days=2))
    again = _pull(node, "ips")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    path.write_text("198.51.100.1\n")  # .2 leaves the list
    node.clock.advance(timedelta(days=4))
    refreshed = _pull(node, "ips")
    assert (refreshed.updated, refreshed.unchanged) == (1, 0)
    docs = _docs(node)
    kept, gone = (
        docs["[ipv4-addr:value = '198.51.100.1']"],
        docs["[ipv4-addr:value = '198.51.100.2']"],
    )
    assert kept["created"] < kept["modified"] and kept["valid_until"] > gone["valid_until"]
    with node.database.reader() as session:
        [row] = list_feeds(session)
    assert row["last_import_id"] == refreshed.id


def test_changed_definition_makes_a_new_version(node: Node, tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("evil.example\n")
    assert _import(node, path, _spec("domain-list", name="d", tlp="green")).created == 1
    report = _import(node, path, _spec("domain-list", name="d", tlp="red"))
    assert report.updated == 1
    doc = _docs(node)["[domain-name:value = 'evil.example']"]
    assert doc["object_marking_refs"] == [marking_id(Tlp.RED)]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"name": "x", "format": "json"}, "format"),
        ({"name": "x", "format": "text", "lifetme": "3d"}, "lifetme"),
        ({"name": "x", "format": "text", "tlp": "purple"}, "tlp"),
        ({"name": "x", "format": "text", "confidence": 101}, "confidence"),
        ({"name": "x", "format": "text", "lifetime": "30 days"}, "lifetime"),
        ({"name": "x", "format": "text", "type": "phone"}, "type"),
        ({"name": "x", "format": "text", "columns": {"value": 1}}, "columns"),
        ({"name": "x", "format": "csv", "columns": {"value": -1}}, "columns.value"),
        ({"name": "x y", "format": "text"}, "name"),
        ({"name": "x", "format": "text", "source": "ftp://host/list"}, "source"),
    ],
)
def test_definition_errors_name_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_definition(document, where="feed.yaml")
    assert caught.value.fields["field"] == field
    assert caught.value.message.startswith(f"feed.yaml: field {field}:")


def test_yaml_files(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: mine\nformat: csv\ncolumns: {value: 2}\ntlp: TLP:GREEN\nlifetime: 2w\n")
    spec = read_definition(good)
    assert (spec.columns, spec.tlp, spec.lifetime_delta) == ({"value": 2}, "green", timedelta(14))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: mine\nformat: [text\n")
    with pytest.raises(InvalidInput, match=r"bad\.yaml: line 3 not valid YAML"):
        read_definition(bad)


def test_registry_add_conflict_remove(node: Node, tmp_path: Path) -> None:
    spec = _spec("domain-list", name="doms", source=str(tmp_path))
    _add(node, spec)
    with pytest.raises(Conflict):
        _add(node, spec)
    with pytest.raises(InvalidInput, match="source"):
        _add(node, _spec("domain-list", name="nosource"))
    with node.database.transaction() as session:
        remove_feed(session, clock=node.clock, actor="user:tester", name="doms")
    with node.database.transaction() as session, pytest.raises(NotFound):
        remove_feed(session, clock=node.clock, actor="user:tester", name="doms")
    with pytest.raises(NotFound):
        _pull(node, "doms")


def test_cli_feeds_add_list_pull_remove_and_intel_import_text(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHKEEPER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", database_url)
    listed = tmp_path / "hosts.txt"
    listed.write_text("0.0.0.0 ads.example\n0.0.0.0 bad..example\n")
    runner = CliRunner()
    added = runner.invoke(
        cli,
        [
            "feeds",
            "add",
            "blocklist",
            "--source",
            str(listed),
            "--format",
            "hosts",
            "--tlp",
            "green",
        ],
    )
    assert added.exit_code == 0, added.output
    rows = json.loads(runner.invoke(cli, ["feeds", "list", "--json"]).stdout)
    assert [(r["name"], r["format"], r["tlp"], r["last_pull_at"]) for r in rows] == [
        ("blocklist", "hosts", "green", None)
    ]
    pulled = runner.invoke(cli, ["feeds", "pull", "blocklist", "--json"])
    assert pulled.exit_code == 1  # one line was rejected
    document = json.loads(pulled.stdout)
    assert (document["created"], document["rejected"], document["rejects"][0]["index"]) == (1, 1, 2)
    again = runner.invoke(cli, ["feeds", "pull", "blocklist"])
    assert "1 unchanged" in again.stderr
    text = tmp_path / "iocs.txt"
    text.write_text("192.0.2.77\n")
    imported = runner.invoke(
        cli, ["intel", "import", str(text), "--format", "text", "--tlp", "amber", "--json"]
    )
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["created"] == 1
    refused = runner.invoke(cli, ["intel", "import", str(text), "--format", "stix", "--tlp", "red"])
    assert refused.exit_code != 0
    bad = runner.invoke(cli, ["feeds", "add", "x", "--source", str(listed), "--lifetime", "soon"])
    assert isinstance(bad.exception, InvalidInput) and "field lifetime" in bad.exception.message
    removed = runner.invoke(cli, ["feeds", "remove", "blocklist"])
    assert removed.exit_code == 0, removed.output
    assert json.loads(runner.invoke(cli, ["feeds", "list", "--json"]).stdout) == []


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A local HTTP server answering each path from a dict (404 otherwise)."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *_args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", pages
    httpd.shutdown()
    httpd.server_close()


def test_http_pull_and_size_cap(node: Node, server: tuple[str, dict[str, bytes]]) -> None:
    base, pages = server
    pages["/list.txt"] = b"# remote\nhxxp://remote[.]example/a\n198.51.100.9\n"
    _add(node, _spec("text", name="remote", source=f"{base}/list.txt", tlp="clear"))
    report = _pull(node, "remote")
    assert (report.created, report.rejected, report.source) == (2, 0, "feed:remote")
    assert "[url:value = 'http://remote.example/a']" in _docs(node)
    with pytest.raises(InvalidInput, match="more than 10 bytes"):
        _pull(node, "remote", max_bytes=10)
    _add(node, _spec("text", name="missing", source=f"{base}/nothing.txt"))
    with pytest.raises(Exception, match="HTTP 404"):
        _pull(node, "missing")
