"""The vectorised matcher against a plain reference (sets, dicts, ``ipaddress``) on random data.

Hypothesis is not a dependency, so each property runs over many seeded random cases; a failing
seed is in the test id and reproduces exactly. Values are drawn from small spaces so that
exact hits, parents, nested networks and duplicates (one value, several indicators) all occur.
"""

from __future__ import annotations

import ipaddress
import random
from collections import defaultdict

import polars as pl
import pytest

from watchkeeper.core.observables import normalise, parent_domains
from watchkeeper.detect import IndicatorIndex, match_column, match_frame
from watchkeeper.errors import InvalidInput

LABELS = ["a", "b", "evil", "c2", "xn--bcher-kva", "_dmarc", "cdn", "example", "test"]
SEEDS = range(60)

Hit = tuple[int, str, int]


def _domain(rng: random.Random) -> str:
    return ".".join(rng.choice(LABELS) for _ in range(rng.randint(1, 5)))


def _ipv4(rng: random.Random) -> str:
    # Short quads sit in their Arrow view, long ones (up to 15 bytes) in a data buffer.
    if rng.random() < 0.5:
        return f"10.{rng.randint(0, 3)}.{rng.randint(0, 3)}.{rng.randint(0, 255)}"
    return f"198.{rng.randint(250, 251)}.{rng.randint(100, 103)}.{rng.randint(100, 255)}"


def _cidr4(rng: random.Random) -> str:
    network = ipaddress.ip_network(f"{_ipv4(rng)}/{rng.randint(8, 31)}", strict=False)
    return str(network)


def _ipv6(rng: random.Random) -> str:
    return str(ipaddress.IPv6Address((0x20010DB8 << 96) | rng.randint(0, 2**20)))


def _cidr6(rng: random.Random) -> str:
    return str(ipaddress.ip_network(f"{_ipv6(rng)}/{rng.randint(96, 127)}", strict=False))


