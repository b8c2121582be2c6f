"""Audit event tags, ``domain:object:action``."""

from __future__ import annotations

from enum import StrEnum


class AuditTag(StrEnum):
    ACCESS_ACCOUNT_CREATE = "access:account:create"
    ACCESS_ACCOUNT_DISABLE = "access:account:disable"
    ACCESS_ACCOUNT_ENABLE = "access:account:enable"
    ACCESS_ACCOUNT_PASSWORD_RESET = "access:account:password-reset"  # noqa: S105
    ACCESS_ACCOUNT_PASSWORD_CHANGE = "access:account:password-change"  # noqa: S105
    ACCESS_APPLICATION_APPROVE = "access:application:approve"
    ACCESS_APPLICATION_DENY = "access:application:deny"
    ACCESS_APPLICATION_REINSTATE = "access:application:reinstate"
    ACCESS_APPLICATION_SUBMIT = "access:application:submit"
    ACCESS_APPLICATION_SUSPEND = "access:application:suspend"
    ACCESS_CLIENT_CREATE = "access:client:create"
    ACCESS_CLIENT_REVOKE = "access:client:revoke"
    ACCESS_LOGIN_FAILURE = "access:login:failure"
    ACCESS_LOGIN_SUCCESS = "access:login:success"
    ACCESS_LOGIN_THROTTLE = "access:login:throttle"
    ACCESS_QUOTA_CHANGE = "access:quota:change"
    ACCESS_QUOTA_CHARGE = "access:quota:charge"
    ACCESS_QUOTA_EXCEED = "access:quota:exceed"
    ACCESS_QUOTA_REFUND = "access:quota:refund"
    ACCESS_TOKEN_ISSUE = "access:token:issue"  # noqa: S105
    ACCESS_TOKEN_REUSE = "access:token:reuse"  # noqa: S105
    ACCESS_TOKEN_REVOKE = "access:token:revoke"  # noqa: S105
    AUDIT_CHECKPOINT_PUBLISH = "audit:checkpoint:publish"
    AUDIT_ENTRY_READ = "audit:entry:read"
    AUDIT_ENTRY_SEARCH = "audit:entry:search"
    AUDIT_LOG_EXPORT = "audit:log:export"
    AUDIT_LOG_VERIFY = "audit:log:verify"
    CONSENT_ADDRESS_BLOCK = "consent:address:block"
    CONSENT_CAPTURE_OPEN = "consent:capture:open"
    CONSENT_CAPTURE_VIEW = "consent:capture:view"
    CONSENT_CONSENT_ACCEPT = "consent:consent:accept"
    CONSENT_CONSENT_APPROVE = "consent:consent:approve"
    CONSENT_CONSENT_REFUSE = "consent:consent:refuse"
    CONSENT_CONSENT_REJECT = "consent:consent:reject"
    CONSENT_CONSENT_REVOKE = "consent:consent:revoke"
    CONSENT_IDENTITY_CREATE = "consent:identity:create"
    CONSENT_INVITATION_CREATE = "consent:invitation:create"
    CONSENT_INVITATION_OPEN = "consent:invitation:open"
    CONSENT_INVITATION_REFUSE = "consent:invitation:refuse"
    CONSENT_INVITATION_REPORT = "consent:invitation:report"
    CONSENT_PROTECTED_CREATE = "consent:protected:create"
    CONSENT_REQUEST_CHECK = "consent:request:check"
    CONSENT_SYNTHETIC_APPROVE = "consent:synthetic:approve"
    CONSENT_SYNTHETIC_ENROLL = "consent:synthetic:enroll"
    CONSENT_SYNTHETIC_REJECT = "consent:synthetic:reject"
    GENERATION_JOB_COMPLETE = "generation:job:complete"
    GENERATION_JOB_FAIL = "generation:job:fail"
    GENERATION_REQUEST_ALLOW = "generation:request:allow"
    GENERATION_REQUEST_DENY = "generation:request:deny"
    KEYS_KEY_ROTATE = "keys:key:rotate"
    SESSION_INSTRUCTIONS_DENY = "session:instructions:deny"
    SESSION_SPEECH_DENY = "session:speech:deny"
    SESSION_STREAM_REVOKE = "session:stream:revoke"
    SESSION_STREAM_STOP = "session:stream:stop"
    SYSTEM_DATABASE_UPGRADE = "system:database:upgrade"
