"""STIX paths to observables, and normalisation of random input (see test_observables)."""

from __future__ import annotations

import random

import pytest

from watchkeeper.core import (
    KINDS,
    STIX_PATHS,
    Observable,
    from_stix,
    guess,
    normalise,
)
from watchkeeper.errors import InvalidInput

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA512 = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" + (
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)


REQUIRED_STIX_PATHS = {
    "ipv4-addr:value": "ipv4",
    "ipv6-addr:value": "ipv6",
    "domain-name:value": "domain",
    "url:value": "url",
    "email-addr:value": "email",
    "email-message:from_ref.value": "email",
    "autonomous-system:number": "asn",
    "mac-addr:value": "mac",
    "file:hashes.MD5": "md5",
    "file:hashes.'MD5'": "md5",
    "file:hashes.md5": "md5",
    "file:hashes.SHA-1": "sha1",
    "file:hashes.'SHA-1'": "sha1",
    "file:hashes.SHA1": "sha1",
    "file:hashes.SHA-256": "sha256",
    "file:hashes.'SHA-256'": "sha256",
    "file:hashes.SHA256": "sha256",
    "file:hashes.SHA-512": "sha512",
    "file:hashes.'SHA-512'": "sha512",
    "file:hashes.SHA512": "sha512",
}

# One raw value and its normalised form per kind, for exercising every STIX path.
SAMPLES = {
    "ipv4": ("198.51.100.7", "198.51.100.7"),
    "ipv6": ("2001:DB8::7", "2001:db8::7"),
    "domain": ("Evil.Example.", "evil.example"),
    "url": ("HTTP://Evil.Example:80", "http://evil.example/"),
    "email": ("Bob@Evil.Example", "Bob@evil.example"),
    "asn": ("64500", "64500"),
    "mac": ("00-1A-2B-3C-4D-5E", "00:1a:2b:3c:4d:5e"),
    "md5": (MD5.upper(), MD5),
    "sha1": (SHA1.upper(), SHA1),
    "sha256": (SHA256.upper(), SHA256),
    "sha512": (SHA512.upper(), SHA512),
}


def test_stix_paths_hold_every_required_variant() -> None:
    for path, kind in REQUIRED_STIX_PATHS.items():
        assert STIX_PATHS[path] == kind, path
    assert set(STIX_PATHS.values()) <= set(KINDS)


@pytest.mark.parametrize("path", sorted(STIX_PATHS))
def test_from_stix_for_every_path(path: str) -> None:
    kind = STIX_PATHS[path]
    raw, value = SAMPLES[kind]
    assert from_stix(path, raw) == Observable(kind, value)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("ipv4-addr:'value'", "ipv4"),
        ("file:'hashes'.'SHA-256'", "sha256"),
        ("file:'hashes'.'MD5'", "md5"),
        ("file:'hashes'.SHA1", "sha1"),
        ("email-message:'from_ref'.'value'", "email"),
        ("autonomous-system:'number'", "asn"),
    ],
)
def test_from_stix_accepts_paths_with_every_step_quoted(path: str, expected: str) -> None:
    raw, value = SAMPLES[expected]
    assert from_stix(path, raw) == Observable(expected, value)


def test_from_stix_picks_address_or_network_from_the_value() -> None:
    assert from_stix("ipv4-addr:value", "10.1.2.3/8") == Observable("cidr4", "10.0.0.0/8")
    assert from_stix("ipv4-addr:value", "10.1.2.3/32") == Observable("ipv4", "10.1.2.3")
    assert from_stix("ipv4-addr:value", "10.1.2.3") == Observable("ipv4", "10.1.2.3")
    assert from_stix("ipv6-addr:value", "2001:db8::1/32") == Observable("cidr6", "2001:db8::/32")
    assert from_stix("ipv6-addr:value", "2001:db8::1/128") == Observable("ipv6", "2001:db8::1")


@pytest.mark.parametrize(
    "path",
    [
        "file:hashes.'SHA3-256'",
        "file:hashes.SSDEEP",
        "file:name",
        "process:pid",
        "ipv4-addr:resolves_to_refs",
        "file:'hashes.SHA-256'",
        "ipv4-addr",
        "",
    ],
)
def test_from_stix_refuses_paths_it_does_not_index(path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        from_stix(path, "x")
    assert caught.value.fields == {"field": "path"}
    assert repr(path) in caught.value.message


def test_from_stix_refuses_values_not_of_their_kind() -> None:
    with pytest.raises(InvalidInput) as caught:
        from_stix("file:hashes.'SHA-256'", MD5)
    assert caught.value.fields == {"field": "value", "kind": "sha256"}
    with pytest.raises(InvalidInput, match="the kind is cidr6"):
        from_stix("ipv4-addr:value", "2001:db8::/32")


def _fuzz(rng: random.Random, alphabet: str, *, longest: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, longest)))


def test_normalise_is_idempotent_on_random_input() -> None:
    rng = random.Random(3986)
    path_chars = "aZ09-._~:/?#[]@!$&'()*+,;=%2fE7e %zü\\{}|^`\"<>\n"
    host_chars = "aZ09-._.ü"
    accepted = 0
    for _ in range(4000):
        host = _fuzz(rng, host_chars, longest=20)
        port = rng.choice(("", ":80", ":443", ":8080", ":0080"))
        scheme = rng.choice(("http", "HTTPS", "ftp"))
        url = f"{scheme}://{host}{port}{_fuzz(rng, path_chars, longest=30)}"
        samples = [
            ("url", url),
            ("domain", host),
            ("email", f"{_fuzz(rng, 'aB.+_-', longest=8)}@{host}"),
        ]
        for kind, value in samples:
            try:
                once = normalise(kind, value)
            except InvalidInput:
                continue
            accepted += 1
            assert normalise(kind, once.value) == once, value
            assert guess(once.value) in (once, None), value
    assert accepted > 1000  # enough of the fuzz is valid to make the check mean something
