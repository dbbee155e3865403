"""Observable normalisation throughput: 200,000 generated indicator values through ``normalise``.

The values are generated from a fixed seed in a feed-like mix: 30% IPv4 addresses, 5% IPv6
(some written out in full, upper case), 30% domains (some upper case, with a trailing dot, 1%
internationalised), 20% URLs (default and other ports, queries, percent escapes, fragments,
IP hosts) and 15% hex digests (MD5, SHA-1, SHA-256, SHA-512, some upper case). All are valid.

Baseline, measured in the same run over the same ``(kind, value)`` pairs: a function that does
nothing but ``Observable(kind, value.strip().lower())`` - one Python call, one pass over the
string and the same result tuple, the floor of any per-value normaliser written in Python. The
ratio is the share of that floor's throughput that real validation and canonicalisation keep.
One line for the whole mix, then one per kind against the floor on that kind's values. Each
figure is the best of ``WK_BENCH_ROUNDS`` (default 3) passes.
"""

from __future__ import annotations

import json
import os
import random
import string
import sys
import time
from collections.abc import Callable

from watchkeeper.core import Observable, normalise

COUNT = 200_000
ROUNDS = int(os.environ.get("WK_BENCH_ROUNDS", "3"))
LETTERS = string.ascii_lowercase + string.digits
TLDS = ("com", "net", "org", "example", "info", "ru", "cn", "io", "xyz", "de")


def _label(rng: random.Random) -> str:
    return "".join(rng.choices(LETTERS, k=rng.randint(3, 12)))


def _ipv4(rng: random.Random) -> str:
    return ".".join(str(rng.randint(low, 255 if low == 0 else 223)) for low in (1, 0, 0, 0))


def _ipv6(rng: random.Random) -> str:
    groups = [rng.randrange(0x10000) for _ in range(4)]
    if rng.random() < 0.3:
        return ":".join(f"{g:04X}" for g in [0x2001, 0xDB8, *groups[:2], 0, 0, 0, groups[3]])
    return f"2001:db8:{groups[0]:x}:{groups[1]:x}::{groups[3]:x}"


def _domain(rng: random.Random) -> str:
    labels = [_label(rng) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.01:
        labels[0] = rng.choice(("bücher", "пример", "münchen", "例え"))
    name = ".".join([*labels, rng.choice(TLDS)])
    if rng.random() < 0.2:
        name = name.upper()
    return name + "." if rng.random() < 0.1 else name


def _url(rng: random.Random) -> str:
    scheme = rng.choice(("http", "https", "HTTP"))
    host = _ipv4(rng) if rng.random() < 0.15 else _domain(rng).rstrip(".")
    port = rng.choice(("", "", "", ":80", ":443", ":8080"))
    path = "/".join(_label(rng) for _ in range(rng.randint(0, 4)))
    if rng.random() < 0.1:
        path += "/%7euser/a%2fb"
    query = f"?id={rng.randint(1, 99999)}&q={_label(rng)}" if rng.random() < 0.4 else ""
    fragment = "#top" if rng.random() < 0.05 else ""
    return f"{scheme}://{host}{port}/{path}{query}{fragment}"


def _digest(rng: random.Random) -> tuple[str, str]:
    kind, length = rng.choice((("md5", 32), ("sha1", 40), ("sha256", 64), ("sha512", 128)))
    text = "".join(rng.choices("0123456789abcdef", k=length))
    return kind, text.upper() if rng.random() < 0.2 else text


def values(count: int, *, seed: int = 20240501) -> list[tuple[str, str]]:
    """``count`` valid ``(kind, value)`` pairs in the mix the docstring describes."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    for _ in range(count):
        draw = rng.random()
        if draw < 0.30:
            pairs.append(("ipv4", _ipv4(rng)))
        elif draw < 0.35:
            pairs.append(("ipv6", _ipv6(rng)))
        elif draw < 0.65:
            pairs.append(("domain", _domain(rng)))
        elif draw < 0.85:
            pairs.append(("url", _url(rng)))
        else:
            pairs.append(_digest(rng))
    return pairs


def _floor(kind: str, value: str) -> Observable:
    return Observable(kind, value.strip().lower())


def _rate(function: Callable[[str, str], Observable], pairs: list[tuple[str, str]]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for kind, value in pairs:
            function(kind, value)
        best = min(best, time.perf_counter() - started)
    return len(pairs) / best


def _line(metric: str, value: float, baseline: float) -> None:
    record = {
        "bench": "observables",
        "metric": metric,
        "value": round(value),
        "unit": "values/s",
        "baseline": round(baseline),
        "ratio": round(value / baseline, 3),
    }
    print(json.dumps(record), flush=True)


def main() -> None:
    """Generate the values, check they all normalise, measure and print the figures."""
    pairs = values(COUNT)
    for kind, value in pairs:
        normalise(kind, value)  # every generated value is valid: a refusal is a bug here
    print(
        f"# {COUNT} values, best of {ROUNDS}; baseline: Observable(kind, value.strip().lower())",
        file=sys.stderr,
    )
    _line("normalise_per_s", _rate(normalise, pairs), _rate(_floor, pairs))
    for kind in ("ipv4", "ipv6", "domain", "url", "md5", "sha1", "sha256", "sha512"):
        subset = [pair for pair in pairs if pair[0] == kind]
        _line(f"normalise_{kind}_per_s", _rate(normalise, subset), _rate(_floor, subset))


if __name__ == "__main__":
    main()
