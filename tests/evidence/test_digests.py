"""The one-pass copy with direct I/O: same bytes and digests as a buffered copy, whatever the
size (whole chunks, a last short chunk, a tiny file), and a file system that refuses a direct
write gets a buffered one instead, with nothing lost or doubled."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from watchkeeper.evidence import digests as digests_module
from watchkeeper.evidence.digests import ALIGN, DIRECT, digest_file
from watchkeeper.evidence.vault import content_path, store_file

CHUNK = 64 * 1024
pytestmark = pytest.mark.skipif(DIRECT == 0, reason="no O_DIRECT on this platform")


def _copy(source: Path, target: Path, *, direct: bool) -> digests_module.Digests:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | (DIRECT if direct else 0)
    try:
        out = os.open(target, flags, 0o600)
    except OSError as exc:  # a file system without direct I/O: the vault writes buffered
        pytest.skip(f"{target.parent} refuses O_DIRECT ({exc.strerror})")
    src = os.open(source, os.O_RDONLY)
    try:
        return digest_file(src, sink=out, chunk=CHUNK, direct=direct)
    finally:
        os.close(src)
        os.close(out)


@pytest.mark.parametrize("size", [0, 100, ALIGN, CHUNK, 3 * CHUNK, 3 * CHUNK + 12345])
def test_direct_copy_equals_the_source(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    found = _copy(source, tmp_path / "direct.bin", direct=True)
    plain = _copy(source, tmp_path / "plain.bin", direct=False)
    assert (tmp_path / "direct.bin").read_bytes() == data
    assert found == plain
    assert found.size == size and found.sha256 == hashlib.sha256(data).hexdigest()


def test_a_refused_direct_write_is_written_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(2 * CHUNK + 7)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    real = digests_module.write_chunk
    refused: list[int] = []

    def picky(fd: int, chunk: memoryview) -> None:
        if not refused:
            refused.append(len(chunk))
            raise OSError(errno.EINVAL, "direct I/O refused")
        real(fd, chunk)

    monkeypatch.setattr(digests_module, "write_chunk", picky)
    found = _copy(source, tmp_path / "copy.bin", direct=True)
    assert refused == [CHUNK]
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert found.sha256 == hashlib.sha256(data).hexdigest()


def test_the_vault_stores_with_direct_writes(tmp_path: Path) -> None:
    data = os.urandom(5 * 1024 * 1024 + 3)  # more than one 4 MiB chunk, the last one short
    source = tmp_path / "image.bin"
    source.write_bytes(data)
    found = store_file(tmp_path / "data", source)
    assert content_path(tmp_path / "data", found.sha256).read_bytes() == data
