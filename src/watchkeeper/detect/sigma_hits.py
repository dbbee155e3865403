"""Evaluating compiled Sigma rules on a telemetry frame, on distinct values.

Why distinct values: telemetry repeats itself. A day of process creations has a few thousand
executables, parents and users, and most command lines recur across hosts; testing every
event's strings again and again was the cost that dominated. So, per batch:

1. each column a rule reads is reduced once to its distinct values and, per event, the index
   of its value (a categorical cast with fresh categories: one hashing pass, no sort); a null
   gets its own slot at the end;
2. per log source group, every distinct test of every rule on that column (a rule's tests on
   one column are already merged into one, ``sigma_expressions``) runs in one ``select`` over
   the distinct values only, lowercased once there; all case-insensitive ``contains``
   literals of the column, from every rule, are found in ONE Aho-Corasick pass
   (``needle_columns``) instead of a scan per literal per rule. Each answer is kept sparse
   (``Answer``), and a huge rule set is tested in runs (``CELLS``), so memory stays bounded;
3. each rule's plan is then boolean algebra over those answers, spread back to events with
   the index (a NumPy ``take``). AND evaluates its most selective part first (how many events
   a test holds for is known exactly from the value counts) and its next parts only on the
   events still alive; OR skips events already true. Rules fire rarely, so after the first
   part most rules touch a handful of events.

Nothing is built per event in Python; Python runs per rule and per distinct test. The log
source's row filter picks each group's rows once. Hits come back as arrays of frame row
numbers per rule.

A column a rule reads but the frame lacks counts as null everywhere: its tests are False
(``null`` and ``exists: false`` hold), and the rule's Sigma fields that had no column at all
are listed in ``missing_fields`` so a silent rule can be told from a blind one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from watchkeeper.detect.sigma_expressions import (
    IPV4,
    LOWER,
    NEEDLE,
    VALUE,
    AllOf,
    AnyOf,
    ColumnTest,
    Const,
    Node,
    Not,
    ipv4_numbers,
    plan_tests,
)
from watchkeeper.detect.sigma_rules import CompiledRule, RuleSet

I64 = npt.NDArray[np.int64]
Codes = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]
CELLS = 1 << 28  # bit-packed booleans held at once per column while testing its values
DENSE = 1 << 27  # booleans of dense answers kept per batch (beyond: rebuilt at each use)


@dataclass(frozen=True)
class RuleHits:
    """Rows of the frame each evaluated rule fired on, aligned with ``rule_ids``."""

    rule_ids: tuple[str, ...]
    rows: tuple[I64, ...]  # sorted row numbers of the evaluated frame
    missing_fields: dict[str, tuple[str, ...]]  # rule id -> Sigma fields with no column
    not_evaluated: tuple[str, ...]  # ids of unsupported rules

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.rows)

    def for_rule(self, rule_id: str) -> I64:
        """Rows one rule fired on (empty when it did not, or was not evaluated)."""
        found = [
            rows for ident, rows in zip(self.rule_ids, self.rows, strict=True) if ident == rule_id
        ]
        return np.concatenate(found) if found else np.empty(0, np.int64)

    def to_frame(self) -> pl.DataFrame:
        """One row per hit: ``rule_id`` and ``row``, ordered by rule then row."""
        sizes = [len(rows) for rows in self.rows]
        ids = pl.Series("rule_id", list(self.rule_ids), dtype=pl.String)
        return pl.DataFrame(
            {
                "rule_id": ids.gather(np.repeat(np.arange(len(sizes)), sizes)),
                "row": np.concatenate(self.rows) if self.rows else np.empty(0, np.int64),
            }
        )


@dataclass(frozen=True)
class Distinct:
    """One column of a frame as its distinct values (null last) and each row's index in them."""

    values: pl.Series  # strings; the last one is null
    codes: Codes | None  # per frame row; None when the column is absent (all null)


