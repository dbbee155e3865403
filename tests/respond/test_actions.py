"""The built-in actions, each run through a playbook: cases, intelligence, blocklist exports,
webhook signatures, SMTP, the HTTP allow-list, observables from an .eml file, request events."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from case_samples import seed
from run_samples import Recorder, action, playbook, registry, start
from sqlalchemy import select
from webhook_server import webhook_receiver

from watchkeeper.bus import Event
from watchkeeper.config import describe_settings
from watchkeeper.node import Node
from watchkeeper.respond.action_events import extract
from watchkeeper.respond.blocklist import export_blocklist, list_blocks
from watchkeeper.respond.cases import case_view
from watchkeeper.respond.run_views import run_document
from watchkeeper.respond.runner import run_due
from watchkeeper.testing import make_node


def _run(node: Node, *steps: Any, event: dict[str, Any] | None = None,
         recorder: Recorder | None = None) -> dict[str, Any]:  # fmt: skip
    run_id = start(node, playbook(*steps), event=event)
    run_due(node=node, actions=registry(recorder or Recorder()))
    with node.database.reader() as session:
        return run_document(session, run_id=run_id)


def test_case_actions_and_a_failure_noted_in_the_case(node: Node, tmp_path: Path) -> None:
    seeded = seed(node, tmp_path)
    doc = _run(
        node,
        action(
            "open",
            "create_case",
            title="Phish on {{ event.payload.host }}",
            severity="high",
            alert_ids=[seeded.laptop],
        ),
        action("obs", "add_observable", kind="domain", value="evil.example"),
        action("note", "add_note", text="opened by playbook"),
        action("broken", "record", retries=1, retry_delay_seconds=0),
        event={"type": "t", "payload": {"host": "laptop-7"}},
        recorder=Recorder(fail_times=5),
    )
    assert doc["status"] == "failed", doc
    case_id = doc["case_id"]
    assert case_id == doc["steps"][0]["output"]["id"]
    with node.database.reader() as session:
        view = case_view(session, case_id=case_id)
    text = str(view)
    assert "Phish on laptop-7" in text and "evil.example" in text
    assert "opened by playbook" in text
    assert f"Playbook pb run {doc['id']} failed" in text  # the failure reason, as a case note
    assert "flaky failure 2" in text


def test_block_and_exports(node: Node) -> None:
    doc = _run(node, action("b", "block", values=["evil[.]example", "203.0.113.9",
                                                   "hxxp://bad.example/x", "10.9.0.0/16"],
                            reason="c2"))  # fmt: skip
    assert doc["status"] == "completed", doc
    with node.database.reader() as session:
        entries = list_blocks(session, now=node.clock.now())
    rpz = export_blocklist(entries, format="rpz", now=node.clock.now())
    assert "IN SOA" in rpz
    assert "evil.example CNAME .\n*.evil.example CNAME ." in rpz
    assert "bad.example CNAME ." in rpz
    assert "32.9.113.0.203.rpz-ip CNAME ." in rpz and "16.0.0.9.10.rpz-ip CNAME ." in rpz
    iptables = export_blocklist(entries, format="iptables", now=node.clock.now())
    assert "-d 203.0.113.9 -j DROP" in iptables and "-d 10.9.0.0/16" in iptables
    plain = export_blocklist(entries, format="plain", now=node.clock.now()).split()
    assert "evil.example" in plain


def test_enrich_and_extract_from_an_eml_file(node: Node, tmp_path: Path) -> None:
    seed(node, tmp_path)
    eml = tmp_path / "report.eml"
    eml.write_bytes(
        b"From: Bank <alerts@secure-login-portal.net>\r\nTo: someone@agency.example\r\n"
        b"Subject: Verify your account\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/alternative; boundary=XX\r\n\r\n--XX\r\n"
        b"Content-Type: text/plain\r\n\r\nGo to hxxps://secure-login-portal[.]net/login now.\r\n"
        b"--XX\r\nContent-Type: text/html\r\n\r\n"
        b'<a href="http://185.220.101.47/x">click</a>\r\n--XX--\r\n'
    )
    doc = _run(
        node,
        action("found", "extract_observables", eml_path=str(eml)),
        action("looked", "enrich", values="{{ steps.found.domains + steps.found.ips }}"),
    )
    assert doc["status"] == "completed", doc
    found = doc["steps"][0]["output"]
    assert "https://secure-login-portal.net/login" in found["urls"]
    assert "secure-login-portal.net" in found["domains"] and "185.220.101.47" in found["ips"]
    assert "alerts@secure-login-portal.net" in found["emails"]
    looked = doc["steps"][1]["output"]
    assert "secure-login-portal.net" in looked["known"]
    assert looked["values"]["secure-login-portal.net"]["max_score"] is not None


def test_extract_from_text() -> None:
    got = extract("see evil[.]example and 192.0.2.1, mail bob@x.example, hxxp://a.example/p")
    assert set(got["domains"]) == {"evil.example", "x.example", "a.example"}
    assert got["ips"] == ["192.0.2.1"]
    assert got["urls"] == ["http://a.example/p"] and got["emails"] == ["bob@x.example"]


def test_webhook_is_signed_with_the_secret(tmp_path: Path) -> None:
    node = make_node(tmp_path / "d", respond_webhook_secret="s3cret")
    try:
        with webhook_receiver() as receiver:
            doc = _run(node, action("n", "notify_webhook", url=receiver.url, payload={"a": 1}))
        assert doc["status"] == "completed", doc
        request = receiver.requests[0]
        expected = "sha256=" + hmac.new(b"s3cret", request["body"], hashlib.sha256).hexdigest()
        assert request["headers"]["X-Watchkeeper-Signature"] == expected
        assert request["headers"]["Idempotency-Key"] == f"{doc['id']}:n"
        assert "s3cret" not in str(doc)
        shown = {row["name"]: row["value"] for row in describe_settings(node.settings)}
        assert shown["respond_webhook_secret"] == "***"
    finally:
        node.close()


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[bytes]]]:
    """A minimal SMTP server (enough for smtplib) that keeps each message's data."""
    listener = socket.create_server(("127.0.0.1", 0))
    messages: list[bytes] = []

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, connection.makefile("rb") as lines:
            connection.sendall(b"220 test ESMTP\r\n")
            for line in lines:
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    connection.sendall(b"250 test\r\n")
                elif verb == b"DATA":
                    connection.sendall(b"354 go on\r\n")
                    body = b""
                    for data in lines:
                        if data == b".\r\n":
                            break
                        body += data
                    messages.append(body)
                    connection.sendall(b"250 queued\r\n")
                elif verb == b"QUIT":
                    connection.sendall(b"221 bye\r\n")
                    return
                else:
                    connection.sendall(b"250 ok\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], messages
    finally:
        listener.close()


def test_email_over_smtp(tmp_path: Path) -> None:
    with smtp_server() as (port, messages):
        node = make_node(tmp_path / "d", respond_smtp_host="127.0.0.1", respond_smtp_port=port)
        try:
            doc = _run(node, action("mail", "notify_email", to=["soc@agency.example"],
                                    subject="Case opened", body="see the case"))  # fmt: skip
        finally:
            node.close()
    assert doc["status"] == "completed", doc
    assert b"Subject: Case opened" in messages[0] and b"see the case" in messages[0]


def test_http_request_only_to_allowed_hosts(tmp_path: Path) -> None:
    node = make_node(tmp_path / "d", respond_http_allow_hosts=["127.0.0.1"])
    try:
        doc = _run(node, action("h", "http_request", url="http://forbidden.example/x",
                                retries=3))  # fmt: skip
        assert doc["status"] == "failed"
        assert "not in respond_http_allow_hosts" in doc["reason"]
        assert doc["steps"][0]["attempt"] == 1  # refused for good, not retried
        with webhook_receiver() as receiver:
            doc = _run(node, action("h", "http_request", url=receiver.url, method="POST",
                                    json={"x": 1}))  # fmt: skip
        assert doc["status"] == "completed" and doc["steps"][0]["output"]["status"] == 200
    finally:
        node.close()


def test_request_events_and_variables(node: Node) -> None:
    doc = _run(
        node,
        action("v", "set_variable", name="country", value="{{ event.payload.cc }}"),
        action("p", "preserve_evidence", provider="host.example", country="{{ vars.country }}"),
        action("c", "draft_cooperation_request", kind="preservation"),
        action("s", "share_to_peers", indicator="x"),
        action("t", "tag_indicator", value="evil.example", tags=["phishing"]),
        event={"type": "t", "payload": {"cc": "FR"}},
    )
    assert doc["status"] == "completed", doc
    assert doc["vars"] == {"country": "FR"}
    with node.database.reader() as session:
        events = {e.type: e.payload for e in session.scalars(select(Event))}
    assert events["evidence.preserve.requested"]["country"] == "FR"
    assert events["evidence.preserve.requested"]["run_id"] == doc["id"]
    assert {"cooperation.request.drafted", "respond.share", "respond.indicator.tagged"} <= set(
        events
    )
