"""/v1/audit: checkpoints and proofs are public; reading entries needs ``audit:read``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse

from ..access.guards import require_scope
from ..access.principals import Principal
from ..access.scopes import Scope
from ..audit import StoredEntry
from .search import MAX_BEFORE, MAX_PAGE
from .services import AuditService

router = APIRouter(prefix="/v1/audit", tags=["audit"])


def get_audit_service(request: Request) -> AuditService:
    return AuditService(request.app.state.runtime.audit)


Service = Annotated[AuditService, Depends(get_audit_service)]
# Indices and sizes are 64-bit integers in both databases: a larger one is a 422, not a 500.
MAX_INDEX = 2**63 - 1
Size = Annotated[
    int | None, Query(ge=1, le=MAX_INDEX, description="Tree size; default the current size")
]


@router.get("/checkpoint", summary="The latest signed checkpoint (public)")
def checkpoint(service: Service) -> dict[str, Any]:
    return service.checkpoint().to_json()


@router.get(
    "/checkpoint.txt",
    summary="The latest signed checkpoint as a C2SP signed note (public)",
    response_class=PlainTextResponse,
)
def checkpoint_note(service: Service) -> str:
    return service.checkpoint().note


@router.get("/proofs/inclusion", summary="Inclusion proof of an entry in a tree (public)")
def inclusion_proof(
    service: Service, index: Annotated[int, Query(ge=0, le=MAX_INDEX)], tree_size: Size = None
) -> dict[str, object]:
    return service.inclusion_proof(index, tree_size).to_json()


@router.get("/proofs/consistency", summary="Consistency proof between two tree sizes (public)")
def consistency_proof(
    service: Service, old_size: Annotated[int, Query(ge=1, le=MAX_INDEX)], new_size: Size = None
) -> dict[str, object]:
    return service.consistency_proof(old_size, new_size).to_json()


@router.get(
    "/keys",
    summary="The public keys that sign checkpoints: Ed25519 raw base64 and vkey (public)",
)
def keys(service: Service) -> list[dict[str, str]]:
    return service.verifier_keys()


def _entry_json(stored: StoredEntry) -> dict[str, Any]:
    return {
        "entry": stored.entry.to_json(),
        "leaf_hash": stored.leaf_hash.hex(),
        "body": stored.body.decode(),
    }


@router.get(
    "/entries",
    summary="Entries about an id (actor or object: session, job, identity, account) and/or "
    "with an action, newest first, paged with 'before' (scope audit:read: reviewers)",
)
def search_entries(
    service: Service,
    principal: Annotated[Principal, Depends(require_scope(Scope.AUDIT_READ))],
    about: Annotated[str | None, Query(max_length=256, description="An id")] = None,
    action: Annotated[str | None, Query(max_length=128, description="domain:object:action")] = None,
    before: Annotated[
        int | None, Query(ge=0, le=MAX_BEFORE, description="Only entries below this index")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> dict[str, Any]:
    page = service.search(principal.actor, about=about, action=action, before=before, limit=limit)
    return {
        "entries": [_entry_json(stored) for stored in page.entries],
        "next_before": page.next_before,
    }


@router.get("/entries/{index}", summary="One log entry (scope audit:read: reviewers)")
def read_entry(
    service: Service,
    index: Annotated[int, Path(ge=0, le=MAX_INDEX)],
    principal: Annotated[Principal, Depends(require_scope(Scope.AUDIT_READ))],
) -> dict[str, Any]:
    return _entry_json(service.read_entry(index, principal.actor))
