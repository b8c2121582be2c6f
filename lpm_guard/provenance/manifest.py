"""The manifest definitions we sign: labels in our namespace, assertions, live-segment fields."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from .. import __version__
from .models import ManifestLabel, ProvenanceRecord

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
WATERMARK_ALG = "org.lpm-guard.watermark.v3"
"""Our soft-binding algorithm id, in our own namespace until the C2PA soft-binding algorithm list
takes it: docs/soft-binding.md is the entry in that list's form."""
SOFTWARE_AGENT = {"name": "lpm-guard", "version": __version__}
PROVENANCE_LABEL = "org.lpm-guard.provenance"
SEGMENT_LABEL = "c2pa.livevideo.segment"
"""The per-segment assertion of C2PA 2.3 §19.3 (live video, one manifest per segment)."""
CONTINUITY_METHOD = "c2pa.manifestId"
PROVENANCE_VERSION = 1
MP4 = "video/mp4"


def new_label() -> ManifestLabel:
    """A fresh manifest label; we choose it before signing so the next segment can point at it."""
    return ManifestLabel(f"urn:c2pa:{uuid.uuid4()}")


def reference_bytes(reference: int) -> bytes:
    return reference.to_bytes(8, "big")


def reference_from_block(value: str) -> int | None:
    """The 64-bit reference from a soft-binding block value (base64), or None if malformed."""
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if len(raw) == 8 else None


def provenance_assertion(record: ProvenanceRecord) -> dict[str, Any]:
    return {
        "label": PROVENANCE_LABEL,
        "data": {
            "version": PROVENANCE_VERSION,
            "session_id": record.session_id,
            "audit": {
                **record.receipt.to_json(),
                "checkpoint": record.checkpoint_note,
            },
            "policy_version": record.policy_version,
            "consent_sha256": record.consent_sha256,
            "generator_version": record.generator_version,
        },
    }


def soft_binding_assertion(reference: int) -> dict[str, Any]:
    value = base64.b64encode(reference_bytes(reference)).decode("ascii")
    return {
        "label": "c2pa.soft-binding",
        "data": {
            "alg": WATERMARK_ALG,
            "blocks": [{"scope": {}, "value": value}],
        },
    }


def segment_assertion(
    stream_id: str, sequence_number: int, previous: ManifestLabel | None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sequenceNumber": sequence_number,
        "streamId": stream_id,
        "continuityMethod": CONTINUITY_METHOD,
    }
    if previous is not None:
        data["previousManifestId"] = previous
    return {"label": SEGMENT_LABEL, "data": data}


def build_manifest(
    record: ProvenanceRecord,
    *,
    title: str,
    label: ManifestLabel,
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The manifest definition for one output MP4 (c2pa-python ``Builder.from_json`` input)."""
    actions = {
        "label": "c2pa.actions",
        "data": {
            "actions": [
                {
                    "action": "c2pa.created",
                    "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                    "softwareAgent": SOFTWARE_AGENT,
                },
                {
                    # The watermark carries the reference of the c2pa.soft-binding assertion
                    # below: C2PA 2.2's "bound" watermark (c2pa checks the assertion is there).
                    "action": "c2pa.watermarked.bound",
                    "parameters": {
                        "description": "keyed invisible watermark in every frame",
                        "alg": WATERMARK_ALG,
                    },
                },
            ]
        },
    }
    return {
        "claim_generator_info": [SOFTWARE_AGENT],
        "title": title,
        "format": MP4,
        "label": label,
        "assertions": [
            actions,
            soft_binding_assertion(record.watermark_reference),
            provenance_assertion(record),
            *(extra or []),
        ],
    }
