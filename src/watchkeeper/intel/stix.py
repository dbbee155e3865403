"""Checking one STIX object and preparing its row: version key, markings, hash, values.

This runs once per object of every import, so it works on the parsed dict directly (no
python-stix2 objects) and does only what storing and indexing need: the checks below, a
canonical serialisation and the reduction of indicator patterns to values. Full conformance
checking is the job of stix2-validator in the tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from watchkeeper.core.canonical import sha256_hex
from watchkeeper.core.observables import Observable, from_stix
from watchkeeper.core.tlp import Tlp, strictest
from watchkeeper.errors import InvalidInput, WatchkeeperError
from watchkeeper.intel.patterns import reduce_pattern

TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$")
ID = re.compile(
    r"^([a-z0-9][a-z0-9-]{1,248}[a-z0-9])--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$")
MAX_OBJECT_BYTES = 1_000_000
# Cyber-observable objects whose value is worth indexing for look-ups and correlation.
OBSERVABLE_PATHS = {
    "ipv4-addr": "ipv4-addr:value",
    "ipv6-addr": "ipv6-addr:value",
    "domain-name": "domain-name:value",
    "url": "url:value",
    "email-addr": "email-addr:value",
    "mac-addr": "mac-addr:value",
}
SCO_TYPES = frozenset(
    {
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    }
)
UNVERSIONED = SCO_TYPES | {"marking-definition"}


@dataclass(slots=True)
class Prepared:
    """An object ready to store."""

    id: str
    type: str
    modified: str
    created: str | None
    spec_version: str
    revoked: bool
    confidence: int | None
    tlp: str | None
    matchable: bool | None
    content_hash: str
    doc: str
    values: tuple[Observable, ...] = ()
    # Per value: names of the warninglists it hits, comma-separated (set by the importer).
    warninglists: tuple[str | None, ...] = ()
    # The parsed object, until :func:`complete` has reduced it to values.
    source: dict[str, Any] | None = None


_SEEN_TIMESTAMPS: dict[str, str] = {}


def timestamp(value: Any, *, field: str) -> str:
    """A STIX timestamp in one text form (microseconds, Z), so equal instants compare equal.

    Feeds repeat timestamps (created = modified = valid_from, whole batches at one instant),
    so results are remembered (a bounded table, cleared when full).
    """
    known = _SEEN_TIMESTAMPS.get(value) if isinstance(value, str) else None
    if known is not None:
        return known
    match = TIMESTAMP.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput(f"{field}: not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.s]Z)", field=field)
    fraction = (match.group(2) or "")[:6].ljust(6, "0")
    if len(_SEEN_TIMESTAMPS) > 100_000:
        _SEEN_TIMESTAMPS.clear()
    normal = _SEEN_TIMESTAMPS[value] = f"{match.group(1)}.{fraction}Z"
    return normal


def prepare(obj: Any) -> Prepared:
    """Check one object and build its complete row (:func:`identify` then :func:`complete`)."""
    prepared = identify(obj)
    complete(prepared)
    return prepared


def complete(prepared: Prepared) -> None:
    """Reduce the object to its observable values (indicator patterns, observable objects).

    Kept apart from :func:`identify` because it is the costly part, and a version that is
    already stored (a re-import) never needs it. ``InvalidInput`` for a bad pattern.
    """
    if prepared.source is None:
        return
    prepared.values, prepared.matchable = _values(prepared.type, prepared.source)
    prepared.source = None


def identify(obj: Any, *, markings: Mapping[str, Tlp] | None = None) -> Prepared:
    """Check one object and build its row, values not yet extracted (see :func:`complete`).

    ``InvalidInput`` names the field that is wrong. ``markings`` maps TLP marking-definition
    ids other than the standard ones (a producer's own, defined in the data) to their level,
    so an object marked with such a definition keeps its TLP.

    STIX 2.1 requires ``spec_version`` on every domain and relationship object, so one without
    it is STIX 2.0: it is stored as 2.1 with ``spec_version`` set, which is what upgrading
    needs at this level (2.0 and 2.1 share the properties the store reads).
    """
    if not isinstance(obj, dict):
        raise InvalidInput("not a JSON object", field="object")
    kind, identifier = obj.get("type"), obj.get("id")
    if not isinstance(kind, str) or not TYPE.match(kind):
        raise InvalidInput("type: missing or not a STIX type name", field="type")
    match = ID.match(identifier) if isinstance(identifier, str) else None
    if match is None or match.group(1) != kind:
        raise InvalidInput(f"id: expected {kind}--<uuid>", field="id")
    version = obj.get("spec_version", "2.1" if kind in SCO_TYPES else "2.0")
    if version == "2.0":
        obj = {**obj, "spec_version": "2.1"}
        version = "2.1"
    elif version != "2.1":
        raise InvalidInput(f"spec_version: {version!r} is not 2.1 (or 2.0)", field="spec_version")
    created = timestamp(obj["created"], field="created") if "created" in obj else None
    if "modified" in obj:
        modified = timestamp(obj["modified"], field="modified")
    elif kind in UNVERSIONED:
        modified = created or ""
    else:
        raise InvalidInput("modified: required for this object type", field="modified")
    if kind not in UNVERSIONED and created is None:
        raise InvalidInput("created: required for this object type", field="created")
    confidence = obj.get("confidence")
    if confidence is not None and (
        not isinstance(confidence, int)
        or isinstance(confidence, bool)
        or not 0 <= confidence <= 100
    ):
        raise InvalidInput("confidence: expected an integer from 0 to 100", field="confidence")
    refs = obj.get("object_marking_refs") or ()
    if not isinstance(refs, list | tuple):
        raise InvalidInput("object_marking_refs: expected a list", field="object_marking_refs")
    level = strictest(refs, known=markings)
    data = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    if len(data) > MAX_OBJECT_BYTES:
        raise InvalidInput(
            f"object of {len(data)} bytes exceeds the {MAX_OBJECT_BYTES}-byte limit", field="object"
        )
    return Prepared(
        id=match.group(0),
        type=kind,
        modified=modified,
        created=created,
        spec_version=version,
        revoked=obj.get("revoked") is True,
        confidence=confidence,
        tlp=level.value if level is not None else None,
        matchable=None,
        content_hash=sha256_hex(data),
        doc=data.decode(),
        source=obj,
    )


def _values(kind: str, obj: dict[str, Any]) -> tuple[tuple[Observable, ...], bool | None]:
    if kind == "indicator":
        pattern = obj.get("pattern")
        if not isinstance(pattern, str) or not pattern.strip():
            raise InvalidInput("pattern: required for an indicator", field="pattern")
        if obj.get("pattern_type", "stix") != "stix":
            return (), False  # Sigma, YARA, Snort...: kept, matched by their own engines
        try:
            reduction = reduce_pattern(pattern)
        except WatchkeeperError as exc:
            raise InvalidInput(exc.message, field="pattern") from None
        return reduction.values, reduction.matchable
    path = OBSERVABLE_PATHS.get(kind)
    if path is not None and isinstance(obj.get("value"), str):
        try:
            return (from_stix(path, obj["value"]),), None
        except InvalidInput:
            return (), None
    if kind == "file" and isinstance(obj.get("hashes"), dict):
        found = []
        for algorithm, digest in obj["hashes"].items():
            try:
                found.append(from_stix(f"file:hashes.'{algorithm}'", str(digest)))
            except InvalidInput:
                continue
        return tuple(found), None
    return (), None
