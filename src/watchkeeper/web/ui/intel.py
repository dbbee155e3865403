"""The Intelligence page: search the store for a value, and what the store holds."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from watchkeeper.errors import InvalidInput
from watchkeeper.intel import intel_stats, lookup
from watchkeeper.intel.scoring import ScoringPolicy
from watchkeeper.web.deps import node_of
from watchkeeper.web.ui.areas import AREAS_BY_SLUG
from watchkeeper.web.ui.pages import guard, page

router = APIRouter(prefix="/ui", include_in_schema=False)
READERS = ("admin", "analyst", "responder", "poc-officer", "central-authority")


@router.get("/intel")
def intel_page(request: Request, q: str = "") -> Response:
    """Search form, results for ``q``, and counts."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    hits, error = [], None
    policy, now = ScoringPolicy.from_settings(node.settings), node.clock.now()
    with node.database.reader() as session:
        if q.strip():
            try:
                hits = lookup(session, value=q[:4096], policy=policy, now=now)
            except InvalidInput as exc:
                error = exc.message
        stats = intel_stats(session, policy=policy, now=now)
    return page(
        request,
        "intel.html",
        login,
        area=AREAS_BY_SLUG["intel"],
        q=q,
        hits=hits,
        error=error,
        stats=stats,
    )
