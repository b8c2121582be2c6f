"""Live speech checks in worker processes.

Every live session's agent voice is transcribed by pocketsphinx as it streams (the policy's
``LiveChecker``). pocketsphinx decodes while holding the GIL, so in the server's process each
stream's recogniser stalls every other session's render and network threads for about a tenth
of its time: the sessions stop scaling past a few. The checkers therefore live in a small pool
of spawned processes; a session's ``PooledLiveCheck`` sends its audio there and waits (without
the GIL) for the decision. A worker that dies takes its sessions' checks with it: their next
check raises, and the session stops with an error rather than stream unchecked speech.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from ..policy import Policy
from ..policy import Use as PolicyUse
from .checks import policy_stop
from .session import PolicyStop

# A worker answers ("ok", PolicyStop | None) or ("error", what went wrong).
_Reply = tuple[str, Any]


class CheckWorkerFailed(RuntimeError):
    """The worker process holding a session's checker failed or went away."""


def _serve(connection: Connection, policy_version: str) -> None:
    """A worker's loop: one ``LiveChecker`` per open session, driven by the parent's calls."""
    # One thread each: the pool is the parallelism, and idle worker threads spin on the cores
    # the render threads need. The live checks run on onnxruntime (silero-vad, MiniLM: one
    # thread each) and pocketsphinx; torch is loaded only if the semantic layer must export its
    # model first, and then takes its thread count from here.
    os.environ["OMP_NUM_THREADS"] = "1"
    policy = Policy.load()
    checkers: dict[int, Any] = {}
    if policy.version != policy_version:
        connection.send(("error", f"policy {policy.version} is not {policy_version}"))
        return
    connection.send(("ok", None))  # ready
    while True:
        try:
            message = connection.recv()
        except EOFError:  # the server went away
            return
        kind, key, *args = message
        reply: _Reply = ("ok", None)
        try:
            if kind == "open":
                checkers[key] = policy.live_checker(PolicyUse(args[0]))
            elif kind == "close":
                checkers.pop(key, None)
            else:
                checker = checkers[key]
                if kind == "audio":
                    decision = checker.feed_audio(args[0], args[1])
                else:
                    decision = checker.feed_transcript(args[0])
                reply = ("ok", policy_stop(decision))
        except Exception as exc:  # reported to the session, which stops
            reply = ("error", type(exc).__name__)
        connection.send(reply)


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: Connection
    lock: threading.Lock  # one call at a time on the pipe

    def call(self, *message: object) -> PolicyStop | None:
        with self.lock:
            try:
                self.connection.send(message)
                status, value = self.connection.recv()
            except (EOFError, OSError) as exc:
                raise CheckWorkerFailed("the speech check worker went away") from exc
        if status != "ok":
            raise CheckWorkerFailed(f"the speech check failed: {value}")
        result: PolicyStop | None = value
        return result


class CheckPool:
    """``processes`` spawned workers (default: half the CPUs, at least one), started on first
    use; sessions are spread over them in turn."""

    def __init__(self, policy: Policy, processes: int | None = None) -> None:
        self.policy = policy
        self.processes = processes or max(1, (os.cpu_count() or 2) // 2)
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self._keys = itertools.count()
        self._closed = False

    def checker(self, use: PolicyUse = PolicyUse.LIVE) -> PooledLiveCheck:
        """A live check for one session (blocks while the workers start, the first time)."""
        workers = self._started()
        worker = workers[next(self._turn) % len(workers)]
        key = next(self._keys)
        worker.call("open", key, use.value)
        return PooledLiveCheck(self.policy, worker, key, use)

    def warm(self) -> None:
        """Start the workers now (each loads the policy and the speech models)."""
        self._started()

    def _started(self) -> list[_Worker]:
        with self._lock:
            if self._closed:
                raise CheckWorkerFailed("the speech check pool is closed")
            if not self._workers:
                context = multiprocessing.get_context("spawn")  # no fork of a threaded server
                for n in range(self.processes):
                    parent, child = context.Pipe()
                    process = context.Process(
                        target=_serve,
                        args=(child, self.policy.version),
                        name=f"lpm-speech-check-{n}",
                        daemon=True,
                    )
                    process.start()
                    child.close()
                    self._workers.append(_Worker(process, parent, threading.Lock()))
                for worker in self._workers:
                    status, value = worker.connection.recv()
                    if status != "ok":
                        raise CheckWorkerFailed(f"a speech check worker refused: {value}")
            return list(self._workers)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.connection.close()  # the worker's recv ends: it returns
            worker.process.join(5)
            if worker.process.is_alive():
                worker.process.kill()


class PooledLiveCheck:
    """``LiveCheck`` for one session, its speech checked in a pool worker."""

    def __init__(self, policy: Policy, worker: _Worker, key: int, use: PolicyUse) -> None:
        self.policy = policy
        self.use = use
        self._worker = worker
        self._key = key

    def audio(self, samples: np.ndarray, sample_rate: int) -> PolicyStop | None:
        return self._worker.call("audio", self._key, samples, sample_rate)

    def transcript(self, text: str) -> PolicyStop | None:
        return self._worker.call("transcript", self._key, text)

    def instructions(self, text: str) -> PolicyStop | None:
        return policy_stop(self.policy.check_text(text, self.use))  # text rules: in process

    def close(self) -> None:
        with contextlib.suppress(CheckWorkerFailed):  # a dead worker took the checker along
            self._worker.call("close", self._key)
