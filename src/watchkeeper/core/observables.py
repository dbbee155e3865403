"""Observables: one canonical text per indicator value, so intelligence and telemetry meet.

Threat-intelligence import and detection both pass every value through ``normalise``; two
spellings of the same thing (``HTTP://Example.COM:80`` and ``http://example.com/``) then become
one string, and a lookup is a plain equality. The rules, per kind:

* ``ipv4`` / ``ipv6``: the ``ipaddress`` text form (IPv6 compressed, lower case, RFC 5952).
  IPv4 octets with leading zeros are refused: ``010`` is 8 to some parsers and 10 to others.
  An IPv4-mapped IPv6 address stays ``ipv6``, written ``::ffff:192.0.2.1`` (RFC 5952 §5; the
  same on every Python version); detection decides whether it also matches the IPv4 address.
  A zone (``fe80::1%eth0``) is refused: it names an interface of one host, not an address.
* ``cidr4`` / ``cidr6``: host bits are cleared (``10.1.2.3/8`` -> ``10.0.0.0/8``); netmask
  notation is accepted; a full-length prefix, or no prefix, gives the address kind instead.
  The family must match the kind asked for.
* ``domain``: one trailing dot dropped, lower case, Unicode labels to A-labels by UTS 46 and
  IDNA 2008 (``idna``). Labels are 1-63 characters of letters, digits, hyphen and underscore
  (``_dmarc``), not starting or ending with a hyphen; 253 characters at most. A label already in
  ``xn--`` form is kept if it is the Punycode of a non-ASCII label that UTS 46 mapping leaves
  unchanged (lower case, normalised), without re-checking it against IDNA 2008: registries under
  the older rules registered names (emoji) that IDNA 2008 refuses, and DNS telemetry shows them
  in exactly that ASCII form. A numeric last label means an IP address, not a domain; ``*.``
  wildcards are refused (give the parent: detection matches subdomains through
  ``parent_domains``). Single-label names are valid domains.
* ``url``: a scheme followed by ``://`` is required. Scheme and host are lower-cased; the host is
  a domain as above, a canonical IPv4 address, or a canonical IPv6 address in brackets. Default
  ports (http 80, https 443, ftp 21, ws 80, wss 443) are dropped, an empty path becomes ``/``, the
  fragment is dropped. User information (``user:pass@``) is kept, case and all: phishing URLs
  hide the real host behind it and an analyst's indicator must not lose it. Path, query and user
  information are percent-normalised: escapes of unreserved characters are decoded, other escapes
  upper-cased, characters RFC 3986 does not allow raw (spaces, non-ASCII, ``<>"{}|\\^```, a ``%``
  that starts no escape) are encoded as UTF-8. Nothing else changes: no dot-segment removal, no
  query reordering. The result is always a valid RFC 3986 URI.
  Defanged forms (``hxxp://``, ``[.]``) are refused, not guessed: ``refang`` is a separate step.
* ``email``: exactly one ``@``; the domain part is normalised as a domain; the local part is kept
  as written, because RFC 5321 makes it case-sensitive and only the receiving server may decide
  that ``Alice`` and ``alice`` are one mailbox.
* ``md5`` / ``sha1`` / ``sha256`` / ``sha512``: lower-case hex of exactly 32/40/64/128 digits.
* ``asn``: the decimal number without ``AS`` (``AS64500``, ``AS 64500``, ``64500`` and the asdot
  form ``AS0.64500`` all give ``64500``), 0 to 4294967295.
* ``mac``: lower-case colon form ``00:1a:2b:3c:4d:5e`` (EUI-48, or EUI-64 with eight octets),
  from colon, hyphen, Cisco dotted (``001a.2b3c.4d5e``) or bare-hex input.

Every kind first strips surrounding whitespace. Bad values raise ``InvalidInput`` naming the
kind and the value (cut to 200 characters), ``field="value"``. The common cases take a few
microseconds: precompiled patterns, no parser objects, the ``idna`` tables only for non-ASCII
names.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import NamedTuple

import idna

from watchkeeper.errors import InvalidInput

KINDS: tuple[str, ...] = (
    "ipv4", "ipv6", "cidr4", "cidr6", "domain", "url", "email",
    "md5", "sha1", "sha256", "sha512", "asn", "mac",
)  # fmt: skip


class Observable(NamedTuple):
    """A normalised value and its kind; equal observables are the same indicator."""

    kind: str
    value: str


class _Refused(ValueError):
    """Internal: a value is not of its kind; the message says why."""


_SHOWN = 200

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_V6_GROUPS = r"(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?"
_V6_SHAPE = re.compile(rf"{_V6_GROUPS}(?:::{_V6_GROUPS})?")
_V6_ZEROS = re.compile(r":0(?::0)+:")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_HEX = re.compile(r"[0-9a-f]+")
_HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_MAC_COLON = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}(?:(?::[0-9a-f]{2}){2})?")
_MAC_OTHER = re.compile(
    r"[0-9a-f]{2}(?:-[0-9a-f]{2}){5}(?:(?:-[0-9a-f]{2}){2})?"
    r"|[0-9a-f]{4}(?:\.[0-9a-f]{4}){2,3}"
    r"|[0-9a-f]{12}(?:[0-9a-f]{4})?"
)
_ASN = re.compile(r"(?:as ?)?([0-9]{1,10}|[0-9]{1,5}\.[0-9]{1,5})", re.IGNORECASE)
# scheme :// authority path ?query #fragment, the fragment dropped (RFC 3986 appendix B)
_URL_PARTS = re.compile(
    r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?", re.S
)
_DEFAULT_PORTS = {"http": "80", "https": "443", "ftp": "21", "ws": "80", "wss": "443"}
_DEFANGED_SCHEMES = frozenset({"hxxp", "hxxps", "hxxxp", "hxxxps", "fxp", "fxps"})
_DEFANGED_MARKS = ("[.]", "(.)", "{.}", "[dot]", "(dot)", "[:]", "[@]", "[at]", "(at)")
# RFC 3986: what may stand raw in a URI (unreserved, reserved); everything else is escaped.
_URI_RAW = r"A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;="
_URI_PLAIN = re.compile(rf"[{_URI_RAW}]*")
_URI_FIX = re.compile(rf"%([0-9A-Fa-f]{{2}})|[^{_URI_RAW}]")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_LOCAL_BAD = re.compile(r'[\s\x00-\x1f\x7f"(),:;<>@\[\\\]]')


def _ipv4(value: str) -> str:
    if _IPV4.fullmatch(value):
        return value  # the pattern admits only the canonical spelling
    try:
        ipaddress.IPv4Address(value)
    except ValueError as exc:
        if "Leading zeros" in str(exc):
            raise _Refused("leading zeros in an octet are ambiguous (octal or decimal)") from None
        raise _Refused("not a dotted-quad IPv4 address") from None
    raise _Refused("not a canonical IPv4 address")  # e.g. non-ASCII digits


def _v6_parts(value: str) -> list[str]:
    """The eight groups of an IPv6 address as hex without leading zeros (``ipaddress`` is slow)."""
    text = value.lower()
    if "%" in text:
        raise _Refused("a zone (%...) names one host's interface, not an address")
    if not _V6_SHAPE.fullmatch(text):
        try:  # embedded IPv4 (::ffff:192.0.2.1), or not an address: the standard parser decides
            number = int(ipaddress.IPv6Address(text))
        except ValueError:
            raise _Refused("not an IPv6 address") from None
        return [f"{(number >> shift) & 0xFFFF:x}" for shift in range(112, -1, -16)]
    head, double, tail = text.partition("::")
    left = head.split(":") if head else []
    right = tail.split(":") if tail else []
    fill = 8 - len(left) - len(right)
    if fill < 1 if double else fill != 0:
        raise _Refused("not an IPv6 address (eight groups)")
    return [group.lstrip("0") or "0" for group in [*left, *["0"] * fill, *right]]


def _v6_text(parts: list[str]) -> str:
    """RFC 5952 text: the longest (leftmost) run of two or more zero groups becomes ``::``."""
    joined = ":".join(parts)
    if "0:0" not in joined:  # then there is no run of zero groups to compress
        return joined
    if joined.startswith("0:0:0:0:0:ffff:"):
        high, low = int(parts[6], 16), int(parts[7], 16)
        return f"::ffff:{high >> 8}.{high & 255}.{low >> 8}.{low & 255}"
    wrapped = f":{joined}:"
    runs = _V6_ZEROS.findall(wrapped)
    if not runs:  # "10:0" has "0:0" in it but no run of zero groups
        return joined
    longest = max(runs, key=len)  # the first of the longest, as RFC 5952 wants
    start = wrapped.find(longest)  # no longer run holds it, so this is that first one
    return f"{wrapped[1:start]}::{wrapped[start + len(longest) : -1]}"


def _ipv6(value: str) -> str:
    return _v6_text(_v6_parts(value))


def _prefix(value: str, prefix: str, *, bits: int) -> int:
    if prefix.isascii() and prefix.isdigit():
        if int(prefix) > bits:
            raise _Refused(f"prefix longer than {bits}")
        return int(prefix)
    try:  # netmask or hostmask notation (10.0.0.0/255.0.0.0): rare, let ipaddress read it
        return ipaddress.ip_network(value, strict=False).prefixlen
    except ValueError:
        raise _Refused("not an address/prefix network") from None


def _network(value: str, *, version: int) -> Observable:
    address, slash, prefix = value.partition("/")
    if (":" in address) != (version == 6):
        other = 6 if version == 4 else 4
        raise _Refused(f"an IPv{other} network; the kind is cidr{other}")
    if version == 4:
        plain = _ipv4(address)
        if not slash or (length := _prefix(value, prefix, bits=32)) == 32:
            return Observable("ipv4", plain)
        a, b, c, d = (int(octet) for octet in plain.split("."))
        number = (a << 24 | b << 16 | c << 8 | d) & (0xFFFFFFFF << (32 - length))
        text = f"{number >> 24}.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"
        return Observable("cidr4", f"{text}/{length}")
    parts = _v6_parts(address)
    if not slash or (length := _prefix(value, prefix, bits=128)) == 128:
        return Observable("ipv6", _v6_text(parts))
    masked = []
    for index, part in enumerate(parts):
        keep = min(16, max(0, length - 16 * index))  # bits of this group inside the prefix
        masked.append(f"{int(part, 16) & (0xFFFF << (16 - keep)) & 0xFFFF:x}")
    return Observable("cidr6", f"{_v6_text(masked)}/{length}")


def _a_label(label: str) -> None:
    try:
        body = label[4:].encode("ascii").decode("punycode")
        mapped = idna.uts46_remap(body, std3_rules=False, transitional=False)
    except (UnicodeError, idna.IDNAError):
        raise _Refused(f"label {label!r} is not valid Punycode of a name") from None
    if body.isascii() or mapped != body or body.encode("punycode").decode() != label[4:]:
        raise _Refused(f"label {label!r} is not a canonical A-label")


def _unicode_domain(text: str) -> str:
    try:
        mapped = idna.uts46_remap(text, std3_rules=False, transitional=False)
        labels = [lab if lab.isascii() else idna.alabel(lab).decode() for lab in mapped.split(".")]
    except (idna.IDNAError, UnicodeError) as exc:
        raise _Refused(f"not a valid internationalised name (IDNA 2008: {exc})") from None
    return ".".join(labels)


def _domain(value: str) -> str:
    text = value.lower() if value.isascii() else _unicode_domain(value)
    if text.endswith("."):
        text = text[:-1]
    if len(text) > 253 or not _DOMAIN.fullmatch(text):
        raise _Refused(_domain_fault(text))
    last = text.rpartition(".")[2]
    if last.isdigit():
        raise _Refused("an IP address is not a domain (numeric last label)")
    if "xn--" in text:
        for label in text.split("."):
            if label.startswith("xn--"):
                _a_label(label)
    return text


def _domain_fault(text: str) -> str:
    """Why ``text`` is not a domain; only called on failure, so it may be slow."""
    if text.startswith("*."):
        return "a wildcard is not a domain; give the parent (subdomains match it)"
    if any(mark in text for mark in _DEFANGED_MARKS):
        return "defanged; refang() it first"
    if "://" in text or "@" in text:
        return "a URL or e-mail address is not a domain"
    if ":" in text:
        return "an IP address is not a domain"
    if len(text) > 253:
        return "longer than 253 characters"
    for label in text.split("."):
        if not label:
            return "empty label"
        if len(label) > 63:
            return f"label longer than 63 characters: {label[:63]!r}..."
        if label[0] == "-" or label[-1] == "-":
            return f"label starts or ends with a hyphen: {label!r}"
    return "only letters, digits, hyphen and underscore may appear in a label"


def _percent(text: str) -> str:
    if "%" not in text and _URI_PLAIN.fullmatch(text):
        return text
    return _URI_FIX.sub(_percent_fix, text)


def _percent_fix(match: re.Match[str]) -> str:
    hexa = match.group(1)
    if hexa is not None:
        char = chr(int(hexa, 16))
        return char if char in _UNRESERVED else "%" + hexa.upper()
    try:
        data = match.group(0).encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused("contains a lone surrogate") from None
    return "".join(f"%{byte:02X}" for byte in data)


def _host(host: str) -> str:
    if host.startswith("["):
        return f"[{_ipv6(host[1:-1])}]"
    if not host:
        raise _Refused("no host")
    if host[-1].isdigit() and host.rstrip(".").rpartition(".")[2].isdigit():
        return _ipv4(host)
    return _domain(host)


def _url(value: str) -> str:
    match = _URL_PARTS.fullmatch(value)
    if match is None:
        scheme = value.partition("://")[0] if "://" in value else ""
        raise _Refused(f"invalid scheme {scheme!r}" if scheme else "a URL needs a scheme and '://'")
    scheme, authority, path, query = match.groups()
    scheme = scheme.lower()
    if scheme in _DEFANGED_SCHEMES:
        raise _Refused("defanged scheme; refang() it first")
    userinfo, _, host = authority.rpartition("@")
    port = ""
    if host.startswith("["):
        close = host.find("]") + 1
        if close == 0:
            raise _Refused("unclosed [ in the host")
        host, port = host[:close], host[close:]
        if port and port[0] != ":":
            raise _Refused("junk after the IPv6 host")
        port = port[1:]
    elif ":" in host:
        host, _, port = host.partition(":")
    if port:
        if not (port.isascii() and port.isdigit()) or int(port) > 65535:
            raise _Refused(f"invalid port {port!r}")
        port = "" if _DEFAULT_PORTS.get(scheme) == str(int(port)) else f":{int(port)}"
    user = f"{_percent(userinfo)}@" if userinfo else ""
    path = _percent(path) if path else "/"
    query = "" if query is None else f"?{_percent(query)}"
    return f"{scheme}://{user}{_host(host)}{port}{path}{query}"


def _email(value: str) -> str:
    local, at, domain = value.partition("@")
    size = len(local.encode("utf-8", "surrogatepass"))
    if not at or "@" in domain or not 0 < size <= 64 or _LOCAL_BAD.search(local):
        raise _Refused(_email_fault(value, local=local))
    return f"{local}@{_domain(domain)}"


def _email_fault(value: str, *, local: str) -> str:
    """Why ``value`` is not an e-mail address; only called on failure."""
    if any(mark in value for mark in _DEFANGED_MARKS):
        return "defanged; refang() it first"
    if value.count("@") != 1:
        return "an e-mail address has exactly one '@'"
    if not local or len(local.encode("utf-8", "surrogatepass")) > 64:
        return "the local part must be 1 to 64 octets"
    return "the local part has spaces or characters needing quotes"


def _hash(value: str, *, length: int) -> str:
    text = value.lower()
    if len(text) != length:
        raise _Refused(f"a {_HASH_LENGTHS[length]} is {length} hex digits, not {len(text)}")
    if not _HEX.fullmatch(text):
        raise _Refused("only hex digits 0-9 a-f may appear")
    return text


def _asn(value: str) -> str:
    match = _ASN.fullmatch(value)
    if match is None:
        raise _Refused("expected AS64500, 64500 or asdot 1.10")
    high, dot, low = match.group(1).partition(".")
    if dot:
        if int(high) > 65535 or int(low) > 65535:
            raise _Refused("each half of an asdot number is at most 65535")
        return str(int(high) * 65536 + int(low))
    number = int(high)
    if number > 4294967295:
        raise _Refused("an AS number is at most 4294967295")
    return str(number)


def _mac(value: str) -> str:
    text = value.lower()
    if _MAC_COLON.fullmatch(text):
        return text
    if not _MAC_OTHER.fullmatch(text):
        raise _Refused("expected six or eight hex octets (00:1a:2b:3c:4d:5e)")
    digits = text.replace("-", "").replace(".", "")
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def _address(value: str, *, version: int) -> Observable:
    address, slash, prefix = value.partition("/")
    if slash and prefix != ("32" if version == 4 else "128"):
        raise _Refused(f"a network, not an address; the kind is cidr{version}")
    if version == 4:
        return Observable("ipv4", _ipv4(address))
    return Observable("ipv6", _ipv6(address))


# One entry per kind, so normalise costs one dictionary look-up before the real work.
_NORMALISERS: dict[str, Callable[[str], Observable]] = {
    "ipv4": lambda value: _address(value, version=4),
    "ipv6": lambda value: _address(value, version=6),
    "cidr4": lambda value: _network(value, version=4),
    "cidr6": lambda value: _network(value, version=6),
    "domain": lambda value: Observable("domain", _domain(value)),
    "url": lambda value: Observable("url", _url(value)),
    "email": lambda value: Observable("email", _email(value)),
    "md5": lambda value: Observable("md5", _hash(value, length=32)),
    "sha1": lambda value: Observable("sha1", _hash(value, length=40)),
    "sha256": lambda value: Observable("sha256", _hash(value, length=64)),
    "sha512": lambda value: Observable("sha512", _hash(value, length=128)),
    "asn": lambda value: Observable("asn", _asn(value)),
    "mac": lambda value: Observable("mac", _mac(value)),
}


def _invalid(kind: str, value: str, reason: str) -> InvalidInput:
    shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
    return InvalidInput(f"invalid {kind} {shown!r}: {reason}", field="value", kind=kind)


def normalise(kind: str, value: str) -> Observable:
    """Validate ``value`` as ``kind`` and return its one canonical form (see module docstring).

    The kind of the result is the kind asked for, except that a CIDR network with a full-length
    prefix comes back as the plain address kind (``cidr4 10.0.0.1/32`` -> ``ipv4 10.0.0.1``).
    """
    convert = _NORMALISERS.get(kind)
    if convert is None:
        raise InvalidInput(
            f"unknown observable kind {kind!r}; known: {', '.join(KINDS)}", field="kind"
        )
    if not isinstance(value, str):
        raise _invalid(kind, repr(value), "not a string")
    text = value.strip()
    if not text:
        raise _invalid(kind, value, "empty")
    try:
        return convert(text)
    except ValueError as exc:  # _Refused, and any parser's ValueError: never a traceback
        raise _invalid(kind, value, str(exc)) from None


def hash_kind(value: str) -> str | None:
    """The hash kind a hex digest's length gives (``md5``...``sha512``), or None.

    Plain-text feeds list bare digests; the length is the only thing telling them apart.
    """
    text = value.strip().lower()
    kind = _HASH_LENGTHS.get(len(text))
    return kind if kind is not None and _HEX.fullmatch(text) else None


def guess(value: str) -> Observable | None:
    """The normalised observable a bare value from a plain-text feed is, or None if none fits.

    Decided by shape: ``://`` a URL, ``@`` an e-mail, ``/`` a CIDR network, ``:`` an IPv6 address
    (or a colon MAC), hex of a digest length a hash, ``AS64500`` an AS number, hyphenated hex
    octets a MAC; then by the last label of a dotted name: digits an IPv4 address, letters (or
    ``xn--``) a domain, as every top-level domain is, and Cisco-dotted hex a MAC. Single-label
    names, bare numbers and bare-hex MACs are not guessed; defanged values are not refanged
    (call ``refang`` first).
    """
    text = value.strip()
    try:
        if "://" in text:
            return Observable("url", _url(text))
        if "@" in text:
            return Observable("email", _email(text))
        if "/" in text:
            return _network(text, version=6 if ":" in text else 4)
        if ":" in text:
            if _MAC_COLON.fullmatch(text.lower()):
                return Observable("mac", text.lower())
            return Observable("ipv6", _ipv6(text))
        kind = hash_kind(text)
        if kind is not None:
            return Observable(kind, text.lower())
        if text[:2].lower() == "as" and _ASN.fullmatch(text):
            return Observable("asn", _asn(text))
        if "-" in text and _MAC_OTHER.fullmatch(text.lower()):
            return Observable("mac", _mac(text))
        if "." not in text.rstrip("."):
            return None
        last = text.rstrip(".").rpartition(".")[2]
        if last.isdigit():
            return Observable("ipv4", _ipv4(text))
        if last.isalpha() or last[:4].lower() == "xn--":
            return Observable("domain", _domain(text))
        if _MAC_OTHER.fullmatch(text.lower()):
            return Observable("mac", _mac(text))  # Cisco 001a.2b3c.4d5e: no TLD has digits
        return None
    except ValueError:
        return None


_REFANG_DOT = re.compile(r"\s*[\[({]\s*(?:\.|dot)\s*[\])}]\s*", re.IGNORECASE)
_REFANG_AT = re.compile(r"\s*[\[({]\s*(?:@|at)\s*[\])}]\s*", re.IGNORECASE)
_REFANG_COLON = re.compile(r"\[:\]|\(:\)|\{:\}|\[://\]")
_REFANG_SCHEME = re.compile(r"^(hxxps?|hxxxps?|fxps?)(?=:|\[:)", re.IGNORECASE)
_SCHEMES = {"hxxp": "http", "hxxps": "https", "hxxxp": "http", "hxxxps": "https"}


def refang(value: str) -> str:
    """Undo the common defanging of indicators in reports and feeds.

    ``hxxp``/``hxxps``/``fxp`` schemes, ``[.]`` ``(.)`` ``{.}`` ``[dot]``, ``[:]``, ``[@]`` and
    ``[at]`` (any bracket kind, any case, spaces inside or around). The result is not validated:
    pass it to ``guess`` or ``normalise``. Text that is not defanged comes back unchanged.
    """
    text = _REFANG_DOT.sub(".", value)
    text = _REFANG_AT.sub("@", text)
    text = _REFANG_COLON.sub(lambda match: match.group(0)[1:-1], text)
    return _REFANG_SCHEME.sub(_refang_scheme, text)


def _refang_scheme(match: re.Match[str]) -> str:
    scheme = match.group(1).lower()
    return _SCHEMES.get(scheme) or "ftp" + scheme[3:]


def parent_domains(domain: str) -> list[str]:
    """The domain and each parent above it, nearest first, without the bare top-level label.

    ``a.b.evil.example`` -> ``["a.b.evil.example", "b.evil.example", "evil.example"]``, so an
    indicator on ``evil.example`` matches DNS queries for its subdomains by plain lookups. The
    input must already be normalised (this is called per telemetry record and does not check).
    There is no public-suffix list: ``x.co.uk`` yields ``co.uk`` too, which only matters if
    someone lists ``co.uk`` as an indicator. A single-label name yields just itself.
    """
    found = [domain]
    start = domain.find(".")
    while start >= 0:
        following = domain.find(".", start + 1)
        if following < 0:
            break
        found.append(domain[start + 1 :])
        start = following
    return found


def _stix_paths() -> dict[str, str]:
    paths = {
        "ipv4-addr:value": "ipv4",
        "ipv6-addr:value": "ipv6",
        "domain-name:value": "domain",
        "url:value": "url",
        "email-addr:value": "email",
        "email-message:from_ref.value": "email",
        "email-message:sender_ref.value": "email",
        "autonomous-system:number": "asn",
        "mac-addr:value": "mac",
    }
    spellings = {
        "md5": ("MD5",),
        "sha1": ("SHA-1", "SHA1"),
        "sha256": ("SHA-256", "SHA256"),
        "sha512": ("SHA-512", "SHA512"),
    }
    for kind, names in spellings.items():
        for name in names:
            for spelling in (name, name.lower()):
                paths[f"file:hashes.{spelling}"] = kind
                paths[f"file:hashes.'{spelling}'"] = kind
    return paths


STIX_PATHS: dict[str, str] = _stix_paths()
"""STIX object paths whose values are observables, to the kind they hold.

