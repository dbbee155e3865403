"""Observable normalisation: every kind's canonical form, its refusals, guessing and STIX paths."""

from __future__ import annotations

import ipaddress
import random

import pytest

from watchkeeper.core import (
    KINDS,
    Observable,
    guess,
    hash_kind,
    normalise,
    parent_domains,
    refang,
)
from watchkeeper.errors import InvalidInput

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA512 = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" + (
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)

# (kind asked for, value given, observable expected)
VALID: list[tuple[str, str, Observable]] = [
    # IPv4
    ("ipv4", "198.51.100.7", Observable("ipv4", "198.51.100.7")),
    ("ipv4", "  203.0.113.1\n", Observable("ipv4", "203.0.113.1")),
    ("ipv4", "0.0.0.0", Observable("ipv4", "0.0.0.0")),  # noqa: S104 (a value, not a bind)
    ("ipv4", "255.255.255.255", Observable("ipv4", "255.255.255.255")),
    ("ipv4", "10.0.0.1/32", Observable("ipv4", "10.0.0.1")),
    ("ipv4", "100.64.0.10", Observable("ipv4", "100.64.0.10")),
    # IPv6
    ("ipv6", "2001:DB8::1", Observable("ipv6", "2001:db8::1")),
    ("ipv6", "2001:0db8:0000:0000:0000:0000:0000:0001", Observable("ipv6", "2001:db8::1")),
    ("ipv6", "2001:db8:0:0:1:0:0:1", Observable("ipv6", "2001:db8::1:0:0:1")),
    ("ipv6", "2001:db8:0:1:1:1:1:1", Observable("ipv6", "2001:db8:0:1:1:1:1:1")),
    ("ipv6", "0:0:0:0:0:0:0:0", Observable("ipv6", "::")),
    ("ipv6", "::1", Observable("ipv6", "::1")),
    ("ipv6", "fe80::", Observable("ipv6", "fe80::")),
    ("ipv6", "::ffff:192.0.2.1", Observable("ipv6", "::ffff:192.0.2.1")),
    ("ipv6", "::FFFF:C000:0201", Observable("ipv6", "::ffff:192.0.2.1")),
    ("ipv6", "::192.0.2.1", Observable("ipv6", "::c000:201")),
    ("ipv6", "2001:db8::1/128", Observable("ipv6", "2001:db8::1")),
    # CIDR
    ("cidr4", "10.0.0.0/8", Observable("cidr4", "10.0.0.0/8")),
    ("cidr4", "10.1.2.3/8", Observable("cidr4", "10.0.0.0/8")),
    ("cidr4", "192.0.2.77/27", Observable("cidr4", "192.0.2.64/27")),
    ("cidr4", "0.0.0.0/0", Observable("cidr4", "0.0.0.0/0")),
    ("cidr4", "198.51.100.7/31", Observable("cidr4", "198.51.100.6/31")),
    ("cidr4", "10.9.8.7/255.255.0.0", Observable("cidr4", "10.9.0.0/16")),
    ("cidr4", "10.9.8.7/08", Observable("cidr4", "10.0.0.0/8")),
    ("cidr4", "198.51.100.7/32", Observable("ipv4", "198.51.100.7")),
    ("cidr4", "198.51.100.7", Observable("ipv4", "198.51.100.7")),
    ("cidr6", "2001:DB8::/32", Observable("cidr6", "2001:db8::/32")),
    ("cidr6", "2001:db8:1234:5678::1/48", Observable("cidr6", "2001:db8:1234::/48")),
    ("cidr6", "2001:ffff::1/17", Observable("cidr6", "2001:8000::/17")),
    ("cidr6", "2001:db8:ffff::1/17", Observable("cidr6", "2001::/17")),
    ("cidr6", "::/0", Observable("cidr6", "::/0")),
    ("cidr6", "2001:db8::1/128", Observable("ipv6", "2001:db8::1")),
    ("cidr6", "::ffff:192.0.2.1/120", Observable("cidr6", "::ffff:192.0.2.0/120")),
    # domains
    ("domain", "example.com", Observable("domain", "example.com")),
    ("domain", "WWW.Example.COM", Observable("domain", "www.example.com")),
    ("domain", "example.com.", Observable("domain", "example.com")),
    ("domain", " evil.example \t", Observable("domain", "evil.example")),
    ("domain", "Bücher.example", Observable("domain", "xn--bcher-kva.example")),
    ("domain", "BÜCHER.EXAMPLE.", Observable("domain", "xn--bcher-kva.example")),
    ("domain", "xn--bcher-kva.example", Observable("domain", "xn--bcher-kva.example")),
    ("domain", "XN--BCHER-KVA.example", Observable("domain", "xn--bcher-kva.example")),
    ("domain", "пример.рф", Observable("domain", "xn--e1afmkfd.xn--p1ai")),
    ("domain", "bücher。example", Observable("domain", "xn--bcher-kva.example")),
    ("domain", "_dmarc.example.com", Observable("domain", "_dmarc.example.com")),
    ("domain", "_dmarc.Bücher.example", Observable("domain", "_dmarc.xn--bcher-kva.example")),
    ("domain", "r3---sn-abc.googlevideo.com", Observable("domain", "r3---sn-abc.googlevideo.com")),
    ("domain", "123.example", Observable("domain", "123.example")),
    ("domain", "localhost", Observable("domain", "localhost")),
    ("domain", "xn--i-7iq.ws", Observable("domain", "xn--i-7iq.ws")),
    ("domain", "a" * 63 + ".example", Observable("domain", "a" * 63 + ".example")),
    ("domain", ("a" * 49 + ".") * 5 + "com", Observable("domain", ("a" * 49 + ".") * 5 + "com")),
    # URLs
    ("url", "http://example.com", Observable("url", "http://example.com/")),
    ("url", "HTTP://EXAMPLE.COM/Path", Observable("url", "http://example.com/Path")),
    ("url", "http://example.com:80/", Observable("url", "http://example.com/")),
    ("url", "https://example.com:443/a", Observable("url", "https://example.com/a")),
    ("url", "ftp://example.com:21/f.bin", Observable("url", "ftp://example.com/f.bin")),
    ("url", "http://example.com:443/", Observable("url", "http://example.com:443/")),
    ("url", "https://example.com:8443/", Observable("url", "https://example.com:8443/")),
    ("url", "http://example.com:0080/", Observable("url", "http://example.com/")),
    ("url", "http://example.com:/x", Observable("url", "http://example.com/x")),
    ("url", "http://example.com?q=1", Observable("url", "http://example.com/?q=1")),
    ("url", "http://example.com/a#frag", Observable("url", "http://example.com/a")),
    ("url", "http://example.com/a?b=1#frag?x", Observable("url", "http://example.com/a?b=1")),
    ("url", "http://example.com/%7euser/%41", Observable("url", "http://example.com/~user/A")),
    ("url", "http://example.com/a%2fb%3f", Observable("url", "http://example.com/a%2Fb%3F")),
    ("url", "http://example.com/?q=%7e%2b%2B", Observable("url", "http://example.com/?q=~%2B%2B")),
    ("url", "http://example.com/?b=2&a=1&&", Observable("url", "http://example.com/?b=2&a=1&&")),
    ("url", "http://example.com/?", Observable("url", "http://example.com/?")),
    ("url", "http://example.com/a b", Observable("url", "http://example.com/a%20b")),
    ("url", "http://example.com/ü", Observable("url", "http://example.com/%C3%BC")),
    ("url", "http://example.com/100%", Observable("url", "http://example.com/100%25")),
    ("url", "http://example.com/%zz", Observable("url", "http://example.com/%25zz")),
    ("url", "http://example.com/a{b}|c", Observable("url", "http://example.com/a%7Bb%7D%7Cc")),
    ("url", "http://example.com/a[]=1", Observable("url", "http://example.com/a[]=1")),
    ("url", "http://example.com/a/../b", Observable("url", "http://example.com/a/../b")),
    ("url", "http://Bücher.example/", Observable("url", "http://xn--bcher-kva.example/")),
    ("url", "http://example.com./", Observable("url", "http://example.com/")),
    ("url", "http://198.51.100.7:8080/x", Observable("url", "http://198.51.100.7:8080/x")),
    ("url", "http://[2001:DB8::1]/", Observable("url", "http://[2001:db8::1]/")),
    ("url", "https://[2001:db8:0::1]:443/x", Observable("url", "https://[2001:db8::1]/x")),
    ("url", "http://[::1]:8080", Observable("url", "http://[::1]:8080/")),
    ("url", "http://User:PaSS@Example.com/", Observable("url", "http://User:PaSS@example.com/")),
    (
        "url",
        "http://paypal.com@evil.example/",
        Observable("url", "http://paypal.com@evil.example/"),
    ),
    ("url", "http://us%65r@example.com/", Observable("url", "http://user@example.com/")),
    ("url", "http://@example.com/", Observable("url", "http://example.com/")),
    ("url", "ssh://git@example.com:22/repo", Observable("url", "ssh://git@example.com:22/repo")),
    ("url", "wss://example.com:443/ws", Observable("url", "wss://example.com/ws")),
    ("url", "tcp://198.51.100.7:4444", Observable("url", "tcp://198.51.100.7:4444/")),
    ("url", "http://_c2.example/gate.php", Observable("url", "http://_c2.example/gate.php")),
    # e-mail
    ("email", "alice@example.com", Observable("email", "alice@example.com")),
    ("email", "Alice@Example.COM", Observable("email", "Alice@example.com")),
    ("email", "first.last+tag@example.com.", Observable("email", "first.last+tag@example.com")),
    ("email", "Ünsal@Bücher.example", Observable("email", "Ünsal@xn--bcher-kva.example")),
    ("email", "x@xn--bcher-kva.example", Observable("email", "x@xn--bcher-kva.example")),
    ("email", "o'brien@example.ie", Observable("email", "o'brien@example.ie")),
    # hashes
    ("md5", MD5.upper(), Observable("md5", MD5)),
    ("md5", f" {MD5} ", Observable("md5", MD5)),
    ("sha1", SHA1.upper(), Observable("sha1", SHA1)),
    ("sha256", SHA256, Observable("sha256", SHA256)),
    ("sha256", SHA256.upper(), Observable("sha256", SHA256)),
    ("sha512", SHA512.upper(), Observable("sha512", SHA512)),
    # AS numbers
    ("asn", "AS64500", Observable("asn", "64500")),
    ("asn", "as64500", Observable("asn", "64500")),
    ("asn", "AS 64500", Observable("asn", "64500")),
    ("asn", "64500", Observable("asn", "64500")),
    ("asn", "064500", Observable("asn", "64500")),
    ("asn", "0", Observable("asn", "0")),
    ("asn", "AS4294967295", Observable("asn", "4294967295")),
    ("asn", "AS1.10", Observable("asn", "65546")),
    ("asn", "0.64500", Observable("asn", "64500")),
    # MAC addresses
    ("mac", "00:1a:2b:3c:4d:5e", Observable("mac", "00:1a:2b:3c:4d:5e")),
    ("mac", "00:1A:2B:3C:4D:5E", Observable("mac", "00:1a:2b:3c:4d:5e")),
    ("mac", "00-1A-2B-3C-4D-5E", Observable("mac", "00:1a:2b:3c:4d:5e")),
    ("mac", "001A.2B3C.4D5E", Observable("mac", "00:1a:2b:3c:4d:5e")),
    ("mac", "001a2b3c4d5e", Observable("mac", "00:1a:2b:3c:4d:5e")),
    ("mac", "00:1a:2b:ff:fe:3c:4d:5e", Observable("mac", "00:1a:2b:ff:fe:3c:4d:5e")),
    ("mac", "001a2bfffe3c4d5e", Observable("mac", "00:1a:2b:ff:fe:3c:4d:5e")),
]

