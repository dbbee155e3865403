"""Tables of federation: what each peer may receive, TAXII collections, and peer deliveries.

``federation_sharing`` and ``federation_rights`` belong to a registered peer and go
with it (``ON DELETE CASCADE``). ``federation_receipts`` does not: the scope a delivery arrived
with keeps binding its objects after the sender is removed from the registry, so its ``peer``
is a plain code, not a foreign key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
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
