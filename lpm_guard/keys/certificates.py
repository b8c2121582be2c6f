"""The C2PA signing chain: a self-signed ECDSA P-256 root CA and the ES256 leaf it issues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lpm_guard.keys.errors import CorruptKeyError

ORGANIZATION = "lpm-guard"
ROOT_COMMON_NAME = "lpm-guard C2PA root CA"
LEAF_COMMON_NAME = "lpm-guard C2PA signer"
ROOT_VALIDITY = timedelta(days=3652)
LEAF_VALIDITY = timedelta(days=730)
CLOCK_SKEW = timedelta(minutes=5)


def new_signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def create_root(
    root_key: ec.EllipticCurvePrivateKey, now: datetime | None = None
) -> x509.Certificate:
    now = now or datetime.now(UTC)
    public_key = root_key.public_key()
    name = _name(ROOT_COMMON_NAME)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    return builder.sign(root_key, hashes.SHA256())


def issue_leaf(
    root_key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    leaf_public_key: ec.EllipticCurvePublicKey,
    now: datetime | None = None,
) -> x509.Certificate:
    """A signer certificate, valid for ``LEAF_VALIDITY`` but never past the root."""
    now = now or datetime.now(UTC)
    not_after = min(now + LEAF_VALIDITY, root.not_valid_after_utc)
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(LEAF_COMMON_NAME))
        .issuer_name(root.subject)
        .public_key(leaf_public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_public_key), critical=False)
    )
    return builder.sign(root_key, hashes.SHA256())


def chain_pem(chain: list[x509.Certificate]) -> bytes:
    return b"".join(certificate.public_bytes(Encoding.PEM) for certificate in chain)


def load_chain(data: bytes, source: str) -> list[x509.Certificate]:
    """A leaf-first chain of two: the leaf, then the root that issued it."""
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise CorruptKeyError(f"{source} is not a PEM certificate chain") from error
    if len(chain) != 2:
        raise CorruptKeyError(f"{source} holds {len(chain)} certificates, expected leaf and root")
    leaf, root = chain
    try:
        leaf.verify_directly_issued_by(root)
    except (ValueError, TypeError) as error:
        raise CorruptKeyError(f"{source}: the leaf was not issued by the root") from error
    except InvalidSignature as error:
        raise CorruptKeyError(f"{source}: the leaf's signature does not verify") from error
    return chain
