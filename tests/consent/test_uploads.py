"""Bad uploads get a 4xx problem and leave nothing behind."""

from __future__ import annotations

import struct
import zlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from lpm_guard.consent.models import Identity, ProtectedFace, ReferencePhoto
from lpm_guard.runtime import Runtime

from .conftest import People, auth, png

A = auth("token-researcher-a")


def bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid PNG header declaring 900 megapixels over a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, body: (  # noqa: E731
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def rows(runtime: Runtime) -> tuple[int, int, int]:
    with Session(runtime.engine) as session:
        return (
            session.exec(select(func.count()).select_from(Identity)).one(),
            session.exec(select(func.count()).select_from(ReferencePhoto)).one(),
            session.exec(select(func.count()).select_from(ProtectedFace)).one(),
        )


def post_photos(api: TestClient, *photos: bytes) -> dict[str, object]:
    response = api.post(
        "/v1/consent/identities",
        headers=A,
        data={"display_name": "Someone", "subject_email": "someone@example.org"},
        files=[("photos", (f"p{i}.png", data, "image/png")) for i, data in enumerate(photos)],
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


@pytest.mark.parametrize(
    ("upload", "slug"),
    [
        (b"%PDF-1.4 definitely not a picture", "unreadable-image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "unreadable-image"),
        (bomb(), "image-too-large"),
        (bomb(8_000, 6_000), "image-too-large"),  # under Pillow's own limit, over ours
    ],
)
def test_unreadable_and_oversized_images(
    api: TestClient, people: People, runtime: Runtime, upload: bytes, slug: str
) -> None:
    # A good first photo: the bad second one must not leave the first behind.
    problem = post_photos(api, png(people.t1[0]), upload)
    assert str(problem["type"]).endswith(slug)
    assert rows(runtime) == (0, 0, 0)


def test_no_face_and_two_faces(api: TestClient, people: People, runtime: Runtime) -> None:
    blank = people.group[:120, :120].copy()  # wall and hair, no face
    assert str(post_photos(api, png(blank))["type"]).endswith("no-face")
    problem = post_photos(api, png(people.group))
    assert str(problem["type"]).endswith("multiple-faces") and problem["faces"] == 6
    assert rows(runtime) == (0, 0, 0)


def test_fifty_megabytes_is_refused_before_it_is_read(api: TestClient, runtime: Runtime) -> None:
    payload = b"\xff" * (50 * 1024 * 1024)
    problem = post_photos(api, payload)
    assert str(problem["type"]).endswith("upload-too-large")
    assert rows(runtime) == (0, 0, 0)
    # A capture upload with a token nobody was sent is refused before its body is read.
    response = api.put(
        "/v1/consent/invitation/captures/cap_x",
        headers={"Consent-Token": "t" * 43, "Content-Type": "video/webm"},
        content=payload,
    )
    assert response.status_code == 404
    assert response.json()["type"].endswith("link-not-found")


def test_protected_identity_uploads_store_nothing_on_error(
    api: TestClient, people: People, runtime: Runtime
) -> None:
    response = api.post(
        "/v1/consent/protected",
        headers=auth("token-reviewer"),
        data={"name": "A public figure", "reason": "asked not to be generated"},
        files=[
            ("photos", ("a.png", png(people.t1[0]), "image/png")),
            ("photos", ("b.png", png(people.group), "image/png")),
        ],
    )
    assert response.status_code == 422 and response.json()["type"].endswith("multiple-faces")
    assert rows(runtime) == (0, 0, 0)


def test_malformed_forms(api: TestClient) -> None:
    response = api.post("/v1/consent/identities", headers=A, data={"display_name": "x"})
    assert response.status_code == 422  # no photos
    response = api.post(
        "/v1/consent/identities",
        headers={**A, "Content-Type": "multipart/form-data; boundary=zzz"},
        content=b"--zzz\r\nbroken",
    )
    assert response.status_code == 422


def test_an_undeclared_length_is_counted_as_it_arrives(api: TestClient, runtime: Runtime) -> None:
    boundary = "bound"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()

    def chunks():  # type: ignore[no-untyped-def]
        yield head
        for _ in range(10):  # 10 MiB against the 8 MiB limit, with no Content-Length
            yield b"\0" * (1024 * 1024)

    response = api.post(
        "/v1/consent/identities",
        headers={**A, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=chunks(),
    )
    assert response.status_code == 413, response.text
    assert rows(runtime) == (0, 0, 0)
