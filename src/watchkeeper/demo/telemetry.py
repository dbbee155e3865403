"""Demo telemetry of our own: a day of Zeek DNS and connection logs and Sysmon events from a
small organisation, with a few hits on the demo campaign's indicators, one Sigma-worthy process,
a beaconing host and a machine-made domain name, so every detector has something to find.

Everything here is generated from a fixed seed; no real traffic or third-party sample is used.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

CAMPAIGN_DOMAIN = "cdn-update-sync.net"
CAMPAIGN_ADDRESS = "91.215.85.147"
CAMPAIGN_NETWORK = "193.42.33.0/24"
CAMPAIGN_HASH = "9f2b" * 16
BEACON_TARGET = "193.42.33.18"
DGA_NAME = "xkqzvhtrwpmbfy.com"
HOSTS = ("ws-finance-01", "ws-hr-02", "ws-it-03", "srv-files-01")
ADDRESSES = {host: f"10.20.0.{11 + n}" for n, host in enumerate(HOSTS)}
BENIGN = (
    "intranet.ministry.zz", "mail.ministry.zz", "www.wikipedia.org", "update.microsoft.com",
    "www.google.com", "outlook.office365.com", "github.com", "pypi.org", "news.bbc.co.uk",
    "weather.example-service.zz", "timetable.rail.zz", "www.lemonde.fr",
)  # fmt: skip


def campaign(now: datetime) -> list[dict[str, Any]]:
    """The demo campaign's indicators (TLP:GREEN), valid from a week before ``now``."""
    stamp = (now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
    patterns = (
        ("Demo campaign: C2 domain", f"[domain-name:value = '{CAMPAIGN_DOMAIN}']", 85),
        ("Demo campaign: staging server", f"[ipv4-addr:value = '{CAMPAIGN_ADDRESS}']", 70),
        ("Demo campaign: hosting network", f"[ipv4-addr:value = '{CAMPAIGN_NETWORK}']", 60),
        ("Demo campaign: loader", f"[file:hashes.'SHA-256' = '{CAMPAIGN_HASH}']", 90),
    )
    return [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, 'watchkeeper-demo/' + pattern)}",
            "created": stamp,
            "modified": stamp,
            "name": name,
            "indicator_types": ["malicious-activity"],
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": stamp,
            "confidence": confidence,
            "object_marking_refs": [green],
        }
        for name, pattern, confidence in patterns
    ]


def _zeek(
    path: Path, name: str, fields: list[str], types: list[str], rows: list[list[str]]
) -> None:
    head = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{name}",
        "#open\t2026-01-01-00-00-00",
        "#fields\t" + "\t".join(fields),
        "#types\t" + "\t".join(types),
    ]
    body = ["\t".join(row) for row in rows]
    path.write_text("\n".join([*head, *body, "#close\t2026-01-01-23-59-59"]) + "\n")


