"""Results between states: sent as a sealed evidence package, received and verified.

The requested node answers an executed request with a sealed package of evidence items
(``evidence.build_package``: encrypted to the requesting node, signed, "send-abroad" custody
events), carried in a "results" message. The requesting node keeps the package as a file
when the message arrives and registers it afterwards (``accept_results``): registering
writes the vault and the custody ledger in transactions of its own, which must not run
inside the message's. A file left by a crash in between is picked up by the next run, so
nothing received is lost; a package that fails verification is kept aside and the request
says why.

The use limits and conditions of the request travel with the package (Arts 36, 40(19)):
the received items carry them, and the evidence area refuses to send such an item on to a
third party without the sender's authorisation.
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.cooperation.incoming import step
from watchkeeper.cooperation.instruments import get_instrument
from watchkeeper.cooperation.models import CoopRequest
from watchkeeper.cooperation.requests import find_request, find_thread, record_step, transition
from watchkeeper.cooperation.transport import queue_message
from watchkeeper.errors import InvalidInput, WatchkeeperError
from watchkeeper.evidence import build_package, find_item, receive_package
from watchkeeper.node import Node
from watchkeeper.security import Principal

RESULT_ROLES = ("poc-officer", "central-authority")
RESULT_STATES = ("executed",)
INBOX_DIR = "cooperation/packages"
PACKAGE_OVERHEAD = 256 * 1024
"""Room left in a message for the package's manifest, custody extracts and envelope."""
EVIDENCE_ROLE = "evidence-officer"
"""Packages are built and registered in the evidence officer's capacity: custody events
name the role that acted."""


def _inbox(node: Node) -> Path:
    path = node.data_dir / INBOX_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_package_size(node: Node, *, size: int, reference: str) -> None:
    """Refuse before anything is sealed when the package could not travel in one message
    (base64 adds a third): sealing records "send-abroad" custody events, which must not
    describe a package that never left."""
    limit = node.settings.cooperation_max_message_bytes
    if size * 4 // 3 + PACKAGE_OVERHEAD > limit:
        raise InvalidInput(
            f"the items of {reference} hold {size} bytes, too large for one message (limit "
            f"{limit} bytes, setting cooperation_max_message_bytes); seal them with "
            "`watchkeeper evidence package` and hand the file over out of band",
            reason="too-large",
            field="evidence",
        )


def send_results(
    *,
    node: Node,
    principal: Principal,
    ref: str,
    evidence: list[str],
    authority: str,
) -> dict[str, Any]:
    """Answer an executed incoming request with a sealed package of ``evidence`` items."""
    principal.require(*RESULT_ROLES)
    with node.database.reader() as session:
        request = find_request(session, ref)
        if request.direction != "in" or request.status not in RESULT_STATES:
            raise InvalidInput(
                f"{request.reference} is {request.direction}/{request.status}; results answer "
                "an incoming request once it is executed",
                reason="status",
            )
        peer, request_id, reference = request.peer, request.id, request.reference
        limits = [*request.use_limits, *request.conditions]
        size = sum(find_item(session, ref).size or 0 for ref in evidence)
    check_package_size(node, size=size, reference=reference)
    if not peer:
        raise InvalidInput(f"{reference} came from no registered partner node", reason="no-peer")
    handle, name = tempfile.mkstemp(prefix=".results-", suffix=".wkp", dir=_inbox(node))
    os.close(handle)
    path = Path(name)
    path.unlink()
    try:
        package = build_package(
            node=node,
            actor=principal.actor,
            role=EVIDENCE_ROLE,
            item_ids=evidence,
            peer_code=peer,
            authority=authority,
            use_restrictions=limits or ["use only for the request " + reference],
            output=path,
            purpose=f"results of request {reference}",
        )
        data = path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
    with node.database.transaction() as session:
        request = find_request(session, request_id, for_update=True)
        instrument = get_instrument(node.data_dir, request.instrument)
        queue_message(
            session,
            node=node,
            clock=node.clock,
            actor=principal.actor,
            peer=peer,
            kind="results",
            thread=request.thread,
            body={
                "package_id": package.get("package_id"),
                "package": base64.b64encode(data).decode(),
                "items": len(evidence),
            },
        )
        transition(
            session,
            clock=node.clock,
            actor=principal.actor,
            request=request,
            instrument=instrument,
            to="results-sent",
            detail={"package_id": package.get("package_id"), "items": len(evidence)},
        )
        _disclose_parent(session, node=node, actor=principal.actor, request=request)
    return package


