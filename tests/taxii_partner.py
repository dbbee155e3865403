"""A partner's TAXII 2.1 server for tests: medallion (memory backend) in a subprocess.

The sync tests pull from and push to a real, independent TAXII implementation, so what they
check is interoperability, not agreement with our own server. The server has one API root
with one read-write collection, HTTP Basic users, and pages of at most ``PAGE`` objects.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

MEDIA = "application/taxii+json;version=2.1"
API_ROOT = "partner"
COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
USER, PASSWORD = "watchkeeper", "partner-issued-secret"
PAGE = 100
ADDED = datetime(2026, 1, 1, tzinfo=UTC)


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def taxii_time(moment: datetime) -> str:
    """A timestamp as medallion writes ``date_added``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _data(objects: list[dict[str, Any]], base: str) -> dict[str, Any]:
    # Each object its own date_added, a second apart, as if added one by one.
    added = [taxii_time(ADDED + timedelta(seconds=n)) for n in range(len(objects))]
    return {
        "/discovery": {
            "title": "partner TAXII server",
            "default": f"{base}/{API_ROOT}/",
            "api_roots": [f"{base}/{API_ROOT}/"],
        },
        API_ROOT: {
            "information": {
                "title": "partner",
                "versions": [MEDIA],
                "max_content_length": 100_000_000,
            },
            "status": [],
            "collections": [
                {
                    "id": COLLECTION,
                    "title": "shared indicators",
                    "can_read": True,
                    "can_write": True,
                    "media_types": [MEDIA],
                    "objects": [
                        {**obj, "_date_added": when}
                        for obj, when in zip(objects, added, strict=True)
                    ],
                    "manifest": [
                        {
                            "id": obj["id"],
                            "date_added": when,
                            "version": obj["modified"],
                            "media_type": "application/stix+json;version=2.1",
                        }
                        for obj, when in zip(objects, added, strict=True)
                    ],
                }
            ],
        },
    }


@dataclass
class Partner:
    """A running medallion server."""

    base: str
    process: subprocess.Popen[bytes]

    @property
    def collection_url(self) -> str:
        return f"{self.base}/{API_ROOT}/collections/{COLLECTION}/"

    @property
    def discovery_url(self) -> str:
        return f"{self.base}/taxii2/"

    def objects(self) -> list[dict[str, Any]]:
        """Every object the collection holds (latest versions), read with taxii2-client."""
        from taxii2client.v21 import Collection, as_pages

        collection = Collection(self.collection_url, user=USER, password=PASSWORD)
        found: list[dict[str, Any]] = []
        for envelope in as_pages(collection.get_objects, per_request=PAGE):
            found.extend(envelope.get("objects", ()))
        return found

    def add(self, objects: list[dict[str, Any]]) -> dict[str, Any]:
        """Add objects as another client of the partner would (taxii2-client)."""
        from taxii2client.v21 import Collection

        collection = Collection(self.collection_url, user=USER, password=PASSWORD)
        status = collection.add_objects({"objects": objects})
        return {"success": status.success_count, "failure": status.failure_count}


def wait_for(url: str, *, seconds: float = 60) -> None:
    """Poll ``url`` until it answers 200 (the server process is up)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = httpx.get(url, auth=(USER, PASSWORD), headers={"Accept": MEDIA})
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {seconds} s")
        time.sleep(0.1)


@contextmanager
def medallion(
    folder: Path, objects: list[dict[str, Any]], *, port: int | None = None
) -> Iterator[Partner]:
    """A medallion server holding ``objects`` (on ``port``, or a free one) until the end."""
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    data = folder / "medallion-data.json"
    data.write_text(json.dumps(_data(objects, base)))
    config = folder / "medallion.json"
    config.write_text(
        json.dumps(
            {
                "backend": {
                    "module": "medallion.backends.memory_backend",
                    "module_class": "MemoryBackend",
                    "filename": str(data),
                    "interop_requirements": False,
                },
                "users": {USER: PASSWORD},
                "taxii": {"max_page_size": PAGE},
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1", "--port",
         str(port), str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        partner = Partner(base, process)
        wait_for(partner.discovery_url)
        yield partner
    finally:
        process.terminate()
        process.wait(timeout=30)
