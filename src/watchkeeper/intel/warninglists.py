"""MISP warninglists: values known to be harmless, so they are never taken for indicators.

Feeds are full of private addresses, documentation prefixes, ``example.com`` and the hash of
the empty file; treating them as indicators floods detection with false positives. MISP's
warninglist format (JSON: ``name``, ``version``, ``description``, ``type``, ``list``, optional
``matching_attributes`` and ``category``) is what the community maintains such lists in, so we
read it unchanged and ship a small default set of our own in the same form.

Lists are compiled once into a ``WarninglistMatcher`` that answers, for a normalised
observable ``(kind, value)``, which lists it hits. Imports run it over 100,000+ values, so each
list type gets an index instead of a scan:

- ``string``: one dict lookup (entries lower-cased, like normalised observables; URLs and
  e-mail addresses, whose normal form keeps some case, are lower-cased before comparing);
- ``hostname``: dict lookups for the domain and each parent domain, also for the host of a
  URL and the domain of an e-mail address;
- ``cidr``: the ranges of all lists, merged per list, cut into elementary segments over
  integers, one ``bisect`` per address (IPv4 and IPv6 apart); a CIDR value hits a list when
  it lies wholly inside that list's ranges;
- ``substring``: ``in`` over the entries, behind one trie-shaped regex when there are many;
- ``regex``: Python ``re.search`` (MISP's ``/pattern/flags`` form is unwrapped), ignoring case.

``matching_attributes`` (MISP attribute types) decide which observable kinds a list applies to,
absent meaning all. Loosely: a ``hostname`` list that applies to domains also checks URL hosts
and e-mail domains, and a ``cidr`` list that applies to addresses also checks URLs whose host
is an address, because the same harmless host is just as harmless inside a URL.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
import operator
import re
import socket
from collections.abc import Callable, Iterable
from typing import Any

from watchkeeper.errors import InvalidInput
from watchkeeper.intel.warninglist_files import (
    ADDRESS_KINDS,
    KINDS,
    LIST_TYPES,
    Warninglist,
    compile_regex,
    parse_network,
)

_URL_HOST = re.compile(r"[a-z][a-z0-9+.\-]*://(?:[^/?#]*@)?(\[[^\]/?#]*\]|[^:/?#]*)")

_PREFILTER_LONGEST = 200  # the trie regex is built recursively, one level per character

_PREFILTER_FROM = 8  # below this many substrings a plain loop is as fast as a regex

Hits = tuple[int, ...]  # indexes of lists, ascending
_NONE: Hits = ()


class _Ranges:
    """Address ranges of several lists over one family, cut into segments for one bisect.

    ``starts[i]`` opens segment ``i`` and ``owners[i]`` are the lists covering all of it; a
    sentinel segment at -1 owned by none means every address finds a segment.
    """

    __slots__ = ("owners", "per_list", "starts")

    def __init__(self, per_list: dict[int, tuple[list[int], list[int]]]) -> None:
        self.per_list = per_list
        events: list[tuple[int, int, int]] = []  # (position, 0 = leaves / 1 = enters, list)
        for owner, (firsts, lasts) in per_list.items():
            for first, last in zip(firsts, lasts, strict=True):
                events += ((first, 1, owner), (last + 1, 0, owner))
        events.sort()
        self.starts: list[int] = [-1]
        self.owners: list[Hits] = [_NONE]
        interned: dict[Hits, Hits] = {}  # one tuple per distinct set of owners
        active: set[int] = set()
        for position, group in itertools.groupby(events, key=operator.itemgetter(0)):
            for _, entering, owner in group:
                if entering:
                    active.add(owner)
                else:
                    active.discard(owner)
            current = tuple(sorted(active))
            if current != self.owners[-1]:
                self.starts.append(position)
                self.owners.append(interned.setdefault(current, current))

    def at(self, address: int) -> Hits:
        """Lists whose ranges hold ``address``."""
        return self.owners[bisect.bisect_right(self.starts, address) - 1]

    def covering(self, first: int, last: int) -> Hits:
        """Lists whose merged ranges hold all of ``first``..``last``."""
        found = []
        for owner in self.at(first):
            firsts, lasts = self.per_list[owner]
            if lasts[bisect.bisect_right(firsts, first) - 1] >= last:
                found.append(owner)
        return tuple(found)


def _merged(networks: Iterable[tuple[int, int]]) -> tuple[list[int], list[int]]:
    firsts: list[int] = []
    lasts: list[int] = []
    for first, last in sorted(networks):
        if firsts and first <= lasts[-1] + 1:
            lasts[-1] = max(lasts[-1], last)
        else:
            firsts.append(first)
            lasts.append(last)
    return firsts, lasts


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex that matches where any of ``words`` starts, one branch per character."""
    end = ""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[end] = {}

    def emit(node: dict[str, Any]) -> str:
        if end in node:  # a shorter word already matches here; longer ones add nothing
            return ""
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items())]
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return emit(trie)


