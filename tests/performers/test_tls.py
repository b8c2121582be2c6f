"""Workers over TLS with client certificates (mutual TLS): a gate without a certificate from the
worker's client CA, or one that does not trust the worker's CA, gets no performer."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from skimage import data

from lpm_guard.performers import Direction, PerformerUnavailable, portrait_of
from lpm_guard.performers.local import LocalBackend
from lpm_guard.performers.pool import client_tls
from lpm_guard.performers.remote import RemotePerformer
from lpm_guard.performers.server import server_tls
from tests.generator_workers import new_secret, worker_thread

PORTRAIT = portrait_of(data.astronaut())


def _issue(
    folder: Path, name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    usage: x509.ObjectIdentifier | None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    certificate = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    (folder / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    workers_ca = _issue(folder, "workers-ca", None, None)
    gates_ca = _issue(folder, "gates-ca", None, None)
    other_ca = _issue(folder, "other-ca", None, None)
    _issue(folder, "worker", workers_ca, ExtendedKeyUsageOID.SERVER_AUTH)
    _issue(folder, "gate", gates_ca, ExtendedKeyUsageOID.CLIENT_AUTH)
    _issue(folder, "stranger", other_ca, ExtendedKeyUsageOID.CLIENT_AUTH)
    return folder


def test_mutual_tls_admits_the_gate_with_its_certificate_only(pki: Path) -> None:
    secret = new_secret()
    tls = server_tls(str(pki / "worker.pem"), str(pki / "worker.key"), str(pki / "gates-ca.pem"))
    with worker_thread(LocalBackend(), secret, tls=tls) as url:
        assert url.startswith("wss://")
        gate = client_tls(str(pki / "workers-ca.pem"), str(pki / "gate.pem"), str(pki / "gate.key"))
        performer = RemotePerformer(url, secret, PORTRAIT, Direction(), tls=gate)
        try:
            first = next(iter(performer.frames()))
            assert first.index == 0 and first.rgb.shape == (512, 512, 3)
        finally:
            performer.close()
        refused = {
            "no certificate": client_tls(str(pki / "workers-ca.pem")),
            "another CA's certificate": client_tls(
                str(pki / "workers-ca.pem"), str(pki / "stranger.pem"), str(pki / "stranger.key")
            ),
            "a worker it does not trust": client_tls(
                str(pki / "other-ca.pem"), str(pki / "gate.pem"), str(pki / "gate.key")
            ),
        }
        for case, context in refused.items():
            with pytest.raises(PerformerUnavailable):
                RemotePerformer(url, secret, PORTRAIT, Direction(), tls=context)
                pytest.fail(f"{case}: connected")
