"""Uploads for verification: streamed to a temporary file, refused as soon as they pass the
size limit (a declared Content-Length over it is refused before reading a byte)."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request

from .errors import MediaTooLarge, UnsupportedMedia

_TOO_LARGE = "the upload is larger than the {limit}-byte limit"


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def receive_upload(request: Request, target: Path, limit: int) -> Path:
    """Stream the request body into ``target``; raise MediaTooLarge past ``limit`` bytes."""
    # (1): a form upload or a declared length over the limit: refuse without reading the body.
    if request.headers.get("content-type", "").startswith("multipart/"):
        raise UnsupportedMedia("send the video as the raw request body, not as a multipart form")
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise MediaTooLarge(_TOO_LARGE.format(limit=limit), limit_bytes=limit)
    # (2): stream to disk, counting; stop at the first chunk that passes the limit.
    received = 0
    with target.open("wb") as out:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                out.close()
                target.unlink(missing_ok=True)
                raise MediaTooLarge(_TOO_LARGE.format(limit=limit), limit_bytes=limit)
            out.write(chunk)
    # (3): nothing sent is not a video.
    if received == 0:
        target.unlink(missing_ok=True)
        raise UnsupportedMedia("the upload is empty: send the video as the request body")
    return target