def write_samples(directory: Path, *, now: datetime, seed: int = 2026) -> list[Path]:
    """Write dns.log, conn.log (Zeek TSV) and sysmon.jsonl for the hour before ``now``."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    start = now.astimezone(UTC).replace(microsecond=0) - timedelta(hours=1)

    def ts(offset: float) -> str:
        return f"{(start + timedelta(seconds=offset)).timestamp():.6f}"

    dns: list[tuple[float, list[str]]] = []
    for n in range(400):
        host = rng.choice(HOSTS)
        offset = rng.uniform(0, 3500)
        dns.append((offset, [ts(offset), f"C{n:05d}", ADDRESSES[host], "53211", "10.20.0.2", "53",
                             "udp", rng.choice(BENIGN), "A", "NOERROR", "-"]))  # fmt: skip
    for offset, query, host in (
        (600.0, f"www.{CAMPAIGN_DOMAIN}", "ws-finance-01"),
        (1800.0, CAMPAIGN_DOMAIN, "ws-finance-01"),
        (2400.0, f"dl.{CAMPAIGN_DOMAIN}", "ws-hr-02"),
        (3000.0, DGA_NAME, "ws-it-03"),
    ):
        dns.append((offset, [ts(offset), "Cdemo", ADDRESSES[host], "53999", "10.20.0.2", "53",
                             "udp", query, "A", "NOERROR", CAMPAIGN_ADDRESS]))  # fmt: skip
    dns.sort(key=lambda item: item[0])
    dns_path = directory / "dns.log"
    _zeek(
        dns_path,
        "dns",
        ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "query",
         "qtype_name", "rcode_name", "answers"],
        ["time", "string", "addr", "port", "addr", "port", "enum", "string", "string", "string",
         "vector[string]"],
        [row for _, row in dns],
    )  # fmt: skip

    conn: list[tuple[float, list[str]]] = []

    def connection(offset: float, uid: str, host: str, target: str, port: str, *rest: str) -> None:
        source = [ADDRESSES[host], str(rng.randint(40000, 60000))]
        conn.append((offset, [ts(offset), uid, *source, target, port, "tcp", *rest]))

    for n in range(300):
        offset = rng.uniform(0, 3500)
        target = f"151.101.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        duration, sent = f"{rng.uniform(0.1, 30):.3f}", str(rng.randint(300, 90000))
        connection(
            offset, f"K{n:05d}", rng.choice(HOSTS), target, "443", "ssl", duration, sent, "SF"
        )
    beat = 0.0
    while beat < 3500:  # ws-it-03 calls home every 60 s, give or take a second
        connection(beat, "Kbeat", "ws-it-03", BEACON_TARGET, "443", "ssl", "0.210", "412", "SF")
        beat += 60 + rng.uniform(-1, 1)
    connection(900.0, "Kstage", "ws-finance-01", CAMPAIGN_ADDRESS, "80", "http", "2.4", "812", "SF")
    conn.sort(key=lambda item: item[0])
    conn_path = directory / "conn.log"
    _zeek(
        conn_path,
        "conn",
        ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
         "duration", "orig_bytes", "conn_state"],
        ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count",
         "string"],
        [row for _, row in conn],
    )  # fmt: skip

    events = []
    programs = (
        (r"C:\Windows\System32\svchost.exe", "svchost.exe -k netsvcs"),
        (r"C:\Program Files\Mozilla Firefox\firefox.exe", "firefox.exe"),
        (r"C:\Windows\explorer.exe", "explorer.exe"),
        (r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE", "EXCEL.EXE /dde"),
    )
    for _ in range(120):
        host = rng.choice(HOSTS)
        image, command = rng.choice(programs)
        when = start + timedelta(seconds=rng.uniform(0, 3500))
        parent = r"C:\Windows\explorer.exe"
        events.append(_process(when, host, image, command, parent, "SHA256=" + "0" * 64))
    events.append(
        _process(
            start + timedelta(seconds=950),
            "ws-finance-01",
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            "powershell.exe -NoProfile -WindowStyle Hidden -EncodedCommand "
            "SQBFAFgAIAAoAE4AZQB3AA==",
            r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
            "SHA256=" + "1" * 64,
        )
    )
    events.append(
        _process(
            start + timedelta(seconds=960),
            "ws-finance-01",
            r"C:\Users\Public\updater.exe",
            r"C:\Users\Public\updater.exe /silent",
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            f"SHA256={CAMPAIGN_HASH.upper()}",
        )
    )
    events.sort(key=lambda event: str(event["UtcTime"]))
    sysmon_path = directory / "sysmon.jsonl"
    sysmon_path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))
    return [dns_path, conn_path, sysmon_path]


def _process(
    when: datetime, host: str, image: str, command: str, parent: str, hashes: str
) -> dict[str, Any]:
    return {
        "EventID": 1,
        "Computer": f"{host}.ministry.zz",
        "UtcTime": when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        "Image": image,
        "CommandLine": command,
        "ParentImage": parent,
        "User": "MINISTRY\\" + host.split("-")[1],
        "Hashes": hashes,
        "IntegrityLevel": "Medium",
    }
