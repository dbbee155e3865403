"""HTTPS: ``serve`` with a certificate answers TAXII over TLS 1.2 or later, and nothing older."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from taxii_seed import MEDIA, serve

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_speaks_tls_1_2_or_later(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    port = _free_port()
    url = f"sqlite:///{(tmp_path / 'watchkeeper.db').as_posix()}"
    process = serve(
        tmp_path,
        url,
        port,
        extra={"WATCHKEEPER_TLS_CERTFILE": str(cert), "WATCHKEEPER_TLS_KEYFILE": str(key)},
    )
    try:
        context = ssl.create_default_context(cafile=str(cert))
        response = None
        for _ in range(150):
            try:
                response = httpx.get(
                    f"https://127.0.0.1:{port}/taxii2/",
                    headers={"Accept": MEDIA},
                    verify=context,
                    timeout=2,
                )
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    pytest.fail(process.communicate()[1])
                time.sleep(0.2)
        assert response is not None
        assert response.status_code == 401
        assert response.headers["content-type"] == MEDIA
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        old = ssl.create_default_context(cafile=str(cert))
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises(ssl.SSLError), socket.create_connection(("127.0.0.1", port)) as raw:
            old.wrap_socket(raw, server_hostname="127.0.0.1")
    finally:
        process.terminate()
        process.communicate(timeout=20)
