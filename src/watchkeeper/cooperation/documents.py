"""The printable request document: what a central authority signs, stamps and files.

Many States still receive, or must archive, cooperation requests on paper. The document is built
from the request document dict (``requests.request_document``) in English, French, Spanish or
Arabic (right to left). Every fixed text lives in ``data/cooperation/labels.yaml`` so legal staff
correct a wording without a release; the file is checked on load and a missing text is refused
with its language and key, never printed blank. Values entered by people stay as given and are
escaped (autoescaping template). The footer carries the thread and the SHA-256 of the canonical
request, so the paper can be matched with the signed electronic message.

PDF is produced by WeasyPrint when installed (``pip install 'watchkeeper[pdf]'``); without it,
HTML is the output and printing is left to a browser.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml

from watchkeeper.core import canonical_json, sha256_hex
from watchkeeper.errors import InvalidInput

LANGUAGES = ("en", "fr", "es", "ar")
RTL_LANGUAGES = frozenset({"ar"})
DASH = "—"
PDF_INSTALL_HINT = "pip install 'watchkeeper[pdf]'"
MAX_LABELS_BYTES = 512 * 1024
FOLDER = "cooperation"
LABELS_FILE = "labels.yaml"
TEMPLATE_FILE = "request.html.j2"
# Keys the template cannot do without, even if a language file dropped them everywhere.
REQUIRED_KEYS = frozenset(
    {"document.title", "article_ref", "years", "yes", "no", "marker.urgent"}
    | {"marker.confidential", "marker.no_user_notice", "note.footer", "field.document_hash"}
)


@dataclass(frozen=True)
class Labels:
    """Checked fixed texts: ``texts[language][key]`` and ``articles[instrument][key]``."""

    texts: dict[str, dict[str, str]]
    articles: dict[str, dict[str, str]]
    source: str


def _fail(where: str, field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{where}: {field}: {reason}", file=where, field=field)


def _string_map(value: Any, where: str, field: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(where, field, "expected a mapping of key to text")
    for key, text in value.items():
        if not isinstance(key, str) or not isinstance(text, str) or not text.strip():
            raise _fail(where, f"{field}.{key}", "expected a non-empty text")
    return dict(value)


def parse_labels(text: str, *, where: str) -> Labels:
    """Check a labels file: every language of ``LANGUAGES`` has every key any language has."""
    if len(text.encode()) > MAX_LABELS_BYTES:
        raise _fail(where, "file", f"larger than {MAX_LABELS_BYTES} bytes")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(where, "file", f"not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("languages"), dict):
        raise _fail(where, "languages", "expected a mapping of language to texts")
    raw_articles = data.get("articles") or {}
    if not isinstance(raw_articles, dict):
        raise _fail(where, "articles", "expected a mapping of instrument to articles")
    articles = {
        str(name): _string_map(refs, where, f"articles.{name}")
        for name, refs in raw_articles.items()
    }
    texts: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        if language not in data["languages"]:
            raise _fail(where, f"languages.{language}", f"language {language} is missing")
        texts[language] = _string_map(data["languages"][language], where, f"languages.{language}")
    every_key = REQUIRED_KEYS.union(*(set(t) for t in texts.values()))
    for language in LANGUAGES:
        missing = sorted(every_key - set(texts[language]))
        if missing:
            raise _fail(
                where,
                f"languages.{language}.{missing[0]}",
                f"language {language} has no text for key {missing[0]}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            )
    return Labels(texts=texts, articles=articles, source=where)


def load_labels(path: Path | None = None) -> Labels:
    """The labels file at ``path``, or the one shipped with Watchkeeper."""
    if path is not None:
        return parse_labels(path.read_text(encoding="utf-8"), where=str(path))
    return _shipped_labels()


@lru_cache(maxsize=1)
def _shipped_labels() -> Labels:
    shipped = resources.files("watchkeeper") / "data" / FOLDER / LABELS_FILE
    return parse_labels(shipped.read_text(encoding="utf-8"), where=f"data/{FOLDER}/{LABELS_FILE}")


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    source = resources.files("watchkeeper") / "data" / FOLDER / TEMPLATE_FILE
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    return environment.from_string(source.read_text(encoding="utf-8"))


def document_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical request without its timeline (what the signed message carries)."""
    return sha256_hex(canonical_json({k: v for k, v in document.items() if k != "timeline"}))


