"""The node the TAXII conformance suite talks to: peers, staff, collections and STIX content.

Seeded once per backend through the use-case functions, then served by a real
``watchkeeper serve`` process. The content covers every case the checklist names: every TLP
level (RED and AMBER+STRICT included, and a RED granular marking), an object with three
versions stored at three different times, a cyber-observable without ``modified`` or
``created``, labels, a delivery from a peer, and :data:`BULK` indicators stored in one batch
so that they share one ``date_added``.
"""

from __future__ import annotations

import base64
import itertools
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from watchkeeper.config import load_settings
from watchkeeper.core.tlp import TLP2_MARKING_IDS, Tlp
from watchkeeper.federation import add_collection, items_reader, receive, set_rights, set_sharing
from watchkeeper.intel import StixObject, run_import
from watchkeeper.intel.synthetic import indicators
from watchkeeper.node import Node
from watchkeeper.security import add_peer, add_user, create_token, parse_duration, peer_account
from watchkeeper.security.keys import public_key_text

MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
CLEAR, GREEN, AMBER, STRICT, RED = (TLP2_MARKING_IDS[level] for level in Tlp)
IDENTITY_QA = "identity--aaaaaaaa-0000-4000-8000-00000000000a"
IDENTITY_OTHER = "identity--bbbbbbbb-0000-4000-8000-00000000000b"
BULK = 3000
MAX_CONTENT = 1_000_000
V1, V2, V3 = "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z"
START_TIMEOUT = 30.0


def sid(kind: str, n: int) -> str:
    """A fixed STIX id, so a failure names the object."""
    return f"{kind}--5eed0000-0000-4000-8000-{n:012d}"


