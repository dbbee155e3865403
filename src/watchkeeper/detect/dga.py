"""How likely a domain name is to come from a domain-generation algorithm (DGA), explained.

Malware that finds its controller through generated names (a fresh batch a day, most never
registered) shows up in DNS logs as names no human would choose. This needs no indicator: a
character model learns how human-chosen registrable labels are spelt, and a name is scored on
how badly it fits, plus a few plain features an analyst can check by eye (length, digits,
entropy, consonant runs, vowels). Every score comes with the features and the reasons that
pushed it up, so an analyst can dismiss or escalate without trusting a black box.

Model. A smoothed character trigram model (Jelinek-Mercer interpolation with bigram and
unigram) over the registrable label (``www.shop.example.co.uk`` -> ``example``), trained on the
project's own benign list (``data/dga/benign.txt``, made by ``scripts/dga_benign.py``). The
features are combined by an L2 logistic regression fitted between benign labels scored
out-of-fold (five folds: a name never scores against a model that learnt it) and uniformly
random labels (a generic "machine-made" class, not any malware family, so the tests' families
stay unseen); the alert threshold is where 98% of a fresh random draw is still caught, which on
the tests' held-out benign vocabulary costs about 1.5% false positives. Training takes well
under a second from the shipped text, so the model is trained at first use and cached: no
binary blob in the repository, and the list stays reviewable and regenerable.

Speed. Only distinct names are scored; each batch is encoded straight from the Arrow buffer to
character codes, n-gram codes come from array arithmetic, log-probabilities from a dense table
(40**3 floats) and per-name sums from ``bincount``: no Python per name.

Known weakness: dictionary DGAs (two English words glued together, as Suppobox or Matsnu do)
spell like people and score low. Random-character families are what this catches.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from watchkeeper.detect.domains import with_registrable
from watchkeeper.errors import InvalidInput

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

SIZE = 40  # 0 other, 1-26 letters, 27-36 digits, 37 '-', 38 '_', 39 start/end of label
BOUNDARY = 39
ORDER = 3
CHUNK = 1 << 16  # names per vectorised batch: bounds the memory of the per-name count matrix
FEATURES = (
    "ngram_per_char",
    "length",
    "digit_ratio",
    "entropy",
    "consonant_run",
    "vowel_ratio",
)
# Which way each feature may push towards "generated" (0: either way). A weight fitted with the
# other sign only reflects correlation with another feature and would give an explanation no
# analyst can follow ("too many vowels"), so that feature is dropped and the fit redone.
DIRECTIONS = np.array([-1.0, 0.0, 1.0, 1.0, 1.0, -1.0])
REASON_MIN = 0.25  # logit units a feature must add to be named as a reason
MACHINE_RECALL = 0.98  # share of uniformly random labels the threshold must still catch
SEED = 20261205


def _code_table() -> I64:
    table = np.zeros(256, np.int64)
    for offset, char in enumerate("abcdefghijklmnopqrstuvwxyz"):
        table[ord(char)] = 1 + offset
        table[ord(char.upper())] = 1 + offset
    for offset, char in enumerate("0123456789"):
        table[ord(char)] = 27 + offset
    table[ord("-")] = 37
    table[ord("_")] = 38
    return table


CODES = _code_table()
LETTER = np.zeros(SIZE, np.bool_)
LETTER[1:27] = True
DIGIT = np.zeros(SIZE, np.bool_)
DIGIT[27:37] = True
VOWEL = np.zeros(SIZE, np.bool_)
VOWEL[[1 + "abcdefghijklmnopqrstuvwxyz".index(v) for v in "aeiouy"]] = True
CONSONANT = LETTER & ~VOWEL


@dataclass(frozen=True)
class Encoded:
    """Labels as one flat array of character codes with per-label offsets."""

    codes: I64
    offsets: I64  # len(labels) + 1

    @property
    def lengths(self) -> I64:
        return np.diff(self.offsets)


def encode(labels: pl.Series) -> Encoded:
    """Character codes read from the Arrow buffer of ``labels`` (nulls become empty labels)."""
    array = labels.cast(pl.String).fill_null("").to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = array.cast(pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    buffer = array.buffers()[2]
    data = np.frombuffer(buffer, np.uint8) if buffer is not None else np.empty(0, np.uint8)
    codes = CODES[data[offsets[0] : offsets[-1]]]
    return Encoded(codes=codes, offsets=offsets - offsets[0])


def ngrams(encoded: Encoded, *, order: int = ORDER) -> tuple[I64, I64]:
    """(n-gram codes, owning label) of every label padded with boundaries on both sides.

    A label of n characters gives n + 1 n-grams: one ending on each character and one on the
    end boundary, so both how a name starts and how it ends count. Each code is the base-SIZE
    number of its symbols, newest lowest; a symbol before the label's start is the boundary.
    """
    lengths = encoded.lengths
    count = len(lengths)
    codes = encoded.codes
    owner_chars = np.repeat(np.arange(count, dtype=np.int64), lengths)
    within = np.arange(len(codes), dtype=np.int64) - encoded.offsets[owner_chars]
    inner = codes.copy()
    ends = np.full(count, sum(BOUNDARY * SIZE**back for back in range(order)), np.int64)
    last = encoded.offsets[1:] - 1
    for back in range(1, order):
        weight = SIZE**back
        earlier = np.full(len(codes), BOUNDARY, np.int64)
        earlier[back:] = codes[: len(codes) - back]
        inner += np.where(within >= back, earlier, BOUNDARY) * weight
        # The end n-gram's symbol ``back`` places before the end is character n - back.
        reach = lengths >= back
        ends[reach] += (codes[last[reach] - back + 1] - BOUNDARY) * weight
    return (
        np.concatenate([inner, ends]),
        np.concatenate([owner_chars, np.arange(count, dtype=np.int64)]),
    )


def log_probabilities(encoded: Encoded, *, order: int = ORDER) -> F64:
    """Interpolated log-probability table (natural log) indexed by n-gram code."""
    tables: list[F64] = []
    for level in range(1, order + 1):
        grams, _ = ngrams(encoded, order=level)
        counts = np.bincount(grams, minlength=SIZE**level).astype(np.float64)
        if level == 1:
            tables.append((counts + 1.0) / (counts.sum() + SIZE))
            continue
        shaped = counts.reshape(-1, SIZE)
        context = shaped.sum(axis=1, keepdims=True)
        own = np.divide(shaped, context, out=np.zeros_like(shaped), where=context > 0)
        # Row = context (earlier symbols), column = next symbol; the lower order drops the
        # oldest symbol of the context, which is tiling its table once per dropped symbol.
        lower = np.tile(tables[-1].reshape(-1, SIZE), (SIZE, 1))
        weight = 0.7 if level == order else 0.75
        mixed = np.where(context > 0, weight * own + (1 - weight) * lower, lower)
        tables.append(mixed.reshape(-1))
    return np.log(tables[-1])


def _features(encoded: Encoded, table: F64, *, order: int) -> F64:
    """One row per label: the columns of ``FEATURES``."""
    lengths = encoded.lengths
    count = len(lengths)
    result = np.zeros((count, len(FEATURES)), np.float64)
    if count == 0:
        return result
    grams, owner = ngrams(encoded, order=order)
    loglik = np.bincount(owner, weights=table[grams], minlength=count)
    result[:, 0] = loglik / (lengths + 1)
    result[:, 1] = lengths
    codes = encoded.codes
    owner_chars = np.repeat(np.arange(count, dtype=np.int64), lengths)
    digits = np.bincount(owner_chars, weights=DIGIT[codes], minlength=count)
    letters = np.bincount(owner_chars, weights=LETTER[codes], minlength=count)
    vowels = np.bincount(owner_chars, weights=VOWEL[codes], minlength=count)
    safe = np.maximum(lengths, 1)
    result[:, 2] = digits / safe
    # Sum over characters of log2(count of that character in its label) = sum of n log2 n.
    key = owner_chars * SIZE + codes
    per_char = np.bincount(key, minlength=count * SIZE)
    spread = np.bincount(owner_chars, weights=np.log2(per_char[key]), minlength=count)
    result[:, 3] = np.where(lengths > 0, np.log2(safe) - spread / safe, 0.0)
    # Longest consonant run: distance to the last non-consonant (or the label's start).
    index = np.arange(len(codes), dtype=np.int64)
    consonant = CONSONANT[codes]
    breaker = np.where(consonant, encoded.offsets[owner_chars] - 1, index)
    run = index - np.maximum.accumulate(breaker) if len(codes) else index
    filled = np.flatnonzero(lengths > 0)
    if len(filled):
        result[filled, 4] = np.maximum.reduceat(run, encoded.offsets[filled])
    result[:, 5] = np.divide(vowels, letters, out=np.zeros(count), where=letters > 0)
    return result


def _random_labels(rng: np.random.Generator, count: int) -> list[str]:
    """Uniformly random labels: the machine-made class the regression separates from."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    mixed = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    lengths = rng.integers(6, 25, count)
    labels = []
    for at, length in enumerate(lengths):
        alphabet = mixed if at % 5 == 0 else letters
        labels.append("".join(rng.choice(alphabet, int(length))))
    return labels


