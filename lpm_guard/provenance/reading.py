"""Read and validate the C2PA manifest of a file against our trust anchors.

c2pa calls a manifest Invalid for any failure code; we tell apart what happened to the file
(tampered: a hash, a signature or an assertion does not match) from what is only true of the
signer's credential (expired, untrusted): an expired or untrusted credential is never tampering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
from pydantic import ValidationError

from ..audit import Receipt
from .chain import Link, check_chain
from .layout import read_layout, unhashed_payloads
from .manifest import MP4, PROVENANCE_LABEL, SEGMENT_LABEL, WATERMARK_ALG, reference_from_block
from .report import (
    C2paReport,
    C2paStatus,
    ProvenanceClaim,
    SegmentInfo,
    TimeStamp,
    ValidationCodes,
)
from .trust import TrustAnchors

UNTRUSTED = "signingCredential.untrusted"
EXPIRED = "signingCredential.expired"
# Failure codes about the signer's certificate, not the file: they never mean tampering.
CREDENTIAL_FAILURES = frozenset(
    {
        UNTRUSTED,
        EXPIRED,
        "signingCredential.invalid",
        "signingCredential.ocsp.revoked",
        "signingCredential.ocsp.unknown",
    }
)
INTACT: frozenset[C2paStatus] = frozenset({"trusted", "untrusted", "expired"})


@dataclass(frozen=True)
class C2paReading:
    report: C2paReport
    reference: int | None
    receipt: Receipt | None
    ours: bool = False
    """Signed by one of our own leaves under our root, with a valid claim signature: only then
    do the manifest's claims (audit receipt, soft binding) count."""


def read_c2pa(path: Path, anchors: TrustAnchors, *, bmff: bool = True) -> C2paReading:
    """Read the active manifest of an MP4; ``absent`` when there is none."""
    # (1): only ISO BMFF files carry the manifests we write.
    if not bmff:
        return C2paReading(C2paReport(status="absent"), None, None)
    # (2): c2pa validates signature, certificate chain (against our anchors) and content hash.
    try:
        with path.open("rb") as stream, c2pa.Reader(MP4, stream, None, anchors.context()) as r:
            store: dict[str, Any] = json.loads(r.json())
    except c2pa.C2paError as exc:
        text = str(exc)
        if text.startswith("ManifestNotFound"):
            return C2paReading(C2paReport(status="absent"), None, None)
        # A manifest store that is there but cannot be parsed has been damaged.
        return C2paReading(C2paReport(status="tampered", error=text), None, None)
    reading = _interpret(store, anchors)
    # (6): bytes in top-level boxes the hash leaves out (free, skip, mfra) were added after
    # signing: c2pa reads such a file as intact when the signer left those boxes out.
    hidden = unhashed_payloads(read_layout(path), _exclusions(store))
    if hidden:
        problems = [
            f"{box.size - box.header} bytes in a top-level '{box.type}' box at byte "
            f"{box.offset}, outside what the signature covers: added after signing"
            for box in hidden
        ]
        report = reading.report.model_copy(
            update={"status": "tampered", "problems": reading.report.problems + problems}
        )
        reading = C2paReading(report, reading.reference, reading.receipt, reading.ours)
    return reading


def _interpret(store: dict[str, Any], anchors: TrustAnchors) -> C2paReading:
    label = store.get("active_manifest")
    manifests: dict[str, Any] = store.get("manifests", {})
    manifest = manifests.get(label or "", {})
    # (3): the validation state and codes of the active manifest.
    results = store.get("validation_results", {}).get("activeManifest", {})
    codes = _codes(results)
    signature = manifest.get("signature_info") or {}
    serial = _serial(signature.get("cert_serial_number"))
    ours = (
        "signingCredential.trusted" in codes.success
        and "claimSignature.validated" in codes.success
        and (not anchors.signers or anchors.is_ours(serial))
    )
    status, problems = _status(store.get("validation_state", ""), codes, ours)
    time_stamp = _time_stamp(signature, codes)
    # (4): our assertions, as signed.
    assertions = {a.get("label"): a.get("data") for a in manifest.get("assertions", [])}
    reference = _soft_binding(assertions.get("c2pa.soft-binding"))
    provenance = _provenance(assertions.get(PROVENANCE_LABEL))
    segment = _segment(assertions.get(SEGMENT_LABEL))
    signer = " / ".join(str(signature[k]) for k in ("issuer", "common_name") if k in signature)
    # (5): a recording made of live segments: check the chain its ingredients form.
    chain = None
    links = _ingredient_links(manifest, manifests)
    if links:
        chain = check_chain(links, from_start=True)
    receipt = None
    if provenance is not None:
        receipt = Receipt.from_json(provenance.audit.model_dump())
    report = C2paReport(
        status=status,
        manifest_id=label,
        signer=signer or None,
        codes=codes,
        watermark_reference=None if reference is None else f"{reference:016x}",
        provenance=provenance,
        segment=segment,
        chain=chain,
        time_stamp=time_stamp,
        problems=problems,
    )
    return C2paReading(report, reference, receipt, ours)


