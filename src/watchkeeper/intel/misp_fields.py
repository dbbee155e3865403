"""Reading MISP's loosely typed fields: timestamps, dates, tags, galaxies, distribution.

MISP JSON is written by many tools and MISP versions: a timestamp is a number or a string of
digits, tags come as a ``Tag`` list or wrapped in ``EventTag``, booleans as ``true`` or
``"1"``. These readers accept every form MISP itself writes, refuse the rest with the field
named, and turn MISP's distribution levels into the TLP 2.0 level they imply.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from watchkeeper.core.tlp import Tlp
from watchkeeper.errors import InvalidInput

# The strictest TLP 2.0 level each MISP distribution level allows, used when no TLP tag says
# it: 0 "your organisation only" is TLP:AMBER+STRICT's own definition; 4 (a sharing group)
# may not go beyond the group either; 1 "this community only" forbids onward sharing, so
# AMBER; 2 and 3 reach other communities but are not public, so GREEN (never CLEAR).
DISTRIBUTION_TLP = {
    0: Tlp.AMBER_STRICT,
    1: Tlp.AMBER,
    2: Tlp.GREEN,
    3: Tlp.GREEN,
    4: Tlp.AMBER_STRICT,
}
INHERIT = 5
TRUE = (True, 1, "1", "true", "True")


def epoch(value: Any, *, field: str) -> int:
    """A MISP timestamp (seconds since 1970, as a number or a string of digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise InvalidInput(f"{field}: expected a UNIX timestamp, got {value!r}"[:200], field=field)


def stamp(seconds: int) -> str:
    """A STIX timestamp of a MISP one."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def seen(value: Any) -> str | None:
    """A MISP first_seen/last_seen (ISO 8601) as a STIX timestamp; None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_distribution(value: Any, *, field: str) -> int | None:
    """A MISP distribution level 0-5 (None if absent); anything else is refused."""
    if value is None or value == "":
        return None
    if str(value) not in ("0", "1", "2", "3", "4", "5"):
        raise InvalidInput(
            f"{field}: {value!r} is not a MISP distribution (0-5)"[:200], field=field
        )
    return int(value)


def tag_names(container: dict[str, Any]) -> list[str]:
    """Tag names of an event or attribute (a ``Tag`` list, or ``EventTag``/``AttributeTag``)."""
    names: list[str] = []
    for key in ("Tag", "EventTag", "AttributeTag"):
        for item in container.get(key) or ():
            tag = item.get("Tag", item) if isinstance(item, dict) else None
            name = tag.get("name") if isinstance(tag, dict) else None
            if isinstance(name, str) and name.strip():
                names.append(name.strip())
    return names


def galaxy_labels(container: dict[str, Any]) -> list[str]:
    """``misp-galaxy:<type>="<cluster>"`` for each galaxy cluster attached to ``container``."""
    labels: list[str] = []
    for galaxy in container.get("Galaxy") or ():
        if not isinstance(galaxy, dict):
            continue
        for cluster in galaxy.get("GalaxyCluster") or ():
            if not isinstance(cluster, dict):
                continue
            tag = cluster.get("tag_name")
            if isinstance(tag, str) and tag:
                labels.append(tag)
            elif isinstance(cluster.get("value"), str):
                kind = cluster.get("type") or galaxy.get("type") or "cluster"
                labels.append(f'misp-galaxy:{kind}="{cluster["value"]}"')
    return labels
