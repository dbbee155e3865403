"""The built-in export formats other than Suricata: STIX 2.1, CSV, plain text, Zeek, RPZ.

Each writer streams its :class:`Selection` into the target through a :class:`Sink`, so memory
stays flat whatever the store holds. Line formats write one canonical value per line once
(``distinct_values``); a value holding a line break or tab (no normaliser produces one) is
refused rather than allowed to forge a line. The exact forms, and where they come from:

* ``stix``: ``{"type":"bundle","id":"bundle--<uuid4>","objects":[<stored doc>,...]}`` then the
  TLP marking-definition objects the documents name (TLP 2.0 as published by OASIS, TLP 1.0 as
  in STIX 2.1 section 7.2.1.4), unless the store's own copy was exported. A bundle with no
  object has no ``objects`` property (STIX 2.1: "one or more").
* ``csv``: header ``kind,value,indicator_id,tlp,confidence,modified``, one row per value and
  object, ``tlp`` as ``TLP:AMBER`` (empty when unmarked), ``modified`` in the stored form.
* ``text``: one value per line, for firewalls and proxies that take plain blocklists.
* ``zeek``: the Intelligence Framework input file (docs.zeek.org, frameworks/intel.rst,
  "Loading Intelligence"; types from base/frameworks/intel/main.zeek and files.zeek): header
  ``#fields<TAB>indicator<TAB>indicator_type<TAB>meta.source<TAB>meta.desc``, then
  ``value<TAB>Intel::TYPE<TAB>watchkeeper<TAB><object id> TLP:X confidence N``. URLs are given
  without ``http://``, as ``HTTP::build_url`` reports what it saw (host[:port]/uri); other
  schemes never reach Zeek's URL matching and are skipped. SHA-512 is skipped too: Zeek's file
  analysis reports MD5, SHA-1 and SHA-256 to ``Intel::FILE_HASH``.
* ``rpz``: a DNS response policy zone (draft-vixie-dnsop-dns-rpz): ``$TTL``, SOA and NS at
  the apex, then ``domain CNAME .`` and ``*.domain CNAME .`` (NXDOMAIN for the name and every
  name under it). Names are relative to the zone the resolver loads the file as. Single-label
  names are skipped: ``*.com CNAME .`` would take a whole top-level domain off the network.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

import orjson

from watchkeeper.core.ids import new_id
from watchkeeper.core.tlp import (
    MARKING_LEVELS,
    TLP1_MARKING_IDS,
    Tlp,
    marking_definition,
    parse_tlp,
)
from watchkeeper.intel.export_selection import (
    BinaryTarget,
    Exporter,
    Selection,
    Sink,
    ValueRow,
)

CSV_HEADER = ("kind", "value", "indicator_id", "tlp", "confidence", "modified")
ZEEK_HEADER = "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\n"
ZEEK_SOURCE = "watchkeeper"
ZEEK_TYPES = {
    "ipv4": "Intel::ADDR",
    "ipv6": "Intel::ADDR",
    "cidr4": "Intel::SUBNET",
    "cidr6": "Intel::SUBNET",
    "domain": "Intel::DOMAIN",
    "url": "Intel::URL",
    "email": "Intel::EMAIL",
    "md5": "Intel::FILE_HASH",
    "sha1": "Intel::FILE_HASH",
    "sha256": "Intel::FILE_HASH",
}
RPZ_TTL = 300
_MARKING_ID = re.compile(r"marking-definition--[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")
_TLP1 = frozenset(TLP1_MARKING_IDS.values())
_BREAKS = ("\n", "\r", "\t")
_LABELS = {level.value: level.label for level in Tlp}


def _label(tlp: str | None) -> str:
    """``TLP:AMBER`` for a stored level (one dictionary look-up per row); empty if unmarked."""
    if not tlp:
        return ""
    return _LABELS.get(tlp) or parse_tlp(tlp).label


def _lines(selection: Selection) -> Iterator[ValueRow]:
    """Distinct values that fit on one line of a line-oriented file."""
    for row in selection.distinct_values():
        if any(mark in row.value for mark in _BREAKS):
            selection.skip("unsafe_text")
            continue
        yield row


def write_stix(selection: Selection, target: BinaryTarget) -> None:
    """A STIX 2.1 bundle of the stored documents and the TLP definitions they reference."""
    sink = Sink(target)
    sink.write(b'{"type":"bundle","id":"bundle--' + new_id().encode() + b'"')
    opening = b',"objects":['
    referenced: set[str] = set()
    exported: set[str] = set()
    for row in selection.objects():
        sink.write(opening + row.doc.encode())
        opening = b","
        selection.report.objects += 1
        if row.type == "marking-definition":
            exported.add(row.id)
        referenced.update(_MARKING_ID.findall(row.doc))  # one scan of the text per object
    for marking in sorted(referenced.intersection(MARKING_LEVELS) - exported):
        level = MARKING_LEVELS[marking]
        definition = (
            marking_definition(level, version="1.0")
            if marking in _TLP1
            else marking_definition(level)
        )
        sink.write(opening + orjson.dumps(definition, option=orjson.OPT_SORT_KEYS))
        opening = b","
        selection.report.markings += 1
    sink.write(b"]}\n" if opening == b"," else b"}\n")
    sink.flush()


class _Text:
    """A text face on a sink, for ``csv.writer``."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def write(self, text: str) -> None:
        self._sink.write(text.encode())


