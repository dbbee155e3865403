"""Traffic Light Protocol 2.0 (and PAP): the words every sharing decision is made in.

Policy, exports, TAXII and federation all ask the same questions: which TLP level is this
text, STIX marking or MISP tag, and which of several markings wins. Answering them in one
place keeps the answers identical everywhere; a misread marking is a data leak, so anything
that is not clearly a known level is refused rather than guessed.

Levels are ordered from least to most restrictive, CLEAR < GREEN < AMBER < AMBER+STRICT <
RED, so ``max()`` over the markings of an object gives its effective level. TLP 1.0 WHITE is
accepted everywhere as the old name of CLEAR.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any, Literal

from watchkeeper.errors import InvalidInput


class _Ranked(Enum):
    """Enum members ordered by their position in the class body (first = least restrictive)."""

    @property
    def rank(self) -> int:
        """Position in the order, 0 for the least restrictive member."""
        return type(self)._member_names_.index(self.name)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.rank >= other.rank


class Tlp(_Ranked):
    """A TLP 2.0 level; members compare by restrictiveness, so ``max()`` gives the strictest."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @property
    def label(self) -> str:
        """The form FIRST writes, e.g. ``TLP:AMBER+STRICT``; what people and reports show."""
        return f"TLP:{self.value.upper()}"

    @property
    def misp_tag(self) -> str:
        """The MISP taxonomy tag, e.g. ``tlp:amber+strict``, for MISP exports."""
        return f"tlp:{self.value}"


