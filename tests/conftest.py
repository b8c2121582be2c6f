from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from lpm_guard.audit import AuditLog, NoteSigner
from lpm_guard.audit import schema as audit_schema
from sqlalchemy import Engine

from lpm_guard import runtime as runtime_module
from lpm_guard.api import create_app
from lpm_guard.database import make_engine
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests import postgres
from tests.migrated import Templates

ORIGIN = "test.lpm-guard.local/audit"
# Servers the tests start (in this process or as `lpm-guard serve` processes, which inherit
# it) start their check workers when a test needs them, not all at startup; the warm start
# has its own test (tests/api/test_warm_start.py).
os.environ.setdefault("LPM_WARM_WORKERS", "0")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    with postgres.cluster() as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def _fresh_databases_from_a_template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """``Runtime.open`` fills an empty database from a migrated template (see tests/migrated.py)."""
    templates = Templates(
        tmp_path_factory.mktemp("migrated"),
        lambda: request.getfixturevalue("postgres_server"),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime_module, "upgrade", templates.upgrade)
        yield


@pytest.fixture
def postgres_url(postgres_server: str | None) -> Iterator[str]:
    if postgres_server is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; `make test` installs it")
        pytest.skip("PostgreSQL is not installed")
    with postgres.database(postgres_server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        audit_schema.create(conn)
    yield engine
    engine.dispose()


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner(ORIGIN, Ed25519PrivateKey.generate())


@pytest.fixture
def log(engine: Engine, signer: NoteSigner, tmp_path: Path) -> AuditLog:
    return AuditLog(engine, signer=signer, witness=tmp_path / "witness", checkpoint_interval=0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", checkpoint_interval_s=3600, log_json=True)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.open(settings)
    yield rt
    rt.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as c:
        yield c


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest work first. The cluster's tests share one cluster, so xdist runs their group
    on one worker, and the slow tests take a minute each: started first they overlap the rest of
    the suite instead of trailing it on one worker while the other waits."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("cluster"):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)
