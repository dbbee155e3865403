"""The vocabulary of playbook files and the parser that reads one, noting every problem with
its file:line and key (``playbook_files`` has the format)."""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from watchkeeper.errors import InvalidInput
from watchkeeper.respond.playbook_model import Step, StepKind, Where
from watchkeeper.respond.playbook_yaml import YamlMap, line_of

# The action vocabulary of the runner's registry (the runner owns the implementations).
STANDARD_ACTIONS = frozenset(
    [
        "create_case",
        "update_case",
        "add_observable",
        "add_note",
        "merge_alerts",
        "enrich",
        "score_indicator",
        "tag_indicator",
        "block",
        "notify_webhook",
        "notify_email",
        "share_to_peers",
        "preserve_evidence",
        "draft_cooperation_request",
        "wait",
        "set_variable",
        "http_request",
        "extract_observables",
    ]
)
# Actions that change nothing outside the run: side_effects defaults to false for them.
READ_ONLY_ACTIONS = frozenset({"enrich", "extract_observables", "set_variable", "wait"})

KINDS: tuple[StepKind, ...] = ("action", "condition", "approval", "wait", "foreach", "parallel")
TOP_KEYS = (
    "name",
    "title",
    "description",
    "trigger",
    "vars",
    "steps",
    "max_concurrent_runs",
    "timeout",
)
TRIGGER_KEYS = ("event", "filter")
COMMON_KEYS = (
    "id",
    "name",
    "kind",
    "when",
    "retries",
    "retry_delay",
    "timeout",
    "on_error",
    "side_effects",
    "output",
)
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "action": ("action", "inputs"),
    "condition": ("expression", "then", "otherwise"),
    "approval": ("approval",),
    "wait": ("duration",),
    "foreach": ("items", "steps"),
    "parallel": ("steps",),
}
APPROVAL_KEYS = ("quorum", "roles", "users", "ttl", "escalate_to", "prompt")
ALL_STEP_KEYS = tuple(dict.fromkeys(COMMON_KEYS + sum(KIND_KEYS.values(), ())))

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")
STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
EVENT_TYPE = re.compile(r"^(\*|[a-z][a-z0-9_]*)(\.(\*|[a-z0-9_]+))*$")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}

MAX_STEPS = 200
MAX_DEPTH = 3
MAX_RETRIES = 10
BOUNDS = {  # seconds: (least, most)
    "timeout": (1.0, 86_400.0),
    "retry_delay": (0.0, 3_600.0),
    "duration": (1.0, 30 * 86_400.0),
    "ttl": (60.0, 30 * 86_400.0),
    "playbook timeout": (60.0, 30 * 86_400.0),
}
MAX_QUORUM = 20
MAX_TITLE = 300
MAX_CONCURRENT = 1_000


class PlaybookErrors(InvalidInput):
    """All the problems of one file; ``problems`` holds one ``InvalidInput`` each."""

    def __init__(self, problems: Sequence[InvalidInput], *, file: str) -> None:
        first = problems[0]
        super().__init__(
            "\n".join(problem.message for problem in problems),
            file=file,
            line=first.fields.get("line"),
            errors=[{"message": p.message, **p.fields} for p in problems],
        )
        self.problems = tuple(problems)


def version_of(text: str) -> str:
    """The version of a playbook text: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def parse_duration(value: Any) -> float:
    """Seconds from a number or ``30s``/``5m``/``2h``/``1d``/``1w``; ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, not {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = DURATION.match(str(value))
    if not match:
        raise ValueError(f"expected a duration like 30s, 5m, 2h or 1d, not {value!r}")
    return float(match.group(1)) * _UNIT[match.group(2)]


def suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass
class Level:
    """One list of steps: jumps and loops are checked within it."""

    steps: list[Step] = field(default_factory=list)


@dataclass(frozen=True)
class Expression:
    source: str
    path: str
    where: Where
    kind: str
    in_foreach: bool
    scope: tuple[tuple[Level, int], ...]


@dataclass
class Parser:
    file: str
    known_actions: Collection[str] | None
    problems: list[InvalidInput] = field(default_factory=list)
    levels: list[Level] = field(default_factory=list)
    all_steps: list[tuple[Step, bool]] = field(default_factory=list)  # (step, inside foreach)
    expressions: list[Expression] = field(default_factory=list)
    stack: list[Level] = field(default_factory=list)

    def where(self, line: int) -> Where:
        return Where(self.file, line)

    def error(self, line: int, key: str, message: str) -> None:
        self.problems.append(
            InvalidInput(
                f"{self.file}:{line}: {key}: {message}", file=self.file, line=line, key=key
            )
        )

    def unknown_keys(self, data: YamlMap, allowed: Sequence[str], prefix: str) -> None:
        for key in data:
            if key not in allowed:
                self.error(
                    data.key_lines[key],
                    f"{prefix}{key}",
                    f"unknown key{suggest(key, allowed)}; allowed: {', '.join(allowed)}",
                )

    def text(self, data: YamlMap, key: str, path: str, *, required: bool = False) -> str | None:
        if key not in data or data[key] is None:
            if required:
                self.error(data.line, path, "required")
            return None
        value = data[key]
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self.error(line_of(data, key), path, f"expected text, not {type(value).__name__}")
            return None
        return str(value)

    def seconds(
        self, data: YamlMap, key: str, path: str, default: float, bounds: str | None = None
    ) -> float:
        if key not in data:
            return default
        try:
            value = parse_duration(data[key])
        except ValueError as exc:
            self.error(line_of(data, key), path, str(exc))
            return default
        least, most = BOUNDS[bounds or key]
        if not least <= value <= most:
            self.error(line_of(data, key), path, f"{value:g} s is outside {least:g}..{most:g} s")
        return value

    def integer(
        self, data: YamlMap, key: str, path: str, default: int, least: int, most: int
    ) -> int:
        if key not in data:
            return default
        value = data[key]
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(line_of(data, key), path, f"expected a whole number, not {value!r}")
            return default
        if not least <= value <= most:
            self.error(line_of(data, key), path, f"{value} is outside {least}..{most}")
        return value

    def names(self, data: YamlMap, key: str, path: str) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.error(line_of(data, key), path, "expected a list of names")
            return ()
        return tuple(dict.fromkeys(cast(list[str], value)))

    def expression(self, source: str, *, path: str, line: int, kind: str, in_foreach: bool) -> None:
        """Remembered, checked once every step id is known: the steps it may name are the
        earlier ones of its list and of the lists around it (what has run by then)."""
        scope = tuple((level, len(level.steps)) for level in self.stack)
        self.expressions.append(Expression(source, path, self.where(line), kind, in_foreach, scope))
