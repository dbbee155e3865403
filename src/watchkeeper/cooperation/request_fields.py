"""What a person writes into a request: the form, as a typed model shared by file, API and UI.

A request file (YAML or JSON) and the API body have the same shape. Unknown keys are refused
rather than ignored, so a misspelt item (``custodain``) is reported instead of silently
leaving the request without it. Content items are free text keyed by the instrument pack's
item keys; which of them are required is decided later, by the pack (``checks``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from watchkeeper.errors import InvalidInput

IdentifierKind = Literal["ip", "account", "domain", "email", "phone", "url", "hash", "other"]
Category = Literal["subscriber", "traffic", "content", "other-stored"]


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Identifier(_Form):
    """One identifier of the data sought; an IP address means little without its time."""

    kind: IdentifierKind
    value: str = Field(min_length=1, max_length=2000)
    timestamp: str | None = Field(default=None, description="ISO 8601 with its UTC offset")
    timezone: str | None = Field(default=None, max_length=60)


class TimeRange(_Form):
    """The period of the data sought (both ends: an open range is a classic refusal)."""

    from_: str | None = Field(default=None, alias="from")
    until: str | None = None


class DataSought(_Form):
    """A category of data with its identifiers and time range."""

    category: Category
    identifiers: list[Identifier] = Field(default_factory=list)
    time_range: TimeRange | None = None
    description: str = ""


class Offence(_Form):
    """The offence basis (Art 35): a convention offence or a serious crime (Art 2)."""

    basis: str = ""
    max_penalty_years: float | None = Field(default=None, ge=0, le=200)
    summary: str = ""


class Period(_Form):
    """The period of real-time collection or interception and why it is that long (45, 46)."""

    from_: str | None = Field(default=None, alias="from")
    until: str | None = None
    justification: str = ""


class RequestFields(_Form):
    """Every field of a request a person may set; all optional until the request is checked."""

    peer: str | None = None
    channel: str | None = None
    language: str | None = None
    urgent: bool | None = None
    confidential: bool | None = None
    no_user_notice: bool | None = None
    contents: dict[str, str] = Field(default_factory=dict)
    offence: Offence | None = None
    data: list[DataSought] | None = None
    period: Period | None = None
    use_limits: list[str] | None = None
    conditions: list[str] | None = None
    case_id: str | None = None
    evidence_ids: list[str] | None = None
    indicator_ids: list[str] | None = None
    parent: str | None = Field(default=None, description="the preservation this request follows")


def parse_fields(values: dict[str, Any], *, source: str = "request") -> RequestFields:
    """Validate ``values``; ``InvalidInput`` names the source and the field path."""
    try:
        return RequestFields.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "request"
        raise InvalidInput(
            f"{source}: {where}: {first['msg']}", file=source, field=where, errors=exc.error_count()
        ) from None


def read_fields(path: Path) -> RequestFields:
    """A request file (YAML or JSON) as fields; errors name the file, line or field."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", file=str(path)) from None
    try:
        loaded = orjson.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: not JSON: {exc}", file=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InvalidInput(
            f"{path}:{line or '?'}: not YAML: {exc}", file=str(path), line=line
        ) from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise InvalidInput(f"{path}: expected a mapping of request fields", file=str(path))
    return parse_fields(loaded, source=str(path))


def fields_values(fields: RequestFields) -> dict[str, Any]:
    """The fields that were given, as plain JSON values (``from`` keys as written)."""
    return fields.model_dump(mode="json", by_alias=True, exclude_unset=True)
