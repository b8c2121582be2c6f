"""Trust anchors: the root certificates a C2PA validator must know for our files to read Trusted,
and the roots of the time-stamp authority that vouches for when they were signed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..keys import KeyStore
from ..keys.fingerprints import certificate_fingerprint
from .errors import TimeStampAnchorsUnreadable


@dataclass(frozen=True)
class TrustAnchors:
    """``certificates``: our signing roots; ``time_stamp_roots``: the time-stamp authority's
    roots (LPM_TSA_TRUST_ANCHORS); ``signers``: the serial numbers of our own leaf certificates,
    current and retired.

    c2pa keeps one trust list for signers and time-stamp authorities alike, so both kinds of
    root go into it; a manifest counts as ours only when its trusted signer is one of our own
    leaves (``is_ours``), never merely because it chains to a time-stamp authority's root.
    """

    certificates: tuple[x509.Certificate, ...]
    time_stamp_roots: tuple[x509.Certificate, ...] = ()
    signers: frozenset[int] = frozenset()

    @classmethod
    def from_keys(
        cls, keys: KeyStore, time_stamp_roots: Sequence[x509.Certificate] = ()
    ) -> TrustAnchors:
        # Every leaf, current and retired, is issued by the one root CA of the store.
        serials = frozenset(cert.serial_number for cert in keys.c2pa_certificates())
        return cls((keys.c2pa_root_certificate(),), tuple(time_stamp_roots), serials)

    @classmethod
    def none(cls) -> TrustAnchors:
        return cls(())

    def pem(self) -> str:
        return _pem(self.certificates)

    def context(self) -> Any:
        """A fresh c2pa ``Context`` whose trust list is exactly these anchors (one per Reader)."""
        everything = self.certificates + self.time_stamp_roots
        if not everything:
            return c2pa.Context()
        return c2pa.Context.from_dict({"trust": {"trust_anchors": _pem(everything)}})

    def is_ours(self, serial_number: int | None) -> bool:
        return serial_number is not None and serial_number in self.signers

    def describe(self) -> list[dict[str, str]]:
        return [_describe(cert) for cert in self.certificates]

    def describe_time_stamp_roots(self) -> list[dict[str, str]]:
        return [_describe(cert) for cert in self.time_stamp_roots]


def _pem(certificates: Sequence[x509.Certificate]) -> str:
    return "".join(cert.public_bytes(Encoding.PEM).decode("ascii") for cert in certificates)


def _describe(cert: x509.Certificate) -> dict[str, str]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "sha256_fingerprint": certificate_fingerprint(cert),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "pem": cert.public_bytes(Encoding.PEM).decode("ascii"),
    }


def anchors_from_pem(pems: Sequence[bytes]) -> TrustAnchors:
    certs: list[x509.Certificate] = []
    for pem in pems:
        certs.extend(x509.load_pem_x509_certificates(pem))
    return TrustAnchors(tuple(certs))


def time_stamp_roots(path: Path | None) -> tuple[x509.Certificate, ...]:
    """The PEM bundle at ``path`` (LPM_TSA_TRUST_ANCHORS); none without a path."""
    if path is None:
        return ()
    try:
        return tuple(x509.load_pem_x509_certificates(path.read_bytes()))
    except (OSError, ValueError) as exc:
        raise TimeStampAnchorsUnreadable(
            f"LPM_TSA_TRUST_ANCHORS ({path}) is not a readable PEM bundle: {exc}"
        ) from None
