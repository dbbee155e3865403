"""The vectorised engine agrees with the per-event reference on random rules and events."""

from __future__ import annotations

import polars as pl
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchkeeper.detect.sigma_hits import evaluate
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

values = st.one_of(st.none(), st.text(alphabet=ALPHABET, max_size=6))
events = st.lists(
    st.fixed_dictionaries(dict.fromkeys(FIELDS.values(), values)),
    min_size=1,
    max_size=12,
)
patterns = st.text(alphabet=PATTERN_ALPHABET, min_size=0, max_size=3)


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
def rules(draw: st.DrawFn) -> str:
    detection: dict[str, object] = {}
    for k in range(3):
        pairs = draw(st.lists(items(), min_size=1, max_size=2, unique_by=lambda p: p[0]))
        detection[f"sel{k}"] = dict(pairs)
    detection["condition"] = draw(st.sampled_from(CONDITIONS))
    rule = {
        "title": "random",
        "id": "00000000-0000-4000-8000-000000000009",
        "logsource": {"category": "process_creation", "product": "windows"},
        "detection": detection,
    }
    return yaml.safe_dump(rule)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rules(), rows=events)
def test_engine_matches_reference(text: str, rows: list[dict[str, str | None]]) -> None:
    loaded = parse_rules(text=text, name="random.yml")
    assert not loaded.errors, loaded.errors
    (rule,) = loaded.rules
    assert rule.supported, rule.unsupported
    full = [{"event.dataset": "sysmon", "event.code": "1", **row} for row in rows]
    frame = pl.DataFrame(full, schema=dict.fromkeys(full[0], pl.String))
    engine = evaluate(rules=loaded, frame=frame).for_rule(rule.id).tolist()
    assert engine == reference_hits(rules=loaded, events=full)[rule.id], text
