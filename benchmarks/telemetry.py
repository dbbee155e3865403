"""Telemetry readers: Zeek DNS TSV and Sysmon JSON lines into dictionary columns.

Data (seeded, generated here into a temporary directory): WK_BENCH_LINES lines (default
1,000,000) of a Zeek dns.log in TSV with its header, and as many Sysmon events as flat JSON
lines (process creation, network connection and DNS query events in turn).

Figures, measured in this run on this machine: lines/s and MB/s of ``read_telemetry`` per
format, all batches consumed. Baseline: the Python standard library reading the same file line
by line (``csv`` with a tab delimiter, ``json.loads``) into one dict per line, without any
mapping, so the ratio understates the readers' lead. The fastest of WK_BENCH_RUNS runs counts.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from watchkeeper.detect.telemetry import read_telemetry

LINES = int(os.environ.get("WK_BENCH_LINES", "1000000"))
RUNS = int(os.environ.get("WK_BENCH_RUNS", "3"))
SEED = 20261205

HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n"
    "#open\t2026-03-01-10-00-00\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery"
    "\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers"
    "\tTTLs\trejected\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring"
    "\tcount\tstring\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]"
    "\tvector[interval]\tbool\n"
)


def _line(metric: str, value: float, unit: str, baseline: float | None) -> None:
    print(
        json.dumps(
            {
                "bench": "telemetry",
                "metric": metric,
                "value": round(value, 3),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 3),
                "ratio": round(value / baseline, 3) if baseline else None,
            }
        ),
        flush=True,
    )


def _zeek(path: Path, rng: np.random.Generator) -> None:
    names = [f"host{i}.site{i % 977}.example.com" for i in range(max(LINES // 10, 100))]
    pick = rng.integers(0, len(names), LINES)
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(LINES):
            out.write(
                f"{1772359200 + i / 1000:.6f}\tC{i:08x}\t10.{i % 200}.{i % 250}.{i % 251}"
                f"\t{1024 + i % 60000}\t192.0.2.53\t53\tudp\t{i % 65535}\t0.001000"
                f"\t{names[pick[i]]}\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0"
                f"\t203.0.113.{i % 250}\t60.000000\tF\n"
            )
        out.write("#close\t2026-03-01-11-00-00\n")


def _sysmon(path: Path, rng: np.random.Generator) -> None:
    pick = rng.integers(0, 1000, LINES)
    with path.open("w", encoding="utf-8") as out:
        for i in range(LINES):
            common = {
                "Computer": f"WS{i % 500:04d}.corp.example",
                "UtcTime": f"2026-03-01 10:{(i // 60000) % 60:02d}:"
                f"{(i // 1000) % 60:02d}.{i % 1000:03d}",
                "ProcessId": 1000 + i % 5000,
                "Image": f"C:\\Program Files\\App{pick[i]}\\app{pick[i]}.exe",
                "User": "CORP\\user" + str(i % 300),
            }
            kind = i % 3
            if kind == 0:
                record = {
                    "EventID": 1,
                    **common,
                    "CommandLine": f"app{pick[i]}.exe --flag {i}",
                    "ParentImage": "C:\\Windows\\explorer.exe",
                    "ParentProcessId": 900,
                    "Hashes": f"MD5={i:032x},SHA256={i:064x}",
                }
            elif kind == 1:
                record = {
                    "EventID": 3,
                    **common,
                    "Protocol": "tcp",
                    "SourceIp": f"10.0.{i % 200}.{i % 250}",
                    "SourcePort": 1024 + i % 60000,
                    "DestinationIp": f"203.0.113.{i % 250}",
                    "DestinationPort": 443,
                }
            else:
                record = {
                    "EventID": 22,
                    **common,
                    "QueryName": f"host{pick[i]}.example.com",
                    "QueryStatus": "0",
                    "QueryResults": f"::ffff:203.0.113.{i % 250};",
                }
            out.write(json.dumps(record) + "\n")


def _best(run: Callable[[], int]) -> tuple[float, int]:
    timings, result = [], 0
    for _ in range(RUNS):
        start = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - start)
    return min(timings), result


def _ours(path: Path, fmt: str) -> int:
    return sum(batch.frame.height for batch in read_telemetry(paths=[str(path)], format=fmt))


def _csv_baseline(path: Path) -> int:
    rows = 0
    fields: list[str] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row and row[0].startswith("#"):
                if row[0] == "#fields":
                    fields = row[1:]
                continue
            record = dict(zip(fields, row, strict=False))
            rows += bool(record)
    return rows


def _json_baseline(path: Path) -> int:
    rows = 0
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                rows += bool(json.loads(line))
    return rows


def main() -> int:
    """Generate, measure, print; exit 1 when a reader and its baseline count different rows."""
    rng = np.random.default_rng(SEED)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        cases: tuple[tuple[str, str, Callable[..., None], Callable[[Path], int]], ...] = (
            ("zeek", "dns.log", _zeek, _csv_baseline),
            ("sysmon", "sysmon.json", _sysmon, _json_baseline),
        )
        for fmt, name, write, baseline in cases:
            path = Path(tmp) / name
            write(path, rng)
            size = path.stat().st_size
            seconds, rows = _best(partial(_ours, path, fmt))
            base_seconds, base_rows = _best(partial(baseline, path))
            _line(f"{fmt}_lines_per_s", rows / seconds, "lines/s", base_rows / base_seconds)
            _line(f"{fmt}_mb_per_s", size / seconds / 1e6, "MB/s", size / base_seconds / 1e6)
            print(
                f"# {fmt}: {rows} rows ({base_rows} baseline), {size / 1e6:.1f} MB, "
                f"{seconds:.2f} s (baseline {base_seconds:.2f} s)",
                file=sys.stderr,
            )
            ok = ok and rows == base_rows
            path.unlink()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
