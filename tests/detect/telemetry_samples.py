"""Small telemetry samples in each format, written for these tests (addresses from the
documentation ranges, names under example domains)."""

from __future__ import annotations

import json

ZEEK_DNS_TSV = (
    "#separator \\x09\n"
    "#set_separator\t,\n"
    "#empty_field\t(empty)\n"
    "#unset_field\t-\n"
    "#path\tdns\n"
    "#open\t2026-03-01-10-00-00\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\tquery"
    "\tqtype_name\trcode_name\tanswers\tTTLs\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tstring\tstring\tstring"
    "\tvector[string]\tvector[interval]\n"
    "1772359200.250000\tCq1\t192.0.2.10\t53124\t198.51.100.53\t53\tudp\t4711\tc2.evil.example"
    "\tA\tNOERROR\t203.0.113.7,203.0.113.8\t60.000000,60.000000\n"
    "1772359201.000000\tCq2\t192.0.2.11\t53125\t198.51.100.53\t53\tudp\t4712\tnx.example.org"
    "\tAAAA\tNXDOMAIN\t(empty)\t-\n"
    "#close\t2026-03-01-11-00-00\n"
)

ZEEK_CONN_TSV = (
    "#separator \\x09\n"
    "#set_separator\t,\n"
    "#empty_field\t(empty)\n"
    "#unset_field\t-\n"
    "#path\tconn\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration"
    "\torig_bytes\tresp_bytes\tconn_state\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\n"
    "1772359200.5\tCc1\t192.0.2.10\t49152\t203.0.113.7\t443\ttcp\tssl\t1.5\t300\t4000\tSF\n"
)

ZEEK_HTTP_JSON = "\n".join(
    json.dumps(record)
    for record in (
        {
            "ts": 1772359300.0,
            "uid": "Ch1",
            "id.orig_h": "192.0.2.20",
            "id.orig_p": 50000,
            "id.resp_h": "203.0.113.80",
            "id.resp_p": 80,
            "method": "GET",
            "host": "www.example.com",
            "uri": "/payload.bin?x=1",
            "status_code": 200,
            "user_agent": "curl/8.0",
            "resp_mime_types": ["application/octet-stream"],
        },
    )
)

ZEEK_MIXED_JSON = "\n".join(
    json.dumps(record)
    for record in (
        {"_path": "ssl", "ts": "2026-03-01T10:00:00.000000Z", "uid": "Cs1",
         "id.orig_h": "192.0.2.30", "id.orig_p": 50001, "id.resp_h": "203.0.113.9",
         "id.resp_p": 443, "server_name": "login.example.net", "version": "TLSv13"},
        {"_path": "files", "ts": "2026-03-01T10:00:01.000000Z", "fuid": "F1",
         "mime_type": "application/x-dosexec", "filename": "setup.exe",
         "md5": "0123456789abcdef0123456789abcdef", "sha256": "ab" * 32},
        {"_path": "x509", "ts": "2026-03-01T10:00:02.000000Z", "id": "FX1",
         "certificate": {"subject": "CN=login.example.net", "issuer": "CN=Example CA",
                         "serial": "0A1B"}},
    )
)  # fmt: skip

SURICATA_EVE = "\n".join(
    json.dumps(record)
    for record in (
        {"timestamp": "2026-03-01T10:00:00.123456+0000", "event_type": "dns",
         "src_ip": "192.0.2.10", "src_port": 53000, "dest_ip": "198.51.100.53",
         "dest_port": 53, "proto": "UDP",
         "dns": {"type": "query", "id": 1, "rrname": "v2.evil.example", "rrtype": "A"}},
        {"timestamp": "2026-03-01T10:00:01.000000+0000", "event_type": "dns",
         "src_ip": "192.0.2.10", "src_port": 53001, "dest_ip": "198.51.100.53",
         "dest_port": 53, "proto": "UDP",
         "dns": {"version": 3, "type": "response", "rcode": "NOERROR",
                 "queries": [{"rrname": "v3.evil.example", "rrtype": "A"}],
                 "answers": [{"rrname": "v3.evil.example", "rrtype": "A",
                              "rdata": "203.0.113.5"}]}},
        {"timestamp": "2026-03-01T10:00:02.000000+0000", "event_type": "http",
         "src_ip": "192.0.2.11", "src_port": 50100, "dest_ip": "203.0.113.80",
         "dest_port": 80, "proto": "TCP", "app_proto": "http",
         "http": {"hostname": "www.example.com", "url": "/index.html", "http_method": "GET",
                  "status": 200, "http_user_agent": "Mozilla/5.0"}},
        {"timestamp": "2026-03-01T10:00:03.000000+0000", "event_type": "tls",
         "src_ip": "192.0.2.12", "src_port": 50200, "dest_ip": "203.0.113.9",
         "dest_port": 443, "proto": "TCP",
         "tls": {"sni": "login.example.net", "subject": "CN=login.example.net",
                 "issuerdn": "CN=Example CA", "serial": "0A:1B"}},
        {"timestamp": "2026-03-01T10:00:04.000000+0000", "event_type": "alert",
         "src_ip": "192.0.2.13", "src_port": 50300, "dest_ip": "203.0.113.66",
         "dest_port": 4444, "proto": "TCP",
         "alert": {"action": "blocked", "signature_id": 2100001,
                   "signature": "ET MALWARE Example C2", "category": "Trojan"}},
        {"timestamp": "2026-03-01T10:00:05.000000+0000", "event_type": "flow",
         "src_ip": "192.0.2.14", "src_port": 50400, "dest_ip": "203.0.113.7",
         "dest_port": 443, "proto": "TCP",
         "flow": {"bytes_toserver": 100, "bytes_toclient": 900, "state": "closed"}},
        {"timestamp": "2026-03-01T10:00:06.000000+0000", "event_type": "fileinfo",
         "src_ip": "203.0.113.80", "src_port": 80, "dest_ip": "192.0.2.11",
         "dest_port": 50100, "proto": "TCP",
         "fileinfo": {"filename": "/index.html", "sha256": "cd" * 32, "size": 512}},
    )
)  # fmt: skip

