"""Registrable domains and labels, against the cases the analytics depend on."""

from __future__ import annotations

import polars as pl

from watchkeeper.detect.domains import with_registrable

CASES = {
    "www.Example.co.uk.": ("example.co.uk", "example"),
    "a.b.shop.example.com": ("example.com", "example"),
    "co.uk": ("co.uk", "co"),
    "x.impots.gouv.fr": ("impots.gouv.fr", "impots"),
    "localhost": ("localhost", "localhost"),
    "1.2.0.192.in-addr.arpa": ("in-addr.arpa", "in-addr"),
    "192.0.2.1": (None, None),
    "2001:db8::1": (None, None),
    "": (None, None),
    " Mail.Example.COM ": ("example.com", "example"),
}


def test_registrable_domain_and_label() -> None:
    frame = pl.LazyFrame({"n": list(CASES)})
    result = with_registrable(frame, column="n", domain="d", label="l").collect()
    assert result.columns == ["n", "d", "l"]
    got = {row[0]: (row[1], row[2]) for row in result.iter_rows()}
    assert got == CASES
    only_label = with_registrable(frame, column="n", label="l").collect()
    assert only_label.columns == ["n", "l"]