def _status(state: str, codes: ValidationCodes, ours: bool) -> tuple[C2paStatus, list[str]]:
    """What happened to the file (tampered) before what is true of its signer's credential
    (expired, untrusted); a Trusted manifest under a root that is not ours is untrusted."""
    failures = set(codes.failure)
    altered = sorted(failures - CREDENTIAL_FAILURES)
    if altered or state not in ("Trusted", "Valid", "Invalid"):
        return "tampered", [f"the check {code} failed" for code in altered]
    if EXPIRED in failures:
        untrusted_stamp = "timeStamp.untrusted" in codes.informational
        why = (
            "its time-stamp comes from an authority we do not trust"
            if untrusted_stamp
            else "it carries no time-stamp"
        )
        return "expired", [
            "the signing certificate has expired and nothing shows the manifest was signed "
            f"while it was valid: {why}"
        ]
    if failures or state != "Trusted":
        return "untrusted", ["the signing certificate does not chain to one of our roots"]
    if not ours:
        return "untrusted", ["signed under a trusted root, but not by one of our signers"]
    return "trusted", []


def _time_stamp(signature: dict[str, Any], codes: ValidationCodes) -> TimeStamp | None:
    stamped = {"timeStamp.validated", "timeStamp.trusted"} & set(codes.success)
    if not stamped and "timeStamp.untrusted" not in codes.informational:
        return None
    at = signature.get("time")
    return TimeStamp(
        signed_at=str(at) if at else None, trusted="timeStamp.trusted" in codes.success
    )


def _serial(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _exclusions(store: dict[str, Any]) -> list[str]:
    """The xpaths the active manifest's BMFF hash leaves out."""
    manifest = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    for assertion in manifest.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.hash.bmff"):
            data = assertion.get("data") or {}
            return [str(x.get("xpath", "")) for x in data.get("exclusions", []) or []]
    return []


def _codes(results: dict[str, Any]) -> ValidationCodes:
    return ValidationCodes(
        success=[e["code"] for e in results.get("success", [])],
        informational=[e["code"] for e in results.get("informational", [])],
        failure=[e["code"] for e in results.get("failure", [])],
    )


def _soft_binding(data: Any) -> int | None:
    if not isinstance(data, dict) or data.get("alg") != WATERMARK_ALG:
        return None
    blocks = data.get("blocks") or []
    if not blocks or not isinstance(blocks[0], dict):
        return None
    return reference_from_block(str(blocks[0].get("value", "")))


def _provenance(data: Any) -> ProvenanceClaim | None:
    if not isinstance(data, dict):
        return None
    try:
        claim = ProvenanceClaim.model_validate(data)
        Receipt.from_json(claim.audit.model_dump())
    except (ValidationError, ValueError):
        return None
    return claim


def _segment(data: Any) -> SegmentInfo | None:
    if not isinstance(data, dict):
        return None
    try:
        return SegmentInfo(
            stream_id=str(data["streamId"]),
            sequence_number=int(data["sequenceNumber"]),
            previous_manifest_id=data.get("previousManifestId"),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _ingredient_links(manifest: dict[str, Any], manifests: dict[str, Any]) -> list[Link]:
    links = []
    for ingredient in manifest.get("ingredients", []):
        if ingredient.get("relationship") != "componentOf":
            continue
        label = ingredient.get("active_manifest")
        data = manifests.get(label or "", {})
        assertions = {a.get("label"): a.get("data") for a in data.get("assertions", [])}
        results = (ingredient.get("validation_results") or {}).get("activeManifest", {})
        failures = set(_codes(results).failure) - CREDENTIAL_FAILURES
        intact = label is not None and not failures
        links.append(
            Link(
                name=str(ingredient.get("title", "?")),
                manifest_id=label,
                segment=_segment(assertions.get(SEGMENT_LABEL)),
                intact=intact,
            )
        )
    return links


def read_links(paths: list[Path], anchors: TrustAnchors) -> list[Link]:
    """Read separately stored segment files as chain links, in the order given."""
    links = []
    for path in paths:
        reading = read_c2pa(path, anchors)
        report = reading.report
        links.append(
            Link(
                name=path.name,
                manifest_id=report.manifest_id,
                segment=report.segment,
                intact=report.status in INTACT,
            )
        )
    return links
