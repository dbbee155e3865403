"""The sharing policy: each rule on its own (Python), and SQL agreeing with Python on a store."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sharing_samples import (
    AMBER,
    CLEAR,
    GREEN,
    IDENTITY_A,
    IDENTITY_OTHER,
    OLD_AMBER,
    OLD_WHITE,
    RED,
    STRICT,
    deliver,
    granular,
    indicator,
    load,
    register,
)
from sqlalchemy import select

from watchkeeper.core import Tlp
from watchkeeper.federation import (
    REASONS,
    Audience,
    Candidate,
    Delivery,
    Origin,
    decide,
    get_sharing,
    local_audience,
    origins,
    outgoing_doc,
    peer_audience,
    shared_clause,
    withheld_reason,
)
from watchkeeper.intel import StixObject
from watchkeeper.node import Node


def _doc(**extra: Any) -> str:
    return orjson.dumps(indicator(1, **extra), option=orjson.OPT_SORT_KEYS).decode()


def _peer(**changes: Any) -> Audience:
    values: dict[str, Any] = {
        "name": "peer:QA-NCSA",
        "max_tlp": Tlp.AMBER_STRICT,
        "need_to_know": True,
        "identity": IDENTITY_A,
        "community": "national",
    }
    values.update(changes)
    return Audience(**values)


NATIONAL_ONLY = Origin(deliveries=(Delivery("national", False),))
PLAIN = _doc()
# (case, audience, tlp column, doc, origin, reason or None when shared)
CASES: list[tuple[str, Audience, str | None, str, Origin, str | None]] = [
    # 1. TLP:RED never leaves, whoever asks and however the level is attached.
    ("red to the most trusted peer", _peer(), "red", PLAIN, Origin(), "tlp_red"),
    ("red to a local export", local_audience(max_tlp=Tlp.AMBER_STRICT), "red", PLAIN, Origin(),
     "tlp_red"),
    ("red to an audience asking for red", _peer(max_tlp=Tlp.RED), "red", PLAIN, Origin(),
     "tlp_red"),
    ("red in a granular marking", _peer(), "green", _doc(granular_markings=granular(RED)),
     Origin(), "tlp_red"),
    ("unmarked counted as red", _peer(unmarked_tlp=Tlp.RED), None, PLAIN, Origin(), "tlp_red"),
    # 2. Nothing above the audience's maximum.
    ("amber to a green peer", _peer(max_tlp=Tlp.GREEN), "amber", PLAIN, Origin(),
     "tlp_above_max"),
    ("unmarked counts as amber", _peer(max_tlp=Tlp.GREEN), None, PLAIN, Origin(),
     "tlp_above_max"),
    ("granular amber to a green peer", _peer(max_tlp=Tlp.GREEN), "clear",
     _doc(granular_markings=granular(AMBER)), Origin(), "tlp_above_max"),
    ("green to a green peer", _peer(max_tlp=Tlp.GREEN), "green", PLAIN, Origin(), None),
    ("clear to a clear peer", _peer(max_tlp=Tlp.CLEAR), "clear", PLAIN, Origin(), None),
    ("green to a clear peer", _peer(max_tlp=Tlp.CLEAR), "green", PLAIN, Origin(),
     "tlp_above_max"),
    # 3. AMBER only on a need-to-know basis.
    ("amber without need-to-know", _peer(max_tlp=Tlp.AMBER, need_to_know=False), "amber", PLAIN,
     Origin(), "tlp_need_to_know"),
    ("unmarked without need-to-know", _peer(need_to_know=False), None, PLAIN, Origin(),
     "tlp_need_to_know"),
    ("own amber+strict without need-to-know", _peer(need_to_know=False), "amber+strict",
     _doc(created_by_ref=IDENTITY_A), Origin(), "tlp_need_to_know"),
    ("green without need-to-know", _peer(need_to_know=False), "green", PLAIN, Origin(), None),
    ("amber with need-to-know", _peer(max_tlp=Tlp.AMBER), "amber", PLAIN, Origin(), None),
    # 4. AMBER+STRICT only to the owning organisation.
    ("amber+strict the peer created", _peer(), "amber+strict", _doc(created_by_ref=IDENTITY_A),
     Origin(), None),
    ("amber+strict another created", _peer(), "amber+strict",
     _doc(created_by_ref=IDENTITY_OTHER), Origin(), "tlp_amber_strict"),
    ("amber+strict without creator", _peer(), "amber+strict", PLAIN, Origin(),
     "tlp_amber_strict"),
    ("amber+strict to a peer without identity", _peer(identity=None), "amber+strict",
     _doc(created_by_ref=IDENTITY_A), Origin(), "tlp_amber_strict"),
    ("the peer's identity only nested", _peer(), "amber+strict",
     _doc(created_by_ref=IDENTITY_OTHER, x_ref={"created_by_ref": IDENTITY_A}), Origin(),
     "tlp_amber_strict"),
    ("granular amber+strict, created by the peer", _peer(), "green",
     _doc(created_by_ref=IDENTITY_A, granular_markings=granular(STRICT)), Origin(), None),
    ("granular amber+strict, created by another", _peer(), "green",
     _doc(granular_markings=granular(STRICT)), Origin(), "tlp_amber_strict"),
    ("amber+strict to a local export", local_audience(max_tlp=Tlp.AMBER_STRICT),
     "amber+strict", PLAIN, Origin(), None),
    ("amber+strict above a local export's maximum", local_audience(), "amber+strict", PLAIN,
     Origin(), "tlp_above_max"),
    # 5. Received data stays within the scope it arrived with, unless its sender allowed more.
    ("national delivery to a regional peer", _peer(community="regional"), "green", PLAIN,
     NATIONAL_ONLY, "received_scope"),
    ("national delivery to an international peer", _peer(community="international"), "green",
     PLAIN, NATIONAL_ONLY, "received_scope"),
    ("national delivery to a national peer", _peer(), "green", PLAIN, NATIONAL_ONLY, None),
    ("regional delivery to a national peer", _peer(), "green", PLAIN,
     Origin(deliveries=(Delivery("regional", False),)), None),
    ("international delivery anywhere", _peer(community="international"), "green", PLAIN,
     Origin(deliveries=(Delivery("international", False),)), None),
    ("national delivery, re-sharing allowed", _peer(community="international"), "green", PLAIN,
     Origin(deliveries=(Delivery("national", True),)), None),
    ("one restricting delivery among others", _peer(community="international"), "green", PLAIN,
     Origin(deliveries=(Delivery("international", False), Delivery("national", False))),
     "received_scope"),
    ("also from a source of this node", _peer(community="international"), "green", PLAIN,
     Origin(deliveries=(Delivery("national", False),), independent=True), None),
    ("an unknown scope withholds", _peer(), "green", PLAIN,
     Origin(deliveries=(Delivery("galactic", False),)), "received_scope"),
    ("a local export keeps what peers sent", local_audience(), "green", PLAIN, NATIONAL_ONLY,
     None),
    # The first rule that withholds is the one reported.
    ("red and out of scope", _peer(community="international"), "red", PLAIN, NATIONAL_ONLY,
     "tlp_red"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("audience", "tlp", "doc", "origin", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rule(
    audience: Audience, tlp: str | None, doc: str, origin: Origin, reason: str | None
) -> None:
    decision = decide(audience, Candidate(tlp, doc, origin))
    assert decision.reason == reason
    assert bool(decision) is (reason is None)


def test_every_reason_has_a_case() -> None:
    assert {case[-1] for case in CASES} - {None} == set(REASONS)


# --- SQL agrees with Python on a store ------------------------------------------------------


def _mixed_store(node: Node) -> None:
    register(node, "AA-CERT", community="national", max_tlp="amber+strict", need_to_know=True,
             identity=IDENTITY_A)  # fmt: skip
    register(node, "BB-CERT", community="regional", max_tlp="amber", need_to_know=True)
    register(node, "CC-CERT", community="international", max_tlp="green")
    register(node, "DD-CERT", community="international", max_tlp="amber+strict",
             need_to_know=False, identity=IDENTITY_A)  # fmt: skip
    register(node, "EE-CERT")  # never configured: the defaults
    load(
        node,
        indicator(1, markings=[CLEAR]),
        indicator(2, markings=[GREEN]),
        indicator(3, markings=[AMBER]),
        indicator(4, markings=[STRICT], created_by_ref=IDENTITY_A),
        indicator(5, markings=[STRICT], created_by_ref=IDENTITY_OTHER),
        indicator(6, markings=[RED]),
        indicator(7),
        indicator(8, markings=[GREEN], granular_markings=granular(AMBER)),
        indicator(9, markings=[GREEN], granular_markings=granular(RED)),
        indicator(10, markings=[OLD_WHITE]),
        indicator(11, markings=[OLD_AMBER]),
        indicator(12, markings=[STRICT], x_note={"created_by_ref": IDENTITY_A}),
        indicator(13, markings=[GREEN, RED]),
        indicator(14, markings=[GREEN], created_by_ref=IDENTITY_A, labels=["x"]),
    )
    deliver(node, "AA-CERT", indicator(20, markings=[GREEN]), scope="national", reshare=False)
    deliver(node, "AA-CERT", indicator(21, markings=[GREEN]), scope="regional", reshare=False)
    deliver(node, "AA-CERT", indicator(22, markings=[GREEN]), scope="national", reshare=True)
    shared_twice = indicator(23, markings=[GREEN])
    deliver(node, "AA-CERT", shared_twice, scope="national", reshare=False)
    load(node, shared_twice, source="feed:osint")
    deliver(node, "BB-CERT", indicator(24, markings=[CLEAR]))  # BB's community: regional
    deliver(node, "AA-CERT", indicator(25, markings=[STRICT], created_by_ref=IDENTITY_A),
            scope="national")  # fmt: skip
    deliver(node, "BB-CERT", indicator(26, markings=[GREEN]), scope="international")
    deliver(node, "AA-CERT", indicator(26, markings=[GREEN]), scope="national")  # same version


def _audiences(node: Node) -> dict[str, Audience]:
    with node.database.reader() as session:
        found = {
            code: peer_audience(get_sharing(session, code))
            for code in ("AA-CERT", "BB-CERT", "CC-CERT", "DD-CERT", "EE-CERT")
        }
    found["local"] = local_audience(max_tlp=Tlp.AMBER_STRICT)
    found["local green"] = local_audience(max_tlp=Tlp.GREEN)
    found["export to regional"] = Audience(
        name="feed", max_tlp=Tlp.AMBER, need_to_know=True, community="regional"
    )
    return found


def _number(stix_id: str) -> int:
    return int(stix_id.rsplit("-", 1)[1])


def test_sql_and_python_agree_on_a_mixed_store(node: Node) -> None:
    _mixed_store(node)
    with node.database.reader() as session:
        rows = session.execute(
            select(StixObject.seq, StixObject.id, StixObject.tlp, StixObject.doc)
        ).all()
        known = origins(session, [row.seq for row in rows])
        assert len(rows) == 21
        shared: dict[str, set[int]] = {}
        for name, audience in _audiences(node).items():
            by_sql = dict(session.execute(select(StixObject.seq, withheld_reason(audience))).all())
            passing = set(session.scalars(select(StixObject.seq).where(shared_clause(audience))))
            by_python = {
                row.seq: decide(audience, Candidate(row.tlp, row.doc, known[row.seq])).reason
                for row in rows
            }
            assert by_sql == by_python, name
            assert passing == {seq for seq, reason in by_python.items() if reason is None}, name
            ids = {row.seq: _number(row.id) for row in rows}
            shared[name] = {ids[seq] for seq in passing}
    # What each audience gets, spelled out (the object numbers of _mixed_store).
    assert shared["AA-CERT"] == {1, 2, 3, 4, 7, 8, 10, 11, 14, 20, 21, 22, 23, 24, 25, 26}
    assert shared["BB-CERT"] == {1, 2, 3, 7, 8, 10, 11, 14, 21, 22, 23, 24}  # 26: AA said national
    assert shared["CC-CERT"] == {1, 2, 10, 14, 22, 23}
    assert shared["DD-CERT"] == shared["CC-CERT"]  # AMBER needs need-to-know, even when owned
    assert shared["EE-CERT"] == {1, 10}
    assert shared["local"] == {1, 2, 3, 4, 5, 7, 8, 10, 11, 12, 14, 20, 21, 22, 23, 24, 25, 26}
    assert shared["local green"] == {1, 2, 10, 14, 20, 21, 22, 23, 24, 26}
    assert shared["export to regional"] == shared["BB-CERT"]
    for name, numbers in shared.items():
        assert not numbers & {6, 9, 13}, f"TLP:RED left for {name}"


# --- outgoing documents ---------------------------------------------------------------------


def test_outgoing_doc_is_verbatim_without_internal_properties() -> None:
    assert outgoing_doc(PLAIN) is PLAIN
    quoted = _doc(description='talks about "x_watchkeeper_note" in text')
    assert outgoing_doc(quoted) == quoted  # parsed, nothing removed, same canonical text


def test_outgoing_doc_removes_internal_properties_everywhere() -> None:
    doc = _doc(
        x_watchkeeper_note="analyst's private remark",
        x_partner="kept",
        extensions={"x-ext": {"x_watchkeeper_score": 90, "keep": [{"x_watchkeeper_a": 1}]}},
    )
    cleaned = orjson.loads(outgoing_doc(doc))
    assert "x_watchkeeper_note" not in cleaned
    assert cleaned["x_partner"] == "kept"
    assert cleaned["extensions"] == {"x-ext": {"keep": [{}]}}
    assert "x_watchkeeper" not in outgoing_doc(doc)
