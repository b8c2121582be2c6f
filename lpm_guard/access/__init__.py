"""Access: accounts and roles, researcher applications, OAuth2 (Authlib) and daily quotas.

See ``docs/access.md``. The gate charges generated seconds with
``QuotaService.charge(subject, seconds)`` (``quotas``); routes guard themselves with
``lpm_guard.access.guards.require_scope``.
"""