# (kind, value, part of the reason)
INVALID: list[tuple[str, str, str]] = [
    ("ipv4", "01.2.3.4", "leading zeros"),
    ("ipv4", "10.0.0.010", "leading zeros"),
    ("ipv4", "256.1.1.1", "not a dotted-quad"),
    ("ipv4", "1.2.3", "not a dotted-quad"),
    ("ipv4", "1.2.3.4.5", "not a dotted-quad"),
    ("ipv4", "example.com", "not a dotted-quad"),
    ("ipv4", "1.2.3.4 5", "not a dotted-quad"),
    ("ipv4", "10.0.0.0/8", "the kind is cidr4"),
    ("ipv4", "2001:db8::1", "not a dotted-quad"),
    ("ipv4", "", "empty"),
    ("ipv4", "   ", "empty"),
    ("ipv6", "2001:db8::1::1", "not an IPv6 address"),
    ("ipv6", "2001:db8:1", "not an IPv6 address"),
    ("ipv6", "1:2:3:4:5:6:7:8:9", "not an IPv6 address"),
    ("ipv6", "12345::1", "not an IPv6 address"),
    ("ipv6", "g::1", "not an IPv6 address"),
    ("ipv6", "fe80::1%eth0", "zone"),
    ("ipv6", "[2001:db8::1]", "not an IPv6 address"),
    ("ipv6", "198.51.100.7", "not an IPv6 address"),
    ("ipv6", "2001:db8::/32", "the kind is cidr6"),
    ("cidr4", "10.0.0.0/33", "prefix longer than 32"),
    ("cidr4", "10.0.0.0/", "not an address/prefix"),
    ("cidr4", "10.0.0.0/x", "not an address/prefix"),
    ("cidr4", "010.0.0.0/8", "leading zeros"),
    ("cidr4", "10.0.0/8", "not a dotted-quad"),
    ("cidr4", "2001:db8::/32", "the kind is cidr6"),
    ("cidr6", "2001:db8::/129", "prefix longer than 128"),
    ("cidr6", "10.0.0.0/8", "the kind is cidr4"),
    ("cidr6", "2001:db8::zz/32", "not an IPv6 address"),
    ("domain", "*.evil.example", "wildcard"),
    ("domain", "evil[.]example", "defanged"),
    ("domain", "evil(.)example", "defanged"),
    ("domain", "198.51.100.7", "an IP address is not a domain"),
    ("domain", "2001:db8::1", "an IP address is not a domain"),
    ("domain", "example.123", "an IP address is not a domain"),
    ("domain", "-evil.example", "hyphen"),
    ("domain", "evil-.example", "hyphen"),
    ("domain", "evil..example", "empty label"),
    ("domain", ".example", "empty label"),
    ("domain", "example.com..", "empty label"),
    ("domain", "a" * 64 + ".example", "longer than 63"),
    ("domain", ("a" * 50 + ".") * 5 + "com", "longer than 253"),
    ("domain", "evil example", "only letters, digits"),
    ("domain", "evil.example/path", "only letters, digits"),
    ("domain", "http://evil.example", "a URL or e-mail address is not a domain"),
    ("domain", "user@evil.example", "a URL or e-mail address is not a domain"),
    ("domain", "😀.example", "IDNA 2008"),
    ("domain", "xn--zz-.example", "hyphen"),
    ("domain", "xn--abc-xyz123.example", "not valid Punycode"),
    ("domain", "xn--example.com", "not a canonical A-label"),  # decodes to upper-case Greek
    ("domain", "xn--bcher-kva.xn--zz", "not valid Punycode"),
    ("url", "example.com/path", "scheme"),
    ("url", "//example.com/", "scheme"),
    ("url", "mailto:a@example.com", "scheme"),
    ("url", "hxxp://evil.example/", "defanged"),
    ("url", "hxxps://evil.example/", "defanged"),
    ("url", "fxp://evil.example/", "defanged"),
    ("url", "http://evil[.]example/", "defanged"),
    ("url", "1http://example.com/", "scheme"),
    ("url", "ht tp://example.com/", "scheme"),
    ("url", "http:///path", "no host"),
    ("url", "http://:80/", "no host"),
    ("url", "http://example.com:99999/", "invalid port"),
    ("url", "http://example.com:8o/", "invalid port"),
    ("url", "http://[2001:db8::1/", "unclosed"),
    ("url", "http://[2001:db8::1]x/", "junk"),
    ("url", "http://[fe80::1%25eth0]/", "zone"),
    ("url", "http://[not:v6]/", "not an IPv6 address"),
    ("url", "http://010.0.0.1/", "leading zeros"),
    ("url", "http://2130706433/", "not a dotted-quad"),
    ("url", "http://*.example.com/", "wildcard"),
    ("url", "http://exa mple.com/", "only letters, digits"),
    ("email", "alice.example.com", "exactly one '@'"),
    ("email", "a@b@example.com", "exactly one '@'"),
    ("email", "@example.com", "local part"),
    ("email", "a" * 65 + "@example.com", "local part"),
    ("email", "alice smith@example.com", "local part"),
    ("email", "Alice <alice@example.com>", "local part"),
    ("email", "alice@", "empty label"),
    ("email", "alice@[192.0.2.1]", "only letters, digits"),
    ("email", "alice@198.51.100.7", "an IP address is not a domain"),
    ("email", "alice[@]evil.example", "defanged"),
    ("email", "alice@evil[.]example", "defanged"),
    ("md5", SHA1, "32 hex digits"),
    ("md5", MD5[:-1] + "g", "hex digits 0-9 a-f"),
    ("sha1", MD5, "40 hex digits"),
    ("sha256", SHA512, "64 hex digits"),
    ("sha512", SHA256, "128 hex digits"),
    ("sha256", "0x" + SHA256[2:], "hex digits 0-9 a-f"),
    ("asn", "AS", "expected AS64500"),
    ("asn", "ASN64500", "expected AS64500"),
    ("asn", "AS-1", "expected AS64500"),
    ("asn", "AS4294967296", "at most 4294967295"),
    ("asn", "AS65536.1", "at most 65535"),
    ("asn", "64500.5.1", "expected AS64500"),
    ("mac", "00:1a:2b:3c:4d", "six or eight hex octets"),
    ("mac", "00:1a:2b:3c:4d:5g", "six or eight hex octets"),
    ("mac", "0:1a:2b:3c:4d:5e", "six or eight hex octets"),
    ("mac", "00:1a-2b:3c:4d:5e", "six or eight hex octets"),
    ("mac", "001a2b3c4d", "six or eight hex octets"),
]


