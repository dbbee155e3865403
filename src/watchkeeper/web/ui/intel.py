"""The Intelligence page: search the store for a value, and what the store holds; object pages."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.intel import ScoringPolicy, intel_stats, lookup, object_view
from watchkeeper.web.deps import node_of
from watchkeeper.web.ui.areas import AREAS_BY_SLUG
from watchkeeper.web.ui.pages import denied, guard, page

router = APIRouter(prefix="/ui", include_in_schema=False)
READERS = ("admin", "analyst", "responder", "poc-officer", "central-authority")
COMMON_SHOWN = 20  # objects listed per common value: the page stays readable


def _trim_common(hits: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows to show, and the common values whose rows were cut to ``COMMON_SHOWN``."""
    shown: list[dict[str, Any]] = []
    rows: dict[tuple[str, str], int] = {}
    holders: dict[tuple[str, str], int] = {}
    for hit in hits:
        key = (hit["kind"], hit["value"])
        rows[key] = rows.get(key, 0) + 1
        if not hit["common"] or rows[key] <= COMMON_SHOWN:
            shown.append(hit)
        if hit["common"]:
            holders[key] = hit["holders"]
    cut = [
        {"kind": kind, "value": value, "holders": count, "rows": rows[(kind, value)]}
        for (kind, value), count in holders.items()
        if rows[(kind, value)] > COMMON_SHOWN
    ]
    return shown, cut


@router.get("/intel")
def intel_page(request: Request, q: str = "") -> Response:
    """Search form, results for ``q``, and counts."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    hits: list[dict[str, Any]] = []
    cut: list[dict[str, Any]] = []
    error = None
    policy, now = ScoringPolicy.from_settings(node.settings), node.clock.now()
    with node.database.reader() as session:
        if q.strip():
            try:
                hits = lookup(
                    session,
                    value=q[:4096],
                    policy=policy,
                    now=now,
                    common_threshold=node.settings.intel_common_threshold,
                )
            except InvalidInput as exc:
                error = exc.message
        # Counts only: scoring every stored indicator takes seconds on a national store and
        # this page is loaded on every search (`watchkeeper intel stats` gives the scored counts).
        stats = intel_stats(session, policy=policy, now=now, scores=False)
    hits, cut = _trim_common(hits)
    return page(
        request,
        "intel.html",
        login,
        area=AREAS_BY_SLUG["intel"],
        q=q,
        hits=hits,
        cut=cut,
        shown=COMMON_SHOWN,
        error=error,
        stats=stats,
    )


@router.get("/intel/object/{stix_id}")
def intel_object_page(request: Request, stix_id: str) -> Response:
    """Every version of one object, its values, provenance, score and correlations."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.reader() as session:
            view = object_view(
                session,
                stix_id=stix_id,
                policy=ScoringPolicy.from_settings(node.settings),
                now=node.clock.now(),
                common_threshold=node.settings.intel_common_threshold,
            )
    except NotFound as exc:
        return denied(request, login, exc)
    return page(
        request,
        "intel_object.html",
        login,
        area=AREAS_BY_SLUG["intel"],
        view=view,
        pretty=json.dumps(view["document"], indent=2, ensure_ascii=False, sort_keys=True),
    )
