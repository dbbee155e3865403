"""Sync links: which partner collections this node pulls from and pushes to, and their state.

A link is one direction with one remote TAXII collection of a registered peer: ``pull``
stores what that collection holds as the peer's deliveries; ``push`` sends one of this
node's collections there, filtered by the sharing policy for the peer. Registering,
changing and removing links are audited (``sync.add``, ``sync.set``, ``sync.remove``);
running them is :mod:`watchkeeper.federation.sync`.

Credentials. A partner gives this node a token (or a user and password) for its server; the
node must present it, so it cannot be hashed like inbound tokens. It is kept in the link's
``auth`` column sealed with the node's key (:class:`~watchkeeper.security.SecretBox`,
AES-GCM under a key derived from the node's X25519 key in the data directory), bound to the
link's id, URL, scheme and user: a database dump does not reveal it, and a row edited to
point at another server cannot make the node send it there. Only the scheme and the user
name are ever shown; no log line, audit entry or listing carries the secret.

State. ``failures`` counts consecutive failed runs; after one, ``next_attempt_at`` is pushed
back exponentially (``sync_backoff_seconds`` doubling per failure, capped at
``sync_backoff_max_seconds``); a success resets it and schedules the next run after
``sync_interval_seconds``. Lag is how far behind a link is: the time since its last success,
and for a push the number of shareable objects not yet sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, literal, not_, select
from sqlalchemy.orm import Session

from watchkeeper.config import Settings
from watchkeeper.core import Clock
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.federation.collections import collection_query, find_collection, rights_of
from watchkeeper.federation.models import Collection, SyncLink
from watchkeeper.federation.policy import peer_audience
from watchkeeper.federation.receipts import peer_source
from watchkeeper.federation.sharing import get_sharing
from watchkeeper.federation.taxii_client import Credentials, check_collection_url
from watchkeeper.intel import ImportRun, Provenance, StixObject
from watchkeeper.security import SecretBox, get_peer, record_change

PULL = "pull"
PUSH = "push"
DIRECTIONS = (PULL, PUSH)
LAG_CAP = 10_000
"""Unsent objects counted at most for a push's lag (a count of millions is not needed to see
that a link is far behind, and costs a scan of the store)."""


@dataclass(frozen=True)
class SyncPolicy:
    """How links run: schedule, back-off, page sizes, timeouts and the run lease."""

    interval: timedelta = timedelta(minutes=5)
    backoff: timedelta = timedelta(minutes=1)
    backoff_max: timedelta = timedelta(hours=6)
    page_size: int = 1000
    max_pages: int = 100
    timeout: float = 60.0
    lease: timedelta = timedelta(minutes=10)

    @classmethod
    def from_settings(cls, settings: Settings) -> SyncPolicy:
        """The policy the node's settings give."""
        return cls(
            interval=timedelta(seconds=settings.sync_interval_seconds),
            backoff=timedelta(seconds=settings.sync_backoff_seconds),
            backoff_max=timedelta(seconds=settings.sync_backoff_max_seconds),
            page_size=settings.sync_page_size,
            max_pages=settings.sync_max_pages,
            timeout=settings.sync_timeout_seconds,
            # A run renews its lease after every page, so the lease only has to outlast the
            # slowest page; a process killed outright frees the link when it runs out.
            lease=timedelta(seconds=max(600.0, 4 * settings.sync_timeout_seconds)),
        )

    def retry_delay(self, failures: int) -> timedelta:
        """The wait after ``failures`` consecutive failures (1 -> backoff, doubling, capped)."""
        exponent = min(max(failures - 1, 0), 30)
        delay: timedelta = self.backoff * (2**exponent)
        return min(delay, self.backoff_max)


def _context(link: SyncLink, scheme: str, user: str | None) -> str:
    """What a sealed secret is bound to: the link, where it goes, and as whom."""
    return f"sync:{link.id}:{link.collection_url}:{scheme}:{user or ''}"


def seal_auth(link: SyncLink, credentials: Credentials | None, *, box: SecretBox) -> None:
    """Store ``credentials`` in ``link`` sealed (None: no authentication)."""
    if credentials is None:
        link.auth = None
        return
    context = _context(link, credentials.scheme, credentials.user)
    link.auth = {
        "scheme": credentials.scheme,
        "user": credentials.user,
        "secret": box.seal(credentials.secret, context=context),
    }


