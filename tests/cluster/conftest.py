"""One loopback cluster for the whole test session (deploy/cluster.py): PostgreSQL, Redis and
HAProxy from Debian's packages, nodes a and b behind HAProxy, one ``lpm-guard worker``.

The tests reach it as clients do (HTTP through HAProxy or straight to a node, WebSockets to the
node a session names) and set up what needs no HTTP (a researcher, a reviewer, a synthetic
character a reviewer approved) through the services of a third node of their own on the same
database and keys. Without PostgreSQL, Redis or HAProxy installed they skip, and fail under CI.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from deploy.cluster import Cluster
from lpm_guard.access.scopes import Role
from lpm_guard.settings import Settings
from tests.access.world import Account, World
from tests.consent.conftest import people
from tests.gate.nodes import Node

pytestmark = [pytest.mark.cluster, pytest.mark.xdist_group("cluster")]

VERIFY_LIMIT = 6
SIGN_IN_LIMIT = 8


def _missing() -> list[str]:
    needed = {"redis-server": "redis-server", "haproxy": "haproxy"}
    path = "/usr/sbin:/usr/bin:" + os.environ.get("PATH", "")
    missing = [pkg for prog, pkg in needed.items() if not shutil.which(prog, path=path)]
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        missing.append("postgresql")
    return missing


__all__ = ["here", "people"]


@dataclass
class Here:
    """The cluster, and the tests' own view of it."""

    cluster: Cluster
    node: Node  # the tests' own services on the cluster's database and keys
    world: World  # tokens over HTTP through HAProxy

    def researcher(self, quota_s: float = 600.0) -> tuple[Account, str]:
        account = self.world.researcher(quota_s=quota_s)
        response = self.world.client_token(
            account, scope="identities:write generate:offline generate:live"
        )
        assert response.status_code == 200, response.text
        return account, response.json()["access_token"]

    def reviewer_token(self) -> str:
        account = self.world.staff(Role.REVIEWER)
        return self.world.web_tokens(account)["access_token"]


@pytest.fixture(scope="session")
def here() -> Iterator[Here]:
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"not installed: {', '.join(missing)}; `make test` installs them")
        pytest.skip(f"not installed: {', '.join(missing)}")
    root = Path(tempfile.mkdtemp(prefix="lpm-cluster-test-"))
    cluster = Cluster(
        root,
        extra_env={
            "LPM_VERIFY_RATE_LIMIT": f"{VERIFY_LIMIT}/minute",
            "LPM_SIGN_IN_RATE_LIMIT": f"{SIGN_IN_LIMIT}/minute",
        },
    )
    with cluster:
        settings = Settings(
            data_dir=root / "nodes" / "tests",
            database_url=cluster.database_url,
            keys_dir=cluster.keys_dir,
            media_dir=cluster.media_dir,
            checkpoint_interval_s=3600,
            node_id="tests",
        )
        node = Node.open(settings)
        http = httpx.Client(base_url=cluster.url, timeout=30)
        try:
            yield Here(cluster, node, World(node.access, http, cluster.url, node.runtime))
        finally:
            http.close()
            node.close()
    shutil.rmtree(root, ignore_errors=True)
