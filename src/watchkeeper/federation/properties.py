"""SQL over STIX properties inside the stored documents, on SQLite and PostgreSQL alike.

The store keeps each object version's canonical JSON as text (``intel_objects.doc``) and only
a few properties as columns. Sharing decisions need two more, exactly: the top-level
``created_by_ref`` (who owns a TLP:AMBER+STRICT object) and ``labels`` (collection filters).
A text search would also match the same words nested anywhere in the document, and a false
match here releases data, so these read the JSON with each backend's own functions
(``json_extract``/``json_each`` on SQLite, the ``json`` operators on PostgreSQL). The
``json`` type, not ``jsonb``, is used on PostgreSQL: it only checks syntax, and it accepts
every document the store accepted.

Callers put a cheap text test beside these (``doc LIKE '%<value>%'``) so that the parse runs
on the few rows that can match.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

Doc = ColumnElement[str] | InstrumentedAttribute[str]
"""A column (or expression) holding a STIX object as JSON text."""


class _TopLevelText(FunctionElement[str]):
    """The top-level property of a JSON text as text (NULL when absent)."""

    type = String()
    inherit_cache = True
    name = "wk_top_level_text"


class _AnyLabel(FunctionElement[bool]):
    """True when the JSON text's ``labels`` is an array holding one of the given strings."""

    type = Boolean()
    inherit_cache = True
    name = "wk_any_label"


def top_level_text(doc: Doc, name: str) -> ColumnElement[str]:
    """SQL: property ``name`` at the top level of the JSON text ``doc``, as text, or NULL."""
    return _TopLevelText(doc, literal(name, String()))


def has_any_label(doc: Doc, labels: list[str]) -> ColumnElement[bool]:
    """SQL: true when the ``labels`` array of the JSON text ``doc`` holds one of ``labels``.

    A ``labels`` that is not an array (invalid STIX) never matches, on either backend.
    """
    return _AnyLabel(doc, *(literal(label, String()) for label in labels))


def _parts(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(_TopLevelText, "sqlite")
def _top_level_sqlite(element: _TopLevelText, compiler: SQLCompiler, **kw: Any) -> str:
    doc, name = _parts(element, compiler, **kw)
    return f"json_extract({doc}, '$.' || {name})"


@compiles(_TopLevelText)
def _top_level_postgresql(element: _TopLevelText, compiler: SQLCompiler, **kw: Any) -> str:
    doc, name = _parts(element, compiler, **kw)
    return f"(CAST({doc} AS JSON) ->> CAST({name} AS TEXT))"


@compiles(_AnyLabel, "sqlite")
def _any_label_sqlite(element: _AnyLabel, compiler: SQLCompiler, **kw: Any) -> str:
    doc, *labels = _parts(element, compiler, **kw)
    # Only compiled fragments are spliced: the column and the labels' bound parameters.
    return (
        f"(IFNULL(json_type({doc}, '$.labels'), '') = 'array' AND EXISTS (SELECT 1 FROM "  # noqa: S608
        f"json_each({doc}, '$.labels') AS wk_label WHERE wk_label.value IN ({', '.join(labels)})))"
    )


@compiles(_AnyLabel)
def _any_label_postgresql(element: _AnyLabel, compiler: SQLCompiler, **kw: Any) -> str:
    doc, *labels = _parts(element, compiler, **kw)
    found = f"(CAST({doc} AS JSON) -> 'labels')"
    # Only compiled fragments are spliced: the column and the labels' bound parameters.
    return (
        f"EXISTS (SELECT 1 FROM json_array_elements_text(CASE WHEN json_typeof({found}) = "  # noqa: S608
        f"'array' THEN {found} ELSE CAST('[]' AS JSON) END) AS wk_label(value) "
        f"WHERE wk_label.value IN ({', '.join(labels)}))"
    )