_HASHES = "SHA1=" + "1" * 40 + ",MD5=" + "A" * 32 + ",SHA256=" + "B" * 64 + ",IMPHASH=" + "C" * 32

SYSMON_FLAT = "\n".join(
    json.dumps(record)
    for record in (
        {"EventID": 1, "Computer": "WS01.corp.example", "UtcTime": "2026-03-01 10:00:00.123",
         "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd.exe /c whoami",
         "ProcessId": 4242, "ParentImage": "C:\\Windows\\explorer.exe",
         "ParentProcessId": 1000, "User": "CORP\\alice", "Hashes": _HASHES,
         "CurrentDirectory": "C:\\Users\\alice\\", "IntegrityLevel": "Medium"},
        {"EventID": 22, "Computer": "WS01.corp.example", "UtcTime": "2026-03-01 10:00:01.000",
         "Image": "C:\\Program Files\\App\\app.exe", "QueryName": "c2.evil.example",
         "QueryStatus": "0",
         "QueryResults": "type:  5 cdn.example.net;::ffff:203.0.113.7;203.0.113.8;"},
    )
)  # fmt: skip

SYSMON_WINLOGBEAT = json.dumps(
    {"@timestamp": "2026-03-01T10:00:02.000Z",
     "host": {"name": "ws02"},
     "winlog": {"event_id": 3, "channel": "Microsoft-Windows-Sysmon/Operational",
                "computer_name": "WS02.corp.example",
                "event_data": {"UtcTime": "2026-03-01 10:00:02.500",
                               "Image": "C:\\Tools\\beacon.exe", "Protocol": "tcp",
                               "SourceIp": "192.0.2.50", "SourcePort": "50500",
                               "DestinationIp": "203.0.113.66", "DestinationPort": "4444",
                               "DestinationHostname": "c2.evil.example", "Initiated": "true"}}}
)  # fmt: skip

SYSMON_EVENT_XML = "\n".join(
    json.dumps(record)
    for record in (
        {"Event": {"System": {"EventID": 11, "Computer": "WS03.corp.example",
                              "TimeCreated": {"@SystemTime": "2026-03-01T10:00:03.1234567Z"}},
                   "EventData": {"Data": [
                       {"@Name": "Image", "#text": "C:\\Windows\\System32\\svchost.exe"},
                       {"@Name": "TargetFilename", "#text": "C:\\Temp\\drop.dll"},
                       {"@Name": "CreationUtcTime", "#text": "2026-03-01 10:00:03.100"}]}}},
        {"Event": {"System": {"EventID": 13, "Computer": "WS03.corp.example",
                              "TimeCreated": {"@SystemTime": "2026-03-01T10:00:04Z"}},
                   "EventData": {"EventType": "SetValue",
                                 "Image": "C:\\Tools\\persist.exe",
                                 "TargetObject": "HKLM\\Software\\Run\\x",
                                 "Details": "C:\\Tools\\persist.exe"}}},
    )
)  # fmt: skip

SQUID = (
    "1772359200.123    180 192.0.2.10 TCP_MISS/200 4120 GET http://www.example.com/a/b.js?v=1"
    " - HIER_DIRECT/203.0.113.80 application/javascript\n"
    "1772359201.000      0 192.0.2.11 TCP_DENIED/403 3900 CONNECT bad.example.org:443 alice"
    " HIER_NONE/- text/html\n"
)

CLF = (
    '192.0.2.10 - - [01/Mar/2026:10:00:00 +0100] "GET /index.html HTTP/1.1" 200 512\n'
    '192.0.2.11 - bob [01/Mar/2026:10:00:01 +0000] "POST /login HTTP/1.1" 401 -'
    ' "https://www.example.com/" "Mozilla/5.0 (X11)"\n'
)
