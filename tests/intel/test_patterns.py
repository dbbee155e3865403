"""Reducing STIX patterns to values: the fast path, the grammar path, and refusals."""

from __future__ import annotations

import pytest

from watchkeeper.core import Observable
from watchkeeper.errors import InvalidInput
from watchkeeper.intel.patterns import _fast, reduce_pattern


@pytest.mark.parametrize(
    ("pattern", "values"),
    [
        ("[ipv4-addr:value = '198.51.100.7']", [("ipv4", "198.51.100.7")]),
        ("[ipv4-addr:value = '10.1.2.3/8']", [("cidr4", "10.0.0.0/8")]),
        ("[domain-name:value = 'EVIL.Example.']", [("domain", "evil.example")]),
        (
            "[url:value = 'HTTP://Evil.Example:80/a b'] OR [domain-name:value = 'x.example']",
            [("url", "http://evil.example/a%20b"), ("domain", "x.example")],
        ),
        (
            "[file:hashes.'SHA-256' = '" + "A" * 64 + "' OR file:hashes.MD5 = '" + "b" * 32 + "']",
            [("sha256", "a" * 64), ("md5", "b" * 32)],
        ),
        (
            "[ipv4-addr:value IN ('192.0.2.1', '192.0.2.2')] AND [domain-name:value = 'a.example']",
            [("ipv4", "192.0.2.1"), ("ipv4", "192.0.2.2"), ("domain", "a.example")],
        ),
        ("[email-addr:value = 'It\\'s@Example.ORG']", [("email", "It's@example.org")]),
    ],
)
def test_fast_path_reduces_plain_comparisons(pattern: str, values: list[tuple[str, str]]) -> None:
    assert _fast(pattern) is not None
    reduction = reduce_pattern(pattern)
    assert reduction.values == tuple(Observable(*v) for v in values)
    assert reduction.matchable


@pytest.mark.parametrize(
    "pattern",
    [
        "[ipv4-addr:value = '198.51.100.7'] WITHIN 300 SECONDS",
        "[domain-name:value MATCHES '^evil']",
        "[ipv4-addr:value = '198.51.100.7'] FOLLOWEDBY [domain-name:value = 'a.example']",
        "[network-traffic:dst_port = 443]",
        "[process:name = 'evil.exe']",
    ],
)
def test_other_patterns_are_kept_but_not_matchable(pattern: str) -> None:
    assert _fast(pattern) is None or not reduce_pattern(pattern).matchable
    assert reduce_pattern(pattern).matchable is False


@pytest.mark.parametrize(
    ("pattern", "values"),
    [
        ("[autonomous-system:number = 64500]", [("asn", "64500")]),
        (  # MISP ip-dst|port: the port narrows the address
            "[network-traffic:dst_ref.type = 'ipv4-addr' AND "
            "network-traffic:dst_ref.value = '198.51.100.9' AND network-traffic:dst_port = 8443]",
            [("ipv4", "198.51.100.9")],
        ),
        (  # MISP hostname|port
            "[network-traffic:dst_ref.value = 'C2.Example' AND network-traffic:dst_port = 80]",
            [("domain", "c2.example")],
        ),
        (  # MISP domain|ip (the grammar path: a [*] step)
            "[domain-name:value = 'a.example' AND "
            "domain-name:resolves_to_refs[*].value = '2001:db8::1']",
            [("domain", "a.example"), ("ipv6", "2001:db8::1")],
        ),
        (  # MISP filename|sha256: the name narrows the hash
            "[file:name = 'a.exe' AND file:hashes.'SHA-256' = '" + "c" * 64 + "']",
            [("sha256", "c" * 64)],
        ),
    ],
)
def test_composite_patterns_are_matchable_by_their_values(
    pattern: str, values: list[tuple[str, str]]
) -> None:
    reduction = reduce_pattern(pattern)
    assert reduction.values == tuple(Observable(*v) for v in values)
    assert reduction.matchable


@pytest.mark.parametrize(
    "pattern",
    [
        "[file:name = 'a.exe']",  # narrowing terms alone name nothing
        "[network-traffic:dst_ref.value = '198.51.100.9' AND network-traffic:dst_port > 1024]",
        "[autonomous-system:number = 99999999999]",
    ],
)
def test_narrowing_alone_or_by_range_is_not_matchable(pattern: str) -> None:
    assert reduce_pattern(pattern).matchable is False


def test_grammar_path_still_yields_equality_values() -> None:
    reduction = reduce_pattern("[ipv4-addr:value = '198.51.100.7'] WITHIN 300 SECONDS")
    assert reduction.values == (Observable("ipv4", "198.51.100.7"),)


@pytest.mark.parametrize("pattern", ["[ipv4-addr:value = ", "ipv4-addr:value = '1.2.3.4'", "[]"])
def test_invalid_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidInput, match="invalid STIX pattern"):
        reduce_pattern(pattern)
