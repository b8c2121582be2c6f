"""Audit actions, one function each, shared by the HTTP API and the CLI."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Mapping, Sequence
from typing import IO, Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.exc import SQLAlchemyError

from ..audit import (
    AuditLog,
    Checkpoint,
    ConsistencyProof,
    Event,
    InclusionProof,
    ProofError,
    Receipt,
    Report,
    StoredEntry,
    VerificationError,
)
from ..errors import InvalidRequest, NotFound
from . import search as _search
from .tags import AuditTag


class AuditService:
    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def record(
        self,
        tag: AuditTag | str,
        actor: str,
        *,
        outcome: str = "success",
        objects: Mapping[str, str] | None = None,
        reasons: Sequence[str] = (),
        payload: Mapping[str, Any] | None = None,
    ) -> Receipt:
        """Append one event. Callers pass hashes, never biometric data or secrets."""
        return self.log.append(
            Event(
                action=str(tag),
                actor=actor,
                outcome=outcome,
                objects=dict(objects or {}),
                reasons=tuple(reasons),
                payload=dict(payload or {}),
            )
        )

    def checkpoint(self, *, force: bool = False) -> Checkpoint:
        # Checkpoints are signed records of their own; logging each one would only grow the
        # log it has just sealed.
        return self.log.checkpoint(force=force)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> InclusionProof:
        try:
            return self.log.inclusion_proof(index, tree_size)
        except ProofError as exc:
            raise InvalidRequest(str(exc)) from None

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        try:
            return self.log.consistency_proof(old_size, new_size)
        except ProofError as exc:
            raise InvalidRequest(str(exc)) from None

    def read_entry(self, index: int, actor: str) -> StoredEntry:
        if index < 0:
            raise InvalidRequest("an entry index is never negative")
        try:
            entry = self.log.entry(index)
        except ProofError:
            raise NotFound(f"the log has no entry {index}") from None
        self.record(AuditTag.AUDIT_ENTRY_READ, actor, objects={"audit_entry": str(index)})
        return entry

    def search(
        self,
        actor: str,
        *,
        about: str | None = None,
        action: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> _search.Page:
        """Entries about an object id (actor or one of ``objects``) and/or with an action,
        newest first; the search itself is recorded, as reading an entry is."""
        about = about.strip() if about is not None else None
        if about == "":
            raise InvalidRequest("say what the entries are about: an id")
        if not 1 <= limit <= _search.MAX_PAGE:
            raise InvalidRequest(f"a page holds 1 to {_search.MAX_PAGE} entries")
        if before is not None and not 0 <= before <= _search.MAX_BEFORE:
            raise InvalidRequest(f"'before' is an entry index, 0 to {_search.MAX_BEFORE}")
        page = _search.search(self.log, about=about, action=action, before=before, limit=limit)
        query = {k: v for k, v in {"about": about, "action": action}.items() if v is not None}
        self.record(
            AuditTag.AUDIT_ENTRY_SEARCH,
            actor,
            payload={"query": query, "before": before, "found": len(page.entries)},
        )
        return page

    def indices(self, tag: AuditTag) -> list[int]:
        """Every entry index with this action, oldest first. Not recorded: it reveals no entry,
        and verification, which calls it, is public and unrecorded (provenance/services.py)."""
        return self.log.indices(tag.value)

    def verifier_keys(self) -> list[dict[str, str]]:
        """The public keys that sign checkpoints (Ed25519, raw, base64) and their vkeys."""
        keys = []
        for verifier in self.log.verifiers:
            raw = verifier.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
            keys.append(
                {
                    "name": verifier.name,
                    "key_hash": verifier.key_hash.hex(),
                    "public_key": base64.b64encode(raw).decode(),
                    "vkey": verifier.vkey,
                }
            )
        return keys

    def verify(self, actor: str) -> Report:
        """Verify the whole log; the result, good or bad, is itself recorded."""
        try:
            report = self.log.verify()
        except VerificationError as exc:
            with contextlib.suppress(SQLAlchemyError):  # a database that cannot be read
                self.record(AuditTag.AUDIT_LOG_VERIFY, actor, outcome="failure", reasons=[str(exc)])
            raise
        self.record(
            AuditTag.AUDIT_LOG_VERIFY,
            actor,
            payload={"tree_size": report.tree_size, "root_hash": report.root_hash.hex()},
        )
        return report

    def export(self, out: IO[str], actor: str) -> int:
        size = self.log.export(out)
        self.record(AuditTag.AUDIT_LOG_EXPORT, actor, payload={"tree_size": size})
        return size
