"""Detection end to end: a run over demo telemetry, a retro-hunt, a follower of a directory."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from watchkeeper.demo.telemetry import (
    BENIGN,
    CAMPAIGN_ADDRESS,
    CAMPAIGN_DOMAIN,
    campaign,
    write_samples,
)
from watchkeeper.detect.detector import Detector, telemetry_root
from watchkeeper.detect.follower import Follower, follow_stream
from watchkeeper.detect.hunt import hunt, parse_since
from watchkeeper.detect.models import Alert, AlertLine, Cursor, DetectionRun
from watchkeeper.detect.retention import partitions
from watchkeeper.detect.runs import run_detection
from watchkeeper.errors import InvalidInput
from watchkeeper.intel import StixObject, expand, import_stix
from watchkeeper.node import Node


def _import(node: Node, tmp_path: Path, objects: list[dict[str, Any]]) -> None:
    path = tmp_path / f"{uuid.uuid4()}.json"
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    path.write_bytes(orjson.dumps(bundle))
    report = import_stix(
        node.database, clock=node.clock, actor="user:t", inputs=expand([str(path)]), source="t"
    )
    assert report.rejected == 0 and report.warninglisted == 0


def _alerts(node: Node) -> list[Alert]:
    with node.database.reader() as session:
        return list(session.scalars(select(Alert).order_by(Alert.kind, Alert.value, Alert.host)))


def test_run_over_demo_telemetry_raises_alerts_and_sightings(node: Node, tmp_path: Path) -> None:
    now = node.clock.now()
    _import(node, tmp_path, campaign(now))
    logs = tmp_path / "logs"
    write_samples(logs, now=now)
    (logs / "broken.jsonl").write_text('{"EventID": 1, "Image": "a.exe"}\n{not json\n')
    report = run_detection(node=node, actor="user:t", paths=[str(logs)], format="auto")
    tally = report.tally
    assert tally.events > 800
    assert report.malformed_count == 1 and report.malformed[0].endswith(("broken.jsonl:2", ""))
    assert "broken.jsonl:2" in report.malformed[0]
    assert {"domain", "ipv4", "cidr4", "sha256"} <= set(tally.matches)
    alerts = [a for a in _alerts(node) if a.kind == "indicator"]
    values = {a.value for a in alerts}
    assert CAMPAIGN_ADDRESS in values and f"dl.{CAMPAIGN_DOMAIN}" in values
    assert tally.alerts.new == len(_alerts(node)) and tally.alerts.sightings >= len(alerts)
    with node.database.reader() as session:
        run = session.get(DetectionRun, report.id)
        assert run is not None and run.status == "done" and run.counts["events"] == tally.events
        line = session.scalars(
            select(AlertLine)
            .join(Alert)
            .where(Alert.value == f"dl.{CAMPAIGN_DOMAIN}", Alert.kind == "indicator")
        ).one()
        assert line.source.endswith("dns.log") and line.line > 8
        assert line.event["dns.question.name"] == f"dl.{CAMPAIGN_DOMAIN}"
        sightings = session.scalars(
            select(StixObject.doc).where(StixObject.type == "sighting")
        ).all()
    assert sightings and all("seen at: host" in orjson.loads(s)["description"] for s in sightings)
    assert sum(p.files for p in partitions(root=telemetry_root(node))) >= 3

    # the same files again: the same alerts, counted up, not duplicated
    again = run_detection(node=node, actor="user:t", paths=[str(logs)], retain_telemetry=False)
    assert again.tally.alerts.new == 0 and again.tally.alerts.updated == tally.alerts.new


def test_retro_hunt_finds_new_indicators_in_retained_telemetry(node: Node, tmp_path: Path) -> None:
    now = node.clock.now()
    logs = tmp_path / "logs"
    write_samples(logs, now=now)
    run_detection(node=node, actor="user:t", paths=[str(logs)])
    assert _alerts(node) == [] or all(a.kind != "indicator" for a in _alerts(node))
    first = hunt(node=node, actor="user:t")
    assert first.tally.events == 0  # nothing to hunt for yet
    late = campaign(now)[0]  # the C2 domain, published after the traffic was seen
    _import(node, tmp_path, [late])
    report = hunt(node=node, actor="user:t", since=parse_since("2d"))
    assert report.tally.events > 0 and report.tally.matches["domain"] == 3
    retro = [a for a in _alerts(node) if a.kind == "indicator"]
    assert retro and all(a.retro for a in retro)
    with node.database.reader() as session:
        docs = session.scalars(select(StixObject.doc).where(StixObject.type == "sighting")).all()
        assert docs and all(orjson.loads(doc)["x_watchkeeper_retro"] for doc in docs)
        assert session.get(Cursor, "hunt") is not None
    assert hunt(node=node, actor="user:t").tally.matches == {}  # already hunted for


def test_parse_since() -> None:
    assert parse_since("30d") == timedelta(days=30)
    assert parse_since("12h") == timedelta(hours=12)
    for bad in ("", "soon", "-3d"):
        with pytest.raises(InvalidInput, match="--since"):
            parse_since(bad)


def test_follower_reads_appended_lines_once_and_resumes(node: Node, tmp_path: Path) -> None:
    now = node.clock.now()
    _import(node, tmp_path, campaign(now))
    samples = tmp_path / "samples"
    dns = write_samples(samples, now=now)[0].read_text().splitlines(keepends=True)
    watched = tmp_path / "watched"
    watched.mkdir()
    target = watched / "dns.log"
    cut = next(n for n, line in enumerate(dns) if CAMPAIGN_DOMAIN in line) + 1
    target.write_text("".join(dns[:cut]) + dns[cut][:10])  # ends inside a line

    def follower() -> Follower:  # a new process each time: state only in the database
        detector = Detector(node=node, actor="detect:serve", retain_telemetry=False)
        return Follower(detector=detector, directory=watched)

    assert follower().poll() == cut - 8  # complete data lines only (8 header lines)
    with target.open("a") as handle:
        handle.write("".join(dns[cut:])[10:])
    again = follower()
    assert again.poll() == len(dns) - 1 - cut  # the rest, less the #close line
    assert follower().poll() == 0
    lines = []
    with node.database.reader() as session:
        for line in session.scalars(select(AlertLine).join(Alert).where(Alert.kind == "indicator")):
            lines.append(line.line)
    expected = [
        n + 1
        for n, text in enumerate(dns)
        if not text.startswith("#") and CAMPAIGN_DOMAIN in text.split("\t")[7]
    ]
    assert sorted(lines) == expected


def test_follow_stream_needs_a_format(node: Node) -> None:
    detector = Detector(node=node, actor="detect:serve", retain_telemetry=False)
    with pytest.raises(InvalidInput, match="--format"):
        follow_stream(detector=detector, stream=None, format="auto")  # type: ignore[arg-type]


def test_benign_names_are_not_indicators() -> None:
    assert CAMPAIGN_DOMAIN not in BENIGN


def test_follow_stream_reads_zeek_from_a_pipe_in_batches(node: Node, tmp_path: Path) -> None:
    now = node.clock.now()
    _import(node, tmp_path, campaign(now))
    dns = write_samples(tmp_path / "samples", now=now)[0].read_bytes()
    detector = Detector(node=node, actor="detect:serve", retain_telemetry=False)
    events, malformed, count = follow_stream(
        detector=detector, stream=io.BytesIO(dns), format="zeek", batch_lines=50
    )
    assert events == dns.count(b"\n") - 9 and (malformed, count) == ([], 0)
    lines = sorted(
        line.line
        for line in _lines(node)
        if CAMPAIGN_DOMAIN in line.event.get("dns.question.name", "")
    )
    text = dns.decode().splitlines()
    assert [text[n - 1].split("\t")[7] for n in lines] == [
        f"www.{CAMPAIGN_DOMAIN}", CAMPAIGN_DOMAIN, f"dl.{CAMPAIGN_DOMAIN}"
    ]  # fmt: skip


def _lines(node: Node) -> list[AlertLine]:
    with node.database.reader() as session:
        query = select(AlertLine).join(Alert).where(Alert.kind == "indicator")
        return list(session.scalars(query))
