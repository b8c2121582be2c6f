"""Sign a real JPEG with c2pa-python using the store's chain, then read and validate it."""

from __future__ import annotations

import io
from typing import Any

import c2pa
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from lpm_guard.keys import C2paCredentials, KeyKind, KeyStore

MANIFEST = {
    "claim_generator_info": [{"name": "lpm-guard", "version": "0.1.0"}],
    "title": "portrait.jpg",
    "format": "image/jpeg",
    "assertions": [
        {
            "label": "c2pa.actions",
            "data": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
                    }
                ]
            },
        }
    ],
}


def _sign(credentials: C2paCredentials, jpeg: bytes) -> bytes:
    info = c2pa.C2paSignerInfo(
        credentials.algorithm.encode(),
        credentials.certificate_chain_pem,
        credentials.private_key_pem,
        None,
    )
    signed = io.BytesIO()
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder.from_json(MANIFEST) as builder:
        builder.sign(signer, "image/jpeg", io.BytesIO(jpeg), signed)
    return signed.getvalue()


def _read(signed: bytes, context: Any = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    with c2pa.Reader("image/jpeg", io.BytesIO(signed), None, context) as reader:
        state = reader.get_validation_state()
        results = reader.get_validation_results()
        manifest = reader.get_active_manifest()
    assert isinstance(state, str) and isinstance(results, dict) and isinstance(manifest, dict)
    return state, results["activeManifest"], manifest


def _codes(results: dict[str, Any], outcome: str) -> list[str]:
    return [entry["code"] for entry in results.get(outcome, [])]


def test_signed_jpeg_validates_and_only_the_root_is_untrusted(
    store: KeyStore, tiny_jpeg: bytes
) -> None:
    signed = _sign(store.c2pa_signer(), tiny_jpeg)
    state, results, manifest = _read(signed)

    assert state == "Valid"
    assert _codes(results, "failure") == ["signingCredential.untrusted"]
    assert "claimSignature.validated" in _codes(results, "success")
    assert "assertion.dataHash.match" in _codes(results, "success")
    signature = manifest["signature_info"]
    assert signature["alg"].lower() == "es256"
    assert signature["issuer"] == "lpm-guard"
    assert signature["common_name"] == "lpm-guard C2PA signer"
    assert int(signature["cert_serial_number"]) == store.c2pa_certificates()[0].serial_number


def test_signed_jpeg_is_trusted_when_our_root_is_a_trust_anchor(
    store: KeyStore, tiny_jpeg: bytes
) -> None:
    signed = _sign(store.c2pa_signer(), tiny_jpeg)
    root_pem = store.c2pa_root_certificate().public_bytes(Encoding.PEM).decode()
    context = c2pa.Context.from_dict({"trust": {"trust_anchors": root_pem}})
    state, results, _ = _read(signed, context)

    assert state == "Trusted"
    assert _codes(results, "failure") == []
    assert "signingCredential.trusted" in _codes(results, "success")


@pytest.mark.parametrize("rotations", [1, 2])
def test_rotated_leaf_still_signs_and_old_assets_still_validate(
    store: KeyStore, tiny_jpeg: bytes, rotations: int
) -> None:
    old_signed = _sign(store.c2pa_signer(), tiny_jpeg)
    for _ in range(rotations):
        store.rotate(KeyKind.C2PA)
    new_signed = _sign(store.c2pa_signer(), tiny_jpeg)
    root_pem = store.c2pa_root_certificate().public_bytes(Encoding.PEM).decode()
    for signed in (old_signed, new_signed):
        context = c2pa.Context.from_dict({"trust": {"trust_anchors": root_pem}})
        state, results, _ = _read(signed, context)
        assert state == "Trusted"
        assert _codes(results, "failure") == []
