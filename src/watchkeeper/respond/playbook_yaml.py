"""YAML that remembers where each key and item was written, so every playbook error can name
file:line. Only YAML's safe subset is read: a file cannot build Python objects."""

from __future__ import annotations

from datetime import date
from typing import Any

import yaml

from watchkeeper.errors import InvalidInput

MAX_FILE_BYTES = 512 * 1024
MAX_NODES = 50_000  # stops alias "billion laughs" expansion long before memory does


class YamlMap(dict[str, Any]):
    """A mapping with the line of each key (``key_lines``) and of itself (``line``)."""

    line: int
    key_lines: dict[str, int]


class YamlList(list[Any]):
    """A sequence with the line of each item (``item_lines``) and of itself (``line``)."""

    line: int
    item_lines: list[int]


def line_of(value: Any, key: str | int | None = None, *, default: int = 1) -> int:
    """The line of ``value`` (or of its ``key`` / item) when it carries one."""
    if key is not None:
        if isinstance(value, YamlMap) and isinstance(key, str) and key in value.key_lines:
            return value.key_lines[key]
        if isinstance(value, YamlList) and isinstance(key, int) and key < len(value.item_lines):
            return value.item_lines[key]
    return getattr(value, "line", default)


def read_yaml(text: str, *, file: str) -> Any:
    """The single document of ``text`` as plain data with line numbers (1-based)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise InvalidInput(f"{file}:1: file larger than {MAX_FILE_BYTES // 1024} KiB", file=file)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InvalidInput(f"{file}:1: empty file; expected a playbook", file=file, line=1)
        return _Converter(loader, file).convert(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(
            f"{file}:{line}: not valid YAML: {problem}", file=file, line=line
        ) from None
    finally:
        loader.dispose()


class _Converter:
    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.count = 0

    def _error(self, node: yaml.Node, message: str) -> InvalidInput:
        line = node.start_mark.line + 1
        return InvalidInput(f"{self.file}:{line}: {message}", file=self.file, line=line)

    def convert(self, node: yaml.Node) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self._error(node, f"more than {MAX_NODES:,} YAML nodes (alias expansion?)")
        if isinstance(node, yaml.MappingNode):
            mapping = YamlMap()
            mapping.line = node.start_mark.line + 1
            mapping.key_lines = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self._error(key_node, "merge keys (<<) are not supported")
                key = self.convert(key_node)
                if not isinstance(key, str):
                    raise self._error(key_node, f"keys must be text, not {key!r}")
                if key in mapping:
                    first = mapping.key_lines[key]
                    raise self._error(key_node, f"{key}: duplicate key (first at line {first})")
                mapping[key] = self.convert(value_node)
                mapping.key_lines[key] = key_node.start_mark.line + 1
            return mapping
        if isinstance(node, yaml.SequenceNode):
            items = YamlList()
            items.line = node.start_mark.line + 1
            items.item_lines = []
            for item in node.value:
                items.append(self.convert(item))
                items.item_lines.append(item.start_mark.line + 1)
            return items
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, date | bytes):  # keep JSON-able: dates and binary stay as written
            return str(node.value)
        return value
