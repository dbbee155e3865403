"""MISP attribute types in STIX 2.1 terms: the pattern of an indicator, or cyber-observables.

A MISP attribute is a typed value (``ip-dst``, ``domain|ip``, ``filename|sha256``...). Its
type decides what STIX says the same thing: one table here (``SHAPES``) reads each mapped type
into a *shape* (the normalised parts of the value), and two functions write a shape as a STIX
pattern (for ``to_ids`` attributes, which become indicators) or as cyber-observable objects
(for the others). Keeping the reading apart from the writing means a value is checked and
normalised the same way on both paths, with ``core.observables`` wherever it has a kind, and
a bad value is refused with the reason instead of being stored unmatchable.

Ids here are deterministic (uuid5 in ``NAMESPACE``), so importing the same MISP data twice
gives the same objects. A cyber-observable has no version of its own in our store, so its id
also covers its content: an edited attribute gives a new observable instead of a clash.
docs/misp-mapping.md has the table in prose.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from watchkeeper.core.canonical import canonical_json
from watchkeeper.core.observables import Observable, normalise
from watchkeeper.errors import InvalidInput

NAMESPACE = uuid.UUID("0f6a4c3e-8f1b-5d2a-9c47-4b1e2d7a9e55")
"""Namespace of every uuid5 the MISP mapping derives (fixed: ids must not change)."""

# STIX hash algorithm names (the STIX 2.1 hash-algorithm-ov spelling) of MISP hash types.
HASHES = {
    "md5": "MD5",
    "sha1": "SHA-1",
    "sha256": "SHA-256",
    "sha512": "SHA-512",
    "sha3-256": "SHA3-256",
    "sha3-512": "SHA3-512",
    "ssdeep": "SSDEEP",
    "tlsh": "TLSH",
}
_NORMALISED_HASHES = frozenset({"md5", "sha1", "sha256", "sha512"})  # kinds of core.observables
NON_STIX_PATTERNS = frozenset({"yara", "sigma", "snort"})
"""MISP types whose value is a rule in its own language: an indicator with that pattern_type."""


def stix_id(kind: str, name: str) -> str:
    """A deterministic STIX id of type ``kind`` for ``name`` (a MISP uuid, or uuid and content)."""
    return f"{kind}--{uuid.uuid5(NAMESPACE, f'{kind}|{name}')}"


@dataclass(frozen=True)
class Shape:
    """The checked, normalised parts of one attribute value."""

    kind: str  # ip, domain, url, email, mac, asn, file, mutex, regkey, subject, x509, ...
    parts: dict[str, Any] = field(default_factory=dict)


def _bad(misp_type: str, value: str, reason: str) -> InvalidInput:
    shown = value if len(value) <= 200 else value[:200] + "..."
    return InvalidInput(f"{misp_type} {shown!r}: {reason}", field="value", type=misp_type)


def _ip(value: str) -> Observable:
    text = value.strip()
    family = "6" if ":" in text else "4"
    return normalise(("cidr" if "/" in text else "ipv") + family, text)


def _text(value: str) -> str:
    if not value.strip():
        raise InvalidInput("empty value", field="value")
    return value


def _hash(algorithm: str, value: str) -> dict[str, str]:
    if algorithm in _NORMALISED_HASHES:
        return {HASHES[algorithm]: normalise(algorithm, value).value}
    return {HASHES[algorithm]: _text(value).strip()}


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 65535:
        raise InvalidInput(f"invalid port {text!r}", field="value")
    return int(text)


def _pair(value: str) -> tuple[str, str]:
    left, bar, right = value.partition("|")
    if not bar or not left.strip() or not right.strip():
        raise InvalidInput("expected two values joined by '|'", field="value")
    return left.strip(), right.strip()


def _endpoint(direction: str, host: Callable[[str], Any]) -> Callable[[str], Shape]:
    def read(value: str) -> Shape:
        left, right = _pair(value)
        return Shape("endpoint", {"direction": direction, "host": host(left), "port": _port(right)})

    return read


def _file_with(algorithm: str) -> Callable[[str], Shape]:
    def read(value: str) -> Shape:
        name, digest = _pair(value)
        return Shape("file", {"name": name, "hashes": _hash(algorithm, digest)})

    return read


def _hashed(kind: str, algorithm: str) -> Callable[[str], Shape]:
    return lambda value: Shape(kind, {"hashes": _hash(algorithm, value)})


def _domain_ip(value: str) -> Shape:
    domain, address = _pair(value)
    return Shape("domain-ip", {"domain": normalise("domain", domain).value, "ip": _ip(address)})


def _url(value: str) -> Shape:
    return Shape("url", {"value": normalise("url", value).value})


def _single(kind: str) -> Callable[[str], Shape]:
    return lambda value: Shape(kind, {"value": normalise(kind, value).value})


SHAPES: dict[str, Callable[[str], Shape]] = {
    "ip-src": lambda value: Shape("ip", {"ip": _ip(value)}),
    "ip-dst": lambda value: Shape("ip", {"ip": _ip(value)}),
    "ip-src|port": _endpoint("src", _ip),
    "ip-dst|port": _endpoint("dst", _ip),
    "hostname|port": _endpoint("dst", lambda host: normalise("domain", host).value),
    "domain": _single("domain"),
    "hostname": _single("domain"),
    "domain|ip": _domain_ip,
    "url": _url,
    "link": _url,
    "uri": _url,  # when it is a whole URL (see LOOSE)
    "email": _single("email"),
    "email-src": _single("email"),
    "email-dst": _single("email"),
    "email-reply-to": _single("email"),
    "mac-address": _single("mac"),
    "AS": lambda value: Shape("asn", {"number": int(normalise("asn", value).value)}),
    "filename": lambda value: Shape("file", {"name": _text(value)}),
    "mutex": lambda value: Shape("mutex", {"name": _text(value)}),
    "regkey": lambda value: Shape("regkey", {"key": _text(value)}),
    "email-subject": lambda value: Shape("subject", {"subject": _text(value)}),
    **{name: _hashed("file", name) for name in HASHES},
    **{f"filename|{name}": _file_with(name) for name in HASHES},
    **{f"x509-fingerprint-{name}": _hashed("x509", name) for name in ("md5", "sha1", "sha256")},
}
"""Every MISP attribute type we map, to the function reading its value into a shape."""


LOOSE = frozenset({"uri", "link"})
"""Types whose value need not be a whole URL (``/admin.php``): unmapped then, not refused."""


def read_shape(misp_type: str, value: str) -> Shape | None:
    """The shape of an attribute value; None for a type we do not map.

    ``InvalidInput`` (naming type and value) for a value that is not what its type says.
    """
    reader = SHAPES.get(misp_type)
    if reader is None:
        return None
    try:
        return reader(value)
    except InvalidInput as exc:
        if misp_type in LOOSE:
            return None
        raise _bad(misp_type, value, exc.message) from None


# --- patterns ---------------------------------------------------------------------------------


def quote(text: str) -> str:
    """A STIX pattern string literal: quotes and backslashes escaped (STIX 2.1 §9.3)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _address_type(observable: Observable) -> str:
    return "ipv6-addr" if observable.kind in ("ipv6", "cidr6") else "ipv4-addr"


