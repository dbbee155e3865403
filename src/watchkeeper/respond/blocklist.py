"""The node's blocklist and its exports: an RPZ zone for resolvers, plain lists, iptables rules.

Playbooks add values (``block`` action); network teams pull the exports. Values are stored
normalised, once per kind: adding a value again only extends its expiry and keeps the first
reason. Expired entries stay in the table (history) but leave the exports.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from watchkeeper.core import guess, refang
from watchkeeper.errors import InvalidInput
from watchkeeper.respond.run_models import BLOCK_KINDS, BlockEntry

EXPORT_FORMATS = ("rpz", "plain", "iptables")
RPZ_ZONE = "rpz.watchkeeper."


def block_values(
    session: Session,
    *,
    now: datetime,
    values: Sequence[str],
    reason: str,
    run_id: str | None = None,
    expires_seconds: float | None = None,
) -> list[dict[str, Any]]:
    """Add ``values`` (IPs, networks, domains, URLs, e-mail addresses) to the blocklist."""
    expires_at = now + timedelta(seconds=expires_seconds) if expires_seconds else None
    added = []
    for raw in values:
        observable = guess(refang(str(raw)))
        if observable is None or observable.kind not in BLOCK_KINDS:
            raise InvalidInput(
                f"values: cannot block {str(raw)[:200]!r} (expected one of: "
                f"{', '.join(BLOCK_KINDS)})",
                field="values",
            )
        kind, value = observable.kind, observable.value
        entry = session.scalars(
            select(BlockEntry).where(BlockEntry.kind == kind, BlockEntry.value == value)
        ).first()
        if entry is None:
            entry = BlockEntry(
                kind=kind, value=value, reason=reason, run_id=run_id, added_at=now,
                expires_at=expires_at,
            )  # fmt: skip
            session.add(entry)
        elif entry.expires_at is not None:
            entry.expires_at = None if expires_at is None else max(entry.expires_at, expires_at)
        added.append({"kind": kind, "value": value, "expires_at": _iso(entry.expires_at)})
    session.flush()
    return added


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def list_blocks(session: Session, *, now: datetime, active: bool = True) -> list[dict[str, Any]]:
    """Entries (only unexpired ones when ``active``), in the order they were added."""
    query = select(BlockEntry).order_by(BlockEntry.id)
    if active:
        query = query.where(or_(BlockEntry.expires_at.is_(None), BlockEntry.expires_at > now))
    return [
        {
            "kind": e.kind, "value": e.value, "reason": e.reason, "run_id": e.run_id,
            "added_at": e.added_at.isoformat(), "expires_at": _iso(e.expires_at),
        }
        for e in session.scalars(query)
    ]  # fmt: skip


def _host_of(entry: dict[str, Any]) -> str | None:
    if entry["kind"] == "domain":
        return str(entry["value"])
    if entry["kind"] == "url":
        host = str(entry["value"]).split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
        host = host.rsplit(":", 1)[0] if not host.startswith("[") else host
        found = guess(host)
        return found.value if found is not None and found.kind == "domain" else None
    return None


def export_blocklist(entries: Sequence[dict[str, Any]], *, format: str, now: datetime) -> str:
    """The entries as an RPZ zone, a plain list or iptables commands."""
    if format not in EXPORT_FORMATS:
        raise InvalidInput(
            f"format: unknown {format!r}; expected one of {', '.join(EXPORT_FORMATS)}",
            field="format",
        )
    if format == "plain":
        return "".join(f"{e['value']}\n" for e in entries)
    if format == "iptables":
        lines = []
        for e in entries:
            if e["kind"] in ("ipv4", "cidr4"):
                lines.append(f"iptables -A WATCHKEEPER-BLOCK -d {e['value']} -j DROP")
            elif e["kind"] in ("ipv6", "cidr6"):
                lines.append(f"ip6tables -A WATCHKEEPER-BLOCK -d {e['value']} -j DROP")
        return "".join(line + "\n" for line in lines)
    return _rpz(entries, now=now)


def _rpz(entries: Sequence[dict[str, Any]], *, now: datetime) -> str:
    # The serial is the export time (seconds since the epoch fit the 32-bit field until 2106),
    # so each export is newer than the last one a resolver transferred.
    serial = int(now.timestamp()) & 0xFFFFFFFF
    lines = [
        "$TTL 300",
        f"@ IN SOA localhost. hostmaster.localhost. {serial} 3600 600 604800 300",
        "@ IN NS localhost.",
    ]
    seen: set[str] = set()
    for entry in entries:
        if entry["kind"] in ("ipv4", "cidr4"):
            address, _, bits = str(entry["value"]).partition("/")
            # An rpz-ip trigger: prefix length, then the octets in reverse order.
            lines.append(f"{bits or 32}.{'.'.join(reversed(address.split('.')))}.rpz-ip CNAME .")
            continue
        host = _host_of(entry)
        if host is None or host in seen:
            continue
        seen.add(host)
        # CNAME . answers NXDOMAIN; the wildcard covers every name below the blocked one.
        lines.append(f"{host} CNAME .")
        lines.append(f"*.{host} CNAME .")
    return "".join(line + "\n" for line in lines)
