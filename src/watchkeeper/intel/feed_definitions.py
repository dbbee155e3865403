"""Feed definitions: the declarative description of a CSV or plain-text list, checked once.

Public block lists come in a handful of shapes (one value a line, hosts files, CSV with
``#`` comments, RPZ zones); a definition says which shape, where the list lives, what kind of
value it holds and which TLP, confidence and lifetime its indicators get. Definitions are YAML
files (or CLI options) and are stored as the JSON :meth:`FeedSpec.document` gives, so a stored
feed is re-checked by the same code on every pull. Unknown keys are refused, not ignored: a
misspelt ``lifetime`` silently dropped would keep indicators alive forever.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from watchkeeper.core import KINDS, parse_tlp
from watchkeeper.errors import InvalidInput

FEED_FORMATS = ("text", "csv", "hosts", "rpz", "misp-feed")
COLUMN_FIELDS = ("value", "first_seen", "description", "confidence")
MAX_DEFINITION_BYTES = 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_LIFETIME = re.compile(r"([1-9][0-9]{0,5})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_KEYS = (
    "name", "source", "format", "type", "columns", "delimiter", "comment", "skip_header",
    "tlp", "confidence", "lifetime", "description",
)  # fmt: skip


@dataclass(frozen=True)
class FeedSpec:
    """A checked feed definition; build it with :func:`parse_definition`."""

    name: str
    format: str
    source: str | None = None
    type: str = "auto"
    columns: dict[str, int] = field(default_factory=lambda: {"value": 0})
    delimiter: str = ","
    comment: str = "#"
    skip_header: bool = False
    tlp: str | None = None
    confidence: int | None = None
    lifetime: str | None = None
    description: str | None = None

    @property
    def lifetime_delta(self) -> timedelta | None:
        """The lifetime as a duration (``30d`` -> 30 days); None: indicators never expire."""
        if self.lifetime is None:
            return None
        match = _LIFETIME.fullmatch(self.lifetime)
        assert match is not None  # checked by parse_definition
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})

    def document(self) -> dict[str, Any]:
        """As JSON, the form stored in ``intel_feeds`` and read back by :func:`parse_definition`."""
        document: dict[str, Any] = {"name": self.name, "format": self.format, "type": self.type}
        optional = {
            "source": self.source,
            "tlp": self.tlp,
            "confidence": self.confidence,
            "lifetime": self.lifetime,
            "description": self.description,
        }
        document.update({key: value for key, value in optional.items() if value is not None})
        if self.format == "csv":
            document.update(
                columns=dict(self.columns), delimiter=self.delimiter, skip_header=self.skip_header
            )
        if self.format != "misp-feed":
            document["comment"] = self.comment
        return document


def _fail(where: str, key: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{where}: field {key}: {reason}", file=where, field=key)


def _text(document: dict[str, Any], key: str, where: str, *, limit: int = 1000) -> str | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _fail(where, key, f"expected a non-empty text of at most {limit} characters")
    return value.strip()


def check_source(source: str, *, where: str = "definition") -> str:
    """``source`` if it is an http(s) URL or a local path; other URL schemes are refused."""
    scheme, sep, _rest = source.partition("://")
    if sep and scheme.lower() not in ("http", "https"):
        raise _fail(where, "source", f"{scheme}:// is not supported; give a path or http(s) URL")
    return source


def _columns(value: Any, where: str) -> dict[str, int]:
    if not isinstance(value, dict) or "value" not in value:
        raise _fail(where, "columns", "expected a mapping with at least 'value: <column number>'")
    columns: dict[str, int] = {}
    for key, number in value.items():
        if key not in COLUMN_FIELDS:
            raise _fail(where, f"columns.{key}", f"unknown; known: {', '.join(COLUMN_FIELDS)}")
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < 1000:
            raise _fail(where, f"columns.{key}", "expected a column number from 0 (the first)")
        columns[key] = number
    return columns


def parse_definition(document: Any, *, where: str = "definition") -> FeedSpec:
    """Check a definition (parsed YAML or stored JSON); ``InvalidInput`` names file and field."""
    if not isinstance(document, dict):
        raise InvalidInput(f"{where}: expected a mapping of definition fields", file=where)
    unknown = sorted(str(key) for key in document if key not in _KEYS)
    if unknown:
        raise _fail(where, unknown[0], f"unknown field; known: {', '.join(_KEYS)}")
    name = _text(document, "name", where, limit=200)
    if name is None or not _NAME.fullmatch(name):
        raise _fail(
            where, "name", "1 to 200 letters, digits, '.', '_' or '-', not starting with '.'"
        )
    fmt = document.get("format")
    if fmt not in FEED_FORMATS:
        raise _fail(where, "format", f"expected one of {', '.join(FEED_FORMATS)}")
    source = _text(document, "source", where)
    kind = document.get("type", "domain" if fmt in ("hosts", "rpz") else "auto")
    if kind != "auto" and kind not in KINDS:
        raise _fail(where, "type", f"expected auto or one of {', '.join(KINDS)}")
    tlp = document.get("tlp")
    if tlp is not None:
        try:
            tlp = parse_tlp(str(tlp)).value
        except InvalidInput as exc:
            raise _fail(where, "tlp", exc.message) from None
    confidence = document.get("confidence")
    if confidence is not None and (
        not isinstance(confidence, int)
        or isinstance(confidence, bool)
        or not 0 <= confidence <= 100
    ):
        raise _fail(where, "confidence", "expected a whole number from 0 to 100")
    lifetime = document.get("lifetime")
    if lifetime is not None:
        lifetime = str(lifetime).strip().lower()
        if not _LIFETIME.fullmatch(lifetime):
            raise _fail(where, "lifetime", "expected a number and a unit m, h, d or w (e.g. 30d)")
    delimiter = document.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"':
        raise _fail(where, "delimiter", "expected one character (not a quote or line break)")
    comment = document.get("comment", ";" if fmt == "rpz" else "#")
    if not isinstance(comment, str) or not 1 <= len(comment) <= 10 or comment.strip() != comment:
        raise _fail(where, "comment", "expected a prefix of 1 to 10 non-space characters")
    skip_header = document.get("skip_header", False)
    if not isinstance(skip_header, bool):
        raise _fail(where, "skip_header", "expected true or false")
    if "columns" in document and fmt != "csv":
        raise _fail(where, "columns", "only for format csv")
    columns = _columns(document.get("columns", {"value": 0}), where)
    return FeedSpec(
        name=name,
        format=fmt,
        source=None if source is None else check_source(source, where=where),
        type=kind,
        columns=columns,
        delimiter=delimiter,
        comment=comment,
        skip_header=skip_header,
        tlp=tlp,
        confidence=confidence,
        lifetime=lifetime,
        description=_text(document, "description", where),
    )


def read_definition(path: Path) -> FeedSpec:
    """The definition in a YAML file; ``InvalidInput`` names the file (and line, for bad YAML)."""
    where = str(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_DEFINITION_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"{where}: cannot read: {exc.strerror or exc}", file=where) from None
    if len(data) > MAX_DEFINITION_BYTES:
        raise InvalidInput(f"{where}: more than {MAX_DEFINITION_BYTES} bytes", file=where)
    return parse_yaml(data, where=where)


def parse_yaml(data: bytes | str, *, where: str) -> FeedSpec:
    """A definition from YAML text; ``safe_load`` only, so a file cannot build Python objects."""
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        at = f" line {line}" if line is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(
            f"{where}:{at} not valid YAML: {reason}", file=where, line=line
        ) from None
    return parse_definition(document, where=where)


def builtin_definitions() -> dict[str, FeedSpec]:
    """The shipped templates (``data/feeds/*.yaml``) by name; sources are given when adding."""
    folder = resources.files("watchkeeper") / "data" / "feeds"
    found: dict[str, FeedSpec] = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".yaml"):
            spec = parse_yaml(entry.read_bytes(), where=f"data/feeds/{entry.name}")
            found[spec.name] = spec
    return found


def builtin_definition(name: str) -> FeedSpec:
    """One shipped template by name; ``InvalidInput`` lists the known ones."""
    known = builtin_definitions()
    if name not in known:
        raise InvalidInput(
            f"no built-in feed definition {name!r}; known: {', '.join(known)}", field="definition"
        )
    return known[name]
