"""Receiving a sealed evidence package: every check passes before anything is registered.

The package is read as a tar (``packages`` builds it): sender, signature, addressee and replay
are checked on the manifest; each custody extract against the sender's key; each item is
decrypted as a stream into the vault's partial area and its hashes compared with the manifest.
Only then is the content placed in write-once storage and the items registered, in one
transaction, with "receive" custody events linked to the sender's chain.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
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
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy.orm import Session

from watchkeeper import __version__
from watchkeeper.core import new_id, sha256_hex
from watchkeeper.errors import IntegrityError, InvalidInput, StorageError
from watchkeeper.evidence.custody import (
    EVIDENCE_LOCK,
    GENESIS,
    SIGNATURE_CONTEXT,
    event_hash,
    item_document,
    node_signer,
    record_custody,
)
from watchkeeper.evidence.digests import _hashers
from watchkeeper.evidence.intake import _next_exhibit
from watchkeeper.evidence.models import EvidenceItem
from watchkeeper.evidence.package_cipher import (
    BlobError,
    Envelope,
    binding,
    decrypt_stream,
)
from watchkeeper.evidence.package_models import EvidencePackage
from watchkeeper.evidence.packages import (
    DIGESTS,
    FORMAT,
    MANIFEST,
    MAX_MANIFEST,
    PACKAGE_CONTEXT,
    SIGNATURE,
    check_role,
    fsync_path,
    refused,
)
from watchkeeper.evidence.vault import PARTIAL, content_path, vault_dir
from watchkeeper.node import Node
from watchkeeper.security import record_change
from watchkeeper.security.keys import ENCRYPTION_FILE, keys_dir
from watchkeeper.security.models import Peer
from watchkeeper.store import serialize


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
        raise refused("tampered-manifest", f"{member.name} is too large", integrity=True)
    handle = tar.extractfile(member)
    if handle is None:
        raise refused("malformed", f"{member.name} is not a regular file", integrity=True)
    with handle:
        return handle.read()


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        if not member.isfile() or member.name in members:
            raise refused("malformed", f"unexpected member {member.name!r}", integrity=True)
        members[member.name] = member
    for name in (MANIFEST, SIGNATURE):
        if name not in members:
            raise refused("malformed", f"no {name} in the package", integrity=True)
    return members


def _verify_signature(manifest_bytes: bytes, signature: bytes, public_key: str, code: str) -> None:
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        public.verify(base64.b64decode(signature, validate=True), PACKAGE_CONTEXT + manifest_bytes)
    except (InvalidSignature, binascii.Error, ValueError):
        raise refused(
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
            raise refused(
                "bad-custody-extract",
                f"custody event {event['seq']} of {entry['exhibit_number']} does not verify",
                integrity=True,
                item=entry["exhibit_number"],
            ) from None
        prev = digest
    if prev != extract["head"]:
        raise refused(
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
        raise refused(
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
        raise refused(
            "tampered-blob", f"encrypted content of {exhibit}: {exc}", integrity=True, item=exhibit
        ) from None
    except OSError as exc:
        raise StorageError(
            f"cannot write {exhibit} into the vault: {exc.strerror or exc}", item=exhibit
        ) from None
    if cipher_sha != blob["sha256"]:
        raise refused(
            "tampered-blob",
            f"sha256 of the blob of {exhibit} differs from the manifest",
            integrity=True,
            item=exhibit,
        )
    state.size = written
    state.digests = {name: hasher.hexdigest() for name, hasher in hashers.items()}
    for name in DIGESTS:
        if state.digests[name] != entry[name]:
            raise refused(
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
    fsync_path(final.parent)


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
        raise refused(
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
    check_role(role)
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
            raise refused(
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
                    raise refused(
                        "unknown-sender",
                        f"signed by {sender_code}, which is not a registered peer of this node",
                        sender=sender_code,
                    )
                public_key, fingerprint = peer.public_key, peer.fingerprint
            if manifest["from"].get("fingerprint") != fingerprint:
                raise refused(
                    "unknown-sender",
                    f"sender key {manifest['from'].get('fingerprint')} is not the key registered "
                    f"for {sender_code} ({fingerprint})",
                    sender=sender_code,
                )
            _verify_signature(manifest_bytes, signature, public_key, sender_code)
            try:
                to = manifest.get("to") or {}
                if to.get("code") != identity.code or to.get("fingerprint") != identity.fingerprint:
                    raise refused(
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
                    raise refused(
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
                raise refused(
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
        raise refused(
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
