"""Instrument packs: the law of a cooperation treaty as data that legal staff can correct.

Several rules of the UN Convention against Cybercrime are recalled rather than read in the
adopted text, so no rule lives in code: each request type, content item, refusal ground,
deadline and safeguard is a record carrying its article and a ``verified`` flag. The packs
ship as YAML in ``watchkeeper/data/instruments``; a file in ``<data dir>/instruments/`` whose
``id`` matches a shipped pack is deep-merged over it (one corrected article or flag, without
copying the pack), and a new ``id`` adds an instrument. Every error names the file, the key
path and the line.

Parsing and validating the packs costs tens of milliseconds, and every step of a request
needs its pack, so the result is memoised by the identity of the files it was built from
(path, size, modification time): a corrected override is seen at the next call, and the
models are frozen, so sharing them is safe.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from watchkeeper.errors import InvalidInput, NotFound

FOLDER = "instruments"
MAX_FILE_BYTES = 512 * 1024
KEY = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
DEADLINE_KEYS = ("preservation-min", "domestic-order-max", "mla-follow-up", "safe-conduct")
SERVICE_LEVEL_KEYS = ("ack", "expeditiously", "promptly", "forthwith")
# Sections whose mapping keys become the ``key`` field of each item.
KEYED_SECTIONS = (
    "request_types",
    "offences",
    "refusal_grounds",
    "never_valid_grounds",
    "safeguards",
)

Path_ = tuple[str | int, ...]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    """Where a rule comes from: its article, whether it was read in a primary text, a note."""

    article: str
    verified: bool = False
    note: str = ""


class _Keyed(Rule):
    key: str
    label: str

    @field_validator("key")
    @classmethod
    def _key_format(cls, value: str) -> str:
        if not KEY.match(value):
            raise ValueError(f"{value!r} is not a lower-case hyphenated key")
        return value


class ContentItem(_Keyed):
    """One mandatory (or conditional) item of a request's contents."""

    required: Literal["always", "where-possible", "unless-service"] = "always"


class GroundRule(_Keyed):
    """A ground for refusing (or, in ``never_valid_grounds``, never refusing) a request."""


class OffenceRule(_Keyed):
    """An offence the instrument establishes (key ``art-N``)."""


class SafeguardRule(_Keyed):
    """One item of the safeguards checklist."""


class RequestTypeRule(_Keyed):
    """A kind of request: channels, contents, allowed refusal grounds, dual criminality."""

    channels: list[str]
    incoming_machine: Literal["preservation", "mla"]
    contents: list[ContentItem]
    refusal_grounds: list[str]
    dual_criminality: Literal["never", "reservation", "discretionary", "required"]
    period_required: bool = False
    data_categories: list[str] = []
    urgent_default: bool = False

    def content(self, key: str) -> ContentItem | None:
        """The content item ``key``, or ``None``."""
        return next((item for item in self.contents if item.key == key), None)


class Deadline(Rule):
    """A hard deadline in days."""

    days: int
    renewable: bool = False


class ServiceLevel(Rule):
    """A configurable service level for a qualitative term ("expeditiously"...)."""

    minutes: int
    label: str


class SeriousCrime(Rule):
    """The serious-crime threshold: maximum penalty of at least ``years`` (0: any offence)."""

    years: int


class EntryIntoForce(Rule):
    """Entry-into-force arithmetic; ``date`` overrides the computed general date once known."""

    instruments_needed: int
    days_after: int
    later_days_after: int
    denunciation_days: int
    later_article: str = ""
    denunciation_article: str = ""
    date: dt.date | None = None


class Instrument(_Strict):
    """One treaty as data."""

    id: str
    title: str
    short: str
    default: bool = False
    source: str = ""
    request_types: dict[str, RequestTypeRule]
    offences: dict[str, OffenceRule]
    serious_crime_min_years: SeriousCrime
    refusal_grounds: dict[str, GroundRule]
    never_valid_grounds: dict[str, GroundRule]
    deadlines: dict[str, Deadline]
    service_levels: dict[str, ServiceLevel]
    safeguards: dict[str, SafeguardRule]
    entry_into_force: EntryIntoForce

    def request_type(self, key: str) -> RequestTypeRule:
        """The rules of request type ``key`` (``InvalidInput`` naming the valid types)."""
        found = self.request_types.get(key)
        if found is None:
            raise InvalidInput(
                f"unknown request type {key!r} under {self.short}; valid types: "
                f"{', '.join(self.request_types)}",
                field="type",
                instrument=self.id,
                valid=list(self.request_types),
            )
        return found

    def ground(self, key: str) -> GroundRule | None:
        """A refusal ground, allowed or never valid, by key (``None`` if unknown)."""
        return self.refusal_grounds.get(key) or self.never_valid_grounds.get(key)