def link_credentials(link: SyncLink, *, box: SecretBox) -> Credentials | None:
    """The credentials of ``link``, unsealed (``IntegrityError`` if they do not open)."""
    auth = link.auth
    if not auth:
        return None
    scheme, user = str(auth.get("scheme")), auth.get("user")
    secret = box.open(str(auth.get("secret") or ""), context=_context(link, scheme, user))
    return Credentials(scheme=scheme, secret=secret, user=user)


def auth_document(link: SyncLink) -> dict[str, Any] | None:
    """How the link authenticates, without the secret."""
    if not link.auth:
        return None
    return {"scheme": link.auth.get("scheme"), "user": link.auth.get("user")}


def _check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise InvalidInput(
            f"direction: expected pull or push, got {direction!r}", field="direction"
        )
    return direction


def _push_collection(session: Session, *, peer: str, collection: str | None) -> Collection:
    if not collection:
        raise InvalidInput(
            "collection: a push sends one of this node's collections; give --collection",
            field="collection",
        )
    found = find_collection(session, collection)
    if not rights_of(session, peer=peer, collection_id=found.id)[0]:
        raise InvalidInput(
            f"collection: peer {peer} may not read collection {found.alias or found.id}, so "
            f"nothing of it may be pushed to it; first: watchkeeper peer set {peer} "
            f"--read {found.alias or found.id}",
            field="collection",
            collection=found.id,
        )
    return found


def add_link(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    peer: str,
    direction: str,
    url: str,
    collection: str | None = None,
    credentials: Credentials | None = None,
    box: SecretBox | None = None,
    enabled: bool = True,
) -> SyncLink:
    """Register a link with a collection of ``peer`` (pull, or push of local ``collection``).

    A push needs the peer's read right on the local collection: pushing is the peer reading
    it, under the same policy. The first run is due at once. ``Conflict`` if the same peer,
    direction and URL are registered already.
    """
    code = get_peer(session, peer).code
    kind = _check_direction(direction)
    target = check_collection_url(url)
    local: Collection | None = None
    if kind == PUSH:
        local = _push_collection(session, peer=code, collection=collection)
    elif collection:
        raise InvalidInput("collection: only a push sends a local collection", field="collection")
    taken = session.scalars(
        select(SyncLink.id).where(
            SyncLink.peer == code, SyncLink.direction == kind, SyncLink.collection_url == target
        )
    ).first()
    if taken is not None:
        raise Conflict(f"peer {code} already has {kind} link {taken} with {target}", link=taken)
    link = SyncLink(
        id=str(uuid.uuid4()),
        peer=code,
        direction=kind,
        collection_url=target,
        local_collection=local.id if local is not None else None,
        cursor={},
        enabled=enabled,
        failures=0,
        last_error=None,
        last_attempt_at=None,
        last_success_at=None,
        next_attempt_at=clock.now(),
        created_at=clock.now(),
        auth=None,
        last_report=None,
        runner=None,
        running_until=None,
    )
    if credentials is not None:
        if box is None:
            raise InvalidInput("credentials need the node's key to be kept", field="token")
        seal_auth(link, credentials, box=box)
    session.add(link)
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="sync.add",
        subject=f"sync:{link.id}",
        detail={
            "peer": code,
            "direction": kind,
            "url": target,
            "collection": link.local_collection,
            "auth": auth_document(link),
            "enabled": enabled,
        },
    )
    return link


def get_link(session: Session, key: str) -> SyncLink:
    """The link whose id is ``key`` or starts with it (8 characters suffice), or ``NotFound``."""
    text = key.strip().lower()
    found = session.get(SyncLink, text)
    if found is not None:
        return found
    if len(text) >= 4:
        matches = list(session.scalars(select(SyncLink).where(SyncLink.id.startswith(text))))
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidInput(
                f"link: {key!r} starts several link ids; give more of it", field="link"
            )
    raise NotFound(f"no sync link {key!r}; see: watchkeeper sync status", link=key)


def list_links(
    session: Session, *, peer: str | None = None, direction: str | None = None
) -> list[SyncLink]:
    """Links by peer, direction and URL; of one peer or direction if given."""
    query = select(SyncLink).order_by(SyncLink.peer, SyncLink.direction, SyncLink.collection_url)
    if peer is not None:
        query = query.where(SyncLink.peer == get_peer(session, peer).code)
    if direction is not None:
        query = query.where(SyncLink.direction == _check_direction(direction))
    return list(session.scalars(query))