def _disclose_parent(session: Session, *, node: Node, actor: str, request: CoopRequest) -> None:
    """The preservation a follow-up request followed is now disclosed (Art 44)."""
    if not request.parent_id:
        return
    parent = find_request(session, request.parent_id, for_update=True)
    if parent.status != "held-pending-decision":
        return
    step(
        session,
        node=node,
        actor=actor,
        request=parent,
        instrument=get_instrument(node.data_dir, parent.instrument),
        to="disclosed",
        detail={"follow_up": request.reference, "article": "44"},
    )


def keep_results(session: Session, *, node: Node, envelope: dict[str, Any]) -> dict[str, Any]:
    """The "results" handler: check the request exists, keep the package for registering."""
    sender, thread = str(envelope["from"]), str(envelope["thread"])
    request = find_thread(session, thread=thread, direction="out", peer=sender)
    body = envelope.get("body") or {}
    try:
        data = base64.b64decode(str(body.get("package", "")), validate=True)
    except (ValueError, binascii.Error):
        raise InvalidInput("results message: the package is not base64", field="package") from None
    if not data:
        raise InvalidInput("results message without a package", field="package")
    target = _inbox(node) / f"{request.id}.{envelope['id']}.wkp"
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, target)
    record_step(
        session,
        clock=node.clock,
        actor=f"peer:{sender}",
        request=request,
        action="results-arrived",
        detail={"package_id": body.get("package_id"), "bytes": len(data)},
    )
    return {"kept": True}


def accept_results(node: Node, *, actor: str = "system:cooperation") -> list[dict[str, Any]]:
    """Register every package kept by :func:`keep_results` (verified, or set aside)."""
    done: list[dict[str, Any]] = []
    for path in sorted(_inbox(node).glob("*.wkp")):
        if path.name.startswith("."):
            continue
        request_id = path.name.split(".", 1)[0]
        try:
            received = receive_package(node=node, actor=actor, role=EVIDENCE_ROLE, path=path)
        except WatchkeeperError as exc:
            path.replace(path.with_suffix(".rejected"))
            with node.database.transaction() as session:
                request = find_request(session, request_id, for_update=True)
                record_step(
                    session,
                    clock=node.clock,
                    actor=actor,
                    request=request,
                    action="results-refused",
                    detail={"reason": exc.fields.get("reason"), "message": exc.message},
                )
            done.append({"request": request_id, "refused": exc.message})
            continue
        with node.database.transaction() as session:
            request = find_request(session, request_id, for_update=True)
            item_ids = [item["id"] for item in received["items"]]
            request.evidence_ids = sorted({*request.evidence_ids, *item_ids})
            instrument = get_instrument(node.data_dir, request.instrument)
            detail = {
                "package_id": received["package_id"],
                "items": [item["exhibit_number"] for item in received["items"]],
                "use_restrictions": received["use_restrictions"],
            }
            if request.status in ("closed", "withdrawn", "answered"):
                record_step(
                    session,
                    clock=node.clock,
                    actor=actor,
                    request=request,
                    action="results-received",
                    detail=detail,
                )
            else:
                transition(
                    session,
                    clock=node.clock,
                    actor=actor,
                    request=request,
                    instrument=instrument,
                    to="answered",
                    action="results-received",
                    detail=detail,
                )
        path.unlink(missing_ok=True)
        done.append({"request": request_id, **detail})
    return done
