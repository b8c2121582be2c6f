from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from lpm_guard.keys import KeyStore
from lpm_guard.keys.certificates import (
    chain_pem,
    create_root,
    issue_leaf,
    load_chain,
    new_signing_key,
)
from lpm_guard.keys.errors import CorruptKeyError


def _extension_oids(certificate: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return {extension.oid for extension in certificate.extensions}


def _names(certificate: x509.Name) -> dict[x509.ObjectIdentifier, str]:
    return {attribute.oid: str(attribute.value) for attribute in certificate}


def _assert_p256_es256(certificate: x509.Certificate) -> None:
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert isinstance(public_key.curve, ec.SECP256R1)
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
    assert certificate.version is x509.Version.v3


def _validity(certificate: x509.Certificate) -> timedelta:
    return certificate.not_valid_after_utc - certificate.not_valid_before_utc


@pytest.fixture
def chain(store: KeyStore) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(store.c2pa_signer().certificate_chain_pem)


def test_the_chain_is_leaf_then_root(store: KeyStore, chain: list[x509.Certificate]) -> None:
    leaf, root = chain
    assert leaf == store.c2pa_certificates()[0]
    assert root == store.c2pa_root_certificate()
    leaf.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)


def test_root_has_exactly_the_ca_extensions(chain: list[x509.Certificate]) -> None:
    root = chain[1]
    _assert_p256_es256(root)
    assert root.subject == root.issuer
    assert _names(root.subject)[NameOID.ORGANIZATION_NAME] == "lpm-guard"
    assert _extension_oids(root) == {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    }
    basic = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca
    assert basic.value.path_length == 0
    usage = root.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature
    assert not usage.value.content_commitment
    assert not usage.value.key_encipherment
    assert not usage.value.data_encipherment
    assert not usage.value.key_agreement
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert not ski.critical
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(root.public_key())
    assert timedelta(days=3650) <= _validity(root) <= timedelta(days=3653)


def test_leaf_has_exactly_the_c2pa_signer_extensions(chain: list[x509.Certificate]) -> None:
    leaf, root = chain
    _assert_p256_es256(leaf)
    assert leaf.issuer == root.subject
    assert _names(leaf.subject) == {
        NameOID.ORGANIZATION_NAME: "lpm-guard",
        NameOID.COMMON_NAME: "lpm-guard C2PA signer",
    }
    assert _extension_oids(leaf) == {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    }
    basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert not basic.value.ca
    assert basic.value.path_length is None
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign
    assert not usage.value.crl_sign
    assert not usage.value.content_commitment
    assert not usage.value.key_encipherment
    assert not usage.value.data_encipherment
    assert not usage.value.key_agreement
    extended = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(extended.value) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    authority = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert authority.value.key_identifier == root_ski.digest
    assert authority.value.authority_cert_issuer is None
    ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(leaf.public_key())
    assert timedelta(days=729) <= _validity(leaf) <= timedelta(days=731)


def test_the_leaf_is_valid_now(chain: list[x509.Certificate]) -> None:
    now = datetime.now(UTC)
    for certificate in chain:
        assert certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc


def test_a_leaf_never_outlives_its_root() -> None:
    root_key = new_signing_key()
    issued = datetime.now(UTC)
    root = create_root(root_key, issued)
    late = issued + timedelta(days=3600)
    leaf = issue_leaf(root_key, root, new_signing_key().public_key(), late)
    assert leaf.not_valid_after_utc == root.not_valid_after_utc


def test_load_chain_refuses_a_leaf_from_another_root(chain: list[x509.Certificate]) -> None:
    other_key = new_signing_key()
    other_root = create_root(other_key)
    with pytest.raises(CorruptKeyError, match=r"not issued by the root|does not verify"):
        load_chain(chain_pem([chain[0], other_root]), "test chain")
    with pytest.raises(CorruptKeyError, match="expected leaf and root"):
        load_chain(chain_pem([chain[0]]), "test chain")
