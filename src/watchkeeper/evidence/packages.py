"""Sealed evidence packages for another state: built here for one peer (``package_receive``
checks them fully on arrival).

The package is ONE uncompressed POSIX tar file (PAX headers) with a fixed layout:

* ``items/0001.bin``, ``items/0002.bin``, ...: the content of each item encrypted to the
  peer's X25519 key (``package_cipher``: ephemeral X25519 + HKDF-SHA256 -> chunked
  AES-256-GCM), written first so that the manifest can carry their SHA-256;
* ``manifest.json``: package id, sender (code, fingerprint), addressee (code, fingerprint),
  creation time, authority, purpose, use restrictions, and per item: exhibit number, kind,
  size, MD5/SHA-1/SHA-256, the envelope of its blob (ephemeral key, base nonce, chunk size,
  ciphertext size and SHA-256) and the custody extract (every event with its hash and
  signature, and the head); plus the CASE/UCO bundle of the items when the CASE exporter is
  installed;
* ``manifest.sig``: base64 Ed25519 signature of this node over
  ``b"watchkeeper-evidence-package-v1\\n" + manifest bytes``.

Tar because every state can open it with standard tools and read the manifest, and it streams
both ways in constant memory. Nothing else may be in the file: a receiver refuses any extra or
missing member.

TLP: an item whose legal TLP is RED is refused unless ``allow_red`` is given: RED means "not
beyond the recipients present", and sending it abroad must be a deliberate, audited act.

On the sending side the "send-abroad" custody events (with the manifest's SHA-256) are written
in one transaction with the sent-package row, and the file is renamed into place inside that
transaction: a failure leaves neither a file nor events. On the receiving side nothing is
registered until the signature, the addressee, every custody extract, every blob and every
plaintext digest have been checked; decrypted content waits in the vault's temp area.
"""

from __future__ import annotations

import base64
import importlib
import os
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper import __version__
from watchkeeper.core import new_id, sha256_hex
from watchkeeper.errors import Conflict, Forbidden, IntegrityError, InvalidInput
from watchkeeper.evidence.custody import (
    EVIDENCE_LOCK,
    OPEN_ROLES,
    event_document,
    find_item,
    node_signer,
    record_custody,
)
from watchkeeper.evidence.models import CustodyEvent, EvidenceItem
from watchkeeper.evidence.package_cipher import (
    DEFAULT_CHUNK,
    SCHEME,
    EncryptingReader,
    binding,
    ciphertext_size,
)
from watchkeeper.evidence.package_models import EvidencePackage
from watchkeeper.evidence.vault import content_path
from watchkeeper.node import Node
from watchkeeper.security import record_change
from watchkeeper.security.peers import get_peer
from watchkeeper.store import serialize

FORMAT = "watchkeeper-evidence-package/1"
PACKAGE_CONTEXT = b"watchkeeper-evidence-package-v1\n"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MAX_MANIFEST = 256 * 1024 * 1024
DIGESTS = ("md5", "sha1", "sha256")


def _blob_name(index: int) -> str:
    return f"items/{index:04d}.bin"


def refused(reason: str, message: str, *, integrity: bool = False, **fields: Any) -> Exception:
    """A refusal naming its reason (``reason`` field, and ``package.<reason>`` as code)."""
    kind = IntegrityError if integrity else InvalidInput
    return kind(
        f"package refused ({reason}): {message}", code=f"package.{reason}", reason=reason, **fields
    )