def _hash_terms(prefix: str, hashes: dict[str, str]) -> list[str]:
    return [f"{prefix}:hashes.{quote(name)} = {quote(digest)}" for name, digest in hashes.items()]


def pattern(shape: Shape) -> str:
    """The STIX pattern saying ``shape`` (one observation; values quoted and escaped)."""
    p = shape.parts
    if shape.kind == "ip":
        terms = [f"{_address_type(p['ip'])}:value = {quote(p['ip'].value)}"]
    elif shape.kind in ("domain", "url", "email", "mac"):
        stix_type = {"domain": "domain-name", "email": "email-addr", "mac": "mac-addr"}
        terms = [f"{stix_type.get(shape.kind, shape.kind)}:value = {quote(p['value'])}"]
    elif shape.kind == "asn":
        terms = [f"autonomous-system:number = {p['number']}"]
    elif shape.kind == "file":
        terms = [f"file:name = {quote(p['name'])}"] if "name" in p else []
        terms += _hash_terms("file", p.get("hashes", {}))
    elif shape.kind == "x509":
        terms = _hash_terms("x509-certificate", p["hashes"])
    elif shape.kind == "domain-ip":
        terms = [
            f"domain-name:value = {quote(p['domain'])}",
            f"domain-name:resolves_to_refs[*].value = {quote(p['ip'].value)}",
        ]
    elif shape.kind == "endpoint":
        host, end = p["host"], p["direction"]
        host_type = _address_type(host) if isinstance(host, Observable) else "domain-name"
        host_value = host.value if isinstance(host, Observable) else host
        terms = [
            f"network-traffic:{end}_ref.type = {quote(host_type)}",
            f"network-traffic:{end}_ref.value = {quote(host_value)}",
            f"network-traffic:{end}_port = {p['port']}",
        ]
    else:
        path = {"mutex": "mutex:name", "regkey": "windows-registry-key:key"}
        field_name = {"mutex": "name", "regkey": "key", "subject": "subject"}[shape.kind]
        stix_path = path.get(shape.kind, "email-message:subject")
        terms = [f"{stix_path} = {quote(p[field_name])}"]
    return "[" + " AND ".join(terms) + "]"


