"""Node identity: an Ed25519 signing key and an X25519 encryption key in the data dir.

Private keys are PKCS#8 PEM files created with mode 0600; ``node.json`` beside them holds the
public identity (code, name, country, public keys, fingerprint) that partners register with
``watchkeeper peer add --from-file``. Keys are never overwritten silently: ``--force`` moves the
old ones aside into ``keys/replaced-<time>/``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from watchkeeper.core import Clock
from watchkeeper.errors import Conflict, InvalidInput, NotFound

CODE_PATTERN = re.compile(r"^[A-Z]{2,3}(-[A-Z0-9]{1,20}){1,3}$")
COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}$")
SIGNING_FILE = "signing.key"
ENCRYPTION_FILE = "encryption.key"
IDENTITY_FILE = "node.json"


@dataclass(frozen=True)
class NodeIdentity:
    """The public face of a node."""

    code: str
    name: str
    country: str
    signing_public_key: str
    encryption_public_key: str
    fingerprint: str
    created_at: str

    def document(self, *, url: str | None = None) -> dict[str, Any]:
        """The identity as JSON (the form ``peer add --from-file`` reads)."""
        data = asdict(self)
        if url:
            data["url"] = url
        return data


def keys_dir(data_dir: Path) -> Path:
    """Where the node's keys live."""
    return data_dir / "keys"


def check_code(code: str) -> str:
    """A node code such as ``QA-NCSA`` (country or region, dash, agency)."""
    if not CODE_PATTERN.match(code):
        raise InvalidInput(
            f"invalid node code {code!r}: expected upper-case like QA-NCSA", field="code"
        )
    return code


def check_country(country: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper-case."""
    if not COUNTRY_PATTERN.match(country):
        raise InvalidInput(
            f"invalid country {country!r}: expected two upper-case letters (ISO 3166-1)",
            field="country",
        )
    return country


def decode_public_key(text: str, *, kind: str, field: str) -> bytes:
    """Base64 of a raw 32-byte Ed25519 or X25519 public key, validated."""
    try:
        raw = base64.b64decode(text, validate=True)
        if kind == "ed25519":
            Ed25519PublicKey.from_public_bytes(raw)
        else:
            X25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            f"invalid {kind} public key in {field}: expected base64 of 32 bytes", field=field
        ) from None
    return raw


def fingerprint(signing_public_key: str) -> str:
    """SHA-256 (hex) of the raw signing public key: what people compare by phone."""
    return hashlib.sha256(base64.b64decode(signing_public_key)).hexdigest()


def public_key_text(key: Ed25519PrivateKey | X25519PrivateKey) -> str:
    """The public half of ``key`` as peers register it: raw bytes, base64."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def init_keys(
    data_dir: Path, *, code: str, name: str, country: str, clock: Clock, force: bool = False
) -> NodeIdentity:
    """Create the node's keys and identity; refuse to replace existing keys unless ``force``."""
    check_code(code)
    check_country(country)
    folder = keys_dir(data_dir)
    existing = [p for p in (SIGNING_FILE, ENCRYPTION_FILE, IDENTITY_FILE) if (folder / p).exists()]
    if existing and not force:
        raise Conflict(
            f"node keys already exist in {folder}; use --force to replace them "
            "(the old keys are kept aside)",
            path=str(folder),
        )
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    if existing:
        aside = folder / f"replaced-{clock.now().strftime('%Y%m%dT%H%M%S%fZ')}"
        aside.mkdir(mode=0o700)
        for part in existing:
            (folder / part).rename(aside / part)
    signing = Ed25519PrivateKey.generate()
    encryption = X25519PrivateKey.generate()
    pem = serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()
    _write_private(
        folder / SIGNING_FILE, signing.private_bytes(serialization.Encoding.PEM, pem, none)
    )
    _write_private(
        folder / ENCRYPTION_FILE, encryption.private_bytes(serialization.Encoding.PEM, pem, none)
    )
    signing_public = public_key_text(signing)
    identity = NodeIdentity(
        code=code,
        name=name,
        country=country,
        signing_public_key=signing_public,
        encryption_public_key=public_key_text(encryption),
        fingerprint=fingerprint(signing_public),
        created_at=clock.now().isoformat(),
    )
    (folder / IDENTITY_FILE).write_bytes(orjson.dumps(asdict(identity), option=orjson.OPT_INDENT_2))
    return identity


def load_identity(data_dir: Path) -> NodeIdentity:
    """The node's public identity, or ``NotFound`` before ``watchkeeper node init``."""
    path = keys_dir(data_dir) / IDENTITY_FILE
    if not path.is_file():
        raise NotFound(
            f"this node has no identity yet (no {path}); run: watchkeeper node init",
            path=str(path),
        )
    return NodeIdentity(**orjson.loads(path.read_bytes()))


def load_signing_key(data_dir: Path) -> Ed25519PrivateKey:
    """The node's private signing key."""
    path = keys_dir(data_dir) / SIGNING_FILE
    if not path.is_file():
        raise NotFound(f"no signing key at {path}; run: watchkeeper node init", path=str(path))
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path} does not hold an Ed25519 key", path=str(path))
    return key
