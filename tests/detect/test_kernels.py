"""The compiled kernels at their edges: where a value's bytes sit, what they leave to the
general path, and more hits than the first output has room for."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import polars as pl

from watchkeeper.detect import IndicatorIndex, match_column
from watchkeeper.detect.kernels import views


def _hits(index: IndicatorIndex, values: list[str | None] | pl.Series, field: str) -> set[tuple]:
    series = values if isinstance(values, pl.Series) else pl.Series(values, dtype=pl.String)
    return set(match_column(index=index, values=series, field=field).to_frame().rows())


def test_names_inline_long_short_and_with_a_trailing_dot() -> None:
    index = IndicatorIndex.from_rows(
        kinds=["domain", "domain", "domain"],
        values=["a.io", "evil.example", "deep.under.evil.example"],
        refs=[1, 2, 3],
    )
    names = [
        "x.a.io",  # inline, under a domain shorter than eight bytes
        "a-very-long-subdomain-name.A.IO.",  # in a data buffer, upper case, trailing dot
        "a.io",
        "io",
        "ok.example",
        "x.Deep.Under.EVIL.example",  # two indicators: the name's parent and grandparent
        "",
        None,
    ]
    assert _hits(index, names, "domain") == {
        (0, "domain", 1),
        (1, "domain", 1),
        (2, "domain", 1),
        (5, "domain", 2),
        (5, "domain", 3),
    }


def test_a_name_with_non_ascii_bytes_is_matched_once_by_the_general_path() -> None:
    index = IndicatorIndex.from_rows(
        kinds=["domain", "domain"], values=["evil.example", "b.evil.example"], refs=[1, 2]
    )
    # The kernel meets "Ü" after probing "evil.example" and "b.evil.example": the row goes to
    # the general path, and the kernel's own hits for it are dropped, so none counts twice.
    names = ["Ü.b.evil.example", "b.evil.example", "ÄÖ"]
    assert _hits(index, names, "domain") == {
        (0, "domain", 1),
        (0, "domain", 2),
        (1, "domain", 1),
        (1, "domain", 2),
    }


def test_names_spread_over_several_data_buffers() -> None:
    index = IndicatorIndex.from_rows(kinds=["domain"], values=["evil.example"], refs=[9])
    first = pl.Series(["host-number-one.evil.example", "benign-host.example.org"] * 50)
    second = pl.Series(["other-benign-host.example.net", "host-number-two.evil.example"] * 50)
    column = pl.concat([first, second]).rechunk()
    assert len(views(column).bases) == 2  # the kernels read both, one after the other
    hits = _hits(index, column, "domain")
    expected = {(row, "domain", 9) for row in range(0, 100, 2)}
    expected |= {(row, "domain", 9) for row in range(101, 200, 2)}
    assert hits == expected


def test_addresses_of_every_length_and_the_ipv6_path() -> None:
    index = IndicatorIndex.from_rows(
        kinds=["ipv4", "ipv4", "cidr4", "cidr4", "ipv6", "cidr6"],
        values=[
            "1.2.3.4",
            "200.100.100.100",
            "200.100.0.0/16",
            "200.100.100.0/24",
            "2001:db8::1",
            "2001:db8::/64",
        ],
        refs=[1, 2, 3, 4, 5, 6],
    )
    addresses = [
        "1.2.3.4",  # seven bytes
        "200.100.100.100",  # fifteen: in a data buffer, exact and in both networks
        "200.100.7.7",  # only the /16
        "01.2.3.4",  # not canonical
        "1.2.3",
        "1.2.3.4.5",
        "200.100.100.1000",
        "::ffff:1.2.3.4",  # IPv6, not the IPv4 indicator
        "2001:DB8::1",
        "2001:db8::abcd:1",
        "  padded value with a colon: far in",
        None,
    ]
    assert _hits(index, addresses, "ip") == {
        (0, "ipv4", 1),
        (1, "ipv4", 2),
        (1, "cidr4", 4),
        (2, "cidr4", 3),
        (8, "ipv6", 5),
        (8, "cidr6", 6),
        (9, "cidr6", 6),
    }


def test_more_hits_than_the_first_output_holds() -> None:
    refs = list(range(1, 3001))
    index = IndicatorIndex.from_rows(
        kinds=["domain"] * 3000, values=["evil.example"] * 3000, refs=refs
    )
    hits = match_column(
        index=index, values=pl.Series(["a.evil.example", "ok.example"]), field="domain"
    )
    assert len(hits) == 3000
    assert set(hits.rows.tolist()) == {0}
    assert sorted(hits.refs.tolist()) == refs


def test_kernels_compile_without_a_cache_folder() -> None:
    """Where numba can write no cache it refuses ``cache=True``; matching must still work."""
    script = textwrap.dedent(
        """
        import numba
        plain = numba.njit

        def refusing(*args, **options):
            if options.get("cache"):
                raise RuntimeError("cannot cache function: no locator available")
            return plain(*args, **options)

        numba.njit = refusing
        import polars as pl
        from watchkeeper.detect import IndicatorIndex, match_column
        index = IndicatorIndex.from_rows(kinds=["domain"], values=["evil.example"], refs=[3])
        hits = match_column(index=index, values=pl.Series(["a.evil.example"]), field="domain")
        print(hits.refs.tolist())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[3]"