@pytest.mark.parametrize(("kind", "value", "expected"), VALID)
def test_normalise_gives_the_canonical_form(kind: str, value: str, expected: Observable) -> None:
    assert normalise(kind, value) == expected


@pytest.mark.parametrize(("kind", "value", "expected"), VALID)
def test_normalise_is_idempotent(kind: str, value: str, expected: Observable) -> None:
    once = normalise(kind, value)
    assert normalise(kind, once.value) == once
    assert normalise(once.kind, once.value) == once


@pytest.mark.parametrize(("kind", "value", "reason"), INVALID)
def test_bad_values_are_refused_naming_kind_and_value(kind: str, value: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise(kind, value)
    message = caught.value.message
    shown = value if len(value) <= 200 else value[:200] + "..."
    assert message.startswith(f"invalid {kind} {shown!r}:")
    assert reason in message
    assert caught.value.fields == {"field": "value", "kind": kind}
    assert caught.value.status == 422


def test_every_kind_has_valid_and_invalid_cases() -> None:
    assert {kind for kind, _, _ in VALID} == set(KINDS)
    assert {kind for kind, _, _ in INVALID} == set(KINDS)


def test_kinds_are_the_documented_strings() -> None:
    assert KINDS == (
        "ipv4", "ipv6", "cidr4", "cidr6", "domain", "url", "email",
        "md5", "sha1", "sha256", "sha512", "asn", "mac",
    )  # fmt: skip


def test_long_bad_values_are_cut_to_200_characters_in_the_message() -> None:
    value = "evil_" * 100 + "!"
    with pytest.raises(InvalidInput) as caught:
        normalise("domain", value)
    assert repr(value[:200] + "...") in caught.value.message
    assert value[:201] not in caught.value.message


def test_unknown_kind_is_refused_on_the_kind_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise("ipv5", "1.2.3.4")
    assert caught.value.fields == {"field": "kind"}
    assert "ipv5" in caught.value.message
    assert "ipv4" in caught.value.message


def test_a_value_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not a string") as caught:
        normalise("asn", 64500)  # type: ignore[arg-type]
    assert caught.value.fields["field"] == "value"


def test_ipv6_matches_the_standard_library_on_random_addresses() -> None:
    rng = random.Random(5952)
    for _ in range(3000):
        groups = [rng.choice((0, 0, 1, 0xFFFF, rng.randrange(0x10000))) for _ in range(8)]
        address = ipaddress.IPv6Address(sum(g << (16 * (7 - i)) for i, g in enumerate(groups)))
        mapped = address.ipv4_mapped
        expected = f"::ffff:{mapped}" if mapped is not None else str(address)
        for text in (str(address), address.exploded, address.exploded.upper()):
            assert normalise("ipv6", text) == Observable("ipv6", expected)


def test_cidr_matches_the_standard_library_on_random_networks() -> None:
    rng = random.Random(4632)
    for _ in range(2000):
        number, length = rng.randrange(2**32), rng.randrange(33)
        network = ipaddress.IPv4Network((number, length), strict=False)
        text = f"{ipaddress.IPv4Address(number)}/{length}"
        kind, value = ("cidr4", str(network)) if length < 32 else ("ipv4", text[:-3])
        assert normalise("cidr4", text) == Observable(kind, value)
    for _ in range(2000):
        number, length = rng.randrange(2**128), rng.randrange(128)
        network = ipaddress.IPv6Network((number, length), strict=False)
        assert network.network_address.ipv4_mapped is None  # random: practically never
        text = f"{ipaddress.IPv6Address(number)}/{length}"
        assert normalise("cidr6", text) == Observable("cidr6", str(network))


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (MD5, "md5"),
        (MD5.upper(), "md5"),
        (SHA1, "sha1"),
        (SHA256, "sha256"),
        (f" {SHA256} ", "sha256"),
        (SHA512, "sha512"),
        (MD5[:-1], None),
        (MD5 + "0", None),
        ("g" * 32, None),
        ("0x" + MD5[2:], None),
        ("", None),
        ("evil.example", None),
    ],
)
def test_hash_kind_by_length_and_alphabet(value: str, kind: str | None) -> None:
    assert hash_kind(value) == kind


