"""Warninglist matching throughput: normalised observables per second against compiled lists.

Lists: the shipped defaults plus a generated 10,000-entry hostname list and a generated
10,000-network CIDR list (IPv4 and IPv6), as a national feed's allow-lists might hold.
Values: WK_BENCH_VALUES (default 200,000) seeded-random normalised observables of every kind,
some inside the lists. The matcher runs ``match_many`` over all of them.
Baseline, measured in the same run: a naive linear scan (every entry of every list, compared
the obvious way with ``ipaddress`` and ``str`` operations) over a WK_BENCH_SAMPLE (default
2,000) value sample, scaled per value. Both must give the same answers on the sample, or the
benchmark fails.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from watchkeeper.intel import (
    Warninglist,
    WarninglistMatcher,
    default_warninglists,
    parse_warninglist,
)

VALUES = int(os.environ.get("WK_BENCH_VALUES", "200000"))
SAMPLE = int(os.environ.get("WK_BENCH_SAMPLE", "2000"))
SEED = 20241128
TLDS = ("com", "net", "org", "io", "info", "de", "ru", "xyz")
ADDRESS_ATTRIBUTES = ["ip-src", "ip-dst", "domain|ip"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _name(rng: random.Random) -> str:
    return f"{rng.getrandbits(40):x}.{rng.choice(TLDS)}"


def _ipv4(rng: random.Random) -> str:
    return str(ipaddress.IPv4Address(rng.getrandbits(32)))


def _lists(rng: random.Random) -> tuple[list[Warninglist], list[str], list[Network]]:
    hosts = [_name(rng) for _ in range(10_000)]
    networks: list[Network] = []
    while len(networks) < 10_000:
        if rng.random() < 0.9:
            address, prefix = rng.getrandbits(32), rng.randint(12, 28)
            networks.append(ipaddress.ip_network((address, prefix), strict=False))
        else:
            address, prefix = (0x2000 << 112) | rng.getrandbits(112), rng.randint(24, 64)
            networks.append(ipaddress.ip_network((address, prefix), strict=False))
    generated = [
        parse_warninglist(
            {
                "name": "bench: generated hostnames",
                "version": 1,
                "description": "10,000 random registrable domains",
                "type": "hostname",
                "list": hosts,
                "matching_attributes": ["domain", "hostname", "url", "email-src"],
            },
            source="<bench>",
        ),
        parse_warninglist(
            {
                "name": "bench: generated networks",
                "version": 1,
                "description": "10,000 random networks",
                "type": "cidr",
                "list": [str(network) for network in networks],
                "matching_attributes": ADDRESS_ATTRIBUTES,
            },
            source="<bench>",
        ),
    ]
    return default_warninglists() + generated, hosts, networks


def _observables(
    rng: random.Random, count: int, hosts: list[str], networks: list[Any]
) -> list[tuple[str, str]]:
    def domain() -> str:
        roll = rng.random()
        if roll < 0.15:
            return f"www{rng.randint(0, 9)}.{rng.choice(hosts)}"
        if roll < 0.18:
            return rng.choice(("example.com", "cdn.example.net", "printer.local", "a.test"))
        return _name(rng)

    def ipv4() -> str:
        roll = rng.random()
        if roll < 0.1:
            network = rng.choice(networks)
            if network.version == 4:
                offset = rng.randrange(network.num_addresses)
                return str(network.network_address + offset)
        if roll < 0.15:
            return f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        return _ipv4(rng)

    made: list[tuple[str, str]] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.25:
            made.append(("ipv4", ipv4()))
        elif roll < 0.30:
            address = ipaddress.IPv6Address((0x2000 << 112) | rng.getrandbits(112))
            made.append(("ipv6", str(address)))
        elif roll < 0.33:
            network = ipaddress.ip_network((ipv4(), rng.randint(24, 30)), strict=False)
            made.append(("cidr4", str(network)))
        elif roll < 0.58:
            made.append(("domain", domain()))
        elif roll < 0.73:
            host = domain() if rng.random() < 0.9 else ipv4()
            made.append(("url", f"https://{host}/{rng.getrandbits(32):x}/index.php?id=1"))
        elif roll < 0.80:
            made.append(("email", f"user{rng.randint(0, 999)}@{domain()}"))
        else:
            kind, bits = rng.choice((("md5", 128), ("sha1", 160), ("sha256", 256)))
            value = f"{rng.getrandbits(bits):0{bits // 4}x}"
            if rng.random() < 0.01:
                value = "d41d8cd98f00b204e9800998ecf8427e"
                kind = "md5"
            made.append((kind, value))
    return made


class NaiveScan:
    """Every entry of every list, compared one by one: what a first implementation does."""

    def __init__(self, lists: list[Warninglist]) -> None:
        self.lists = []
        for warninglist in lists:
            kinds = set(warninglist.kinds)
            if warninglist.type == "hostname" and "domain" in kinds:
                kinds |= {"url", "email"}
            if warninglist.type == "cidr" and kinds & {"ipv4", "ipv6", "cidr4", "cidr6"}:
                kinds.add("url")
            entries: list[Any] = [entry.lower().strip(".") for entry in warninglist.entries]
            if warninglist.type == "cidr":
                entries = [ipaddress.ip_network(entry, strict=False) for entry in entries]
            self.lists.append((warninglist.name, warninglist.type, kinds, entries))

    def match(self, kind: str, value: str) -> tuple[str, ...]:
        host = value
        if kind == "url":
            host = urlsplit(value).hostname or ""
        elif kind == "email":
            host = value.rpartition("@")[2]
        address: Any = None
        if kind in ("ipv4", "ipv6"):
            address = ipaddress.ip_address(value)
        elif kind in ("cidr4", "cidr6"):
            address = ipaddress.ip_network(value)
        elif kind == "url":
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                address = None
        found = []
        for name, list_type, kinds, entries in self.lists:
            if kind not in kinds:
                continue
            for entry in entries:
                if list_type == "string":
                    hit = value == entry
                elif list_type == "substring":
                    hit = entry in value
                elif list_type == "hostname":
                    hit = kind != "url" or address is None
                    hit = hit and (host == entry or host.endswith("." + entry))
                elif address is None or address.version != entry.version:
                    hit = False
                elif isinstance(address, ipaddress.IPv4Network | ipaddress.IPv6Network):
                    hit = address.subnet_of(entry)
                else:
                    hit = address in entry
                if hit:
                    found.append(name)
                    break
        return tuple(found)


def _line(metric: str, value: float, unit: str, baseline: float) -> None:
    record = {
        "bench": "warninglists",
        "metric": metric,
        "value": round(value, 2),
        "unit": unit,
        "baseline": round(baseline, 2),
        "ratio": round(value / baseline, 3),
    }
    print(json.dumps(record), flush=True)


def main() -> None:
    """Measure and print the figures."""
    rng = random.Random(SEED)
    lists, hosts, networks = _lists(rng)
    observables = _observables(rng, VALUES, hosts, networks)
    sample = observables[:SAMPLE]

    started = time.perf_counter()
    matcher = WarninglistMatcher(lists)
    compiled = time.perf_counter() - started
    matcher.match_many(sample)  # warm the caches of name combinations
    started = time.perf_counter()
    results = matcher.match_many(observables)
    fast = len(observables) / (time.perf_counter() - started)

    naive = NaiveScan(lists)
    started = time.perf_counter()
    expected = [naive.match(kind, value) for kind, value in sample]
    slow = len(sample) / (time.perf_counter() - started)

    differ = [
        (observable, got, want)
        for observable, got, want in zip(sample, results[: len(sample)], expected, strict=True)
        if got != want
    ]
    if differ:
        for observable, got, want in differ[:5]:
            print(f"# disagree on {observable}: matcher {got}, naive {want}", file=sys.stderr)
        raise SystemExit(f"matcher and naive scan disagree on {len(differ)} of {len(sample)}")
    entries = sum(len(warninglist.entries) for warninglist in lists)
    flagged = sum(1 for result in results if result)
    print(
        f"# {len(lists)} lists, {entries} entries, compiled in {compiled:.3f} s; "
        f"{len(observables)} values, {flagged} flagged; "
        f"baseline: naive linear scan over {len(sample)} values (same answers)",
        file=sys.stderr,
    )
    _line("match_throughput", fast, "values/s", slow)


if __name__ == "__main__":
    main()
