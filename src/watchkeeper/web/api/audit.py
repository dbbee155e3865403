"""Reading and verifying the audit ledger (admin, auditor)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from watchkeeper.security import entry_document, list_entries, verify
from watchkeeper.web.deps import Auditor, NodeDep

router = APIRouter(tags=["audit"])


@router.get("/audit")
def audit_entries(
    node: NodeDep,
    principal: Auditor,
    after: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
    action: str | None = None,
) -> list[dict[str, Any]]:
    """Ledger entries after ``after`` in order."""
    with node.database.reader() as session:
        return [
            entry_document(e)
            for e in list_entries(session, after=after, limit=limit, action=action)
        ]


@router.get("/audit/verify")
def audit_verify(node: NodeDep, principal: Auditor) -> dict[str, Any]:
    """Check the whole hash chain; names the first bad entry if any."""
    with node.database.reader() as session:
        result = verify(session)
    return {
        "ok": result.ok,
        "checked": result.checked,
        "bad_seq": result.bad_seq,
        "reason": result.reason,
    }
