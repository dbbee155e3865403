"""TAXII 2.1 media types: what every response is, and what requests must ask for and send.

Every TAXII response, errors included, is ``application/taxii+json;version=2.1``. A request
must accept that type (``Accept``, with or without the version; 406 otherwise) and a POST
must send it (``Content-Type``; 415 otherwise). Wildcards are not taken as acceptance: a
client that cannot name the TAXII type is not speaking TAXII 2.1, and saying so early is
clearer than an answer it then fails to read.
"""

from __future__ import annotations

from starlette.responses import Response

TAXII_TYPE = "application/taxii+json"
TAXII_MEDIA_TYPE = f"{TAXII_TYPE};version=2.1"
VERSION = "2.1"


def _is_taxii_21(media_range: str) -> bool:
    """Whether one media range (``type;param=value;...``) is TAXII 2.1 (no version: latest)."""
    kind, *params = (part.strip() for part in media_range.split(";"))
    if kind.lower() != TAXII_TYPE:
        return False
    for param in params:
        name, _, value = param.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"')
        if name == "version" and value != VERSION:
            return False
        if name == "q" and value in ("0", "0.0", "0.00", "0.000"):
            return False
    return True


def accepts_taxii(accept: str | None) -> bool:
    """Whether an ``Accept`` header lets the server answer in TAXII 2.1."""
    return bool(accept) and any(_is_taxii_21(item) for item in (accept or "").split(","))


def is_taxii_content(content_type: str | None) -> bool:
    """Whether a request's ``Content-Type`` is TAXII 2.1 (a ``charset`` may ride along)."""
    return bool(content_type) and _is_taxii_21(content_type or "")


class TaxiiResponse(Response):
    """A response of the TAXII media type (the body is already encoded JSON)."""

    media_type = TAXII_MEDIA_TYPE