def _address(family: int, text: str) -> int:
    return int.from_bytes(socket.inet_pton(family, text), "big")


class _KindIndex:
    """Everything one observable kind is checked against, built for that kind only."""

    def __init__(self, kind: str, list_names: tuple[str, ...]) -> None:
        self.kind = kind
        self.list_names = list_names
        self.names: dict[Hits, tuple[str, ...]] = {}  # per combination of hits, filled lazily
        self.exact: dict[str, Hits] | None = None
        self.hosts: dict[str, Hits] | None = None
        self.substrings: tuple[tuple[str, int], ...] = ()
        self.prefilter: re.Pattern[str] | None = None
        self.regexes: tuple[tuple[re.Pattern[str], int], ...] = ()
        self.ranges4: _Ranges | None = None
        self.ranges6: _Ranges | None = None
        self.family, self.bits = (
            (socket.AF_INET, 32) if kind in ("ipv4", "cidr4") else (socket.AF_INET6, 128)
        )
        self.probe: Callable[[str, list[Hits]], None] | None = None
        # The normaliser keeps the case of URL paths and e-mail local parts; lists compare
        # without case, so those values are folded here.
        self.fold = kind in ("url", "email")

    def finish(self) -> None:
        """Pick the structured probe once, so matching does not test the kind per value."""
        if self.kind in ADDRESS_KINDS:  # always parsed, so a malformed address is refused
            self.probe = self._ip
        elif self.hosts is None and self.ranges4 is None and self.ranges6 is None:
            self.probe = None
        elif self.kind == "domain":
            self.probe = self._walk
        elif self.kind == "email":
            self.probe = self._email
        elif self.kind == "url":
            self.probe = self._url

    def match(self, value: str) -> tuple[str, ...]:
        """Names of the lists ``value`` hits, in list order."""
        parts: list[Hits] = []
        if self.fold:
            value = value.lower()
        if self.exact is not None:
            hit = self.exact.get(value)
            if hit is not None:
                parts.append(hit)
        if self.probe is not None:
            self.probe(value, parts)
        if self.substrings and (self.prefilter is None or self.prefilter.search(value)):
            found = tuple(owner for entry, owner in self.substrings if entry in value)
            if found:
                parts.append(found)
        if self.regexes:
            found = tuple(owner for pattern, owner in self.regexes if pattern.search(value))
            if found:
                parts.append(found)
        if not parts:
            return ()
        hits = parts[0] if len(parts) == 1 else tuple(sorted(set().union(*parts)))
        return self.names.get(hits) or self._name(hits)

    def _name(self, hits: Hits) -> tuple[str, ...]:
        # Deduplicated and ordered once per distinct combination, then served from the cache.
        named = tuple(self.list_names[owner] for owner in sorted(set(hits)))
        self.names[hits] = named
        return named

    def _walk(self, host: str, parts: list[Hits]) -> None:
        hosts = self.hosts
        if hosts is None or not host:
            return
        while True:
            hit = hosts.get(host)
            if hit is not None:
                parts.append(hit)
            dot = host.find(".")
            if dot < 0:
                return
            host = host[dot + 1 :]

    def _email(self, value: str, parts: list[Hits]) -> None:
        self._walk(value.rpartition("@")[2], parts)

    def _url(self, value: str, parts: list[Hits]) -> None:
        # A regex reads the host of a normalised URL ~7x faster than urlsplit().hostname.
        found = _URL_HOST.match(value)
        host = found.group(1).strip("[]").rstrip(".") if found else ""
        if not host:
            return
        if ":" in host:
            ranges, family = self.ranges6, socket.AF_INET6
        elif host[-1].isdigit():  # no top-level domain is numeric: an IPv4 literal
            ranges, family = self.ranges4, socket.AF_INET
        else:
            self._walk(host, parts)
            return
        if ranges is not None:
            try:
                hit = ranges.at(_address(family, host))
            except OSError:
                return
            if hit:
                parts.append(hit)

    def _ip(self, value: str, parts: list[Hits]) -> None:
        text, slash, prefix = value.partition("/")
        try:
            first = _address(self.family, text)
        except OSError:
            raise _value_error(self.kind, value) from None
        if slash and (not prefix.isdigit() or int(prefix) > self.bits):
            raise _value_error(self.kind, value)
        if slash:
            ranges = self.ranges4 if self.bits == 32 else self.ranges6
            span = (1 << (self.bits - int(prefix))) - 1
            first &= ~span
            hit = ranges.covering(first, first | span) if ranges is not None else _NONE
        elif self.bits == 32:
            hit = self.ranges4.at(first) if self.ranges4 is not None else _NONE
        else:
            hit = self.ranges6.at(first) if self.ranges6 is not None else _NONE
            if first >> 32 == 0xFFFF and self.ranges4 is not None:
                # An IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291 2.5.5.2) is that
                # IPv4 host, so the IPv4 ranges apply to it as well.
                mapped = self.ranges4.at(first & 0xFFFFFFFF)
                if mapped:
                    parts.append(mapped)
        if hit:
            parts.append(hit)


