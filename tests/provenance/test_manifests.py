"""A platform gets the manifest back: every signed manifest is kept by its reference, and
GET /v1/manifests/{reference} returns it (public, rate-limited) for a clip whose manifest was
stripped, found through the watermark the clip still carries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import av
import c2pa
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, inspect
from sqlmodel import Session, func, select

from lpm_guard.api import create_app
from lpm_guard.auditing.services import AuditService
from lpm_guard.database import make_engine, upgrade
from lpm_guard.errors import NotFound
from lpm_guard.keys import KeyKind, KeyStore
from lpm_guard.provenance.manifest import MP4
from lpm_guard.provenance.manifests import ManifestStore, SignedManifestRow
from lpm_guard.provenance.models import ProvenanceRecord
from lpm_guard.provenance.services import ProvenanceService
from lpm_guard.provenance.trust import TrustAnchors
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings

from .test_segments import record_stream
from .test_verify_watermark import encode, marked

PROBLEM = "application/problem+json"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        checkpoint_interval_s=3600,
        log_json=True,
        verify_rate_limit="4/minute",
    )


@pytest.fixture
def http(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        yield client


def strip_manifest(source: Path, target: Path) -> Path:
    """Re-mux with PyAV (packets copied, nothing re-encoded): the C2PA box is not carried."""
    with av.open(str(source)) as inp, av.open(str(target), "w", format="mp4") as out:
        video = inp.streams.video[0]
        copy = out.add_stream_from_template(video)
        for packet in inp.demux(video):
            if packet.dts is None:
                continue
            packet.stream = copy
            out.mux(packet)
    return target


def read_with(manifest: bytes, asset: Path, anchors: TrustAnchors) -> dict[str, object]:
    """Validate a detached manifest store against an asset, as a platform's C2PA reader does."""
    with asset.open("rb") as stream, c2pa.Reader(MP4, stream, manifest, anchors.context()) as r:
        store: dict[str, object] = json.loads(r.json())
    return store


def _codes(store: dict[str, object], outcome: str) -> list[str]:
    results = store["validation_results"]
    assert isinstance(results, dict)
    return [entry["code"] for entry in results["activeManifest"][outcome]]