def _fit(x: F64, y: F64, *, penalty: float = 1.0, steps: int = 25) -> F64:
    """L2-penalised logistic regression by Newton steps; weights with the bias last."""
    design = np.hstack([x, np.ones((len(x), 1))])
    weights = np.zeros(design.shape[1])
    ridge = penalty * np.eye(design.shape[1])
    ridge[-1, -1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-design @ weights))
        gradient = design.T @ (p - y) + ridge @ weights
        hessian = (design * (p * (1 - p))[:, None]).T @ design + ridge
        weights -= np.linalg.solve(hessian, gradient)
    return weights


@dataclass(frozen=True)
class DgaModel:
    """A trained model: n-gram table, feature scaling, regression weights and threshold."""

    table: F64
    order: int
    mean: F64  # of benign features, out-of-fold
    scale: F64
    weights: F64  # one per feature, then the bias
    threshold: float
    benign_median: F64  # per feature, for the explanations

    @classmethod
    def train(cls, *, names: Sequence[str], order: int = ORDER, seed: int = SEED) -> DgaModel:
        """Learn from benign ``names`` (full domain names or labels); reproducible by seed."""
        frame = pl.LazyFrame({"n": pl.Series(list(names), dtype=pl.String)})
        labels = (
            with_registrable(frame, column="n", label="l")
            .select("l")
            .collect()
            .drop_nulls()
            .filter(pl.col("l") != "")
            .unique(maintain_order=True)
            .to_series()
        )
        if len(labels) < 100:
            raise InvalidInput(
                f"a DGA model needs at least 100 distinct benign labels, got {len(labels)}",
                field="names",
            )
        rng = np.random.default_rng(seed)
        folds = rng.integers(0, 5, len(labels))
        benign = np.zeros((len(labels), len(FEATURES)))
        for fold in range(5):
            inside = pl.Series(folds == fold)
            table = log_probabilities(encode(labels.filter(~inside)), order=order)
            benign[folds == fold] = _features(encode(labels.filter(inside)), table, order=order)
        table = log_probabilities(encode(labels), order=order)
        machine = _features(encode(pl.Series(_random_labels(rng, len(labels)))), table, order=order)
        mean = benign.mean(axis=0)
        scale = np.where(benign.std(axis=0) > 0, benign.std(axis=0), 1.0)
        x = (np.vstack([benign, machine]) - mean) / scale
        y = np.concatenate([np.zeros(len(benign)), np.ones(len(machine))])
        used = np.ones(len(FEATURES), np.bool_)
        while True:
            fitted = _fit(x[:, used], y)
            weights = np.zeros(len(FEATURES) + 1)
            weights[np.flatnonzero(used)] = fitted[:-1]
            weights[-1] = fitted[-1]
            wrong = (weights[:-1] * DIRECTIONS < 0) & used
            if not wrong.any():
                break
            used &= ~wrong
        model = cls(
            table=table,
            order=order,
            mean=mean,
            scale=scale,
            weights=weights,
            threshold=0.5,
            benign_median=np.median(benign, axis=0),
        )
        # Out-of-fold benign scores overstate how well unseen vocabulary fits (the folds share
        # words), so the threshold is placed from the other side: where a fresh draw of random
        # labels is still caught at MACHINE_RECALL; never below an even chance.
        check = pl.Series(_random_labels(rng, len(labels)))
        machine_scores = model.scores(model.features(check))
        threshold = float(max(np.quantile(machine_scores, 1 - MACHINE_RECALL), 0.5))
        return dataclasses.replace(model, threshold=threshold)

    def features(self, labels: pl.Series) -> F64:
        """Feature matrix (rows of ``FEATURES``) of the labels."""
        return _features(encode(labels), self.table, order=self.order)

    def contributions(self, features: F64) -> F64:
        """Each feature's share of the logit, relative to an average benign name."""
        return ((features - self.mean) / self.scale) * self.weights[:-1]

    def scores(self, features: F64) -> F64:
        """Probability-like score in [0, 1] from the features."""
        logit: F64 = self.contributions(features).sum(axis=1) + self.weights[-1]
        return np.asarray(1.0 / (1.0 + np.exp(-logit)), np.float64)


