"""Escalations become cases: the ``case-from-escalation`` subscriber, exactly one case per
request, also when the request is retried or the event is delivered twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from case_samples import Seeded, seed
from sqlalchemy import func, select

from watchkeeper.bus import read_events
from watchkeeper.detect.alert_views import escalate_alert
from watchkeeper.detect.models import Alert
from watchkeeper.node import Node
from watchkeeper.respond.cases import case_view
from watchkeeper.respond.escalations import SUBSCRIBER, case_from_escalation, register
from watchkeeper.respond.models import Case


@pytest.fixture
def seeded(node: Node, tmp_path: Path) -> Seeded:
    register(node)
    return seed(node, tmp_path)


def _escalate(node: Node, *alert_ids: str, title: str | None = None) -> dict[str, object]:
    with node.database.transaction() as session:
        return escalate_alert(session, clock=node.clock, actor="user:ana", alert_ids=alert_ids,
                              title=title)  # fmt: skip


def _cases(node: Node) -> int:
    with node.database.reader() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def test_an_escalation_opens_one_case_with_its_alerts(node: Node, seeded: Seeded) -> None:
    register(node)  # a second registration is harmless
    assert [s.name for s in node.dispatcher.subscribers].count(SUBSCRIBER) == 1
    asked = _escalate(node, seeded.laptop, seeded.server, title="Phishing portal visits")
    report = node.dispatcher.run_once()
    assert report.failed == 0
    with node.database.reader() as session:
        case = session.scalars(select(Case)).one()
        alerts = [session.get_one(Alert, i) for i in (seeded.laptop, seeded.server)]
        view = case_view(session, case_id=case.id, intel=False)
        opened = read_events(session, types=["case.open"])
    assert case.escalation_id == asked["escalation"] and case.template == "indicator-hit"
    assert case.title == "Indicator hit: Phishing portal visits"
    assert case.severity == "critical" and case.created_by == "user:ana"
    assert all(a.case_id == case.id and a.status == "escalated" for a in alerts)
    assert len(view["tasks"]) == 4 and len(view["alerts"]) == 2
    assert "detect.alert.escalate" in [e["kind"] for e in view["timeline"]]
    assert len(opened) == 1
    node.dispatcher.run_once()
    assert _cases(node) == 1


def test_a_retry_and_a_redelivery_open_no_second_case(node: Node, seeded: Seeded) -> None:
    first = _escalate(node, seeded.laptop)
    # the case was not opened yet (subscriber late): the user asks again, adding an alert
    retry = _escalate(node, seeded.laptop, seeded.red)
    with node.database.reader() as session:
        events = read_events(session, types=["detect.alert.escalate"])
    assert events[1].payload["again"] == [seeded.laptop]
    node.dispatcher.run_once()
    assert _cases(node) == 1
    with node.database.reader() as session:
        case = session.scalars(select(Case)).one()
        red = session.get_one(Alert, seeded.red)
    assert case.escalation_id == first["escalation"] != retry["escalation"]
    assert red.case_id == case.id and case.tlp == "red"  # the retry's extra alert joined it
    # the same event delivered again (a crash before the cursor moved) changes nothing
    with node.database.transaction() as session:
        again = case_from_escalation(session, clock=node.clock, event=events[0])
    assert again == {"case_id": case.id, "number": case.number, "opened": False}
    assert _cases(node) == 1


def test_non_indicator_alerts_get_no_indicator_template(node: Node, seeded: Seeded) -> None:
    with node.database.transaction() as session:
        session.get_one(Alert, seeded.server).kind = "sigma"
    _escalate(node, seeded.server, seeded.laptop)
    node.dispatcher.run_once()
    with node.database.reader() as session:
        case = session.scalars(select(Case)).one()
        view = case_view(session, case_id=case.id, intel=False)
    assert case.template is None and view["tasks"] == [] and len(view["alerts"]) == 2


def test_a_broken_local_template_does_not_stop_cases(node: Node, seeded: Seeded) -> None:
    folder = node.data_dir / "case_templates"
    folder.mkdir()
    (folder / "indicator-hit.yaml").write_text("name: indicator-hit\nseverity: huge\n")
    _escalate(node, seeded.laptop)
    assert node.dispatcher.run_once().failed == 0
    with node.database.reader() as session:
        case = session.scalars(select(Case)).one()
    assert case.template is None and case.escalation_id