def set_link(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    link: str,
    enabled: bool | None = None,
    credentials: Credentials | None = None,
    clear_auth: bool = False,
    reset: bool = False,
    box: SecretBox | None = None,
) -> SyncLink:
    """Change a link: enable or disable it, replace or clear its credentials, or ``reset``
    its cursor (a pull then fetches the whole collection again, a push sends everything
    shareable again: after the peer's sharing settings widened, for instance).

    Enabling, new credentials or a reset make the link due at once and forget its failures.
    One audit entry (``sync.set``) names what changed, never the secret.
    """
    row = get_link(session, link)
    if credentials is not None and clear_auth:
        raise InvalidInput("auth: give new credentials or clear them, not both", field="auth")
    changes: dict[str, Any] = {}
    if enabled is not None and enabled != row.enabled:
        row.enabled = enabled
        changes["enabled"] = enabled
    if credentials is not None:
        if box is None:
            raise InvalidInput("credentials need the node's key to be kept", field="token")
        seal_auth(row, credentials, box=box)
        changes["auth"] = auth_document(row)
    elif clear_auth and row.auth:
        row.auth = None
        changes["auth"] = None
    if reset:
        changes["cursor"] = {"from": row.cursor, "to": {}}
        row.cursor = {}
    if not changes:
        return row
    if row.enabled and (changes.keys() & {"enabled", "auth", "cursor"}):
        row.failures, row.last_error, row.next_attempt_at = 0, None, clock.now()
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="sync.set",
        subject=f"sync:{row.id}",
        detail={"peer": row.peer, "direction": row.direction, **changes},
    )
    return row


def remove_link(session: Session, *, clock: Clock, actor: str, link: str) -> SyncLink:
    """Forget a link (what it pulled stays, with its receipts); audited as ``sync.remove``."""
    row = get_link(session, link)
    session.delete(row)
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="sync.remove",
        subject=f"sync:{row.id}",
        detail={
            "peer": row.peer,
            "direction": row.direction,
            "url": row.collection_url,
            "cursor": row.cursor,
        },
    )
    return row


# --- state ------------------------------------------------------------------------------------


def not_delivered_by(peer: str) -> ColumnElement[bool]:
    """SQL over ``intel_objects``: versions ``peer`` did not deliver itself (it has those, so
    a push leaves them out)."""
    p, i = Provenance, ImportRun
    return not_(
        exists(
            select(literal(1))
            .select_from(p)
            .join(i, i.id == p.import_id)
            .where(p.object_seq == StixObject.seq, i.source == peer_source(peer))
        )
    )


def unsent(session: Session, link: SyncLink, *, cap: int = LAG_CAP) -> int | None:
    """Shareable objects of a push link's collection not yet sent (at most ``cap`` + 1 are
    counted); None for a pull, or when the local collection is gone."""
    if link.direction != PUSH or link.local_collection is None:
        return None
    collection = session.get(Collection, link.local_collection)
    if collection is None:
        return None
    audience = peer_audience(get_sharing(session, link.peer))
    after = link.cursor.get("seq")
    query = collection_query(
        collection,
        audience,
        after_seq=after if isinstance(after, int) else None,
        limit=cap + 1,
        current_only=True,
        where=[not_delivered_by(link.peer)],
    )
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def link_state(link: SyncLink, *, now: datetime) -> str:
    """One word: disabled, running, new, failing, or ok."""
    if not link.enabled:
        return "disabled"
    if link.runner is not None and link.running_until is not None and link.running_until > now:
        return "running"
    if link.failures:
        return "failing"
    if link.last_success_at is None:
        return "new"
    return "ok"


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def link_document(
    session: Session, link: SyncLink, *, now: datetime, lag: bool = True
) -> dict[str, Any]:
    """A link as JSON: what it exchanges, its state and its lag (never its secret)."""
    collection = session.get(Collection, link.local_collection) if link.local_collection else None
    since = (now - link.last_success_at).total_seconds() if link.last_success_at else None
    objects = unsent(session, link) if lag else None
    return {
        "id": link.id,
        "peer": link.peer,
        "direction": link.direction,
        "url": link.collection_url,
        "collection": (collection.alias or collection.id) if collection else link.local_collection,
        "enabled": link.enabled,
        "state": link_state(link, now=now),
        "auth": auth_document(link),
        "cursor": link.cursor,
        "failures": link.failures,
        "last_error": link.last_error,
        "last_attempt_at": _time(link.last_attempt_at),
        "last_success_at": _time(link.last_success_at),
        "next_attempt_at": _time(link.next_attempt_at),
        "lag": {
            "seconds": round(since) if since is not None else None,
            "objects": min(objects, LAG_CAP) if objects is not None else None,
            "objects_capped": objects is not None and objects > LAG_CAP,
        },
        "last_report": link.last_report,
        "created_at": link.created_at.isoformat(),
    }
