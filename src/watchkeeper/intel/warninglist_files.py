"""Reading MISP warninglist files: the format, its checks, and the default set we ship.

See ``watchkeeper.intel.warninglists`` for what the lists are for and how they are matched.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast, get_args

import orjson

from watchkeeper.errors import InvalidInput

ListType = Literal["string", "substring", "hostname", "cidr", "regex"]
LIST_TYPES: tuple[str, ...] = get_args(ListType)
# The observable kinds of watchkeeper.core.observables; no attribute type maps to asn or mac,
# so only lists without matching_attributes reach them.
KINDS: frozenset[str] = frozenset(
    {"ipv4", "ipv6", "cidr4", "cidr6", "domain", "url", "email"}
    | {"md5", "sha1", "sha256", "sha512", "asn", "mac"}
)

ADDRESS_KINDS = frozenset({"ipv4", "ipv6", "cidr4", "cidr6"})
_HASHES = ("md5", "sha1", "sha256", "sha512")
# MISP attribute types and the kinds they hold here. A composite type such as "domain|ip"
# holds both halves; types with no kind here (AS, user-agent...) are ignored.
_ATTRIBUTE_KINDS: Mapping[str, frozenset[str]] = {
    **dict.fromkeys(("ip-src", "ip-dst", "ip-src|port", "ip-dst|port"), ADDRESS_KINDS),
    "domain|ip": ADDRESS_KINDS | {"domain"},
    **dict.fromkeys(("domain", "hostname", "hostname|port"), frozenset({"domain"})),
    **dict.fromkeys(("url", "uri", "link"), frozenset({"url"})),
    **dict.fromkeys(
        ("email", "email-src", "email-dst", "email-reply-to", "target-email"),
        frozenset({"email"}),
    ),
    **dict.fromkeys(("whois-registrant-email", "dns-soa-email"), frozenset({"email"})),
    **{name: frozenset({h}) for h in _HASHES for name in (h, f"filename|{h}")},
    "malware-sample": frozenset({"md5"}),  # filename|md5 of an attached sample
    "ALL": KINDS,  # what MISP stores when a list has no matching_attributes
}
# scheme "://" [userinfo "@"] host, where host may be a bracketed IPv6 literal (RFC 3986).
_PCRE = re.compile(r"/(.*)/([A-Za-z]*)", re.DOTALL)
_PCRE_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "u": 0}


@dataclass(frozen=True, slots=True)
class Warninglist:
    """One MISP warninglist as read: entries trimmed, otherwise as its author wrote them."""

    name: str
    type: ListType
    entries: tuple[str, ...]
    version: int
    description: str
    matching_attributes: tuple[str, ...] = ()
    category: str | None = None
    source: str = "<memory>"

    @property
    def kinds(self) -> frozenset[str]:
        """Observable kinds the list applies to: from ``matching_attributes``, all if absent."""
        if not self.matching_attributes:
            return KINDS
        kinds: set[str] = set()
        for attribute in self.matching_attributes:
            kinds |= _ATTRIBUTE_KINDS.get(attribute, frozenset())
        return frozenset(kinds)


# --- reading ----------------------------------------------------------------------------------


def parse_warninglist(document: Any, *, source: str) -> Warninglist:
    """Check a decoded MISP warninglist and return it; ``source`` names it in errors.

    Every entry is checked too (CIDR syntax, regex compiles), so a bad list is refused when
    it is loaded rather than failing, or silently matching nothing, during an import.
    """
    if not isinstance(document, dict):
        raise _bad(source, "expected a JSON object (a MISP warninglist)")
    for field in ("name", "version", "description", "type", "list"):
        if field not in document:
            raise _bad(source, f"missing required field {field!r}", field=field)
    name, description = document["name"], document["description"]
    if not isinstance(name, str) or not name.strip():
        raise _bad(source, "'name' must be a non-empty string", field="name")
    if not isinstance(description, str):
        raise _bad(source, "'description' must be a string", field="description")
    version = document["version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise _bad(source, "'version' must be an integer", field="version")
    kind = document["type"]
    if isinstance(kind, list) and kind:  # the older MISP form: a list holding one type
        kind = kind[0]
    if kind not in LIST_TYPES:
        raise _bad(
            source, f"'type' is {kind!r}; expected one of {', '.join(LIST_TYPES)}", field="type"
        )
    list_type = cast(ListType, kind)
    raw = document["list"]
    if isinstance(raw, dict):  # MISP also accepts {value: comment}
        raw = list(raw)
    if not isinstance(raw, list):
        raise _bad(source, "'list' must be an array of strings", field="list")
    entries: list[str] = []
    for index, item in enumerate(raw):
        if not isinstance(item, str):
            raise _bad(source, f"list[{index}] is not a string", field="list", index=index)
        entry = item.strip()
        if entry and list_type == "cidr":
            parse_network(entry, source=source, index=index)
        elif entry and list_type == "regex":
            compile_regex(entry, source=source, index=index)
        if entry:  # MISP skips empty entries too
            entries.append(entry)
    attributes = document.get("matching_attributes", [])
    if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
        raise _bad(
            source, "'matching_attributes' must be an array of strings", field="matching_attributes"
        )
    category = document.get("category")
    if category is not None and not isinstance(category, str):
        raise _bad(source, "'category' must be a string", field="category")
    return Warninglist(
        name=name.strip(),
        type=list_type,
        entries=tuple(entries),
        version=version,
        description=description,
        matching_attributes=tuple(attributes),
        category=category,
        source=source,
    )


def read_warninglist(data: bytes, *, source: str) -> Warninglist:
    """Decode and check one warninglist from JSON bytes (a file's or an upload's)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            f"{source}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            file=source,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    return parse_warninglist(document, source=source)


