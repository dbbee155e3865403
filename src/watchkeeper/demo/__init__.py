"""The demo node: a scripted walk through the node's capabilities on demo data of our own.

``watchkeeper demo`` builds (or rebuilds) the node in ``./watchkeeper-demo`` and serves it;
``watchkeeper demo --check`` runs the same script, then probes a real server on a free loopback
port over HTTP (API, refusals, UI login), has the partner node pull what it may receive over
TAXII (``partner``), and reports every step. Later areas add their steps.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import uvicorn

from watchkeeper.config import load_settings
from watchkeeper.demo.cooperation import prepare_cooperation, run_cooperation
from watchkeeper.demo.evidence import preserve_evidence
from watchkeeper.demo.partner import (
    PARTNER_CODE,
    Partner,
    build_partner,
    import_restricted,
    pull_shared,
)
from watchkeeper.demo.response import respond_to_alerts
from watchkeeper.demo.telemetry import campaign, write_samples
from watchkeeper.detect.detector import rule_paths
from watchkeeper.detect.runs import run_detection
from watchkeeper.errors import NotFound, WatchkeeperError
from watchkeeper.intel import expand, import_stix, indicators, lookup, write_bundle
from watchkeeper.node import Node
from watchkeeper.security import (
    add_user,
    create_token,
    get_user,
    parse_duration,
    set_password,
    set_peer_url,
    verify,
)
from watchkeeper.web import create_app

DEMO_CODE, DEMO_NAME, DEMO_COUNTRY = "ZZ-CERT", "Demo National CERT", "ZZ"
ADMIN = "admin"
SAMPLE_INDICATORS = 2000
ACTOR = "demo:script"
STAFF = (
    ("amira", "Amira Analyst", ("analyst",)),
    ("duty", "Duty Officer", ("poc-officer", "responder")),
    ("ledger", "Internal Auditor", ("auditor",)),
)


@dataclass
class Step:
    """One step of the demo and how it went."""

    name: str
    ok: bool
    detail: str


@dataclass
class Demo:
    """The demo node and what a person needs to log in."""

    node: Node
    admin_password: str = ""
    token: str = ""
    partner: Partner | None = None
    withheld: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step worked."""
        return all(step.ok for step in self.steps)

    def run(self, name: str, action: Callable[[], str]) -> None:
        """Run a step, recording its outcome; a failure does not stop the script."""
        try:
            self.steps.append(Step(name, True, action()))
        except (WatchkeeperError, AssertionError, httpx.HTTPError) as exc:
            self.steps.append(Step(name, False, str(exc) or type(exc).__name__))