Hash algorithms are listed as STIX spells them (``'SHA-256'``), unquoted, without hyphen and in
lower case, since feeds use all of these. ``ipv4-addr:value`` and ``ipv6-addr:value`` map to the
address kind; ``from_stix`` turns them into the CIDR kind when the value has a prefix.
"""

_STEP = r"(?:'[^'.]*'|[^'.]+)"  # a quoted step holding a dot is one property: not ours
_STEPS = re.compile(rf"{_STEP}(?:\.{_STEP})*")


def _canonical_path(path: str) -> str | None:
    """``file:'hashes'.'SHA-256'`` (as a grammar walk writes paths) -> ``file:hashes.SHA-256``."""
    object_type, colon, steps = path.partition(":")
    if not colon or not _STEPS.fullmatch(steps):
        return None
    return f"{object_type}:{steps.replace(chr(39), '')}"


def from_stix(path: str, value: str) -> Observable:
    """Normalise the value a STIX pattern or cyber-observable compares at ``path``.

    ``path`` is a key of ``STIX_PATHS``, or the same with every step quoted. An address path
    with a ``/prefix`` value gives a CIDR observable. ``InvalidInput`` with ``field="path"`` for a
    path we do not index, ``field="value"`` for a value that is not of its kind.
    """
    kind = STIX_PATHS.get(path)
    if kind is None:
        canonical = _canonical_path(path)
        kind = STIX_PATHS.get(canonical) if canonical is not None else None
        if kind is None:
            raise InvalidInput(f"no observable kind for STIX path {path!r}", field="path")
    if (kind == "ipv4" or kind == "ipv6") and isinstance(value, str) and "/" in value:
        kind = "cidr4" if kind == "ipv4" else "cidr6"
    return normalise(kind, value)
