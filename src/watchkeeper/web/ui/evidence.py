"""The Evidence pages: the vault's items (per case, by status), one item with its hashes, legal
basis, acquisition and custody timeline, the "Verify now" button and the check-out/check-in
forms.

Verification changes nothing, so its form answers with the item page and the report directly
(a reload only verifies again); check-out and check-in redirect (post/redirect/get), so a
reload never writes a second custody event. Roles are the API's (``web.api.evidence``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from watchkeeper.errors import InvalidInput, NotFound, WatchkeeperError
from watchkeeper.evidence import KINDS, STATUSES, checkin, checkout, custody_timeline
from watchkeeper.evidence import verify_evidence as run_verify
from watchkeeper.evidence.custody import page_of_items
from watchkeeper.web.api.evidence import HANDLERS, READERS, case_id_of
from watchkeeper.web.deps import node_of
from watchkeeper.web.ui.areas import AREAS_BY_SLUG
from watchkeeper.web.ui.pages import back_to, denied, form_guard, guard, page

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE_SIZE = 50
Csrf = Annotated[str, Form()]


@router.get("/evidence")
def evidence_page(
    request: Request,
    case: str = "",
    status: str = "",
    kind: str = "",
    offset: int = 0,
    message: str | None = None,
) -> Response:
    """The vault's items, filtered by case, status and kind, a page at a time."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    error = None
    result: dict[str, Any] = {"items": [], "total": 0}
    try:
        with node.database.reader() as session:
            case_ref = case_id_of(session, case[:40]) if case else None
            result = page_of_items(
                session,
                case_ref=case_ref,
                status=status or None,
                kind=kind or None,
                limit=PAGE_SIZE,
                offset=max(offset, 0),
            )
    except (InvalidInput, NotFound) as exc:
        error = exc.message
    filters = {"case": case, "status": status, "kind": kind}
    next_url = None
    if offset + PAGE_SIZE < result["total"]:
        next_url = "/ui/evidence?" + urlencode({**filters, "offset": offset + PAGE_SIZE})
    return page(
        request,
        "evidence.html",
        login,
        area=AREAS_BY_SLUG["evidence"],
        items=result["items"],
        total=result["total"],
        next_url=next_url,
        filters=filters,
        statuses=STATUSES,
        kinds=KINDS,
        error=error,
        message=message,
    )


def _item_page(
    request: Request, item: str, *, report: dict[str, Any] | None = None, message: str | None = None
) -> Response:
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.reader() as session:
            document = custody_timeline(session, item=item)
    except NotFound as exc:
        return denied(request, login, exc)
    return page(
        request,
        "evidence_item.html",
        login,
        area=AREAS_BY_SLUG["evidence"],
        item=document,
        events=document["custody"],
        report=report,
        message=message,
        can_handle=login.principal.has(*HANDLERS),
    )


@router.get("/evidence/{item}")
def evidence_item_page(request: Request, item: str, message: str | None = None) -> Response:
    """One item: details, hashes, legal basis, acquisition and the custody timeline."""
    return _item_page(request, item, message=message)


@router.post("/evidence/{item}/verify")
def evidence_verify_submit(request: Request, item: str, csrf: Csrf = "") -> Response:
    """Re-hash the content and check the chain and signatures now; show the outcome."""
    login = form_guard(request, csrf, *READERS)
    if isinstance(login, Response):
        return login
    try:
        report = run_verify(node=node_of(request), item_ids=[item]).document()
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    return _item_page(request, item, report=report)


@router.post("/evidence/{item}/checkout")
def evidence_checkout_submit(
    request: Request,
    item: str,
    csrf: Csrf = "",
    purpose: Annotated[str, Form()] = "",
    location: Annotated[str, Form()] = "",
) -> Response:
    """Check the item out of the vault for the stated purpose."""
    login = form_guard(request, csrf, *HANDLERS)
    if isinstance(login, Response):
        return login
    try:
        done = checkout(
            node=node_of(request),
            principal=login.principal,
            item=item,
            purpose=purpose[:2000],
            location=location.strip()[:300] or None,
        )
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    return back_to(f"/ui/evidence/{done['id']}", f"{done['exhibit_number']} checked out")


@router.post("/evidence/{item}/checkin")
def evidence_checkin_submit(
    request: Request, item: str, csrf: Csrf = "", purpose: Annotated[str, Form()] = ""
) -> Response:
    """Return the item to the vault; its content is re-hashed and compared."""
    login = form_guard(request, csrf, *HANDLERS)
    if isinstance(login, Response):
        return login
    try:
        done = checkin(
            node=node_of(request),
            principal=login.principal,
            item=item,
            purpose=purpose[:2000] or "return to vault",
        )
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    return back_to(
        f"/ui/evidence/{done['id']}", f"{done['exhibit_number']} checked in, content hash matches"
    )
