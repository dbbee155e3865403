"""The sharing policy: which stored object versions may leave this node for whom, and why not.

Every path by which intelligence leaves (TAXII pages, pushes to peers, node sync, published
feeds) asks this module, so the rules exist once. Each rule is written twice, side by side:
as SQL over ``intel_objects`` (so a page of thousands of rows is filtered in the query, see
:func:`shared_clause`) and as a Python test of one stored row (:func:`decide`, for a single
object and for explaining a refusal); the tests hold the two to the same answers.

An :class:`Audience` is who receives: a peer, through its sharing settings
(:func:`peer_audience`), or this node's own organisation (:func:`local_audience`, a local
export). The rules, in the order in which the first one that withholds is reported:

1. ``tlp_red``: TLP:RED never leaves, whoever asks, whether the level is on the object, in a
   granular marking, or given to unmarked objects.
2. ``tlp_above_max``: nothing above the audience's maximum TLP level.
3. ``tlp_need_to_know``: TLP:AMBER (and so AMBER+STRICT) only to an audience flagged
   need-to-know: TLP 2.0 lets AMBER go to others only "on a need-to-know basis".
4. ``tlp_amber_strict``: TLP:AMBER+STRICT only to the owning organisation. That is this node
   itself for a local export; a peer is the owner only of the objects its own organisation
   created (top-level ``created_by_ref`` equal to the STIX identity in its settings). A peer
   without an identity owns nothing.
5. ``received_scope``: a version that reached this node only through peer deliveries is not
   shared into a community wider than the scope a delivery arrived with (MISP-style
   distribution downgrade: national < regional < international), unless that delivery's
   sender allowed re-sharing. A version this node also has from a source of its own (a feed,
   a file, its analysts) is not bound by it: that copy did not come from the peer.

Objects without a TLP marking count as TLP:AMBER (``unmarked_tlp``), as exports count them.
Outgoing documents go through :func:`outgoing_doc`, which removes this node's internal
properties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy import ColumnElement, String, and_, case, exists, false, literal, not_, or_, select

from watchkeeper.core.tlp import Tlp, parse_tlp
from watchkeeper.errors import InvalidInput
from watchkeeper.federation.models import Receipt, SharingSettings
from watchkeeper.federation.properties import top_level_text
from watchkeeper.intel import Provenance, StixObject, tlp_withholds, withheld_by_tlp

COMMUNITIES: tuple[str, ...] = ("national", "regional", "international")
"""Sharing communities, narrowest first; each is also a TAXII API root."""
UNMARKED = Tlp.AMBER
INTERNAL_PREFIX = "x_watchkeeper_"
"""Custom properties this node may keep on its own objects; they never leave it."""

TLP_RED = "tlp_red"
TLP_ABOVE_MAX = "tlp_above_max"
TLP_NEED_TO_KNOW = "tlp_need_to_know"
TLP_AMBER_STRICT = "tlp_amber_strict"
RECEIVED_SCOPE = "received_scope"
REASONS: tuple[str, ...] = (
    TLP_RED,
    TLP_ABOVE_MAX,
    TLP_NEED_TO_KNOW,
    TLP_AMBER_STRICT,
    RECEIVED_SCOPE,
)


def parse_community(text: str, *, field: str = "community") -> str:
    """A community name (case-insensitive), or ``InvalidInput`` naming ``field`` and the valid."""
    name = text.strip().lower() if isinstance(text, str) else ""
    if name not in COMMUNITIES:
        raise InvalidInput(
            f"{field}: unknown community {text!r}; expected one of {', '.join(COMMUNITIES)}",
            field=field,
            value=text,
            expected=list(COMMUNITIES),
        )
    return name


def parse_release_tlp(text: str, *, field: str = "max_tlp") -> Tlp:
    """A TLP level that may be a release ceiling: any but RED, which never leaves."""
    try:
        level = parse_tlp(text)
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc.message}", field=field, value=text) from None
    if level is Tlp.RED:
        raise InvalidInput(
            f"{field}: TLP:RED never leaves the node; the most that can be shared is "
            "TLP:AMBER+STRICT",
            field=field,
            value=text,
        )
    return level


@dataclass(frozen=True)
class Audience:
    """Who receives: the levels, flags and community the rules are applied with."""

    name: str
    max_tlp: Tlp
    need_to_know: bool = False
    identity: str | None = None
    community: str | None = None
    own_organisation: bool = False
    unmarked_tlp: Tlp = UNMARKED


def peer_audience(settings: SharingSettings) -> Audience:
    """The audience of a peer, from its sharing settings."""
    return Audience(
        name=f"peer:{settings.peer}",
        max_tlp=Tlp(settings.max_tlp),
        need_to_know=settings.need_to_know,
        identity=settings.identity,
        community=settings.community,
    )


def local_audience(*, max_tlp: Tlp = Tlp.AMBER) -> Audience:
    """This node's own organisation (a local export): owner of everything, need-to-know."""
    return Audience(name="local", max_tlp=max_tlp, need_to_know=True, own_organisation=True)


