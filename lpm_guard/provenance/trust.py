"""Trust anchors: the root certificates a C2PA validator must know for our files to read Trusted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..keys import KeyStore
from ..keys.fingerprints import certificate_fingerprint


@dataclass(frozen=True)
class TrustAnchors:
    certificates: tuple[x509.Certificate, ...]

    @classmethod
    def from_keys(cls, keys: KeyStore) -> TrustAnchors:
        # Every leaf, current and retired, is issued by the one root CA of the store.
        return cls((keys.c2pa_root_certificate(),))

    @classmethod
    def none(cls) -> TrustAnchors:
        return cls(())

    def pem(self) -> str:
        return "".join(
            cert.public_bytes(Encoding.PEM).decode("ascii") for cert in self.certificates
        )

    def context(self) -> Any:
        """A fresh c2pa ``Context`` whose trust list is exactly these anchors (one per Reader)."""
        if not self.certificates:
            return c2pa.Context()
        return c2pa.Context.from_dict({"trust": {"trust_anchors": self.pem()}})

    def describe(self) -> list[dict[str, str]]:
        return [_describe(cert) for cert in self.certificates]


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
