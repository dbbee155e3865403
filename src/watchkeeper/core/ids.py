"""Identifiers: random UUIDs as text, the form STIX and our event log use."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """A new random UUID (version 4) as a lower-case string."""
    return str(uuid.uuid4())
