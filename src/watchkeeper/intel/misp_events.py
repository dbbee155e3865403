"""MISP events built from stored indicator values: attributes, tags, the event's head.

An exported value becomes one ``to_ids`` attribute whose type and category come from its kind
(``KIND_TYPES``), tagged with the indicator's TLP (as MISP's ``tlp:`` taxonomy) and labels.
The event takes the strictest TLP of what it holds and the MISP distribution that level
allows (``TLP_DISTRIBUTION``, the inverse of what an import infers). Everything is derived
from stored data and our STIX ids (uuid5), so the same store exports the same bytes.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from watchkeeper.core import Clock, stix_time
from watchkeeper.core.tlp import Tlp
from watchkeeper.errors import InvalidInput
from watchkeeper.intel.misp_attributes import NAMESPACE
from watchkeeper.intel.stix import timestamp

UNMARKED = Tlp.AMBER
"""The level an object without TLP marking is exported as (and filtered by)."""
KIND_TYPES = {
    "ipv4": ("ip-dst", "Network activity"),
    "ipv6": ("ip-dst", "Network activity"),
    "cidr4": ("ip-dst", "Network activity"),
    "cidr6": ("ip-dst", "Network activity"),
    "domain": ("domain", "Network activity"),
    "url": ("url", "Network activity"),
    "email": ("email-src", "Payload delivery"),
    "md5": ("md5", "Payload delivery"),
    "sha1": ("sha1", "Payload delivery"),
    "sha256": ("sha256", "Payload delivery"),
    "sha512": ("sha512", "Payload delivery"),
    "asn": ("AS", "Network activity"),
    "mac": ("mac-address", "Network activity"),
}
"""Our observable kinds as MISP attribute (type, category)."""
# The MISP distribution matching a TLP level: the inverse of misp.DISTRIBUTION_TLP.
TLP_DISTRIBUTION = {
    Tlp.CLEAR: 3,
    Tlp.GREEN: 2,
    Tlp.AMBER: 1,
    Tlp.AMBER_STRICT: 0,
}


def epoch_of(stix_timestamp: str) -> int:
    """The MISP timestamp (whole seconds) of a stored STIX timestamp."""
    moment = datetime.strptime(stix_timestamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp())


def stix_now(clock: Clock) -> str:
    """The clock's time as a stored STIX timestamp (to compare ``valid_until`` with)."""
    return stix_time(clock.now())


def _expired(until: Any, *, now: str) -> bool:
    try:
        return until is not None and timestamp(until, field="valid_until") <= now
    except InvalidInput:
        return False  # stored as it came; an unreadable end is no reason to drop the value


def misp_tags(level: Tlp, labels: Any) -> list[dict[str, str]]:
    """MISP tags: the TLP one first, then the labels (TLP-looking labels left out)."""
    tags = [{"name": level.misp_tag}]
    for label in labels if isinstance(labels, list) else ():
        if isinstance(label, str) and label and not label.lower().startswith("tlp:"):
            tags.append({"name": label})
    return tags


_PORT = re.compile(r"network-traffic:(dst|src)_port\s*=\s*([0-9]{1,5})(?![0-9])")


def _port(pattern: str, *, kind: str) -> tuple[str, str] | None:
    """("ip-dst" or "ip-src", port) when an address or host value is narrowed by a port."""
    if kind not in ("ipv4", "ipv6", "domain") or "_port" not in pattern:
        return None
    found = _PORT.search(pattern)
    return (f"ip-{found.group(1)}", found.group(2)) if found else None


