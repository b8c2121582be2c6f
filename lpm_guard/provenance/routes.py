"""/v1/verify, /v1/manifests and /v1/provenance: public, anonymous; verification and manifest
look-ups are rate-limited per client address (across every node when they share Redis:
``ratelimits``); verification takes a size-limited streamed upload."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from limits import parse
from starlette.exceptions import HTTPException

from ..errors import InvalidRequest
from ..proxies import client_address
from ..ratelimits import RateLimits, of_app
from ..runtime import Runtime
from .manifests import APPLICATION_C2PA, HANDLE
from .report import VerificationReport
from .services import ProvenanceService
from .uploads import receive_upload

router = APIRouter(tags=["provenance"])

PEM = "application/x-pem-file"


def get_provenance_service(request: Request) -> ProvenanceService:
    return ProvenanceService.from_runtime(request.app.state.runtime)


Service = Annotated[ProvenanceService, Depends(get_provenance_service)]


class _Limits:
    """Per-app state: the rate and the app's shared limiter (``limits``' moving window, in
    Redis or in memory), a cap on concurrent verifications (decodes run in ``workers``
    threads) and on those admitted at all (as many again may wait: uploads on disk, not in
    memory); past that a verification is refused at once."""

    def __init__(self, rate: str, limiter: RateLimits, workers: int) -> None:
        self.rate = parse(rate)
        self.limiter = limiter
        self.concurrency = anyio.CapacityLimiter(workers)
        self.admitted = 0
        self.max_admitted = 2 * workers

    @contextmanager
    def admission(self) -> Iterator[None]:
        # No await between the test and the increment: one event loop makes it atomic.
        if self.admitted >= self.max_admitted:
            raise HTTPException(
                503, "the server is busy verifying other videos", headers={"Retry-After": "5"}
            )
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1


def _limits(request: Request) -> _Limits:
    state = request.app.state
    if not hasattr(state, "verify_limits"):
        runtime: Runtime = state.runtime
        shared = of_app(state, runtime.settings)
        settings = runtime.settings
        state.verify_limits = _Limits(settings.verify_rate_limit, shared, settings.verify_workers)
    limits: _Limits = state.verify_limits
    return limits


def _hit(request: Request, namespace: str, what: str) -> _Limits:
    limits = _limits(request)
    client = client_address(request)
    verdict = limits.limiter.hit(limits.rate, namespace, client)  # 503 if Redis is down
    if not verdict.allowed:
        raise HTTPException(
            429,
            f"at most {limits.rate} {what} per client address",
            headers={"Retry-After": str(verdict.retry_after_s)},
        )
    return limits


def rate_limited(request: Request) -> _Limits:
    return _hit(request, "verify", "verifications")


def manifest_rate_limited(request: Request) -> _Limits:
    """Manifest look-ups: the verification rate, counted on their own."""
    return _hit(request, "manifests", "manifest look-ups")


@router.post(
    "/v1/verify",
    summary="Verify a video: C2PA manifest, watermark, audit inclusion (public, rate-limited)",
    response_model=VerificationReport,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The video file as the raw request body (not multipart).",
            "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={
        413: {
            "description": "Larger than LPM_VERIFY_MAX_UPLOAD_BYTES, or frames larger than "
            "LPM_VERIFY_MAX_FRAME_PIXELS"
        },
        415: {"description": "Not a video"},
        422: {"description": "A truncated or unreadable video"},
        429: {"description": "Too many verifications from this address"},
        503: {
            "description": "Busy (LPM_VERIFY_WORKERS decoding and as many waiting), or the "
            "shared rate limits' storage (Redis) cannot be reached"
        },
    },
)
async def verify(
    request: Request, service: Service, limits: Annotated[_Limits, Depends(rate_limited)]
) -> VerificationReport:
    runtime: Runtime = request.app.state.runtime
    with limits.admission(), tempfile.TemporaryDirectory(prefix="lpm-verify-") as directory:
        path = await receive_upload(
            request, Path(directory) / "upload", runtime.settings.verify_max_upload_bytes
        )
        return await anyio.to_thread.run_sync(
            partial(service.verify_file, path), limiter=limits.concurrency
        )


@router.get(
    "/v1/provenance/trust-anchors",
    summary="The root certificates our C2PA manifests chain to (public)",
)
def trust_anchors(service: Service) -> dict[str, Any]:
    anchors = service.trust_anchors()
    return {
        "trust_anchors": anchors.describe(),
        "time_stamp_authorities": anchors.describe_time_stamp_roots(),
    }


@router.get(
    "/v1/provenance/trust-anchors.pem",
    summary="The same roots as one PEM bundle, for a C2PA validator's trust list (public)",
    response_class=PlainTextResponse,
)
def trust_anchors_pem(service: Service) -> PlainTextResponse:
    return PlainTextResponse(service.trust_anchors().pem(), media_type=PEM)


@router.get(
    "/v1/manifests/{handle}",
    summary="The signed C2PA manifest of the output whose watermark the handle was given for "
    "(public, rate-limited)",
    response_class=Response,
    responses={
        200: {
            "description": "The manifest store as it was embedded in the output",
            "content": {APPLICATION_C2PA: {"schema": {"type": "string", "format": "binary"}}},
        },
        404: {"description": "Not a handle we gave, or no output was signed with its reference"},
        422: {"description": "Not a handle: 48 hex digits"},
        429: {"description": "Too many look-ups from this address"},
        503: {"description": "The shared rate limits' storage (Redis) cannot be reached"},
    },
)
def signed_manifest(
    handle: str,
    service: Service,
    _: Annotated[_Limits, Depends(manifest_rate_limited)],
) -> Response:
    """Anyone may call it: it returns only what the output file itself carried. The handle
    comes with the watermark's reading (``watermark.manifest`` of a verification report): the
    reference and a keyed hash of it, so references cannot be walked."""
    if not HANDLE.fullmatch(handle.lower()):
        raise InvalidRequest(
            "a handle is 48 hex digits, as the verification report's watermark.manifest shows it"
        )
    manifest = service.signed_manifest(handle)
    return Response(manifest, media_type=APPLICATION_C2PA)
