"""MISP warninglists: reading and checking files, matching each list type, the shipped set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.errors import InvalidInput
from watchkeeper.intel import (
    WARNINGLIST_KINDS as KINDS,
)
from watchkeeper.intel import (
    Warninglist,
    WarninglistMatcher,
    default_warninglists,
    load_warninglist,
    load_warninglists,
    parse_warninglist,
    read_warninglist,
)


def make(
    name: str, type: str, entries: list[str], attributes: list[str] | None = None
) -> Warninglist:
    """A checked list built the way a file would be read."""
    document: dict[str, Any] = {
        "name": name,
        "version": 1,
        "description": f"{name} for tests",
        "type": type,
        "list": entries,
    }
    if attributes is not None:
        document["matching_attributes"] = attributes
    return parse_warninglist(document, source=f"{name}.json")


def write(folder: Path, relative: str, document: Any) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    text = document if isinstance(document, str) else json.dumps(document, indent=2)
    path.write_text(text)
    return path


def valid(name: str = "sample", **changes: Any) -> dict[str, Any]:
    document = {
        "name": name,
        "version": 3,
        "description": "a sample",
        "type": "string",
        "list": ["a", "b"],
        "matching_attributes": ["domain"],
    }
    document.update(changes)
    return document


# --- string -----------------------------------------------------------------------------------


def test_string_is_an_exact_case_insensitive_match() -> None:
    matcher = WarninglistMatcher([make("names", "string", ["Evil.Example", "abc"])])
    assert matcher.match(kind="domain", value="evil.example") == ("names",)
    assert matcher.match(kind="md5", value="abc") == ("names",)
    assert matcher.match(kind="domain", value="www.evil.example") == ()
    assert matcher.match(kind="domain", value="evil.exampl") == ()


# --- substring --------------------------------------------------------------------------------


def test_substring_is_contained() -> None:
    matcher = WarninglistMatcher([make("parts", "substring", ["Cdn", "/static/"])])
    assert matcher.match(kind="domain", value="img.cdn.net") == ("parts",)
    assert matcher.match(kind="url", value="http://a.org/static/x.js") == ("parts",)
    assert matcher.match(kind="url", value="http://a.org/dynamic/x.js") == ()


def test_many_substrings_behind_the_prefilter_find_every_list() -> None:
    words = [f"word{number}" for number in range(30)]
    matcher = WarninglistMatcher(
        [
            make("many", "substring", words),
            make("overlap", "substring", ["ord2", "zzz"]),
            make("longer", "substring", ["word29x"]),
        ]
    )
    assert matcher.match(kind="domain", value="aword29xb.com") == ("many", "overlap", "longer")
    assert matcher.match(kind="domain", value="word7.net") == ("many",)
    assert matcher.match(kind="domain", value="ord2.net") == ("overlap",)
    assert matcher.match(kind="domain", value="wor.net") == ()


# --- hostname ---------------------------------------------------------------------------------


def test_hostname_matches_the_domain_and_its_subdomains_only() -> None:
    matcher = WarninglistMatcher([make("hosts", "hostname", ["Example.COM.", ".corp"])])
    assert matcher.match(kind="domain", value="example.com") == ("hosts",)
    assert matcher.match(kind="domain", value="a.b.example.com") == ("hosts",)
    assert matcher.match(kind="domain", value="mail.corp") == ("hosts",)
    assert matcher.match(kind="domain", value="notexample.com") == ()
    assert matcher.match(kind="domain", value="example.com.evil.net") == ()
    assert matcher.match(kind="domain", value="com") == ()


def test_hostname_checks_url_hosts_and_email_domains() -> None:
    matcher = WarninglistMatcher([make("hosts", "hostname", ["example.org"])])
    assert matcher.match(kind="url", value="https://user@www.example.org:8443/p?q=1") == ("hosts",)
    assert matcher.match(kind="url", value="http://evil.net/example.org") == ()
    assert matcher.match(kind="email", value="alice@mail.example.org") == ("hosts",)
    assert matcher.match(kind="email", value="example.org@evil.net") == ()


def test_hostname_list_for_domains_also_covers_urls_and_emails() -> None:
    matcher = WarninglistMatcher(
        [
            make("domains", "hostname", ["example.org"], ["hostname", "domain"]),
            make("urls only", "hostname", ["example.org"], ["url"]),
        ]
    )
    assert matcher.match(kind="domain", value="example.org") == ("domains",)
    assert matcher.match(kind="url", value="http://example.org/") == ("domains", "urls only")
    assert matcher.match(kind="email", value="a@example.org") == ("domains",)


# --- cidr -------------------------------------------------------------------------------------


def test_cidr_matches_addresses_inside_including_the_edges() -> None:
    matcher = WarninglistMatcher([make("nets", "cidr", ["10.0.0.0/8", "2001:db8::/32", "1.2.3.4"])])
    for inside in ("10.0.0.0", "10.255.255.255", "10.1.2.3", "1.2.3.4"):
        assert matcher.match(kind="ipv4", value=inside) == ("nets",), inside
    for outside in ("9.255.255.255", "11.0.0.0", "1.2.3.5"):
        assert matcher.match(kind="ipv4", value=outside) == (), outside
    assert matcher.match(kind="ipv6", value="2001:db8::1") == ("nets",)
    assert matcher.match(kind="ipv6", value="2001:db8:ffff:ffff:ffff:ffff:ffff:ffff") == ("nets",)
    assert matcher.match(kind="ipv6", value="2001:db9::") == ()


def test_cidr_value_hits_only_when_wholly_inside() -> None:
    matcher = WarninglistMatcher([make("nets", "cidr", ["10.0.0.0/8", "fc00::/7"])])
    assert matcher.match(kind="cidr4", value="10.20.0.0/16") == ("nets",)
    assert matcher.match(kind="cidr4", value="10.0.0.0/8") == ("nets",)
    assert matcher.match(kind="cidr4", value="10.0.0.0/7") == ()
    assert matcher.match(kind="cidr4", value="8.0.0.0/6") == ()
    assert matcher.match(kind="cidr4", value="10.1.1.1/32") == ("nets",)
    assert matcher.match(kind="cidr6", value="fd00:1::/32") == ("nets",)
    assert matcher.match(kind="cidr6", value="fc00::/6") == ()


def test_cidr_ranges_are_merged_per_list() -> None:
    matcher = WarninglistMatcher(
        [make("halves", "cidr", ["192.168.0.0/17", "192.168.128.0/17", "192.168.10.0/24"])]
    )
    assert matcher.match(kind="cidr4", value="192.168.0.0/16") == ("halves",)
    assert matcher.match(kind="cidr4", value="192.168.0.0/15") == ()


def test_cidr_overlapping_lists_are_all_reported_in_list_order() -> None:
    matcher = WarninglistMatcher(
        [
            make("wide", "cidr", ["10.0.0.0/8"]),
            make("narrow", "cidr", ["10.1.0.0/16"]),
            make("other", "cidr", ["11.0.0.0/8"]),
        ]
    )
    assert matcher.match(kind="ipv4", value="10.1.2.3") == ("wide", "narrow")
    assert matcher.match(kind="ipv4", value="10.2.0.0") == ("wide",)
    assert matcher.match(kind="cidr4", value="10.1.0.0/24") == ("wide", "narrow")
    assert matcher.match(kind="cidr4", value="10.0.0.0/7") == ()


def test_cidr_checks_urls_whose_host_is_an_address() -> None:
    matcher = WarninglistMatcher([make("nets", "cidr", ["10.0.0.0/8", "::1"], ["ip-dst"])])
    assert matcher.match(kind="url", value="http://10.9.8.7:8080/admin") == ("nets",)
    assert matcher.match(kind="url", value="http://[::1]/") == ("nets",)
    assert matcher.match(kind="url", value="http://11.0.0.1/") == ()
    assert matcher.match(kind="url", value="http://10.example/") == ()


def test_ipv4_mapped_ipv6_addresses_meet_the_ipv4_ranges() -> None:
    matcher = WarninglistMatcher(
        [make("v4", "cidr", ["10.0.0.0/8"]), make("v6", "cidr", ["::ffff:0:0/96"])]
    )
    assert matcher.match(kind="ipv6", value="::ffff:10.1.2.3") == ("v4", "v6")
    assert matcher.match(kind="ipv6", value="::ffff:11.1.2.3") == ("v6",)
    assert matcher.match(kind="ipv6", value="::10.1.2.3") == ()


def test_url_hosts_are_read_past_userinfo_ports_and_brackets() -> None:
    matcher = WarninglistMatcher(
        [make("hosts", "hostname", ["example.org"]), make("nets", "cidr", ["2001:db8::/32"])]
    )
    assert matcher.match(kind="url", value="http://a@b@example.org/") == ("hosts",)
    assert matcher.match(kind="url", value="http://example.org@evil.net/") == ()
    assert matcher.match(kind="url", value="ftp://example.org.:2121") == ("hosts",)
    assert matcher.match(kind="url", value="http://[2001:db8::7]:8080/x") == ("nets",)
    assert matcher.match(kind="url", value="http://evil.net/?next=http://example.org/") == ()
    assert matcher.match(kind="url", value="mailto:someone@example.org") == ()


def test_urls_and_emails_keeping_case_are_compared_without_it() -> None:
    matcher = WarninglistMatcher(
        [
            make("senders", "string", ["noreply@example.net"]),
            make("paths", "substring", ["/wp-admin/"]),
            make("pages", "string", ["http://a.net/Index.html"]),
        ]
    )
    assert matcher.match(kind="email", value="NoReply@example.net") == ("senders",)
    assert matcher.match(kind="url", value="http://a.net/WP-Admin/x") == ("paths",)
    assert matcher.match(kind="url", value="http://a.net/INDEX.html") == ("pages",)


def test_asn_and_mac_are_known_kinds_reached_only_by_lists_for_all() -> None:
    matcher = WarninglistMatcher(
        [make("any", "string", ["64500"]), make("addresses", "string", ["64500"], ["ip-src"])]
    )
    assert matcher.match(kind="asn", value="64500") == ("any",)
    assert matcher.match(kind="mac", value="00:1a:2b:3c:4d:5e") == ()


# --- regex ------------------------------------------------------------------------------------


def test_regex_searches_and_ignores_case() -> None:
    matcher = WarninglistMatcher([make("patterns", "regex", [r"^update\.[a-z]+\.com$", "Tracker"])])
    assert matcher.match(kind="domain", value="update.vendor.com") == ("patterns",)
    assert matcher.match(kind="url", value="http://a.net/tracker.js") == ("patterns",)
    assert matcher.match(kind="domain", value="x.update.vendor.com") == ()


def test_regex_in_misp_delimited_form_is_unwrapped() -> None:
    matcher = WarninglistMatcher([make("misp", "regex", [r"/^[0-9]+\.in-addr\.arpa$/i"])])
    assert matcher.match(kind="domain", value="4.in-addr.arpa") == ("misp",)
    assert matcher.match(kind="domain", value="x.in-addr.arpa") == ()


# --- matching_attributes ----------------------------------------------------------------------


def test_matching_attributes_limit_the_kinds() -> None:
    everything = make("everything", "string", ["d41d8cd98f00b204e9800998ecf8427e"])
    hashes = make("hashes", "string", ["d41d8cd98f00b204e9800998ecf8427e"], ["filename|md5"])
    addresses = make("addresses", "string", ["d41d8cd98f00b204e9800998ecf8427e"], ["ip-src"])
    unknown = make("unknown", "string", ["d41d8cd98f00b204e9800998ecf8427e"], ["AS", "text"])
    matcher = WarninglistMatcher([everything, hashes, addresses, unknown])
    assert everything.kinds == KINDS
    assert hashes.kinds == {"md5"}
    assert addresses.kinds == {"ipv4", "ipv6", "cidr4", "cidr6"}
    assert unknown.kinds == frozenset()
    value = "d41d8cd98f00b204e9800998ecf8427e"
    assert matcher.match(kind="md5", value=value) == ("everything", "hashes")
    assert matcher.match(kind="sha1", value=value) == ("everything",)


def test_an_address_list_does_not_apply_to_domains() -> None:
    matcher = WarninglistMatcher([make("resolvers", "string", ["dns.example"], ["ip-src", "url"])])
    assert matcher.match(kind="domain", value="dns.example") == ()
    assert matcher.match(kind="url", value="dns.example") == ("resolvers",)


def test_domain_ip_attribute_covers_domains_and_addresses() -> None:
    assert make("both", "string", ["x"], ["domain|ip"]).kinds == {
        "domain",
        "ipv4",
        "ipv6",
        "cidr4",
        "cidr6",
    }


# --- the matcher as a whole -------------------------------------------------------------------


def test_match_many_keeps_order_and_combines_types() -> None:
    matcher = WarninglistMatcher(
        [
            make("strings", "string", ["www.example.com"]),
            make("hosts", "hostname", ["example.com"]),
            make("parts", "substring", ["www"]),
            make("nets", "cidr", ["192.0.2.0/24"]),
        ]
    )
    observables = [
        ("domain", "www.example.com"),
        ("ipv4", "192.0.2.1"),
        ("domain", "evil.net"),
        ("url", "http://192.0.2.1/www"),
    ]
    assert matcher.match_many(observables) == [
        ("strings", "hosts", "parts"),
        ("nets",),
        (),
        ("parts", "nets"),
    ]
    assert matcher.match_many([]) == []
    assert [w.name for w in matcher.lists] == ["strings", "hosts", "parts", "nets"]


def test_unknown_kind_and_malformed_addresses_are_refused() -> None:
    matcher = WarninglistMatcher([])
    with pytest.raises(InvalidInput, match="unknown observable kind 'ip'"):
        matcher.match(kind="ip", value="1.2.3.4")
    with pytest.raises(InvalidInput, match="unknown observable kind"):
        matcher.match_many([("domain", "a.b"), ("hash", "x")])
    for kind, value in [("ipv4", "1.2.3"), ("ipv6", "1.2.3.4"), ("cidr4", "10.0.0.0/33")]:
        with pytest.raises(InvalidInput, match="not a valid"):
            matcher.match(kind=kind, value=value)
    assert matcher.match(kind="domain", value="anything.example") == ()


def test_two_lists_with_one_name_are_refused() -> None:
    with pytest.raises(InvalidInput, match="two warninglists are named 'twin'"):
        WarninglistMatcher([make("twin", "string", ["a"]), make("twin", "hostname", ["b"])])


def test_kinds_applying_the_same_lists_share_their_tables() -> None:
    matcher = WarninglistMatcher([make("all", "string", ["a"]), make("nets", "cidr", ["::/0"])])
    indexes = matcher._indexes
    assert indexes["md5"].exact is indexes["domain"].exact
    assert indexes["ipv6"].ranges6 is indexes["cidr6"].ranges6
    assert indexes["ipv4"].ranges4 is None


# --- the shipped set --------------------------------------------------------------------------

DEFAULT_HITS = [
    ("ipv4", "10.0.0.1", "RFC 1918"),
    ("ipv4", "172.31.255.255", "RFC 1918"),
    ("ipv4", "192.168.1.1", "RFC 1918"),
    ("ipv4", "100.64.0.1", "RFC 6598"),
    ("ipv4", "100.127.255.255", "RFC 6598"),
    ("ipv4", "127.0.0.1", "loopback"),
    ("ipv6", "::1", "loopback"),
    ("ipv4", "169.254.169.254", "link-local"),
    ("ipv6", "fe80::1", "link-local"),
    ("ipv4", "192.0.2.10", "documentation"),
    ("ipv4", "198.51.100.7", "documentation"),
    ("ipv4", "203.0.113.200", "documentation"),
    ("ipv6", "2001:db8::dead:beef", "documentation"),
    ("ipv4", "224.0.0.251", "multicast"),
    ("ipv4", "239.255.255.250", "multicast"),
    ("ipv6", "ff02::1", "multicast"),
    ("ipv4", "0.0.0.0", "this-network"),  # noqa: S104  (a value to match, not a bind address)
    ("ipv6", "::", "this-network"),
    ("ipv6", "fd12:3456::1", "unique local"),
    ("cidr4", "10.10.0.0/16", "RFC 1918"),
    ("cidr6", "2001:db8:1::/48", "documentation"),
    ("domain", "example", "reserved"),
    ("domain", "example.com", "reserved"),
    ("domain", "www.example.net", "reserved"),
    ("domain", "a.b.example.org", "reserved"),
    ("domain", "foo.test", "reserved"),
    ("domain", "nothing.invalid", "reserved"),
    ("domain", "localhost", "reserved"),
    ("domain", "printer.local", "reserved"),
    ("url", "http://example.com/path", "reserved"),
    ("url", "http://192.168.0.1/login", "RFC 1918"),
    ("email", "someone@example.org", "reserved"),
    ("md5", "d41d8cd98f00b204e9800998ecf8427e", "empty file"),
    ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "empty file"),
    ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty file"),
    (
        "sha512",
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        "empty file",
    ),
]
DEFAULT_MISSES = [
    ("ipv4", "8.8.8.8"),
    ("ipv4", "172.32.0.0"),
    ("ipv4", "100.128.0.0"),
    ("ipv4", "192.0.3.1"),
    ("ipv4", "240.0.0.1"),
    ("ipv6", "2001:4860:4860::8888"),
    ("cidr4", "10.0.0.0/7"),
    ("domain", "example.co.uk"),
    ("domain", "examples.com"),
    ("domain", "testing.com"),
    ("url", "https://evil.net/example.com"),
    ("email", "example.com@evil.net"),
    ("md5", "0cc175b9c0f1b6a831c399e269772661"),
]


@pytest.fixture(scope="module")
def defaults() -> WarninglistMatcher:
    return WarninglistMatcher(default_warninglists())


@pytest.mark.parametrize(("kind", "value", "part"), DEFAULT_HITS)
def test_default_lists_flag_reserved_values(
    defaults: WarninglistMatcher, kind: str, value: str, part: str
) -> None:
    [name] = defaults.match(kind=kind, value=value)
    assert part.lower() in name.lower()


@pytest.mark.parametrize(("kind", "value"), DEFAULT_MISSES)
def test_default_lists_leave_real_values_alone(
    defaults: WarninglistMatcher, kind: str, value: str
) -> None:
    assert defaults.match(kind=kind, value=value) == ()


def test_default_files_follow_the_misp_format() -> None:
    folder = Path(__file__).parents[2] / "src" / "watchkeeper" / "data" / "warninglists"
    files = sorted(folder.glob("*.json"))
    assert len(files) == len(default_warninglists()) == 10
    required = {"name", "version", "description", "type", "list"}
    for file in files:
        document = json.loads(file.read_text())
        assert required <= set(document), file.name
        assert set(document) <= required | {"matching_attributes"}, file.name
        assert document["type"] in {"string", "substring", "hostname", "cidr", "regex"}
        assert isinstance(document["version"], int)
        assert len(set(document["list"])) == len(document["list"]), file.name
    assert len({w.name for w in default_warninglists()}) == 10
    sources = [w.source for w in default_warninglists()]
    assert all(source.startswith("watchkeeper/data/warninglists/") for source in sources)


# --- reading files ----------------------------------------------------------------------------


def test_load_a_directory_in_the_misp_layout(tmp_path: Path) -> None:
    write(tmp_path, "lists/b-list/list.json", valid("second"))
    write(tmp_path, "lists/a-list/list.json", valid("first", type="cidr", list=["10.0.0.0/8"]))
    write(tmp_path, "lists/a-list/.hidden.json", "not json")
    write(tmp_path, "README.md", "# not a list")
    lists = load_warninglists(tmp_path)
    assert [w.name for w in lists] == ["first", "second"]
    assert lists[0].type == "cidr"
    assert lists[0].source == str(tmp_path / "lists/a-list/list.json")
    assert lists[1] == Warninglist(
        name="second",
        type="string",
        entries=("a", "b"),
        version=3,
        description="a sample",
        matching_attributes=("domain",),
        source=str(tmp_path / "lists/b-list/list.json"),
    )


def test_load_a_single_file(tmp_path: Path) -> None:
    path = write(tmp_path, "one.json", valid("one", category="false_positive"))
    assert [w.name for w in load_warninglists(path)] == ["one"]
    assert load_warninglist(str(path)).category == "false_positive"


def test_older_misp_forms_are_accepted() -> None:
    document = valid(type=["hostname"], list={"example.com": "a comment", " b.org ": "", "": ""})
    del document["matching_attributes"]
    warninglist = parse_warninglist(document, source="old.json")
    assert warninglist.type == "hostname"
    assert warninglist.entries == ("example.com", "b.org")
    assert warninglist.matching_attributes == ()


def test_malformed_json_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", '{\n  "name": "x",\n  "list": [1,,]\n}')
    with pytest.raises(InvalidInput) as caught:
        load_warninglists(tmp_path)
    assert str(path) in str(caught.value)
    assert "line 3" in str(caught.value)
    assert caught.value.fields["file"] == str(path)
    assert caught.value.fields["line"] == 3
    assert caught.value.fields["column"] == 14


@pytest.mark.parametrize("field", ["name", "version", "description", "type", "list"])
def test_missing_fields_are_named(field: str) -> None:
    document = valid()
    del document[field]
    with pytest.raises(InvalidInput, match=f"missing required field '{field}'") as caught:
        read_warninglist(json.dumps(document).encode(), source="lists/x/list.json")
    assert caught.value.fields == {"file": "lists/x/list.json", "field": field}
    assert str(caught.value).startswith("lists/x/list.json: ")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "  "}, "'name' must be a non-empty string"),
        ({"name": 5}, "'name' must be a non-empty string"),
        ({"description": None}, "'description' must be a string"),
        ({"version": "2"}, "'version' must be an integer"),
        ({"version": True}, "'version' must be an integer"),
        ({"type": "prefix"}, "'type' is 'prefix'; expected one of string, substring"),
        ({"type": []}, "'type' is \\[\\]"),
        ({"list": "a,b"}, "'list' must be an array of strings"),
        ({"list": ["a", 7]}, "list\\[1\\] is not a string"),
        ({"matching_attributes": "domain"}, "'matching_attributes' must be an array"),
        ({"matching_attributes": [1]}, "'matching_attributes' must be an array"),
        ({"category": 1}, "'category' must be a string"),
        ({"type": "cidr", "list": ["10.0.0.0/8", "10.0.0.300/8"]}, "list\\[1\\] '10.0.0.300/8'"),
        ({"type": "cidr", "list": ["example.com"]}, "not an IP address or CIDR network"),
        ({"type": "regex", "list": ["ok", "(unclosed"]}, r"list\[1\] '\(unclosed' is not a"),
        ({"type": "regex", "list": ["/x/D"]}, "unsupported flag 'D'"),
    ],
)
def test_bad_fields_and_entries_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_warninglist(valid(**changes), source="bad.json")
    assert caught.value.fields["file"] == "bad.json"


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"bad\.json: expected a JSON object"):
        read_warninglist(b"[1, 2]", source="bad.json")


def test_missing_paths_and_empty_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file or directory"):
        load_warninglists(tmp_path / "absent")
    with pytest.raises(InvalidInput, match=r"holds no \.json warninglist files"):
        load_warninglists(tmp_path)
    with pytest.raises(InvalidInput, match="cannot read"):
        load_warninglist(tmp_path / "absent.json")


def test_the_first_bad_file_of_a_directory_stops_the_load(tmp_path: Path) -> None:
    write(tmp_path, "a.json", valid("a"))
    bad = write(tmp_path, "b.json", valid("b", type="cidr", list=["nope"]))
    with pytest.raises(InvalidInput) as caught:
        load_warninglists(tmp_path)
    assert caught.value.fields["file"] == str(bad)
    assert caught.value.fields["index"] == 0
