"""lpm_guard.audit — an append-only, tamper-evident Merkle log (RFC 9162 hashing).

A library: it imports nothing from the gate or the other stages.
"""

from .checkpoints import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint, sign_checkpoint
from .entries import Entry, Event, LeafHash, Receipt
from .errors import (
    AppendOnlyViolation,
    AuditError,
    CheckpointError,
    ProofError,
    VerificationError,
)
from .merkle import leaf_hash, node_hash, verify_consistency, verify_inclusion
from .storage import AuditLog, ConsistencyProof, InclusionProof, StoredEntry
from .verify import Report, verify_export

__all__ = [
    "AppendOnlyViolation",
    "AuditError",
    "AuditLog",
    "Checkpoint",
    "CheckpointError",
    "ConsistencyProof",
    "Entry",
    "Event",
    "InclusionProof",
    "LeafHash",
    "NoteSigner",
    "NoteVerifier",
    "ProofError",
    "Receipt",
    "Report",
    "StoredEntry",
    "VerificationError",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "sign_checkpoint",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
]