def write_csv(selection: Selection, target: BinaryTarget) -> None:
    """One CSV row per value and object (see the module docstring for the columns)."""
    sink = Sink(target)
    writer = csv.writer(_Text(sink), lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in selection.values():
        writer.writerow(
            (row.kind, row.value, row.object_id, _label(row.tlp), row.confidence, row.modified)
        )
        selection.report.values += 1
    sink.flush()


def write_text(selection: Selection, target: BinaryTarget) -> None:
    """One value per line, each value once."""
    sink = Sink(target)
    for row in _lines(selection):
        sink.write(row.value.encode() + b"\n")
        selection.report.values += 1
    sink.flush()


def write_zeek(selection: Selection, target: BinaryTarget) -> None:
    """A Zeek Intelligence Framework file (tab-separated, ``#fields`` header)."""
    sink = Sink(target)
    sink.write(ZEEK_HEADER.encode())
    for row in _lines(selection):
        indicator = row.value
        if row.kind == "url":
            if not indicator.startswith("http://"):
                selection.skip("unsupported_url_scheme")
                continue
            indicator = indicator[len("http://") :]
        desc = row.object_id + (f" {_label(row.tlp)}" if row.tlp else "")
        if row.confidence is not None:
            desc += f" confidence {row.confidence}"
        sink.write(f"{indicator}\t{ZEEK_TYPES[row.kind]}\t{ZEEK_SOURCE}\t{desc}\n".encode())
        selection.report.values += 1
    sink.flush()


def write_rpz(selection: Selection, target: BinaryTarget) -> None:
    """A response policy zone answering NXDOMAIN for each domain and its subdomains."""
    sink = Sink(target)
    serial = int(selection.now.timestamp()) % 2**32
    sink.write(
        (
            f"; Watchkeeper intelligence export, {selection.now.isoformat()}\n"
            f"$TTL {RPZ_TTL}\n"
            f"@ IN SOA localhost. hostmaster.localhost. {serial} 3600 600 86400 {RPZ_TTL}\n"
            "@ IN NS localhost.\n"
        ).encode()
    )
    for row in _lines(selection):
        if "." not in row.value:
            selection.skip("single_label")
            continue
        sink.write(f"{row.value} CNAME .\n*.{row.value} CNAME .\n".encode())
        selection.report.values += 1
    sink.flush()


STIX = Exporter(
    name="stix",
    summary="STIX 2.1 bundle of the stored objects and their TLP marking definitions",
    write=write_stix,
    reads="objects",
    media_type="application/stix+json;version=2.1",
)
CSV = Exporter(
    name="csv",
    summary="CSV: kind,value,indicator_id,tlp,confidence,modified",
    write=write_csv,
    media_type="text/csv",
)
TEXT = Exporter(
    name="text",
    summary="plain blocklist, one value per line",
    write=write_text,
    media_type="text/plain",
)
ZEEK = Exporter(
    name="zeek",
    summary="Zeek Intelligence Framework file",
    write=write_zeek,
    kinds=frozenset(ZEEK_TYPES),
    media_type="text/tab-separated-values",
)
RPZ = Exporter(
    name="rpz",
    summary="DNS response policy zone (NXDOMAIN for each domain and its subdomains)",
    write=write_rpz,
    kinds=frozenset({"domain"}),
    media_type="text/dns",
)
