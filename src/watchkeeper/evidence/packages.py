"""Sealed evidence packages for another state: built for one peer, checked fully on receipt.

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
import binascii
import fcntl
import importlib
import os
import tarfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper import __version__
from watchkeeper.core import new_id, sha256_hex
from watchkeeper.errors import Conflict, Forbidden, IntegrityError, InvalidInput, StorageError
from watchkeeper.evidence.custody import (
    EVIDENCE_LOCK,
    GENESIS,
    OPEN_ROLES,
    SIGNATURE_CONTEXT,
    event_document,
    event_hash,
    find_item,
    item_document,
    node_signer,
    record_custody,
)
from watchkeeper.evidence.digests import _hashers
from watchkeeper.evidence.intake import _next_exhibit
from watchkeeper.evidence.models import CustodyEvent, EvidenceItem
from watchkeeper.evidence.package_cipher import (
    DEFAULT_CHUNK,
    SCHEME,
    BlobError,
    EncryptingReader,
    Envelope,
    binding,
    ciphertext_size,
    decrypt_stream,
)
from watchkeeper.evidence.package_models import EvidencePackage
from watchkeeper.evidence.vault import PARTIAL, content_path, vault_dir
from watchkeeper.node import Node
from watchkeeper.security import record_change
from watchkeeper.security.keys import ENCRYPTION_FILE, keys_dir
from watchkeeper.security.models import Peer
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


def _refused(reason: str, message: str, *, integrity: bool = False, **fields: Any) -> Exception:
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


def _check_role(role: str) -> None:
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


def _selected(session: Session, item_ids: list[str], *, allow_red: bool) -> list[EvidenceItem]:
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
    _check_role(role)
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
        items = _selected(session, list(item_ids), allow_red=allow_red)
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
        _fsync(partial)
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


def _fsync(path: Path) -> None:
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


def _encryption_key(node: Node) -> X25519PrivateKey:
    path = keys_dir(node.data_dir) / ENCRYPTION_FILE
    if not path.is_file():
        raise InvalidInput(
            f"this node has no encryption key (no {path}); run: watchkeeper node init",
            path=str(path),
        )
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, X25519PrivateKey):
        raise InvalidInput(f"{path} does not hold an X25519 key", path=str(path))
    return key


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    if member.size > limit:
        raise _refused("tampered-manifest", f"{member.name} is too large", integrity=True)
    handle = tar.extractfile(member)
    if handle is None:
        raise _refused("malformed", f"{member.name} is not a regular file", integrity=True)
    with handle:
        return handle.read()


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        if not member.isfile() or member.name in members:
            raise _refused("malformed", f"unexpected member {member.name!r}", integrity=True)
        members[member.name] = member
    for name in (MANIFEST, SIGNATURE):
        if name not in members:
            raise _refused("malformed", f"no {name} in the package", integrity=True)
    return members


def _verify_signature(manifest_bytes: bytes, signature: bytes, public_key: str, code: str) -> None:
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        public.verify(base64.b64decode(signature, validate=True), PACKAGE_CONTEXT + manifest_bytes)
    except (InvalidSignature, binascii.Error, ValueError):
        raise _refused(
            "bad-signature",
            f"the manifest signature does not verify against {code}'s registered key: the "
            "manifest was altered or signed with another key",
            integrity=True,
            sender=code,
        ) from None


def _check_extract(entry: dict[str, Any], public_key: str, fingerprint: str) -> None:
    """The sender's custody extract of one item: intact chain, signed by the sender."""
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    extract = entry["custody"]
    prev = GENESIS
    for event in extract["events"]:
        digest = event_hash(
            item_id=extract["item_id"],
            seq=event["seq"],
            action=event["action"],
            actor=event["actor"],
            role=event["role"],
            at=_parse_time(event["at"]),
            location=event["location"],
            purpose=event["purpose"],
            authority_ref=event["authority_ref"],
            hash_before=event["hash_before"],
            hash_after=event["hash_after"],
            detail=event["detail"],
            prev_hash=prev,
            signer=event["signer"],
        )
        try:
            if digest != event["event_hash"] or event["signer"] != fingerprint:
                raise InvalidSignature
            public.verify(base64.b64decode(event["signature"]), SIGNATURE_CONTEXT + digest.encode())
        except (InvalidSignature, binascii.Error, ValueError):
            raise _refused(
                "bad-custody-extract",
                f"custody event {event['seq']} of {entry['exhibit_number']} does not verify",
                integrity=True,
                item=entry["exhibit_number"],
            ) from None
        prev = digest
    if prev != extract["head"]:
        raise _refused(
            "bad-custody-extract",
            f"custody head of {entry['exhibit_number']} does not match its events",
            integrity=True,
            item=entry["exhibit_number"],
        )


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class _Decrypted:
    entry: dict[str, Any]
    temp: Path
    handle: int
    size: int
    digests: dict[str, str]