def build_demo(*, directory: Path, port: int = 8470) -> Demo:
    """Create or refresh the demo node in ``directory`` with its demo data."""
    settings = load_settings(data_dir=directory, database_url=None, port=port)
    demo = Demo(node=Node(settings))
    node = demo.node

    def migrate() -> str:
        node.start()
        return node.database.masked_url

    def identity() -> str:
        try:
            found = node.identity()
        except NotFound:
            found = node.init_identity(
                actor=ACTOR, code=DEMO_CODE, name=DEMO_NAME, country=DEMO_COUNTRY
            )
        return f"{found.code}, fingerprint {found.fingerprint[:16]}…"

    def admin() -> str:
        demo.admin_password = secrets.token_urlsafe(12)
        with node.database.transaction() as session:
            try:
                get_user(session, ADMIN)
                set_password(
                    session, clock=node.clock, actor=ACTOR, name=ADMIN, password=demo.admin_password
                )
                return "existing admin, new password"
            except NotFound:
                add_user(
                    session,
                    clock=node.clock,
                    actor=ACTOR,
                    name=ADMIN,
                    roles=["admin"],
                    display_name="Demo administrator",
                    password=demo.admin_password,
                )
                return "admin created"

    def staff() -> str:
        added = []
        with node.database.transaction() as session:
            for name, display, roles in STAFF:
                try:
                    get_user(session, name)
                except NotFound:
                    add_user(
                        session,
                        clock=node.clock,
                        actor=ACTOR,
                        name=name,
                        roles=roles,
                        display_name=display,
                    )
                    added.append(name)
        return f"{len(STAFF)} staff accounts ({len(added)} new)"

    def partner() -> str:
        demo.partner = build_partner(node, directory=directory, base_url=f"http://127.0.0.1:{port}")
        return (
            f"{PARTNER_CODE} in {directory / 'partner'}: registered both ways, reads the "
            "regional collection demo-shared (need-to-know, up to TLP:AMBER)"
        )

    def cooperation() -> str:
        assert demo.partner is not None, "no partner node"
        for side in (node, demo.partner.node):
            prepare_cooperation(side)
        return "states ZZ and YY party to the convention (demo data); duty, legal, central staff"

    def restricted() -> str:
        demo.withheld = import_restricted(node, directory=directory)
        return f"{len(demo.withheld)} TLP:RED and AMBER+STRICT indicators kept to this node"

    def token() -> str:
        with node.database.transaction() as session:
            issued = create_token(
                session,
                clock=node.clock,
                actor=ACTOR,
                user_name=ADMIN,
                expires_in=parse_duration("7d"),
                label="demo",
            )
        demo.token = issued.secret
        return f"token {issued.token.id} for {ADMIN}, 7 days"

    def intelligence() -> str:
        sample = node.data_dir / "samples" / "demo-bundle.json"
        if not sample.exists():
            sample.parent.mkdir(parents=True, exist_ok=True)
            write_bundle(sample, indicators(SAMPLE_INDICATORS, seed=2026), seed=2026)
        report = import_stix(
            node.database,
            clock=node.clock,
            actor=ACTOR,
            inputs=expand([str(sample)]),
            source="feed:demo-sample",
        )
        assert report.rejected == 0, f"{report.rejected} objects rejected"
        probe = next(iter(indicators(1, seed=2026)))["pattern"].split("'")[-2]
        with node.database.reader() as session:
            hits = lookup(session, value=probe)
        assert hits, f"look-up of {probe} found nothing"
        return (
            f"{report.created} created, {report.unchanged} unchanged, "
            f"{report.warninglisted} warninglisted; {probe} found"
        )

    def detection() -> str:
        now = node.clock.now()
        bundle = node.data_dir / "samples" / "demo-campaign.json"
        bundle.parent.mkdir(parents=True, exist_ok=True)
        objects = campaign(now)
        bundle.write_bytes(
            orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})
        )
        imported = import_stix(
            node.database,
            clock=node.clock,
            actor=ACTOR,
            inputs=expand([str(bundle)]),
            source="feed:demo-campaign",
        )
        assert imported.rejected == 0, f"{imported.rejected} campaign objects rejected"
        assert imported.warninglisted == 0, "a campaign value hits a warninglist"
        logs = write_samples(node.data_dir / "samples" / "telemetry", now=now)
        from watchkeeper.detect.sigma_rules import load_rules  # pySigma: loaded when used

        rules = load_rules(paths=rule_paths(node))
        report = run_detection(
            node=node, actor=ACTOR, paths=[str(path) for path in logs], rules=rules
        )
        tally = report.tally
        assert tally.matches.get("domain"), "the campaign domain was not found in the DNS log"
        assert tally.matches.get("sigma"), "no Sigma rule fired on the Sysmon events"
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(tally.matches.items()))
        return (
            f"{tally.events} events from {len(logs)} logs: {kinds}; "
            f"{tally.alerts.new} new alerts, {tally.alerts.sightings} sightings"
        )

    def response() -> str:
        return respond_to_alerts(node, actor=ACTOR)

    def deliver() -> str:
        report = node.dispatcher.run_once()
        assert report.failed == 0, f"{report.failed} deliveries failed"
        return f"{report.delivered} events delivered to subscribers"

    demo.run("database migrated", migrate)
    if not demo.ok:
        return demo
    for name, action in (
        ("node identity", identity),
        ("admin account", admin),
        ("staff accounts", staff),
        ("API token", token),
        ("intelligence sample", intelligence),
        ("restricted intelligence", restricted),
        ("partner node", partner),
        ("cooperation prepared on both nodes", cooperation),
        ("detection on demo telemetry", detection),
        ("response playbook with an approval", response),
        ("evidence preserved and verified", lambda: preserve_evidence(node, actor=ACTOR)),
        ("events delivered", deliver),
        ("audit ledger intact", lambda: _verified(node)),
    ):
        demo.run(name, action)
    return demo


def _verified(node: Node) -> str:
    with node.database.reader() as session:
        result = verify(session)
    assert result.ok, f"broken at entry {result.bad_seq}: {result.reason}"
    return f"{result.checked} entries verified"


def _alerts(client: httpx.Client, token: str) -> str:
    response = client.get(
        "/api/v1/detect/alerts",
        params={"kind": "indicator"},
        headers={"Authorization": f"Bearer {token}"},
    )
    _expect(response, 200)
    alerts = response.json()["alerts"]
    assert alerts, "no indicator alerts listed"
    return f"{len(alerts)} indicator alerts, first: {alerts[0]['title']} on {alerts[0]['host']}"


def _cases(client: httpx.Client, token: str) -> str:
    response = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
    _expect(response, 200)
    body = response.json()
    cases = body["cases"] if isinstance(body, dict) else body
    assert cases, "no case listed"
    return f"{len(cases)} cases, first: {cases[0]['number']} {cases[0]['title']}"


