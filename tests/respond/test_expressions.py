"""The expression language: native values, text, the sandbox, limits, errors with file:line."""

from __future__ import annotations

import time

import pytest

from watchkeeper.errors import InvalidInput
from watchkeeper.respond.expressions import (
    MAX_RANGE,
    check,
    domain_of,
    evaluate,
    host_of,
    render,
    run_context,
)
from watchkeeper.respond.playbook_model import Where

WHERE = Where("pb.yaml", 12)
CONTEXT = run_context(
    event={
        "type": "detect.alert",
        "payload": {
            "severity": "high",
            "count": 3,
            "values": ["a.example", "b.example"],
            "items": "a field called items",
            "url": "hxxps://Evil[.]Example/login",
        },
    },
    steps={"open_case": {"id": "c-1"}},
    vars={"limit": 2},
)


def test_single_expression_gives_the_native_value() -> None:
    assert render("{{ event.payload.count }}", context=CONTEXT) == 3
    assert render("{{ event.payload.values }}", context=CONTEXT) == ["a.example", "b.example"]
    assert render("  {{ {'case': steps.open_case.id} }} ", context=CONTEXT) == {"case": "c-1"}


def test_other_strings_render_as_text_recursively() -> None:
    value = {"title": "{{ event.payload.count }} hits", "tags": ["x", "{{ vars.limit }}"], "n": 5}
    assert render(value, context=CONTEXT) == {"title": "3 hits", "tags": ["x", 2], "n": 5}
    assert render("plain", context=CONTEXT) == "plain"


def test_mapping_keys_win_over_methods() -> None:
    assert evaluate("event.payload.items", context=CONTEXT) == "a field called items"


def test_helpers_and_glob() -> None:
    assert evaluate("event.payload.url | host_of", context=CONTEXT) == "evil.example"
    assert domain_of("Someone@Mail.Example.") == "mail.example"
    assert host_of("https://A.Example:8443/x?y=1") == "a.example"
    assert evaluate("'www.gov.example' is glob('*.GOV.example')", context=CONTEXT) is True
    assert evaluate("{{ event.payload.severity in ['high', 'critical'] }}", context=CONTEXT)


@pytest.mark.parametrize(
    "expression",
    [
        "event.__class__",
        "event.payload._secret",
        "().__class__.__base__.__subclasses__()",
        "event.payload.values.append",
        "'x'.center(1000000000)",
        "'{0.__class__}'.format(event)",
        "'%s' % event",
        "lipsum()",
        "cycler(1, 2)",
    ],
)
def test_the_sandbox_refuses_escapes(expression: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        evaluate(expression, context=CONTEXT, where=WHERE)
    assert caught.value.message.startswith("pb.yaml:12: ")
    assert caught.value.fields["line"] == 12


@pytest.mark.parametrize(
    "expression",
    [
        "range(10**9) | list",
        "range(10**9) | length",
        "'x' * 10**9",
        "(range(1000) | list) * 1000",
        "9 ** 256 ** 256",
        "10 ** 100000",
        "event.payload.url | replace('', event.payload.url * 3000)",
    ],
)
def test_blowups_hit_a_limit_quickly(expression: str) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInput, match=r"limit|not allowed"):
        evaluate(expression, context=CONTEXT, where=WHERE)
    assert time.perf_counter() - started < 1.0
    assert len(list(range(MAX_RANGE))) == MAX_RANGE


def test_statements_are_refused_at_check_time() -> None:
    with pytest.raises(InvalidInput, match="statements"):
        check("{% for x in range(10) %}{{ x }}{% endfor %}", where=WHERE)
    with pytest.raises(InvalidInput, match="unknown filter 'center'"):
        check("{{ event.payload.severity | center(9) }}", where=WHERE)


def test_undefined_names_the_variable_and_the_place() -> None:
    with pytest.raises(InvalidInput) as caught:
        render("{{ event.payload.missing }}", context=CONTEXT, where=WHERE)
    assert "pb.yaml:12" in caught.value.message and "missing" in caught.value.message
    with pytest.raises(InvalidInput, match="'nothing' is undefined"):
        render("text {{ nothing }}", context=CONTEXT, where=WHERE)
    with pytest.raises(InvalidInput, match="missing"):
        evaluate("[event.payload.missing]", context=CONTEXT, where=WHERE)
    assert evaluate("event.payload.missing | default('d')", context=CONTEXT) == "d"


def test_check_knows_names_and_step_references() -> None:
    usage = check("{{ steps.open_case.id ~ steps['other'] ~ item }}", where=WHERE)
    assert usage.steps == {"open_case", "other"}
    with pytest.raises(InvalidInput, match="did you mean 'event'"):
        check("evnt.payload", where=WHERE, names={"event", "steps"})
    with pytest.raises(InvalidInput, match="syntax error"):
        check("{{ event.payload", where=WHERE)


def test_runtime_errors_are_invalid_input_not_tracebacks() -> None:
    with pytest.raises(InvalidInput, match="ZeroDivisionError"):
        evaluate("1 / 0", context=CONTEXT, where=WHERE)
    with pytest.raises(InvalidInput, match="longer than"):
        evaluate("1 + " * 400 + "1", context=CONTEXT, where=WHERE)