def _decrypt_item(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    *,
    node: Node,
    entry: dict[str, Any],
    key: X25519PrivateKey,
    package_id: str,
    temps: list[_Decrypted],
) -> None:
    exhibit = entry["exhibit_number"]
    blob = entry["blob"]
    if member.size != blob["size"]:
        raise _refused(
            "tampered-blob", f"blob of {exhibit} has the wrong size", integrity=True, item=exhibit
        )
    partial = vault_dir(node.data_dir) / PARTIAL
    partial.mkdir(parents=True, exist_ok=True)
    temp = partial / f"{uuid.uuid4().hex}.tmp"
    out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(out, fcntl.LOCK_EX)
    hashers = _hashers()
    written = 0
    state = _Decrypted(entry, temp, out, 0, {})
    temps.append(state)

    def sink(data: bytes) -> None:
        nonlocal written
        for hasher in hashers.values():
            hasher.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(out, view) :]
        written += len(data)

    source: IO[bytes] | None = tar.extractfile(member)
    assert source is not None  # _members admits regular files only
    envelope = Envelope(
        ephemeral_public_key=blob["ephemeral_public_key"],
        base_nonce=blob["base_nonce"],
        chunk_size=int(blob["chunk_size"]),
    )
    try:
        with source:
            cipher_sha = decrypt_stream(
                source,
                private_key=key,
                envelope=envelope,
                bind=binding(package_id, entry["sha256"]),
                size=int(entry["size"]),
                sink=sink,
            )
        os.fsync(out)
    except BlobError as exc:
        raise _refused(
            "tampered-blob", f"encrypted content of {exhibit}: {exc}", integrity=True, item=exhibit
        ) from None
    except OSError as exc:
        raise StorageError(
            f"cannot write {exhibit} into the vault: {exc.strerror or exc}", item=exhibit
        ) from None
    if cipher_sha != blob["sha256"]:
        raise _refused(
            "tampered-blob",
            f"sha256 of the blob of {exhibit} differs from the manifest",
            integrity=True,
            item=exhibit,
        )
    state.size = written
    state.digests = {name: hasher.hexdigest() for name, hasher in hashers.items()}
    for name in DIGESTS:
        if state.digests[name] != entry[name]:
            raise _refused(
                "tampered-blob",
                f"decrypted {exhibit} has {name} {state.digests[name]}, manifest says "
                f"{entry[name]}",
                integrity=True,
                item=exhibit,
                expected=entry[name],
                actual=state.digests[name],
            )


def _place(node: Node, state: _Decrypted) -> None:
    """Move checked content to its write-once place (kept once per SHA-256)."""
    final = content_path(node.data_dir, state.digests["sha256"])
    if final.exists():
        if final.stat().st_size != state.size:
            raise IntegrityError(
                f"vault content {final.name} has the wrong size: the vault was altered; run "
                "evidence verify",
                sha256=final.name,
            )
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    os.fchmod(state.handle, 0o444)
    os.replace(state.temp, final)
    _fsync(final.parent)


