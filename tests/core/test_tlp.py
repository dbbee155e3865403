"""TLP 2.0 and PAP vocabulary: parsing, order, STIX marking ids and objects, MISP tags."""

from __future__ import annotations

import pytest

from watchkeeper.core import tlp
from watchkeeper.core.tlp import Pap, Tlp
from watchkeeper.errors import InvalidInput

# Ids written out again here (not imported) so a typo in the module cannot hide in the test.
TLP2_IDS = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP1_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
TLP1_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
TLP1_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
TLP1_RED = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
STATEMENT = "marking-definition--4a0042fe-8b88-40fe-9600-dfa128ce6fbd"


def test_levels_are_ordered_from_clear_to_red() -> None:
    assert Tlp.CLEAR < Tlp.GREEN < Tlp.AMBER < Tlp.AMBER_STRICT < Tlp.RED
    assert Tlp.RED >= Tlp.RED
    assert Tlp.GREEN <= Tlp.AMBER
    assert max([Tlp.GREEN, Tlp.AMBER_STRICT, Tlp.AMBER]) is Tlp.AMBER_STRICT
    assert sorted([Tlp.RED, Tlp.CLEAR, Tlp.AMBER]) == [Tlp.CLEAR, Tlp.AMBER, Tlp.RED]
    assert [level.rank for level in Tlp] == [0, 1, 2, 3, 4]


def test_tlp_and_pap_do_not_compare() -> None:
    with pytest.raises(TypeError):
        assert Tlp.RED < Pap.RED  # type: ignore[operator]
    assert Tlp.RED != Pap.RED


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("TLP:AMBER+STRICT", Tlp.AMBER_STRICT),
        ("amber+strict", Tlp.AMBER_STRICT),
        ("  tlp:Amber+Strict ", Tlp.AMBER_STRICT),
        ("TLP: RED", Tlp.RED),
        ("white", Tlp.CLEAR),
        ("TLP:WHITE", Tlp.CLEAR),
        ("clear", Tlp.CLEAR),
        ("TLP:CLEAR", Tlp.CLEAR),
        ("Green", Tlp.GREEN),
        ("amber", Tlp.AMBER),
    ],
)
def test_parse_tlp_accepts_the_usual_spellings(text: str, level: Tlp) -> None:
    assert tlp.parse_tlp(text) is level


@pytest.mark.parametrize(
    "text", ["", "amber-strict", "amber strict", "tlp:", "yellow", "TLP:EX:CHR"]
)
def test_parse_tlp_refuses_anything_else_naming_value_and_choices(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        tlp.parse_tlp(text)
    assert repr(text) in str(caught.value)
    assert "AMBER+STRICT" in str(caught.value)
    assert caught.value.fields["value"] == text
    assert caught.value.fields["expected"] == [
        "TLP:CLEAR",
        "TLP:GREEN",
        "TLP:AMBER",
        "TLP:AMBER+STRICT",
        "TLP:RED",
    ]


def test_parse_tlp_refuses_non_text() -> None:
    with pytest.raises(InvalidInput):
        tlp.parse_tlp(None)  # type: ignore[arg-type]


def test_labels_and_misp_tags() -> None:
    assert Tlp.AMBER_STRICT.label == "TLP:AMBER+STRICT"
    assert Tlp.CLEAR.misp_tag == "tlp:clear"
    assert Tlp.AMBER_STRICT.misp_tag == "tlp:amber+strict"


def test_marking_ids_for_tlp2_and_tlp1() -> None:
    assert dict(tlp.TLP2_MARKING_IDS) == TLP2_IDS
    assert tlp.marking_id(Tlp.RED) == TLP2_IDS[Tlp.RED]
    assert tlp.marking_id(Tlp.CLEAR, version="1.0") == TLP1_WHITE
    assert tlp.marking_id(Tlp.GREEN, version="1.0") == TLP1_GREEN
    assert tlp.marking_id(Tlp.AMBER, version="1.0") == TLP1_AMBER
    assert tlp.marking_id(Tlp.RED, version="1.0") == TLP1_RED
    with pytest.raises(InvalidInput, match="AMBER\\+STRICT"):
        tlp.marking_id(Tlp.AMBER_STRICT, version="1.0")


@pytest.mark.parametrize(
    ("marking", "level"),
    [
        *((marking, level) for level, marking in TLP2_IDS.items()),
        (TLP1_WHITE, Tlp.CLEAR),
        (TLP1_GREEN, Tlp.GREEN),
        (TLP1_AMBER, Tlp.AMBER),
        (TLP1_RED, Tlp.RED),
    ],
)
def test_every_known_marking_maps_to_its_level(marking: str, level: Tlp) -> None:
    assert tlp.tlp_from_marking(marking) is level


def test_other_markings_have_no_level() -> None:
    assert tlp.tlp_from_marking(STATEMENT) is None
    assert len(tlp.MARKING_LEVELS) == 9


def test_tlp2_marking_definition_is_the_published_object() -> None:
    assert tlp.marking_definition(Tlp.AMBER_STRICT) == {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        "created": "2022-10-01T00:00:00.000Z",
        "name": "TLP:AMBER+STRICT",
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": "amber+strict",
            }
        },
    }
    for level in Tlp:
        made = tlp.marking_definition(level)
        assert made["id"] == TLP2_IDS[level]
        assert "definition" not in made
        assert "definition_type" not in made


