"""Cooperation: delivery of requests between two serving nodes, and the 24/7 inbox at scale.

Figures, all measured in this run on this machine:
- REQUESTS preservation requests written, checked, approved and sent by node A (the full
  use-case path, one transaction per request) to node B, both ``watchkeeper serve``
  processes on loopback ports whose cooperation loops carry the signed messages; delivery
  time per request = B's record of the received message minus A's record of queuing it
  (same machine clock). p50 (goal < 500 ms), p95, max, and how many were lost (goal 0:
  every request registered in B's inbox, every message delivered with a signed receipt).
  Baseline: the median round trip of a plain HTTP GET to B (the transport floor).
  The requests are sent at RATE per second (far above a national point of contact's load),
  then BURST more back to back: on SQLite a process writing without pause holds the write
  lock against the serving node's delivery, so the burst shows queueing, not transport.
- the first page of an inbox holding INBOX requests (a third of them unacknowledged), through
  the use case, through the API with a token and as the UI's 24/7 inbox page (goal < 300 ms);
  baseline: a plain ``SELECT ... LIMIT 50`` on the same table.

Environment: WK_BENCH_COOP_REQUESTS (default 1000), WK_BENCH_COOP_RATE (requests/s, default 10),
WK_BENCH_COOP_BURST (default 200), WK_BENCH_COOP_INBOX (default 100000).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, text

from watchkeeper.config import load_settings
from watchkeeper.cooperation import (
    SCREEN_CHECKS,
    CoopRequest,
    approve_request,
    inbox_page,
    new_request,
    parse_fields,
    screen_request,
    send_request,
    set_state,
    submit_request,
    validate_request,
)
from watchkeeper.cooperation.message_models import CoopMessage
from watchkeeper.core import SystemClock, new_id, utc
from watchkeeper.node import Node
from watchkeeper.security import NodeIdentity, Principal, add_peer, add_user, set_password
from watchkeeper.testing import issue_token
from watchkeeper.web import create_app

REQUESTS = int(os.environ.get("WK_BENCH_COOP_REQUESTS", "1000"))
RATE = float(os.environ.get("WK_BENCH_COOP_RATE", "10"))
BURST = int(os.environ.get("WK_BENCH_COOP_BURST", "200"))
INBOX = int(os.environ.get("WK_BENCH_COOP_INBOX", "100000"))
OVERRIDE = "id: un-cybercrime\nentry_into_force:\n  date: 2025-12-01\n"
PASSWORD = "bench-duty-password-1"
STAFF = {"alice": "poc-officer", "bob": "central-authority", "lena": "legal-reviewer"}
FIELDS: dict[str, Any] = {
    "language": "en",
    "contents": {
        "authority": "XX Cybercrime Unit",
        "offence-facts": "Intrusion into a ministry network",
        "data-link": "Connection logs of the command server",
        "custodian-location": "A hosting provider in YY",
        "necessity": "Logs are overwritten after 14 days",
        "mla-follow-up": "A request for disclosure will follow",
    },
    "offence": {"basis": "art-7", "max_penalty_years": 5},
    "data": [
        {
            "category": "traffic",
            "identifiers": [
                {"kind": "ip", "value": "198.51.100.23", "timestamp": "2026-11-30T02:14:00+00:00"}
            ],
            "time_range": {
                "from": "2026-11-29T00:00:00+00:00",
                "until": "2026-12-01T00:00:00+00:00",
            },
        }
    ],
}


def _line(metric: str, value: float, unit: str, baseline: float | None, **extra: Any) -> None:
    print(
        json.dumps(
            {
                "bench": "cooperation",
                "metric": metric,
                "value": round(value, 3),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 3),
                "ratio": round(value / baseline, 3) if baseline else None,
                **extra,
            }
        ),
        flush=True,
    )


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _who(name: str) -> Principal:
    return Principal(name=name, roles=frozenset({STAFF[name]}), via="token")


class Served:
    """A node folder with its database, served by a ``watchkeeper serve`` process."""

    def __init__(self, folder: Path, *, code: str, state: str) -> None:
        self.folder, self.code, self.state, self.port = folder, code, state, _port()
        self.url = f"sqlite:///{(folder / 'node.db').as_posix()}"
        folder.mkdir(parents=True)
        settings = load_settings(data_dir=folder / "data", database_url=self.url)
        self.node = Node(settings, clock=SystemClock()).start()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> NodeIdentity:
        node = self.node
        identity = node.init_identity(
            actor="bench", code=self.code, name=self.code, country=self.state
        )
        (node.data_dir / "instruments").mkdir(parents=True, exist_ok=True)
        (node.data_dir / "instruments" / "un-cybercrime.yaml").write_text(OVERRIDE)
        with node.database.transaction() as session:
            for name, role in STAFF.items():
                add_user(session, clock=node.clock, actor="bench", name=name, roles=[role])
            for code in ("XX", "YY"):
                set_state(
                    session, clock=node.clock, actor="bench", code=code, name=code,
                    languages=["en"], instrument="un-cybercrime", deposited=date(2025, 11, 1),
                )  # fmt: skip
        return identity

    def register(self, other: NodeIdentity, url: str) -> None:
        with self.node.database.transaction() as session:
            add_peer(
                session, clock=self.node.clock, actor="bench", code=other.code, url=url,
                country=other.country, public_key=other.signing_public_key,
                encryption_key=other.encryption_public_key,
            )  # fmt: skip

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
        env.update(
            WATCHKEEPER_DATA_DIR=str(self.folder / "data"),
            WATCHKEEPER_DATABASE_URL=self.url,
            WATCHKEEPER_CONFIG=str(self.folder / "absent.toml"),
            WATCHKEEPER_LOG_LEVEL="warning",
        )
        log = (self.folder / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "watchkeeper", "serve", "--port", str(self.port)],
            env=env, cwd=self.folder, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit(f"{self.code} did not start; see {self.folder / 'serve.log'}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.node.close()


def _send(node: Node) -> None:
    with node.database.transaction() as session:
        ref = new_request(
            session, node=node, actor=_who("alice").actor, type="preservation", to_state="YY",
            fields=parse_fields(FIELDS),
        ).reference  # fmt: skip
        validate_request(session, node=node, principal=_who("alice"), ref=ref)
        submit_request(session, node=node, principal=_who("alice"), ref=ref)
        screen_request(
            session, node=node, principal=_who("lena"), ref=ref,
            checks=dict.fromkeys(SCREEN_CHECKS, True),
        )  # fmt: skip
        approve_request(session, node=node, principal=_who("bob"), ref=ref)
        send_request(session, node=node, principal=_who("bob"), ref=ref)


def _times(node: Node, direction: str) -> dict[str, datetime]:
    with node.database.reader() as session:
        rows = session.execute(
            select(CoopMessage.id, CoopMessage.created_at, CoopMessage.status).where(
                CoopMessage.direction == direction, CoopMessage.kind == "request"
            )
        ).all()
    return {row.id: utc(row.created_at) for row in rows}


def _report(a: Served, b: Served, name: str, count: int, before: set[str], base_ms: float) -> None:
    """Wait for ``count`` requests queued after ``before`` to arrive; print their figures."""
    deadline = time.monotonic() + 180
    queued = {k: v for k, v in _times(a.node, "out").items() if k not in before}
    received: dict[str, datetime] = {}
    while time.monotonic() < deadline:
        received = {k: v for k, v in _times(b.node, "in").items() if k in queued}
        if len(received) >= count:
            break
        time.sleep(0.2)
    latencies = sorted((received[k] - queued[k]).total_seconds() * 1000 for k in received)
    with a.node.database.reader() as session:
        delivered = session.scalar(
            select(func.count()).select_from(CoopMessage).where(
                CoopMessage.direction == "out", CoopMessage.status == "delivered",
                CoopMessage.id.in_(list(queued)),
            )
        )  # fmt: skip
    lost = count - len(latencies)
    nan = float("nan")
    p50 = statistics.median(latencies) if latencies else nan
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)] if latencies else nan
    goal = {"goal": "< 500"} if name == "delivery" else {}
    _line(f"{name}_p50", p50, "ms", base_ms, requests=count, **goal)
    _line(f"{name}_p95", p95, "ms", base_ms)
    _line(f"{name}_max", latencies[-1] if latencies else nan, "ms", base_ms)
    _line(f"{name}_lost", lost, "requests", None, goal="0", receipts=delivered)


def delivery(root: Path) -> None:
    a = Served(root / "a", code="XX-POC", state="XX")
    b = Served(root / "b", code="YY-POC", state="YY")
    ids = a.prepare(), b.prepare()
    a.register(ids[1], b.base)
    b.register(ids[0], a.base)
    a.start()
    b.start()
    try:
        floor = []
        with httpx.Client() as client:
            for _ in range(50):
                started = time.perf_counter()
                client.get(f"{b.base}/healthz")
                floor.append(time.perf_counter() - started)
        base_ms = statistics.median(floor) * 1000
        started = time.perf_counter()
        for index in range(REQUESTS):
            _send(a.node)
            pause = started + (index + 1) / RATE - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        _line("send_rate", REQUESTS / (time.perf_counter() - started), "requests/s", None)
        _report(a, b, "delivery", REQUESTS, set(), base_ms)
        before = set(_times(a.node, "out"))
        started = time.perf_counter()
        for _ in range(BURST):
            _send(a.node)
        _line("burst_send_rate", BURST / (time.perf_counter() - started), "requests/s", None)
        _report(a, b, "burst_delivery", BURST, before, base_ms)
    finally:
        a.stop()
        b.stop()


def _rows(count: int, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for index in range(count):
        created = now - timedelta(seconds=count - index)
        waiting = index % 3 == 0
        request_id = new_id()
        rows.append(
            {
                "id": request_id, "reference": f"IN-2026-{index + 1:06d}", "thread": request_id,
                "direction": "in", "type": "preservation", "instrument": "un-cybercrime",
                "requesting_state": "XX", "requested_state": "YY", "peer": "XX-POC",
                "channel": "poc-24-7", "language": "en", "urgent": index % 7 == 0,
                "status": "received" if waiting else "preserved", "contents": FIELDS["contents"],
                "offence": FIELDS["offence"], "data": FIELDS["data"], "period": None,
                "confidential": True, "no_user_notice": False, "use_limits": [],
                "conditions": [], "case_id": None, "evidence_ids": [], "indicator_ids": [],
                "parent_id": None, "author": "peer:XX-POC", "approver": None, "screen": None,
                "decision": None, "consultations": [], "created_at": created,
                "updated_at": created, "sent_at": None,
                "acked_at": None if waiting else created + timedelta(minutes=5),
                "acked_by": None if waiting else "user:duty",
                "ack_due_at": created + timedelta(minutes=60), "preserved_at": None,
                "preserved_until": None, "order_expires_at": None, "follow_up_due_at": None,
                "assignee": "duty", "escalations": 0, "alarms": [],
            }
        )  # fmt: skip
    return rows


def inbox(root: Path) -> None:
    settings = load_settings(data_dir=root / "inbox", database_url=None)
    node = Node(settings, clock=SystemClock()).start()
    now = datetime.now(UTC)
    rows = _rows(INBOX, now)
    with node.database.transaction() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(CoopRequest), rows[start : start + 5000])
    token = issue_token(node, name="duty", roles=["poc-officer"])
    with node.database.transaction() as session:
        set_password(session, clock=node.clock, actor="bench", name="duty", password=PASSWORD)
    with node.database.reader() as session:
        session.execute(text("ANALYZE")) if node.database.engine.dialect.name == "sqlite" else None
    floors, pages = [], []
    for _ in range(7):
        with node.database.reader() as session:
            started = time.perf_counter()
            session.execute(text("SELECT * FROM coop_requests LIMIT 50")).all()
            floors.append(time.perf_counter() - started)
            started = time.perf_counter()
            page = inbox_page(session, now=now)
            pages.append(time.perf_counter() - started)
    assert len(page["requests"]) == 50
    assert page["waiting"] == (INBOX + 2) // 3
    floor_ms = statistics.median(floors) * 1000
    _line("inbox_first_page", statistics.median(pages) * 1000, "ms", floor_ms, goal="< 300",
          requests=INBOX)  # fmt: skip
    with TestClient(create_app(node=node), base_url="http://bench") as client:
        api = []
        for _ in range(7):
            started = time.perf_counter()
            response = client.get(
                "/api/v1/cooperation/inbox", headers={"Authorization": f"Bearer {token}"}
            )
            api.append(time.perf_counter() - started)
        if response.status_code == 200:
            _line("inbox_first_page_api", statistics.median(api) * 1000, "ms", floor_ms,
                  goal="< 300", requests=INBOX)  # fmt: skip
        else:
            print(f"inbox API answered {response.status_code}", file=sys.stderr)
        form = client.get("/ui/login")
        client.post("/ui/login", data={"name": "duty", "password": PASSWORD,
                                       "csrf": form.cookies["wk_login_csrf"]})  # fmt: skip
        ui = []
        for _ in range(7):
            started = time.perf_counter()
            page_response = client.get("/ui/cooperation")
            ui.append(time.perf_counter() - started)
        assert page_response.status_code == 200, page_response.status_code
        assert "IN-2026-000001" in page_response.text
        _line("inbox_first_page_ui", statistics.median(ui) * 1000, "ms", floor_ms,
              goal="< 300", requests=INBOX)  # fmt: skip
    node.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wk-bench-coop-") as folder:
        root = Path(folder)
        inbox(root)
        delivery(root)


if __name__ == "__main__":
    main()