def distinct(*, frame: pl.DataFrame, column: str) -> Distinct:
    """The distinct values of ``column`` as strings, and the index of each row's value."""
    if column not in frame.columns:
        return Distinct(values=pl.Series(VALUE, [None], dtype=pl.String), codes=None)
    text = frame.get_column(column).cast(pl.String).alias(VALUE)
    # fresh categories: one hashing pass gives dense codes, and they are freed with the batch
    physical = text.cast(pl.Categorical(pl.Categories.random())).to_physical()
    top = physical.max()
    size = 0 if top is None else int(top) + 1  # type: ignore[arg-type]
    codes = physical.fill_null(size).to_numpy().astype(np.intp)
    where = np.zeros(size + 1, np.int64)  # a row holding each value (any one will do)
    where[codes] = np.arange(len(codes))
    values = text.gather(where[:size]).append(pl.Series(VALUE, [None], dtype=pl.String))
    return Distinct(values=values, codes=codes)


@dataclass(frozen=True)
class Answer:
    """Where one test holds over a column's distinct values, kept sparse: the positions of
    the rarer outcome. Tests rarely hold (or, negated, rarely fail), and a large rule set
    has thousands of tests; dense booleans for all of them would not fit a big batch. The
    dense form is also kept while a batch's budget (``DENSE``) allows: rebuilding it at each
    use costs when distinct values are many (command lines with unique tails)."""

    where: I64  # positions of the distinct values where the test holds (fails if flipped)
    flipped: bool
    size: int  # number of distinct values, the null slot included
    kept: Bools | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, held: Bools, keep: bool = False) -> Answer:
        """The sparse form of a dense answer (and the dense one when ``keep``)."""
        flipped = int(held.sum()) * 2 > len(held)
        where = np.flatnonzero(~held if flipped else held).astype(np.int64)
        return cls(where=where, flipped=flipped, size=len(held), kept=held if keep else None)

    def dense(self) -> Bools:
        """One boolean per distinct value."""
        if self.kept is not None:
            return self.kept
        out = np.full(self.size, self.flipped)
        out[self.where] = not self.flipped
        return out

    def held(self, counts: npt.NDArray[np.int64], total: int) -> int:
        """Rows it holds for, given each distinct value's row count."""
        rarer = int(counts[self.where].sum())
        return total - rarer if self.flipped else rarer


@dataclass
class _Group:
    """One log source group of a batch: its rows, and each column's answers per test."""

    size: int
    codes: dict[str, Codes | None]  # column -> index per group row (None: all null)
    counts: dict[str, npt.NDArray[np.int64]]  # column -> group rows per distinct value
    answers: dict[tuple[str, str], Answer]  # (column, test key) -> over distinct values
    shares: dict[tuple[str, str], float] = field(default_factory=dict)

    def share(self, node: Node) -> float:
        """Fraction of the group's rows a node holds for (exact for tests, else a bound)."""
        if isinstance(node, ColumnTest):
            key = (node.column, node.key)
            if key not in self.shares:
                answer = self.answers[key]
                if self.codes[node.column] is None:
                    self.shares[key] = float(answer.dense()[-1])
                else:
                    held = answer.held(self.counts[node.column], self.size)
                    self.shares[key] = held / self.size if self.size else 0.0
            return self.shares[key]
        if isinstance(node, Not):
            return 1.0 - self.share(node.part)
        if isinstance(node, AllOf):
            return min(self.share(part) for part in node.parts)
        if isinstance(node, AnyOf):
            return min(1.0, sum(self.share(part) for part in node.parts))
        return 1.0 if node.value else 0.0

    def run(self, node: Node, rows: I64 | None) -> Bools:
        """Whether ``node`` holds for each of ``rows`` (group row positions; None: all)."""
        size = self.size if rows is None else len(rows)
        if isinstance(node, Const):
            return np.full(size, node.value)
        if isinstance(node, Not):
            return ~self.run(node.part, rows)
        if isinstance(node, ColumnTest):
            return self.test(node, rows, size)
        parts = sorted(node.parts, key=self.share, reverse=isinstance(node, AnyOf))
        if isinstance(node, AllOf):
            alive: I64 | None = None  # positions in ``rows`` still true
            for part in parts:
                where = rows if alive is None else alive if rows is None else rows[alive]
                held = self.run(part, where)
                alive = np.flatnonzero(held) if alive is None else alive[held]
                if not len(alive):
                    break
            out = np.zeros(size, np.bool_)
            out[alive] = True
            return out
        out = np.zeros(size, np.bool_)
        left: I64 | None = None  # positions in ``rows`` still false
        for part in parts:
            where = rows if left is None else left if rows is None else rows[left]
            held = self.run(part, where)
            if left is None:
                out |= held
                left = np.flatnonzero(~held)
            else:
                out[left[held]] = True
                left = left[~held]
            if not len(left):
                break
        return out

    def test(self, node: ColumnTest, rows: I64 | None, size: int) -> Bools:
        key = (node.column, node.key)
        codes = self.codes[node.column]
        share = self.share(node)
        if codes is None or share in (0.0, 1.0):
            return np.full(size, share == 1.0)
        answer = self.answers[key].dense()
        return answer[codes if rows is None else codes[rows]]


