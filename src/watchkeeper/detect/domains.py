"""Registrable domains and labels of DNS names, as stages of a Polars lazy query.

First-seen analytics count registrable domains (``a.b.example.co.uk`` -> ``example.co.uk``) and
the DGA model scores the registrable label (``example``): that is the part an attacker's
algorithm chooses, while subdomains and suffixes are shared with benign traffic. There is no
public-suffix dependency: a short built-in list of common multi-label suffixes covers the
national second levels seen most. A name under an unlisted one (``x.example.gov.zz``) yields
the suffix itself (``gov.zz``): every name under it then counts as one domain, which can hide
a rare one from first-seen analytics, and the DGA model scores ``gov``. Extend the list when a
constituency's suffixes are missing; ``tldextract`` is not a dependency.
"""

from __future__ import annotations

import polars as pl

MULTI_LABEL_SUFFIXES: frozenset[str] = frozenset(
    f"{second}.{country}"
    for country, seconds in {
        "uk": "co ac gov org ltd plc me net nhs police sch",
        "au": "com net org edu gov asn id",
        "nz": "co net org ac govt geek school",
        "jp": "co ne or ac go ad ed gr lg",
        "kr": "co ne or ac go re",
        "cn": "com net org edu gov ac",
        "hk": "com net org edu gov idv",
        "tw": "com net org edu gov idv",
        "sg": "com net org edu gov per",
        "my": "com net org edu gov",
        "in": "co net org firm gen ind ac edu gov res",
        "id": "co or ac go web net sch",
        "th": "co or ac go in net",
        "br": "com net org gov edu art blog eco",
        "ar": "com net org gob edu int",
        "mx": "com net org gob edu",
        "co": "com net org gov edu",
        "pe": "com net org gob edu",
        "cl": "gob",
        "ve": "com net org gob",
        "za": "co net org gov ac web",
        "ng": "com net org gov edu",
        "ke": "co or ac go ne",
        "eg": "com net org gov edu",
        "ma": "co net org gov ac",
        "tn": "com net org gov ens",
        "tr": "com net org gov edu bel",
        "il": "co net org gov ac muni",
        "sa": "com net org gov edu",
        "ae": "co net org gov ac",
        "ua": "com net org gov edu in",
        "ru": "com net org msk spb",
        "pl": "com net org gov edu waw",
        "fr": "gouv asso com tm",
        "es": "com org gob edu nom",
        "it": "gov edu",
        "pt": "com org gov edu",
        "be": "ac",
        "at": "co or ac gv",
        "gr": "com net org gov edu",
        "cy": "com net org gov ac",
        "ph": "com net org gov edu",
        "pk": "com net org gov edu",
        "vn": "com net org gov edu",
        "bd": "com net org gov edu",
        "lk": "com net org gov edu",
    }.items()
    for second in seconds.split()
)
IPV4_LITERAL = r"^\d{1,3}(\.\d{1,3}){3}$"


def with_registrable(
    frame: pl.LazyFrame, *, column: str, domain: str | None = None, label: str | None = None
) -> pl.LazyFrame:
    """Add the registrable ``domain`` and/or ``label`` of the names in ``column``.

    ``www.Example.co.uk.`` -> ``example.co.uk`` and ``example``; a single-label name is its
    own domain and label; IP literals and empty names give nulls. Computed in stages of
    plain columns (cleaned name, labels, how many labels to keep) rather than one nested
    expression, which Polars would evaluate again for each use: about three times faster.
    """
    clean = pl.col(column).str.to_lowercase().str.strip_chars().str.strip_chars_end(".")
    staged = (
        frame.with_columns(clean.alias("_wk_clean"))
        .with_columns(
            pl.when(
                pl.col("_wk_clean").str.contains(IPV4_LITERAL)
                | pl.col("_wk_clean").str.contains(":", literal=True)
                | (pl.col("_wk_clean") == "")
            )
            .then(pl.lit(None, pl.List(pl.String)))
            .otherwise(pl.col("_wk_clean").str.split("."))
            .alias("_wk_parts"),
            pl.col("_wk_clean").str.extract(r"([^.]+\.[^.]+)$").alias("_wk_last_two"),
        )
        .with_columns(pl.col("_wk_parts").list.len().cast(pl.Int64).alias("_wk_count"))
        .with_columns(
            pl.when(
                (pl.col("_wk_count") >= 3)
                & pl.col("_wk_last_two").is_in(list(MULTI_LABEL_SUFFIXES))
            )
            .then(pl.lit(3, pl.Int64))
            .otherwise(pl.min_horizontal(pl.col("_wk_count"), pl.lit(2, pl.Int64)))
            .alias("_wk_take")
        )
    )
    added = []
    if domain is not None:
        added.append(
            pl.col("_wk_parts")
            .list.slice(-pl.col("_wk_take"), pl.col("_wk_take"))
            .list.join(".")
            .alias(domain)
        )
    if label is not None:
        added.append(
            pl.col("_wk_parts").list.get(-pl.col("_wk_take"), null_on_oob=True).alias(label)
        )
    return staged.with_columns(added).drop(
        "_wk_clean", "_wk_parts", "_wk_last_two", "_wk_count", "_wk_take"
    )
