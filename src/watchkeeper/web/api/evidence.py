"""The evidence vault over the API: list, one item with its custody timeline, verify,
check-out and check-in, content download and intake upload; CASE/UCO export, retention, legal
hold and two-approver disposal; sealed packages for a peer, and receiving one.

Staff only, never a partner node. Reading (and verifying, which changes nothing) is open to
the roles that work with or oversee evidence, auditors and legal reviewers included. Check-out,
check-in and opening content follow the vault's own rule (``OPEN_ROLES``: evidence officer or
case team); every one of them writes a custody event. Intake is for evidence officers and
responders: responders are the ones acquiring at the scene, and every intake is a signed
"collect" event naming who did it in which role.

An upload is streamed part by part to a temporary file under the node's data directory (never
held in memory, never in the system temp directory), bounded by :data:`MAX_UPLOAD_BYTES`,
preserved by ``add_evidence`` and removed whatever happens. A package is built the same way,
into the spool, streamed back and removed when the response ends; a received package is spooled
like an intake upload.

Export and packages follow the use cases' own rule (``OPEN_ROLES``, admin acting as evidence
officer). Retention, legal hold and disposal change what the vault may destroy: admin or
evidence officer only, and disposal needs two approvers besides the requester.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.core import new_id
from watchkeeper.errors import IntegrityError, InvalidInput
from watchkeeper.evidence import (
    OPEN_ROLES,
    acting_role,
    add_evidence,
    build_package,
    checkin,
    checkout,
    custody_timeline,
    dispose_approve,
    dispose_request,
    export_case_bundle,
    find_item,
    item_document,
    open_content,
    receive_package,
    set_legal_hold,
    set_retention,
    verify_evidence,
)
from watchkeeper.evidence.custody import page_of_items
from watchkeeper.evidence.disposal import DISPOSE_ROLES
from watchkeeper.node import Node
from watchkeeper.respond.cases import find_case
from watchkeeper.security import Principal
from watchkeeper.web.deps import NodeDep, require

if TYPE_CHECKING:  # the callbacks' type exists for type checkers only
    from python_multipart.multipart import MultipartCallbacks

router = APIRouter(prefix="/evidence", tags=["evidence"])
READERS = ("admin", "evidence-officer", "analyst", "responder", "legal-reviewer", "auditor")
HANDLERS = ("admin", *OPEN_ROLES)
COLLECTORS = ("admin", "evidence-officer", "responder")
Reader = Annotated[Principal, Depends(require(*READERS))]
Handler = Annotated[Principal, Depends(require(*HANDLERS))]
Collector = Annotated[Principal, Depends(require(*COLLECTORS))]
Custodian = Annotated[Principal, Depends(require("admin", *DISPOSE_ROLES))]
# Larger acquisitions go through ``watchkeeper evidence add`` on the node itself.
MAX_UPLOAD_BYTES = 4 * 1024**3
MAX_FIELD_BYTES = 4096
CHUNK = 1024 * 1024
UPLOAD_FIELDS = ("case", "exhibit", "authority", "kind", "description", "location")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def case_id_of(session: Session, ref: str) -> str:
    """The id of the case named by id or number (the vault stores ids)."""
    return find_case(session, case_id=ref).id


class VerifyIn(BaseModel):
    """Items to verify (ids or exhibit numbers), or ``all``."""

    items: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=10_000
    )
    all: bool = False
    rehash: bool = True


class PurposeIn(BaseModel):
    """Why the item is handled (kept in its custody record)."""

    purpose: str = Field(min_length=1, max_length=2000)
    location: str | None = Field(None, max_length=300)


class ExportIn(BaseModel):
    """What to export (items by id or exhibit number, or a whole case) and why."""

    items: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=10_000
    )
    case: str | None = Field(None, min_length=1, max_length=40)
    purpose: str = Field(min_length=1, max_length=2000)


class RetentionIn(BaseModel):
    """Keep the item until this date; ``null`` clears it."""

    until: date | None


class HoldIn(BaseModel):
    """Put on (``true``) or release a legal hold, and why."""

    hold: bool
    reason: str = Field(min_length=1, max_length=2000)


class DisposalIn(BaseModel):
    """Why the item may be destroyed."""

    reason: str = Field(min_length=1, max_length=2000)


class PackageIn(BaseModel):
    """A sealed package of ``items`` for the peer ``peer``."""

    items: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        min_length=1, max_length=10_000
    )
    peer: str = Field(min_length=1, max_length=60)
    authority: str = Field(min_length=1, max_length=300)
    restrictions: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list, max_length=50
    )
    purpose: str = Field(min_length=1, max_length=2000)
    allow_red: bool = False


@router.get("")
def evidence_list(
    node: NodeDep,
    principal: Reader,
    case: str | None = Query(None, min_length=1, max_length=40, description="Id or number."),
    status: str | None = Query(None, max_length=20),
    kind: str | None = Query(None, max_length=30),
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """A page of evidence items in exhibit order, filtered by case, status and kind."""
    with node.database.reader() as session:
        case_ref = case_id_of(session, case) if case else None
        return page_of_items(
            session, case_ref=case_ref, status=status, kind=kind, limit=limit, offset=offset
        )


@router.post("/verify")
def evidence_verify(node: NodeDep, principal: Reader, body: VerifyIn) -> dict[str, Any]:
    """Re-hash content and check every chain and signature of the named items (or all).

    A failed verification is still a 200: the report names each failure; the state is ``ok``.
    """
    if not body.items and not body.all:
        raise InvalidInput("name items or set all", field="items")
    report = verify_evidence(
        node=node, item_ids=None if body.all else body.items, rehash_content=body.rehash
    )
    return report.document()


@router.post("/export")
def evidence_export(node: NodeDep, principal: Handler, body: ExportIn) -> dict[str, Any]:
    """CASE/UCO JSON-LD of the items (or of a case), after an "export" custody event each."""
    if not body.items and not body.case:
        raise InvalidInput("name items or a case", field="items")
    case_ref = None
    if body.case:
        with node.database.reader() as session:
            case_ref = case_id_of(session, body.case)
    return export_case_bundle(
        node=node,
        principal=principal,
        purpose=body.purpose,
        case_ref=case_ref,
        item_ids=body.items or None,
    )


@router.post("/disposals/{request_id}/approve")
def evidence_dispose_approve(
    node: NodeDep, principal: Custodian, request_id: str
) -> dict[str, Any]:
    """Approve a disposal request; the second approval disposes of the item."""
    return dispose_approve(node=node, principal=principal, request_id=request_id)


@router.post("/packages")
async def evidence_package(node: NodeDep, principal: Handler, body: PackageIn) -> StreamingResponse:
    """Seal the items for a peer and answer the package file (a download).

    The package is written under the spool and removed once the response ends or is cut.
    """
    directory = node.data_dir / "spool" / f"package-{new_id()}"
    directory.mkdir(parents=True)
    stack = ExitStack()
    stack.callback(shutil.rmtree, directory, ignore_errors=True)
    try:
        output = directory / "package.tar"

        def work() -> dict[str, Any]:
            result: dict[str, Any] = build_package(
                node=node,
                actor=principal.actor,
                role=acting_role(principal),
                item_ids=body.items,
                peer_code=body.peer,
                authority=body.authority,
                use_restrictions=body.restrictions,
                output=output,
                purpose=body.purpose,
                allow_red=body.allow_red,
            )
            return result

        result = await run_in_threadpool(work)
        handle = stack.enter_context(output.open("rb"))
        size = output.stat().st_size
    except BaseException:
        stack.close()
        raise
    name = SAFE_NAME.sub("_", f"{result['package_id']}.tar")
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "Content-Length": str(size),
        "X-Package-Id": str(result["package_id"]),
    }
    return StreamingResponse(
        _chunks(handle, stack), media_type="application/x-tar", headers=headers
    )


@router.post("/packages/receive", status_code=201)
async def evidence_receive(request: Request, node: NodeDep, principal: Handler) -> dict[str, Any]:
    """Check an uploaded package (field ``file``) completely and register its items.

    A refused package is the sender's or the carrier's fault, not this node's: it answers 422
    naming the reason (``reason`` field, ``package.<reason>`` code).
    """
    directory = node.data_dir / "spool" / f"package-{new_id()}"
    directory.mkdir(parents=True)
    upload = _Upload(directory)
    try:
        await _receive(request, upload)
        upload.close()
        path = upload.file
        if path is None:
            raise InvalidInput("no file in the upload (field 'file')", field="file")

        def work() -> dict[str, Any]:
            assert path is not None
            result: dict[str, Any] = receive_package(
                node=node, actor=principal.actor, role=acting_role(principal), path=path
            )
            return result

        try:
            return await run_in_threadpool(work)
        except IntegrityError as exc:
            if not exc.code.startswith("package."):
                raise
            raise InvalidInput(exc.message, code=exc.code, **exc.fields) from None
    finally:
        upload.close()
        shutil.rmtree(directory, ignore_errors=True)


@router.get("/{item}")
def evidence_get(node: NodeDep, principal: Reader, item: str) -> dict[str, Any]:
    """One item (id or exhibit number) with its custody timeline."""
    with node.database.reader() as session:
        return custody_timeline(session, item=item)


@router.post("/{item}/verify")
def evidence_verify_one(node: NodeDep, principal: Reader, item: str) -> dict[str, Any]:
    """Verify one item: content, chain and signatures."""
    return verify_evidence(node=node, item_ids=[item]).document()


@router.post("/{item}/checkout")
def evidence_checkout(
    node: NodeDep, principal: Handler, item: str, body: PurposeIn
) -> dict[str, Any]:
    """Take the item out of the vault for work (a "check-out" custody event)."""
    return checkout(
        node=node, principal=principal, item=item, purpose=body.purpose, location=body.location
    )


@router.post("/{item}/checkin")
def evidence_checkin(
    node: NodeDep, principal: Handler, item: str, body: PurposeIn
) -> dict[str, Any]:
    """Return the item; its content is re-hashed (409-free: a mismatch is an integrity error)."""
    return checkin(node=node, principal=principal, item=item, purpose=body.purpose)


@router.post("/{item}/retention")
def evidence_retention(
    node: NodeDep, principal: Custodian, item: str, body: RetentionIn
) -> dict[str, Any]:
    """Keep the item until a date (or clear it); disposal is refused before then."""
    with node.database.transaction() as session:
        return set_retention(
            session, clock=node.clock, actor=principal.actor, item_id=item, until=body.until
        )


@router.post("/{item}/hold")
def evidence_hold(node: NodeDep, principal: Custodian, item: str, body: HoldIn) -> dict[str, Any]:
    """Put on or release a legal hold; disposal is refused while it is on."""
    with node.database.transaction() as session:
        return set_legal_hold(
            session,
            clock=node.clock,
            actor=principal.actor,
            item_id=item,
            hold=body.hold,
            reason=body.reason,
        )


@router.post("/{item}/disposal", status_code=201)
def evidence_disposal(
    node: NodeDep, principal: Custodian, item: str, body: DisposalIn
) -> dict[str, Any]:
    """Request disposal of the item; two other officers must approve it."""
    return dispose_request(node=node, principal=principal, item=item, reason=body.reason)


@router.get("/{item}/content")
def evidence_content(
    node: NodeDep,
    principal: Handler,
    item: str,
    purpose: str = Query(min_length=1, max_length=2000),
    action: str = Query("analyse", pattern="^(analyse|export)$"),
) -> StreamingResponse:
    """The item's content, after an "analyse" (or "export") custody event naming the purpose."""
    stack = ExitStack()
    handle = stack.enter_context(
        open_content(node=node, principal=principal, item=item, purpose=purpose, action=action)
    )
    try:
        with node.database.reader() as session:
            document = item_document(find_item(session, item))
    except BaseException:
        stack.close()
        raise
    name = Path(document["original_name"] or document["exhibit_number"]).name
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "X-Evidence-SHA256": document["sha256"] or "",
    }
    if document["size"] is not None:
        headers["Content-Length"] = str(document["size"])
    return StreamingResponse(
        _chunks(handle, stack),
        media_type=document["media_type"] or "application/octet-stream",
        headers=headers,
    )


