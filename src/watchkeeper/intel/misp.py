"""One MISP event as STIX 2.1 objects: a report, indicators, observables, groupings, notes.

MISP events arrive from partners and feeds in MISP's own JSON; the store holds STIX. This maps
an event the way an analyst would read it (docs/misp-mapping.md has the table):

- the event becomes a ``report`` (name = info, ``object_refs`` = everything below);
- an attribute with ``to_ids`` becomes an ``indicator`` whose pattern is built from its type
  and normalised value (``misp_attributes``); without ``to_ids`` it becomes cyber-observables;
  a type we do not map becomes a ``note`` keeping type, category and value, so nothing is
  silently dropped; a value that is not what its type says is rejected with the reason;
- a MISP object becomes a ``grouping`` of its attributes' objects, named after the object;
  attributes of types we do not map stay on the grouping (``x_misp_attributes``);
- tags and galaxy clusters become ``labels``; TLP tags become TLP 2.0 ``object_marking_refs``,
  and without a TLP tag the strictest level the MISP distribution implies is used.

Everything is deterministic: ids are uuid5 of the MISP uuids, ``modified`` comes from MISP
timestamps, so importing the same event again changes nothing. Every object's ``modified``
covers the event's timestamp as well as its own, because the event's TLP and tags are
inherited: a re-tagged event must give new versions, never a clash with the stored ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from watchkeeper.core.tlp import Tlp, marking_id, tlp_from_misp_tags
from watchkeeper.errors import InvalidInput
from watchkeeper.intel.misp_attributes import (
    NAMESPACE,
    NON_STIX_PATTERNS,
    observables,
    pattern,
    read_shape,
    stix_id,
)
from watchkeeper.intel.misp_fields import (
    DISTRIBUTION_TLP,
    INHERIT,
    TRUE,
    epoch,
    galaxy_labels,
    read_distribution,
    seen,
    stamp,
    tag_names,
)


@dataclass(frozen=True)
class Problem:
    """An attribute or object of an event that did not map, and why."""

    uuid: str | None
    reason: str


@dataclass
class Mapped:
    """The STIX objects of one event (report last) and what could not be mapped."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    newest: int = 0  # the latest timestamp of anything mapped: the report's ``modified``


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass
class _Event:
    """What every object of one event inherits."""

    uuid: str
    report: str
    created: int
    timestamp: int
    tags: list[str]
    labels: list[str]
    level: Tlp | None
    distribution: int | None

    def level_for(self, tags: list[str], distribution: int | None) -> Tlp | None:
        """Tags' strictest TLP (the event's and these); else the distributions' strictest."""
        level = tlp_from_misp_tags([*self.tags, *tags])
        if level is not None:
            return level
        implied = [
            DISTRIBUTION_TLP[d]
            for d in (self.distribution, distribution)
            if d is not None and d != INHERIT
        ]
        return max(implied) if implied else None

    def common(self, *, modified: int, level: Tlp | None, labels: list[str]) -> dict[str, Any]:
        """Versioning, labels and marking of an object of this event."""
        common: dict[str, Any] = {
            "spec_version": "2.1",
            "created": stamp(min(self.created, modified)),
            "modified": stamp(modified),
        }
        if labels:
            common["labels"] = labels
        if level is not None:
            common["object_marking_refs"] = [marking_id(level)]
        return common


