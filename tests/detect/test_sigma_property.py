"""The vectorised engine agrees with the per-event reference on random rules and events.

Several rules are evaluated together, over events of which some are outside the rules' log
source, so that what the engine shares between rules (one distinct-value pass per column,
one multi-pattern pass for all ``contains`` literals of a column, tests with the same key)
and its per-group row selection are checked too, not only each rule alone."""

from __future__ import annotations

import polars as pl
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchkeeper.detect.sigma_hits import evaluate, needle_columns
from watchkeeper.detect.sigma_reference import reference_hits
from watchkeeper.detect.sigma_rules import parse_rules

FIELDS = {
    "Image": "process.executable",
    "CommandLine": "process.command_line",
    "User": "user.name",
    "ParentImage": "process.parent.executable",
}
ALPHABET = "aAb-/ \n"
PATTERN_ALPHABET = "aAb-/*?"
MODIFIERS = [
    "",
    "|contains",
    "|startswith",
    "|endswith",
    "|contains|all",
    "|windash|contains",
    "|cased|contains",
    "|cased",
    "|re",
    "|re|i",
    "|exists",
    "null",
    "|neq",
    "|gt",
    "|base64offset|contains",
]
REGEXES = ["a", "^a", "b$", "a.b", "[ab]+-", "A", "^$", "(a|B) ", "\\.a"]
CONDITIONS = [
    "sel0",
    "sel0 and not sel1",
    "sel0 or sel1",
    "not (sel0 or sel1) and sel2",
    "1 of sel*",
    "all of sel*",
    "1 of them",
    "all of them",
    "sel0 and (sel1 or not sel2)",
]

FRAGMENTS = ["a", "A", "b", "ab", "aB", "-", "/", " ", "\n", "a-", "-a", "b/"]
# values built from a few fragments contain each other's literals often, so that tests
# which hold (and overlapping literals on one column) are common, not rare
values = st.one_of(
    st.none(),
    st.text(alphabet=ALPHABET, max_size=6),
    st.lists(st.sampled_from(FRAGMENTS), max_size=4).map("".join),
)
events = st.lists(
    st.fixed_dictionaries(
        {
            "event.code": st.sampled_from(["1", "1", "1", "3"]),
            **dict.fromkeys(FIELDS.values(), values),
        }
    ),
    min_size=1,
    max_size=12,
)
patterns = st.one_of(
    st.text(alphabet=PATTERN_ALPHABET, min_size=0, max_size=3),
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=2).map("".join),
)


@st.composite
def items(draw: st.DrawFn) -> tuple[str, object]:
    name = draw(st.sampled_from(sorted(FIELDS)))
    modifier = draw(st.sampled_from(MODIFIERS))
    if modifier == "null":
        return name, None
    if modifier == "|exists":
        return name + modifier, draw(st.booleans())
    if modifier == "|gt":
        return name + modifier, draw(st.integers(-3, 3))
    if modifier.startswith("|re"):
        return name + modifier, draw(st.sampled_from(REGEXES))
    plain = modifier.startswith("|base64") or modifier.startswith("|windash")
    text = st.text(alphabet="aAb-/ ", min_size=1, max_size=3) if plain else patterns
    many = draw(st.lists(text, min_size=1, max_size=3))
    return name + modifier, many if len(many) > 1 else many[0]


@st.composite
def rule(draw: st.DrawFn, number: int) -> dict[str, object]:
    detection: dict[str, object] = {}
    for k in range(3):
        pairs = draw(st.lists(items(), min_size=1, max_size=2, unique_by=lambda p: p[0]))
        detection[f"sel{k}"] = dict(pairs)
    detection["condition"] = draw(st.sampled_from(CONDITIONS))
    return {
        "title": f"random {number}",
        "id": f"00000000-0000-4000-8000-{number:012d}",
        "logsource": {"category": "process_creation", "product": "windows"},
        "detection": detection,
    }


@st.composite
def rule_sets(draw: st.DrawFn) -> str:
    count = draw(st.integers(1, 4))
    return yaml.safe_dump_all([draw(rule(number)) for number in range(count)])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rule_sets(), rows=events)
def test_engine_matches_reference(text: str, rows: list[dict[str, str | None]]) -> None:
    loaded = parse_rules(text=text, name="random.yml")
    assert not loaded.errors, loaded.errors
    assert all(rule.supported for rule in loaded.rules), [r.unsupported for r in loaded.rules]
    full = [{"event.dataset": "sysmon", **row} for row in rows]
    frame = pl.DataFrame(full, schema=dict.fromkeys(full[0], pl.String))
    engine = evaluate(rules=loaded, frame=frame)
    expected = reference_hits(rules=loaded, events=full)
    for rule in loaded.rules:
        assert engine.for_rule(rule.id).tolist() == expected[rule.id], (rule.id, text)


@settings(max_examples=300, deadline=None)
@given(
    needles=st.lists(
        st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=3).map("".join),
        min_size=1,
        max_size=8,
        unique=True,
    ),
    texts=st.lists(values, min_size=1, max_size=10),
)
def test_one_pass_finds_every_literal(needles: list[str], texts: list[str | None]) -> None:
    """The shared multi-pattern pass says what one ``contains`` per literal would say, even
    where literals overlap or one hides inside another ('a', 'ab', 'b')."""
    lower = pl.Series(texts, dtype=pl.String).str.to_lowercase()
    columns = needle_columns(lower=lower, needles=[n.lower() for n in needles])
    for needle, column in zip(needles, columns, strict=True):
        expected = lower.str.contains(needle.lower(), literal=True).fill_null(False)
        assert column.to_list() == expected.to_list(), needle
