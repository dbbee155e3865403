"""The evidence vault over the API: list, one item with its custody timeline, verify,
check-out and check-in, content download and intake upload.

Staff only, never a partner node. Reading (and verifying, which changes nothing) is open to
the roles that work with or oversee evidence, auditors and legal reviewers included. Check-out,
check-in and opening content follow the vault's own rule (``OPEN_ROLES``: evidence officer or
case team); every one of them writes a custody event. Intake is for evidence officers and
responders: responders are the ones acquiring at the scene, and every intake is a signed
"collect" event naming who did it in which role.

An upload is streamed part by part to a temporary file under the node's data directory (never
held in memory, never in the system temp directory), bounded by :data:`MAX_UPLOAD_BYTES`,
preserved by ``add_evidence`` and removed whatever happens.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
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
from watchkeeper.errors import InvalidInput
from watchkeeper.evidence import (
    OPEN_ROLES,
    acting_role,
    add_evidence,
    checkin,
    checkout,
    custody_timeline,
    find_item,
    item_document,
    open_content,
    verify_evidence,
)
from watchkeeper.evidence.custody import page_of_items
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