@functools.cache
def default_model() -> DgaModel:
    """The model trained on the shipped benign list, once per process."""
    text = resources.files("watchkeeper").joinpath("data/dga/benign.txt").read_text("utf-8")
    return DgaModel.train(names=[line for line in text.split() if line])


def _reasons(model: DgaModel) -> list[pl.Expr]:
    """One reason text per feature, in the order of ``FEATURES``."""
    median = model.benign_median
    return [
        pl.format(
            "n-gram log-likelihood {}/char (benign median {})",
            pl.col("ngram_per_char").round(2),
            pl.lit(round(float(median[0]), 2)),
        ),
        pl.format(
            "{} characters (benign median {})",
            pl.col("length"),
            pl.lit(int(median[1])),
        ),
        pl.format(
            "{} digits in {} characters",
            (pl.col("digit_ratio") * pl.col("length")).round(0).cast(pl.Int64),
            pl.col("length"),
        ),
        pl.format(
            "entropy {} bits (benign median {})",
            pl.col("entropy").round(2),
            pl.lit(round(float(median[3]), 2)),
        ),
        pl.format("{} consonants in a row", pl.col("consonant_run")),
        pl.format(
            "vowel share {}% of letters (benign median {}%)",
            (pl.col("vowel_ratio") * 100).round(0).cast(pl.Int64),
            pl.lit(round(float(median[5]) * 100)),
        ),
    ]