def _uuid(value: Any, *, fallback: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(uuid.uuid5(NAMESPACE, fallback))


@dataclass
class _Attribute:
    """One attribute's STIX objects (the main one last), level and timestamp."""

    objects: list[dict[str, Any]]
    level: Tlp | None
    timestamp: int
    unmapped: dict[str, Any] | None = None


def _attribute(event: _Event, attr: dict[str, Any], *, position: str) -> _Attribute | None:
    """Map one attribute; None when it is deleted and there is nothing to revoke."""
    misp_type, value = attr.get("type"), attr.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(misp_type, str) or not isinstance(value, str):
        raise InvalidInput(f"attribute {position}: type and value must be strings")
    deleted, to_ids = attr.get("deleted") in TRUE, attr.get("to_ids") in TRUE
    if deleted and not to_ids:
        return None  # an observable has no version to revoke; a deleted one is left out
    key = _uuid(attr.get("uuid"), fallback=f"{event.uuid}|{position}|{misp_type}|{value}")
    modified = max(
        epoch(attr.get("timestamp", event.timestamp), field="timestamp"), event.timestamp
    )
    tags = tag_names(attr)
    distribution = read_distribution(attr.get("distribution"), field="distribution")
    level = event.level_for(tags, distribution)
    if distribution is None or distribution == INHERIT:
        distribution = event.distribution
    labels = _unique(
        [t for t in tags if not t.lower().startswith("tlp:")] + galaxy_labels(attr) + event.labels
    )
    category = _text(attr.get("category"))
    comment: str = attr["comment"] if isinstance(attr.get("comment"), str) else ""
    misp: dict[str, Any] = {"x_misp_uuid": key, "x_misp_type": misp_type}
    if category:
        misp["x_misp_category"] = category
    if distribution is not None:
        misp["x_misp_distribution"] = distribution
    if isinstance(attr.get("object_relation"), str):
        misp["x_misp_object_relation"] = attr["object_relation"]
    common = event.common(modified=modified, level=level, labels=labels)
    try:
        shape = None if misp_type in NON_STIX_PATTERNS else read_shape(misp_type, value)
    except InvalidInput:
        if deleted:
            return None  # a bad value that is gone anyway is not worth a reject
        raise
    if to_ids and (shape is not None or misp_type in NON_STIX_PATTERNS):
        text = pattern(shape) if shape is not None else value
        indicator = {"id": stix_id("indicator", key), **common, **misp}
        _indicator(indicator, attr, shape=shape is not None, text=text, comment=comment)
        if deleted:
            indicator["revoked"] = True
        return _Attribute([indicator], level, modified)
    if deleted:
        return None
    if not to_ids and shape is not None:
        extra = {k: v for k, v in common.items() if k == "object_marking_refs"} | misp
        if comment:
            extra["x_misp_comment"] = comment
        if labels:
            extra["x_misp_tags"] = labels
        return _Attribute(observables(shape, key=key, extra=extra), level, modified)
    note = {
        "type": "note",
        "id": stix_id("note", key),
        **common,
        "abstract": f"MISP {misp_type} attribute" + (f" ({category})" if category else ""),
        "content": value if not comment else f"{value}\n\n{comment}",
        "object_refs": [event.report],
        **misp,
    }
    unmapped = {"type": misp_type, "value": value} | ({"category": category} if category else {})
    return _Attribute([note], level, modified, unmapped=unmapped | misp)


def _indicator(
    indicator: dict[str, Any], attr: dict[str, Any], *, shape: bool, text: str, comment: str
) -> None:
    """Complete an indicator: pattern (STIX, or the rule's own language), validity, comment."""
    misp_type = attr["type"]
    indicator["type"] = "indicator"
    indicator["name"] = f"{misp_type}: {attr['value']}"[:250]
    indicator["indicator_types"] = ["malicious-activity"]
    indicator["pattern"] = text
    indicator["pattern_type"] = "stix" if shape else misp_type
    if shape:
        indicator["pattern_version"] = "2.1"
    valid_from = seen(attr.get("first_seen")) or indicator["created"]
    indicator["valid_from"] = valid_from
    until = seen(attr.get("last_seen"))
    if until is not None and until > valid_from:
        indicator["valid_until"] = until
    if comment:
        indicator["description"] = comment


def _object(event: _Event, obj: dict[str, Any], *, position: str, mapped: Mapped) -> None:
    """Map one MISP object: its attributes, then a grouping of them."""
    key = _uuid(obj.get("uuid"), fallback=f"{event.uuid}|{position}")
    name = obj.get("name") if isinstance(obj.get("name"), str) else "object"
    modified = max(epoch(obj.get("timestamp", event.timestamp), field="timestamp"), event.timestamp)
    members: list[str] = []
    levels: list[Tlp] = []
    kept: list[dict[str, Any]] = []
    distribution = read_distribution(obj.get("distribution"), field="distribution")
    own_level = event.level_for([], distribution)
    for index, attr in enumerate(obj.get("Attribute") or ()):
        where = f"{position}.{index}"
        try:
            if not isinstance(attr, dict):
                raise InvalidInput(f"attribute {where}: not a JSON object")
            if distribution is not None and attr.get("distribution") in (None, "5", 5):
                attr = {**attr, "distribution": distribution}
            result = _attribute(event, attr, position=where)
        except InvalidInput as exc:
            mapped.problems.append(Problem(_attr_uuid(attr), f"object {name}: {exc.message}"))
            continue
        if result is None:
            continue
        modified = max(modified, result.timestamp)
        if result.level is not None:
            levels.append(result.level)
        if result.unmapped is not None:
            kept.append(result.unmapped)
            continue
        mapped.objects.extend(result.objects)
        members.append(result.objects[-1]["id"])
    if own_level is not None:
        levels.append(own_level)
    grouping: dict[str, Any] = {
        "type": "grouping",
        "id": stix_id("grouping", key),
        **event.common(modified=modified, level=max(levels) if levels else None, labels=[]),
        "name": name,
        "context": "unspecified",
        "object_refs": members or [event.report],
        "x_misp_uuid": key,
    }
    mapped.newest = max(mapped.newest, modified)
    if isinstance(obj.get("meta-category"), str):
        grouping["x_misp_meta_category"] = obj["meta-category"]
    if isinstance(obj.get("comment"), str) and obj["comment"]:
        grouping["description"] = obj["comment"]
    if kept:
        grouping["x_misp_attributes"] = kept
    references = [
        {"referenced_uuid": r["referenced_uuid"], "relationship_type": r.get("relationship_type")}
        for r in obj.get("ObjectReference") or ()
        if isinstance(r, dict) and isinstance(r.get("referenced_uuid"), str)
    ]
    if references:
        grouping["x_misp_references"] = references
    mapped.objects.append(grouping)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _attr_uuid(attr: Any) -> str | None:
    value = attr.get("uuid") if isinstance(attr, dict) else None
    return value if isinstance(value, str) else None


def map_event(event: Any) -> Mapped:
    """The STIX objects of one MISP event (the ``{"Event": ...}`` wrapper removed).

    ``InvalidInput`` when the event as a whole cannot be mapped (no uuid or timestamp, an
    unknown TLP tag, nothing in it); attributes and objects that fail are ``problems``.
    """
    if not isinstance(event, dict):
        raise InvalidInput("an event must be a JSON object")
    try:
        event_uuid = str(uuid.UUID(str(event.get("uuid"))))
    except ValueError:
        raise InvalidInput("uuid: missing or not a UUID", field="uuid") from None
    day = None
    if isinstance(event.get("date"), str):
        try:
            day = date.fromisoformat(event["date"][:10])
        except ValueError:
            raise InvalidInput(f"date: {event['date']!r} is not YYYY-MM-DD", field="date") from None
    if "timestamp" in event or day is None:
        timestamp = epoch(event.get("timestamp"), field="timestamp")
    else:
        timestamp = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    created = (
        int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) if day else timestamp
    )
    tags = tag_names(event)
    distribution = read_distribution(event.get("distribution"), field="distribution")
    context = _Event(
        uuid=event_uuid,
        report=stix_id("report", event_uuid),
        created=created,
        timestamp=timestamp,
        tags=tags,
        labels=_unique(
            [t for t in tags if not t.lower().startswith("tlp:")] + galaxy_labels(event)
        ),
        level=None,
        distribution=distribution,
    )
    context.level = context.level_for([], None)  # also refuses an unknown tlp: tag
    mapped = Mapped()
    for index, attr in enumerate(event.get("Attribute") or ()):
        try:
            if not isinstance(attr, dict):
                raise InvalidInput(f"attribute {index}: not a JSON object")
            result = _attribute(context, attr, position=str(index))
        except InvalidInput as exc:
            mapped.problems.append(Problem(_attr_uuid(attr), exc.message))
            continue
        if result is not None:
            mapped.objects.extend(result.objects)
            mapped.newest = max(mapped.newest, result.timestamp)
    for index, obj in enumerate(event.get("Object") or ()):
        if not isinstance(obj, dict):
            mapped.problems.append(Problem(None, f"object {index}: not a JSON object"))
        elif obj.get("deleted") not in TRUE:
            try:
                _object(context, obj, position=f"object {index}", mapped=mapped)
            except InvalidInput as exc:
                mapped.problems.append(Problem(_attr_uuid(obj), f"object {index}: {exc.message}"))
    if not mapped.objects:
        raise InvalidInput("the event has no attribute or object to import")
    mapped.objects.append(_report(context, event, mapped))
    return mapped


def _report(context: _Event, event: dict[str, Any], mapped: Mapped) -> dict[str, Any]:
    published_at = event.get("publish_timestamp")
    published = event.get("published") in TRUE
    published_ts = epoch(published_at, field="publish_timestamp") if published_at else 0
    newest = max(context.timestamp, published_ts, mapped.newest)
    report: dict[str, Any] = {
        "type": "report",
        "id": context.report,
        **context.common(modified=newest, level=context.level, labels=context.labels),
        "name": _text(event.get("info")) or f"MISP event {context.uuid}",
        "report_types": ["threat-report"],
        "published": stamp(published_ts if published and published_ts else context.created),
        "object_refs": _unique(m["id"] for m in mapped.objects),
        "x_misp_uuid": context.uuid,
        "x_misp_published": published,
    }
    for name in ("threat_level_id", "analysis", "date"):
        if isinstance(event.get(name), str | int):
            report[f"x_misp_{name}"] = str(event[name])
    if context.distribution is not None:
        report["x_misp_distribution"] = context.distribution
    orgc = event.get("Orgc")
    if isinstance(orgc, dict) and isinstance(orgc.get("name"), str):
        report["x_misp_orgc"] = orgc["name"]
    return report
