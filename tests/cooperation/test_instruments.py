"""The instrument packs: each rule of the UN and Budapest packs with its article, the merge of
corrections from the data dir, and errors that name the file, the key and the line."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from watchkeeper.cooperation.instruments import (
    DEADLINE_KEYS,
    SERVICE_LEVEL_KEYS,
    Instrument,
    get_instrument,
    load_instruments,
)
from watchkeeper.errors import InvalidInput, NotFound


@pytest.fixture(scope="module")
def un() -> Instrument:
    return get_instrument(None)


@pytest.fixture(scope="module")
def budapest() -> Instrument:
    return get_instrument(None, "budapest")


MLA_ITEMS = [
    ("authority", "40(15)(a)", "always"),
    ("case-subject", "40(15)(b)", "always"),
    ("facts", "40(15)(c)", "unless-service"),
    ("assistance-sought", "40(15)(d)", "always"),
    ("persons", "40(15)(e)", "where-possible"),
    ("purpose", "40(15)(f)", "always"),
]
PRESERVATION_ITEMS = [
    ("authority", "42(3)(a)", "always"),
    ("offence-facts", "42(3)(b)", "always"),
    ("data-link", "42(3)(c)", "always"),
    ("custodian-location", "42(3)(d)", "always"),
    ("necessity", "42(3)(e)", "always"),
    ("mla-follow-up", "42(3)(f)", "always"),
    ("confidentiality", "42(3)(g)", "where-possible"),
]
PERIOD_ITEMS = ["authority", "case-facts", "data-link", "identifiers", "justification", "period"]


@pytest.mark.parametrize(
    ("kind", "article", "items"),
    [
        ("preservation", "42", PRESERVATION_ITEMS),
        ("stored-data", "44", MLA_ITEMS),
        ("mla", "40(3)", MLA_ITEMS),
    ],
)
def test_mandatory_contents_carry_their_articles(
    un: Instrument, kind: str, article: str, items: list[tuple[str, str, str]]
) -> None:
    rule = un.request_type(kind)
    assert rule.article == article
    assert [(c.key, c.article, c.required) for c in rule.contents] == items


@pytest.mark.parametrize(("kind", "article", "category"), [
    ("real-time-traffic", "45", "traffic"), ("interception", "46", "content"),
])  # fmt: skip
def test_real_time_and_interception_need_a_period(
    un: Instrument, kind: str, article: str, category: str
) -> None:
    rule = un.request_type(kind)
    assert rule.period_required and rule.article == article
    assert [c.key for c in rule.contents] == PERIOD_ITEMS
    assert rule.data_categories == [category]


@pytest.mark.parametrize(
    ("kind", "article", "first_channel", "machine", "dual"),
    [
        ("preservation", "42", "poc-24-7", "preservation", "never"),
        ("traffic-disclosure", "43", "poc-24-7", "preservation", "never"),
        ("stored-data", "44", "central-authority", "mla", "discretionary"),
        ("real-time-traffic", "45", "central-authority", "mla", "discretionary"),
        ("interception", "46", "central-authority", "mla", "discretionary"),
        ("mla", "40(3)", "central-authority", "mla", "discretionary"),
        ("spontaneous", "40(4)", "central-authority", "mla", "never"),
        ("emergency-data", "41(3)(e)", "poc-24-7", "mla", "discretionary"),
        ("technical-advice", "41(3)(a)", "poc-24-7", "mla", "never"),
        ("legal-information", "41(3)(c)", "poc-24-7", "mla", "never"),
        ("locate-suspect", "41(3)(d)", "poc-24-7", "mla", "discretionary"),
        ("extradition", "37", "central-authority", "mla", "required"),
        ("provisional-arrest", "37", "central-authority", "mla", "required"),
    ],
)
def test_every_request_type_of_the_un_pack(
    un: Instrument, kind: str, article: str, first_channel: str, machine: str, dual: str
) -> None:
    rule = un.request_type(kind)
    assert (rule.article, rule.channels[0], rule.incoming_machine, rule.dual_criminality) == (
        article, first_channel, machine, dual,
    )  # fmt: skip
    assert all(c.key for c in rule.contents)


def test_unknown_request_type_names_the_valid_ones(un: Instrument) -> None:
    with pytest.raises(InvalidInput) as caught:
        un.request_type("wiretap")
    assert "preservation" in caught.value.message and "interception" in caught.value.message


PRESERVATION_GROUNDS = {"non-conforming", "essential-interests", "domestic-bar", "mla-system",
                        "discriminatory-purpose", "dc-reservation"}  # fmt: skip


@pytest.mark.parametrize(("kind", "allowed", "refused"), [
    ("preservation", PRESERVATION_GROUNDS, {"no-dual-criminality", "bank-secrecy", "fiscal-only"}),
    ("traffic-disclosure", PRESERVATION_GROUNDS, {"no-dual-criminality", "bank-secrecy"}),
    ("mla", PRESERVATION_GROUNDS - {"dc-reservation"}
     | {"no-dual-criminality", "data-protection-law"}, {"bank-secrecy", "fiscal-only"}),
    ("stored-data", {"no-dual-criminality", "data-protection-law"}, {"dc-reservation"}),
])  # fmt: skip
def test_refusal_grounds_per_type(
    un: Instrument, kind: str, allowed: set[str], refused: set[str]
) -> None:
    grounds = set(un.request_type(kind).refusal_grounds)
    assert allowed <= grounds
    assert not refused & grounds


@pytest.mark.parametrize(("key", "article"), [
    ("non-conforming", "40(21)(a)"), ("essential-interests", "40(21)(b)"),
    ("domestic-bar", "40(21)(c)"), ("mla-system", "40(21)(d)"),
    ("discriminatory-purpose", "40(22)"), ("dc-reservation", "42(5)"),
    ("data-protection-law", "36(1)"), ("no-dual-criminality", "40"),
])  # fmt: skip
def test_allowed_grounds_and_articles(un: Instrument, key: str, article: str) -> None:
    ground = un.ground(key)
    assert ground is not None and ground.article == article
    assert key in un.refusal_grounds


def test_bank_secrecy_and_fiscal_grounds_are_never_valid(un: Instrument) -> None:
    assert set(un.never_valid_grounds) == {"bank-secrecy", "fiscal-only"}
    assert un.never_valid_grounds["fiscal-only"].article == "40(23), 37"
    for rule in un.request_types.values():
        assert not set(rule.refusal_grounds) & set(un.never_valid_grounds), rule.key
    assert un.ground("bank-secrecy") is not None and un.ground("no-such") is None


@pytest.mark.parametrize(("key", "days", "article", "renewable"), [
    ("preservation-min", 60, "42(8)", False), ("domestic-order-max", 90, "25(2)", True),
    ("mla-follow-up", 60, "42(8)", False), ("safe-conduct", 15, "40(28)", False),
])  # fmt: skip
def test_deadlines(un: Instrument, key: str, days: int, article: str, renewable: bool) -> None:
    deadline = un.deadlines[key]
    assert (deadline.days, deadline.article, deadline.renewable) == (days, article, renewable)


def test_service_levels_are_configurable_minutes(un: Instrument) -> None:
    assert set(un.service_levels) == set(SERVICE_LEVEL_KEYS)
    assert un.service_levels["ack"].minutes == 60
    assert un.service_levels["forthwith"].article == "40(14)"


def test_offences_and_serious_crime(un: Instrument) -> None:
    assert list(un.offences) == [f"art-{n}" for n in range(7, 18)]
    assert un.offences["art-7"].article == "7" and un.offences["art-7"].label == "Illegal access"
    assert un.serious_crime_min_years.years == 4
    assert un.serious_crime_min_years.article == "2" and un.serious_crime_min_years.verified


def test_only_the_verified_items_of_the_reference_are_marked_verified(un: Instrument) -> None:
    marked = {f"offences.{k}" for k, v in un.offences.items() if v.verified}
    marked |= {f"safeguards.{k}" for k, v in un.safeguards.items() if v.verified}
    marked |= {f"grounds.{k}" for k, v in un.refusal_grounds.items() if v.verified}
    marked |= {f"deadlines.{k}" for k, v in un.deadlines.items() if v.verified}
    for kind in un.request_types.values():
        marked |= {f"{kind.key}.{c.key}" for c in kind.contents if c.verified}
        marked |= {kind.key} if kind.verified else set()
    assert marked == {f"offences.art-{n}" for n in (*range(7, 16), 17)} | {
        "safeguards.human-rights"
    }
    assert not un.entry_into_force.verified


def test_safeguards_checklist(un: Instrument) -> None:
    article_24 = {"legal-basis", "proportionality", "independent-review", "remedy", "grounds",
                  "scope-limit", "duration-limit", "third-party-impact"}  # fmt: skip
    assert article_24 <= set(un.safeguards)
    assert un.safeguards["human-rights"].article == "6"
    assert un.safeguards["discrimination"].article == "40(22)"
    assert un.safeguards["data-protection"].article == "36"


def test_entry_into_force_rule(un: Instrument, budapest: Instrument) -> None:
    rule = un.entry_into_force
    assert (rule.instruments_needed, rule.days_after, rule.later_days_after) == (40, 90, 30)
    assert rule.denunciation_days == 365 and rule.date is None and rule.article == "65(1)"
    assert budapest.entry_into_force.instruments_needed == 5
    assert budapest.entry_into_force.article == "36(3)"


def test_budapest_pack(budapest: Instrument) -> None:
    preservation = budapest.request_type("preservation")
    assert preservation.article == "29" and preservation.verified
    assert set(preservation.refusal_grounds) == {
        "political-offence", "essential-interests", "dc-reservation",
    }  # fmt: skip
    assert budapest.refusal_grounds["political-offence"].article == "27(4)(a), 29(5)(a)"
    assert budapest.request_type("traffic-disclosure").article == "30"
    assert budapest.request_type("stored-data").article == "31"
    assert budapest.request_type("real-time-traffic").article == "33"
    assert budapest.request_type("interception").article == "34"
    assert budapest.request_type("technical-advice").article == "35(1)(a)"
    assert budapest.serious_crime_min_years.years == 0
    assert not budapest.default


def test_exactly_one_default() -> None:
    instruments = load_instruments()
    assert [key for key, item in instruments.items() if item.default] == ["un-cybercrime"]
    assert set(DEADLINE_KEYS) <= set(instruments["budapest"].deadlines)
    with pytest.raises(NotFound, match="budapest"):
        get_instrument(None, "nope")


# -- overrides from the data dir ---------------------------------------------------------------


def _override(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "instruments"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_override_flips_one_flag_and_corrects_one_article(tmp_path: Path) -> None:
    data_dir = _override(tmp_path, "legal-fix.yaml", """\