def test_guess_on_a_mixed_plain_text_feed() -> None:
    feed = {
        "198.51.100.7": Observable("ipv4", "198.51.100.7"),
        " 203.0.113.9 ": Observable("ipv4", "203.0.113.9"),
        "10.1.2.3/8": Observable("cidr4", "10.0.0.0/8"),
        "198.51.100.7/32": Observable("ipv4", "198.51.100.7"),
        "2001:DB8::1": Observable("ipv6", "2001:db8::1"),
        "2001:db8::1/32": Observable("cidr6", "2001:db8::/32"),
        "HTTP://Evil.Example:80/x#y": Observable("url", "http://evil.example/x"),
        "Alice@Evil.Example": Observable("email", "Alice@evil.example"),
        MD5.upper(): Observable("md5", MD5),
        SHA1: Observable("sha1", SHA1),
        SHA256: Observable("sha256", SHA256),
        SHA512: Observable("sha512", SHA512),
        "12345678901234567890123456789012": Observable("md5", "1234567890" * 3 + "12"),
        "Evil.Example": Observable("domain", "evil.example"),
        "evil.example.": Observable("domain", "evil.example"),
        "Bücher.example": Observable("domain", "xn--bcher-kva.example"),
        "xn--bcher-kva.example": Observable("domain", "xn--bcher-kva.example"),
        "dead.beef.cafe": Observable("domain", "dead.beef.cafe"),
        "AS64500": Observable("asn", "64500"),
        "00:1A:2B:3C:4D:5E": Observable("mac", "00:1a:2b:3c:4d:5e"),
        "00-1a-2b-3c-4d-5e": Observable("mac", "00:1a:2b:3c:4d:5e"),
        "001a.2b3c.4d5e": Observable("mac", "00:1a:2b:3c:4d:5e"),
    }
    for value, expected in feed.items():
        assert guess(value) == expected, value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "hello",
        "localhost",
        "64500",
        "001a2b3c4d5e",
        "1.2.3",
        "01.2.3.4",
        "999.1.1.1",
        "evil[.]example",
        "hxxp://evil.example/",
        "*.evil.example",
        "evil.example/path",
        "10.0.0.0/33",
        "fe80::1%eth0",
        "a@b@c.example",
        "not a value",
        "file.tar.1",
        MD5[:-1],
    ],
)
def test_guess_returns_none_when_nothing_fits(value: str) -> None:
    assert guess(value) is None


