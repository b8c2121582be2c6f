"""Which backend renders: the CPU generator here, or the configured ``generator-worker``s."""

from __future__ import annotations

import threading
from pathlib import Path

from ..errors import InvalidRequest
from ..settings import Settings
from .pool import WorkerAddress, WorkerPool, client_tls
from .protocol import Backend

_lock = threading.Lock()
_backends: dict[tuple[object, ...], Backend] = {}


def read_secrets(path: Path | None, urls: list[str]) -> dict[str, bytes]:
    """Each worker's secret from ``path`` (``URL SECRET`` lines, or one bare secret for all)."""
    if path is None:
        raise InvalidRequest("LPM_GENERATOR_WORKER_SECRETS names no file of worker secrets")
    named: dict[str, bytes] = {}
    default: bytes | None = None
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 1:
            default = parts[0].encode()
        elif len(parts) == 2:
            named[parts[0].rstrip("/")] = parts[1].encode()
    secrets = {}
    for url in urls:
        secret = named.get(url.rstrip("/"), default)
        if secret is None or len(secret) < 16:
            raise InvalidRequest(f"no secret of 16 characters or more for the worker {url}")
        secrets[url] = secret
    return secrets


def backend_for(settings: Settings) -> Backend:
    """The process's backend for these settings (one pool per configuration: it remembers
    which workers are down)."""
    urls = settings.generator_worker_list
    key: tuple[object, ...] = (
        tuple(urls),
        settings.generator_worker_secrets,
        settings.generator_worker_ca,
        settings.generator_worker_cert,
        settings.generator_frames,
        settings.generator_stall_s,
    )
    with _lock:
        backend = _backends.get(key)
        if backend is None:
            backend = _build(settings, urls)
            _backends[key] = backend
        return backend


def _build(settings: Settings, urls: list[str]) -> Backend:
    if not urls:
        from .local import LocalBackend  # the CPU generator, imported only where it renders

        return LocalBackend()
    secrets = read_secrets(settings.generator_worker_secrets, urls)
    tls = client_tls(
        str(settings.generator_worker_ca) if settings.generator_worker_ca else None,
        str(settings.generator_worker_cert) if settings.generator_worker_cert else None,
        str(settings.generator_worker_key) if settings.generator_worker_key else None,
    )
    return WorkerPool(
        [WorkerAddress(url, secrets[url]) for url in urls],
        encoding=settings.generator_frames,
        stall_s=settings.generator_stall_s,
        tls=tls,
    )