# -- reading YAML with the line of every key --------------------------------------------------


class _Source:
    """One YAML file read as plain data, with the line of each key path."""

    def __init__(self, text: str, *, file: str) -> None:
        self.file = file
        self.lines: dict[Path_, int] = {}
        if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
            raise InvalidInput(f"{file}:1: larger than {MAX_FILE_BYTES // 1024} KiB", file=file)
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if not isinstance(node, yaml.MappingNode):
                raise InvalidInput(f"{file}:1: expected a mapping (an instrument)", file=file)
            self.data: dict[str, Any] = self._convert(loader, node, ())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = mark.line + 1 if mark is not None else 1
            problem = getattr(exc, "problem", None) or str(exc)
            raise InvalidInput(
                f"{file}:{line}: not valid YAML: {problem}", file=file, line=line
            ) from None
        finally:
            loader.dispose()

    def _convert(self, loader: yaml.SafeLoader, node: yaml.Node, path: Path_) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            mapping: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node)
                if not isinstance(key, str):
                    line = key_node.start_mark.line + 1
                    raise InvalidInput(
                        f"{self.file}:{line}: keys must be text, not {key!r}",
                        file=self.file,
                        line=line,
                    )
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                mapping[key] = self._convert(loader, value_node, (*path, key))
            return mapping
        if isinstance(node, yaml.SequenceNode):
            return [self._convert(loader, item, (*path, i)) for i, item in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    def line(self, path: Path_) -> int | None:
        """The line of the deepest part of ``path`` this file defines."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def _merge(base: Any, over: Any) -> Any:
    """``over`` deep-merged onto ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return over


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    """Give keyed items their ``key`` and turn a contents mapping into the ordered list."""
    result = dict(data)
    for section in KEYED_SECTIONS:
        items = result.get(section)
        if isinstance(items, dict):
            result[section] = {
                key: {"key": key, **item} if isinstance(item, dict) else item
                for key, item in items.items()
            }
    kinds = result.get("request_types")
    if isinstance(kinds, dict):
        for kind in kinds.values():
            contents = kind.get("contents") if isinstance(kind, dict) else None
            if isinstance(contents, dict):
                kind["contents"] = [
                    {"key": key, **item} if isinstance(item, dict) else item
                    for key, item in contents.items()
                ]
    return result


def _yaml_path(raw: dict[str, Any], loc: tuple[int | str, ...]) -> Path_:
    """Translate a pydantic location into the key path written in YAML (content keys)."""
    path: list[str | int] = []
    node: Any = raw
    for part in loc:
        if isinstance(node, dict) and isinstance(part, int) and path[-1:] == ["contents"]:
            part = list(node)[part] if part < len(node) else part
        path.append(part)
        node = node.get(part) if isinstance(node, dict) else None
    return tuple(path)


class _Pack:
    """One instrument's merged data and the files it came from (last file wins)."""

    def __init__(self, source: _Source) -> None:
        self.raw = source.data
        self.sources = [source]

    def merge(self, source: _Source) -> None:
        self.raw = _merge(self.raw, source.data)
        self.sources.append(source)

    def where(self, path: Path_) -> tuple[str, int | None]:
        """The file and line that wrote ``path`` (or its deepest written parent)."""
        best: tuple[int, str, int | None] = (-1, self.sources[-1].file, None)
        for source in self.sources:
            for end in range(len(path), -1, -1):
                if path[:end] in source.lines and end >= best[0]:
                    best = (end, source.file, source.lines[path[:end]])
                    break
        return best[1], best[2]

    def fail(self, path: Path_, problem: str) -> InvalidInput:
        file, line = self.where(path)
        at = f"{file}:{line}" if line is not None else file
        dotted = ".".join(str(part) for part in path)
        return InvalidInput(
            f"{at}: {dotted}: {problem}" if dotted else f"{at}: {problem}",
            file=file,
            line=line,
            field=dotted or None,
        )

    def build(self) -> Instrument:
        try:
            instrument = Instrument.model_validate(_normalise(self.raw))
        except ValidationError as exc:
            error = exc.errors()[0]
            path = _yaml_path(self.raw, tuple(error["loc"]))
            raise self.fail(path, error["msg"]) from None
        self._check(instrument)
        return instrument

    def _check(self, instrument: Instrument) -> None:
        if not KEY.match(instrument.id):
            raise self.fail(("id",), f"{instrument.id!r} is not a lower-case hyphenated key")
        for section in ("deadlines", "service_levels"):
            for key in getattr(instrument, section):
                if not KEY.match(key):
                    raise self.fail((section, key), "not a lower-case hyphenated key")
        for key in DEADLINE_KEYS:
            if key not in instrument.deadlines:
                raise self.fail(("deadlines",), f"missing deadline {key!r}")
        for key in SERVICE_LEVEL_KEYS:
            if key not in instrument.service_levels:
                raise self.fail(("service_levels",), f"missing service level {key!r}")
        for key in instrument.never_valid_grounds:
            if key in instrument.refusal_grounds:
                raise self.fail(
                    ("never_valid_grounds", key), "is also listed as an allowed refusal ground"
                )
        for name, kind in instrument.request_types.items():
            if not kind.channels:
                raise self.fail(("request_types", name, "channels"), "at least one channel")
            for index, ground in enumerate(kind.refusal_grounds):
                path: Path_ = ("request_types", name, "refusal_grounds", index)
                if ground in instrument.never_valid_grounds:
                    raise self.fail(path, f"{ground!r} is never a valid ground")
                if ground not in instrument.refusal_grounds:
                    raise self.fail(path, f"unknown refusal ground {ground!r}")


def _read(entry: Traversable | Path, where: str) -> _Source:
    data = entry.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(f"{where}: larger than {MAX_FILE_BYTES // 1024} KiB", file=where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{where}: not UTF-8 text", file=where) from None
    source = _Source(text, file=where)
    if not isinstance(source.data.get("id"), str):
        raise InvalidInput(f"{where}:1: id: missing (the instrument id)", file=where, field="id")
    return source


def _stamps(data_dir: Path | None) -> tuple[tuple[str, int, int], ...]:
    local = data_dir / FOLDER if data_dir is not None else None
    if local is None or not local.is_dir():
        return ()
    stamps = []
    for path in sorted(local.iterdir()):
        if path.suffix in (".yaml", ".yml") and path.is_file():
            info = path.stat()
            stamps.append((path.name, info.st_size, info.st_mtime_ns))
    return tuple(stamps)


def load_instruments(data_dir: Path | None = None) -> dict[str, Instrument]:
    """The shipped packs, corrected or extended by ``<data_dir>/instruments/*.yaml``."""
    return dict(_load(data_dir, _stamps(data_dir)))


@functools.lru_cache(maxsize=16)
def _load(data_dir: Path | None, stamps: tuple[tuple[str, int, int], ...]) -> dict[str, Instrument]:
    """The packs as :func:`load_instruments` builds them; ``stamps`` key the memo."""
    packs: dict[str, _Pack] = {}
    shipped = resources.files("watchkeeper") / "data" / FOLDER
    for entry in sorted(shipped.iterdir(), key=lambda item: item.name):
        if entry.name.endswith((".yaml", ".yml")):
            source = _read(entry, f"data/{FOLDER}/{entry.name}")
            packs[source.data["id"]] = _Pack(source)
    local = data_dir / FOLDER if data_dir is not None else None
    if local is not None and local.is_dir():
        for path in sorted(local.iterdir()):
            if path.suffix in (".yaml", ".yml") and path.is_file():
                source = _read(path, f"{FOLDER}/{path.name}")
                pack = packs.get(source.data["id"])
                if pack is None:
                    packs[source.data["id"]] = _Pack(source)
                else:
                    pack.merge(source)
    instruments = {key: pack.build() for key, pack in packs.items()}
    defaults = [key for key, instrument in instruments.items() if instrument.default]
    if len(defaults) != 1:
        raise InvalidInput(
            f"exactly one instrument must have default: true; found {len(defaults)}"
            f" ({', '.join(defaults) or 'none'})",
            field="default",
            defaults=defaults,
        )
    return instruments


def get_instrument(data_dir: Path | None, instrument_id: str | None = None) -> Instrument:
    """One instrument by id, or the default one (``NotFound`` naming the known ids)."""
    instruments = load_instruments(data_dir)
    if instrument_id is None:
        return next(item for item in instruments.values() if item.default)
    found = instruments.get(instrument_id)
    if found is None:
        raise NotFound(
            f"unknown instrument {instrument_id!r}; known: {', '.join(sorted(instruments))}",
            field="instrument",
        )
    return found