def _evidence(client: httpx.Client, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    every = client.get("/api/v1/evidence", headers=headers)
    _expect(every, 200)
    linked = [item for item in every.json()["items"] if item["case_ref"]]
    assert linked, "no evidence item linked to a case"
    case = linked[0]["case_ref"]
    response = client.get("/api/v1/evidence", params={"case": case}, headers=headers)
    _expect(response, 200)
    items = response.json()["items"]
    assert items, f"no evidence listed for case {case}"
    item = client.get(f"/api/v1/evidence/{items[0]['id']}", headers=headers)
    _expect(item, 200)
    custody = item.json()["custody"]
    assert custody, "no custody event"
    assert custody[0]["action"] == "collect", "the custody does not start with collect"
    names = ", ".join(i["exhibit_number"] for i in items)
    return f"{len(items)} items of the case ({names}); {len(custody)} custody events on the first"


def free_port() -> socket.socket:
    """A listening loopback socket on a free port, to hand to uvicorn."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(node: Node) -> Iterator[str]:
    """Serve ``node`` (API, UI and workers) on a free loopback port; its base URL."""
    app = create_app(node=node, workers=True)
    sock = free_port()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def cooperate(main: Node, partner: Node, *, main_url: str) -> str:
    """Serve the partner beside the serving demo node and run the cross-border case."""
    with serving(partner) as partner_url:
        with main.database.transaction() as session:
            set_peer_url(
                session, clock=main.clock, actor=ACTOR, code=partner.identity().code,
                url=partner_url,
            )  # fmt: skip
        with partner.database.transaction() as session:
            set_peer_url(
                session, clock=partner.clock, actor=ACTOR, code=main.identity().code,
                url=main_url,
            )  # fmt: skip
        return run_cooperation(main, partner)


def check_demo(demo: Demo) -> None:
    """Serve the demo node on a free port and probe it over real HTTP."""
    node = demo.node
    with serving(node) as base:
        with httpx.Client(base_url=base, timeout=10) as client:
            demo.run("health", lambda: _expect(client.get("/healthz"), 200))
            demo.run("API with token", lambda: _whoami(client, demo.token))
            demo.run("API refuses bad token", lambda: _refused(client))
            demo.run("UI login", lambda: _ui_login(client, demo.admin_password))
            demo.run("alerts over the API", lambda: _alerts(client, demo.token))
            demo.run("cases over the API", lambda: _cases(client, demo.token))
            demo.run("evidence over the API", lambda: _evidence(client, demo.token))
        if demo.partner is not None:
            partner = demo.partner
            demo.run(
                "partner pulls over TAXII",
                lambda: pull_shared(partner, main=node, base_url=base, withheld=demo.withheld),
            )
            demo.run(
                "preservation request answered with a sealed package",
                lambda: cooperate(node, partner.node, main_url=base),
            )
        demo.run("audit ledger intact after use", lambda: _verified(node))


def share_when_serving(demo: Demo, *, base_url: str, report: Callable[[str], None]) -> None:
    """Once the demo node answers at ``base_url``, have the partner pull what it may receive.

    For ``watchkeeper demo`` (serving): the server runs in the foreground, so the pull runs in
    a background thread and reports its one line (or why it failed) through ``report``.
    """
    partner = demo.partner
    if partner is None:
        return

    def pull() -> None:
        for _ in range(600):
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        try:
            line = pull_shared(partner, main=demo.node, base_url=base_url, withheld=demo.withheld)
        except (WatchkeeperError, AssertionError, httpx.HTTPError) as exc:
            line = f"partner pull FAILED: {exc}"
        report(f"demo partner: {line}")
        try:
            line = cooperate(demo.node, partner.node, main_url=base_url)
        except (WatchkeeperError, AssertionError, httpx.HTTPError) as exc:
            line = f"cooperation FAILED: {exc}"
        report(f"demo cooperation: {line}")

    threading.Thread(target=pull, name="demo-partner", daemon=True).start()


def _expect(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: "
        f"HTTP {response.status_code}, expected {status}"
    )
    return f"{response.request.method} {response.request.url.path} → {status}"


def _whoami(client: httpx.Client, token: str) -> str:
    response = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    _expect(response, 200)
    assert response.json()["name"] == ADMIN, "whoami names someone else"
    return "GET /api/v1/whoami → 200 as admin"


def _refused(client: httpx.Client) -> str:
    response = client.get(
        "/api/v1/whoami", headers={"Authorization": "Bearer wk_000000000000_" + "x" * 43}
    )
    _expect(response, 401)
    assert response.headers["content-type"].startswith("application/problem+json")
    return "401 problem+json, denial audited"


def _ui_login(client: httpx.Client, password: str) -> str:
    form = client.get("/ui/login")
    _expect(form, 200)
    csrf = form.cookies["wk_login_csrf"]
    response = client.post("/ui/login", data={"name": ADMIN, "password": password, "csrf": csrf})
    _expect(response, 303)
    _expect(client.get("/ui/"), 200)
    return "login form, session cookie, overview page"
