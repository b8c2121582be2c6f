"""Audit event tags, ``domain:object:action``."""

from __future__ import annotations

from enum import StrEnum


class AuditTag(StrEnum):
    AUDIT_CHECKPOINT_PUBLISH = "audit:checkpoint:publish"
    AUDIT_ENTRY_READ = "audit:entry:read"
    AUDIT_LOG_EXPORT = "audit:log:export"
    AUDIT_LOG_VERIFY = "audit:log:verify"
    CONSENT_CONSENT_ACCEPT = "consent:consent:accept"
    CONSENT_CONSENT_REFUSE = "consent:consent:refuse"
    CONSENT_CONSENT_REVOKE = "consent:consent:revoke"
    CONSENT_IDENTITY_CREATE = "consent:identity:create"
    CONSENT_INVITATION_CREATE = "consent:invitation:create"
    CONSENT_INVITATION_OPEN = "consent:invitation:open"
    CONSENT_PROTECTED_CREATE = "consent:protected:create"
    CONSENT_REQUEST_CHECK = "consent:request:check"
    CONSENT_SYNTHETIC_APPROVE = "consent:synthetic:approve"
    CONSENT_SYNTHETIC_ENROLL = "consent:synthetic:enroll"
    CONSENT_SYNTHETIC_REJECT = "consent:synthetic:reject"
    KEYS_KEY_ROTATE = "keys:key:rotate"
    SYSTEM_DATABASE_UPGRADE = "system:database:upgrade"
