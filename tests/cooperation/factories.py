"""Rows for cooperation tests, written straight to the tables (no checks, no audit).

``make_request`` fills every column a request cannot do without with plausible values, so a
test names only what it is about: ``make_request(session, direction="in", ack_due_at=...)``.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.cooperation.models import CoopRequest
from watchkeeper.core import new_id
from watchkeeper.testing import FIXED_START

_serial = itertools.count(1)


def make_request(session: Session, **overrides: Any) -> CoopRequest:
    """Add (and flush) a request: an outgoing preservation draft unless ``overrides`` say
    otherwise; ``reference`` defaults to a unique ``OUT-``/``IN-`` number."""
    request_id = overrides.pop("id", None) or new_id()
    direction = overrides.get("direction", "out")
    created: datetime = overrides.get("created_at", FIXED_START)
    prefix = "OUT" if direction == "out" else "IN"
    values: dict[str, Any] = {
        "id": request_id,
        "reference": f"{prefix}-{created.year}-{next(_serial):06d}",
        "thread": request_id,
        "direction": direction,
        "type": "preservation",
        "instrument": "un-cybercrime",
        "requesting_state": "QA" if direction == "out" else "FR",
        "requested_state": "FR" if direction == "out" else "QA",
        "peer": None,
        "channel": "poc-24-7",
        "language": "en",
        "urgent": False,
        "status": "draft" if direction == "out" else "received",
        "contents": {},
        "offence": {"basis": "art-7", "max_penalty_years": 5, "summary": "intrusion"},
        "data": [],
        "period": None,
        "confidential": True,
        "no_user_notice": False,
        "use_limits": [],
        "conditions": [],
        "case_id": None,
        "evidence_ids": [],
        "indicator_ids": [],
        "parent_id": None,
        "author": "alice",
        "approver": None,
        "screen": None,
        "decision": None,
        "consultations": [],
        "created_at": created,
        "updated_at": created,
        "escalations": 0,
        "alarms": [],
    }
    values.update(overrides)
    request = CoopRequest(**values)
    session.add(request)
    session.flush()
    return request
