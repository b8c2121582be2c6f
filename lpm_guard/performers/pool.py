"""The gate's generator workers: where a new session or job goes (capacity and health).

Each start asks every worker not known to be down for its health (``GET /health``: capacity
and performers running), places the performer on the one with the most free places, and tries
the next when that one is full or unreachable. A worker that cannot be reached is left out for
``down_s`` seconds (then asked again); when every worker is down, all are tried.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from ..logs import get_logger
from .errors import PerformerUnavailable
from .protocol import Direction, Portrait
from .remote import RemotePerformer, WorkerBusy

log = get_logger(__name__)


@dataclass(frozen=True)
class WorkerAddress:
    url: str  # ws://host:port or wss://host:port
    secret: bytes

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"a generator worker's URL is ws:// or wss://, not {self.url!r}")

    @property
    def health_url(self) -> str:
        return self.url.replace("ws", "http", 1).rstrip("/") + "/health"


@dataclass(frozen=True)
class WorkerHealth:
    url: str
    up: bool
    capacity: int = 0
    active: int = 0

    @property
    def free(self) -> int:
        return self.capacity - self.active if self.up else 0


class WorkerPool:
    name = "remote"

    def __init__(
        self,
        workers: list[WorkerAddress],
        *,
        encoding: str = "jpeg",
        quality: int = 95,
        stall_s: float = 3.0,
        tls: ssl.SSLContext | None = None,
        down_s: float = 10.0,
        health_timeout_s: float = 3.0,
    ) -> None:
        if not workers:
            raise ValueError("a pool needs at least one worker")
        self.workers = list(workers)
        self.encoding = encoding
        self.quality = quality
        self.stall_s = stall_s
        self._tls = tls
        self._down_s = down_s
        self._timeout = health_timeout_s
        self._down_until: dict[str, float] = {}
        self._placed: dict[str, int] = {}  # performers started here per worker (ties)
        self._lock = threading.Lock()

    def health(self, worker: WorkerAddress) -> WorkerHealth:
        request = urllib.request.Request(  # noqa: S310
            worker.health_url, headers={"Authorization": "Bearer " + worker.secret.decode()}
        )
        try:
            # http(s) only: the address was checked to be ws:// or wss://.
            opened = urllib.request.urlopen(  # noqa: S310
                request, timeout=self._timeout, context=self._tls
            )
            with opened as r:
                body = json.loads(r.read(4096))
            return WorkerHealth(worker.url, True, int(body["capacity"]), int(body["active"]))
        except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError):
            return WorkerHealth(worker.url, False)

    def _mark_down(self, worker: WorkerAddress) -> None:
        with self._lock:
            self._down_until[worker.url] = time.monotonic() + self._down_s
        log.warning("generator worker down", worker=worker.url)

    def _candidates(self) -> list[WorkerAddress]:
        now = time.monotonic()
        with self._lock:
            up = [w for w in self.workers if self._down_until.get(w.url, 0.0) <= now]
        return up or list(self.workers)

    def start(self, portrait: Portrait, direction: Direction) -> RemotePerformer:
        ranked: list[tuple[int, int, WorkerAddress]] = []
        for worker in self._candidates():
            health = self.health(worker)
            if not health.up:
                self._mark_down(worker)
            elif health.free > 0:
                ranked.append((-health.free, self._placed.get(worker.url, 0), worker))
        ranked.sort(key=lambda r: (r[0], r[1]))
        for _, _, worker in ranked:
            try:
                performer = RemotePerformer(
                    worker.url,
                    worker.secret,
                    portrait,
                    direction,
                    encoding=self.encoding,
                    quality=self.quality,
                    stall_s=self.stall_s,
                    tls=self._tls,
                )
            except WorkerBusy:
                continue
            except PerformerUnavailable:
                self._mark_down(worker)
                continue
            with self._lock:
                self._placed[worker.url] = self._placed.get(worker.url, 0) + 1
            return performer
        raise PerformerUnavailable("no generator worker can take this now (all down or full)")


def client_tls(
    ca_file: str | None, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext | None:
    """TLS for ``wss://`` workers: their CA, and the gate's own certificate for mutual TLS."""
    if ca_file is None and cert_file is None:
        return None
    context = ssl.create_default_context(cafile=ca_file)
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
    return context