def load_warninglist(path: Path | str) -> Warninglist:
    """Read one MISP warninglist file (usually ``lists/<name>/list.json``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}", file=str(path)) from None
    return read_warninglist(data, source=str(path))


def load_warninglists(path: Path | str) -> list[Warninglist]:
    """Every ``*.json`` warninglist under a directory (recursively, in path order), or one file.

    A checkout of MISP's misp-warninglists repository can be passed as it is (its ``lists``
    folder holds one ``list.json`` per list). The first bad file stops the load, named.
    """
    path = Path(path)
    if path.is_file():
        return [load_warninglist(path)]
    if not path.is_dir():
        raise InvalidInput(f"{path}: no such file or directory", file=str(path))
    files = sorted(p for p in path.rglob("*.json") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InvalidInput(f"{path}: holds no .json warninglist files", file=str(path))
    return [load_warninglist(file) for file in files]


def default_warninglists() -> list[Warninglist]:
    """The lists shipped with Watchkeeper (``watchkeeper/data/warninglists``), in name order."""
    folder = resources.files("watchkeeper") / "data" / "warninglists"
    found = sorted(
        (item for item in folder.iterdir() if item.name.endswith(".json")), key=lambda i: i.name
    )
    return [
        read_warninglist(item.read_bytes(), source=f"watchkeeper/data/warninglists/{item.name}")
        for item in found
    ]


def _bad(source: str, problem: str, **fields: Any) -> InvalidInput:
    return InvalidInput(f"{source}: {problem}", file=source, **fields)


def parse_network(
    entry: str, *, source: str, index: int
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    # A "# comment" after the value is tolerated, as MISP strips it on import.
    text = entry.partition("#")[0].strip()
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        problem = f"list[{index}] {entry!r} is not an IP address or CIDR network"
        raise _bad(source, problem, field="list", index=index) from None


def compile_regex(entry: str, *, source: str, index: int) -> re.Pattern[str]:
    pattern, flags = entry, re.IGNORECASE
    wrapped = _PCRE.fullmatch(entry)
    if wrapped is not None:  # MISP evaluates entries with PHP preg_match: /pattern/flags
        pattern = wrapped.group(1)
        for letter in wrapped.group(2):
            if letter not in _PCRE_FLAGS:
                problem = f"list[{index}] {entry!r}: unsupported flag {letter!r}"
                raise _bad(source, problem, field="list", index=index)
            flags |= _PCRE_FLAGS[letter]
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        problem = f"list[{index}] {entry!r} is not a valid regex: {exc}"
        raise _bad(source, problem, field="list", index=index) from None
