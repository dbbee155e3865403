"""Run the benchmarks: ``python benchmarks/run.py [NAME...]`` (default: all).

Each benchmark is a script beside this one printing JSON lines
``{"bench", "metric", "value", "unit", "baseline", "ratio"}`` with the baseline measured in the
same run. This runner checks every line has those fields and passes them through.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = {"bench", "metric", "value", "unit", "baseline", "ratio"}


def available() -> list[str]:
    """Names of the benchmark scripts."""
    return sorted(
        p.stem for p in HERE.glob("*.py") if p.stem != "run" and not p.stem.startswith("_")
    )


def main(names: list[str]) -> int:
    """Run the named benchmarks; non-zero if one fails or prints a malformed line."""
    known = available()
    unknown = [name for name in names if name not in known]
    if unknown:
        print(
            f"unknown benchmark {', '.join(unknown)}; available: {', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    failed = 0
    for name in names or known:
        print(f"# {name}", file=sys.stderr)
        process = subprocess.run(
            [sys.executable, str(HERE / f"{name}.py")],
            capture_output=True,
            text=True,
            check=False,
        )
        sys.stderr.write(process.stderr)
        for line in process.stdout.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                print(f"{name}: not a JSON line: {line!r}", file=sys.stderr)
                failed += 1
                continue
            missing = FIELDS - set(record)
            if missing:
                print(f"{name}: line lacks {sorted(missing)}: {line}", file=sys.stderr)
                failed += 1
            print(line, flush=True)
        if process.returncode != 0:
            print(f"{name}: exited with {process.returncode}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
