"""/v1/consent: thin routes over ``ConsentService``.

Researchers need ``identities:write`` and see only their own identities; reviewers need
``review``. Subjects have no account: they act with the capability token of their invitation or
revocation link, sent in the ``Consent-Token`` header. The web page keeps the token in the URL
fragment, which browsers never send, so tokens stay out of URLs and request logs.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message

from ..access.guards import require_scope
from ..access.principals import Principal
from ..access.scopes import Scope
from ..errors import InvalidRequest, Unauthenticated
from .captures import ACCEPTED_TYPES, CaptureService
from .errors import UploadTooLarge
from .models import CaptureStatus, IdentityStatus, SyntheticOrigin, Use
from .services import ConsentService
from .settings import ConsentSettings

router = APIRouter(prefix="/v1/consent", tags=["consent"])


def get_consent_service(request: Request) -> ConsentService:
    state = request.app.state
    if getattr(state, "consent_settings", None) is None:
        state.consent_settings = ConsentSettings()
    return ConsentService(state.runtime, state.consent_settings)


Service = Annotated[ConsentService, Depends(get_consent_service)]
Researcher = Annotated[Principal, Depends(require_scope(Scope.IDENTITIES_WRITE))]
Reviewer = Annotated[Principal, Depends(require_scope(Scope.REVIEW))]


def subject_token(
    consent_token: Annotated[str | None, Header(alias="Consent-Token")] = None,
) -> str:
    """The capability a subject's link carries: missing or malformed is a 401, like a bad
    bearer token, not a validation error."""
    if consent_token is None or not 16 <= len(consent_token) <= 128:
        raise Unauthenticated("send the token of your consent or revocation link: Consent-Token")
    return consent_token


Token = Annotated[str, Depends(subject_token)]


def _multipart(
    fields: dict[str, str], files: dict[str, bool], optional: dict[str, str] | None = None
) -> dict[str, Any]:
    """The OpenAPI request body of a route that parses its own multipart form (see ``_form``):
    text ``fields`` with their descriptions; ``files`` by name, True where several are sent;
    ``optional`` text fields."""
    properties: dict[str, Any] = {
        name: {"type": "string", "description": text}
        for name, text in {**fields, **(optional or {})}.items()
    }
    for name, several in files.items():
        one = {"type": "string", "format": "binary"}
        properties[name] = {"type": "array", "items": one} if several else one
    schema = {"type": "object", "properties": properties, "required": [*fields, *files]}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


def _json(view: Any) -> dict[str, Any]:
    return dataclasses.asdict(view)


async def _form(request: Request, service: ConsentService) -> FormData:
    """The multipart body, refused past the size limit before it is parsed or stored."""
    limit = service.settings.max_upload_bytes
    # (1): a declared length over the limit is refused before reading a byte.
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"the upload is larger than {limit} bytes", limit=limit)
    # (2): an undeclared (chunked) body is counted as it arrives.
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise UploadTooLarge(f"the upload is larger than {limit} bytes", limit=limit)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    # (3): Starlette parses the counted body.
    try:
        return await Request(request.scope, replay).form(max_files=20, max_fields=50)
    except Exception as exc:  # multipart parse errors have no common public base class
        raise InvalidRequest(f"send multipart/form-data: {exc}") from None


async def _files(form: FormData, name: str) -> list[bytes]:
    return [await item.read() for item in form.getlist(name) if isinstance(item, UploadFile)]


async def _file(form: FormData, name: str) -> bytes:
    files = await _files(form, name)
    if len(files) != 1:
        raise InvalidRequest(f"send exactly one file as {name!r}")
    return files[0]


def _text(form: FormData, name: str, default: str | None = None) -> str:
    value = form.get(name, default)
    if not isinstance(value, str):
        raise InvalidRequest(f"send the field {name!r}")
    return value


def _optional_text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"send {name!r} as a text field")
    return value


E = TypeVar("E", bound=StrEnum)


def _enum_values(form: FormData, name: str, kind: type[E]) -> list[E]:
    try:
        return [kind(value) for value in form.getlist(name) if isinstance(value, str)]
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidRequest(f"{name!r} takes one of: {allowed}") from None


# -- researchers ----------------------------------------------------------------------------


@router.post(
    "/identities",
    status_code=201,
    summary="Enroll a person from reference photos (multipart: display_name, subject_email, "
    "photos)",
    openapi_extra=_multipart(
        {
            "display_name": "How researchers name them",
            "subject_email": "The person's own address: the platform sends the invitation there",
        },
        {"photos": True},
    ),
)
async def create_identity(
    request: Request, service: Service, principal: Researcher
) -> dict[str, Any]:
    form = await _form(request, service)
    name, photos = _text(form, "display_name"), await _files(form, "photos")
    email = _text(form, "subject_email")
    view = await run_in_threadpool(
        functools.partial(service.create_identity, subject_email=email), principal, name, photos
    )
    return _json(view)


@router.get("/identities", summary="The caller's identities")
def list_identities(service: Service, principal: Researcher) -> list[dict[str, Any]]:
    return [_json(view) for view in service.list_identities(principal)]


@router.get("/identities/{identity_id}", summary="One of the caller's identities")
def get_identity(service: Service, principal: Researcher, identity_id: str) -> dict[str, Any]:
    return _json(service.get_identity(principal, identity_id))


class InvitationRequest(BaseModel):
    uses: list[Use] = Field(min_length=1, description="What the subject consents to.")
    excluded_content: str = Field(default="", max_length=2000)
    consent_days: int = Field(default=365, ge=1, le=730)


@router.post(
    "/identities/{identity_id}/invitations",
    status_code=201,
    summary="Email the identity's subject a single-use consent link (the link is not returned)",
)
def invite(
    service: Service, principal: Researcher, identity_id: str, body: InvitationRequest
) -> dict[str, Any]:
    sent = service.invite(
        principal,
        identity_id,
        body.uses,
        excluded_content=body.excluded_content,
        consent_days=body.consent_days,
    )
    return _json(sent)


@router.post(
    "/synthetic",
    status_code=201,
    summary="Enroll a synthetic character (multipart: display_name, origin, attestation, "
    "uses, photos, optional landmarks); a reviewer approves it",
    openapi_extra=_multipart(
        {
            "display_name": "The character's name",
            "origin": "drawn, 3d or ai-generated",
            "attestation": "That the character depicts no real person",
            "uses": "offline and/or live (repeat the field)",
        },
        {"photos": True},
        {"landmarks": "The first photo's 68 face points, JSON [[x, y], ...], for a drawn face"},
    ),
)
async def enroll_synthetic(
    request: Request, service: Service, principal: Researcher
) -> dict[str, Any]:
    form = await _form(request, service)
    origins = _enum_values(form, "origin", SyntheticOrigin)
    if len(origins) != 1:
        raise InvalidRequest("send one origin: drawn, 3d or ai-generated")
    view = await run_in_threadpool(
        service.enroll_synthetic,
        principal,
        _text(form, "display_name"),
        origins[0],
        _text(form, "attestation"),
        await _files(form, "photos"),
        _enum_values(form, "uses", Use),
        landmarks=_optional_text(form, "landmarks"),
    )
    return _json(view)


# -- subjects (capability links) --------------------------------------------------------------


@router.get("/invitation", summary="Who asks, for which uses, until when (link holder)")
def read_invitation(service: Service, token: Token) -> dict[str, Any]:
    return _json(service.read_invitation(token))


class RefusalRequest(BaseModel):
    report: bool = Field(default=False, description="Report the request to the reviewers.")
    block: bool = Field(default=False, description="No more invitations to this address.")


@router.post("/invitation/refusal", summary="Refuse the invitation; report it, block the address")
def refuse_invitation(service: Service, token: Token, body: RefusalRequest) -> dict[str, Any]:
    return _json(service.refuse_invitation(token, report=body.report, block=body.block))


def get_capture_service(request: Request, service: Service) -> CaptureService:
    scripts = getattr(request.app.state, "consent_scripts", None)
    return CaptureService(service, scripts=scripts)


Captures = Annotated[CaptureService, Depends(get_capture_service)]


@router.post(
    "/invitation/captures",
    status_code=201,
    summary="Open a live capture session: the challenge script and its deadline (link holder)",
)
def open_capture(captures: Captures, token: Token) -> dict[str, Any]:
    return _json(captures.open_capture(token))


@router.put(
    "/invitation/captures/{capture_id}",
    status_code=201,
    summary="Upload the capture session's recording (the raw video as the body, once)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}} for kind in ACCEPTED_TYPES
            },
        }
    },
)
async def submit_capture(
    request: Request, captures: Captures, token: Token, capture_id: str
) -> dict[str, Any]:
    limit = captures.consent.settings.max_capture_bytes
    # (1): a link we sent, still usable, before a byte of the body is read.
    await run_in_threadpool(captures.consent._invitation_id, token)
    # (2): the body to a private temporary file, bounded as it streams; (3): checked.
    with tempfile.TemporaryDirectory(prefix="lpm-capture-") as tmp:
        path = Path(tmp) / "capture"
        await _spool(request, path, limit)
        receipt = await run_in_threadpool(
            captures.submit_capture,
            token,
            capture_id,
            path,
            request.headers.get("content-type", ""),
        )
    return _json(receipt)


async def _spool(request: Request, path: Path, limit: int) -> None:
    """The raw body to ``path``, refused past ``limit`` before more than that reaches the disk:
    a declared length at once, an undeclared (chunked) one as it arrives."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"the upload is larger than {limit} bytes", limit=limit)
    size = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise UploadTooLarge(f"the upload is larger than {limit} bytes", limit=limit)
            out.write(chunk)
    if size == 0:
        raise InvalidRequest("send the recording as the request body")


