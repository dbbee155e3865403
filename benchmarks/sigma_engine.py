"""Sigma rule engine: 100 process_creation rules over 1,000,000 Sysmon events, on one core.

Data (seeded, generated here), shaped like a fleet's process-creation telemetry: ~2,000
distinct executables (folders x names) used with a skewed frequency; parents mostly the usual
launchers (explorer, services, svchost, cmd...) and rarely an Office application; a few hundred
users. Command lines come from a pool of 20,000 (executable, arguments) lines drawn with a
Zipf-like frequency, so the same lines recur across hosts, and one event in ten carries a
unique tail (a temp file name). About 2% of the pool lines carry suspicious arguments; a few
events run a renamed binary (OriginalFileName differs from the image name).

Rules (generated, in the style of SigmaHQ process_creation rules): ``Image|endswith`` lists,
``CommandLine|contains|all``, ``ParentImage|endswith`` + ``not filter`` (``|startswith``),
``|windash``, ``1 of selection_*``, ``|re`` with a ``User`` filter, ``Image|startswith`` and
``OriginalFileName`` lists. Like real rules they fire rarely: most events match no rule.

Figures, measured in this run, POLARS_MAX_THREADS=1 (set before import):
- engine: events/s over all rules (load + compile excluded, reported apart), goal >= 200,000;
  baseline: the per-event reference evaluator (``sigma_reference``) on a sample, in events/s;
- rule load + compile time for the 100 rules, in seconds.
Both evaluators' hits on a sample (the first events, and up to 1,000 the engine fired on) are
compared; a mismatch is reported on stderr and by the exit status. The engine is timed RUNS
times and the fastest run counts.
Environment: WK_BENCH_EVENTS (default 1000000), WK_BENCH_SAMPLE (default 2000),
WK_BENCH_RUNS (default 3).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one core, as the goal says (before import)

import numpy as np
import polars as pl
import yaml

from watchkeeper.detect.sigma_hits import evaluate
from watchkeeper.detect.sigma_reference import reference_hits
from watchkeeper.detect.sigma_rules import load_rules

EVENTS = int(os.environ.get("WK_BENCH_EVENTS", "1000000"))
SAMPLE = int(os.environ.get("WK_BENCH_SAMPLE", "2000"))
RUNS = int(os.environ.get("WK_BENCH_RUNS", "3"))
RULES = 100
SEED = 20261201

POOL = 20_000  # distinct command lines before unique tails
TAILS = 0.1  # share of events whose command line ends with a unique temp file name
SUSPICIOUS_LINES = 0.005  # share of the rarer pool lines carrying suspicious arguments

FOLDERS = [
    "C:\\Windows\\System32\\",
    "C:\\Windows\\SysWOW64\\",
    "C:\\Program Files\\Common Files\\",
    "C:\\Program Files (x86)\\Vendor\\",
    "C:\\Users\\Public\\",
    "C:\\ProgramData\\Updater\\",
    "C:\\Windows\\Temp\\",
    "D:\\Tools\\",
]
KNOWN = [
    "powershell.exe",
    "pwsh.exe",
    "cmd.exe",
    "certutil.exe",
    "rundll32.exe",
    "regsvr32.exe",
    "mshta.exe",
    "wscript.exe",
    "cscript.exe",
    "bitsadmin.exe",
    "schtasks.exe",
    "wmic.exe",
    "net.exe",
    "net1.exe",
    "whoami.exe",
    "reg.exe",
    "sc.exe",
    "msiexec.exe",
    "vssadmin.exe",
    "wevtutil.exe",
    "bcdedit.exe",
    "conhost.exe",
    "svchost.exe",
    "taskhostw.exe",
    "explorer.exe",
]
OFFICE = ["winword.exe", "excel.exe", "outlook.exe", "powerpnt.exe"]
LAUNCHERS = ["explorer.exe", "services.exe", "svchost.exe", "cmd.exe", "userinit.exe"]
SHELLS = ["powershell.exe", "pwsh.exe", "cmd.exe", "wscript.exe", "cscript.exe", "mshta.exe"]
BENIGN = [
    "/c",
    "-k",
    "netsvcs",
    "-p",
    "-s",
    "Schedule",
    "/q",
    "/s",
    "/i",
    "--type=renderer",
    "--field-trial-handle=1844",
    "-Embedding",
    "/update",
    "/silent",
    "--no-sandbox",
    "config.xml",
    "C:\\Windows\\system32\\drivers\\etc\\hosts",
    "-o",
    "out.txt",
    "/all",
    "query",
    "status",
    "https://update.vendor.example/manifest.json",
    "C:\\ProgramData\\Vendor\\agent.log",
    "--log-level=2",
    "-NoLogo",
    "-File",
    "C:\\Scripts\\inventory.ps1",
    "/norestart",
    "/quiet",
]
SUSPICIOUS = [
    "-enc",
    "-EncodedCommand",
    "-w hidden",
    "-nop",
    "-ExecutionPolicy Bypass",
    "IEX",
    "DownloadString",
    "FromBase64String",
    "-urlcache",
    "/urlcache",
    "-split",
    "-decode",
    "/transfer",
    "javascript:",
    "scrobj.dll",
    "/i:http",
    "delete shadows",
    "shadowcopy delete",
    "/create /tn",
    "process call create",
    "Add-MpPreference",
    "-ExclusionPath",
    "comsvcs.dll",
    "MiniDump",
    "whoami /priv",
    'group "domain admins"',
    "save hklm\\sam",
    "cl Security",
    "recoveryenabled no",
    "http://198.51.100.7/a.exe",
    "\\\\127.0.0.1\\ADMIN$",
    "SQBFAFgAIAAoAE4AZQB3AC0A",
]


def _line(metric: str, value: float, unit: str, baseline: float | None) -> None:
    print(
        json.dumps(
            {
                "bench": "sigma_engine",
                "metric": metric,
                "value": round(value, 3),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 3),
                "ratio": round(value / baseline, 3) if baseline else None,
            }
        ),
        flush=True,
    )


def _executables() -> list[str]:
    names = list(KNOWN) + OFFICE + [f"app{k:04d}.exe" for k in range(230)]
    pool = sorted({folder + name for folder in FOLDERS for name in names})
    return pool[:2000]


def _skewed(
    rng: np.random.Generator, size: int, n: int, power: float, shuffle: bool = True
) -> np.ndarray:
    """``n`` draws from ``range(size)``, rank k with weight 1/k**power (ranks shuffled or not)."""
    weights = 1.0 / np.arange(1, size + 1) ** power
    drawn = rng.choice(size, n, p=weights / weights.sum())
    return rng.permutation(size)[drawn] if shuffle else drawn


def _pool(rng: np.random.Generator, executables: list[str]) -> tuple[list[str], list[str]]:
    """Distinct (executable, command line) pairs, a few of them suspicious."""
    images, lines = [], []
    picked = _skewed(rng, len(executables), POOL, 0.8)
    for k in range(POOL):
        image = executables[picked[k]]
        args = [BENIGN[i] for i in rng.choice(len(BENIGN), rng.integers(1, 5), replace=False)]
        if k >= POOL // 10 and rng.random() < SUSPICIOUS_LINES:  # rare lines only
            args += [SUSPICIOUS[i] for i in rng.choice(len(SUSPICIOUS), rng.integers(1, 4))]
            rng.shuffle(args)
            image = str(rng.choice(FOLDERS[:2])) + str(rng.choice(KNOWN[:20]))  # a LOLBin
        name = image.rsplit("\\", 1)[-1]
        head = f'"{image}"' if " " in image else name
        images.append(image)
        lines.append(" ".join([head, *args, f"/id:{k}"]))
    return images, lines


def _events(rng: np.random.Generator, n: int) -> pl.DataFrame:
    executables = _executables()
    images, lines = _pool(rng, executables)
    drawn = _skewed(rng, POOL, n, 0.9, shuffle=False)  # pool line k has rank k
    image = pl.Series(images).gather(drawn)
    tails = pl.Series(
        np.where(
            rng.random(n) < TAILS,
            np.char.add(" C:\\Users\\Public\\Temp\\", rng.integers(0, 2**40, n).astype(str)),
            "",
        )
    )
    command = pl.Series(lines).gather(drawn) + tails
    launchers = [f"C:\\Windows\\{name}" for name in LAUNCHERS]
    office = [f"C:\\Program Files\\Microsoft Office\\root\\Office16\\{n}" for n in OFFICE]
    kind = rng.random(n)
    parent = np.where(
        kind < 0.6,
        np.asarray(launchers)[rng.integers(0, len(launchers), n)],
        np.where(
            kind < 0.997,
            np.asarray(executables)[_skewed(rng, len(executables), n, 0.8)],
            np.asarray(office)[rng.integers(0, len(office), n)],
        ),
    )
    names = image.str.split("\\").list.last()
    renamed = rng.random(n) < 0.001
    original = np.where(
        renamed, np.asarray(KNOWN)[rng.integers(0, len(KNOWN), n)], names.to_numpy()
    )
    users = [f"CORP\\user{k}" for k in range(300)] + ["NT AUTHORITY\\SYSTEM"] * 100
    hashes = pl.Series(executables).hash().cast(pl.String)
    by_image = dict(zip(executables, hashes.to_list(), strict=True))
    return pl.DataFrame(
        {
            "event.dataset": pl.Series(["sysmon"] * n),
            "event.code": pl.Series(["1"] * n),
            "process.executable": image,
            "process.command_line": command,
            "process.parent.executable": pl.Series(parent),
            "winlog.event_data.OriginalFileName": pl.Series(original).str.to_uppercase(),
            "user.name": pl.Series(users).gather(rng.integers(0, len(users), n)),
            "host.name": pl.Series([f"ws{k:04d}" for k in rng.integers(0, 500, n)]),
            "process.hash.sha256": image.replace_strict(by_image, return_dtype=pl.String),
        }
    ).rechunk()


def _rule(rng: np.random.Generator, k: int) -> dict[str, object]:
    def pick(seq: list[str], m: int) -> list[str]:
        return [seq[i] for i in rng.choice(len(seq), m, replace=False)]

    def ends(names: list[str]) -> list[str]:
        return ["\\" + name for name in names]

    kind = k % 6
    detection: dict[str, object] = {}
    if kind == 0:
        detection["selection_img"] = {"Image|endswith": ends(pick(KNOWN, 3))}
        detection["selection_cli"] = {"CommandLine|contains|all": pick(SUSPICIOUS, 2)}
        detection["condition"] = "all of selection_*"
    elif kind == 1:
        detection["selection_parent"] = {"ParentImage|endswith": ends(pick(OFFICE, 2))}
        detection["selection_child"] = {"Image|endswith": ends(pick(SHELLS, 3))}
        detection["filter"] = {"ParentImage|startswith": str(rng.choice(FOLDERS))}
        detection["condition"] = "selection_parent and selection_child and not filter"
    elif kind == 2:
        switches = [a for a in SUSPICIOUS if a.startswith("-") and " " not in a]
        detection["selection_a"] = {
            "CommandLine|windash|contains": ["-" + a.lstrip("-/") for a in pick(switches, 2)]
        }
        detection["selection_b"] = {"CommandLine|contains": pick(SUSPICIOUS, 2)}
        detection["condition"] = "1 of selection_*"
    elif kind == 3:
        name = str(rng.choice(SHELLS)).replace(".", "\\.")
        detection["selection"] = {"CommandLine|re": f"(?i){name}.*\\s(-enc|-nop|-w\\s+hidden)\\s"}
        detection["filter_user"] = {"User|endswith": f"user{rng.integers(0, 300)}"}
        detection["condition"] = "selection and not filter_user"
    elif kind == 4:
        detection["selection_img"] = {"Image|startswith": str(rng.choice(FOLDERS))}
        detection["selection_name"] = {"Image|endswith": ends(pick(KNOWN, 2))}
        detection["selection_cli"] = {"CommandLine|contains": pick(SUSPICIOUS, 2)}
        detection["condition"] = "selection_img and selection_name and selection_cli"
    else:
        names = pick(KNOWN, 3)
        detection["selection"] = {"OriginalFileName": [name.upper() for name in names]}
        detection["filter"] = {"Image|endswith": ends(names)}
        detection["condition"] = "selection and not filter"
    return {
        "title": f"Generated rule {k}",
        "id": f"00000000-0000-4000-8000-{k:012d}",
        "level": "medium",
        "logsource": {"category": "process_creation", "product": "windows"},
        "detection": detection,
    }


def main() -> int:
    """Generate, measure, print; exit 1 when the engine and the reference disagree."""
    rng = np.random.default_rng(SEED)
    events = _events(rng, EVENTS)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yml"
        path.write_text(yaml.safe_dump_all([_rule(rng, k) for k in range(RULES)]), encoding="utf-8")
        start = time.perf_counter()
        rules = load_rules(paths=[path])
        load = time.perf_counter() - start
    if rules.errors or len(rules.supported) != RULES:
        print(f"# rules did not load: {rules.errors} {rules.unsupported}", file=sys.stderr)
        return 1
    print(
        f"# {EVENTS} events, {events['process.executable'].n_unique()} distinct executables, "
        f"{events['process.command_line'].n_unique()} distinct command lines, "
        f"{RULES} rules, polars threads {pl.thread_pool_size()}",
        file=sys.stderr,
    )
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        hits = evaluate(rules=rules, frame=events)
        timings.append(time.perf_counter() - start)
    engine = EVENTS / min(timings)
    # the first SAMPLE events, plus up to 1000 events the engine fired on (hits are rare, so
    # a plain sample would hold few of them and check little)
    fired = np.unique(np.concatenate(hits.rows))[:1000] if len(hits) else np.empty(0, np.int64)
    picked = np.union1d(np.arange(min(SAMPLE, EVENTS)), fired)
    sample = events[picked]
    rows = sample.to_dicts()
    start = time.perf_counter()
    expected = reference_hits(rules=rules, events=rows)
    reference = len(rows) / (time.perf_counter() - start)
    got = evaluate(rules=rules, frame=sample)
    agree = all(got.for_rule(ident).tolist() == expected[ident] for ident in expected)
    _line("events_per_s_vs_reference", engine, "events/s", reference)
    _line("events_per_s_vs_goal", engine, "events/s", 200_000.0)
    _line("rules_load_compile", load, "s", None)
    print(
        f"# hits: {len(hits)} over {EVENTS} events ({len(hits) / EVENTS:.2%}), "
        f"{sum(1 for rows in hits.rows if len(rows))} rules fired; sample {len(rows)} "
        f"({len(fired)} with hits): "
        f"{'agree' if agree else 'DISAGREE'} with the reference",
        file=sys.stderr,
    )
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