def indicator(n: int, *, markings: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A valid indicator numbered ``n``."""
    stamp = extra.pop("modified", "2026-01-10T00:00:00.000Z")
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": sid("indicator", n),
        "created": extra.pop("created", "2026-01-10T00:00:00.000Z"),
        "modified": stamp,
        "pattern": f"[domain-name:value = 'seed-{n}.example']",
        "pattern_type": "stix",
        "valid_from": "2026-01-10T00:00:00.000Z",
        **extra,
    }
    if markings is not None:
        obj["object_marking_refs"] = markings
    return obj


@dataclass
class Seeded:
    """What the suite needs to know about the served node."""

    base: str
    tokens: dict[str, str]
    users: dict[str, str]
    collections: dict[str, str]
    ids: dict[str, str]
    bulk: list[str]
    added: dict[str, str] = field(default_factory=dict)

    def root(self, community: str = "national") -> str:
        """The URL of an API root."""
        return f"{self.base}/taxii2/{community}/"

    def collection(self, alias: str, community: str = "national") -> str:
        """The URL of a collection, by alias."""
        return f"{self.root(community)}collections/{self.collections[alias]}/"

    def auth(self, who: str) -> dict[str, str]:
        """Headers of ``who`` (HTTP Basic: user name and token) accepting TAXII 2.1."""
        raw = f"{self.users[who]}:{self.tokens[who]}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode(), "Accept": MEDIA}


def _load(node: Node, objects: list[dict[str, Any]], source: str) -> None:
    report = run_import(
        node.database,
        clock=node.clock,
        actor="test",
        source=source,
        format="stix",
        reader=items_reader(objects, name=source),
    )
    assert report.rejected == 0, report.document()


def mixed() -> dict[str, dict[str, Any]]:
    """The objects of every TLP case, by name."""
    return {
        "clear": indicator(1, markings=[CLEAR]),
        "green": indicator(2, markings=[GREEN], labels=["phishing"]),
        "amber": indicator(3, markings=[AMBER]),
        "unmarked": indicator(4),
        "strict_qa": indicator(5, markings=[STRICT], created_by_ref=IDENTITY_QA),
        "strict_other": indicator(6, markings=[STRICT], created_by_ref=IDENTITY_OTHER),
        "red": indicator(7, markings=[RED]),
        "red_granular": indicator(
            8,
            markings=[GREEN],
            description="partly red",
            granular_markings=[{"marking_ref": RED, "selectors": ["description"]}],
        ),
        "red_labelled": indicator(9, markings=[RED], labels=["phishing"]),
        "versioned": indicator(10, markings=[GREEN], modified=V1, created=V1),
        "sco": {
            "type": "ipv4-addr",
            "spec_version": "2.1",
            "id": "ipv4-addr--5eed0000-0000-4000-8000-000000000011",
            "value": "203.0.113.77",
            "object_marking_refs": [GREEN],
        },
        "malware": {
            "type": "malware",
            "spec_version": "2.1",
            "id": sid("malware", 12),
            "created": "2026-01-10T00:00:00.000Z",
            "modified": "2026-01-10T00:00:00.000Z",
            "name": "seed malware",
            "is_family": True,
            "object_marking_refs": [CLEAR],
        },
        "deletable_admin": indicator(13, markings=[GREEN]),
    }


def _stamp_of(node: Node, stix_id: str) -> str:
    with node.database.reader() as session:
        stamps = session.scalars(
            select(StixObject.added_at).where(StixObject.id == stix_id).order_by(StixObject.seq)
        ).all()
    return stamps[-1]


def seed(data_dir: Path, database_url: str) -> Seeded:
    """Build the node's content; the node is closed again before it is served."""
    node = Node(load_settings(data_dir=data_dir, database_url=database_url)).start()
    clock, tokens, users = node.clock, {}, {}
    collections: dict[str, str] = {}
    with node.database.transaction() as session:
        for code, sharing in (
            (
                "QA-NCSA",
                {
                    "community": "national",
                    "max_tlp": "amber+strict",
                    "need_to_know": True,
                    "identity": IDENTITY_QA,
                },
            ),
            ("KE-CERT", {"community": "international", "max_tlp": "green"}),
        ):
            add_peer(
                session,
                clock=clock,
                actor="test",
                code=code,
                url=f"https://{code.lower()}.example",
                country=code[:2],
                public_key=public_key_text(Ed25519PrivateKey.generate()),
            )
            set_sharing(session, clock=clock, actor="test", code=code, **sharing)
            account = peer_account(session, clock=clock, actor="test", code=code)
            who = code.split("-")[0].lower()
            users[who] = code
            tokens[who] = create_token(
                session,
                clock=clock,
                actor="test",
                user_name=account.name,
                expires_in=parse_duration("1d"),
            ).secret
        for name, roles in (
            ("admin", ["admin"]),
            ("analyst", ["analyst"]),
            ("responder", ["responder"]),
        ):
            add_user(session, clock=clock, actor="test", name=name, roles=roles)
            users[name] = name
            tokens[name] = create_token(
                session, clock=clock, actor="test", user_name=name, expires_in=parse_duration("1d")
            ).secret
        for alias, community, options in (
            ("all", "national", {}),
            ("iocs", "national", {"types": ["indicator"], "max_tlp": "green"}),
            ("phishing", "national", {"labels": ["phishing"]}),
            ("from-qa", "national", {"sources": ["peer:QA-NCSA"]}),
            ("bulk", "national", {"sources": ["feed:bulk"]}),
            ("inbox", "national", {"types": ["indicator"]}),
            ("secret", "national", {}),
            ("regional", "regional", {}),
            ("world", "international", {}),
        ):
            collection = add_collection(
                session,
                clock=clock,
                actor="test",
                title=f"Collection {alias}",
                description=f"seeded collection {alias}",
                community=community,
                alias=alias,
                **options,
            )
            collections[alias] = collection.id
        rights = {
            "QA-NCSA": {
                "read": ["all", "iocs", "phishing", "from-qa", "bulk", "regional", "world"],
                "write": ["all", "inbox", "world"],
            },
            "KE-CERT": {"read": ["all", "world", "bulk"], "write": []},
        }
        for code, granted in rights.items():
            set_rights(
                session,
                clock=clock,
                actor="test",
                peer=code,
                read=[collections[a] for a in granted["read"]],
                write=[collections[a] for a in granted["write"]],
            )
    objects = mixed()
    _load(node, list(objects.values()), "feed:seed")
    second = indicator(10, markings=[GREEN], modified=V2, created=V1)
    _load(node, [second], "feed:seed")
    bulk = list(itertools.islice(indicators(BULK, seed=99), BULK))
    _load(node, bulk, "feed:bulk")
    third = indicator(10, markings=[GREEN], modified=V3, created=V1)
    _load(node, [third], "feed:seed")
    delivered = [
        indicator(20, markings=[GREEN]),
        indicator(21, markings=[GREEN], modified=V1, created=V1),
        indicator(21, markings=[GREEN], modified=V2, created=V1),
    ]
    receive(
        node.database,
        clock=clock,
        actor="user:peer:qa-ncsa",
        peer="QA-NCSA",
        reader=items_reader(delivered, name="envelope"),
        scope="national",
    )
    ids = {name: obj["id"] for name, obj in objects.items()}
    ids["delivered"], ids["delivered_versions"] = sid("indicator", 20), sid("indicator", 21)
    added = {
        "mixed": _stamp_of(node, ids["clear"]),
        "bulk": _stamp_of(node, bulk[0]["id"]),
        "versioned_last": _stamp_of(node, ids["versioned"]),
        "sco": _stamp_of(node, ids["sco"]),
    }
    node.close()
    return Seeded(
        base="",
        tokens=tokens,
        users=users,
        collections=collections,
        ids=ids,
        bulk=[obj["id"] for obj in bulk],
        added=added,
    )


def serve(
    data_dir: Path, database_url: str, port: int, *, extra: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``watchkeeper serve`` on the seeded node (nothing of this process's settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    env.update(
        {
            "WATCHKEEPER_DATA_DIR": str(data_dir),
            "WATCHKEEPER_DATABASE_URL": database_url,
            "WATCHKEEPER_CONFIG": str(data_dir / "absent.toml"),
            "WATCHKEEPER_TAXII_MAX_CONTENT_LENGTH": str(MAX_CONTENT),
            "WATCHKEEPER_LOG_LEVEL": "warning",
            **(extra or {}),
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "watchkeeper", "serve", "--port", str(port)],
        env=env,
        cwd=data_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_healthy(process: subprocess.Popen[str], base: str) -> None:
    """Return once the server answers /healthz; fail with its stderr if it dies first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            raise RuntimeError(f"serve exited with {process.returncode}:\n{err}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    _, err = process.communicate()
    raise RuntimeError(f"/healthz not 200 within {START_TIMEOUT} s:\n{err}")
