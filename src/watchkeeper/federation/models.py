"""Tables of federation: what each peer may receive, TAXII collections, and peer deliveries.

``federation_sharing`` and ``federation_rights`` belong to a registered peer and go
with it (``ON DELETE CASCADE``). ``federation_receipts`` does not: the scope a delivery arrived
with keeps binding its objects after the sender is removed from the registry, so its ``peer``
is a plain code, not a foreign key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.intel import ImportRun
from watchkeeper.security import Peer
from watchkeeper.store import Base, JSONValue, UTCDateTime


class SharingSettings(Base):
    """What one peer may receive from this node (see :mod:`watchkeeper.federation.policy`).

    ``community`` is the sharing community the peer belongs to (national, regional or
    international); ``max_tlp`` the most restrictive TLP level it may receive (never RED);
    ``need_to_know`` whether it may receive TLP:AMBER (TLP 2.0: "on a need-to-know basis");
    ``identity`` the STIX identity id of its organisation, which makes it the owner of the
    objects it created (TLP:AMBER+STRICT); ``reshare`` records that this peer, as a sender,
    allows what it sends us to be re-shared beyond the scope it arrives with.
    """

    __tablename__ = "federation_sharing"

    peer: Mapped[str] = mapped_column(ForeignKey(Peer.code, ondelete="CASCADE"), primary_key=True)
    community: Mapped[str] = mapped_column(String(20))
    max_tlp: Mapped[str] = mapped_column(String(20))
    need_to_know: Mapped[bool] = mapped_column(Boolean)
    identity: Mapped[str | None] = mapped_column(String(300))
    reshare: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Collection(Base):
    """A TAXII collection: a named, filtered view of the store in one API root (a community).

    ``filters`` is validated JSON (``types``, ``max_tlp``, ``sources``, ``labels``) rather than
    columns, so later filters need no migration; ``collections.collection_filters`` reads it.
    """

    __tablename__ = "federation_collections"
    __table_args__ = (UniqueConstraint("community", "alias"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    community: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    alias: Mapped[str | None] = mapped_column(String(100))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CollectionRight(Base):
    """Whether one peer may read and/or write one collection (no row: neither)."""

    __tablename__ = "federation_rights"

    collection_id: Mapped[str] = mapped_column(
        ForeignKey(Collection.id, ondelete="CASCADE"), primary_key=True
    )
    peer: Mapped[str] = mapped_column(
        ForeignKey(Peer.code, ondelete="CASCADE"), primary_key=True, index=True
    )
    can_read: Mapped[bool] = mapped_column(Boolean)
    can_write: Mapped[bool] = mapped_column(Boolean)


class Receipt(Base):
    """An import that was a delivery from a peer: who sent it, in which scope, on what terms.

    ``scope`` is the community the data arrived in (the API root it was posted to or pulled
    from); ``reshare`` is the sender's permission to share it beyond that scope. The objects
    of the import are those of its ``intel_provenance`` rows.
    """

    __tablename__ = "federation_receipts"

    import_id: Mapped[str] = mapped_column(
        ForeignKey(ImportRun.id, ondelete="CASCADE"), primary_key=True
    )
    peer: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(20))
    reshare: Mapped[bool] = mapped_column(Boolean)


class TaxiiStatus(Base):
    """The status resource of one TAXII add-objects request (POST to a collection).

    The request is answered 202 at once with this row's id; the objects are stored by a
    job that fills the counts and the per-object details (``{id, version, message}``)
    and sets ``status`` from ``pending`` to ``complete``.
    """

    __tablename__ = "federation_taxii_status"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    community: Mapped[str] = mapped_column(String(20))
    collection_id: Mapped[str] = mapped_column(String(36))
    requester: Mapped[str] = mapped_column(String(200))  # the account name that posted
    import_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(10))
    request_timestamp: Mapped[str] = mapped_column(String(32))
    total_count: Mapped[int] = mapped_column(Integer)
    success_count: Mapped[int] = mapped_column(Integer)
    failure_count: Mapped[int] = mapped_column(Integer)
    pending_count: Mapped[int] = mapped_column(Integer)
    successes: Mapped[list[Any]] = mapped_column(JSONValue)
    failures: Mapped[list[Any]] = mapped_column(JSONValue)
    pendings: Mapped[list[Any]] = mapped_column(JSONValue)


class SyncLink(Base):
    """One exchange with a partner: pulling from, or pushing to, one of its collections.

    ``cursor`` is where the exchange resumes after a restart or an outage: for a pull, the
    last ``date_added`` (and TAXII ``next``) received; for a push, the last ``seq`` of this
    node's store sent. Attempts, failures and back-off are kept so the state can be shown.
    ``auth`` is how this node authenticates to the partner (scheme, user name, and the secret
    sealed with the node's key, see :mod:`watchkeeper.federation.sync_links`); ``runner`` and
    ``running_until`` are the lease of the process running the link, so that two workers
    never run one link at once; ``last_report`` holds the figures of the last run.
    """

    __tablename__ = "federation_sync"
    __table_args__ = (UniqueConstraint("peer", "direction", "collection_url"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    peer: Mapped[str] = mapped_column(ForeignKey(Peer.code, ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(4))  # pull or push
    collection_url: Mapped[str] = mapped_column(String(500))
    # For a push: which of this node's collections is sent (its filters and the policy).
    local_collection: Mapped[str | None] = mapped_column(String(36))
    cursor: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    enabled: Mapped[bool] = mapped_column(Boolean)
    failures: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    auth: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    last_report: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    runner: Mapped[str | None] = mapped_column(String(36))
    running_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
