"""Suricata export: dataset files and the rules that load them, in one tar archive.

Suricata matches large lists through datasets (docs.suricata.io, rules/datasets.rst; Suricata
7.0 and later for the address types): one value per line, ``string`` values base64-encoded,
``ipv4`` and ``ip`` (IPv6 or IPv4) values in their text form. A dataset matches a buffer
exactly, so what fits is what has one buffer to compare with:

* ``watchkeeper-domains.lst`` (``type string``): domains, compared with ``dns.query``,
  ``tls.sni`` and ``http.host``. Exact names only: a subdomain of a listed domain does not match.
* ``watchkeeper-ipv4.lst`` (``type ipv4``) and ``watchkeeper-ipv6.lst`` (``type ip``):
  addresses, compared with the ``ip.src`` and ``ip.dst`` sticky buffers (rules/ipaddr.rst).
* ``watchkeeper.rules``: one ``alert`` rule per buffer, ``dataset:isset,<name>, type <type>,
  load <file>``; ``load`` is relative to the rules file, so the archive is unpacked into one
  directory. SIDs are 1990001-1990007, in the range kept for local rules.

Networks, URLs, e-mail addresses and hashes have no dataset buffer to meet (a URL is spread
over ``http.host`` and ``http.uri``; ``to_md5`` hashes a buffer, not a file) and are counted
as ``unsupported_kind``. The archive is written as a stream (``tar -x`` reads it from a pipe);
each list is spooled to a temporary file past a few megabytes, since a tar member needs its
size before its content.
"""

from __future__ import annotations

import base64
import io
import tarfile
import tempfile
from dataclasses import dataclass
from typing import IO

from watchkeeper.intel.export_selection import BinaryTarget, Exporter, Selection

SPOOL_BYTES = 8 * 1024**2
SID_BASE = 1990000
RULES_FILE = "watchkeeper.rules"


@dataclass(frozen=True)
class Dataset:
    """One dataset file: the kind it holds, Suricata's type for it, the buffers it meets."""

    kind: str
    name: str
    type: str
    buffers: tuple[str, ...]

    @property
    def file(self) -> str:
        """The file name inside the archive (and in the rules' ``load``)."""
        return f"{self.name}.lst"

    def line(self, value: str) -> bytes:
        """The value as the dataset file holds it."""
        data = value.encode()
        return (base64.b64encode(data) if self.type == "string" else data) + b"\n"


DATASETS = (
    Dataset("domain", "watchkeeper-domains", "string", ("dns.query", "tls.sni", "http.host")),
    Dataset("ipv4", "watchkeeper-ipv4", "ipv4", ("ip.src", "ip.dst")),
    Dataset("ipv6", "watchkeeper-ipv6", "ip", ("ip.src", "ip.dst")),
)
_PROTOCOLS = {"dns.query": "dns", "tls.sni": "tls", "http.host": "http"}
_NOUNS = {"domain": "domain", "ipv4": "IPv4 address", "ipv6": "IPv6 address"}
_WHAT = {
    "dns.query": "DNS query for",
    "tls.sni": "TLS server name of",
    "http.host": "HTTP host of",
    "ip.src": "traffic from",
    "ip.dst": "traffic to",
}


def rules(*, stamp: str) -> str:
    """The rules file: one rule per dataset and buffer."""
    lines = [
        f"# Watchkeeper intelligence export for Suricata 7 or later, {stamp}",
        "# Unpack next to the .lst files: dataset 'load' paths are relative to this file.",
    ]
    sid = SID_BASE
    for dataset in DATASETS:
        for buffer in dataset.buffers:
            sid += 1
            protocol = _PROTOCOLS.get(buffer, "ip")  # the address buffers work on any IP packet
            noun = _NOUNS[dataset.kind]
            lines.append(
                f'alert {protocol} any any -> any any (msg:"Watchkeeper intel: {_WHAT[buffer]} '
                f'a listed {noun}"; {buffer}; dataset:isset,{dataset.name}, type {dataset.type}, '
                f"load {dataset.file}; sid:{sid}; rev:1;)"
            )
    return "\n".join(lines) + "\n"


def _member(archive: tarfile.TarFile, name: str, data: IO[bytes], *, mtime: float) -> None:
    size = data.seek(0, 2)
    data.seek(0)
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    archive.addfile(info, data)


def write_suricata(selection: Selection, target: BinaryTarget) -> None:
    """A tar archive of the dataset files and ``watchkeeper.rules``."""
    by_kind = {dataset.kind: dataset for dataset in DATASETS}
    spools = {
        dataset.kind: tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        for dataset in DATASETS
    }
    try:
        for row in selection.distinct_values():
            spools[row.kind].write(by_kind[row.kind].line(row.value))
            selection.report.values += 1
        mtime = selection.now.timestamp()
        # Stream mode ("w|") never seeks the target, so a pipe or a socket will do.
        with tarfile.open(fileobj=target, mode="w|", format=tarfile.PAX_FORMAT) as archive:  # type: ignore[call-overload]
            for dataset in DATASETS:
                _member(archive, dataset.file, spools[dataset.kind], mtime=mtime)
            text = io.BytesIO(rules(stamp=selection.now.isoformat()).encode())
            _member(archive, RULES_FILE, text, mtime=mtime)
    finally:
        for spool in spools.values():
            spool.close()


SURICATA = Exporter(
    name="suricata",
    summary="Suricata datasets (domains, IPv4, IPv6) and rules loading them, as a tar archive",
    write=write_suricata,
    kinds=frozenset(dataset.kind for dataset in DATASETS),
    media_type="application/x-tar",
)