def _score_labels(model: DgaModel, labels: pl.Series) -> pl.DataFrame:
    features = model.features(labels)
    contributions = model.contributions(features)
    count = len(labels)
    top = np.argsort(-contributions, axis=1, kind="stable")[:, :3]
    strong = np.take_along_axis(contributions, top, axis=1) >= REASON_MIN
    frame = pl.DataFrame(
        {"score": model.scores(features), **{n: features[:, i] for i, n in enumerate(FEATURES)}}
    ).with_columns(pl.col("length").cast(pl.Int64), pl.col("consonant_run").cast(pl.Int64))
    # All reason texts stacked in one column (feature-major), then each row's chosen reasons
    # picked by position: one gather per rank instead of a list per row.
    stacked = frame.select(_reasons(model)).unpivot()["value"]
    rows = np.arange(count, dtype=np.int64)
    picked = [
        stacked.gather(pl.Series(top[:, k] * count + rows).set(pl.Series(~strong[:, k]), None))
        for k in range(3)
    ]
    plain = stacked.slice(0, count)
    return frame.with_columns(
        pl.when(picked[0].is_null())
        .then(pl.lit("spelt like benign names: ") + plain)
        .otherwise(pl.concat_str(picked, separator="; ", ignore_nulls=True))
        .alias("explanation")
    )


def dga_scores(*, names: pl.Series, model: DgaModel | None = None) -> pl.DataFrame:
    """Score each distinct name: ``name``, ``label``, ``score``, ``dga`` (score at or over the
    model's threshold), the features and an ``explanation`` of the three strongest reasons.

    Nulls are dropped; IP literals, empty names and internationalised labels (punycode
    ``xn--``: their ASCII form is an encoding, not a spelling the model knows) are kept with
    score 0 and say why they were not scored.
    """
    if names.dtype not in (pl.String, pl.Categorical, pl.Enum, pl.Null):
        raise InvalidInput(
            f"DGA scoring needs a column of names, got {names.dtype}", field=names.name
        )
    model = model or default_model()
    frame = pl.LazyFrame({"name": names.cast(pl.String)}).drop_nulls().unique(maintain_order=True)
    distinct = (
        with_registrable(frame, column="name", label="label")
        .with_columns(
            pl.when(pl.col("label").is_null() | (pl.col("label") == ""))
            .then(pl.lit("not scored: an IP literal or an empty name"))
            .when(pl.col("label").str.starts_with("xn--"))
            .then(pl.lit("not scored: an internationalised (punycode) label"))
            .alias("_skip")
        )
        .collect()
    )
    named = distinct.filter(pl.col("_skip").is_null())
    parts = [
        pl.concat(
            [
                named.slice(start, CHUNK).select("name", "label"),
                _score_labels(model, named["label"].slice(start, CHUNK)),
            ],
            how="horizontal",
        )
        for start in range(0, named.height, CHUNK)
    ]
    columns = ["name", "label", "score", "dga", *FEATURES, "explanation"]
    scored = (
        pl.concat(parts)
        if parts
        else _score_labels(model, pl.Series([], dtype=pl.String)).with_columns(
            pl.Series("name", [], pl.String), pl.Series("label", [], pl.String)
        )
    ).with_columns((pl.col("score") >= model.threshold).alias("dga"))
    skipped = (
        distinct.filter(pl.col("_skip").is_not_null())
        .with_columns(
            pl.lit(0.0).alias("score"),
            pl.lit(False).alias("dga"),
            *[pl.lit(None, pl.Float64).alias(name) for name in FEATURES],
            pl.col("_skip").alias("explanation"),
        )
        .with_columns(pl.col("length").cast(pl.Int64), pl.col("consonant_run").cast(pl.Int64))
    )
    return pl.concat([scored.select(columns), skipped.select(columns)])
