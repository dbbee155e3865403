"""``detect`` and ``rules`` commands: match telemetry, hunt in retained telemetry, follow logs,
and test Sigma rules on sample logs."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import err, message, print_json, progress_bar, show_rows
from watchkeeper.detect.detector import Detector, rule_paths, telemetry_root
from watchkeeper.detect.follower import Follower, follow_stream
from watchkeeper.detect.formats import TELEMETRY_FORMATS
from watchkeeper.detect.hunt import hunt, hunt_due, parse_since
from watchkeeper.detect.retention import prune
from watchkeeper.detect.runs import RunReport, finish_run, run_detection, start_run
from watchkeeper.detect.telemetry import input_sizes, read_telemetry
from watchkeeper.errors import InvalidInput
from watchkeeper.node import Node

if TYPE_CHECKING:
    from watchkeeper.detect.sigma_rules import RuleSet

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", *TELEMETRY_FORMATS]),
    default="auto",
    show_default=True,
    help="Telemetry format; auto detects it per file.",
)
mapping_option = click.option(
    "--mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    help="jsonl/csv: YAML file mapping the source's columns to the field dictionary.",
)
rules_option = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path),
    help="Sigma rules (file or directory) evaluated with the built-in ones; default: "
    "detect_rules_dir, else data_dir/rules/sigma when it exists.",
)
no_rules_option = click.option(
    "--no-rules", is_flag=True, help="Match indicators only (no Sigma rules, not even built-in)."
)


def _rules(node: Node, rules_dir: Path | None, *, disabled: bool) -> RuleSet | None:
    """The Sigma rules to evaluate, their load errors and unsupported features reported."""
    if disabled:
        return None
    from watchkeeper.detect.sigma_rules import load_rules  # pySigma: only when rules run

    if rules_dir is not None and not rules_dir.exists():
        raise InvalidInput(f"--rules {rules_dir}: no such file or directory", file=str(rules_dir))
    rules = load_rules(paths=rule_paths(node, rules_dir))
    for error in rules.errors[:20]:
        err.print(f"rule not loaded: {error.message}", markup=False, highlight=False)
    for rule in rules.unsupported[:20]:
        reasons = "; ".join(rule.unsupported)
        err.print(f"rule not evaluated: {rule.file} ({rule.title}): {reasons}", markup=False)
    return rules


@click.group()
def detect() -> None:
    """Detection: match telemetry against intelligence and Sigma rules."""


def _summary(report: RunReport, *, as_json: bool) -> None:
    if as_json:
        print_json(report.document())
        return
    tally = report.tally
    rate = tally.events / report.seconds if report.seconds else 0.0
    matches = ", ".join(f"{kind} {count}" for kind, count in sorted(tally.matches.items()))
    message(
        f"{report.kind} {report.id}: {tally.events:,} events in {report.seconds:.1f} s "
        f"({rate:,.0f} events/s); matches: {matches or 'none'}; "
        f"alerts: {tally.alerts.new} new, {tally.alerts.updated} updated; "
        f"sightings: {tally.alerts.sightings}; malformed lines: {report.malformed_count}; "
        f"index: {report.index_entries:,} values in {report.index_bytes / 2**20:.1f} MiB"
    )
    for kind, count in tally.rules.most_common(10):
        message(f"  rule {kind}: {count}")
    for line in report.malformed[:5]:
        message(f"  malformed {line}")
    if report.malformed_count > 5:
        message(f"  … {report.malformed_count - 5} more malformed lines (--json shows 20)")


@detect.command("run")
@click.argument("paths", nargs=-1, required=True)
@format_option
@mapping_option
@rules_option
@no_rules_option
@click.option("--no-retain", is_flag=True, help="Do not keep this telemetry for retro-hunts.")
@json_option
@pass_cli
@audit_failures("detect.run")
def detect_run(
    cli: CliContext,
    paths: tuple[str, ...],
    fmt: str,
    mapping: Path | None,
    rules_dir: Path | None,
    no_rules: bool,
    no_retain: bool,
    as_json: bool,
) -> None:
    """Read telemetry files, directories, globs or stdin (-) and raise alerts on what matches."""
    node = cli.node()
    rules = _rules(node, rules_dir, disabled=no_rules)
    total = input_sizes(list(paths))
    with progress_bar("detecting", unit="bytes", quiet=as_json, total=total) as progress:
        report = run_detection(
            node=node,
            actor=cli.principal.actor,
            paths=list(paths),
            format=fmt,
            mapping=mapping,
            rules=rules,
            retain_telemetry=False if no_retain else None,
            on_progress=progress,
        )
    _summary(report, as_json=as_json)


@detect.command("hunt")
@click.option("--since", default=None, help="How far back to search (30d, 12h); default: all kept.")
@click.option("--all", "all_indicators", is_flag=True, help="Every live indicator, not only new.")
@json_option
@pass_cli
@audit_failures("detect.hunt")
def detect_hunt(cli: CliContext, since: str | None, all_indicators: bool, as_json: bool) -> None:
    """Search retained telemetry for indicators that arrived since the last hunt."""
    node = cli.node()
    window = parse_since(since) if since else None
    with progress_bar("hunting", unit="files", quiet=as_json) as progress:
        report = hunt(
            node=node,
            actor=cli.principal.actor,
            since=window,
            all_indicators=all_indicators,
            on_progress=progress,
        )
    _summary(report, as_json=as_json)


@detect.command("serve")
@click.argument("source", required=False, default="-")
@format_option
@mapping_option
@rules_option
@no_rules_option
@click.option("--poll", default=2.0, show_default=True, help="Seconds between directory passes.")
@click.option("--once", is_flag=True, help="One pass over the directory, then exit.")
@click.option("--no-hunt", is_flag=True, help="Do not retro-hunt when new indicators arrive.")
@json_option
@pass_cli
@audit_failures("detect.serve")
def detect_serve(
    cli: CliContext,
    source: str,
    fmt: str,
    mapping: Path | None,
    rules_dir: Path | None,
    no_rules: bool,
    poll: float,
    once: bool,
    no_hunt: bool,
    as_json: bool,
) -> None:
    """Consume telemetry continuously from a directory being written to (or stdin: -)."""
    node = cli.node()
    actor = cli.principal.actor
    rules = _rules(node, rules_dir, disabled=no_rules)
    run_id = start_run(node, kind="serve", actor=actor, sources=[source])
    detector = Detector(node=node, actor=actor, rules=rules)
    report = RunReport(id=run_id, kind="serve", sources=[source], tally=detector.tally)
    stop = {"now": False}

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop["now"] = True

    previous = signal.signal(signal.SIGTERM, stopping)
    started = time.perf_counter()
    error: str | None = None
    try:
        if source == "-":
            _, report.malformed, report.malformed_count = follow_stream(
                detector=detector,
                stream=sys.stdin.buffer,
                format=fmt,
                mapping=mapping,
                stopped=lambda: stop["now"],
            )
        else:
            follower = Follower(
                detector=detector, directory=Path(source), format=fmt, mapping=mapping
            )
            if not as_json:
                message(f"following {source} (Ctrl-C or SIGTERM stops)")
            last_prune = 0.0
            last_finish = time.monotonic()
            while not stop["now"]:
                follower.poll()
                if time.monotonic() - last_finish >= detector.window.total_seconds():
                    detector.finish()  # beaconing and first-seen over the last window
                    last_finish = time.monotonic()
                report.malformed, report.malformed_count = (
                    follower.malformed,
                    follower.malformed_count,
                )
                if not no_hunt:
                    with node.database.reader() as session:
                        due = hunt_due(session)
                    if due:
                        hunt(node=node, actor=actor)
                if time.monotonic() - last_prune > 3600:
                    prune(
                        root=telemetry_root(node),
                        keep_days=node.settings.detect_retention_days,
                        now=node.clock.now(),
                    )
                    last_prune = time.monotonic()
                if once:
                    break
                time.sleep(poll)
        detector.finish()
    except KeyboardInterrupt:
        detector.finish()
    except Exception as exc:
        error = str(exc)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        report.seconds = time.perf_counter() - started
        finish_run(node, report=report, actor=actor, error=error)
    _summary(report, as_json=as_json)


@detect.command("formats")
@json_option
def detect_formats(as_json: bool) -> None:
    """The telemetry formats the readers understand."""
    rows = [
        {"format": name, "description": spec.description}
        for name, spec in TELEMETRY_FORMATS.items()
    ]
    show_rows(rows, ["format", "description"], as_json=as_json, title="telemetry formats")


@click.group()
def rules() -> None:
    """Sigma rules: check them, and test which fire on sample logs."""


@rules.command("test")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--logs", "logs", multiple=True, required=True, help="Log file(s) to test on.")
@format_option
@mapping_option
@json_option
def rules_test_command(
    directory: Path,
    logs: tuple[str, ...],
    fmt: str,
    mapping: Path | None,
    as_json: bool,
) -> None:
    """Which rules of DIRECTORY fire on which lines of --logs (nothing is stored)."""
    from watchkeeper.detect.sigma_hits import rules_test
    from watchkeeper.detect.sigma_rules import load_rules

    if not directory.exists():
        raise InvalidInput(f"{directory}: no such file or directory", file=str(directory))
    loaded = load_rules(paths=[directory])
    results: dict[str, dict[str, Any]] = {}
    malformed: list[str] = []
    for batch in read_telemetry(paths=list(logs), format=fmt, mapping=mapping):
        malformed.extend(f"{bad.path}:{bad.line}: {bad.reason}" for bad in batch.malformed)
        for test in rules_test(rules=loaded, frame=batch.frame):
            entry = results.setdefault(
                f"{test.file}|{test.rule_id}",
                {
                    "rule": test.rule_id,
                    "title": test.title,
                    "file": test.file,
                    "status": test.status,
                    "reasons": list(test.reasons),
                    "missing_fields": [],
                    "lines": [],
                },
            )
            if test.status == "fired":
                entry["status"] = "fired"
            entry["lines"].extend(f"{path}:{line}" for path, line in test.events)
            entry["missing_fields"] = sorted({*entry["missing_fields"], *test.missing_fields})
    problems = [
        {"file": error.fields.get("file"), "error": error.message} for error in loaded.errors
    ]
    tests = list(results.values())
    fired = [test for test in tests if test["status"] == "fired"]
    if as_json:
        print_json({"rules": tests, "errors": problems, "malformed": malformed[:20]})
    else:
        rows = [
            {
                **test,
                "lines": ", ".join(test["lines"][:10])
                + (f" … +{len(test['lines']) - 10}" if len(test["lines"]) > 10 else ""),
                "note": "; ".join(test["reasons"])
                or (f"no column for {', '.join(test['missing_fields'])}"
                    if test["missing_fields"] else ""),
            }
            for test in tests
        ]  # fmt: skip
        show_rows(rows, ["status", "title", "file", "lines", "note"], as_json=False, title="rules")
        message(
            f"{len(loaded)} rules: {len(loaded.supported)} evaluated, {len(fired)} fired, "
            f"{len(loaded.unsupported)} not supported, {len(problems)} invalid"
        )
        for problem in problems:
            message(f"  invalid: {problem['error']}")
        for line in malformed[:5]:
            message(f"  malformed {line}")
    if problems:
        sys.exit(1)
