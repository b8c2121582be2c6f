"""The ``lpm-guard`` command line: thin commands over the same services as the HTTP API."""

from __future__ import annotations

from .app import app, main

__all__ = ["app", "main"]