def test_tlp1_marking_definition_is_the_standard_object() -> None:
    assert tlp.marking_definition(Tlp.CLEAR, version="1.0") == {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP1_WHITE,
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "name": "TLP:WHITE",
        "definition": {"tlp": "white"},
    }
    assert tlp.marking_definition(Tlp.RED, version="1.0")["definition"] == {"tlp": "red"}
    with pytest.raises(InvalidInput):
        tlp.marking_definition(Tlp.AMBER_STRICT, version="1.0")


def test_marking_definition_returns_a_fresh_object_each_time() -> None:
    first = tlp.marking_definition(Tlp.GREEN)
    first["extensions"][tlp.TLP2_EXTENSION_ID]["tlp_2_0"] = "red"
    assert tlp.marking_definition(Tlp.GREEN)["extensions"][tlp.TLP2_EXTENSION_ID]["tlp_2_0"] == (
        "green"
    )


def test_definitions_are_read_back_by_content() -> None:
    for level in Tlp:
        assert tlp.tlp_from_marking_definition(tlp.marking_definition(level)) is level
    assert tlp.tlp_from_marking_definition(tlp.marking_definition(Tlp.CLEAR, version="1.0")) is (
        Tlp.CLEAR
    )
    statement = {"definition_type": "statement", "definition": {"statement": "Copyright"}}
    assert tlp.tlp_from_marking_definition(statement) is None
    with pytest.raises(InvalidInput):
        tlp.tlp_from_marking_definition({"definition_type": "tlp", "definition": {"tlp": "pink"}})
    with pytest.raises(InvalidInput):
        tlp.tlp_from_marking_definition({"definition_type": "tlp", "definition": {}})


def test_strictest_marking_wins() -> None:
    assert tlp.strictest([TLP2_IDS[Tlp.GREEN], TLP1_AMBER, STATEMENT]) is Tlp.AMBER
    assert tlp.strictest([TLP2_IDS[Tlp.AMBER_STRICT], TLP1_AMBER]) is Tlp.AMBER_STRICT
    assert tlp.strictest([TLP1_WHITE]) is Tlp.CLEAR
    assert tlp.strictest([TLP1_RED, TLP2_IDS[Tlp.AMBER_STRICT]]) is Tlp.RED
    assert tlp.strictest(iter([TLP2_IDS[Tlp.CLEAR], TLP1_GREEN])) is Tlp.GREEN


def test_strictest_without_tlp_is_none() -> None:
    assert tlp.strictest([]) is None
    assert tlp.strictest([STATEMENT]) is None


def test_strictest_uses_extra_known_markings() -> None:
    own = "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"
    assert tlp.strictest([own, TLP1_GREEN]) is Tlp.GREEN
    assert tlp.strictest([own, TLP1_GREEN], known={own: Tlp.AMBER_STRICT}) is Tlp.AMBER_STRICT


@pytest.mark.parametrize(
    ("tag", "level"),
    [
        ("tlp:amber+strict", Tlp.AMBER_STRICT),
        ("tlp:white", Tlp.CLEAR),
        ("tlp:clear", Tlp.CLEAR),
        ("TLP:GREEN", Tlp.GREEN),
        ('tlp:"red"', Tlp.RED),
        ("tlp:amber", Tlp.AMBER),
        ("tlp:ex:chr", None),
        ("tlp:unclear", None),
        ("PAP:RED", None),
        ('misp-galaxy:threat-actor="APT 28"', None),
    ],
)
def test_misp_tags(tag: str, level: Tlp | None) -> None:
    assert tlp.tlp_from_misp_tag(tag) is level


def test_unknown_misp_tlp_value_is_refused() -> None:
    with pytest.raises(InvalidInput, match="amber-strict"):
        tlp.tlp_from_misp_tag("tlp:amber-strict")


def test_strictest_misp_tag() -> None:
    assert tlp.tlp_from_misp_tags(["tlp:green", "tlp:ex:chr", "tlp:amber", "osint"]) is Tlp.AMBER
    assert tlp.tlp_from_misp_tags(["osint", "tlp:ex:chr"]) is None


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("PAP:CLEAR", Pap.CLEAR),
        ("pap:white", Pap.CLEAR),
        ("green", Pap.GREEN),
        (" PAP:Amber ", Pap.AMBER),
        ("RED", Pap.RED),
    ],
)
def test_parse_pap(text: str, level: Pap) -> None:
    assert tlp.parse_pap(text) is level


def test_pap_order_labels_and_refusal() -> None:
    assert Pap.CLEAR < Pap.GREEN < Pap.AMBER < Pap.RED
    assert Pap.AMBER.label == "PAP:AMBER"
    with pytest.raises(InvalidInput, match="PAP:AMBER\\+STRICT"):
        tlp.parse_pap("PAP:AMBER+STRICT")


def test_tlp1_objects_equal_python_stix2_constants() -> None:
    """python-stix2 ships the standard's TLP 1.0 objects and refuses any other form of them."""
    import json

    stix2 = pytest.importorskip("stix2")
    constants = {
        Tlp.CLEAR: stix2.v21.TLP_WHITE,
        Tlp.GREEN: stix2.v21.TLP_GREEN,
        Tlp.AMBER: stix2.v21.TLP_AMBER,
        Tlp.RED: stix2.v21.TLP_RED,
    }
    for level, constant in constants.items():
        made = tlp.marking_definition(level, version="1.0")
        assert json.loads(constant.serialize()) == made
        assert stix2.parse(made).id == constant.id


def test_tlp2_objects_pass_the_oasis_validator() -> None:
    validator = pytest.importorskip("stix2validator")
    options = validator.ValidationOptions(version="2.1")
    for level in Tlp:
        result = validator.validate_instance(tlp.marking_definition(level), options)
        assert result.is_valid, [str(error) for error in result.errors]