id: un-cybercrime
request_types:
  preservation:
    contents:
      confidentiality: {verified: true}
deadlines:
  preservation-min: {article: "42(7)"}
""")  # fmt: skip
    un = get_instrument(data_dir)
    preservation = un.request_type("preservation")
    assert preservation.content("confidentiality") is not None
    assert preservation.content("confidentiality").verified  # type: ignore[union-attr]
    assert [c.key for c in preservation.contents] == [k for k, _, _ in PRESERVATION_ITEMS]
    assert un.deadlines["preservation-min"].article == "42(7)"
    assert un.deadlines["preservation-min"].days == 60
    assert not get_instrument(None).request_type("preservation").contents[-1].verified


def test_a_new_id_adds_an_instrument(tmp_path: Path) -> None:
    shipped = resources.files("watchkeeper") / "data" / "instruments" / "budapest.yaml"
    text = shipped.read_text(encoding="utf-8").replace("id: budapest", "id: regional-pact")
    data_dir = _override(tmp_path, "pact.yaml", text)
    assert set(load_instruments(data_dir)) == {"un-cybercrime", "budapest", "regional-pact"}


@pytest.mark.parametrize(("text", "where", "words"), [
    ("id: un-cybercrime\ndeadlines:\n  preservation-min:\n    days: sixty\n",
     "instruments/bad.yaml:4", "deadlines.preservation-min.days"),
    ("id: un-cybercrime\nrequest_types:\n  mla:\n    refusal_grounds: [bank-secrecy]\n",
     "instruments/bad.yaml:4", "never a valid ground"),
    ("id: un-cybercrime\nrequest_types:\n  mla:\n    refusal_grounds: [mood]\n",
     "instruments/bad.yaml:4", "unknown refusal ground 'mood'"),
    ("id: un-cybercrime\noffences:\n  Art-7: {label: x, article: '7'}\n",
     "instruments/bad.yaml:3", "offences.Art-7.key"),
    ("id: un-cybercrime\nrequest_types:\n  mla:\n    contents:\n      purpose: {labl: x}\n",
     "instruments/bad.yaml:5", "request_types.mla.contents.purpose.labl"),
    ("id: un-cybercrime\ndeadlines: [oops\n", "instruments/bad.yaml:", "not valid YAML"),
    ("id: budapest\ndefault: true\n", "", "exactly one instrument"),
])  # fmt: skip
def test_bad_yaml_names_file_key_and_line(
    tmp_path: Path, text: str, where: str, words: str
) -> None:
    data_dir = _override(tmp_path, "bad.yaml", text)
    with pytest.raises(InvalidInput) as caught:
        load_instruments(data_dir)
    assert where in caught.value.message and words in caught.value.message, caught.value.message


def test_a_ground_both_allowed_and_never_valid_is_refused(tmp_path: Path) -> None:
    data_dir = _override(tmp_path, "bad.yaml", "id: un-cybercrime\nnever_valid_grounds:\n"
                         "  mla-system: {label: x, article: '1'}\n")  # fmt: skip
    with pytest.raises(InvalidInput) as caught:
        load_instruments(data_dir)
    assert caught.value.fields["line"] == 3
    assert "never_valid_grounds.mla-system" in caught.value.message
