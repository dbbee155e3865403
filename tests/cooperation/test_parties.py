"""The states registry and the entry-into-force arithmetic: 40th deposit + 90 days, later
ratifiers + 30, denunciation + 1 year, REIO instruments not counted, the pack's ``date``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.cooperation.instruments import Instrument, get_instrument
from watchkeeper.cooperation.parties import applicability, general_date, in_force_date
from watchkeeper.cooperation.state_models import CoopState
from watchkeeper.cooperation.states import (
    get_state,
    list_states,
    participation,
    seed_states,
    set_state,
    state_document,
)
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.node import Node
from watchkeeper.security import list_entries

UN = "un-cybercrime"
CODES = [f"{a}{b}" for a in "BCDEFG" for b in "ABCDEFGH"]  # none of them seeded
START = date(2026, 1, 1)


@pytest.fixture
def un() -> Instrument:
    return get_instrument(None)


@pytest.fixture
def session(node: Node) -> Iterator[Session]:
    with node.database.transaction() as session:
        for code in ("QA", "AZ", "VN"):  # the seeded ratifications have no dates: set aside
            set_state(session, clock=node.clock, actor="t", code=code, instrument=UN,
                      ratified=False)  # fmt: skip
        yield session


def _deposit(node: Node, session: Session, count: int, *, first: int = 0, reio: bool = False,
             start: date = START) -> list[str]:  # fmt: skip
    """``count`` states depositing one day apart from ``start``; returns their codes."""
    codes = CODES[first : first + count]
    for index, code in enumerate(codes):
        set_state(session, clock=node.clock, actor="t", code=code, name=f"State {code}",
                  reio=reio, instrument=UN, deposited=start + timedelta(days=index))  # fmt: skip
    return codes


def test_list_and_get_show_the_seed_without_writing(node: Node) -> None:
    with node.database.reader() as session:
        codes = [state.code for state in list_states(session)]
        azerbaijan = get_state(session, "az")
        stored = session.scalar(select(func.count()).select_from(CoopState))
    assert {"QA", "AZ", "VN"} <= set(codes) and stored == 0
    standing = participation(azerbaijan, UN)
    assert standing.ratified and standing.deposited is None and not standing.verified
    assert "Art. 7(2) (at signature)" in standing.reservations and len(standing.reservations) == 4


def test_seeding_is_idempotent(node: Node) -> None:
    with node.database.transaction() as session:
        assert seed_states(session, clock=node.clock) == 3
        assert seed_states(session, clock=node.clock) == 0


def test_get_unknown_state_points_at_parties_list(node: Node) -> None:
    with node.database.reader() as session, pytest.raises(NotFound, match="parties list"):
        get_state(session, "ZZ")


def test_set_state_creates_edits_and_audits(node: Node) -> None:
    with node.database.transaction() as session:
        with pytest.raises(NotFound, match="--name"):
            set_state(session, clock=node.clock, actor="alice", code="FR")
        set_state(session, clock=node.clock, actor="alice", code="FR", name="France",
                  languages=["FR", "en"], poc="+33 1 00 00 00 00")  # fmt: skip
        state = set_state(session, clock=node.clock, actor="bob", code="fr", instrument=UN,
                          signed=date(2025, 10, 25), reservations=["Art. 42(5)"])  # fmt: skip
        document = state_document(state)
        entries = list_entries(session, action="cooperation.state.set")
    assert document["languages"] == ["fr", "en"] and document["updated_by"] == "bob"
    assert document["instruments"][UN]["signed"] == "2025-10-25"
    assert document["instruments"][UN]["reservations"] == ["Art. 42(5)"]
    last = entries[-1].detail
    assert entries[-1].actor == "bob" and last["code"] == "FR" and not last["created"]
    change = last["changes"]["instruments"]
    assert change["before"] == {} and change["after"][UN]["signed"] == "2025-10-25"
    assert entries[-2].detail["created"]


@pytest.mark.parametrize(("values", "words"), [
    ({"code": "FRA", "name": "France"}, "alpha-2"),
    ({"code": "FR", "name": "France", "languages": ["fra"]}, "ISO 639-1"),
    ({"code": "FR", "name": "France", "signed": date(2025, 10, 25)}, "name it"),
    ({"code": "FR", "name": "France", "instrument": UN, "signed": date(2026, 2, 1),
      "deposited": date(2026, 1, 1)}, "before signature"),
    ({"code": "FR", "name": "France", "instrument": UN, "denounced": date(2026, 2, 1)},
     "needs a deposit"),
])  # fmt: skip
def test_set_state_rejects_bad_values(node: Node, values: dict[str, object], words: str) -> None:
    with node.database.transaction() as session, pytest.raises(InvalidInput, match=words):
        set_state(session, clock=node.clock, actor="t", **values)  # type: ignore[arg-type]


def test_not_in_force_before_the_40th_deposit(node: Node, session: Session, un: Instrument) -> None:
    first, second = _deposit(node, session, 39)[:2]
    assert general_date(session, instrument=un) is None
    result = applicability(session, instrument=un, a=first, b=second, on=date(2030, 1, 1))
    assert not result.applies and result.in_force == {first: None, second: None}
    assert "39 of the 40 instruments needed are deposited (Art. 65(1))" in result.reasons[0]


def test_ninetieth_day_after_the_40th_deposit(node: Node, session: Session, un: Instrument) -> None:
    codes = _deposit(node, session, 40)
    fortieth = START + timedelta(days=39)
    general = fortieth + timedelta(days=90)
    assert general_date(session, instrument=un) == general
    assert in_force_date(session, instrument=un, state=codes[0]) == general
    before = applicability(session, instrument=un, a=codes[0], b=codes[39],
                           on=general - timedelta(days=1))  # fmt: skip
    assert not before.applies and "enters into force on" in before.reasons[0]
    on_the_day = applicability(session, instrument=un, a=codes[0], b=codes[39], on=general)
    assert on_the_day.applies and on_the_day.in_force == {codes[0]: general, codes[39]: general}
    assert any("Art. 65(2)" in reason for reason in on_the_day.reasons)


def test_later_ratifier_bound_from_the_30th_day(
    node: Node, session: Session, un: Instrument
) -> None:
    codes = _deposit(node, session, 40)
    general = START + timedelta(days=39 + 90)
    late = general + timedelta(days=10)
    early = START + timedelta(days=45)  # after the 40th deposit, before the general date
    (late_code,) = _deposit(node, session, 1, first=40, start=late)
    (early_code,) = _deposit(node, session, 1, first=41, start=early)
    assert in_force_date(session, instrument=un, state=late_code) == late + timedelta(days=30)
    assert in_force_date(session, instrument=un, state=early_code) == general
    result = applicability(session, instrument=un, a=codes[0], b=late_code,
                           on=late + timedelta(days=29))  # fmt: skip
    assert not result.applies and f"not yet in force for {late_code}" in result.reasons[-1]
    assert applicability(session, instrument=un, a=codes[0], b=late_code,
                         on=late + timedelta(days=30)).applies  # fmt: skip


def test_denunciation_takes_effect_after_one_year(
    node: Node, session: Session, un: Instrument
) -> None:
    codes = _deposit(node, session, 40)
    notice = date(2028, 3, 1)
    set_state(session, clock=node.clock, actor="t", code=codes[5], instrument=UN, denounced=notice)
    effective = notice + timedelta(days=365)
    still = applicability(session, instrument=un, a=codes[5], b=codes[6],
                          on=effective - timedelta(days=1))  # fmt: skip
    assert still.applies and f"takes effect {effective} (Art. 67)" in " ".join(still.reasons)
    gone = applicability(session, instrument=un, a=codes[5], b=codes[6], on=effective)
    assert not gone.applies and f"effective {effective} (Art. 67)" in " ".join(gone.reasons)


def test_a_reio_instrument_does_not_count(node: Node, session: Session, un: Instrument) -> None:
    codes = _deposit(node, session, 39)
    _deposit(node, session, 1, first=39, reio=True, start=START + timedelta(days=50))
    assert general_date(session, instrument=un) is None
    _deposit(node, session, 1, first=40, start=START + timedelta(days=60))
    assert general_date(session, instrument=un) == START + timedelta(days=150)
    assert in_force_date(session, instrument=un, state=codes[0]) == START + timedelta(days=150)


def test_the_pack_date_overrides_the_count(node: Node, session: Session, un: Instrument) -> None:
    first, second = _deposit(node, session, 2)
    known = un.entry_into_force.model_copy(update={"date": date(2027, 3, 1)})
    pack = un.model_copy(update={"entry_into_force": known})
    assert general_date(session, instrument=pack) == date(2027, 3, 1)
    result = applicability(session, instrument=pack, a=first, b=second, on=date(2027, 3, 1))
    assert result.applies and "the date set in the instrument pack" in result.reasons[0]


def test_unknown_undated_and_same_state(node: Node, session: Session, un: Instrument) -> None:
    set_state(session, clock=node.clock, actor="t", code="VN", instrument=UN, ratified=True)
    result = applicability(session, instrument=un, a="zz", b="VN", on=date(2030, 1, 1))
    assert not result.applies and result.states == ("ZZ", "VN")
    assert any("ZZ is not in the states registry" in reason for reason in result.reasons)
    assert any("deposit date is not recorded" in reason for reason in result.reasons)
    same = applicability(session, instrument=un, a="VN", b="VN", on=date(2030, 1, 1))
    assert not same.applies and "both sides" in same.reasons[-1]
