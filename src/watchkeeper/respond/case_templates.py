"""Case templates: what a kind of incident starts with (title prefix, severity, TLP, tasks).

Templates are data, not code: YAML files shipped in ``data/case_templates`` and, per node,
in ``<data_dir>/case_templates`` (same name replaces, new names add), so a CERT adapts its
procedures without a release. Every file is checked on load; a bad one is refused with its
file and key, never half-used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from watchkeeper.core.tlp import parse_pap, parse_tlp
from watchkeeper.errors import InvalidInput
from watchkeeper.respond.models import SEVERITIES

MAX_TEMPLATE_BYTES = 256 * 1024
MAX_TASKS = 100
KEYS = ("name", "title_prefix", "description", "severity", "tlp", "pap", "tasks")
TASK_KEYS = ("title", "description", "mandatory")
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
FOLDER = "case_templates"


@dataclass(frozen=True)
class TemplateTask:
    """A task every case of the template starts with."""

    title: str
    description: str = ""
    mandatory: bool = False


@dataclass(frozen=True)
class CaseTemplate:
    """A checked template; ``source`` says which file it came from."""

    name: str
    title_prefix: str
    description: str
    severity: str
    tlp: str
    pap: str
    tasks: tuple[TemplateTask, ...]
    source: str

    def document(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "name": self.name,
            "title_prefix": self.title_prefix,
            "description": self.description,
            "severity": self.severity,
            "tlp": self.tlp,
            "pap": self.pap,
            "tasks": [
                {"title": t.title, "description": t.description, "mandatory": t.mandatory}
                for t in self.tasks
            ],
            "source": self.source,
        }


def _fail(where: str, key: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{where}: key {key}: {reason}", file=where, field=key)


def _text(document: dict[str, Any], key: str, where: str, *, limit: int, default: str) -> str:
    value = document.get(key, default)
    if not isinstance(value, str) or len(value) > limit:
        raise _fail(where, key, f"expected a text of at most {limit} characters")
    return value.strip()


def _task(item: Any, where: str, index: int) -> TemplateTask:
    at = f"tasks[{index}]"
    if isinstance(item, str):
        item = {"title": item}
    if not isinstance(item, dict):
        raise _fail(where, at, "expected a title or a mapping with title, description, mandatory")
    unknown = sorted(str(key) for key in item if key not in TASK_KEYS)
    if unknown:
        raise _fail(where, f"{at}.{unknown[0]}", f"unknown; known: {', '.join(TASK_KEYS)}")
    title = item.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 300:
        raise _fail(where, f"{at}.title", "expected a non-empty text of at most 300 characters")
    mandatory = item.get("mandatory", False)
    if not isinstance(mandatory, bool):
        raise _fail(where, f"{at}.mandatory", "expected true or false")
    description = _text(item, "description", where, limit=4000, default="")
    return TemplateTask(title=title.strip(), description=description, mandatory=mandatory)


def parse_template(document: Any, *, where: str) -> CaseTemplate:
    """Check a parsed template; ``InvalidInput`` names the file and the key."""
    if not isinstance(document, dict):
        raise InvalidInput(f"{where}: expected a mapping of template keys", file=where)
    unknown = sorted(str(key) for key in document if key not in KEYS)
    if unknown:
        raise _fail(where, unknown[0], f"unknown key; known: {', '.join(KEYS)}")
    name = document.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise _fail(where, "name", "1 to 100 lower-case letters, digits, '.', '_' or '-'")
    severity = document.get("severity", "medium")
    if severity not in SEVERITIES:
        raise _fail(where, "severity", f"expected one of {', '.join(SEVERITIES)}")
    try:
        tlp = parse_tlp(str(document.get("tlp", "amber"))).value
    except InvalidInput as exc:
        raise _fail(where, "tlp", exc.message) from None
    try:
        pap = parse_pap(str(document.get("pap", "amber"))).value
    except InvalidInput as exc:
        raise _fail(where, "pap", exc.message) from None
    tasks = document.get("tasks", [])
    if not isinstance(tasks, list) or len(tasks) > MAX_TASKS:
        raise _fail(where, "tasks", f"expected a list of at most {MAX_TASKS} tasks")
    return CaseTemplate(
        name=name,
        title_prefix=_text(document, "title_prefix", where, limit=100, default=""),
        description=_text(document, "description", where, limit=4000, default=""),
        severity=severity,
        tlp=tlp,
        pap=pap,
        tasks=tuple(_task(item, where, index) for index, item in enumerate(tasks)),
        source=where,
    )


def parse_yaml(data: bytes | str, *, where: str) -> CaseTemplate:
    """A template from YAML text (``safe_load``: a file cannot build Python objects)."""
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        at = f":{line}" if line is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(
            f"{where}{at}: not valid YAML: {reason}", file=where, line=line
        ) from None
    return parse_template(document, where=where)


def _read(entry: Traversable | Path, where: str) -> CaseTemplate:
    data = entry.read_bytes()
    if len(data) > MAX_TEMPLATE_BYTES:
        raise InvalidInput(f"{where}: more than {MAX_TEMPLATE_BYTES} bytes", file=where)
    template = parse_yaml(data, where=where)
    stem = entry.name.rsplit(".", 1)[0]
    if template.name != stem:
        raise _fail(where, "name", f"{template.name!r} differs from the file name {stem!r}")
    return template


def load_templates(*, data_dir: Path | None = None) -> dict[str, CaseTemplate]:
    """The shipped templates, replaced or extended by ``<data_dir>/case_templates/*.yaml``."""
    found: dict[str, CaseTemplate] = {}
    shipped = resources.files("watchkeeper") / "data" / FOLDER
    for entry in sorted(shipped.iterdir(), key=lambda item: item.name):
        if entry.name.endswith((".yaml", ".yml")):
            template = _read(entry, f"data/{FOLDER}/{entry.name}")
            found[template.name] = template
    local = data_dir / FOLDER if data_dir is not None else None
    if local is not None and local.is_dir():
        for path in sorted(local.iterdir()):
            if path.suffix in (".yaml", ".yml") and path.is_file():
                template = _read(path, str(path))
                found[template.name] = template
    return found


def get_template(
    name: str, *, data_dir: Path | None = None, templates: dict[str, CaseTemplate] | None = None
) -> CaseTemplate:
    """One template by name; ``InvalidInput`` (field ``template``) lists the known ones."""
    known = templates if templates is not None else load_templates(data_dir=data_dir)
    chosen = known.get(name.strip())
    if chosen is None:
        raise InvalidInput(
            f"unknown case template {name[:100]!r}; known: {', '.join(sorted(known))}",
            field="template",
            valid=sorted(known),
        )
    return chosen
