"""Cases: opening from templates with alerts, transitions, closing (false positives feed the
indicator's score back), merges, links without cycles, the timeline, bad input."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from case_samples import Seeded, seed
from sqlalchemy import select

from watchkeeper.bus import read_events
from watchkeeper.core import FixedClock
from watchkeeper.detect.alert_views import set_alert_status
from watchkeeper.detect.models import Alert
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.intel import explain_score
from watchkeeper.node import Node
from watchkeeper.respond.case_templates import load_templates
from watchkeeper.respond.cases import (
    add_note,
    add_observable,
    add_task,
    assign_case,
    case_view,
    close_case,
    link_cases,
    list_cases,
    merge_alerts,
    open_case,
    set_status,
    update_case,
    update_task,
)
from watchkeeper.security import add_user

ACTOR = "user:ana"


@pytest.fixture
def seeded(node: Node, tmp_path: Path) -> Seeded:
    return seed(node, tmp_path)


def _open(node: Node, **fields: object) -> dict[str, object]:
    values: dict[str, object] = {"title": "Suspicious logins", "severity": "medium", "tlp": "amber"}
    values.update(fields)
    with node.database.transaction() as session:
        return open_case(session, clock=node.clock, actor=ACTOR, **values)  # type: ignore[arg-type]


def test_open_from_template_numbers_merges_and_audits(node: Node, seeded: Seeded) -> None:
    first = _open(node, template="indicator-hit", severity=None, tlp=None,
                  alert_ids=[seeded.laptop, seeded.red])  # fmt: skip
    second = _open(node)
    assert (first["number"], second["number"]) == ("C-2026-0001", "C-2026-0002")
    assert first["title"] == "Indicator hit: Suspicious logins"
    assert first["severity"] == "high" and first["template"] == "indicator-hit"
    # the RED alert makes the case RED although the template says AMBER
    assert first["tlp"] == "red" and second["tlp"] == "amber"
    with node.database.reader() as session:
        view = case_view(session, case_id="c-2026-0001")
        alerts = {a.id: a for a in session.scalars(select(Alert))}
        opened = read_events(session, types=["case.open"])
    assert [t["title"] for t in view["tasks"]][:2] == [
        "Confirm the hit", "Identify the affected hosts and owners",
    ]  # fmt: skip
    assert sum(t["mandatory"] for t in view["tasks"]) == 3
    pairs = {(o["kind"], o["value"], o["ioc"]) for o in view["observables"]}
    assert ("domain", "secure-login-portal.net", True) in pairs
    assert ("ipv4", "185.220.101.47", True) in pairs and ("host", "laptop-7", False) in pairs
    known = {o["value"]: [i["id"] for i in o["intel"]] for o in view["observables"]}
    assert known["secure-login-portal.net"] == [seeded.domain_indicator]
    for alert_id in (seeded.laptop, seeded.red):
        assert alerts[alert_id].case_id == first["id"] and alerts[alert_id].status == "escalated"
    assert alerts[seeded.server].case_id is None
    assert [e.subject for e in opened] == [first["id"], second["id"]]
    assert sorted(opened[0].payload["alerts"]) == sorted([seeded.laptop, seeded.red])


def test_status_transitions_close_and_reopen(node: Node, seeded: Seeded) -> None:
    case = _open(node, template="indicator-hit", alert_ids=[seeded.server])
    number = str(case["number"])
    with node.database.transaction() as session:
        assert set_status(session, clock=node.clock, actor=ACTOR, case_id=number,
                          status="contained")["status"] == "contained"  # fmt: skip
    for wanted, hint in (("triage", "allowed: investigating, eradicated"), ("closed", "close")):
        with pytest.raises(InvalidInput) as refused, node.database.transaction() as session:
            set_status(session, clock=node.clock, actor=ACTOR, case_id=number, status=wanted)
        assert refused.value.fields["field"] == "status" and hint in refused.value.message
    # a true positive needs its mandatory tasks done (or cancelled) first
    with pytest.raises(Conflict) as pending, node.database.transaction() as session:
        close_case(session, clock=node.clock, actor=ACTOR, case_id=number,
                   disposition="true-positive", reason="confirmed C2")  # fmt: skip
    assert "Confirm the hit" in pending.value.message
    with node.database.transaction() as session:
        for task in case_view(session, case_id=number, intel=False)["tasks"]:
            update_task(session, clock=node.clock, actor=ACTOR, case_id=number,
                        task_id=task["id"], status="completed")  # fmt: skip
        closed = close_case(session, clock=node.clock, actor=ACTOR, case_id=number,
                            disposition="True-Positive", reason="confirmed C2")  # fmt: skip
    assert closed["status"] == "closed" and closed["disposition"] == "true-positive"
    with node.database.reader() as session:
        assert session.get_one(Alert, seeded.server).status == "closed"
        tasks = case_view(session, case_id=number, intel=False)["tasks"]
    assert all(t["completed_by"] == ACTOR and t["completed_at"] for t in tasks)
    with pytest.raises(Conflict), node.database.transaction() as session:
        add_task(session, clock=node.clock, actor=ACTOR, case_id=number, title="late")
    with pytest.raises(InvalidInput) as only_investigating, node.database.transaction() as s:
        set_status(s, clock=node.clock, actor=ACTOR, case_id=number, status="recovered")
    assert "allowed: investigating" in only_investigating.value.message
    with node.database.transaction() as session:
        add_note(session, clock=node.clock, actor=ACTOR, case_id=number, text="post-mortem")
        reopened = set_status(session, clock=node.clock, actor=ACTOR, case_id=number,
                              status="investigating", reason="new host seen")  # fmt: skip
        events = read_events(session, types=["case.status"])
    assert reopened["disposition"] is None and reopened["closed_at"] is None
    assert events[-1].payload["reopened"] is True and events[-1].payload["from"] == "closed"


def test_false_positive_close_lowers_the_indicator_score(node: Node, seeded: Seeded) -> None:
    def score() -> float:
        with node.database.reader() as session:
            explained = explain_score(session, target=seeded.domain_indicator,
                                      now=node.clock.now())  # fmt: skip
        return float(explained[0]["score"])

    before = score()
    assert before > 50
    case = _open(node, alert_ids=[seeded.laptop, seeded.server])
    with node.database.transaction() as session:
        done = close_case(session, clock=node.clock, actor=ACTOR, case_id=str(case["id"]),
                          disposition="false-positive", reason="our own login portal")  # fmt: skip
    assert done["false_positive"]["indicators"] == [seeded.domain_indicator]
    after = score()
    assert after < before and after == 0
    with node.database.reader() as session:
        reports = read_events(session, types=["intel.false_positive"])
        assert session.get_one(Alert, seeded.laptop).status == "closed"
    assert len(reports) == 1 and "our own login portal" in reports[0].payload["reason"]
    # the RED indicator was not behind this case: untouched
    with node.database.reader() as session:
        red = explain_score(session, target=seeded.ip_indicator, now=node.clock.now())
    assert red[0]["score"] > 50


def test_merge_is_idempotent_and_refuses_alerts_of_another_case(node: Node, seeded: Seeded) -> None:
    one, two = _open(node), _open(node)
    with node.database.transaction() as session:
        merged = merge_alerts(session, clock=node.clock, actor=ACTOR, case_id=str(one["id"]),
                              alert_ids=[seeded.laptop, seeded.server])  # fmt: skip
        again = merge_alerts(session, clock=node.clock, actor=ACTOR, case_id=str(one["id"]),
                             alert_ids=[seeded.laptop])  # fmt: skip
    assert sorted(merged["merged"]) == sorted([seeded.laptop, seeded.server])
    assert {"kind": "host", "value": "laptop-7"} in merged["observables"]
    assert {"kind": "ipv4", "value": "10.1.2.3"} in merged["observables"]
    assert again["merged"] == [] and again["already"] == [seeded.laptop]
    with pytest.raises(Conflict) as clash, node.database.transaction() as session:
        merge_alerts(session, clock=node.clock, actor=ACTOR, case_id=str(two["id"]),
                     alert_ids=[seeded.red, seeded.laptop])  # fmt: skip
    assert seeded.laptop in clash.value.message
    with node.database.reader() as session:
        assert session.get_one(Alert, seeded.red).case_id is None  # nothing half-merged
        assert len(read_events(session, types=["case.merge"])) == 1
    with pytest.raises(NotFound) as missing, node.database.transaction() as session:
        merge_alerts(session, clock=node.clock, actor=ACTOR, case_id=str(two["id"]),
                     alert_ids=["no-such-alert"])  # fmt: skip
    assert missing.value.fields["field"] == "alert_ids"


def test_links_refuse_cycles_and_campaigns_are_created_once(node: Node) -> None:
    a, b = _open(node, title="Ransomware at ministry"), _open(node, title="Beacon at agency")
    c = _open(node, title="Phishing wave", parent_id=b["number"], campaign="Ghostwriter")
    with node.database.transaction() as session:
        link_cases(session, clock=node.clock, actor=ACTOR, case_id=str(b["id"]),
                   parent_id=str(a["id"]), campaign="Ghostwriter")  # fmt: skip
        for parent in (c["id"], a["id"]):
            with pytest.raises(InvalidInput) as cycle:
                link_cases(session, clock=node.clock, actor=ACTOR, case_id=str(a["id"]),
                           parent_id=str(parent))  # fmt: skip
            assert cycle.value.fields["field"] == "parent_id" and "cycle" in cycle.value.message
        links = read_events(session, types=["case.link", "case.open"])
    created = [e.payload.get("campaign_created") for e in links if e.payload.get("campaign")]
    assert created == [True, False]
    with node.database.reader() as session:
        view = case_view(session, case_id=str(b["number"]))
        listed = list_cases(session, campaign="Ghostwriter")
    assert view["parent"]["number"] == a["number"]
    assert [child["number"] for child in view["children"]] == [c["number"]]
    assert view["campaign"]["name"] == "Ghostwriter"
    assert [s["number"] for s in view["campaign"]["cases"]] == [c["number"]]
    assert sorted(x["number"] for x in listed["cases"]) == sorted([b["number"], c["number"]])


def test_timeline_is_built_from_the_event_log(node: Node, seeded: Seeded) -> None:
    case = _open(node, alert_ids=[seeded.laptop])
    case_id = str(case["id"])
    assert isinstance(node.clock, FixedClock)
    with node.database.transaction() as session:
        add_user(session, clock=node.clock, actor="test", name="bo", roles=["responder"])
    node.clock.advance(timedelta(minutes=5))
    with node.database.transaction() as session:
        assign_case(session, clock=node.clock, actor=ACTOR, case_id=case_id, assignee="bo")
        add_note(session, clock=node.clock, actor="user:bo", case_id=case_id, text="Called IT")
        set_status(session, clock=node.clock, actor="user:bo", case_id=case_id,
                   status="triage")  # fmt: skip
        # another area's event naming the case in its payload
        set_alert_status(session, clock=node.clock, actor="user:bo", alert_id=seeded.laptop,
                         status="closed", reason="handled in the case")  # fmt: skip
    with node.database.reader() as session:
        timeline = case_view(session, case_id=case_id, intel=False)["timeline"]
    kinds = [entry["kind"] for entry in timeline]
    assert kinds == [
        "alert.first_seen", "alert.last_seen", "detect.alert", "case.open", "case.assign",
        "case.note", "case.status", "detect.alert.status",
    ]  # fmt: skip
    assert [entry["at"] for entry in timeline] == sorted(entry["at"] for entry in timeline)
    assert timeline[4]["summary"] == "assigned to bo"
    assert timeline[6]["summary"] == "status new -> triage" and timeline[6]["actor"] == "user:bo"


def test_templates_from_the_data_dir_and_their_errors(node: Node, tmp_path: Path) -> None:
    shipped = load_templates()
    assert {"indicator-hit", "phishing", "malware-infection", "data-breach"} <= set(shipped)
    folder = node.data_dir / "case_templates"
    folder.mkdir()
    (folder / "indicator-hit.yaml").write_text(
        "name: indicator-hit\ntitle_prefix: Hit\nseverity: low\ntasks: [Look]\n"
    )
    (folder / "ddos.yaml").write_text(
        "name: ddos\nseverity: critical\ntlp: TLP:GREEN\ntasks:\n  - title: Call the ISP\n"
        "    mandatory: true\n"
    )
    mine = load_templates(data_dir=node.data_dir)
    assert mine["indicator-hit"].severity == "low" and len(mine["indicator-hit"].tasks) == 1
    assert mine["ddos"].tlp == "green" and mine["ddos"].tasks[0].mandatory
    case = _open(node, template="ddos", severity=None, tlp=None, data_dir=node.data_dir)
    assert case["severity"] == "critical" and case["tlp"] == "green"
    (folder / "broken.yaml").write_text("name: broken\ntasks:\n  - title: ok\n    mandatory: 3\n")
    with pytest.raises(InvalidInput) as bad:
        load_templates(data_dir=node.data_dir)
    assert "broken.yaml" in bad.value.message and "tasks[0].mandatory" in bad.value.message
    (folder / "broken.yaml").write_text("name: broken\ntasks: [\n  - oops: {\n")
    with pytest.raises(InvalidInput) as unparsable:
        load_templates(data_dir=node.data_dir)
    assert "broken.yaml:" in unparsable.value.message and unparsable.value.fields["line"]
    (folder / "broken.yaml").write_text("name: broken\ncolour: red\n")
    with pytest.raises(InvalidInput) as unknown:
        load_templates(data_dir=node.data_dir)
    assert unknown.value.fields["field"] == "colour"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"severity": "urgent"}, "severity"),
        ({"tlp": "purple"}, "tlp"),
        ({"title": "  "}, "title"),
        ({"template": "nope"}, "template"),
        ({"pap": "blue"}, "pap"),
        ({"parent_id": "C-2026-9999"}, "parent_id"),
        ({"assignee": "ghost"}, "assignee"),
    ],
)
def test_bad_input_names_the_field(node: Node, fields: dict[str, str], field: str) -> None:
    with pytest.raises((InvalidInput, NotFound)) as refused:
        _open(node, **fields)
    assert refused.value.fields["field"] == field  # type: ignore[union-attr]


def test_observables_are_normalised_and_looked_up(node: Node, seeded: Seeded) -> None:
    case_id = str(_open(node)["id"])
    with node.database.transaction() as session:
        added = add_observable(session, clock=node.clock, actor=ACTOR, case_id=case_id,
                               kind="url", value="HTTP://Secure-Login-Portal.NET:80/a",
                               ioc=True)  # fmt: skip
        again = add_observable(session, clock=node.clock, actor=ACTOR, case_id=case_id,
                               kind="url", value="http://secure-login-portal.net/a")  # fmt: skip
        with pytest.raises(InvalidInput) as bad:
            add_observable(session, clock=node.clock, actor=ACTOR, case_id=case_id,
                           kind="ipv4", value="999.1.1.1")  # fmt: skip
        with pytest.raises(InvalidInput) as kind:
            add_observable(session, clock=node.clock, actor=ACTOR, case_id=case_id,
                           kind="colour", value="red")  # fmt: skip
    assert added["created"] and added["observable"]["value"] == "http://secure-login-portal.net/a"
    assert [i["id"] for i in added["intel"]] == [seeded.domain_indicator]
    assert not again["created"] and again["observable"]["id"] == added["observable"]["id"]
    assert bad.value.fields["field"] == "value" and kind.value.fields["field"] == "kind"


def test_list_filters_and_pages(node: Node) -> None:
    with node.database.transaction() as session:
        add_user(session, clock=node.clock, actor="test", name="bo", roles=["responder"])
    for index in range(5):
        _open(node, title=f"Case {index}", severity="high" if index % 2 else "low",
              assignee="bo" if index == 3 else None)  # fmt: skip
    with node.database.transaction() as session:
        update_case(session, clock=node.clock, actor=ACTOR, case_id="C-2026-0001",
                    title="Wiper at the port authority")  # fmt: skip
        set_status(session, clock=node.clock, actor=ACTOR, case_id="C-2026-0002",
                   status="investigating")  # fmt: skip
    with node.database.reader() as session:
        assert list_cases(session, severity=["high"])["total"] == 2
        assert [c["number"] for c in list_cases(session, assignee="bo")["cases"]] == ["C-2026-0004"]
        assert list_cases(session, text="port authority")["cases"][0]["number"] == "C-2026-0001"
        assert list_cases(session, status=["investigating"])["total"] == 1
        assert list_cases(session, status=["open"])["total"] == 5
        page = list_cases(session, limit=2)
        rest = list_cases(session, limit=2, offset=4)
        with pytest.raises(InvalidInput) as bad:
            list_cases(session, status=["bogus"])
    assert page["total"] == 5 and page["next_offset"] == 2 and len(page["cases"]) == 2
    assert rest["next_offset"] is None and len(rest["cases"]) == 1
    assert bad.value.fields["field"] == "status"
