"""The running platform: settings, database, keys and the audit log, opened once.

The HTTP app and the CLI both start one ``Runtime`` and hand its parts to the services.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field

from sqlalchemy import Engine

from .audit import AuditLog, Event, NoteSigner, NoteVerifier
from .auditing.tags import AuditTag
from .database import current_revision, head_revision, make_engine, upgrade
from .errors import Unavailable
from .keys import KeyStore, KeyStoreMissingError, pinning
from .revocations import InProcessRevocationBus, RevocationBus, bus_for
from .settings import Settings


def new_node_id(settings: Settings) -> str:
    """This process's name in leases: the configured one, or host, process id and a random
    suffix (a process id alone repeats after a restart, or in another container)."""
    if settings.node_id:
        return settings.node_id
    host = socket.gethostname().split(".")[0][:32] or "node"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    keys: KeyStore
    audit: AuditLog
    # Consent revocations reach running live sessions through this bus (see its module).
    revocations: RevocationBus = field(default_factory=InProcessRevocationBus)
    # This process's name in the leases on the jobs and live sessions it runs.
    node_id: str = ""

    @classmethod
    def open(cls, settings: Settings, *, initialise: bool = True) -> Runtime:
        """Open the platform. With ``initialise`` (serve, writes) create the data directory and
        keys if missing and upgrade the database; without (read-only checks) require both.
        Either way the keys must be the ones the database's other nodes use."""
        if initialise:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(settings.data_dir, 0o700)
            keys = None
        else:  # no keys: say so before anything else
            keys = KeyStore.open(settings.keys_dir, create=False)
        engine = make_engine(settings.resolved_database_url)
        node_id = new_node_id(settings)
        try:
            before = current_revision(engine)
            if initialise and before != head_revision():
                upgrade(engine)
            elif before != head_revision():
                raise Unavailable(
                    "the database is not initialised or not migrated: run `lpm-guard db upgrade`"
                )
            # (1): a database that already has keys: never mint others beside them.
            if keys is None:
                create = not pinning.pinned(engine)
                try:
                    keys = KeyStore.open(settings.keys_dir, create=create)
                except KeyStoreMissingError:
                    if create:
                        raise
                    raise pinning.missing_store(engine, settings.keys_dir) from None
            # (2): the keys are the ones pinned (the first node pins its own).
            pinning.check(engine, keys, node_id)
        except BaseException:
            engine.dispose()
            raise
        runtime = cls(
            settings,
            engine,
            keys,
            open_audit_log(settings, engine, keys),
            bus_for(engine),
            node_id,
        )
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
        self.revocations.close()
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
