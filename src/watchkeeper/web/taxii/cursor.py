"""TAXII ``next`` tokens: an opaque cursor bound to the request that issued it.

A token holds the ``seq`` of the last version served (the store's unique, increasing
sequence, so the next page starts exactly after it even when thousands of versions share one
``date_added``), when it expires, and a digest of what the request asked for: the endpoint,
the collection, the object, every filter, and the caller. Used with anything else, it is
refused (400), as TAXII requires; the page size may change between pages (clients adapt it).
A token grants nothing: every page applies the collection's filters and the sharing policy
again, so a forged one can only start a page elsewhere in what the caller may read anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime, timedelta

import orjson

from watchkeeper.web.taxii.errors import TaxiiRefusal

LIFETIME = timedelta(hours=1)
"""How long a ``next`` token may be used (a client paging through a collection at any sane
pace takes far less; one left lying around stops working)."""
VERSION = "1"


def _digest(scope: list[object]) -> str:
    return hashlib.sha256(orjson.dumps(scope)).hexdigest()[:32]


def issue(last_seq: int, *, scope: list[object], now: datetime) -> str:
    """A token for the page after ``last_seq`` of the request described by ``scope``."""
    expires = int((now + LIFETIME).timestamp())
    raw = f"{VERSION}.{last_seq}.{expires}.{_digest(scope)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _refuse(message: str, reason: str) -> TaxiiRefusal:
    return TaxiiRefusal(400, f"next: {message}", code="taxii.next", reason=reason)


def redeem(token: str, *, scope: list[object], now: datetime) -> int:
    """The ``seq`` a token continues after; 400 when it is malformed, expired, or was issued
    for another request (other filters, collection, object or caller)."""
    try:
        padded = token.strip() + "=" * (-len(token.strip()) % 4)
        version, seq, expires, digest = (
            base64.urlsafe_b64decode(padded.encode()).decode().split(".")
        )
        last_seq, deadline = int(seq), int(expires)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _refuse("not a token this server issued", "malformed") from None
    if version != VERSION or last_seq < 0:
        raise _refuse("not a token this server issued", "malformed")
    if digest != _digest(scope):
        raise _refuse(
            "the token was issued for a request with other filters; page with the filters "
            "of the first request, or start again without next",
            "filters_changed",
        )
    if deadline < int(now.timestamp()):
        raise _refuse("the token has expired; start again without next", "expired")
    return last_seq
