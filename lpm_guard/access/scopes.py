"""OAuth2 scopes and roles: StrEnums, never loose strings."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    GENERATE_OFFLINE = "generate:offline"
    GENERATE_LIVE = "generate:live"
    IDENTITIES_WRITE = "identities:write"
    AUDIT_READ = "audit:read"
    REVIEW = "review"
    ADMIN = "admin"


class Role(StrEnum):
    RESEARCHER = "researcher"
    REVIEWER = "reviewer"
    ADMIN = "admin"
