"""Find the audit entry a file points at and prove it is in the log's latest signed checkpoint."""

from __future__ import annotations

from typing import Literal

from ..audit import (
    Checkpoint,
    CheckpointError,
    ProofError,
    Receipt,
    leaf_hash,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from ..audit.entries import format_timestamp
from ..auditing.services import AuditService
from ..errors import LpmGuardError
from .report import AuditEntryPublic, AuditReport, CheckpointModel, InclusionProofModel


def check_inclusion(
    audit: AuditService,
    index: int,
    *,
    source: Literal["c2pa", "watermark"],
    receipt: Receipt | None = None,
    signing_checkpoint: str | None = None,
) -> AuditReport:
    """Prove entry ``index`` against the latest signed checkpoint.

    With a ``receipt`` (from a manifest) the entry's leaf hash must equal the signed one; with a
    ``signing_checkpoint`` (the checkpoint note in the manifest) the latest checkpoint must be
    consistent with it, so the log has not been rewritten since the file was signed.
    """
    log = audit.log
    problems: list[str] = []
    # (1): the latest checkpoint, its signature checked against the log's public keys.
    checkpoint = audit.checkpoint()
    checkpoint_model = CheckpointModel.model_validate(checkpoint.to_json())
    # (2): the entry exists; its public fields and its leaf hash, recomputed from its bytes.
    try:
        stored = log.entry(index)
    except ProofError:
        return AuditReport(
            status="not_found",
            source=source,
            index=index,
            checkpoint=checkpoint_model,
            problems=[f"the log has no entry {index}"],
        )
    leaf = leaf_hash(stored.body)
    entry = AuditEntryPublic(
        index=index,
        timestamp=format_timestamp(stored.entry.timestamp),
        action=stored.entry.event.action,
        outcome=stored.entry.event.outcome,
        leaf_hash=leaf.hex(),
    )
    # (3): the receipt signed into the manifest names this very entry.
    if receipt is not None and receipt.leaf_hash != leaf:
        problems.append("the entry's leaf hash differs from the receipt in the manifest")
    # (4): the manifest's checkpoint is a prefix of the latest one (consistency proof).
    consistent = None
    if signing_checkpoint is not None:
        consistent = _consistent(audit, signing_checkpoint, checkpoint, problems)
        if consistent is False:
            problems.append("the log is not consistent with the checkpoint in the manifest")
    # (5): the inclusion proof from the leaf to the signed root (not a root the database says).
    if index >= checkpoint.tree_size:
        return AuditReport(
            status="failed" if problems else "pending",
            source=source,
            index=index,
            entry=entry,
            checkpoint=checkpoint_model,
            consistent_with_signing_checkpoint=consistent,
            problems=problems or ["the entry is newer than the latest signed checkpoint"],
        )
    proof_model = None
    try:
        proof = audit.inclusion_proof(index, checkpoint.tree_size)
        proof_model = InclusionProofModel.model_validate(proof.to_json())
        verify_inclusion(leaf, index, checkpoint.tree_size, proof.path, checkpoint.root_hash)
    except (ProofError, LpmGuardError) as exc:
        problems.append(f"the inclusion proof does not check: {exc}")
    return AuditReport(
        status="failed" if problems else "included",
        source=source,
        index=index,
        entry=entry,
        inclusion_proof=proof_model,
        checkpoint=checkpoint_model,
        consistent_with_signing_checkpoint=consistent,
        problems=problems,
    )


def _consistent(audit: AuditService, note: str, latest: Checkpoint, problems: list[str]) -> bool:
    latest_size = latest.tree_size
    try:
        signed = open_checkpoint(note, audit.log.verifiers)
    except CheckpointError as exc:
        problems.append(f"the checkpoint in the manifest does not open: {exc}")
        return False
    if signed.tree_size > latest_size:
        problems.append("the manifest's checkpoint is larger than the latest one")
        return False
    if signed.tree_size == 0:
        return True
    try:
        proof = audit.consistency_proof(signed.tree_size, latest_size)
        verify_consistency(
            signed.tree_size, latest_size, signed.root_hash, latest.root_hash, proof.path
        )
    except (ProofError, LpmGuardError):
        return False
    return True
