"""Key actions shared by the CLI and (later) the admin API; each records its audit event."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..audit import NoteVerifier
from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from . import pinning
from .models import KeyInfo, KeyKind

if TYPE_CHECKING:
    from ..runtime import Runtime


def describe_keys(runtime: Runtime) -> list[dict[str, Any]]:
    """Public parts and fingerprints only; audit keys also as the vkey platforms pin."""
    shown = []
    for info in runtime.keys.describe():
        item: dict[str, Any] = {
            "kind": info.kind.value,
            "key_id": info.key_id,
            "status": info.status.value,
            "algorithm": info.algorithm.value,
            "created_at": info.created_at.isoformat(),
            "fingerprint": info.fingerprint,
            "public": info.public,
            "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        }
        if info.kind is KeyKind.AUDIT and info.public:
            public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(info.public))
            item["checkpoint_vkey"] = NoteVerifier(runtime.settings.audit_origin, public_key).vkey
        shown.append(item)
    return shown


def rotate_key(runtime: Runtime, kind: KeyKind, actor: str) -> KeyInfo:
    """Make a new current key of ``kind``; old public keys and secrets stay to verify old work.

    A new audit key signs a fresh checkpoint at once, so the log is sealed under it.
    """
    from ..runtime import open_audit_log

    info = runtime.keys.rotate(kind)
    # Every node must now use the new key: the database pins it (the key directory is shared).
    pinning.repin(runtime.engine, info, runtime.node_id)
    if kind is KeyKind.AUDIT:
        runtime.audit = open_audit_log(runtime.settings, runtime.engine, runtime.keys)
    AuditService(runtime.audit).record(
        AuditTag.KEYS_KEY_ROTATE,
        actor,
        objects={"key": f"{kind.value}:{info.key_id}"},
        payload={"algorithm": info.algorithm.value, "fingerprint": info.fingerprint},
    )
    if kind is KeyKind.AUDIT:
        runtime.audit.checkpoint(force=True)
    return info