def _text(value: Any) -> str:
    """A value as printed: missing or empty is a dash, dates in ISO form."""
    if value is None or value == "" or value == [] or value == {}:
        return DASH
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


class _View:
    """Translates codes through the labels of one language; unknown codes print as given."""

    def __init__(self, texts: Mapping[str, str], articles: Mapping[str, str]) -> None:
        self.texts = texts
        self.articles = articles

    def code(self, prefix: str, value: Any) -> str:
        if value is None or value == "":
            return DASH
        return self.texts.get(f"{prefix}.{value}", str(value))

    def article(self, ref: str | None) -> str:
        return self.texts["article_ref"].format(ref=ref) if ref else ""

    def marker(self, key: str) -> str:
        """A marking with its article: "CONFIDENTIAL — Art. 40(20)"."""
        ref = self.articles.get(key)
        return f"{self.texts[key]} {DASH} {self.article(ref)}" if ref else self.texts[key]

    def yes_no(self, value: Any) -> str:
        return DASH if value is None else self.texts["yes" if value else "no"]


def _content_value(value: Any) -> str | list[str]:
    if isinstance(value, list | tuple):
        return [_text(v) for v in value] or DASH
    if isinstance(value, Mapping):
        return [f"{k}: {_text(v)}" for k, v in value.items()] or DASH
    return _text(value)


def _contents(
    document: Mapping[str, Any], view: _View, spec: Sequence[tuple[str, str, str]] | None
) -> list[dict[str, Any]]:
    """Items in the order of the instrument pack; items the pack does not know follow, unlisted."""
    contents = _mapping(document.get("contents"))
    rows = []
    known = set()
    for key, article, label in spec or ():
        known.add(key)
        rows.append(
            {
                "label": view.texts.get(f"content.{key}", label),
                "article": view.article(article),
                "value": _content_value(contents.get(key)),
            }
        )
    for key, value in contents.items():
        if key not in known:
            rows.append({"label": str(key), "article": "", "value": _content_value(value)})
    return rows


def _data(document: Mapping[str, Any], view: _View) -> list[dict[str, Any]]:
    rows = []
    for entry in _items(document.get("data")):
        entry = _mapping(entry)
        span = _mapping(entry.get("time_range"))
        identifiers = [
            {
                "kind": view.code("kind", _mapping(i).get("kind")),
                "value": _text(_mapping(i).get("value")),
                "timestamp": _text(_mapping(i).get("timestamp")),
                "timezone": _text(_mapping(i).get("timezone")),
            }
            for i in _items(entry.get("identifiers"))
        ]
        rows.append(
            {
                "category": view.code("category", entry.get("category")),
                "identifiers": identifiers,
                "from": _text(span.get("from")),
                "until": _text(span.get("until")),
            }
        )
    return rows


def _evidence(document: Mapping[str, Any]) -> list[dict[str, str]]:
    """Evidence ids, as plain ids or ``{"id", "sha256"}`` entries."""
    rows = []
    for item in _items(document.get("evidence_ids")):
        if isinstance(item, Mapping):
            rows.append({"id": _text(item.get("id")), "sha256": _text(item.get("sha256"))})
        else:
            rows.append({"id": _text(item), "sha256": DASH})
    return rows


