"""Liveness and readiness. Public: they reveal nothing but whether the service works."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..database import current_revision, head_revision
from ..errors import Unavailable
from ..runtime import Runtime

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness (public)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database reachable and migrated, keys loaded (public)")
def readyz(request: Request) -> dict[str, str]:
    runtime: Runtime = request.app.state.runtime
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = current_revision(runtime.engine)
    except SQLAlchemyError:
        raise Unavailable("the database cannot be reached", retry_after_s=5) from None
    if revision != head_revision():
        raise Unavailable(f"the database is at revision {revision}, not {head_revision()}")
    return {"status": "ready", "database_revision": revision or ""}