@dataclass(frozen=True)
class Delivery:
    """One peer delivery of an object version: the scope it arrived with, and its terms."""

    scope: str
    reshare: bool


@dataclass(frozen=True)
class Origin:
    """How an object version reached this node: its peer deliveries, and whether it also came
    from a source that is not a peer (``independent``)."""

    deliveries: tuple[Delivery, ...] = ()
    independent: bool = False


class Candidate(NamedTuple):
    """A stored object version as the rules see it: its ``tlp`` column, ``doc``, origin."""

    tlp: str | None
    doc: str
    origin: Origin = Origin()


@dataclass(frozen=True)
class Decision:
    """Whether a version may go, and if not the rule that withholds it (one of ``REASONS``)."""

    shared: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.shared


@dataclass(frozen=True)
class Rule:
    """One rule for one audience: its reason, its SQL form and its Python form."""

    reason: str
    sql: ColumnElement[bool]
    test: Callable[[Candidate], bool]


def _tlp_rule(reason: str, audience: Audience, ceiling: Tlp) -> Rule:
    unmarked = audience.unmarked_tlp
    return Rule(
        reason,
        withheld_by_tlp(max_tlp=ceiling, unmarked_tlp=unmarked),
        lambda c: tlp_withholds(c.tlp, c.doc, max_tlp=ceiling, unmarked_tlp=unmarked),
    )


def _created_by(identity: str | None) -> tuple[ColumnElement[bool], Callable[[str], bool]]:
    """SQL and Python tests of "the object's top-level ``created_by_ref`` is ``identity``"."""
    if identity is None:
        return false(), lambda doc: False
    creator = top_level_text(StixObject.doc, "created_by_ref")
    sql = and_(
        StixObject.doc.contains(identity, autoescape=True),
        creator.is_not(None),
        creator == identity,
    )

    def test(doc: str) -> bool:
        return identity in doc and orjson.loads(doc).get("created_by_ref") == identity

    return sql, test


def _scope_rule(community: str) -> Rule:
    # Scopes that may reach ``community``: the same or wider. An unknown scope counts as
    # narrower than every community, so a damaged row withholds rather than releases.
    allowed = list(COMMUNITIES[COMMUNITIES.index(community) :])
    p, r = Provenance, Receipt
    restricting = exists(
        select(literal(1))
        .select_from(p)
        .join(r, r.import_id == p.import_id)
        .where(p.object_seq == StixObject.seq, r.reshare.is_(False), r.scope.not_in(allowed))
    )
    independent = exists(
        select(literal(1))
        .select_from(p)
        .outerjoin(r, r.import_id == p.import_id)
        .where(p.object_seq == StixObject.seq, r.import_id.is_(None))
    )

    def test(c: Candidate) -> bool:
        if c.origin.independent:
            return False
        return any(not d.reshare and d.scope not in allowed for d in c.origin.deliveries)

    return Rule(RECEIVED_SCOPE, and_(restricting, not_(independent)), test)


