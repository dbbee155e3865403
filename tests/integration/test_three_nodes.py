"""Three nodes as real ``watchkeeper serve`` processes: A (a national CERT) pushes to B (a
regional partner with need-to-know, up to TLP:AMBER) and C (an international partner, up to
TLP:GREEN, no need-to-know).

What an import into A holds reaches B and C within seconds, driven by A's event log; each
gets exactly what the sharing policy allows, and a search of every peer for every TLP:RED
(and TLP:AMBER+STRICT) id finds nothing. B goes down: A's sync status shows the failures,
the back-off and the lag; B comes back and catches up with nothing lost and nothing twice.
A forged and a replayed request to A's TAXII server are refused (401) and audited.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx
import orjson
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from integration.served import ServedProcess, free_port
from watchkeeper.cli import cli
from watchkeeper.core import SystemClock
from watchkeeper.core.tlp import TLP2_MARKING_IDS, Tlp
from watchkeeper.intel import ImportRun, Provenance, StixObject
from watchkeeper.security import load_signing_key, sign_request
from watchkeeper.store import Database

MEDIA = "application/taxii+json;version=2.1"
CLEAR, GREEN, AMBER, STRICT, RED = (TLP2_MARKING_IDS[level] for level in Tlp)
IDENTITY_A = "identity--a0a0a0a0-0000-4000-8000-00000000000a"
SYNC_TIMEOUT = 15.0
T = TypeVar("T")


def indicator(name: str, marking: str, **extra: Any) -> dict[str, Any]:
    """An indicator of its own, marked ``marking``."""
    stamp = "2026-03-01T10:00:00.000Z"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": stamp,
        "modified": stamp,
        "name": name,
        "pattern": f"[domain-name:value = '{name}.example']",
        "pattern_type": "stix",
        "valid_from": stamp,
        "object_marking_refs": [marking],
        **extra,
    }


@dataclass
class Served(ServedProcess):
    """One node: its settings, its CLI, its server process and its admin token."""

    code: str
    country: str
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    admin: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    """Tokens other nodes issued to this one, by their code."""

    @property
    def env(self) -> dict[str, str]:
        return {
            **super().env,
            "WATCHKEEPER_PORT": str(self.port),
            "WATCHKEEPER_PUBLIC_URL": self.base,
            "WATCHKEEPER_BUS_POLL_SECONDS": "0.2",
            # Retry a partner that is down within seconds (production: a minute, doubling).
            "WATCHKEEPER_SYNC_BACKOFF_SECONDS": "1",
            "WATCHKEEPER_SYNC_BACKOFF_MAX_SECONDS": "2",
        }

    def refuse(self, message: str) -> NoReturn:
        pytest.skip(message)

    def run(self, *args: str) -> Any:
        """A ``watchkeeper`` command on this node (in process); its JSON output if any."""
        result = CliRunner().invoke(cli, list(args), env=self.env)
        assert result.exit_code == 0, f"{self.code}: {' '.join(args)}\n{result.output}"
        text = result.stdout.strip()
        return orjson.loads(text) if text.startswith(("{", "[")) else text

    def api(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.base}/api/v1{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.admin}"},
            timeout=10,
        )

    def has(self, stix_id: str) -> bool:
        """Whether the node's store holds ``stix_id`` (its API, as its administrator)."""
        response = self.api(f"/intel/objects/{stix_id}")
        assert response.status_code in (200, 404), response.text
        return response.status_code == 200

    def database(self) -> Database:
        return Database(self.env["WATCHKEEPER_DATABASE_URL"])


