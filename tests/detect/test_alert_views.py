"""Alerts as people handle them: filtered pages, one alert with its lines and indicator,
status changes and escalation (one event per request, audited)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from sqlalchemy import update

from watchkeeper.bus import read_events
from watchkeeper.core.tlp import Tlp
from watchkeeper.detect.alert_views import (
    alert_counts,
    alert_view,
    escalate_alert,
    list_alerts,
    list_runs,
    set_alert_status,
)
from watchkeeper.detect.alerts import HIT_SCHEMA, write_alerts
from watchkeeper.detect.hits import indicator_hits
from watchkeeper.detect.live import LiveIndex
from watchkeeper.detect.models import Alert, DetectionRun
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.intel import expand, import_stix
from watchkeeper.node import Node
from watchkeeper.security import entry_document, list_entries

STAMP = "2026-01-01T00:00:00.000Z"
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
TLP_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
RULE = "5f1a2d4e-0000-4000-8000-00000000beef"


@dataclass
class Seeded:
    evil: str  # indicator id of the C2 domain
    red: str  # indicator id of a TLP:RED address


def _indicator(pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": STAMP,
        "modified": STAMP,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": STAMP,
        **extra,
    }


def _sigma_hits(rows: list[tuple[str, int, str]]) -> pl.DataFrame:
    """Hand-made Sigma hits: (host, minute, command line)."""
    return pl.DataFrame(
        {
            "kind": ["sigma"] * len(rows),
            "subject": [RULE] * len(rows),
            "title": ["Encoded PowerShell"] * len(rows),
            "severity": ["medium"] * len(rows),
            "score": [60] * len(rows),
            "explanation": ["rule matched process.command_line"] * len(rows),
            "value": [command for _, _, command in rows],
            "value_kind": ["command"] * len(rows),
            "field": ["process.command_line"] * len(rows),
            "tlp": [None] * len(rows),
            "host": [host for host, _, _ in rows],
            "organization": ["ministry"] * len(rows),
            "@timestamp": [T0 + timedelta(minutes=minute) for _, minute, _ in rows],
            "source": ["sysmon.jsonl"] * len(rows),
            "line": list(range(1, len(rows) + 1)),
            "row": [None] * len(rows),
        },
        schema=HIT_SCHEMA,
    )


def seed(node: Node, tmp_path: Path) -> Seeded:
    """Five alerts: three indicator alerts (ws1 twice, ws2), one TLP:RED (ws3), one Sigma."""
    evil = _indicator("[domain-name:value = 'evil-site.org']", name="C2 domain", confidence=85)
    red = _indicator(
        "[ipv4-addr:value = '45.77.10.20']", name="Tasking server", object_marking_refs=[TLP_RED]
    )
    path = tmp_path / "intel.json"
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [evil, red]}
    path.write_bytes(orjson.dumps(bundle))
    import_stix(
        node.database, clock=node.clock, actor="user:t", inputs=expand([str(path)]), source="feedA"
    )
    with node.database.reader() as session:
        live = LiveIndex.build(session=session, now=node.clock.now())
    frame = pl.DataFrame(
        {
            "@timestamp": [T0 + timedelta(minutes=m) for m in (0, 1, 5, 7, 75, 80)],
            "dns.question.name": ["a.evil-site.org", "good.org", "evil-site.org",
                                  "x.evil-site.org", "evil-site.org", None],
            "source.ip": [None, None, None, None, None, "45.77.10.20"],
            "host.name": ["ws1", "ws1", "ws1", "ws2", "ws1", "ws3"],
            "log.file.path": ["dns.log"] * 6,
            "log.file.line": list(range(9, 15)),
        },
        schema_overrides={"@timestamp": pl.Datetime("us", "UTC")},
    )  # fmt: skip
    with node.database.transaction() as session:
        hits = indicator_hits(session=session, live=live, frame=frame)
        write_alerts(session, clock=node.clock, actor="detect", hits=hits, frame=frame,
                     window=timedelta(hours=1))  # fmt: skip
        sigma = _sigma_hits([("ws2", 130, "powershell -enc SQBFAFgA")])
        write_alerts(session, clock=node.clock, actor="detect", hits=sigma, frame=None,
                     window=timedelta(hours=1), retro=True)  # fmt: skip
    return Seeded(evil=evil["id"], red=red["id"])


def _all(node: Node, **filters: Any) -> list[dict[str, Any]]:
    with node.database.reader() as session:
        page = list_alerts(session, **filters)
    assert page["next"] is None
    alerts: list[dict[str, Any]] = page["alerts"]
    return alerts


def _id(node: Node, **filters: Any) -> str:
    [alert] = _all(node, **filters)
    return str(alert["id"])


def test_filters_and_order(node: Node, tmp_path: Path) -> None:
    seeded = seed(node, tmp_path)
    everything = _all(node)
    assert [(a["kind"], a["host"], a["count"]) for a in everything] == [
        ("sigma", "ws2", 1),
        ("indicator", "ws3", 1),
        ("indicator", "ws1", 1),
        ("indicator", "ws2", 1),
        ("indicator", "ws1", 2),
    ]
    assert [a["last_seen"] for a in everything] == sorted(
        (a["last_seen"] for a in everything), reverse=True
    )
    assert {a["status"] for a in everything} == {"new"}
    assert len(_all(node, kind=["indicator"])) == 4
    assert len(_all(node, kind=["sigma", "indicator"], host="ws2")) == 2
    assert len(_all(node, severity=["high"])) == 3  # confidence 85; the red one scores 50
    assert len(_all(node, indicator_id=seeded.evil)) == 3
    assert _all(node, rule_id=RULE)[0]["value"] == "powershell -enc SQBFAFgA"
    assert [a["kind"] for a in _all(node, retro=True)] == ["sigma"]
    assert len(_all(node, retro=False)) == 4
    # q: case-insensitive, in title, value or host; LIKE wildcards are literal
    assert len(_all(node, q="C2 DOMAIN")) == 3
    assert len(_all(node, q="SQBFAFgA")) == 1
    assert len(_all(node, q="ws3")) == 1
    assert _all(node, q="%") == []
    # since/until bound last_seen (until exclusive)
    late = _all(node, since=T0 + timedelta(minutes=75))
    assert [a["host"] for a in late] == ["ws2", "ws3", "ws1"]
    assert len(_all(node, until=T0 + timedelta(minutes=75))) == 2
    assert len(_all(node, since=datetime(2026, 3, 1, 11, 15), until=T0 + timedelta(hours=2))) == 2
    assert _all(node, organization="ministry")[0]["kind"] == "sigma"
    assert _all(node, status=["closed"]) == []


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"status": ["open"]}, "status"),
        ({"kind": ["yara"]}, "kind"),
        ({"severity": ["severe"]}, "severity"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_filters_name_their_field(node: Node, filters: dict[str, Any], field: str) -> None:
    with node.database.reader() as session, pytest.raises(InvalidInput) as caught:
        list_alerts(session, **filters)
    assert caught.value.fields["field"] == field


def test_pages_follow_the_cursor_without_gaps(node: Node, tmp_path: Path) -> None:
    seed(node, tmp_path)
    # the same last_seen twice: the id breaks the tie, so no alert is skipped or repeated
    with node.database.transaction() as session:
        session.execute(update(Alert).where(Alert.host == "ws2").values(last_seen=T0))
    everything = [a["id"] for a in _all(node)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        with node.database.reader() as session:
            page = list_alerts(session, limit=2, cursor=cursor)
        seen += [a["id"] for a in page["alerts"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == everything and len(set(seen)) == 5 and pages == 3


def test_tlp_red_alerts_are_hidden_below_red(node: Node, tmp_path: Path) -> None:
    seeded = seed(node, tmp_path)
    [red] = _all(node, indicator_id=seeded.red)
    assert red["tlp"] == "red"
    shown = _all(node, max_tlp=Tlp.AMBER_STRICT)
    assert len(shown) == 4 and red["id"] not in {a["id"] for a in shown}
    with node.database.reader() as session:
        assert alert_counts(session, max_tlp=Tlp.AMBER)["status"]["new"] == 4
        assert alert_counts(session)["status"]["new"] == 5
        with pytest.raises(NotFound):
            alert_view(session, alert_id=red["id"], max_tlp=Tlp.AMBER)
        assert alert_view(session, alert_id=red["id"])["alert"]["tlp"] == "red"


def test_view_shows_lines_events_and_the_indicator(node: Node, tmp_path: Path) -> None:
    seeded = seed(node, tmp_path)
    alert_id = _id(node, host="ws1", since=T0, until=T0 + timedelta(hours=1))
    with node.database.reader() as session:
        view = alert_view(session, alert_id=alert_id, now=node.clock.now())
    assert view["alert"]["count"] == 2 and view["alert"]["explanation"]
    assert [(line["source"], line["line"], line["field"]) for line in view["lines"]] == [
        ("dns.log", 9, "dns.question.name"),
        ("dns.log", 11, "dns.question.name"),
    ]
    assert view["lines"][0]["event"]["dns.question.name"] == "a.evil-site.org"
    assert view["lines"][0]["seen_at"] == T0.isoformat()
    indicator = view["indicator"]
    assert indicator["id"] == seeded.evil
    assert indicator["pattern"] == "[domain-name:value = 'evil-site.org']"
    assert indicator["name"] == "C2 domain" and indicator["confidence"] == 85
    assert [p["source"] for p in indicator["provenance"]] == ["feedA"]
    assert indicator["score"]["id"] == seeded.evil and indicator["score"]["score"] > 0
    assert view["rule_id"] is None

    sigma_id = _id(node, kind=["sigma"])
    with node.database.reader() as session:
        sigma = alert_view(session, alert_id=sigma_id)
        assert sigma["indicator"] is None and sigma["rule_id"] == RULE
        assert sigma["lines"][0]["event"] == {}  # analytics keep file and line only
        with pytest.raises(NotFound, match="nope"):
            alert_view(session, alert_id="nope")


def test_status_changes_are_audited(node: Node, tmp_path: Path) -> None:
    seed(node, tmp_path)
    alert_id = _id(node, host="ws3")
    with node.database.transaction() as session:
        done = set_alert_status(session, clock=node.clock, actor="user:ana", alert_id=alert_id,
                                status="acknowledged", reason="looking")  # fmt: skip
        assert done["status"] == "acknowledged"
        # the same status again changes and records nothing
        set_alert_status(session, clock=node.clock, actor="user:ana", alert_id=alert_id,
                         status="acknowledged")  # fmt: skip
        set_alert_status(session, clock=node.clock, actor="user:ana", alert_id=alert_id,
                         status="Closed", reason="lab machine")  # fmt: skip
    assert _all(node, status=["closed"])[0]["id"] == alert_id
    with node.database.reader() as session:
        entries = [entry_document(e) for e in list_entries(session, action="detect.alert.status")]
        events = read_events(session, types=["detect.alert.status"])
    detail = [(e["actor"], e["subject"], *(e["detail"][k] for k in ("from", "to", "reason")))
              for e in entries]  # fmt: skip
    assert detail == [
        ("user:ana", alert_id, "new", "acknowledged", "looking"),
        ("user:ana", alert_id, "acknowledged", "closed", "lab machine"),
    ]  # fmt: skip
    assert [event.subject for event in events] == [alert_id, alert_id]


@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        ("escalated", InvalidInput, "use escalate"),
        ("open", InvalidInput, "status must be one of"),
    ],
)
def test_bad_statuses_are_refused(
    node: Node, tmp_path: Path, status: str, error: type[Exception], match: str
) -> None:
    seed(node, tmp_path)
    alert_id = _id(node, host="ws3")
    with node.database.transaction() as session, pytest.raises(error, match=match):
        set_alert_status(session, clock=node.clock, actor="user:ana", alert_id=alert_id,
                         status=status)  # fmt: skip
    with node.database.transaction() as session, pytest.raises(NotFound):
        set_alert_status(session, clock=node.clock, actor="user:ana", alert_id="gone",
                         status="closed")  # fmt: skip


def test_escalation_emits_one_event_with_the_summaries(node: Node, tmp_path: Path) -> None:
    seed(node, tmp_path)
    ws1 = [a["id"] for a in _all(node, host="ws1")]
    with node.database.transaction() as session:
        done = escalate_alert(session, clock=node.clock, actor="user:rita",
                              alert_ids=[*ws1, ws1[0]], title="  Ministry C2  ")  # fmt: skip
    assert done["title"] == "Ministry C2" and done["seq"] > 0
    assert [a["status"] for a in done["alerts"]] == ["escalated", "escalated"]
    with node.database.reader() as session:
        [event] = read_events(session, types=["detect.alert.escalate"])
        [entry] = list_entries(session, action="detect.alert.escalate")
    assert event.seq == done["seq"] and event.subject == done["escalation"]
    assert event.actor == "user:rita" and entry.subject == done["escalation"]
    payload = event.payload
    assert payload["title"] == "Ministry C2" and payload["requested_by"] == "user:rita"
    assert [a["id"] for a in payload["alerts"]] == ws1  # once each, in the order asked
    assert payload["alerts"][0]["indicator_id"] and payload["alerts"][0]["host"] == "ws1"
    assert payload["again"] == []
    assert {a["status"] for a in _all(node, host="ws1")} == {"escalated"}

    # still unlinked: asking again is a retry, flagged as such; the title defaults
    with node.database.transaction() as session:
        again = escalate_alert(session, clock=node.clock, actor="user:rita", alert_ids=ws1[:1])
    assert again["title"] == "Indicator hit: C2 domain on ws1"
    with node.database.reader() as session:
        events = read_events(session, types=["detect.alert.escalate"])
    assert len(events) == 2 and events[1].payload["again"] == ws1[:1]

    # once the case side has linked it, a second case is a conflict
    with node.database.transaction() as session:
        session.execute(update(Alert).where(Alert.id == ws1[0]).values(case_id="case-1"))
    with node.database.transaction() as session, pytest.raises(Conflict, match="case-1"):
        escalate_alert(session, clock=node.clock, actor="user:rita", alert_ids=ws1)
    # an escalated alert can be closed, not reopened
    with node.database.transaction() as session, pytest.raises(Conflict, match="only be closed"):
        set_alert_status(session, clock=node.clock, actor="user:rita", alert_id=ws1[0],
                         status="new")  # fmt: skip
    with node.database.reader() as session:
        assert len(read_events(session, types=["detect.alert.escalate"])) == 2


def test_escalation_refuses_unknown_or_no_alerts(node: Node, tmp_path: Path) -> None:
    seed(node, tmp_path)
    known = _id(node, host="ws3")
    with node.database.transaction() as session, pytest.raises(NotFound, match="ghost"):
        escalate_alert(session, clock=node.clock, actor="user:a", alert_ids=[known, "ghost"])
    with node.database.transaction() as session, pytest.raises(InvalidInput):
        escalate_alert(session, clock=node.clock, actor="user:a", alert_ids=[" "])
    with node.database.transaction() as session, pytest.raises(NotFound):
        escalate_alert(session, clock=node.clock, actor="user:a", alert_ids=[known],
                       max_tlp=Tlp.AMBER)  # fmt: skip
    assert _all(node, host="ws3")[0]["status"] == "new"  # nothing half-done
    with node.database.reader() as session:
        assert read_events(session, types=["detect.alert.escalate"]) == []


def test_runs_newest_first(node: Node) -> None:
    with node.database.transaction() as session:
        for hour in (1, 3, 2):
            session.add(
                DetectionRun(id=f"run-{hour}", kind="run", actor="cli:ops",
                             started_at=T0 + timedelta(hours=hour), finished_at=None,
                             status="done", sources=["dns.log"], counts={"lines": hour},
                             malformed=["dns.log:4: not JSON"], error=None)
            )  # fmt: skip
    with node.database.reader() as session:
        runs = list_runs(session, limit=2)
        with pytest.raises(InvalidInput):
            list_runs(session, limit=0)
    assert [r["id"] for r in runs] == ["run-3", "run-2"]
    assert runs[0]["malformed"] == ["dns.log:4: not JSON"] and runs[0]["counts"] == {"lines": 3}
