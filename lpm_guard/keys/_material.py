"""Creating and loading each kind's key material, checking every file against its key id."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from lpm_guard.keys._files import read_private, write_private
from lpm_guard.keys._layout import (
    CHAIN_SUFFIX,
    PRIVATE_KEY_SUFFIX,
    PUBLIC_KEY_SUFFIX,
    ROOT_CERTIFICATE,
    ROOT_KEY,
    SECRET_SUFFIX,
    key_file,
)
from lpm_guard.keys.certificates import (
    chain_pem,
    create_root,
    issue_leaf,
    load_chain,
    new_signing_key,
)
from lpm_guard.keys.errors import CorruptKeyError
from lpm_guard.keys.fingerprints import public_key_id, secret_key_id
from lpm_guard.keys.models import KeyId

SECRET_SIZE = 32


def private_key_pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _load_private_key(path: Path) -> Ed25519PrivateKey | ec.EllipticCurvePrivateKey:
    try:
        key = load_pem_private_key(read_private(path), password=None)
    except (ValueError, TypeError) as error:
        raise CorruptKeyError(f"{path} is not an unencrypted PEM private key") from error
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    if isinstance(key, Ed25519PrivateKey):
        return key
    raise CorruptKeyError(f"{path} holds a private key of an unexpected type")


def create_audit_key(kind_dir: Path) -> KeyId:
    key = Ed25519PrivateKey.generate()
    public_key = key.public_key()
    key_id = public_key_id(public_key)
    write_private(key_file(kind_dir, key_id, PRIVATE_KEY_SUFFIX), private_key_pem(key))
    write_private(
        key_file(kind_dir, key_id, PUBLIC_KEY_SUFFIX),
        public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
    )
    return key_id


def load_audit_public_key(kind_dir: Path, key_id: KeyId) -> Ed25519PublicKey:
    path = key_file(kind_dir, key_id, PUBLIC_KEY_SUFFIX)
    try:
        public_key = load_pem_public_key(read_private(path))
    except ValueError as error:
        raise CorruptKeyError(f"{path} is not a PEM public key") from error
    if not isinstance(public_key, Ed25519PublicKey):
        raise CorruptKeyError(f"{path} does not hold an Ed25519 public key")
    if public_key_id(public_key) != key_id:
        raise CorruptKeyError(f"{path} does not hold the public key {key_id}")
    return public_key


def load_audit_private_key(kind_dir: Path, key_id: KeyId) -> Ed25519PrivateKey:
    path = key_file(kind_dir, key_id, PRIVATE_KEY_SUFFIX)
    key = _load_private_key(path)
    if not isinstance(key, Ed25519PrivateKey) or public_key_id(key.public_key()) != key_id:
        raise CorruptKeyError(f"{path} does not hold the Ed25519 private key {key_id}")
    return key


def create_token_key(kind_dir: Path) -> KeyId:
    """An ES256 (P-256) key that signs OAuth2 JWT access tokens."""
    key = new_signing_key()
    public_key = key.public_key()
    key_id = public_key_id(public_key)
    write_private(key_file(kind_dir, key_id, PRIVATE_KEY_SUFFIX), private_key_pem(key))
    write_private(
        key_file(kind_dir, key_id, PUBLIC_KEY_SUFFIX),
        public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
    )
    return key_id


def load_token_public_key(kind_dir: Path, key_id: KeyId) -> ec.EllipticCurvePublicKey:
    path = key_file(kind_dir, key_id, PUBLIC_KEY_SUFFIX)
    try:
        public_key = load_pem_public_key(read_private(path))
    except ValueError as error:
        raise CorruptKeyError(f"{path} is not a PEM public key") from error
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise CorruptKeyError(f"{path} does not hold a P-256 public key")
    if public_key_id(public_key) != key_id:
        raise CorruptKeyError(f"{path} does not hold the public key {key_id}")
    return public_key


def load_token_private_key(kind_dir: Path, key_id: KeyId) -> ec.EllipticCurvePrivateKey:
    path = key_file(kind_dir, key_id, PRIVATE_KEY_SUFFIX)
    key = _load_private_key(path)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or public_key_id(key.public_key()) != key_id:
        raise CorruptKeyError(f"{path} does not hold the ES256 private key {key_id}")
    return key


def _root(kind_dir: Path, now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_path, certificate_path = kind_dir / ROOT_KEY, kind_dir / ROOT_CERTIFICATE
    if not key_path.exists():
        root_key = new_signing_key()
        root = create_root(root_key, now)
        write_private(key_path, private_key_pem(root_key))
        write_private(certificate_path, root.public_bytes(Encoding.PEM))
        return root_key, root
    loaded = _load_private_key(key_path)
    try:
        root = x509.load_pem_x509_certificate(read_private(certificate_path))
    except ValueError as error:
        raise CorruptKeyError(f"{certificate_path} is not a PEM certificate") from error
    if (
        not isinstance(loaded, ec.EllipticCurvePrivateKey)
        or loaded.public_key() != root.public_key()
    ):
        raise CorruptKeyError(f"{key_path} is not the private key of {certificate_path}")
    return loaded, root


def create_c2pa_key(kind_dir: Path, now: datetime) -> KeyId:
    root_key, root = _root(kind_dir, now)
    leaf_key = new_signing_key()
    leaf = issue_leaf(root_key, root, leaf_key.public_key(), now)
    key_id = public_key_id(leaf_key.public_key())
    write_private(key_file(kind_dir, key_id, PRIVATE_KEY_SUFFIX), private_key_pem(leaf_key))
    write_private(key_file(kind_dir, key_id, CHAIN_SUFFIX), chain_pem([leaf, root]))
    return key_id


def load_c2pa_chain(kind_dir: Path, key_id: KeyId) -> list[x509.Certificate]:
    path = key_file(kind_dir, key_id, CHAIN_SUFFIX)
    chain = load_chain(read_private(path), str(path))
    leaf_key = chain[0].public_key()
    if not isinstance(leaf_key, ec.EllipticCurvePublicKey) or public_key_id(leaf_key) != key_id:
        raise CorruptKeyError(f"{path} does not hold the certificate of key {key_id}")
    return chain


def load_c2pa_private_key_pem(kind_dir: Path, key_id: KeyId) -> bytes:
    path = key_file(kind_dir, key_id, PRIVATE_KEY_SUFFIX)
    key = _load_private_key(path)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or public_key_id(key.public_key()) != key_id:
        raise CorruptKeyError(f"{path} does not hold the ES256 private key {key_id}")
    return private_key_pem(key)


def create_secret(kind_dir: Path) -> KeyId:
    secret = secrets.token_bytes(SECRET_SIZE)
    key_id = secret_key_id(secret)
    write_private(key_file(kind_dir, key_id, SECRET_SUFFIX), secret)
    return key_id


def load_secret(kind_dir: Path, key_id: KeyId) -> bytes:
    path = key_file(kind_dir, key_id, SECRET_SUFFIX)
    secret = read_private(path)
    if len(secret) != SECRET_SIZE or secret_key_id(secret) != key_id:
        raise CorruptKeyError(f"{path} does not hold the {SECRET_SIZE}-byte secret {key_id}")
    return secret
