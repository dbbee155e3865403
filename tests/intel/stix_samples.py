"""STIX objects and bundles of our own for the intelligence tests."""

from __future__ import annotations

import uuid
from typing import Any

STAMP = "2026-03-01T10:00:00.000Z"


def indicator(pattern: str, *, modified: str = STAMP, **extra: Any) -> dict[str, Any]:
    """A minimal valid STIX 2.1 indicator."""
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": extra.pop("id", f"indicator--{uuid.uuid4()}"),
        "created": STAMP,
        "modified": modified,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": STAMP,
        **extra,
    }


def bundle(*objects: dict[str, Any]) -> dict[str, Any]:
    """A bundle holding ``objects``."""
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(objects)}
