"""The consent schema on both databases: migrated, written, revoked, sealed to its row."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from lpm_guard.consent.models import ReferencePhoto, Use
from lpm_guard.consent.services import ConsentService
from lpm_guard.consent.settings import ConsentSettings
from lpm_guard.keys.errors import DecryptionError
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests.mailbox import Mailbox

from .conftest import PRINCIPALS, People, invite_and_read_token, png

A = PRINCIPALS["token-researcher-a"]


def test_the_schema_on_sqlite_and_postgresql(
    database_url: str, tmp_path: Path, people: People, smtp_server: Mailbox
) -> None:
    runtime = Runtime.open(
        Settings(data_dir=tmp_path / "data", database_url=database_url, checkpoint_interval_s=3600)
    )
    try:
        service = ConsentService(runtime, ConsentSettings(**smtp_server.settings()))
        identity = service.create_identity(
            A, "Subject", [png(people.t1[0])], subject_email="subject@example.org"
        )
        # Invitations counted per day, blocks looked up by keyed hash, refusals and reports.
        _, token = invite_and_read_token(service, smtp_server, A, identity.id, [Use.LIVE])
        service.refuse_invitation(token, report=True, block=False)
        assert [r.identity_id for r in service.list_reported()] == [identity.id]
        service.invite(A, identity.id, [Use.LIVE])
        with Session(runtime.engine) as session:
            photo = session.exec(select(ReferencePhoto)).one()
            cipher = runtime.keys.data_cipher()
            # A sealed blob opens only in its own row and column.
            binding = f"lpm-guard/consent_reference_photos/{photo.id}/photo".encode()
            assert cipher.decrypt(photo.photo, binding)[:4] == b"\x89PNG"
            with pytest.raises(DecryptionError):
                cipher.decrypt(photo.photo, binding.replace(b"/photo", b"/descriptor"))
        service.revoke_by_reviewer("reviewer-1", identity.id, "test")
        with Session(runtime.engine) as session:
            assert session.exec(select(ReferencePhoto)).all() == []
        assert [v.status for v in service.list_identities(A)] == ["revoked"]
    finally:
        runtime.close()
