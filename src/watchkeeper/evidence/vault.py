"""Write-once, content-addressed storage of evidence content under ``<data dir>/vault``.

Content lands as ``sha256/ab/cd/<sha256>``, mode 0444, moved there by an atomic rename only
after it was fully written and fsynced; until then it is a temp file in ``.partial`` that its
writer holds an exclusive lock on. A killed intake therefore leaves at most an unlocked temp
file, which the next intake sweeps. Identical content is kept once.
"""

from __future__ import annotations

import errno
import fcntl
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from watchkeeper.errors import IntegrityError, StorageError
from watchkeeper.evidence.digests import DIRECT, Digests, digest_file

PARTIAL = ".partial"


def vault_dir(data_dir: Path) -> Path:
    """Root of the vault inside the node's data dir."""
    return data_dir / "vault"


def content_path(data_dir: Path, sha256: str) -> Path:
    """Where content with this SHA-256 lives."""
    return vault_dir(data_dir) / "sha256" / sha256[:2] / sha256[2:4] / sha256


def sweep_partial(data_dir: Path) -> int:
    """Remove temp files left by killed intakes (those no live writer holds); return the count."""
    folder = vault_dir(data_dir) / PARTIAL
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            path.unlink(missing_ok=True)
            removed += 1
        finally:
            os.close(fd)
    return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store_file(
    data_dir: Path, source: Path, *, on_chunk: Callable[[int], None] | None = None
) -> Digests:
    """Hash ``source`` in one pass while copying it into the vault; return its digests.

    A full disk gives ``StorageError`` naming the file, with the temp file removed.
    """
    partial = vault_dir(data_dir) / PARTIAL
    partial.mkdir(parents=True, exist_ok=True)
    temp = partial / f"{uuid.uuid4().hex}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    direct = DIRECT != 0
    try:  # direct writes where the file system takes them (not tmpfs): see digests._write
        out = os.open(temp, flags | DIRECT, 0o600)
    except OSError as exc:
        if exc.errno != errno.EINVAL or not direct:
            raise
        direct = False  # the name is ours alone (a fresh uuid), whether or not it was created
        out = os.open(temp, flags & ~os.O_EXCL, 0o600)
    fcntl.flock(out, fcntl.LOCK_EX)
    try:
        try:
            src = os.open(source, os.O_RDONLY)
            try:
                digests = digest_file(src, sink=out, on_chunk=on_chunk, direct=direct)
            finally:
                os.close(src)
            os.fsync(out)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageError(
                    f"vault disk full while storing {source}: nothing was registered",
                    path=str(source),
                ) from None
            raise StorageError(
                f"cannot store {source} in the vault: {exc.strerror or exc}", path=str(source)
            ) from None
        final = content_path(data_dir, digests.sha256)
        if final.exists():
            if final.stat().st_size != digests.size:
                raise IntegrityError(
                    f"vault content {digests.sha256} has size {final.stat().st_size}, "
                    f"expected {digests.size}: the vault was altered; run evidence verify",
                    sha256=digests.sha256,
                )
            return digests  # stored once already; the temp file goes below
        final.parent.mkdir(parents=True, exist_ok=True)
        os.fchmod(out, 0o444)
        os.replace(temp, final)
        _fsync_dir(final.parent)
        return digests
    finally:
        os.close(out)
        temp.unlink(missing_ok=True)


def rehash(data_dir: Path, sha256: str) -> Digests | None:
    """Digests of the stored content now (``None`` when the file is missing)."""
    try:
        fd = os.open(content_path(data_dir, sha256), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return digest_file(fd)
    finally:
        os.close(fd)