def _load_manifest(tar: tarfile.TarFile) -> tuple[bytes, bytes, dict[str, Any], dict[str, Any]]:
    members = _members(tar)
    manifest_bytes = _read_member(tar, members[MANIFEST], MAX_MANIFEST)
    signature = _read_member(tar, members[SIGNATURE], 4096).strip()
    try:
        manifest = orjson.loads(manifest_bytes)
        if manifest.get("format") != FORMAT:
            raise ValueError(manifest.get("format"))
        sender = manifest["from"]
        if not isinstance(sender, dict) or not isinstance(sender.get("code"), str):
            raise ValueError("from")
    except (orjson.JSONDecodeError, ValueError, KeyError, AttributeError):
        raise _refused(
            "tampered-manifest",
            "the manifest is not a readable package manifest",
            integrity=True,
        ) from None
    return manifest_bytes, signature, manifest, members


def receive_package(*, node: Node, actor: str, role: str, path: Path) -> dict[str, Any]:
    """Check a package completely, then register its items with "receive" custody events.

    Refused (``IntegrityError`` / ``InvalidInput`` with ``reason``) when the file is not a
    package, the sender is not a registered peer, the signature does not verify, it is
    addressed to another node, it was received already, a custody extract or a blob was
    altered, or a decrypted item's digests differ from the manifest. Then nothing is
    registered and no decrypted content is left behind.
    """
    _check_role(role)
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no such package file: {path}", path=str(path))
    identity = node.identity()
    key = _encryption_key(node)
    signer = node_signer(node)
    temps: list[_Decrypted] = []
    try:
        try:
            tar = tarfile.open(path, mode="r:")  # noqa: SIM115 - the with below closes it
        except tarfile.TarError:
            raise _refused(
                "malformed",
                f"{path} is not a package (not a tar file)",
                integrity=True,
                path=str(path),
            ) from None
        with tar:
            manifest_bytes, signature, manifest, members = _load_manifest(tar)
            sender_code = manifest["from"]["code"]
            with node.database.reader() as session:
                peer = session.get(Peer, sender_code)
                if peer is None:
                    raise _refused(
                        "unknown-sender",
                        f"signed by {sender_code}, which is not a registered peer of this node",
                        sender=sender_code,
                    )
                public_key, fingerprint = peer.public_key, peer.fingerprint
            if manifest["from"].get("fingerprint") != fingerprint:
                raise _refused(
                    "unknown-sender",
                    f"sender key {manifest['from'].get('fingerprint')} is not the key registered "
                    f"for {sender_code} ({fingerprint})",
                    sender=sender_code,
                )
            _verify_signature(manifest_bytes, signature, public_key, sender_code)
            try:
                to = manifest.get("to") or {}
                if to.get("code") != identity.code or to.get("fingerprint") != identity.fingerprint:
                    raise _refused(
                        "wrong-addressee",
                        f"addressed to {to.get('code')} ({to.get('fingerprint')}), not to this "
                        f"node {identity.code}",
                        addressee=to.get("code"),
                    )
                package_id = str(manifest["package_id"])
                with node.database.reader() as session:
                    _refuse_replay(session, package_id)
                entries: list[dict[str, Any]] = manifest["items"]
                expected = {MANIFEST, SIGNATURE} | {entry["blob"]["name"] for entry in entries}
                if set(members) != expected:
                    extra = sorted(set(members) ^ expected)
                    raise _refused(
                        "malformed", f"members do not match the manifest: {extra}", integrity=True
                    )
                for entry in entries:
                    _check_extract(entry, public_key, fingerprint)
                for entry in entries:
                    _decrypt_item(
                        tar,
                        members[entry["blob"]["name"]],
                        node=node,
                        entry=entry,
                        key=key,
                        package_id=package_id,
                        temps=temps,
                    )
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise _refused(
                    "malformed",
                    f"the signed manifest lacks or mangles a field ({exc})",
                    integrity=True,
                ) from None
        for state in temps:
            _place(node, state)
        return _register(
            node,
            actor=actor,
            role=role,
            signer=signer,
            manifest=manifest,
            manifest_sha=sha256_hex(manifest_bytes),
            temps=temps,
            fingerprint=fingerprint,
        )
    finally:
        for state in temps:
            os.close(state.handle)
            state.temp.unlink(missing_ok=True)


def _refuse_replay(session: Session, package_id: str) -> None:
    if session.get(EvidencePackage, (package_id, "received")) is not None:
        raise _refused(
            "replayed", f"package {package_id} was received already", package_id=package_id
        )