def needle_columns(*, lower: pl.Series, needles: Sequence[str]) -> list[pl.Series]:
    """One boolean column per literal: does each lowercased value contain it? One
    Aho-Corasick pass for all of them (overlapping, so every needle present is reported,
    also one inside another), instead of one scan per needle per rule."""
    distinct = list(dict.fromkeys(needles))
    if not distinct:
        return []
    found = (
        pl.DataFrame({"match": lower.str.extract_many(distinct, overlapping=True)})
        .with_row_index("at")
        .explode("match")
        .drop_nulls()
    )
    index = {needle: k for k, needle in enumerate(distinct)}
    which = found.get_column("match").replace_strict(index, return_dtype=pl.Int64).to_numpy()
    small = which.astype(np.uint16) if len(distinct) <= 1 << 16 else which
    order = np.argsort(small, kind="stable")  # a radix sort for small needle numbers
    at = found.get_column("at").to_numpy()[order]
    bounds = np.searchsorted(which[order], np.arange(len(distinct) + 1))
    columns: dict[str, pl.Series] = {}
    for k, needle in enumerate(distinct):  # one needle at a time: bit-packed once built
        held = np.zeros(len(lower), np.bool_)
        held[at[bounds[k] : bounds[k + 1]]] = True
        columns[needle] = pl.Series(NEEDLE + needle, held)
    return [columns[needle] for needle in needles]


