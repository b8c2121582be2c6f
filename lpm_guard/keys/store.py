"""``KeyStore``: the service's keys, created on first start and rotated without losing old ones."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lpm_guard.keys import _layout, _material
from lpm_guard.keys._files import check_tree, ensure_private_directory, locked
from lpm_guard.keys.certificates import chain_pem
from lpm_guard.keys.encryption import DataCipher
from lpm_guard.keys.errors import KeyStoreMissingError
from lpm_guard.keys.fingerprints import certificate_fingerprint, public_key_fingerprint
from lpm_guard.keys.models import (
    ALGORITHMS,
    C2paCredentials,
    Fingerprint,
    KeyId,
    KeyInfo,
    KeyKind,
    KeyStatus,
    WatermarkKey,
)

_SECRET_KINDS = (KeyKind.WATERMARK, KeyKind.DATA_ENCRYPTION)


@dataclass(frozen=True, repr=False)
class _Keys:
    """One consistent reading of the store. Dicts are ordered current key first."""

    active: dict[KeyKind, KeyId]
    infos: list[KeyInfo]
    audit_signing_key: Ed25519PrivateKey
    audit_public_keys: dict[KeyId, Ed25519PublicKey]
    token_signing_key: ec.EllipticCurvePrivateKey
    token_public_keys: dict[KeyId, ec.EllipticCurvePublicKey]
    c2pa_private_key_pem: bytes
    c2pa_chains: dict[KeyId, list[x509.Certificate]]
    secrets: dict[KeyKind, dict[KeyId, bytes]]


class KeyStore:
    """The keys under one directory (mode 0700, files 0600).

    A store is a snapshot read at ``open`` (and after its own ``rotate``); a process that must
    see another process's rotation opens the store again.
    """

    def __init__(self, directory: Path, keys: _Keys) -> None:
        self._directory = directory
        self._keys = keys

    @classmethod
    def open(cls, directory: Path, *, create: bool = True) -> KeyStore:
        """Open the store, first creating any missing directory or kind when ``create``."""
        if create:
            ensure_private_directory(directory)
        elif not directory.is_dir():
            raise KeyStoreMissingError(f"no key store at {directory}")
        with locked(directory, exclusive=create):
            check_tree(directory)
            if create:
                now = datetime.now(UTC)
                for kind in KeyKind:
                    kind_dir = _layout.kind_directory(directory, kind)
                    ensure_private_directory(kind_dir)
                    if not _layout.has_active(kind_dir):
                        _layout.write_active(kind_dir, _create(kind_dir, kind, now))
                    _layout.remove_retired_private_keys(kind_dir, _layout.read_active(kind_dir))
            return cls(directory, _load(directory))

    def __repr__(self) -> str:
        active = ", ".join(f"{kind}={key_id}" for kind, key_id in self._keys.active.items())
        return f"KeyStore({str(self._directory)!r}, active: {active})"

    @property
    def directory(self) -> Path:
        return self._directory

    def active_key_id(self, kind: KeyKind) -> KeyId:
        return self._keys.active[kind]

    def audit_signing_key(self) -> Ed25519PrivateKey:
        return self._keys.audit_signing_key

    def audit_public_keys(self) -> list[Ed25519PublicKey]:
        """Every audit public key, current first, then retired ones newest first."""
        return list(self._keys.audit_public_keys.values())

    def token_signing_key(self) -> tuple[KeyId, ec.EllipticCurvePrivateKey]:
        """The current ES256 key that signs OAuth2 JWT access tokens, with its id (``kid``)."""
        return self._keys.active[KeyKind.TOKEN_SIGNING], self._keys.token_signing_key

    def token_public_keys(self) -> dict[KeyId, ec.EllipticCurvePublicKey]:
        """Every token-signing public key by id, current first: the JWKS."""
        return dict(self._keys.token_public_keys)

    def c2pa_signer(self) -> C2paCredentials:
        chain = self._keys.c2pa_chains[self._keys.active[KeyKind.C2PA]]
        return C2paCredentials(
            certificate_chain_pem=chain_pem(chain),
            private_key_pem=self._keys.c2pa_private_key_pem,
        )

    def c2pa_certificates(self) -> list[x509.Certificate]:
        """Every leaf certificate, current first, then retired ones newest first."""
        return [chain[0] for chain in self._keys.c2pa_chains.values()]

    def c2pa_root_certificate(self) -> x509.Certificate:
        """The CA that issued the current leaf: the trust anchor a C2PA validator needs."""
        return self._keys.c2pa_chains[self._keys.active[KeyKind.C2PA]][1]

    def watermark_key(self) -> WatermarkKey:
        return self.watermark_keys()[0]

    def watermark_keys(self) -> list[WatermarkKey]:
        """Every watermark key, current first: old ones still detect old watermarks."""
        secrets = self._keys.secrets[KeyKind.WATERMARK]
        return [WatermarkKey(key_id=key_id, secret=secret) for key_id, secret in secrets.items()]

    def data_cipher(self) -> DataCipher:
        return DataCipher(
            self._keys.active[KeyKind.DATA_ENCRYPTION],
            self._keys.secrets[KeyKind.DATA_ENCRYPTION],
        )

    def describe(self) -> list[KeyInfo]:
        """Every key by kind, current first; public parts only."""
        return list(self._keys.infos)

    def rotate(self, kind: KeyKind) -> KeyInfo:
        """Make a new current key of ``kind``; keep old public parts and secrets.

        The retired audit and C2PA private keys are deleted; the C2PA root CA issues the new leaf.
        """
        with locked(self._directory, exclusive=True):
            check_tree(self._directory)
            kind_dir = _layout.kind_directory(self._directory, kind)
            key_id = _create(kind_dir, kind, datetime.now(UTC))
            _layout.write_active(kind_dir, key_id)
            _layout.remove_retired_private_keys(kind_dir, key_id)
            self._keys = _load(self._directory)
        return next(info for info in self._keys.infos if info.key_id == key_id)


def _create(kind_dir: Path, kind: KeyKind, now: datetime) -> KeyId:
    if kind is KeyKind.AUDIT:
        key_id = _material.create_audit_key(kind_dir)
    elif kind is KeyKind.C2PA:
        key_id = _material.create_c2pa_key(kind_dir, now)
    elif kind is KeyKind.TOKEN_SIGNING:
        key_id = _material.create_token_key(kind_dir)
    else:
        key_id = _material.create_secret(kind_dir)
    _layout.write_record(kind_dir, _layout.KeyRecord(kind=kind, key_id=key_id, created_at=now))
    return key_id


def _load(directory: Path) -> _Keys:
    active: dict[KeyKind, KeyId] = {}
    records: dict[KeyKind, list[_layout.KeyRecord]] = {}
    for kind in KeyKind:
        kind_dir = _layout.kind_directory(directory, kind)
        # (1): the kind has a current key, named by its ``active`` file.
        active[kind] = _layout.read_active(kind_dir)
        # (2): the current key has metadata; the others follow it, newest first.
        found = _layout.read_records(kind_dir, kind)
        current = [record for record in found if record.key_id == active[kind]]
        if not current:
            raise KeyStoreMissingError(f"{kind_dir}: the current key {active[kind]} is missing")
        records[kind] = current + [record for record in found if record.key_id != active[kind]]

    # (3): every key file matches the id it is filed under (checked as each is loaded).
    audit_dir = _layout.kind_directory(directory, KeyKind.AUDIT)
    audit_public_keys = {
        record.key_id: _material.load_audit_public_key(audit_dir, record.key_id)
        for record in records[KeyKind.AUDIT]
    }
    token_dir = _layout.kind_directory(directory, KeyKind.TOKEN_SIGNING)
    token_public_keys = {
        record.key_id: _material.load_token_public_key(token_dir, record.key_id)
        for record in records[KeyKind.TOKEN_SIGNING]
    }
    c2pa_dir = _layout.kind_directory(directory, KeyKind.C2PA)
    c2pa_chains = {
        record.key_id: _material.load_c2pa_chain(c2pa_dir, record.key_id)
        for record in records[KeyKind.C2PA]
    }
    secrets = {
        kind: {
            record.key_id: _material.load_secret(
                _layout.kind_directory(directory, kind), record.key_id
            )
            for record in records[kind]
        }
        for kind in _SECRET_KINDS
    }
    # (4): the current signing keys are the private halves of the current public keys.
    audit_signing_key = _material.load_audit_private_key(audit_dir, active[KeyKind.AUDIT])
    c2pa_private_key_pem = _material.load_c2pa_private_key_pem(c2pa_dir, active[KeyKind.C2PA])
    token_signing_key = _material.load_token_private_key(token_dir, active[KeyKind.TOKEN_SIGNING])

    infos = [
        _info(record, active[kind], audit_public_keys, token_public_keys, c2pa_chains)
        for kind in KeyKind
        for record in records[kind]
    ]
    return _Keys(
        active=active,
        infos=infos,
        audit_signing_key=audit_signing_key,
        audit_public_keys=audit_public_keys,
        token_signing_key=token_signing_key,
        token_public_keys=token_public_keys,
        c2pa_private_key_pem=c2pa_private_key_pem,
        c2pa_chains=c2pa_chains,
        secrets=secrets,
    )


def _info(
    record: _layout.KeyRecord,
    active: KeyId,
    audit_public_keys: dict[KeyId, Ed25519PublicKey],
    token_public_keys: dict[KeyId, ec.EllipticCurvePublicKey],
    c2pa_chains: dict[KeyId, list[x509.Certificate]],
) -> KeyInfo:
    fingerprint = Fingerprint(record.key_id)
    public: str | None = None
    expires_at: datetime | None = None
    if record.kind is KeyKind.AUDIT:
        public_key = audit_public_keys[record.key_id]
        fingerprint = public_key_fingerprint(public_key)
        raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        public = base64.b64encode(raw).decode("ascii")
    elif record.kind is KeyKind.TOKEN_SIGNING:
        token_key = token_public_keys[record.key_id]
        fingerprint = public_key_fingerprint(token_key)
        public = token_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    elif record.kind is KeyKind.C2PA:
        chain = c2pa_chains[record.key_id]
        fingerprint = certificate_fingerprint(chain[0])
        public = chain_pem(chain).decode("ascii")
        expires_at = chain[0].not_valid_after_utc
    return KeyInfo(
        kind=record.kind,
        key_id=record.key_id,
        status=KeyStatus.ACTIVE if record.key_id == active else KeyStatus.RETIRED,
        algorithm=ALGORITHMS[record.kind],
        created_at=record.created_at,
        fingerprint=fingerprint,
        public=public,
        expires_at=expires_at,
    )