def _context(
    document: Mapping[str, Any],
    language: str,
    texts: Mapping[str, str],
    articles: Mapping[str, str],
    spec: Sequence[tuple[str, str, str]] | None,
) -> dict[str, Any]:
    view = _View(texts, articles)
    kind = document.get("type")
    offence = _mapping(document.get("offence"))
    period = document.get("period")
    screen = _mapping(document.get("screen"))
    penalty = offence.get("max_penalty_years")
    checks = _mapping(screen.get("checks"))
    return {
        "lang": language,
        "dir": "rtl" if language in RTL_LANGUAGES else "ltr",
        "t": texts,
        "dash": DASH,
        "title": texts.get(f"type.{kind}", texts["document.title"]),
        "type": _text(kind),
        "reference": _text(document.get("reference")),
        "instrument": view.code("instrument", document.get("instrument")),
        "article": view.article(articles.get(f"type.{kind}")) or DASH,
        "requesting_state": _text(document.get("requesting_state")),
        "requested_state": _text(document.get("requested_state")),
        "channel": view.code("channel", document.get("channel")),
        "language": view.code("language", document.get("language")),
        "urgent": bool(document.get("urgent")),
        "urgent_text": view.yes_no(document.get("urgent")),
        "status": _text(document.get("status")),
        "case_id": _text(document.get("case_id")),
        "parent_id": document.get("parent_id"),
        "created_at": _text(document.get("created_at")),
        "sent_at": _text(document.get("sent_at")),
        "preserved_until": document.get("preserved_until"),
        "confidential": bool(document.get("confidential")),
        "no_user_notice": bool(document.get("no_user_notice")),
        "marker_urgent": texts["marker.urgent"],
        "marker_confidential": view.marker("marker.confidential"),
        "marker_no_user_notice": view.marker("marker.no_user_notice"),
        "use_limits_article": view.article(articles.get("marker.use_limits")),
        "conditions_article": view.article(articles.get("marker.conditions")),
        "period_article": view.article(articles.get("marker.period")),
        "offence_basis": view.code("basis", offence.get("basis")),
        "max_penalty": DASH if penalty is None else texts["years"].format(n=penalty),
        "summary": _text(offence.get("summary")),
        "contents": _contents(document, view, spec),
        "data_heading": texts[
            "heading.data_preserved" if kind == "preservation" else "heading.data_sought"
        ],
        "data": _data(document, view),
        "period": None
        if not isinstance(period, Mapping)
        else {
            "from": _text(period.get("from")),
            "until": _text(period.get("until")),
            "justification": _text(period.get("justification")),
        },
        "use_limits": [_text(v) for v in _items(document.get("use_limits"))],
        "conditions": [_text(v) for v in _items(document.get("conditions"))],
        "evidence": _evidence(document),
        "indicators": [_text(v) for v in _items(document.get("indicator_ids"))],
        "author": _text(document.get("author")),
        "approver": _text(document.get("approver")),
        "screen_by": _text(screen.get("by")),
        "screen_at": _text(screen.get("at")),
        "screen_notes": _text(screen.get("notes")),
        "checks": [
            {"name": view.code("safeguard", name), "value": view.yes_no(value)}
            for name, value in checks.items()
        ],
        "thread": _text(document.get("thread")),
        "hash": document_hash(document),
    }


def render_request_html(
    document: dict[str, Any],
    *,
    language: str,
    labels: dict[str, str] | None = None,
    contents_spec: Sequence[tuple[str, str, str]] | None = None,
) -> str:
    """The request as a self-contained printable HTML page in ``language``.

    ``labels`` replaces shipped texts of that language key by key (a reviewed wording).
    ``contents_spec`` is the instrument pack's content items of the request type, in order, as
    ``(key, article, English label)``; each item is printed with its article. A text
    ``content.<key>`` in the labels translates an item's label.
    """
    if language not in LANGUAGES:
        raise InvalidInput(
            f"language {language!r} is not one of {', '.join(LANGUAGES)}",
            field="language",
            value=language,
            allowed=list(LANGUAGES),
        )
    shipped = _shipped_labels()
    texts = {**shipped.texts[language], **(labels or {})}
    articles = shipped.articles.get(str(document.get("instrument")), {})
    context = _context(document, language, texts, articles, contents_spec)
    return _template().render(**context)


def pdf_available() -> bool:
    """Whether WeasyPrint (the optional PDF renderer) is installed."""
    return importlib.util.find_spec("weasyprint") is not None


def render_request_pdf(html: str) -> bytes:
    """The printed HTML as PDF (A4, the page's own CSS); needs the ``pdf`` extra."""
    if not pdf_available():
        raise InvalidInput(
            "PDF output needs WeasyPrint, which is not installed: "
            f"run {PDF_INSTALL_HINT}, or print the HTML document from a browser",
            field="format",
            value="pdf",
            install=PDF_INSTALL_HINT,
        )
    try:
        weasyprint = importlib.import_module("weasyprint")
    except (ImportError, OSError) as exc:  # installed without its system libraries (Pango)
        raise InvalidInput(
            f"PDF output needs WeasyPrint, which is installed but cannot load ({exc}); "
            "see its installation notes, or print the HTML document from a browser",
            field="format",
            value="pdf",
            install=PDF_INSTALL_HINT,
        ) from None
    pdf: bytes = weasyprint.HTML(string=html).write_pdf()
    return pdf