def _register(
    node: Node,
    *,
    actor: str,
    role: str,
    signer: Any,
    manifest: dict[str, Any],
    manifest_sha: str,
    temps: list[_Decrypted],
    fingerprint: str,
) -> dict[str, Any]:
    package_id = str(manifest["package_id"])
    sender = manifest["from"]
    authority = manifest.get("authority")
    restrictions = list(manifest.get("use_restrictions") or [])
    now = node.clock.now()
    created: list[EvidenceItem] = []
    with node.database.transaction() as session:
        serialize(session, EVIDENCE_LOCK)
        _refuse_replay(session, package_id)
        for state in temps:
            entry = state.entry
            number = _next_exhibit(session, year=now.year)
            foreign_legal = entry.get("legal") or {}
            link = {
                "code": sender["code"],
                "fingerprint": fingerprint,
                "exhibit_number": entry["exhibit_number"],
                "item_id": entry["custody"]["item_id"],
                "custody_head": entry["custody"]["head"],
                "custody_events": len(entry["custody"]["events"]),
            }
            item = EvidenceItem(
                id=new_id(),
                exhibit_number=number,
                root_exhibit=number,
                parent_id=None,
                case_ref=None,
                kind=entry.get("kind") or "file",
                description=entry.get("description") or "",
                source=f"{sender['code']}:{entry['exhibit_number']}",
                acquisition={
                    "method": "received",
                    "tool": "watchkeeper",
                    "tool_version": __version__,
                    "write_blocker": None,
                    "acquired_by": actor,
                    "role": role,
                    "acquired_at": now.isoformat(),
                    "location": None,
                    "volatility_rank": None,
                    "package_id": package_id,
                    "sender": link,
                },
                legal={
                    "authority_ref": authority,
                    "data_category": foreign_legal.get("data_category"),
                    "privilege": foreign_legal.get("privilege") or [],
                    "tlp": foreign_legal.get("tlp") or "amber",
                    "legal_hold": False,
                    "retention_until": None,
                    "use_restrictions": restrictions,
                    "received_from": sender["code"],
                    "package_id": package_id,
                    "purpose": manifest.get("purpose"),
                },
                size=state.size,
                media_type=entry.get("media_type"),
                md5=state.digests["md5"],
                sha1=state.digests["sha1"],
                sha256=state.digests["sha256"],
                blake3=state.digests.get("blake3"),
                original_name=entry.get("original_name"),
                status="sealed",
                created_at=now,
                created_by=actor,
                custody_head=GENESIS,
            )
            session.add(item)
            session.flush()
            record_custody(
                session,
                clock=node.clock,
                signer=signer,
                item_id=item.id,
                action="receive",
                actor=actor,
                role=role,
                purpose=f"received from {sender['code']} in package {package_id}",
                authority_ref=authority,
                hash_after=item.sha256,
                detail={
                    "exhibit_number": number,
                    "size": item.size,
                    "md5": item.md5,
                    "sha1": item.sha1,
                    "sha256": item.sha256,
                    "blake3": item.blake3,
                    "original_name": item.original_name,
                    "package_id": package_id,
                    "manifest_sha256": manifest_sha,
                    "sender": link,
                    "use_restrictions": restrictions,
                },
            )
            created.append(item)
        session.add(
            EvidencePackage(
                id=package_id,
                direction="received",
                peer_code=sender["code"],
                peer_fingerprint=fingerprint,
                manifest_sha256=manifest_sha,
                authority_ref=authority,
                item_count=len(created),
                exhibits=[item.exhibit_number for item in created],
                actor=actor,
                at=now,
            )
        )
        record_change(
            session,
            clock=node.clock,
            actor=actor,
            action="evidence.receive",
            subject=f"evidence-package:{package_id}",
            detail={
                "peer": sender["code"],
                "exhibits": [item.exhibit_number for item in created],
                "manifest_sha256": manifest_sha,
            },
        )
        return {
            "package_id": package_id,
            "from": sender["code"],
            "manifest_sha256": manifest_sha,
            "authority": authority,
            "use_restrictions": restrictions,
            "items": [item_document(item) for item in created],
        }