def _indicators(rng: random.Random, count: int) -> list[tuple[str, str, int]]:
    makers = {
        "domain": _domain,
        "ipv4": _ipv4,
        "cidr4": _cidr4,
        "ipv6": _ipv6,
        "cidr6": _cidr6,
        "sha256": lambda r: f"{r.randint(0, 40):064x}",
        "md5": lambda r: f"{r.randint(0, 40):032x}",
        "url": lambda r: f"http://{_domain(r)}/{r.randint(0, 5)}",
        "email": lambda r: f"user{r.randint(0, 5)}@{_domain(r)}",
    }
    rows = []
    for _ in range(count):
        kind = rng.choice(list(makers))
        rows.append(
            (kind, normalise(kind, makers[kind](rng)).value, rng.randint(1, max(1, count // 2)))
        )
    return rows


def _reference(rows: list[tuple[str, str, int]], events: list[str | None], field: str) -> set[Hit]:
    """What should match, one event at a time, the obvious way."""
    by_value: dict[tuple[str, str], list[int]] = defaultdict(list)
    for kind, value, ref in rows:
        by_value[kind, value].append(ref)
    hits: set[Hit] = set()

    def add(row: int, kind: str, value: str) -> None:
        hits.update((row, kind, ref) for ref in by_value.get((kind, value), []))

    def longest(row: int, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        kind = "cidr4" if address.version == 4 else "cidr6"
        for length in range(address.max_prefixlen - 1, -1, -1):
            network = str(ipaddress.ip_network(f"{address}/{length}", strict=False))
            if (kind, network) in by_value:
                add(row, kind, network)
                return

    for row, event in enumerate(events):
        if event is None:
            continue
        if field == "domain":
            for name in parent_domains(event.lower().removesuffix(".")):
                add(row, "domain", name)
        elif field == "ip":
            try:
                kind = "ipv6" if ":" in event else "ipv4"
                text = normalise(kind, event).value
            except InvalidInput:
                continue
            if kind == "ipv4" and text != event:
                continue  # the matcher takes canonical dotted quads only
            add(row, kind, text)
            longest(row, ipaddress.ip_address(text))
        elif field == "hash":
            for kind in ("md5", "sha1", "sha256", "sha512"):
                add(row, kind, event.lower())
        else:
            try:
                add(row, field, normalise(field, event).value)
            except InvalidInput:
                continue
    return hits


def _events(rng: random.Random, field: str, rows: list[tuple[str, str, int]]) -> list[str | None]:
    known = [value for _, value, _ in rows]
    makers = {
        "domain": lambda: rng.choice([_domain(rng), f"{_domain(rng)}.", _domain(rng).upper()]),
        "ip": lambda: rng.choice([_ipv4(rng), _ipv6(rng), _ipv6(rng).upper(), "010.0.0.1", "x"]),
        "hash": lambda: rng.choice([f"{rng.randint(0, 40):064X}", f"{rng.randint(0, 40):032x}"]),
        "url": lambda: f"HTTP://{_domain(rng)}:80/{rng.randint(0, 5)}#frag",
        "email": lambda: f"user{rng.randint(0, 5)}@{_domain(rng).upper()}",
    }
    events: list[str | None] = []
    for _ in range(rng.randint(0, 300)):
        pick = rng.random()
        if pick < 0.05:
            events.append(None)
        elif pick < 0.3 and known:
            events.append(rng.choice(known).split("/")[0] if field == "ip" else rng.choice(known))
        else:
            events.append(makers[field]())
    return events


def _matched(index: IndicatorIndex, events: list[str | None], field: str) -> set[Hit]:
    frame = match_column(index=index, values=pl.Series(events, dtype=pl.String), field=field)
    return {(row, kind, ref) for row, kind, ref in frame.to_frame().rows()}


@pytest.mark.parametrize("field", ["domain", "ip", "hash", "url", "email"])
@pytest.mark.parametrize("seed", SEEDS)
def test_vectorised_equals_reference(seed: int, field: str) -> None:
    rng = random.Random(f"{seed}-{field}")
    rows = _indicators(rng, rng.randint(1, 120))
    index = IndicatorIndex.from_rows(
        kinds=[r[0] for r in rows], values=[r[1] for r in rows], refs=[r[2] for r in rows]
    )
    events = _events(rng, field, rows)
    assert _matched(index, events, field) == _reference(rows, events, field)


def test_parent_domains_and_longest_prefix() -> None:
    index = IndicatorIndex.from_rows(
        kinds=["domain", "domain", "cidr4", "cidr4", "ipv4"],
        values=["evil.example", "example", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.3"],
        refs=[1, 2, 3, 4, 5],
    )
    names = pl.Series(["a.b.evil.example", "EVIL.example.", "example", "other.example"])
    assert _matched(index, names.to_list(), "domain") == {
        (0, "domain", 1),
        (1, "domain", 1),
        (2, "domain", 2),  # a single label matches itself, but is nobody's parent
    }
    addresses = ["10.1.2.3", "10.1.9.9", "10.2.0.1", "11.0.0.1"]
    assert _matched(index, addresses, "ip") == {
        (0, "ipv4", 5),
        (0, "cidr4", 4),
        (1, "cidr4", 4),
        (2, "cidr4", 3),
    }


def test_match_frame_names_columns_and_an_empty_index() -> None:
    index = IndicatorIndex.from_rows(kinds=["domain"], values=["evil.example"], refs=[7])
    frame = pl.DataFrame({"q": ["x.evil.example", "ok.example"], "ip": ["1.1.1.1", None]})
    hits = match_frame(index=index, frame=frame, fields={"q": "domain", "ip": "ip"})
    assert hits.rows() == [(0, "q", "domain", 7)]
    empty = IndicatorIndex.from_rows(kinds=[], values=[], refs=[])
    assert len(match_column(index=empty, values=frame["q"], field="domain")) == 0
    assert empty.memory().raw_value_bytes == 0
    with pytest.raises(InvalidInput, match="unknown field"):
        match_column(index=index, values=frame["q"], field="port")
