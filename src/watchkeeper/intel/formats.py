"""Which importer reads an input: ``--format auto`` looks at the first bytes of each input."""

from __future__ import annotations

from watchkeeper.errors import InvalidInput
from watchkeeper.intel.inputs import Input, open_input

FORMATS = ("stix", "misp", "misp-feed", "csv", "text")
PEEK = 65536


def sniff(head: bytes) -> str:
    """The format of an input from its first bytes."""
    text = head.lstrip()
    if text[:1] in (b"{", b"["):
        if b'"Event"' in text or b'"response"' in text:
            return "misp"
        return "stix"
    return "text"


def detect_format(inputs: list[Input]) -> str:
    """The one format all inputs share (a MISP feed directory is recognised by its manifest)."""
    if any(i.path is not None and i.path.name == "manifest.json" for i in inputs):
        return "misp-feed"
    found: set[str] = set()
    for source in inputs:
        if source.path is None:
            return "stix"  # stdin cannot be peeked and replayed here; STIX is the default
        with open_input(source) as stream:
            found.add(sniff(stream.read(PEEK)))
    if len(found) > 1:
        raise InvalidInput(
            f"inputs mix formats ({', '.join(sorted(found))}); import them separately or "
            "give --format",
            field="format",
        )
    return found.pop() if found else "stix"