class Pap(_Ranked):
    """A Permissible Actions Protocol level: what a recipient may *do* with the information."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @property
    def label(self) -> str:
        """The usual written form, e.g. ``PAP:AMBER`` (also the MISP ``PAP`` taxonomy tag)."""
        return f"PAP:{self.value.upper()}"


# Accepted spellings after lower-casing and removing the "tlp:" prefix. WHITE is the TLP 1.0
# name of what TLP 2.0 calls CLEAR (FIRST TLP 2.0, August 2022).
_TLP_WORDS: Mapping[str, Tlp] = MappingProxyType(
    {
        "clear": Tlp.CLEAR,
        "white": Tlp.CLEAR,
        "green": Tlp.GREEN,
        "amber": Tlp.AMBER,
        "amber+strict": Tlp.AMBER_STRICT,
        "red": Tlp.RED,
    }
)
# The older MISP PAP taxonomy says WHITE where PAP 2.0 says CLEAR.
_PAP_WORDS: Mapping[str, Pap] = MappingProxyType(
    {"clear": Pap.CLEAR, "white": Pap.CLEAR, "green": Pap.GREEN, "amber": Pap.AMBER, "red": Pap.RED}
)
_TLP_EXPECTED = "CLEAR, GREEN, AMBER, AMBER+STRICT, RED (or WHITE, the TLP 1.0 name of CLEAR)"
_PAP_EXPECTED = "CLEAR, GREEN, AMBER, RED (or WHITE, the older name of CLEAR)"

# MISP tlp taxonomy values that qualify a level instead of being one: "ex:chr" asks for the
# Chatham House Rule, "unclear" says the level was not determined. Neither sets a level.
_MISP_TLP_QUALIFIERS = frozenset({"ex:chr", "unclear"})


def _words(text: object, prefix: str) -> str:
    if not isinstance(text, str):
        return ""
    word = text.strip().lower()
    if word.startswith(prefix):
        word = word[len(prefix) :].strip()
    return word


def parse_tlp(text: str) -> Tlp:
    """The level written in ``text`` (``TLP:AMBER+STRICT``, ``amber+strict``, ``white``...).

    Case and surrounding spaces do not matter; anything else is refused with the valid names,
    because guessing at a handling restriction could release data the source restricted.
    """
    level = _TLP_WORDS.get(_words(text, "tlp:"))
    if level is None:
        raise InvalidInput(
            f"unknown TLP level {text!r}; expected one of {_TLP_EXPECTED}",
            field="tlp",
            value=text,
            expected=[member.label for member in Tlp],
        )
    return level


def parse_pap(text: str) -> Pap:
    """The PAP level in ``text`` (``PAP:AMBER``, ``amber``, ``white``...), as ``parse_tlp``."""
    level = _PAP_WORDS.get(_words(text, "pap:"))
    if level is None:
        raise InvalidInput(
            f"unknown PAP level {text!r}; expected one of {_PAP_EXPECTED}",
            field="pap",
            value=text,
            expected=[member.label for member in Pap],
        )
    return level


# --- STIX 2.1 marking definitions -------------------------------------------------------------

# TLP 2.0 has no object in the STIX 2.1 standard itself; OASIS CTI TC publishes it as a
# property extension of marking-definition, with fixed ids for the five levels. Verified in
# oasis-open/cti-stix-common-objects:extension-definition-specifications/tlp-2.0/
# (extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.json, schema with the ids, and
# examples/tlp-clear.json, tlp-amber.json, tlp-amber+strict.json for the object form).
TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
TLP2_MARKING_IDS: Mapping[Tlp, str] = MappingProxyType(
    {
        Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
)

# TLP 1.0 objects are normative in STIX 2.1 (OASIS Standard, section 7.2.1.4 "TLP Marking"),
# keyed here by their TLP 1.0 colour. Verified against the spec's objects as reproduced in
# oasis-open/cti-python-stix2:stix2/v21/common.py (TLP_WHITE ... TLP_RED) and the exact-object
# check in stix2/markings/utils.py (check_tlp_marking).
TLP1_CREATED = "2017-01-20T00:00:00.000Z"
TLP1_MARKING_IDS: Mapping[str, str] = MappingProxyType(
    {
        "white": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        "green": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        "amber": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        "red": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
    }
)

# Every marking id we recognise, TLP 1.0 and 2.0, mapped to its TLP 2.0 level.
MARKING_LEVELS: Mapping[str, Tlp] = MappingProxyType(
    {
        **{marking: level for level, marking in TLP2_MARKING_IDS.items()},
        **{marking: _TLP_WORDS[colour] for colour, marking in TLP1_MARKING_IDS.items()},
    }
)


def marking_id(level: Tlp, *, version: Literal["1.0", "2.0"] = "2.0") -> str:
    """The STIX marking-definition id of ``level``, by default the TLP 2.0 one.

    ``version="1.0"`` gives the STIX 2.1 standard's TLP 1.0 id for partners that only know
    those (CLEAR becomes WHITE); AMBER+STRICT has no TLP 1.0 form and is refused.
    """
    if version == "2.0":
        return TLP2_MARKING_IDS[level]
    return TLP1_MARKING_IDS[_tlp1_colour(level)]


def marking_definition(level: Tlp, *, version: Literal["1.0", "2.0"] = "2.0") -> dict[str, Any]:
    """The published STIX 2.1 marking-definition object for ``level``, as a new dict.

    TLP 2.0 objects carry ``name`` and the OASIS property extension and no ``definition``;
    TLP 1.0 objects carry ``definition_type: tlp`` and ``definition``. Bundles we send must
    hold these exact objects, so peers recognise them by id and content alike.
    """
    if version == "2.0":
        return {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": TLP2_MARKING_IDS[level],
            "created": TLP2_CREATED,
            "name": level.label,
            "extensions": {
                TLP2_EXTENSION_ID: {
                    "extension_type": "property-extension",
                    "tlp_2_0": level.value,
                }
            },
        }
    colour = _tlp1_colour(level)
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP1_MARKING_IDS[colour],
        "created": TLP1_CREATED,
        "definition_type": "tlp",
        "name": f"TLP:{colour.upper()}",
        "definition": {"tlp": colour},
    }


def _tlp1_colour(level: Tlp) -> str:
    if level is Tlp.AMBER_STRICT:
        raise InvalidInput(
            "TLP:AMBER+STRICT has no TLP 1.0 marking; send the TLP 2.0 marking instead",
            field="tlp",
            value=level.label,
        )
    return "white" if level is Tlp.CLEAR else level.value


def tlp_from_marking(marking_ref: str) -> Tlp | None:
    """The level of a TLP 1.0 or 2.0 marking id; None for any other marking (statements...)."""
    return MARKING_LEVELS.get(marking_ref)


def tlp_from_marking_definition(marking: Mapping[str, Any]) -> Tlp | None:
    """The level a marking-definition object states, whatever its id; None if it is not TLP.

    Some producers mint their own ids for TLP markings; reading the content (the TLP 2.0
    extension, or TLP 1.0 ``definition_type: tlp``) lets a bundle's own definitions be mapped
    and passed to ``strictest(known=...)``. A TLP marking with an unknown level is refused.
    """
    extensions = marking.get("extensions")
    if isinstance(extensions, Mapping):
        extension = extensions.get(TLP2_EXTENSION_ID)
        if isinstance(extension, Mapping) and "tlp_2_0" in extension:
            return parse_tlp(extension["tlp_2_0"])
    if marking.get("definition_type") == "tlp":
        definition = marking.get("definition")
        colour = definition.get("tlp") if isinstance(definition, Mapping) else None
        return parse_tlp(colour if isinstance(colour, str) else repr(colour))
    return None


def strictest(markings: Iterable[str], *, known: Mapping[str, Tlp] | None = None) -> Tlp | None:
    """The effective TLP of an object from its ``object_marking_refs``: the most restrictive.

    Markings that are not TLP are ignored; ``known`` adds ids this module does not know (for
    example a bundle's own TLP definitions, see ``tlp_from_marking_definition``). None means
    the object carries no TLP marking at all, which the caller's policy must decide about.
    """
    if isinstance(markings, list | tuple) and len(markings) < 2:
        # Most objects carry one marking or none: skip the enum comparisons (import hot path).
        if not markings:
            return None
        single = MARKING_LEVELS.get(markings[0])
        if single is None and known is not None:
            single = known.get(markings[0])
        return single
    found: Tlp | None = None
    for marking in markings:
        level = MARKING_LEVELS.get(marking)
        if level is None and known is not None:
            level = known.get(marking)
        if level is not None and (found is None or level > found):
            found = level
    return found


# --- MISP tags --------------------------------------------------------------------------------


def tlp_from_misp_tag(tag: str) -> Tlp | None:
    """The level of a MISP ``tlp:`` taxonomy tag (``tlp:amber+strict``, ``tlp:white``...).

    None for tags of other namespaces and for the qualifiers ``tlp:ex:chr`` and
    ``tlp:unclear``, which do not set a level; an unknown ``tlp:`` value is refused, since a
    misspelt restriction must not silently become no restriction.
    """
    text = tag.strip()
    if not text.lower().startswith("tlp:"):
        return None
    word = text[4:].strip().strip('"').lower()
    if word in _MISP_TLP_QUALIFIERS:
        return None
    return parse_tlp(word)


def tlp_from_misp_tags(tags: Iterable[str]) -> Tlp | None:
    """The strictest level among MISP tags (an event's or attribute's); None if none is TLP."""
    found: Tlp | None = None
    for tag in tags:
        level = tlp_from_misp_tag(tag)
        if level is not None and (found is None or level > found):
            found = level
    return found