def _chunks(tests: Sequence[ColumnTest], size: int) -> list[list[ColumnTest]]:
    """Tests in runs whose answers and needle columns stay under ``CELLS`` booleans, so
    that thousands of rules on a column of a million distinct values still fit."""
    room = max(1, CELLS // max(size, 1))
    chunks: list[list[ColumnTest]] = []
    needles: set[str] = set()
    for test in tests:
        wanted = needles | {name for name in test.needs if name.startswith(NEEDLE)}
        if chunks and len(chunks[-1]) + len(wanted) < room:
            chunks[-1].append(test)
            needles = wanted
        else:
            chunks.append([test])
            needles = {name for name in test.needs if name.startswith(NEEDLE)}
    return chunks


def _answers(
    values: pl.Series, tests: Sequence[ColumnTest], column: str, keep: bool
) -> dict[tuple[str, str], Answer]:
    """Every test of one column on its distinct values: a few selects, each test once."""
    needs = set().union(*(test.needs for test in tests))
    base = values.to_frame()
    if LOWER in needs or any(name.startswith(NEEDLE) for name in needs):
        base = base.with_columns(pl.col(VALUE).str.to_lowercase().alias(LOWER))
    if IPV4 in needs:
        base = base.with_columns(ipv4_numbers(pl.col(VALUE)).alias(IPV4))
    answers: dict[tuple[str, str], Answer] = {}
    for chunk in _chunks(tests, len(values)):
        frame = base
        wanted = set().union(*(test.needs for test in chunk))
        needles = sorted(name[len(NEEDLE) :] for name in wanted if name.startswith(NEEDLE))
        if needles:
            lower = frame.get_column(LOWER)
            frame = frame.with_columns(needle_columns(lower=lower, needles=needles))
        result = frame.select(test.expr.alias(f"t{k}") for k, test in enumerate(chunk))
        for k, test in enumerate(chunk):
            held = result.get_column(f"t{k}").fill_null(False).to_numpy()
            answers[(column, test.key)] = Answer.of(held, keep=keep)
    return answers


def _group_rows(frame: pl.DataFrame, group: Sequence[CompiledRule]) -> I64 | None:
    """Row numbers the group's log source covers (None: every row)."""
    mapping = group[0].mapping
    assert mapping is not None
    mask = frame.select(mapping.row_filter(present=frame.columns)).to_series().fill_null(False)
    held = mask.to_numpy()
    if held.all():
        return None
    return np.flatnonzero(held).astype(np.int64)


def evaluate(*, rules: RuleSet, frame: pl.DataFrame) -> RuleHits:
    """Every supported rule on ``frame``; unsupported rules are listed, not evaluated."""
    present = set(frame.columns)
    groups: dict[tuple[str, str | None], list[CompiledRule]] = {}
    for rule in rules.supported:
        assert rule.mapping is not None
        groups.setdefault((rule.mapping.name, rule.mapping.fallback), []).append(rule)
    distincts: dict[str, Distinct] = {}
    found: dict[int, I64] = {}
    everything = np.arange(frame.height, dtype=np.int64)
    room = DENSE  # dense answers still allowed in this batch
    for group in groups.values():
        rows = _group_rows(frame, group)
        if rows is not None and not len(rows):
            for rule in group:
                found[id(rule)] = np.empty(0, np.int64)
            continue
        by_column: dict[str, dict[str, ColumnTest]] = {}
        for rule in group:
            assert rule.plan is not None
            for test in plan_tests(rule.plan):
                by_column.setdefault(test.column, {}).setdefault(test.key, test)
        batch = _Group(
            size=frame.height if rows is None else len(rows), codes={}, counts={}, answers={}
        )
        for column, tests in by_column.items():
            if column not in distincts:
                distincts[column] = distinct(frame=frame, column=column)
            seen = distincts[column]
            codes = seen.codes if rows is None or seen.codes is None else seen.codes[rows]
            batch.codes[column] = codes
            if codes is not None:
                batch.counts[column] = np.bincount(codes, minlength=len(seen.values))
            cells = len(tests) * len(seen.values)
            keep = cells <= room
            room -= cells if keep else 0
            batch.answers.update(_answers(seen.values, list(tests.values()), column, keep))
        base = everything if rows is None else rows
        for rule in group:
            assert rule.plan is not None
            found[id(rule)] = base[np.flatnonzero(batch.run(rule.plan, None))]
    evaluated = list(rules.supported)
    missing = {
        rule.id: tuple(
            sorted(name for name, columns in rule.fields.items() if not present & set(columns))
        )
        for rule in evaluated
    }
    return RuleHits(
        rule_ids=tuple(rule.id for rule in evaluated),
        rows=tuple(found[id(rule)] for rule in evaluated),
        missing_fields={ident: names for ident, names in missing.items() if names},
        not_evaluated=tuple(rule.id for rule in rules.unsupported),
    )


@dataclass(frozen=True)
class RuleTest:
    """What one rule did on a test log: fired (where), stayed silent, or was not evaluated."""

    rule_id: str
    title: str
    level: str | None
    file: str
    status: str  # "fired" | "silent" | "unsupported"
    reasons: tuple[str, ...]
    missing_fields: tuple[str, ...]
    events: tuple[tuple[str | None, int | None], ...]  # (log.file.path, log.file.line)


def rules_test(*, rules: RuleSet, frame: pl.DataFrame) -> list[RuleTest]:
    """Per rule, the (log.file.path, log.file.line) of the events it fires on, in rule order."""
    hits = evaluate(rules=rules, frame=frame)
    by_rule = {id(rule): k for k, rule in enumerate(rules.supported)}
    paths = frame["log.file.path"] if "log.file.path" in frame.columns else None
    lines = frame["log.file.line"] if "log.file.line" in frame.columns else None
    results: list[RuleTest] = []
    for rule in rules.rules:
        if not rule.supported:
            results.append(
                RuleTest(
                    rule_id=rule.id,
                    title=rule.title,
                    level=rule.level,
                    file=rule.file,
                    status="unsupported",
                    reasons=rule.unsupported,
                    missing_fields=(),
                    events=(),
                )
            )
            continue
        rows = hits.rows[by_rule[id(rule)]]
        where_paths = paths.gather(rows).to_list() if paths is not None else [None] * len(rows)
        where_lines = lines.gather(rows).to_list() if lines is not None else [None] * len(rows)
        results.append(
            RuleTest(
                rule_id=rule.id,
                title=rule.title,
                level=rule.level,
                file=rule.file,
                status="fired" if len(rows) else "silent",
                reasons=(),
                missing_fields=hits.missing_fields.get(rule.id, ()),
                events=tuple(zip(where_paths, where_lines, strict=True)),
            )
        )
    return results
