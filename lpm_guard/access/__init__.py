"""Access: who may call what (roles, scopes; researchers and OAuth2 arrive in the Access issue)."""