@pytest.mark.slow
def test_a_stripped_clip_gets_its_signed_manifest_back_through_its_watermark(
    http: TestClient,
    service: ProvenanceService,
    keys: KeyStore,
    record: ProvenanceRecord,
    tmp_path: Path,
) -> None:
    # The gate's output: watermarked frames, signed (the manifest is kept as it is signed).
    frames = marked(keys.watermark_key().secret, record.watermark_reference)
    unsigned = encode(frames, tmp_path / "marked.mp4", crf=None)
    original = service.sign_mp4(unsigned, tmp_path / "signed.mp4", record)
    # An anonymous platform strips the manifest, then verifies what is left.
    stripped = strip_manifest(original.path, tmp_path / "stripped.mp4")
    response = http.post(
        "/v1/verify", content=stripped.read_bytes(), headers={"Content-Type": "video/mp4"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["c2pa"]["status"] == "absent"
    assert report["watermark"]["status"] == "present"
    reference = report["watermark"]["reference"]
    assert reference == f"{record.watermark_reference:016x}"
    # ... and fetches the manifest where the reading says (the reference's handle).
    path = report["watermark"]["manifest"]
    assert path == f"/v1/manifests/{service.manifest_handle(record.watermark_reference)}"
    fetched = http.get(path)
    assert fetched.status_code == 200, fetched.text
    assert fetched.headers["content-type"] == "application/c2pa"
    assert fetched.content == original.manifest
    # It validates against the original output: signature, our root, the content hash.
    anchors = service.trust_anchors()
    store = read_with(fetched.content, original.path, anchors)
    assert store["validation_state"] == "Trusted", store["validation_results"]
    assert store["active_manifest"] == original.manifest_label
    manifest = store["manifests"][original.manifest_label]  # type: ignore[index]
    bindings = [a for a in manifest["assertions"] if a["label"] == "c2pa.soft-binding"]
    assert bindings[0]["data"]["blocks"][0]["value"]  # the reference, base64
    # Against the stripped copy its signature still holds; the re-mux changed the bytes.
    store = read_with(fetched.content, stripped, anchors)
    assert "claimSignature.validated" in _codes(store, "success")
    assert "signingCredential.trusted" in _codes(store, "success")
    assert "assertion.bmffHash.mismatch" in _codes(store, "failure")


def test_unknown_refused_and_malformed_handles(
    http: TestClient,
    runtime: Runtime,
    service: ProvenanceService,
    signed: Path,
    record: ProvenanceRecord,
) -> None:
    known = http.get(f"/v1/manifests/{service.manifest_handle(record.watermark_reference)}")
    assert known.status_code == 200 and known.content[4:8] == b"jumb"
    # A refused request's index and one never issued, each with its genuine handle: one answer.
    refused = AuditService(runtime.audit).record("session:generation:deny", "researcher:9")
    answers = [
        http.get(f"/v1/manifests/{service.manifest_handle(refused.index)}"),
        http.get(f"/v1/manifests/{service.manifest_handle((1 << 64) - 1)}"),
    ]
    for answer in answers:
        assert answer.status_code == 404
        assert answer.headers["content-type"] == PROBLEM
    same = [
        {k: v for k, v in a.json().items() if k not in ("instance", "request_id")} for a in answers
    ]
    assert same[0] == same[1] and set(same[0]) == {"type", "title", "status", "detail"}
    # The bare reference (what reports showed before handles) is not a handle.
    malformed = http.get(f"/v1/manifests/{record.watermark_reference:016x}")
    assert malformed.status_code == 422 and malformed.headers["content-type"] == PROBLEM


def test_an_anonymous_caller_cannot_walk_the_references(
    http: TestClient, service: ProvenanceService, signed: Path, record: ProvenanceRecord
) -> None:
    """References are audit indices: sequential. The attacker knows the scheme (reference,
    then a tag) and one genuine handle, and walks the indices around a signed output's with
    every tag it can make: the bare reference, its own known tag, all zeros, the tag's bits
    flipped. Nothing comes back but the manifest the genuine handle names."""
    genuine = service.manifest_handle(record.watermark_reference)
    known_tag = genuine[16:]
    flipped = f"{int(known_tag, 16) ^ 1:032x}"
    codes: dict[str, int] = {}
    for index in range(max(0, record.watermark_reference - 3), record.watermark_reference + 4):
        for tag in ("", known_tag, "0" * 32, flipped, genuine[:32]):
            guess = f"{index:016x}{tag}"
            if guess != genuine:
                codes[guess] = service_answer(service, guess)
    assert set(codes.values()) == {404}, codes
    # Through HTTP too, as the attacker calls it (the genuine one last: it still answers).
    for guess in list(codes)[:3]:
        assert http.get(f"/v1/manifests/{guess}").status_code in (404, 422)
    assert http.get(f"/v1/manifests/{genuine.upper()}").status_code == 200


def service_answer(service: ProvenanceService, handle: str) -> int:
    try:
        service.signed_manifest(handle)
    except NotFound:
        return 404
    return 200


def test_a_handle_survives_a_data_key_rotation(
    runtime: Runtime, service: ProvenanceService, signed: Path, record: ProvenanceRecord
) -> None:
    """A handle given out before the data key rotated still finds its manifest; one made
    after names the same reference with the new key."""
    before = service.manifest_handle(record.watermark_reference)
    runtime.keys.rotate(KeyKind.DATA_ENCRYPTION)
    after = service.manifest_handle(record.watermark_reference)
    assert before != after
    assert service.signed_manifest(before) == service.signed_manifest(after)


def test_manifest_lookups_are_rate_limited_per_address(
    http: TestClient, service: ProvenanceService, signed: Path
) -> None:
    codes = [http.get(f"/v1/manifests/{service.manifest_handle(n)}").status_code for n in range(5)]
    assert codes[4] == 429
    limited = http.get(f"/v1/manifests/{'0' * 48}")
    assert limited.status_code == 429 and limited.headers["content-type"] == PROBLEM
    assert int(limited.headers["retry-after"]) >= 1


def test_a_live_recording_keeps_every_segments_manifest_and_resolves_to_the_whole(
    service: ProvenanceService, runtime: Runtime, record: ProvenanceRecord, out_dir: Path
) -> None:
    recorder, events, whole = record_stream(service, record, out_dir, frames=25)
    store = ManifestStore(runtime.engine)
    with whole.open("rb") as f, c2pa.Reader(MP4, f) as reader:
        label = json.loads(reader.json())["active_manifest"]
    resolved = service.signed_manifest(service.manifest_handle(record.watermark_reference))
    anchors = service.trust_anchors()
    assert read_with(resolved, whole, anchors)["active_manifest"] == label
    with Session(store.engine) as db:
        count = db.exec(select(func.count()).select_from(SignedManifestRow)).one()
    assert count == len(events) + 1 and len(events) >= 2
    assert recorder.segments == events


def test_the_migration_matches_the_model_and_goes_down_and_up(database_url: str) -> None:
    from alembic import command

    from lpm_guard.database import _config

    engine = make_engine(database_url)
    try:
        upgrade(engine)
        metadata = MetaData()
        SignedManifestRow.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _: (
                        kind != "table" or name == "signed_manifests"
                    ),
                },
            )
            assert compare_metadata(context, metadata) == []
        command.downgrade(_config(engine), "0010")
        assert "signed_manifests" not in inspect(engine).get_table_names()
        upgrade(engine)
        assert "signed_manifests" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