# --- cyber-observables ------------------------------------------------------------------------


def _sco(kind: str, body: dict[str, Any], *, key: str, extra: dict[str, Any]) -> dict[str, Any]:
    content = {"type": kind, "spec_version": "2.1", **body, **extra}
    digest = canonical_json(content).decode()
    return {"type": kind, "spec_version": "2.1", "id": stix_id(kind, f"{key}|{digest}"), **body,
            **extra}  # fmt: skip


def _address(observable: Observable, *, key: str, extra: dict[str, Any]) -> dict[str, Any]:
    return _sco(_address_type(observable), {"value": observable.value}, key=key, extra=extra)


def observables(shape: Shape, *, key: str, extra: dict[str, Any]) -> list[dict[str, Any]]:
    """The cyber-observable objects of ``shape``; the one the attribute *is* comes last.

    ``key`` (the MISP attribute uuid) and the content give each object its id; ``extra`` (TLP
    marking, ``x_misp_*`` properties) goes on every object.
    """
    p = shape.parts
    if shape.kind == "ip":
        return [_address(p["ip"], key=key, extra=extra)]
    if shape.kind in ("domain", "url", "email", "mac"):
        stix_type = {"domain": "domain-name", "email": "email-addr", "mac": "mac-addr"}
        return [_sco(stix_type.get(shape.kind, shape.kind), {"value": p["value"]}, key=key,
                     extra=extra)]  # fmt: skip
    if shape.kind == "domain-ip":
        address = _address(p["ip"], key=key, extra=extra)
        body = {"value": p["domain"], "resolves_to_refs": [address["id"]]}
        return [address, _sco("domain-name", body, key=key, extra=extra)]
    if shape.kind == "endpoint":
        host, end = p["host"], p["direction"]
        if isinstance(host, Observable):
            target = _address(host, key=key, extra=extra)
            protocols = ["ipv6" if target["type"] == "ipv6-addr" else "ipv4"]
        else:
            target = _sco("domain-name", {"value": host}, key=key, extra=extra)
            protocols = ["tcp"]
        body = {f"{end}_ref": target["id"], f"{end}_port": p["port"], "protocols": protocols}
        return [target, _sco("network-traffic", body, key=key, extra=extra)]
    simple = {
        "asn": "autonomous-system",
        "file": "file",
        "x509": "x509-certificate",
        "mutex": "mutex",
        "regkey": "windows-registry-key",
    }
    if shape.kind == "subject":
        return [_sco("email-message", {"is_multipart": False, **p}, key=key, extra=extra)]
    return [_sco(simple[shape.kind], dict(p), key=key, extra=extra)]
