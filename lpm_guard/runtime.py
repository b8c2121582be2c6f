"""The running platform: settings, database, keys and the audit log, opened once.

The HTTP app and the CLI both start one ``Runtime`` and hand its parts to the services.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from sqlalchemy import Engine

from .audit import AuditLog, Event, NoteSigner, NoteVerifier
from .auditing.tags import AuditTag
from .consent.notifications import InProcessRevocationBus, RevocationBus
from .database import current_revision, head_revision, make_engine, upgrade
from .errors import Unavailable
from .keys import KeyStore
from .settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    keys: KeyStore
    audit: AuditLog
    # Consent revocations reach running live sessions through this bus (see its module).
    revocations: RevocationBus = field(default_factory=InProcessRevocationBus)

    @classmethod
    def open(cls, settings: Settings, *, initialise: bool = True) -> Runtime:
        """Open the platform. With ``initialise`` (serve, writes) create the data directory and
        keys if missing and upgrade the database; without (read-only checks) require both."""
        if initialise:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(settings.data_dir, 0o700)
        keys = KeyStore.open(settings.keys_dir, create=initialise)
        engine = make_engine(settings.resolved_database_url)
        before = current_revision(engine)
        if initialise and before != head_revision():
            upgrade(engine)
        elif before != head_revision():
            engine.dispose()
            raise Unavailable(
                "the database is not initialised or not migrated: run `lpm-guard db upgrade`"
            )
        runtime = cls(settings, engine, keys, open_audit_log(settings, engine, keys))
        if before != head_revision():
            runtime.audit.append(
                Event(
                    action=str(AuditTag.SYSTEM_DATABASE_UPGRADE),
                    actor="system",
                    payload={"from": before, "to": head_revision()},
                )
            )
        return runtime

    def close(self) -> None:
        self.engine.dispose()


def open_audit_log(settings: Settings, engine: Engine, keys: KeyStore) -> AuditLog:
    origin = settings.audit_origin
    return AuditLog(
        engine,
        signer=NoteSigner(origin, keys.audit_signing_key()),
        verifiers=[NoteVerifier(origin, key) for key in keys.audit_public_keys()],
        witness=settings.audit_dir / "latest-checkpoint",
        checkpoint_interval=settings.checkpoint_interval_s,
    )
