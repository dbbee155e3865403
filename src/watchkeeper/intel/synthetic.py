"""Synthetic intelligence for demos and benchmarks: seeded, so every run sees the same data.

The values are made up from documentation and reserved ranges where possible (RFC 5737
addresses are avoided on purpose for indicators that must not be warninglisted, so most
addresses are drawn from ordinary unicast space) and from random labels under invented
domains. Objects are written one by one, so a million-indicator bundle needs little memory.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP_AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
TLP_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
WORDS = (
    "alpha",
    "bravo",
    "cobalt",
    "delta",
    "ember",
    "falcon",
    "granite",
    "harbor",
    "iris",
    "juniper",
    "krypton",
    "lumen",
    "meridian",
    "nimbus",
    "onyx",
    "quartz",
    "raven",
    "sable",
)
TLDS = ("com", "net", "org", "info", "biz", "xyz", "top", "online")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ipv4(rng: random.Random) -> str:
    while True:
        first = rng.randint(11, 223)
        if first not in (127, 169, 172, 192, 198, 203):
            return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _domain(rng: random.Random) -> str:
    label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))
    return f"{rng.choice(WORDS)}-{label}.{rng.choice(TLDS)}"


def _pattern(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:
        return f"[ipv4-addr:value = '{_ipv4(rng)}']"
    if roll < 0.65:
        return f"[domain-name:value = '{_domain(rng)}']"
    if roll < 0.80:
        path = "/".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
        return f"[url:value = 'http://{_domain(rng)}/{path}.php']"
    if roll < 0.95:
        return f"[file:hashes.'SHA-256' = '{rng.getrandbits(256):064x}']"
    return f"[ipv4-addr:value = '{_ipv4(rng)}/24']"


def indicators(count: int, *, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``count`` STIX 2.1 indicators with a realistic mix of kinds and markings."""
    rng = random.Random(seed)
    for n in range(count):
        stamp = f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00.000Z"
        yield {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{_uuid(rng)}",
            "created": stamp,
            "modified": stamp,
            "name": f"synthetic indicator {n}",
            "indicator_types": ["malicious-activity"],
            "pattern": _pattern(rng),
            "pattern_type": "stix",
            "valid_from": stamp,
            "confidence": rng.choice((30, 50, 70, 85)),
            "object_marking_refs": [rng.choice((TLP_CLEAR, TLP_GREEN, TLP_AMBER))],
        }


def write_bundle(
    target: Path | BinaryIO, objects: Iterator[dict[str, Any]], *, seed: int = 7
) -> None:
    """Write a STIX bundle object by object (constant memory)."""
    rng = random.Random(seed)
    handle = target.open("wb") if isinstance(target, Path) else target
    try:
        handle.write(b'{"type":"bundle","id":"bundle--' + _uuid(rng).encode() + b'","objects":[')
        for n, obj in enumerate(objects):
            if n:
                handle.write(b",")
            handle.write(orjson.dumps(obj))
        handle.write(b"]}")
    finally:
        if isinstance(target, Path):
            handle.close()
