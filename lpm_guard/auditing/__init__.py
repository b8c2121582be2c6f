"""The gate's side of the audit log: event tags, services, and routes."""