def _chunks(handle: IO[bytes], stack: ExitStack) -> Iterator[bytes]:
    """The content in chunks; the file is closed when the response ends or is cut."""
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        stack.close()


class _Upload:
    """The state of one streamed multipart body: the small fields and the one file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.fields: dict[str, str] = {}
        self.file: Path | None = None
        self.size = 0
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._name = ""
        self._text: bytearray | None = None
        self._out: IO[bytes] | None = None

    def callbacks(self) -> MultipartCallbacks:
        """The parser's callbacks, bound to this upload."""
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers, self._field, self._value = {}, b"", b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            self._text = bytearray()
            return
        if self.file is not None or self._name != "file":
            raise InvalidInput("send exactly one file, in the field 'file'", field="file")
        safe = SAFE_NAME.sub("_", Path(filename.decode("utf-8", "replace")).name).strip("._")
        self.file = self.directory / (safe or "upload.bin")
        self._out = self.file.open("wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._out is not None:
            self.size += end - start
            if self.size > MAX_UPLOAD_BYTES:
                raise HTTPException(413, f"upload larger than {MAX_UPLOAD_BYTES} bytes")
            self._out.write(data[start:end])
        elif self._text is not None:
            self._text += data[start:end]
            if len(self._text) > MAX_FIELD_BYTES:
                raise InvalidInput(f"field {self._name!r} is too long", field=self._name)

    def _end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        elif self._text is not None:
            self.fields[self._name] = self._text.decode("utf-8", "replace").strip()
            self._text = None

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


async def _receive(request: Request, upload: _Upload) -> None:
    """Parse the multipart body as it arrives, refusing (413) a declared oversize at once."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + 64 * 1024:
        raise HTTPException(413, f"upload larger than {MAX_UPLOAD_BYTES} bytes")
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidInput("send multipart/form-data with a file", field="content-type")
    parser = MultipartParser(boundary, upload.callbacks())
    async for chunk in request.stream():
        parser.write(chunk)
    parser.finalize()


@router.post("", status_code=201)
async def evidence_upload(request: Request, node: NodeDep, principal: Collector) -> dict[str, Any]:
    """Preserve one uploaded file as an item of a case (fields: file, case, exhibit,
    authority, kind, description, location); answers the new item."""
    directory = node.data_dir / "spool" / f"evidence-{new_id()}"
    directory.mkdir(parents=True)
    upload = _Upload(directory)
    try:
        await _receive(request, upload)
        upload.close()
        if upload.file is None:
            raise InvalidInput("no file in the upload (field 'file')", field="file")
        items = await _preserve(node, principal, upload)
    finally:
        upload.close()
        shutil.rmtree(directory, ignore_errors=True)
    return items[0]


async def _preserve(node: Node, principal: Principal, upload: _Upload) -> list[dict[str, Any]]:
    """Register the spooled file (hashing and vault copy run off the event loop)."""
    fields = upload.fields
    if not fields.get("case"):
        raise InvalidInput("the case (id or number) is required", field="case")

    def work() -> list[dict[str, Any]]:
        with node.database.reader() as session:
            case_ref = case_id_of(session, fields["case"])
        assert upload.file is not None
        result: list[dict[str, Any]] = add_evidence(
            node=node,
            actor=principal.actor,
            role=acting_role(principal),
            paths=[upload.file],
            case_ref=case_ref,
            exhibit=fields.get("exhibit") or None,
            authority=fields.get("authority") or None,
            kind=fields.get("kind") or "file",
            description=fields.get("description", ""),
            location=fields.get("location") or None,
        )
        return result

    return await run_in_threadpool(work)