def rules(audience: Audience) -> list[Rule]:
    """The rules that apply to ``audience``, in the order their reasons are reported."""
    found = [_tlp_rule(TLP_RED, audience, Tlp.AMBER_STRICT)]
    if audience.max_tlp < Tlp.AMBER_STRICT:
        found.append(_tlp_rule(TLP_ABOVE_MAX, audience, audience.max_tlp))
    if not audience.need_to_know:
        found.append(_tlp_rule(TLP_NEED_TO_KNOW, audience, Tlp.GREEN))
    if not audience.own_organisation:
        above_amber = _tlp_rule(TLP_AMBER_STRICT, audience, Tlp.AMBER)
        owned_sql, owned = _created_by(audience.identity)
        found.append(
            Rule(
                TLP_AMBER_STRICT,
                and_(above_amber.sql, not_(owned_sql)),
                lambda c: above_amber.test(c) and not owned(c.doc),
            )
        )
    if audience.community is not None:
        found.append(_scope_rule(audience.community))
    return found


def shared_clause(audience: Audience) -> ColumnElement[bool]:
    """SQL over ``intel_objects``: true for the versions ``audience`` may receive.

    Put it in the WHERE clause of any query that selects objects to send. The TLP rules are
    folded into one test at the audience's effective ceiling (levels are ordered, so what a
    lower ceiling withholds a higher one withholds too), plus the owner's exception for
    AMBER+STRICT: the same answers as :func:`rules` one by one (the tests compare them), in
    one pass over each document instead of one per rule.
    """
    ceiling = min(audience.max_tlp, Tlp.AMBER_STRICT)
    if not audience.need_to_know:
        ceiling = min(ceiling, Tlp.GREEN)
    unmarked = audience.unmarked_tlp
    passes: list[ColumnElement[bool]] = [
        not_(withheld_by_tlp(max_tlp=ceiling, unmarked_tlp=unmarked))
    ]
    if ceiling is Tlp.AMBER_STRICT and not audience.own_organisation:
        owned, _ = _created_by(audience.identity)
        passes.append(or_(not_(withheld_by_tlp(max_tlp=Tlp.AMBER, unmarked_tlp=unmarked)), owned))
    if audience.community is not None:
        passes.append(not_(_scope_rule(audience.community).sql))
    return and_(*passes)


def withheld_clause(audience: Audience) -> ColumnElement[bool]:
    """SQL over ``intel_objects``: true for the versions ``audience`` may not receive."""
    return not_(shared_clause(audience))


def withheld_reason(audience: Audience) -> ColumnElement[Any]:
    """SQL over ``intel_objects``: the reason the first withholding rule gives, NULL if shared.

    For counting what was held back by reason (``GROUP BY``), as export reports do.
    """
    return case(*((rule.sql, literal(rule.reason, String())) for rule in rules(audience)))


def decide(audience: Audience, candidate: Candidate) -> Decision:
    """Whether one stored version may go to ``audience``, with the reason if it may not."""
    for rule in rules(audience):
        if rule.test(candidate):
            return Decision(False, rule.reason)
    return Decision(True)


def _without_internal(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _without_internal(item)
            for key, item in value.items()
            if not key.startswith(INTERNAL_PREFIX)
        }
    if isinstance(value, list):
        return [_without_internal(item) for item in value]
    return value


def outgoing_doc(doc: str) -> str:
    """A stored document as it may leave: without this node's ``x_watchkeeper_*`` properties.

    The store keeps none today; the prefix is reserved so that internal annotations added
    later can never be shared by accident. Documents without it (all, today) are returned
    verbatim, so what peers get is byte for byte what was stored (no parse, no re-dump).
    """
    if f'"{INTERNAL_PREFIX}' not in doc:
        return doc
    cleaned = _without_internal(orjson.loads(doc))
    return orjson.dumps(cleaned, option=orjson.OPT_SORT_KEYS).decode()
