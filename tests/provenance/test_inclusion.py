"""check_inclusion: the audit side of verification, directly against a real log."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lpm_guard.audit import NoteSigner, sign_checkpoint

from lpm_guard.auditing.services import AuditService
from lpm_guard.provenance.inclusion import check_inclusion
from lpm_guard.provenance.models import ProvenanceRecord
from lpm_guard.runtime import Runtime


def test_an_index_past_the_end_of_the_log_is_not_found(
    runtime: Runtime, record: ProvenanceRecord
) -> None:
    audit = AuditService(runtime.audit)
    report = check_inclusion(audit, runtime.audit.size() + 5, source="watermark")
    assert report.status == "not_found"
    assert report.checkpoint is not None


def test_a_checkpoint_signed_by_another_key_is_refused(
    runtime: Runtime, record: ProvenanceRecord
) -> None:
    audit = AuditService(runtime.audit)
    origin = runtime.settings.audit_origin
    forged = sign_checkpoint(
        NoteSigner(origin, Ed25519PrivateKey.generate()),
        record.receipt.tree_size,
        runtime.audit.root(record.receipt.tree_size),
        datetime.now(UTC),
    )
    report = check_inclusion(
        audit,
        record.receipt.index,
        source="c2pa",
        receipt=record.receipt,
        signing_checkpoint=forged.note,
    )
    assert report.status == "failed"
    assert report.consistent_with_signing_checkpoint is False
    assert any("does not open" in p for p in report.problems)


def test_a_checkpoint_over_a_different_history_is_inconsistent(
    runtime: Runtime, record: ProvenanceRecord
) -> None:
    # Signed with the log's own key over a root the log never had: a forked history.
    audit = AuditService(runtime.audit)
    signer = NoteSigner(runtime.settings.audit_origin, runtime.keys.audit_signing_key())
    forked = sign_checkpoint(signer, 3, b"\x42" * 32, datetime.now(UTC))
    report = check_inclusion(
        audit, record.receipt.index, source="c2pa", signing_checkpoint=forked.note
    )
    assert report.status == "failed"
    assert report.consistent_with_signing_checkpoint is False


def test_an_entry_is_included_with_a_checkpoint_of_the_signing_time(
    runtime: Runtime, record: ProvenanceRecord
) -> None:
    audit = AuditService(runtime.audit)
    for i in range(5):  # the log grows after the file was signed
        audit.record("test:other:thing", f"system:{i}")
    runtime.audit.checkpoint(force=True)
    report = check_inclusion(
        audit,
        record.receipt.index,
        source="c2pa",
        receipt=record.receipt,
        signing_checkpoint=record.checkpoint_note,
    )
    assert report.status == "included", report.problems
    assert report.consistent_with_signing_checkpoint is True
    assert report.checkpoint is not None
    assert report.checkpoint.tree_size == runtime.audit.size()
