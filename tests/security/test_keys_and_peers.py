"""Node keys and the peer registry."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from watchkeeper.core import FixedClock
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.node import Node
from watchkeeper.security import (
    add_peer,
    get_peer,
    get_user,
    init_keys,
    keys_dir,
    list_peers,
    load_identity,
    load_signing_key,
    peer_account,
    peer_from_document,
    remove_peer,
)
from watchkeeper.security.keys import public_key_text
from watchkeeper.testing import FIXED_START


def test_init_writes_private_keys_0600_and_signs(tmp_path: Path) -> None:
    identity = init_keys(
        tmp_path, code="QA-NCSA", name="National CERT", country="QA", clock=FixedClock(FIXED_START)
    )
    folder = keys_dir(tmp_path)
    for name in ("signing.key", "encryption.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert load_identity(tmp_path) == identity
    signature = load_signing_key(tmp_path).sign(b"hello")
    Ed25519PrivateKey.from_private_bytes(b"\0" * 32)  # the API we rely on exists
    public = base64.b64decode(identity.signing_public_key)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(public).verify(signature, b"hello")
    assert len(identity.fingerprint) == 64


def test_second_init_refuses_and_force_keeps_old_keys(tmp_path: Path) -> None:
    clock = FixedClock(FIXED_START)
    init_keys(tmp_path, code="QA-NCSA", name="N", country="QA", clock=clock)
    before = (keys_dir(tmp_path) / "signing.key").read_bytes()
    with pytest.raises(Conflict, match="--force"):
        init_keys(tmp_path, code="QA-NCSA", name="N", country="QA", clock=clock)
    assert (keys_dir(tmp_path) / "signing.key").read_bytes() == before
    init_keys(tmp_path, code="QA-NCSA", name="N", country="QA", clock=clock, force=True)
    assert (keys_dir(tmp_path) / "signing.key").read_bytes() != before
    [aside] = keys_dir(tmp_path).glob("replaced-*")
    assert (aside / "signing.key").read_bytes() == before


@pytest.mark.parametrize(
    ("code", "country"),
    [("qa-ncsa", "QA"), ("QANCSA", "QA"), ("QA-NCSA", "Qatar"), ("QA-NCSA", "qa")],
)
def test_bad_code_or_country(tmp_path: Path, code: str, country: str) -> None:
    with pytest.raises(InvalidInput):
        init_keys(tmp_path, code=code, name="N", country=country, clock=FixedClock(FIXED_START))


def test_identity_missing_before_init(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="node init"):
        load_identity(tmp_path)


def test_peer_registry(node: Node, tmp_path: Path) -> None:
    other = init_keys(
        tmp_path / "other", code="KE-CERT", name="Kenya CERT", country="KE", clock=node.clock
    )
    document = other.document(url="https://ke.example/")
    with node.database.transaction() as session:
        peer = add_peer(
            session, clock=node.clock, actor="t", **peer_from_document(document, source="ke.json")
        )
        assert (peer.code, peer.url, peer.fingerprint) == (
            "KE-CERT",
            "https://ke.example",
            other.fingerprint,
        )
    with node.database.transaction() as session, pytest.raises(Conflict):
        add_peer(
            session, clock=node.clock, actor="t", **peer_from_document(document, source="ke.json")
        )
    with node.database.transaction() as session:
        account = peer_account(session, clock=node.clock, actor="t", code="KE-CERT")
        assert account.role_names == ["partner-node"]
        assert peer_account(session, clock=node.clock, actor="t", code="KE-CERT").id == account.id
    with node.database.transaction() as session:
        remove_peer(session, clock=node.clock, actor="t", code="KE-CERT")
    with node.database.reader() as session:
        assert list_peers(session) == []
        assert get_user(session, "peer:ke-cert").disabled
        with pytest.raises(NotFound):
            get_peer(session, "KE-CERT")
    with node.database.transaction() as session:  # registered again: the account comes back
        add_peer(
            session, clock=node.clock, actor="t", **peer_from_document(document, source="ke.json")
        )
        assert not peer_account(session, clock=node.clock, actor="t", code="KE-CERT").disabled


def test_peer_input_is_checked(node: Node) -> None:
    good = public_key_text(Ed25519PrivateKey.generate())
    cases = [
        ({"public_key": "not base64!"}, "public_key"),
        ({"public_key": base64.b64encode(b"short").decode()}, "public_key"),
        ({"encryption_key": "@@"}, "encryption_key"),
        ({"url": "ftp://x"}, "url"),
        ({"country": "Kenya"}, "country"),
        ({"expected_fingerprint": "00" * 32}, "fingerprint"),
    ]
    for override, field in cases:
        args = {
            "code": "KE-CERT",
            "url": "https://ke.example",
            "country": "KE",
            "public_key": good,
            **override,
        }
        with pytest.raises(InvalidInput) as caught, node.database.transaction() as session:
            add_peer(session, clock=node.clock, actor="t", **args)  # type: ignore[arg-type]
        assert caught.value.fields.get("field") == field, override


def test_peer_document_needs_its_fields() -> None:
    with pytest.raises(InvalidInput, match="missing code, signing_public_key"):
        peer_from_document({"country": "KE", "url": "https://x"}, source="f.json")
    with pytest.raises(InvalidInput, match="url"):
        peer_from_document(
            {"code": "KE-CERT", "country": "KE", "signing_public_key": "x"}, source="f.json"
        )
