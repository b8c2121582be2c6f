"""The offline audio check (silero-vad, then pocketsphinx over every segment) and the decoding
of reference images, in worker processes (issue 18, M2 and M3).

A generation's audio may run to ten minutes; its check takes seconds to minutes, most of it in
pocketsphinx, which holds the GIL. Run in a thread of the server it stalled the event loop
(``/healthz`` 16.7 s behind 105 s of speech) and every live session of the process. Here each
check runs in one of ``workers`` spawned processes (``LPM_AUDIO_CHECK_WORKERS``) that load the
policy once; the request's thread waits for the answer without the GIL. As many checks again
may wait for a worker; past that a request is refused at once with 503 and Retry-After.
Reference images (up to eight of 40 megapixels) are decoded there too and come back shrunk to
the size the gate compares faces at: Pillow holds the GIL through much of a PNG's decoding,
which stalled the loop 5.4 s in a thread of the server.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

from ..consent.faces import RGB, decode_image, shrink
from ..errors import Unavailable
from ..lifelines import die_with
from ..policy import AudioDecision, InputRejected, Policy
from ..policy import Use as PolicyUse

T = TypeVar("T")
_policy: Policy | None = None  # in each worker: loaded once, by ``_load``


def _load(version: str, parent: int) -> None:
    die_with(parent)  # no orphan checking audio for a server killed with SIGKILL
    import torch  # silero-vad's runtime

    torch.set_num_threads(1)  # the pool is the parallelism
    global _policy
    _policy = Policy.load()
    if _policy.version != version:
        raise RuntimeError(f"policy {_policy.version} is not {version}")


def _ready() -> None:
    """Nothing: a worker answers it once its initializer has loaded the policy."""


def _reference(path: str) -> RGB:
    return shrink(decode_image(Path(path).read_bytes()))


def _check(path: str, use: str) -> AudioDecision | tuple[str, str]:
    """The decision, or a refused input's limit and message (``InputRejected`` does not
    survive pickling: its constructor takes two arguments)."""
    assert _policy is not None, "the worker's policy is loaded by its initializer"
    try:
        return _policy.check_audio_file(Path(path), PolicyUse(use))
    except InputRejected as exc:
        return exc.limit, str(exc)


class AudioCheckPool:
    """``workers`` processes (0: half the CPUs, at least one), started on first use."""

    def __init__(self, policy: Policy, workers: int = 0) -> None:
        self.policy = policy
        self.workers = workers or max(1, (os.cpu_count() or 2) // 2)
        self._slots = threading.BoundedSemaphore(2 * self.workers)
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("spawn"),  # no fork of a server
                    initializer=_load,
                    initargs=(self.policy.version, os.getpid()),
                )
            return self._executor

    def warm(self) -> None:
        """Start every worker now (each loads torch and the policy): one task each that
        waits for its initializer, so none lands on a worker already busy starting."""
        pool = self._pool()
        for future in [pool.submit(_ready) for _ in range(self.workers)]:
            future.result()

    def check(self, path: Path, use: PolicyUse) -> AudioDecision:
        """``Policy.check_audio_file`` in a worker (raises what it raises: InputRejected)."""
        decision = self._run(_check, str(path), use.value)
        if isinstance(decision, tuple):
            raise InputRejected(*decision)
        return decision

    def reference(self, path: Path) -> RGB:
        """A reference image decoded in a worker (pixels bounded before decoding) and shrunk
        to the working size (raises what ``decode_image`` raises)."""
        rgb: RGB = self._run(_reference, str(path))
        return rgb

    def _run(self, function: Callable[..., T], *args: str) -> T:
        if not self._slots.acquire(blocking=False):
            raise Unavailable(
                "the server is busy checking other audio; try again shortly", retry_after_s=10
            )
        try:
            return self._pool().submit(function, *args).result()
        except BrokenProcessPool:
            with self._lock:  # the next check starts a fresh pool
                self._executor = None
            raise Unavailable("the audio check worker failed; try again", retry_after_s=5) from None
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