def _value_error(kind: str, value: str) -> InvalidInput:
    shown = value if len(value) <= 200 else value[:200] + "..."
    return InvalidInput(
        f"{shown!r} is not a valid {kind} value", field="value", kind=kind, value=shown
    )


class WarninglistMatcher:
    """Warninglists compiled for fast membership tests of normalised observables.

    Build it once per set of lists (it costs about as much as reading them) and reuse it for
    every import; it holds no state that changes while matching.
    """

    __slots__ = ("_indexes", "_lists")

    def __init__(self, lists: Iterable[Warninglist]) -> None:
        self._lists = tuple(lists)
        seen: dict[str, str] = {}
        for warninglist in self._lists:
            if warninglist.name in seen:
                raise InvalidInput(
                    f"two warninglists are named {warninglist.name!r}: "
                    f"{seen[warninglist.name]} and {warninglist.source}",
                    file=warninglist.source,
                    name=warninglist.name,
                )
            seen[warninglist.name] = warninglist.source
        names = tuple(warninglist.name for warninglist in self._lists)
        self._indexes = {kind: _KindIndex(kind, names) for kind in sorted(KINDS)}
        self._build()

    @property
    def lists(self) -> tuple[Warninglist, ...]:
        """The compiled lists, in the order given (results are reported in this order)."""
        return self._lists

    def match(self, *, kind: str, value: str) -> tuple[str, ...]:
        """Names of the lists a normalised observable hits; empty when none does.

        ``value`` must already be normalised (lower-case, canonical) for its ``kind``; an
        unknown kind or an address that does not parse is refused.
        """
        index = self._indexes.get(kind)
        if index is None:
            raise _kind_error(kind)
        return index.match(value)

    def match_many(self, observables: Iterable[tuple[str, str]]) -> list[tuple[str, ...]]:
        """``match`` for each ``(kind, value)``, in order; the form imports use."""
        indexes = self._indexes
        results: list[tuple[str, ...]] = []
        append = results.append
        for kind, value in observables:
            index = indexes.get(kind)
            if index is None:
                raise _kind_error(kind)
            append(index.match(value))
        return results

    def _build(self) -> None:
        # Which lists of each type apply to each kind; kinds applying the same lists of a type
        # share one structure, so a large list valid for every kind is held once.
        owners: dict[str, dict[str, list[int]]] = {t: {k: [] for k in KINDS} for t in LIST_TYPES}
        for owner, warninglist in enumerate(self._lists):
            for kind in _applicable(warninglist):
                owners[warninglist.type][kind].append(owner)
        prepared = [_prepare(warninglist) for warninglist in self._lists]
        shared: dict[tuple[Any, ...], Any] = {}

        def once(key: tuple[Any, ...], build: Callable[..., Any], *arguments: Any) -> Any:
            if key not in shared:
                shared[key] = build(*arguments)
            return shared[key]

        for kind, index in self._indexes.items():
            string = tuple(owners["string"][kind])
            if string:
                index.exact = once(("string", string), _table, prepared, string)
            hostname = tuple(owners["hostname"][kind])
            if hostname:
                index.hosts = once(("hostname", hostname), _table, prepared, hostname)
            substring = tuple(owners["substring"][kind])
            if substring:
                index.substrings = tuple(
                    (entry, owner) for owner in substring for entry in prepared[owner]
                )
                if len(index.substrings) >= _PREFILTER_FROM:
                    index.prefilter = once(("prefilter", substring), _prefilter, index.substrings)
            index.regexes = tuple(
                (pattern, owner) for owner in owners["regex"][kind] for pattern in prepared[owner]
            )
            cidr = tuple(owners["cidr"][kind])
            if cidr:
                index.ranges4 = once(("v4", cidr), _ranges, prepared, cidr, 32)
                index.ranges6 = once(("v6", cidr), _ranges, prepared, cidr, 128)
            index.finish()


