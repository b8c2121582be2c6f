"""Audit event tags, ``domain:object:action``."""

from __future__ import annotations

from enum import StrEnum


class AuditTag(StrEnum):
    AUDIT_CHECKPOINT_PUBLISH = "audit:checkpoint:publish"
    AUDIT_ENTRY_READ = "audit:entry:read"
    AUDIT_LOG_EXPORT = "audit:log:export"
    AUDIT_LOG_VERIFY = "audit:log:verify"
    KEYS_KEY_ROTATE = "keys:key:rotate"
    SYSTEM_DATABASE_UPGRADE = "system:database:upgrade"
