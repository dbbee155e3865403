"""Sealing secrets this node must be able to read back (credentials it presents to partners).

Inbound credentials are stored hashed (``tokens``); outbound ones cannot be: to pull from a
partner's TAXII server the node must present the token that partner issued to it. Such
secrets are kept in the database sealed with AES-256-GCM under a key derived (HKDF-SHA256)
from the node's private X25519 key in the data directory, so a database dump, a backup or a
read-only SQL injection does not give them away: the database and the key file live apart
(and on PostgreSQL usually on different machines). Each sealed value is bound to a
``context`` (associated data): a value copied into another row, or a row whose URL was
edited to point elsewhere, no longer opens, so the secret is never sent to a server it was
not given for.

Replacing the node keys (``node init --force``) makes existing sealed values unreadable:
:meth:`SecretBox.open` then says so, and the secret has to be given again.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from watchkeeper.errors import IntegrityError, InvalidInput, NotFound
from watchkeeper.security.keys import ENCRYPTION_FILE, keys_dir

VERSION = "v1"
INFO = b"watchkeeper sealed secrets v1"
NONCE_BYTES = 12


def _derive(private_key: X25519PrivateKey) -> bytes:
    raw = private_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(raw)


class SecretBox:
    """Seals and opens short secrets with a key derived from the node's X25519 key.

    The key file is read on first use, so a node without keys can still run everything
    that needs no secret; sealing or opening then fails with ``NotFound`` naming
    ``watchkeeper node init``.
    """

    def __init__(self, data_dir: Path | None = None, *, key: bytes | None = None) -> None:
        self._data_dir = data_dir
        self._key = key

    def _aead(self) -> AESGCM:
        if self._key is None:
            if self._data_dir is None:
                raise NotFound("no node key to seal secrets with", path=None)
            path = keys_dir(self._data_dir) / ENCRYPTION_FILE
            if not path.is_file():
                raise NotFound(
                    f"this node has no keys yet (no {path}), so it cannot keep a partner's "
                    "credentials; run: watchkeeper node init",
                    path=str(path),
                )
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(private, X25519PrivateKey):
                raise InvalidInput(f"{path} does not hold an X25519 key", path=str(path))
            self._key = _derive(private)
        return AESGCM(self._key)

    def seal(self, secret: str, *, context: str) -> str:
        """``secret`` sealed and bound to ``context`` (text safe to store)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead().encrypt(nonce, secret.encode(), context.encode())
        return f"{VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, sealed: str, *, context: str) -> str:
        """The secret sealed in ``sealed`` for ``context``; ``IntegrityError`` if it does not
        open (another node key, another context, or altered)."""
        version, _, body = sealed.partition(":")
        try:
            if version != VERSION:
                raise ValueError(version)
            raw = base64.b64decode(body, validate=True)
            plain = self._aead().decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (ValueError, binascii.Error, InvalidTag):
            raise IntegrityError(
                "a sealed secret does not open with this node's key: the keys were replaced, "
                "or the stored row was altered; give the secret again",
                context=context.split(":", 1)[0],
            ) from None
        return plain.decode()