def _prepare(warninglist: Warninglist) -> list[Any]:
    """A list's entries in the form its type compares: lower-cased, compiled or as spans."""
    source, entries = warninglist.source, warninglist.entries
    if warninglist.type in ("string", "substring"):
        return [entry.lower() for entry in entries]
    if warninglist.type == "hostname":
        # "name # comment" and "*.name" are written in some lists; both mean the name itself.
        cleaned = (e.partition("#")[0].strip().removeprefix("*.").strip(".") for e in entries)
        return [entry.lower() for entry in cleaned if entry]
    if warninglist.type == "regex":
        return [compile_regex(entry, source=source, index=i) for i, entry in enumerate(entries)]
    return [_span(parse_network(entry, source=source, index=i)) for i, entry in enumerate(entries)]


def _applicable(warninglist: Warninglist) -> frozenset[str]:
    """The kinds a list is checked for, widened as the module docstring explains."""
    kinds = warninglist.kinds
    if warninglist.type == "hostname":
        kinds = kinds | {"url", "email"} if "domain" in kinds else kinds
        return kinds & {"domain", "url", "email"}
    if warninglist.type == "cidr":
        kinds = kinds | {"url"} if kinds & ADDRESS_KINDS else kinds
        return kinds & (ADDRESS_KINDS | {"url"})
    return kinds


def _span(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int, int]:
    first = int(network.network_address)
    return first, first + network.num_addresses - 1, network.max_prefixlen


def _table(prepared: list[list[Any]], owners: Hits) -> dict[str, Hits]:
    table: dict[str, Hits] = {}
    for owner in owners:
        for key in prepared[owner]:
            held = table.get(key, _NONE)
            if owner not in held:
                table[key] = (*held, owner)
    return table


def _ranges(prepared: list[list[Any]], owners: Hits, bits: int) -> _Ranges | None:
    per_list = {}
    for owner in owners:
        spans = [(first, last) for first, last, size in prepared[owner] if size == bits]
        if spans:
            per_list[owner] = _merged(spans)
    return _Ranges(per_list) if per_list else None


def _prefilter(substrings: tuple[tuple[str, int], ...]) -> re.Pattern[str] | None:
    words = {entry for entry, _ in substrings}
    if any(len(word) > _PREFILTER_LONGEST for word in words):
        return None
    return re.compile(_trie_pattern(words))


def _kind_error(kind: str) -> InvalidInput:
    return InvalidInput(
        f"unknown observable kind {kind!r}; expected one of {', '.join(sorted(KINDS))}",
        field="kind",
        value=kind,
    )
