"""The web pages (``web/``) served with security headers.

Every page is plain HTML with ES modules from this origin and no inline script, so a strict
Content-Security-Policy costs nothing and stops injected script; camera and microphone are
allowed to this origin only (the consent page needs both). The subject's consent and revocation
links carry their token in the URL fragment: no Referer is ever sent.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "connect-src 'self' ws: wss:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)
PERMISSIONS_POLICY = "camera=(self), microphone=(self), geolocation=(), payment=(), usb=()"
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": PERMISSIONS_POLICY,
    # Revalidated each time (ETag), unlike the API's ``no-store`` (``middleware``).
    "Cache-Control": "no-cache",
}
# Module scripts need a JavaScript MIME type; the system's mime.types may say otherwise.
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8"}
# The API's paths: a request there that no route took (another method, an unknown path) is the
# API's 405 or 404 problem, never a static file's answer.
API_PREFIXES = ("/v1/", "/oauth/", "/.well-known/")


def allowed_methods(scope: Scope) -> set[str]:
    """The methods the API takes at this path, read from the app's OpenAPI schema (FastAPI's
    own route objects are internal)."""
    paths: dict[str, dict[str, object]] = scope["app"].openapi().get("paths", {})
    methods: set[str] = set()
    for template, operations in paths.items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, scope["path"]):
            methods |= {method.upper() for method in operations}
    return methods


class WebFiles(StaticFiles):
    """``StaticFiles`` whose every response (pages, scripts, styles, 304s) carries
    ``SECURITY_HEADERS``, with scripts as ``text/javascript``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIXES):
            methods = allowed_methods(scope)
            if methods:
                raise HTTPException(405, headers={"Allow": ", ".join(sorted(methods))})
            raise HTTPException(404)
        await super().__call__(scope, receive, send)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        for suffix, media_type in MEDIA_TYPES.items():
            if path.endswith(suffix) and response.status_code == 200:
                response.headers["Content-Type"] = media_type
        response.headers.update(SECURITY_HEADERS)
        return response
