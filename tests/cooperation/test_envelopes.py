"""Signed envelopes and receipts: what verifies, and every way a message is refused for its
form or its signature."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from watchkeeper.cooperation.envelopes import (
    envelope_digest,
    new_envelope,
    parse_signed,
    sign_envelope,
    sign_receipt,
    signed_form,
    verify_envelope,
    verify_receipt,
)
from watchkeeper.errors import IntegrityError, InvalidInput
from watchkeeper.security.keys import fingerprint, public_key_text

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
LIMIT = 1024 * 1024


def _keys() -> tuple[Ed25519PrivateKey, str, str]:
    key = Ed25519PrivateKey.generate()
    public = public_key_text(key)
    return key, public, fingerprint(public)


def _signed(key: Ed25519PrivateKey, print_: str, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "test.note",
        "sender": "QA-NCSA",
        "receiver": "FR-ANSSI",
        "thread": "thread-1",
        "body": {"text": "hello", "when": AT},
        "created": AT,
    }
    values.update(changes)
    return sign_envelope(key, new_envelope(**values), fingerprint=print_)


def test_a_signed_envelope_verifies_and_survives_the_wire() -> None:
    key, public, print_ = _keys()
    signed = _signed(key, print_)
    envelope = signed["envelope"]
    assert envelope["v"] == 1 and envelope["from"] == "QA-NCSA" and envelope["to"] == "FR-ANSSI"
    assert uuid.UUID(envelope["id"]).version == 4
    assert envelope["body"]["when"] == "2026-01-15T09:00:00Z"  # plain JSON once signed
    wire = orjson.dumps(signed)
    received = parse_signed(wire, max_bytes=LIMIT)
    verify_envelope(received, public_key=public, fingerprint=print_)
    assert envelope_digest(received) == envelope_digest(signed)


def test_the_digest_ignores_key_order_but_not_content() -> None:
    key, _public, print_ = _keys()
    signed = _signed(key, print_)
    reordered = dict(reversed(list(signed.items())))
    assert envelope_digest(reordered) == envelope_digest(signed)
    changed = {**signed, "envelope": {**signed["envelope"], "thread": "thread-2"}}
    assert envelope_digest(changed) != envelope_digest(signed)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda s: s["envelope"]["body"].update(text="changed"), "body"),
        (lambda s: s["envelope"].update(to="DE-BSI"), "to"),
        (lambda s: s.update(signature=base64.b64encode(b"x" * 64).decode()), "signature"),
        (lambda s: s.update(signature="not base64!"), "signature"),
    ],
)
def test_a_changed_envelope_is_forged(change: Any, where: str) -> None:
    key, public, print_ = _keys()
    signed = _signed(key, print_)
    change(signed)
    with pytest.raises(IntegrityError) as caught:
        verify_envelope(signed, public_key=public, fingerprint=print_)
    assert caught.value.fields["reason"] == "forged", where


def test_a_message_signed_by_another_key_is_forged() -> None:
    key, _public, print_ = _keys()
    _other, other_public, other_print = _keys()
    signed = _signed(key, print_)
    with pytest.raises(IntegrityError, match="names key"):
        verify_envelope(signed, public_key=other_public, fingerprint=other_print)
    signed["key"] = other_print  # claims the registered key, but did not sign with it
    with pytest.raises(IntegrityError, match="signature does not match") as caught:
        verify_envelope(signed, public_key=other_public, fingerprint=other_print)
    assert caught.value.fields["reason"] == "forged"


def _mutated(**envelope_changes: Any) -> bytes:
    key, _public, print_ = _keys()
    signed = _signed(key, print_)
    for name, value in envelope_changes.items():
        if value is None:
            del signed["envelope"][name]
        else:
            signed["envelope"][name] = value
    return orjson.dumps(signed)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'{"envelope": {}, "signature": "x"}', "signature"),
        (_mutated(kind=None), "kind"),
        (_mutated(v=2), "v"),
        (_mutated(id="message-1"), "id"),
        (_mutated(to=""), "to"),
        (_mutated(thread=7), "thread"),
        (_mutated(created="2026-01-15T09:00:00"), "created"),
        (_mutated(created="yesterday"), "created"),
        (_mutated(body=["a"]), "body"),
    ],
)
def test_malformed_messages_are_refused_naming_the_field(raw: bytes, field: str | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_signed(raw, max_bytes=LIMIT)
    assert caught.value.fields["reason"] == "malformed"
    assert caught.value.fields.get("field") == field


def test_a_message_over_the_limit_is_refused_before_parsing() -> None:
    key, _public, print_ = _keys()
    raw = orjson.dumps(_signed(key, print_, body={"text": "x" * 5000}))
    assert parse_signed(raw, max_bytes=len(raw))["envelope"]["body"]["text"] == "x" * 5000
    with pytest.raises(InvalidInput) as caught:
        parse_signed(raw, max_bytes=len(raw) - 1)
    assert caught.value.fields["reason"] == "too-large"


def test_signed_form_keeps_only_what_was_signed() -> None:
    key, _public, print_ = _keys()
    signed = _signed(key, print_)
    assert signed_form({**signed, "extra": 1}) == signed


def test_a_body_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        new_envelope(
            kind="k",
            sender="QA-NCSA",
            receiver="FR-ANSSI",
            thread="t",
            body={"x": {1, 2}},
            created=AT,
        )
    assert caught.value.fields["field"] == "body"


def _receipt(key: Ed25519PrivateKey, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "message_id": "m-1",
        "receiver": "FR-ANSSI",
        "sender": "QA-NCSA",
        "received_at": AT,
        "status": "accepted",
        "result": {"ok": True},
    }
    values.update(changes)
    return sign_receipt(key, **values)


def test_a_receipt_verifies_for_its_message_only() -> None:
    key, public, _print = _keys()
    receipt = _receipt(key)
    checked = verify_receipt(
        orjson.loads(orjson.dumps(receipt)),
        public_key=public,
        message_id="m-1",
        receiver="FR-ANSSI",
        sender="QA-NCSA",
    )
    assert checked["receipt"]["result"] == {"ok": True}
    assert checked["receipt"]["received_at"] == "2026-01-15T09:00:00+00:00"
    with pytest.raises(IntegrityError, match="message_id") as caught:
        verify_receipt(
            receipt, public_key=public, message_id="m-2", receiver="FR-ANSSI", sender="QA-NCSA"
        )
    assert caught.value.fields["reason"] == "bad-receipt"


def test_a_receipt_of_another_key_or_a_message_signature_is_refused() -> None:
    key, public, print_ = _keys()
    other, _other_public, _ = _keys()
    args: dict[str, Any] = {"message_id": "m-1", "receiver": "FR-ANSSI", "sender": "QA-NCSA"}
    with pytest.raises(IntegrityError, match="signature"):
        verify_receipt(_receipt(other), public_key=public, **args)
    # A message signature cannot pass for a receipt signature (different purpose line).
    receipt = _receipt(key)
    signed = sign_envelope(key, receipt["receipt"], fingerprint=print_)
    with pytest.raises(IntegrityError, match="signature"):
        verify_receipt(
            {"receipt": receipt["receipt"], "signature": signed["signature"]},
            public_key=public,
            **args,
        )
    with pytest.raises(IntegrityError, match="status"):
        verify_receipt(_receipt(key, status="maybe"), public_key=public, **args)
