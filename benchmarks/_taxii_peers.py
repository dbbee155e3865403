"""Helpers of the TAXII benchmark: a medallion server to compare with, and a timed pull.

Not a benchmark itself (the runner skips script names starting with ``_``); kept apart so
``taxii.py`` reads as its figures.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

MEDIA = "application/taxii+json;version=2.1"
MEDALLION_ROOT = "bench"
MEDALLION_COLLECTION = "6e0a3a7c-3b3f-4d7c-9a55-6b1e9e1f7a01"


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, *, auth: tuple[str, str] | None = None, seconds: float = 60) -> None:
    """Poll ``url`` until it answers 200 (a server process starting)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, auth=auth, headers={"Accept": MEDIA}).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {seconds} s")
        time.sleep(0.2)


def _medallion_data(objects: list[dict[str, Any]]) -> dict[str, Any]:
    added = "2026-01-01T00:00:00.000000Z"
    return {
        "/discovery": {
            "title": "medallion baseline",
            "default": f"http://127.0.0.1/{MEDALLION_ROOT}/",
            "api_roots": [f"http://127.0.0.1/{MEDALLION_ROOT}/"],
        },
        MEDALLION_ROOT: {
            "information": {
                "title": "baseline",
                "versions": [MEDIA],
                "max_content_length": 100_000_000,
            },
            "status": [],
            "collections": [
                {
                    "id": MEDALLION_COLLECTION,
                    "title": "baseline",
                    "can_read": True,
                    "can_write": True,
                    "media_types": [MEDIA],
                    "objects": [{**obj, "_date_added": added} for obj in objects],
                    "manifest": [
                        {
                            "id": obj["id"],
                            "date_added": added,
                            "version": obj["modified"],
                            "media_type": MEDIA,
                        }
                        for obj in objects
                    ],
                }
            ],
        },
    }


@contextmanager
def medallion(folder: Path, objects: list[dict[str, Any]]) -> Iterator[str]:
    """A medallion server (memory backend) holding ``objects``; yields the collection URL."""
    data = folder / "medallion-data.json"
    data.write_text(json.dumps(_medallion_data(objects)))
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
                "users": {"bench": "bench-password"},
                "taxii": {"max_page_size": 1000},
            }
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1", "--port", str(port),
         str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/taxii2/", auth=("bench", "bench-password"))
        yield f"{base}/{MEDALLION_ROOT}/collections/{MEDALLION_COLLECTION}/"
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class Pull:
    """What pulling a collection with taxii2-client took."""

    objects: int
    seconds: float
    page_seconds: list[float]

    @property
    def rate(self) -> float:
        """Objects per second."""
        return self.objects / self.seconds

    @property
    def page_p99_ms(self) -> float:
        """The 99th percentile of the time one page took, in ms."""
        if len(self.page_seconds) < 2:
            return self.page_seconds[0] * 1000
        return statistics.quantiles(self.page_seconds, n=100)[98] * 1000


def pull(url: str, *, user: str, password: str, per_request: int = 1000) -> Pull:
    """Page through a collection with taxii2-client (``as_pages``), timing each page."""
    from taxii2client.v21 import Collection, as_pages

    collection = Collection(url, user=user, password=password)
    count, pages = 0, []
    started = last = time.perf_counter()
    for envelope in as_pages(collection.get_objects, per_request=per_request):
        now = time.perf_counter()
        pages.append(now - last)
        last = now
        count += len(envelope.get("objects", ()))
    return Pull(count, time.perf_counter() - started, pages)
