"""Worker processes that die with the server that started them.

A server killed with SIGKILL (the kernel's OOM killer, ``kill -9``, a crashed machine's
supervisor) runs no handler: its worker processes are never told. A ``ProcessPoolExecutor``'s
worker then waits forever on its task queue (it holds that pipe's write end itself, so it never
sees end-of-file), or finishes a job whose lease has lapsed, as an orphan under PID 1. Each pool
of the server starts its workers with ``die_with`` as their initializer: a thread in the worker
notices that its parent changed and exits. (Linux's ``PR_SET_PDEATHSIG`` would do it in the
kernel, but Python offers it only through ctypes, and it fires when the parent *thread* that
forked the worker exits, which in a threaded server is any request thread.)
"""

from __future__ import annotations

import os
import threading
import time

POLL_S = 0.5


def die_with(parent: int) -> None:
    """In a worker process: exit (at once, no clean-up: its parent's recovery owns the work)
    within ``POLL_S`` of the process ``parent`` going away."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
