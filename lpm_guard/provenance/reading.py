"""Read and validate the C2PA manifest of a file against our trust anchors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
from pydantic import ValidationError

from ..audit import Receipt
from .chain import Link, check_chain
from .manifest import MP4, PROVENANCE_LABEL, SEGMENT_LABEL, WATERMARK_ALG, reference_from_block
from .report import C2paReport, C2paStatus, ProvenanceClaim, SegmentInfo, ValidationCodes
from .trust import TrustAnchors

UNTRUSTED = "signingCredential.untrusted"
_STATES: dict[str, C2paStatus] = {"Trusted": "trusted", "Valid": "valid", "Invalid": "tampered"}


@dataclass(frozen=True)
class C2paReading:
    report: C2paReport
    reference: int | None
    receipt: Receipt | None


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
    return _interpret(store)


def _interpret(store: dict[str, Any]) -> C2paReading:
    label = store.get("active_manifest")
    manifests: dict[str, Any] = store.get("manifests", {})
    manifest = manifests.get(label or "", {})
    # (3): the validation state and codes of the active manifest.
    results = store.get("validation_results", {}).get("activeManifest", {})
    codes = _codes(results)
    status = _STATES.get(store.get("validation_state", ""), "tampered")
    # (4): our assertions, as signed.
    assertions = {a.get("label"): a.get("data") for a in manifest.get("assertions", [])}
    reference = _soft_binding(assertions.get("c2pa.soft-binding"))
    provenance = _provenance(assertions.get(PROVENANCE_LABEL))
    segment = _segment(assertions.get(SEGMENT_LABEL))
    signature = manifest.get("signature_info") or {}
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
    )
    return C2paReading(report, reference, receipt)


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
        failures = set(_codes(results).failure) - {UNTRUSTED}
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
                intact=report.status in ("trusted", "valid"),
            )
        )
    return links