class MispEvent:
    """One MISP event being built: attributes go to ``sink`` as they come, the head at the end.

    The head (timestamp, date, TLP tag, distribution) depends on every attribute, so it is
    made last; a feed file writes it after the attributes, which JSON allows.
    """

    def __init__(
        self,
        *,
        event_uuid: str,
        info: str,
        organisation: str,
        sink: Callable[[dict[str, Any]], None],
        labels: Any = (),
        level: Tlp | None = None,
        modified: str | None = None,
        day: str | None = None,
    ) -> None:
        self.uuid, self.info, self.organisation, self.sink = event_uuid, info, organisation, sink
        self.labels, self.level, self.day = labels, level, day
        self.timestamp = epoch_of(modified) if modified else 0
        self.count = 0
        self.hashes: list[str] = []
        self._doc: tuple[str, dict[str, Any]] = ("", {})

    def add(self, row: Sequence[Any], *, now: str) -> bool:
        """Add the attribute of one value row; False if its indicator has expired.

        ``row`` is (id, modified, created, tlp, doc, kind, value) of an indicator value.
        """
        identifier, modified, created, tlp, doc, kind, value = row
        if self._doc[0] != identifier:
            self._doc = (identifier, orjson.loads(doc))
        indicator = self._doc[1]
        if _expired(indicator.get("valid_until"), now=now):
            return False
        level = Tlp(tlp) if tlp else UNMARKED
        misp_type, category = KIND_TYPES[kind]
        port = _port(str(indicator.get("pattern") or ""), kind=kind)
        if port is not None:  # the indicator said host and port (MISP's ip-dst|port...)
            misp_type = f"{'hostname' if kind == 'domain' else port[0]}|port"
            value = f"{value}|{port[1]}"
        seconds = epoch_of(modified)
        name = f"attribute|{self.uuid}|{identifier}|{kind}|{value}"
        attribute = {
            "uuid": str(uuid.uuid5(NAMESPACE, name)),
            "type": misp_type,
            "category": category,
            "value": value,
            "to_ids": True,
            "distribution": "5",
            "timestamp": str(seconds),
            "comment": str(indicator.get("description") or "")[:1000],
            "Tag": misp_tags(level, indicator.get("labels")),
        }
        self.sink(attribute)
        self.hashes.append(hashlib.md5(value.encode(), usedforsecurity=False).hexdigest())
        self.count += 1
        self.timestamp = max(self.timestamp, seconds)
        self.level = level if self.level is None else max(self.level, level)
        self.day = min(self.day or created[:10], created[:10])
        return True

    def head(self, clock: Clock) -> dict[str, Any]:
        """Everything of the event but its attributes."""
        level = self.level or UNMARKED
        timestamp = str(self.timestamp or int(clock.now().timestamp()))
        return {
            "uuid": self.uuid,
            "info": self.info,
            "date": self.day or clock.now().date().isoformat(),
            "timestamp": timestamp,
            "publish_timestamp": timestamp,
            "published": True,
            "analysis": "2",
            "threat_level_id": "4",
            "distribution": str(TLP_DISTRIBUTION[level]),
            "Orgc": {
                "name": self.organisation,
                "uuid": str(uuid.uuid5(NAMESPACE, f"organisation|{self.organisation}")),
            },
            "Tag": misp_tags(level, self.labels),
        }


class EventFile:
    """A feed event written as it is built: attributes first, the head after them."""

    def __init__(self, folder: Path, event: MispEvent, *, hashes: TextIO) -> None:
        self.folder, self.event, self.hashes = folder, event, hashes
        self.path = folder / f".{event.uuid}.json.part"
        self.stream = self.path.open("wb")
        self.stream.write(b'{"Event":{"Attribute":[')
        event.sink = self._write

    def _write(self, attribute: dict[str, Any]) -> None:
        if self.event.count:
            self.stream.write(b",")
        self.stream.write(orjson.dumps(attribute))

    def close(self, clock: Clock) -> dict[str, Any] | None:
        """Finish the file; its manifest entry, or None (and no file) if it holds nothing."""
        if not self.event.count:
            self.stream.close()
            self.path.unlink()
            return None
        head = self.event.head(clock)
        self.stream.write(b"]," + orjson.dumps(head)[1:] + b"}")
        self.stream.close()
        self.path.replace(self.folder / f"{self.event.uuid}.json")
        for digest in self.event.hashes:
            self.hashes.write(f"{digest},{self.event.uuid}\n")
        keys = ("Orgc", "Tag", "info", "date", "analysis", "threat_level_id", "timestamp")
        return {key: head[key] for key in keys} | {"timestamp": int(head["timestamp"])}
