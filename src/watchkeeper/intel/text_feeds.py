"""Reading CSV and plain-text lists as STIX 2.1 indicators, idempotently.

Each value on a line becomes one ``indicator`` whose id is a uuid5 of the feed name, kind and
normalised value, so the same value from the same feed is always the same object. Its
timestamps are settled against the version already stored: when pattern, TLP, confidence and
labels are unchanged the stored ``created``/``modified``/``valid_*`` are reused, so pulling an
unchanged list reports every line unchanged. Only when the lifetime is more than half used is
a new version issued with a fresh ``valid_until`` (lists without a ``first_seen`` column give
no other sign that an entry is still listed); a value that leaves the list is no longer
refreshed and expires. An indicator an analyst revoked stays revoked: the feed does not
resurrect it.

Lines are read through the import's byte bound, each cut at ``MAX_LINE`` bytes; a bad line is
rejected with its file and line number (the index of its items) and the rest goes on.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select

from watchkeeper.core import Clock, Observable, guess, marking_id, normalise, parse_tlp, refang
from watchkeeper.errors import InvalidInput
from watchkeeper.intel.feed_definitions import FeedSpec
from watchkeeper.intel.imports import ImportReport, Item, Progress, Reader, Reject, run_import
from watchkeeper.intel.inputs import DEFAULT_MAX_BYTES, Input, open_input
from watchkeeper.intel.models import StixObject
from watchkeeper.intel.warninglists import WarninglistMatcher
from watchkeeper.store import Database

MAX_LINE = 8192
CHUNK = 1000
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://watchkeeper.invalid/text-feeds")
TIMES = ("created", "modified", "valid_from", "valid_until")
PATTERN_PATHS = {
    "ipv4": "ipv4-addr:value", "cidr4": "ipv4-addr:value",
    "ipv6": "ipv6-addr:value", "cidr6": "ipv6-addr:value",
    "domain": "domain-name:value", "url": "url:value", "email": "email-addr:value",
    "md5": "file:hashes.MD5", "sha1": "file:hashes.'SHA-1'",
    "sha256": "file:hashes.'SHA-256'", "sha512": "file:hashes.'SHA-512'",
    "mac": "mac-addr:value", "asn": "autonomous-system:number",
}  # fmt: skip
LOCAL_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost",
     "ip6-loopback", "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters",
     "ip6-allhosts", "0.0.0.0"}  # noqa: S104
)  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """One value read from a line, with what the line says about it."""

    value: str
    first_seen: datetime | None = None
    description: str | None = None
    confidence: int | None = None


def stamp(moment: datetime) -> str:
    """A STIX timestamp (UTC, microseconds, Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _moment(text: str) -> datetime:
    value = text.strip()
    if value.isdigit():
        return datetime.fromtimestamp(int(value), UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def read_lines(stream: io.RawIOBase, *, name: str) -> Iterator[tuple[int, str | None]]:
    """(line number, text) of each line; None for a line too long or not UTF-8."""
    buffered = io.BufferedReader(stream)
    number = 0
    while raw := buffered.readline(MAX_LINE + 1):
        number += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            while (rest := buffered.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                pass
            yield number, None
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None
            continue
        yield number, text.lstrip("\ufeff") if number == 1 else text


class LineReader:
    """Turns the lines of one format into entries; keeps the state a zone file needs."""

    def __init__(self, spec: FeedSpec) -> None:
        self.spec = spec
        self.origin = ""
        self.in_parentheses = False
        self.header_pending = spec.skip_header

    def entries(self, text: str) -> list[Entry]:
        """The entries of one line ([] for blank, comment and skipped lines)."""
        line = text.strip()
        if not line or line.startswith(self.spec.comment):
            return []
        if self.header_pending:
            self.header_pending = False
            return []
        if self.spec.format == "csv":
            return [self._csv(line)]
        if self.spec.format == "hosts":
            return self._hosts(line)
        if self.spec.format == "rpz":
            return self._rpz(line)
        return [Entry(line.split()[0])]

    def _csv(self, line: str) -> Entry:
        fields = next(csv.reader([line], delimiter=self.spec.delimiter))
        columns = self.spec.columns

        def column(key: str) -> str | None:
            position = columns.get(key)
            if position is None:
                return None
            if position >= len(fields):
                if key == "value":
                    raise InvalidInput(f"no column {position} (the line has {len(fields)})")
                return None
            return fields[position].strip() or None

        value = column("value")
        if value is None:
            raise InvalidInput(f"column {columns['value']} (the value) is empty")
        first_seen, confidence = column("first_seen"), column("confidence")
        try:
            seen = _moment(first_seen) if first_seen else None
        except (ValueError, OverflowError, OSError):
            raise InvalidInput(f"first_seen {str(first_seen)[:50]!r} is not a date") from None
        score = None
        if confidence is not None:
            if not confidence.isdigit() or int(confidence) > 100:
                raise InvalidInput(f"confidence {confidence[:20]!r} is not 0 to 100")
            score = int(confidence)
        description = column("description")
        return Entry(value, seen, description[:1000] if description else None, score)

    def _hosts(self, line: str) -> list[Entry]:
        fields = line.split(self.spec.comment, 1)[0].split()
        if len(fields) < 2:
            raise InvalidInput("expected an address and a name ('0.0.0.0 domain')")
        return [Entry(name) for name in fields[1:] if name.lower() not in LOCAL_NAMES]

    def _rpz(self, line: str) -> list[Entry]:
        fields = line.split(self.spec.comment, 1)[0].split()
        if self.in_parentheses or "(" in fields:
            self.in_parentheses = ")" not in fields
            return []
        if not fields:
            return []
        if fields[0].startswith("$"):
            if fields[0].upper() == "$ORIGIN" and len(fields) > 1:
                self.origin = fields[1].lower().rstrip(".")
            return []
        upper = [field.upper() for field in fields]
        if "CNAME" not in upper[1:]:
            return []  # SOA, NS, local data: not a policy on a name
        name = fields[0].lower()
        if name.endswith("."):
            name = name[:-1]
            if self.origin and name.endswith("." + self.origin):
                name = name[: -len(self.origin) - 1]
        name = name.removeprefix("*.")
        if name in ("@", "") or any(label.startswith("rpz-") for label in name.split(".")):
            return []  # the zone apex, or an IP / NS trigger rather than a name
        return [Entry(name)]


def observable(spec: FeedSpec, value: str) -> Observable:
    """The normalised observable of a value as the definition's ``type`` reads it (refanged)."""
    text = refang(value.strip())
    if spec.type == "auto":
        found = guess(text)
        if found is None:
            raise InvalidInput(f"cannot tell what kind of value {text[:200]!r} is", field="value")
        return found
    kind = spec.type
    if "/" in text and kind in ("ipv4", "ipv6"):
        kind = "cidr4" if kind == "ipv4" else "cidr6"
    return normalise(kind, text)


def pattern(found: Observable) -> str:
    """The STIX pattern comparing the value's path to the value (``\\`` and ``'`` escaped)."""
    path = PATTERN_PATHS[found.kind]
    if found.kind == "asn":
        return f"[{path} = {found.value}]"
    escaped = found.value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{path} = '{escaped}']"


def indicator(spec: FeedSpec, found: Observable, entry: Entry) -> dict[str, Any]:
    """The indicator of one entry, timestamps not yet settled (see :func:`settle`)."""
    identifier = uuid.uuid5(NAMESPACE, f"{spec.name}|{found.kind}|{found.value}")
    doc: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{identifier}",
        "pattern": pattern(found),
        "pattern_type": "stix",
        "labels": [spec.name],
    }
    confidence = entry.confidence if entry.confidence is not None else spec.confidence
    if confidence is not None:
        doc["confidence"] = confidence
    if entry.description:
        doc["description"] = entry.description
    if spec.tlp is not None:
        doc["object_marking_refs"] = [marking_id(parse_tlp(spec.tlp))]
    return doc


def _current(
    doc: dict[str, Any],
    existing: dict[str, Any],
    *,
    now: datetime,
    first_seen: datetime | None,
    lifetime: timedelta | None,
) -> bool:
    """Whether the stored version says what ``doc`` says and its validity needs no refresh."""
    extra = sum(1 for key in TIMES if key in existing)
    if len(existing) != len(doc) + extra or any(existing.get(k) != v for k, v in doc.items()):
        return False
    until = existing.get("valid_until")
    if lifetime is None:
        return until is None
    if first_seen is not None:
        return bool(until == stamp(first_seen + lifetime))
    left = _moment(until) - now if isinstance(until, str) else timedelta(0)
    return lifetime / 2 <= left <= lifetime


def settle(
    doc: dict[str, Any],
    existing: dict[str, Any] | None,
    *,
    now: datetime,
    first_seen: datetime | None,
    lifetime: timedelta | None,
) -> dict[str, Any]:
    """Give ``doc`` its timestamps: the stored ones when nothing changed, else a new version."""
    if existing is not None and existing.get("revoked"):
        return existing  # an analyst's revocation wins over the list
    base = first_seen or now
    if existing is not None and _current(
        doc, existing, now=now, first_seen=first_seen, lifetime=lifetime
    ):
        return {**doc, **{key: existing[key] for key in TIMES if key in existing}}
    if existing is None:
        created = valid_from = modified = base
    else:
        created, valid_from = _moment(existing["created"]), _moment(existing["valid_from"])
        modified = max(now, _moment(existing["modified"]) + timedelta(microseconds=1))
    settled = {
        **doc,
        "created": stamp(created),
        "modified": stamp(max(modified, created)),
        "valid_from": stamp(valid_from),
    }
    if lifetime is not None:
        until = base + lifetime
        settled["valid_until"] = stamp(until if until > valid_from else valid_from + lifetime)
    return settled


def _stored(database: Database, ids: list[str]) -> dict[str, dict[str, Any]]:
    with database.reader() as session:
        rows = session.execute(
            select(StixObject.id, StixObject.doc).where(
                StixObject.current.is_(True), StixObject.id.in_(ids)
            )
        )
        return {row.id: orjson.loads(row.doc) for row in rows}


def text_reader(
    database: Database,
    *,
    spec: FeedSpec,
    inputs: Iterable[Input],
    now: datetime,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Reader:
    """The indicators of CSV or plain-text inputs read as ``spec`` says."""
    lifetime = spec.lifetime_delta

    def parsed(reject: Callable[[Reject], None]) -> Iterator[tuple[str, int, Entry, Observable]]:
        for source in inputs:
            lines = LineReader(spec)
            try:
                with open_input(source, max_bytes=max_bytes) as stream:
                    for number, text in read_lines(stream, name=source.name):
                        where = f"{source.name} line {number}"
                        if text is None:
                            reason = f"longer than {MAX_LINE} bytes or not UTF-8"
                            reject(Reject(source.name, number, None, f"{where}: {reason}"))
                            continue
                        try:
                            for entry in lines.entries(text):
                                yield source.name, number, entry, observable(spec, entry.value)
                        except InvalidInput as exc:
                            reject(Reject(source.name, number, None, f"{where}: {exc.message}"))
            except InvalidInput as exc:
                reject(Reject(source.name, None, None, exc.message))

    def read(reject: Callable[[Reject], None]) -> Iterator[Item]:
        seen: set[str] = set()
        chunk: list[tuple[str, int, Entry, dict[str, Any]]] = []
        for name, number, entry, found in parsed(reject):
            doc = indicator(spec, found, entry)
            if doc["id"] in seen:
                continue  # listed twice: the first line wins
            seen.add(doc["id"])
            chunk.append((name, number, entry, doc))
            if len(chunk) >= CHUNK:
                yield from _settled(chunk)
                chunk = []
        yield from _settled(chunk)

    def _settled(chunk: list[tuple[str, int, Entry, dict[str, Any]]]) -> Iterator[Item]:
        if not chunk:
            return
        stored = _stored(database, [doc["id"] for _, _, _, doc in chunk])
        for name, number, entry, doc in chunk:
            existing = stored.get(doc["id"])
            first = entry.first_seen
            yield name, number, settle(doc, existing, now=now, first_seen=first, lifetime=lifetime)

    return read


def import_text(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    inputs: list[Input],
    definition: FeedSpec,
    source: str,
    warninglists: WarninglistMatcher | None = None,
    progress: Progress | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ImportReport:
    """Import CSV or plain-text lists read as ``definition`` says; the report counts lines."""
    if definition.format not in ("text", "csv", "hosts", "rpz"):
        raise InvalidInput(
            f"feed {definition.name}: format {definition.format} is not a text format",
            field="format",
        )
    reader = text_reader(
        database, spec=definition, inputs=inputs, now=clock.now(), max_bytes=max_bytes
    )
    return run_import(
        database,
        clock=clock,
        actor=actor,
        source=source,
        format=definition.format,
        reader=reader,
        warninglists=warninglists,
        progress=progress,
    )
