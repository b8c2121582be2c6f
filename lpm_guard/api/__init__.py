"""The HTTP API: a FastAPI app factory and thin routes over the services."""

from .app import create_app

__all__ = ["create_app"]
