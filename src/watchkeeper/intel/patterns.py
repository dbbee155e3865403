"""Reducing STIX patterns to the observable values they name.

Almost every indicator in national feeds is a plain comparison, ``[ipv4-addr:value =
'198.51.100.7']``, or a few of them joined by OR/AND, or an IN set. Those go through a small
tokeniser here (microseconds each). Anything else is parsed with the STIX 2.1 pattern grammar
(stix2-patterns); equality comparisons on known paths still yield values, but a pattern that
needs more than value equality (qualifiers, FOLLOWEDBY, LIKE, MATCHES, ranges...) is marked
not matchable by value. Such indicators are stored all the same, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from watchkeeper.core.observables import Observable, from_stix
from watchkeeper.errors import InvalidInput

# A quoted string with backslash escapes, written as an unrolled loop (no per-character
# alternation: about twice as fast on the import hot path).
_QUOTED = r"'[^'\\]*(?:\\.[^'\\]*)*'"
_TOKEN = re.compile(
    rf"""\s*(?:
        (?P<open>\[) | (?P<close>\]) | (?P<join>OR|AND)(?![A-Za-z0-9_]) |
        (?P<path>[a-z0-9-]+:[A-Za-z0-9_.'-]+)\s*(?P<op>=|IN(?![A-Za-z0-9_]))\s*
        (?P<value>{_QUOTED}|-?[0-9]+(?![0-9.])|\(\s*{_QUOTED}(?:\s*,\s*{_QUOTED})*\s*\))
    )""",
    re.VERBOSE,
)
# The shape of most indicators in national feeds, recognised by one regex.
_SINGLE = re.compile(rf"\[\s*([a-z0-9-]+:[A-Za-z0-9_.'-]+)\s*=\s*({_QUOTED})\s*\]")
_STRING = re.compile(_QUOTED)
_UNESCAPE = re.compile(r"\\(.)")
# Paths holding a host that MISP's composite attributes (ip-dst|port, domain|ip) point at: an
# address or a name, told apart by the value itself.
_HOST_PATHS = frozenset(
    {
        "network-traffic:dst_ref.value",
        "network-traffic:src_ref.value",
        "domain-name:resolves_to_refs[*].value",
    }
)
# Terms that only narrow a value named beside them (the port of ip-dst|port, the file name of
# filename|sha256, the type of a reference) without naming one: they do not stop the value from
# being matched. A pattern made of such terms alone names nothing, so it is not matchable.
_NARROWING = frozenset(
    {
        "network-traffic:dst_port",
        "network-traffic:src_port",
        "network-traffic:dst_ref.type",
        "network-traffic:src_ref.type",
        "file:name",
    }
)


@dataclass(frozen=True, slots=True)
class Reduction:
    """What a pattern reduces to: the values, and whether they are the whole pattern."""

    values: tuple[Observable, ...]
    matchable: bool


def _strings(text: str) -> list[str]:
    """The literals of a comparison: its quoted strings unescaped, or one integer as text."""
    if text[:1] not in ("'", "("):
        return [text]
    return [_UNESCAPE.sub(r"\1", quoted[1:-1]) for quoted in _STRING.findall(text)]


def _host(text: str) -> Observable:
    """An address (IPv4 or IPv6, with or without prefix) or a domain name."""
    if ":" in text:
        return from_stix("ipv6-addr:value", text)
    if text and text.replace(".", "").replace("/", "").isdigit():
        return from_stix("ipv4-addr:value", text)
    return from_stix("domain-name:value", text)


def _fast(pattern: str) -> list[tuple[str, list[str]]] | None:
    """Comparisons of a pattern of plain =/IN comparisons joined by OR/AND, else None."""
    single = _SINGLE.fullmatch(pattern)
    if single is not None:
        quoted = single.group(2)[1:-1]
        return [(single.group(1), [_UNESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted])]
    comparisons: list[tuple[str, list[str]]] = []
    position, expect = 0, "open"
    end = len(pattern)
    while True:
        match = _TOKEN.match(pattern, position)
        if match is None:
            return (
                comparisons if expect == "join-or-end" and not pattern[position:].strip() else None
            )
        position = match.end()
        kind = match.lastgroup if match.lastgroup != "value" else "path"
        if kind == "open" and expect == "open":
            expect = "comparison"
        elif kind == "path" and expect == "comparison":
            comparisons.append((match.group("path"), _strings(match.group("value"))))
            expect = "join-or-close"
        elif kind == "join" and expect == "join-or-close":
            expect = "comparison"
        elif kind == "close" and expect == "join-or-close":
            expect = "join-or-end"
        elif kind == "join" and expect == "join-or-end":
            expect = "open"
        else:
            return None
        if position >= end:
            return comparisons if expect == "join-or-end" else None


def _grammar(pattern: str) -> tuple[list[tuple[str, list[str]]], bool]:
    """Comparisons by the full STIX 2.1 grammar, and whether only value equality is used."""
    from stix2patterns.exceptions import ParseException
    from stix2patterns.v21.pattern import Pattern

    try:
        parsed = Pattern(pattern)
    except ParseException as exc:
        raise InvalidInput(f"invalid STIX pattern: {exc}", field="pattern") from None
    inspection = parsed.inspect()
    plain = not inspection.qualifiers and inspection.observation_ops <= {"AND", "OR"}
    comparisons: list[tuple[str, list[str]]] = []
    for object_type, found in inspection.comparisons.items():
        for path, operator, value in found:
            steps = ".".join(f"'{step}'" if isinstance(step, str) else "*" for step in path)
            host = f"{object_type}:{steps}".replace("'", "").replace(".*", "[*]") in _HOST_PATHS
            if operator in ("=", "IN") and ("*" not in steps or host):
                comparisons.append((f"{object_type}:{steps}", _strings(value)))
            else:
                plain = False
    return comparisons, plain


def reduce_pattern(pattern: str) -> Reduction:
    """The values a STIX pattern names; ``InvalidInput`` if it is not a valid pattern."""
    fast = _fast(pattern)
    comparisons, matchable = (fast, True) if fast is not None else _grammar(pattern)
    values: list[Observable] = []
    for path, strings in comparisons:
        plain_path = path.replace("'", "").replace(".*", "[*]")
        if plain_path in _NARROWING:
            continue
        for text in strings:
            try:
                observable = _host(text) if plain_path in _HOST_PATHS else from_stix(path, text)
            except InvalidInput:
                matchable = False  # a path we do not index, or a value that is not one
                continue
            values.append(observable)
    return Reduction(tuple(dict.fromkeys(values)), matchable and bool(values))
