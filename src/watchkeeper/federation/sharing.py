"""Per-peer sharing settings: the community a peer is in, its TLP ceiling, its flags.

A peer registered in the security registry receives nothing until an administrator says what
it may have: until then :func:`get_sharing` gives the most restrictive settings (TLP:CLEAR,
no need-to-know, the widest community, so received data is not re-shared to it). Which
collections it may read or write is kept apart, in :mod:`watchkeeper.federation.collections`.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.core import Clock, Tlp
from watchkeeper.errors import InvalidInput
from watchkeeper.federation.models import SharingSettings
from watchkeeper.federation.policy import parse_community, parse_release_tlp
from watchkeeper.security import get_peer, record_change

IDENTITY = re.compile(
    r"^identity--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
DEFAULT_COMMUNITY = "international"
DEFAULT_MAX_TLP = Tlp.CLEAR


def default_sharing(code: str) -> SharingSettings:
    """The settings of a peer nobody has configured yet (not added to any session)."""
    return SharingSettings(
        peer=code,
        community=DEFAULT_COMMUNITY,
        max_tlp=DEFAULT_MAX_TLP.value,
        need_to_know=False,
        identity=None,
        reshare=False,
    )


def get_sharing(session: Session, code: str) -> SharingSettings:
    """The sharing settings of peer ``code`` (``NotFound`` for an unknown peer)."""
    peer = get_peer(session, code)
    found = session.get(SharingSettings, peer.code)
    return found if found is not None else default_sharing(peer.code)


def check_identity(text: str) -> str:
    """A STIX identity id (``identity--<uuid>``), or ``InvalidInput``.

    Kept as written: ownership is an exact match on ``created_by_ref``.
    """
    value = text.strip()
    if not IDENTITY.match(value):
        raise InvalidInput(
            f"identity: expected a STIX identity id (identity--<uuid>), got {text!r}",
            field="identity",
            value=text,
        )
    return value


def set_sharing(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    code: str,
    community: str | None = None,
    max_tlp: str | None = None,
    need_to_know: bool | None = None,
    identity: str | None = None,
    reshare: bool | None = None,
) -> SharingSettings:
    """Change what peer ``code`` may receive; options left None keep their value.

    Every value is checked before anything changes (``InvalidInput`` names the field); an
    empty ``identity`` clears it. The change is one audit entry and event (``peer.sharing``)
    holding the old and new values; a call that changes nothing records nothing (the first
    call that names a value stores the settings, defaults included).
    """
    settings = get_sharing(session, code)
    wanted: dict[str, Any] = {}
    if community is not None:
        wanted["community"] = parse_community(community)
    if max_tlp is not None:
        wanted["max_tlp"] = parse_release_tlp(max_tlp).value
    if need_to_know is not None:
        wanted["need_to_know"] = need_to_know
    if identity is not None:
        wanted["identity"] = check_identity(identity) if identity.strip() else None
    if reshare is not None:
        wanted["reshare"] = reshare
    changes = {k: v for k, v in wanted.items() if getattr(settings, k) != v}
    new = session.get(SharingSettings, settings.peer) is None
    if not wanted or (not changes and not new):
        return settings
    before = sharing_document(settings)
    for name, value in changes.items():
        setattr(settings, name, value)
    settings.updated_at = clock.now()
    if new:
        session.add(settings)
    session.flush()
    after = sharing_document(settings)
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="peer.sharing",
        subject=f"peer:{settings.peer}",
        detail={k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]},
    )
    return settings


def sharing_document(settings: SharingSettings) -> dict[str, Any]:
    """Sharing settings as JSON."""
    return {
        "peer": settings.peer,
        "community": settings.community,
        "max_tlp": Tlp(settings.max_tlp).label,
        "need_to_know": settings.need_to_know,
        "identity": settings.identity,
        "reshare": settings.reshare,
        "configured": settings.updated_at is not None,
    }
