"""Evidence vault: one-pass intake against coreutils, intake memory, and ledger verification.

Figures, all measured in this run on this machine:
- intake of one generated file (random bytes, written once, then read once to warm the page
  cache for every contender alike) with MD5+SHA-1+SHA-256, copy into the vault, fsync and
  registration: bytes/s against ``md5sum`` alone on the same file (goal ratio >= 0.9) and
  against ``md5sum; sha1sum; sha256sum`` one after another (goal ratio >= 4);
- the one-pass hashing alone (no vault write), to show what the copy and fsync cost;
- peak RSS of the intake, run in a child process (RUSAGE_CHILDREN ru_maxrss), goal < 100 MB;
- verify of ITEMS items with EVENTS custody events without content re-hash, every signature
  checked and heads-only, goal < 60 s.

Why a thread per digest: hashlib releases the GIL on buffers over 2 KiB, so on two cores the
three digests and the vault write overlap and the pass runs at the speed of the slowest digest
(MD5); hashing the three in turn in one thread runs at the sum of their costs.

Environment: WK_BENCH_EVIDENCE_MB (default 2048), WK_BENCH_EVIDENCE_ITEMS (default 10000),
WK_BENCH_EVIDENCE_EVENTS (default 1000000), WK_BENCH_DIR (where the file is written; default: the
system temporary directory).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = int(os.environ.get("WK_BENCH_EVIDENCE_MB", "2048"))
ITEMS = int(os.environ.get("WK_BENCH_EVIDENCE_ITEMS", "10000"))
EVENTS = int(os.environ.get("WK_BENCH_EVIDENCE_EVENTS", "1000000"))


def _line(metric: str, value: float, unit: str, baseline: float | None) -> None:
    print(
        json.dumps(
            {
                "bench": "evidence",
                "metric": metric,
                "value": round(value, 3),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 3),
                "ratio": round(value / baseline, 3) if baseline else None,
            }
        ),
        flush=True,
    )


def _generate(path: Path, megabytes: int) -> None:
    block = 4 * 1024 * 1024
    with path.open("wb") as out:
        for _ in range(megabytes * 1024 * 1024 // block):
            out.write(os.urandom(block))


def _timed(*commands: list[str]) -> float:
    start = time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _child_intake(path: str, data: str) -> None:
    """Run in a child process: one intake on a fresh node; prints its seconds."""
    from watchkeeper.evidence import add_evidence
    from watchkeeper.testing import make_node

    node = make_node(Path(data))
    node.init_identity(actor="bench", code="QA-BENCH", name="bench", country="QA")
    start = time.perf_counter()
    add_evidence(
        node=node, actor="bench", role="evidence-officer", paths=[Path(path)], case_ref="C-1"
    )
    print(time.perf_counter() - start)
    node.close()


def _child_hash(path: str) -> None:
    """Run in a child process: the one-pass digests without the vault copy."""
    from watchkeeper.evidence import digest_file

    fd = os.open(path, os.O_RDONLY)
    start = time.perf_counter()
    digest_file(fd)
    print(time.perf_counter() - start)
    os.close(fd)


def _child(*args: str) -> float:
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def _intake(work: Path) -> None:
    path = work / "image.bin"
    _generate(path, MB)
    size = path.stat().st_size
    _timed(["cat", str(path)])  # warm the page cache for everyone
    intake = _child("--intake", str(path), str(work / "node"))
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    hashing = _child("--hash", str(path))
    md5 = _timed(["md5sum", str(path)])
    three = _timed(["md5sum", str(path)], ["sha1sum", str(path)], ["sha256sum", str(path)])
    gbps = size / 1e9
    _line("intake GB/s vs md5sum alone", gbps / intake, "GB/s", gbps / md5)
    _line("intake GB/s vs md5sum+sha1sum+sha256sum", gbps / intake, "GB/s", gbps / three)
    _line("one-pass hashing only GB/s vs md5sum alone", gbps / hashing, "GB/s", gbps / md5)
    _line(f"intake peak RSS of a {MB} MB file", peak_kb / 1024, "MB", 100.0)


def _ledger(work: Path) -> None:
    from sqlalchemy import insert

    from watchkeeper.core import new_id
    from watchkeeper.evidence import CustodyEvent, EvidenceItem, node_signer, verify_evidence
    from watchkeeper.evidence.custody import GENESIS, event_hash
    from watchkeeper.testing import make_node

    node = make_node(work / "ledger")
    node.init_identity(actor="bench", code="QA-BENCH", name="bench", country="QA")
    signer = node_signer(node)
    now = node.clock.now()
    per_item = max(1, EVENTS // ITEMS)
    start = time.perf_counter()
    with node.database.transaction() as session:
        for index in range(ITEMS):
            item_id = new_id()
            prev = GENESIS
            events = []
            for seq in range(1, per_item + 1):
                fields = {
                    "item_id": item_id, "seq": seq, "action": "collect" if seq == 1 else "analyse",
                    "actor": "bench", "role": "evidence-officer", "at": now, "location": None,
                    "purpose": f"step {seq}", "authority_ref": None, "hash_before": None,
                    "hash_after": None, "detail": {}, "prev_hash": prev,
                    "signer": signer.fingerprint,
                }  # fmt: skip
                digest = event_hash(**fields)  # type: ignore[arg-type]
                events.append({**fields, "event_hash": digest, "signature": signer.sign(digest)})
                prev = digest
            session.execute(
                insert(EvidenceItem),
                [
                    {
                        "id": item_id, "exhibit_number": f"B-{index}", "root_exhibit": f"B-{index}",
                        "parent_id": None, "case_ref": None, "kind": "log", "description": "",
                        "source": None, "acquisition": {}, "legal": {}, "size": None,
                        "media_type": None, "md5": None, "sha1": None, "sha256": None,
                        "blake3": None, "original_name": None, "status": "sealed",
                        "created_at": now, "created_by": "bench", "custody_head": prev,
                    }
                ],
            )  # fmt: skip
            session.execute(insert(CustodyEvent), events)
    built = time.perf_counter() - start
    print(f"ledger of {ITEMS * per_item} events built in {built:.1f} s", file=sys.stderr)
    for mode in ("all", "heads"):
        start = time.perf_counter()
        report = verify_evidence(node=node, rehash_content=False, signatures=mode)
        seconds = time.perf_counter() - start
        if not report.ok:
            print(f"verify failed: {report.failures[:3]}", file=sys.stderr)
            sys.exit(1)
        _line(
            f"verify {report.items} items {report.events} events, signatures {mode}",
            seconds,
            "s",
            60.0,
        )
    node.close()


def main() -> None:
    """Run every part in a throwaway directory."""
    with tempfile.TemporaryDirectory(
        prefix="wk-bench-evidence-", dir=os.environ.get("WK_BENCH_DIR")
    ) as folder:
        work = Path(folder)
        _intake(work)
        _ledger(work)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--intake":
        _child_intake(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--hash":
        _child_hash(sys.argv[2])
    else:
        main()