def _text(value: str | None, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{field} is required for a package", field=field)
    return text


def check_role(role: str) -> None:
    if role not in OPEN_ROLES:
        raise Forbidden(
            f"role {role!r} may not move evidence; needs one of {', '.join(OPEN_ROLES)}",
            role=role,
        )


# ---------------------------------------------------------------------------------- sending


def _case_bundle(session: Session, item_ids: list[str]) -> dict[str, Any] | None:
    """The CASE/UCO bundle of the items, when the CASE exporter is installed."""
    try:
        module = importlib.import_module("watchkeeper.evidence.case_export")
    except ImportError:
        return None
    export = getattr(module, "export_case", None)
    if export is None:
        return None
    bundle: dict[str, Any] = export(session, item_ids=item_ids)
    return bundle


def _onward(item: EvidenceItem, peer_code: str) -> None:
    """Refuse to pass received evidence on to a third party without the sender's
    authorisation (UN Convention Art 36(3); speciality, Art 40(19)). Returning results to
    the state that sent them is not onward."""
    legal = item.legal or {}
    sender = legal.get("received_from")
    if not sender or sender == peer_code or peer_code in (legal.get("onward_authorised") or []):
        return
    raise InvalidInput(
        f"{item.exhibit_number} was received from {sender}; sending it on to {peer_code} "
        f"needs {sender}'s prior authorisation (Art. 36(3))",
        item=item.exhibit_number,
        reason="onward-transfer",
        article="36(3)",
    )


def _selected(
    session: Session, item_ids: list[str], *, allow_red: bool, peer_code: str
) -> list[EvidenceItem]:
    items: list[EvidenceItem] = []
    seen: set[str] = set()
    for ref in item_ids:
        item = find_item(session, ref)
        if item.id in seen:
            continue
        seen.add(item.id)
        if item.sha256 is None:
            raise InvalidInput(
                f"{item.exhibit_number} has no content of its own (a parent item): name its "
                "children",
                item=item.exhibit_number,
            )
        if item.status == "disposed":
            raise InvalidInput(f"{item.exhibit_number} was disposed of", item=item.exhibit_number)
        tlp = str((item.legal or {}).get("tlp") or "").lower()
        if tlp == "red" and not allow_red:
            raise InvalidInput(
                f"{item.exhibit_number} is TLP:RED; sending it abroad needs the explicit "
                "override (--allow-red)",
                item=item.exhibit_number,
                field="tlp",
            )
        _onward(item, peer_code)
        items.append(item)
    if not items:
        raise InvalidInput("name at least one item to package", field="item")
    return items


def _custody_extract(session: Session, item: EvidenceItem) -> dict[str, Any]:
    events = session.scalars(
        select(CustodyEvent).where(CustodyEvent.item_id == item.id).order_by(CustodyEvent.seq)
    )
    return {
        "item_id": item.id,
        "head": item.custody_head,
        "events": [event_document(event) for event in events],
    }


def _item_entry(item: EvidenceItem, index: int, extract: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": index,
        "exhibit_number": item.exhibit_number,
        "root_exhibit": item.root_exhibit,
        "kind": item.kind,
        "description": item.description,
        "original_name": item.original_name,
        "media_type": item.media_type,
        "size": item.size,
        "md5": item.md5,
        "sha1": item.sha1,
        "sha256": item.sha256,
        "legal": item.legal,
        "acquisition": item.acquisition,
        "custody": extract,
    }


def _add_member(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o444
    info.mtime = mtime
    tar.addfile(info, _BytesReader(data))


@dataclass
class _BytesReader:
    data: bytes
    offset: int = 0

    def read(self, count: int = -1) -> bytes:
        end = len(self.data) if count < 0 else self.offset + count
        out = self.data[self.offset : end]
        self.offset += len(out)
        return out


def build_package(
    *,
    node: Node,
    actor: str,
    role: str,
    item_ids: list[str],
    peer_code: str,
    authority: str,
    use_restrictions: list[str],
    output: Path,
    purpose: str,
    allow_red: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
) -> dict[str, Any]:
    """Write a sealed package of ``item_ids`` for peer ``peer_code`` to ``output``.

    Records a signed "send-abroad" custody event per item (purpose, counterparty, authority,
    manifest SHA-256) in the same transaction as the sent-package row.
    """
    check_role(role)
    authority = _text(authority, "authority")
    purpose = _text(purpose, "purpose")
    restrictions = [text.strip() for text in use_restrictions if text and text.strip()]
    if chunk_size <= 0:
        raise InvalidInput("chunk size must be positive", field="chunk_size")
    output = Path(output)
    if output.exists():
        raise Conflict(
            f"{output} exists; the package is never written over a file", path=str(output)
        )
    signer = node_signer(node)
    identity = node.identity()
    with node.database.reader() as session:
        peer = get_peer(session, peer_code)
        if not peer.encryption_key:
            raise InvalidInput(
                f"peer {peer.code} has no X25519 encryption key registered; register it again "
                "from its node.json",
                peer=peer.code,
            )
        recipient = X25519PublicKey.from_public_bytes(base64.b64decode(peer.encryption_key))
        peer_fingerprint, peer_code = peer.fingerprint, peer.code
        items = _selected(session, list(item_ids), allow_red=allow_red, peer_code=peer.code)
        entries = [
            _item_entry(item, index, _custody_extract(session, item))
            for index, item in enumerate(items, start=1)
        ]
        case = _case_bundle(session, [item.id for item in items])
    exhibits = [str(entry["exhibit_number"]) for entry in entries]
    package_id = new_id()
    created = node.clock.now()
    mtime = created.timestamp()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{uuid.uuid4().hex}.partial")
    try:
        with (
            open(partial, "xb") as raw,
            tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            tar.copybufsize = chunk_size + 16  # type: ignore[attr-defined]
            for entry in entries:
                entry["blob"] = _write_blob(
                    tar,
                    node=node,
                    entry=entry,
                    recipient=recipient,
                    package_id=package_id,
                    chunk_size=chunk_size,
                    mtime=mtime,
                )
            manifest = {
                "format": FORMAT,
                "package_id": package_id,
                "created_at": created,
                "from": {
                    "code": identity.code,
                    "name": identity.name,
                    "country": identity.country,
                    "fingerprint": identity.fingerprint,
                },
                "to": {"code": peer_code, "fingerprint": peer_fingerprint},
                "authority": authority,
                "purpose": purpose,
                "use_restrictions": restrictions,
                "encryption": {"scheme": SCHEME, "chunk_size": chunk_size},
                "items": entries,
                "case": case,
                "tool": {"name": "watchkeeper", "version": __version__},
            }
            manifest_bytes = orjson.dumps(
                manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z
            )
            signature = base64.b64encode(signer.key.sign(PACKAGE_CONTEXT + manifest_bytes))
            _add_member(tar, MANIFEST, manifest_bytes, mtime)
            _add_member(tar, SIGNATURE, signature, mtime)
        fsync_path(partial)
        manifest_sha = sha256_hex(manifest_bytes)
        with node.database.transaction() as session:
            serialize(session, EVIDENCE_LOCK)
            for entry in entries:
                extract = entry["custody"]
                row = session.get(EvidenceItem, extract["item_id"], with_for_update=True)
                if row is None or row.custody_head != extract["head"]:
                    raise Conflict(
                        f"{entry['exhibit_number']} changed while the package was built; run again",
                        item=entry["exhibit_number"],
                    )
                record_custody(
                    session,
                    clock=node.clock,
                    signer=signer,
                    item_id=row.id,
                    action="send-abroad",
                    actor=actor,
                    role=role,
                    purpose=purpose,
                    authority_ref=authority,
                    hash_before=row.sha256,
                    detail={
                        "package_id": package_id,
                        "counterparty": peer_code,
                        "counterparty_fingerprint": peer_fingerprint,
                        "manifest_sha256": manifest_sha,
                        "use_restrictions": restrictions,
                    },
                )
            session.add(
                EvidencePackage(
                    id=package_id,
                    direction="sent",
                    peer_code=peer_code,
                    peer_fingerprint=peer_fingerprint,
                    manifest_sha256=manifest_sha,
                    authority_ref=authority,
                    item_count=len(entries),
                    exhibits=exhibits,
                    actor=actor,
                    at=created,
                )
            )
            record_change(
                session,
                clock=node.clock,
                actor=actor,
                action="evidence.send-abroad",
                subject=f"evidence-package:{package_id}",
                detail={
                    "peer": peer_code,
                    "exhibits": exhibits,
                    "manifest_sha256": manifest_sha,
                    "authority": authority,
                },
            )
            session.flush()
            os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return {
        "package_id": package_id,
        "peer": peer_code,
        "path": str(output),
        "manifest_sha256": manifest_sha,
        "bytes": output.stat().st_size,
        "items": [
            {"exhibit_number": e["exhibit_number"], "sha256": e["sha256"], "size": e["size"]}
            for e in entries
        ],
    }


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_blob(
    tar: tarfile.TarFile,
    *,
    node: Node,
    entry: dict[str, Any],
    recipient: X25519PublicKey,
    package_id: str,
    chunk_size: int,
    mtime: float,
) -> dict[str, Any]:
    sha256 = str(entry["sha256"])
    size = int(entry["size"] or 0)
    name = _blob_name(int(entry["index"]))
    try:
        source = open(content_path(node.data_dir, sha256), "rb")  # noqa: SIM115
    except FileNotFoundError:
        raise IntegrityError(
            f"{entry['exhibit_number']}: content {sha256} is missing from the vault; "
            "run evidence verify",
            item=entry["exhibit_number"],
        ) from None
    with source:
        reader = EncryptingReader(
            source,
            size=size,
            recipient=recipient,
            bind=binding(package_id, sha256),
            chunk_size=chunk_size,
            base_nonce=os.urandom(12),
        )
        info = tarfile.TarInfo(name)
        info.size = ciphertext_size(size, chunk_size)
        info.mode = 0o444
        info.mtime = mtime
        tar.addfile(info, reader)
        actual = reader.plain_sha256.hexdigest()
        if reader.short or source.read(1) or actual != sha256:
            raise IntegrityError(
                f"{entry['exhibit_number']}: vault content does not match its recorded sha256 "
                f"(expected {sha256}, actual {actual}); run evidence verify",
                item=entry["exhibit_number"],
                expected=sha256,
                actual=actual,
            )
    envelope = reader.envelope
    return {
        "name": name,
        "ephemeral_public_key": envelope.ephemeral_public_key,
        "base_nonce": envelope.base_nonce,
        "chunk_size": envelope.chunk_size,
        "size": info.size,
        "sha256": reader.cipher_sha256.hexdigest(),
    }


# -------------------------------------------------------------------------------- receiving