@pytest.mark.parametrize(
    ("defanged", "plain"),
    [
        ("hxxp://evil[.]example/x", "http://evil.example/x"),
        ("hxxps://evil[.]example", "https://evil.example"),
        ("HXXPS://evil(.)example", "https://evil.example"),
        ("hxxp[:]//evil{.}example", "http://evil.example"),
        ("hxxps[://]evil.example", "https://evil.example"),
        ("fxp://files[.]evil[.]example/a.bin", "ftp://files.evil.example/a.bin"),
        ("evil[dot]example", "evil.example"),
        ("evil [dot] example", "evil.example"),
        ("evil[DOT]example", "evil.example"),
        ("evil (dot) example", "evil.example"),
        ("198[.]51[.]100[.]7", "198.51.100.7"),
        ("2001:db8[:]1", "2001:db8:1"),
        ("alice[@]evil[.]example", "alice@evil.example"),
        ("alice[at]evil.example", "alice@evil.example"),
        ("alice (at) evil.example", "alice@evil.example"),
        ("http://evil.example/", "http://evil.example/"),
        ("plain text", "plain text"),
        ("http://example.com/[attack]", "http://example.com/[attack]"),
    ],
)
def test_refang(defanged: str, plain: str) -> None:
    assert refang(defanged) == plain


def test_refang_then_guess() -> None:
    assert guess(refang("hxxp://Evil[.]Example:80/x")) == Observable("url", "http://evil.example/x")


@pytest.mark.parametrize(
    ("domain", "parents"),
    [
        ("a.b.evil.example", ["a.b.evil.example", "b.evil.example", "evil.example"]),
        ("evil.example", ["evil.example"]),
        ("example", ["example"]),
        ("x.evil.co.uk", ["x.evil.co.uk", "evil.co.uk", "co.uk"]),
        ("_dmarc.xn--bcher-kva.example", ["_dmarc.xn--bcher-kva.example", "xn--bcher-kva.example"]),
    ],
)
def test_parent_domains_nearest_first_without_the_bare_tld(domain: str, parents: list[str]) -> None:
    assert parent_domains(domain) == parents
