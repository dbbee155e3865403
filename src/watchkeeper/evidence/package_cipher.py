"""Chunked, streaming encryption of one evidence file to a partner's X25519 key.

Why chunked: AES-GCM over a whole multi-GB file would need it all in memory on decryption
(the tag is only checked at the end, so nothing may be released before). The content is
therefore cut into chunks of ``chunk_size`` bytes, each sealed on its own:

* key: a fresh ephemeral X25519 key per file; the shared secret with the recipient's key goes
  through HKDF-SHA256 (salt = ephemeral public key || recipient public key) to an AES-256 key;
* nonce of chunk ``i``: the random 96-bit base nonce XOR ``i``;
* associated data of chunk ``i``: ``binding || i (8 bytes, big-endian) || final flag (1 byte)``,
  where ``binding`` names the package and the item's SHA-256: a chunk moved to another
  position, another item or another package, or a stream cut after a non-final chunk,
  no longer opens.

A file of ``n`` bytes gives ``max(1, ceil(n / chunk_size))`` chunks (an empty file is one empty
final chunk) and ``n + 16 * chunks`` bytes of ciphertext, so the size is known beforehand.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SCHEME = "x25519-hkdf-sha256-aes256gcm-chunked-v1"
INFO = b"watchkeeper evidence package v1"
TAG = 16
NONCE = 12
DEFAULT_CHUNK = 1024 * 1024


class BlobError(Exception):
    """An encrypted blob does not open: altered, truncated, extended or for another key."""


@dataclass(frozen=True)
class Envelope:
    """What the recipient needs besides its private key (carried in the signed manifest)."""

    ephemeral_public_key: str
    base_nonce: str
    chunk_size: int


def _raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> AESGCM:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=INFO
    ).derive(shared)
    return AESGCM(derived)


def _nonce(base: bytes, counter: int) -> bytes:
    return (int.from_bytes(base, "big") ^ counter).to_bytes(NONCE, "big")


def _aad(binding: bytes, counter: int, final: bool) -> bytes:
    return binding + counter.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def chunk_count(size: int, chunk_size: int) -> int:
    """Chunks of a file of ``size`` bytes."""
    return max(1, -(-size // chunk_size))


def ciphertext_size(size: int, chunk_size: int) -> int:
    """Bytes of ciphertext for ``size`` bytes of content."""
    return size + TAG * chunk_count(size, chunk_size)


def binding(package_id: str, sha256: str) -> bytes:
    """The associated-data prefix tying a blob to its package and item."""
    return f"watchkeeper-package:{package_id}:{sha256}:".encode()


def _read_exact(source: IO[bytes], count: int) -> bytes:
    parts = []
    while count:
        data = source.read(count)
        if not data:
            break
        parts.append(data)
        count -= len(data)
    return b"".join(parts)


class EncryptingReader:
    """A file-like ``read`` giving the ciphertext of ``source`` chunk by chunk.

    ``plain_sha256`` and ``cipher_sha256`` are complete once everything was read.
    """

    def __init__(
        self,
        source: IO[bytes],
        *,
        size: int,
        recipient: X25519PublicKey,
        bind: bytes,
        chunk_size: int,
        base_nonce: bytes,
    ) -> None:
        ephemeral = X25519PrivateKey.generate()
        ephemeral_raw = _raw(ephemeral.public_key())
        self._aead = _key(ephemeral.exchange(recipient), ephemeral_raw, _raw(recipient))
        self.envelope = Envelope(
            ephemeral_public_key=base64.b64encode(ephemeral_raw).decode(),
            base_nonce=base64.b64encode(base_nonce).decode(),
            chunk_size=chunk_size,
        )
        self._source = source
        self._remaining = size
        self._bind = bind
        self._base = base_nonce
        self._chunk = chunk_size
        self._counter = 0
        self._done = False
        self._buffer = bytearray()
        self.plain_sha256 = hashlib.sha256()
        self.cipher_sha256 = hashlib.sha256()
        self.short = False

    def _next(self) -> None:
        want = min(self._chunk, self._remaining)
        data = _read_exact(self._source, want)
        if len(data) != want:
            self.short = True  # content shorter than recorded: the caller refuses
            data = data + bytes(want - len(data))
        self._remaining -= want
        final = self._remaining == 0
        self.plain_sha256.update(data)
        sealed = self._aead.encrypt(
            _nonce(self._base, self._counter), data, _aad(self._bind, self._counter, final)
        )
        self.cipher_sha256.update(sealed)
        self._buffer += sealed
        self._counter += 1
        self._done = final

    def read(self, count: int = -1) -> bytes:
        """Up to ``count`` bytes of ciphertext (all the rest when negative)."""
        while (count < 0 or len(self._buffer) < count) and not self._done:
            self._next()
        if count < 0:
            count = len(self._buffer)
        out = bytes(self._buffer[:count])
        del self._buffer[:count]
        return out


def decrypt_stream(
    source: IO[bytes],
    *,
    private_key: X25519PrivateKey,
    envelope: Envelope,
    bind: bytes,
    size: int,
    sink: Callable[[bytes], None],
) -> str:
    """Open a blob chunk by chunk into ``sink``; return the SHA-256 of the ciphertext read.

    ``BlobError`` when any chunk does not open or the blob is shorter or longer than ``size``
    bytes of content need.
    """
    try:
        ephemeral_raw = base64.b64decode(envelope.ephemeral_public_key, validate=True)
        base = base64.b64decode(envelope.base_nonce, validate=True)
        ephemeral = X25519PublicKey.from_public_bytes(ephemeral_raw)
    except ValueError as exc:
        raise BlobError(f"bad envelope: {exc}") from None
    if len(base) != NONCE or envelope.chunk_size <= 0:
        raise BlobError("bad envelope: nonce or chunk size")
    own = _raw(private_key.public_key())
    aead = _key(private_key.exchange(ephemeral), ephemeral_raw, own)
    digest = hashlib.sha256()
    chunks = chunk_count(size, envelope.chunk_size)
    remaining = size
    for counter in range(chunks):
        want = min(envelope.chunk_size, remaining)
        sealed = _read_exact(source, want + TAG)
        digest.update(sealed)
        if len(sealed) != want + TAG:
            raise BlobError(f"truncated at chunk {counter}")
        remaining -= want
        final = counter == chunks - 1
        try:
            plain = aead.decrypt(_nonce(base, counter), sealed, _aad(bind, counter, final))
        except InvalidTag:
            raise BlobError(
                f"chunk {counter} does not open (altered or not for this node)"
            ) from None
        sink(plain)
    if source.read(1):
        raise BlobError("bytes after the final chunk")
    return digest.hexdigest()