class RevocationRequest(BaseModel):
    block: bool = Field(default=False, description="No more invitations to this address.")


@router.post("/revocation", summary="Withdraw consent (the withdrawal link emailed to the subject)")
def revoke_by_subject(
    service: Service, token: Token, body: RevocationRequest | None = None
) -> dict[str, Any]:
    block = body.block if body is not None else False
    return _json(service.revoke_by_subject(token, block=block))


# -- reviewers --------------------------------------------------------------------------------


class Decision(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/review/reports", summary="Invitations their subjects refused and reported")
def review_reports(service: Service, _: Reviewer) -> list[dict[str, Any]]:
    return [_json(view) for view in service.list_reported()]


@router.get("/review/identities", summary="Every identity, optionally by status (reviewers)")
def review_identities(
    service: Service,
    _: Reviewer,
    status: Annotated[IdentityStatus | None, Query()] = None,
) -> list[dict[str, Any]]:
    return [_json(view) for view in service.list_all_identities(status)]


@router.post("/review/identities/{identity_id}/approve", summary="Approve a synthetic character")
def approve(
    service: Service, principal: Reviewer, identity_id: str, body: Decision
) -> dict[str, Any]:
    view = service.review_synthetic(principal.actor, identity_id, approve=True, reason=body.reason)
    return _json(view)


@router.post("/review/identities/{identity_id}/reject", summary="Reject a synthetic character")
def reject(
    service: Service, principal: Reviewer, identity_id: str, body: Decision
) -> dict[str, Any]:
    view = service.review_synthetic(principal.actor, identity_id, approve=False, reason=body.reason)
    return _json(view)


@router.post("/review/identities/{identity_id}/revoke", summary="Revoke an identity's consent")
def revoke(
    service: Service, principal: Reviewer, identity_id: str, body: Decision
) -> dict[str, Any]:
    return _json(service.revoke_by_reviewer(principal.actor, identity_id, body.reason))


@router.post(
    "/protected",
    status_code=201,
    summary="Protect a person from generation (multipart: name, reason, photos)",
    openapi_extra=_multipart({"name": "Who", "reason": "Why they are protected"}, {"photos": True}),
)
async def add_protected(request: Request, service: Service, principal: Reviewer) -> dict[str, Any]:
    form = await _form(request, service)
    view = await run_in_threadpool(
        service.add_protected,
        principal.actor,
        _text(form, "name"),
        _text(form, "reason"),
        await _files(form, "photos"),
    )
    return _json(view)


@router.get("/review/captures", summary="Live captures by status, oldest first (reviewers)")
def review_captures(
    captures: Captures,
    _: Reviewer,
    status: Annotated[CaptureStatus | None, Query()] = CaptureStatus.AWAITING_REVIEW,
) -> list[dict[str, Any]]:
    return [_json(item) for item in captures.queue(status)]


@router.get("/review/captures/{capture_id}", summary="A capture's script, checks and scores")
def review_capture(captures: Captures, principal: Reviewer, capture_id: str) -> dict[str, Any]:
    return _json(captures.detail(principal.actor, capture_id))


@router.get(
    "/review/captures/{capture_id}/video",
    summary="The capture's recording, for a reviewer to watch (audited)",
    response_class=Response,
)
def review_capture_video(captures: Captures, principal: Reviewer, capture_id: str) -> Response:
    data, kind = captures.video(principal.actor, capture_id)
    return Response(data, media_type=kind, headers={"Cache-Control": "no-store"})


@router.post(
    "/review/captures/{capture_id}/approve",
    summary="Approve a person's consent after watching the capture",
)
def approve_capture(
    captures: Captures, principal: Reviewer, capture_id: str, body: Decision
) -> dict[str, Any]:
    return _json(captures.decide(principal.actor, capture_id, approve=True, reason=body.reason))


@router.post(
    "/review/captures/{capture_id}/reject", summary="Reject a capture: the consent never starts"
)
def reject_capture(
    captures: Captures, principal: Reviewer, capture_id: str, body: Decision
) -> dict[str, Any]:
    return _json(captures.decide(principal.actor, capture_id, approve=False, reason=body.reason))


@router.get("/protected", summary="Protected identities (reviewers)")
def list_protected(service: Service, _: Reviewer) -> list[dict[str, Any]]:
    return [_json(view) for view in service.list_protected()]