def wait_for(what: str, check: Callable[[], T], *, seconds: float = SYNC_TIMEOUT) -> T:
    """Poll ``check`` until it returns something true; fail naming ``what``."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what} (last: {value!r})")
        time.sleep(0.1)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[dict[str, Served]]:
    """A, B and C set up with the CLI as their operators would, then served."""
    a = Served("QA-NCSA", "QA", tmp_path / "a")
    b = Served("GCC-RCERT", "BH", tmp_path / "b")
    c = Served("INT-CSIRT", "FR", tmp_path / "c")
    every = {"a": a, "b": b, "c": c}
    for node in every.values():
        node.folder.mkdir()
        node.run("node", "init", "--code", node.code, "--name", f"{node.code} agency",
                 "--country", node.country)  # fmt: skip
        (node.folder / "identity.json").write_bytes(
            orjson.dumps(node.run("node", "show", "--json"))
        )
        node.run("user", "add", "admin", "--role", "admin")
        node.admin = node.run("token", "create", "admin", "--json")["secret"]

    # A knows B (regional, need-to-know, up to AMBER) and C (international, up to GREEN).
    for partner in (b, c):
        a.run("peer", "add", "--from-file", str(partner.folder / "identity.json"))
    a.run("peer", "set", b.code, "--community", "regional", "--max-tlp", "amber",
          "--need-to-know")  # fmt: skip
    a.run("peer", "set", c.code, "--community", "international", "--max-tlp", "green",
          "--no-need-to-know")  # fmt: skip
    a.run("taxii", "add-collection", "--title", "Shared regionally", "--alias", "regional",
          "--community", "regional")  # fmt: skip
    a.run("taxii", "add-collection", "--title", "Shared worldwide", "--alias", "world",
          "--community", "international")  # fmt: skip
    a.run("peer", "set", b.code, "--read", "regional", "--write", "regional")
    a.run("peer", "set", c.code, "--read", "world")
    b.tokens[a.code] = a.run("token", "create", "--peer", b.code, "--json")["secret"]

    # B and C know A, give it an inbox it may write, and a token for it.
    for partner, community in ((b, "regional"), (c, "international")):
        partner.run("peer", "add", "--from-file", str(a.folder / "identity.json"))
        inbox = partner.run("taxii", "add-collection", "--title", "From partners", "--alias",
                            "inbox", "--community", community, "--json")  # fmt: skip
        partner.run("peer", "set", a.code, "--community", community, "--write", "inbox")
        secret = partner.run("token", "create", "--peer", a.code, "--json")["secret"]
        token_file = a.folder / f"token-{partner.code}"
        token_file.write_text(secret)
        url = f"{partner.base}/taxii2/{community}/collections/{inbox['id']}/"
        local = "regional" if partner is b else "world"
        a.run("sync", "add", partner.code, "--push", url, "--collection", local, "--token-file",
              str(token_file))  # fmt: skip

    try:
        for node in every.values():
            node.start()
        yield every
    finally:
        for node in every.values():
            node.stop()
        for node in every.values():
            assert "Traceback" not in node.log(), node.log()


def import_into(node: Served, objects: list[dict[str, Any]]) -> None:
    """POST a bundle to the node's import API and wait until it is stored."""
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    accepted = httpx.post(
        f"{node.base}/api/v1/intel/imports",
        content=orjson.dumps(bundle),
        headers={"Authorization": f"Bearer {node.admin}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert accepted.status_code == 202, accepted.text
    location = accepted.json()["location"]

    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = node.api(location.removeprefix("/api/v1")).json()
        return run if run["status"] != "running" else None

    run = wait_for("the import finished", done)
    assert run["status"] == "done" and run["counts"]["rejected"] == 0, run


def link_to(a: Served, code: str) -> dict[str, Any]:
    links: list[dict[str, Any]] = a.run("sync", "status", "--json")
    return next(link for link in links if link["peer"] == code)


def stored(node: Served) -> dict[str, tuple[int, set[str]]]:
    """Every id the node's store holds: how many versions, and the sources they came from."""
    database = node.database()
    try:
        with database.reader() as session:
            versions = dict(
                session.execute(select(StixObject.id, func.count()).group_by(StixObject.id)).all()
            )
            sources: dict[str, set[str]] = {}
            rows = session.execute(
                select(StixObject.id, ImportRun.source)
                .join(Provenance, Provenance.object_seq == StixObject.seq)
                .join(ImportRun, ImportRun.id == Provenance.import_id)
            )
            for stix_id, source in rows:
                sources.setdefault(stix_id, set()).add(source)
    finally:
        database.dispose()
    return {stix_id: (count, sources.get(stix_id, set())) for stix_id, count in versions.items()}


def test_three_nodes_share_by_policy_survive_an_outage_and_refuse_forgeries(
    nodes: dict[str, Served],
) -> None:
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    first = {
        "clear": indicator("clear-1", CLEAR),
        "green": indicator("green-1", GREEN),
        "amber": indicator("amber-1", AMBER),
        "strict": indicator("strict-1", STRICT, created_by_ref=IDENTITY_A),
        "red": indicator("red-1", RED),
    }
    started = time.monotonic()
    import_into(a, list(first.values()))
    for_b = {first[k]["id"] for k in ("clear", "green", "amber")}
    for_c = {first[k]["id"] for k in ("clear", "green")}
    wait_for("B has CLEAR, GREEN and AMBER", lambda: all(b.has(i) for i in for_b))
    wait_for("C has CLEAR and GREEN", lambda: all(c.has(i) for i in for_c))
    # Pushed on the import's event, not at the scheduled run (sync_interval_seconds: 300).
    assert time.monotonic() - started < 10
    assert set(stored(b)) == for_b
    assert set(stored(c)) == for_c

    # B goes down; A goes on importing, and C goes on receiving.
    b.stop()
    second = {
        "clear": indicator("clear-2", CLEAR),
        "green": indicator("green-2", GREEN),
        "amber": indicator("amber-2", AMBER),
        "red": indicator("red-2", RED),
    }
    import_into(a, list(second.values()))
    wait_for("C has the new CLEAR and GREEN",
             lambda: c.has(second["clear"]["id"]) and c.has(second["green"]["id"]))  # fmt: skip
    down = wait_for("A's link to B fails", lambda: (s := link_to(a, b.code))["failures"] and s)
    assert down["state"] == "failing"
    assert "cannot reach" in down["last_error"]
    assert down["next_attempt_at"] is not None  # retried after its back-off
    assert down["lag"]["objects"] == 3  # the new CLEAR, GREEN and AMBER are not sent yet

    # B comes back and catches up: nothing lost, nothing twice.
    b.start()
    everything_for_b = for_b | {second[k]["id"] for k in ("clear", "green", "amber")}
    wait_for("B caught up", lambda: all(b.has(i) for i in everything_for_b), seconds=20)
    held = stored(b)
    assert set(held) == everything_for_b
    assert all(count == 1 for count, _ in held.values()), held
    assert all(sources == {f"peer:{a.code}"} for _, sources in held.values()), held
    on_c = stored(c)
    assert set(on_c) == for_c | {second["clear"]["id"], second["green"]["id"]}
    assert all(count == 1 for count, _ in on_c.values()), on_c
    healthy = wait_for("A's link to B is healthy",
                       lambda: (s := link_to(a, b.code))["state"] == "ok" and s)  # fmt: skip
    assert healthy["failures"] == 0 and healthy["lag"]["objects"] == 0
    assert link_to(a, c.code)["lag"]["objects"] == 0

    # TLP:RED, and TLP:AMBER+STRICT of A's own organisation, reached no peer.
    withheld = [first["red"]["id"], second["red"]["id"], first["strict"]["id"]]
    for peer in (b, c):
        for stix_id in withheld:
            assert not peer.has(stix_id), f"{peer.code} holds {stix_id}"
            assert stix_id not in stored(peer)
    for stix_id in (first["amber"]["id"], second["amber"]["id"]):
        assert not c.has(stix_id)  # C has no need-to-know

    # A forged and a replayed request to A's TAXII server: refused and audited.
    collections = httpx.get(
        f"{a.base}/taxii2/regional/collections/",
        headers={"Authorization": f"Bearer {b.tokens[a.code]}", "Accept": MEDIA},
        timeout=10,
    ).json()["collections"]
    target = f"/taxii2/regional/collections/{collections[0]['id']}/objects/"
    body = b'{"objects": []}'
    headers = {
        "Authorization": f"Bearer {b.tokens[a.code]}",
        "Accept": MEDIA,
        "Content-Type": MEDIA,
    }

    def post(signed: dict[str, str]) -> httpx.Response:
        return httpx.post(a.base + target, content=body, headers={**headers, **signed}, timeout=10)

    def signature(key: Ed25519PrivateKey) -> dict[str, str]:
        return sign_request(
            key, node=b.code, method="POST", target=target, body=body, clock=SystemClock()
        )

    forged = post(signature(Ed25519PrivateKey.generate()))
    assert forged.status_code == 401, forged.text
    assert forged.json()["details"] == {"reason": "forged"}
    genuine = signature(load_signing_key(b.folder / "data"))
    assert post(genuine).status_code == 202
    replayed = post(genuine)
    assert replayed.status_code == 401, replayed.text
    assert replayed.json()["details"] == {"reason": "replayed"}
    assert post({}).json()["details"] == {"reason": "unsigned"}  # B's writes must be signed
    ledger = a.run("audit", "list", "--action", "auth.signature", "--json")
    assert [(e["actor"], e["detail"]["reason"]) for e in ledger] == [
        (f"user:peer:{b.code.lower()}", "forged"),
        (f"user:peer:{b.code.lower()}", "replayed"),
        (f"user:peer:{b.code.lower()}", "unsigned"),
    ]
    verified = a.run("audit", "verify")
    assert verified is not None
