"""Keep a worker process running: start it again when it exits on its own.

Celery's worker can die of its broker connection: with Redis restarted under it, kombu's
cleanup raises and the worker ends with "Unrecoverable error" (reproduced in our Redis-restart
test; celery#4652, kombu#582 are the same family). docker-compose restarts a crashed
container, but `kvalitet worker` and `kvalitet serve` run without one, so they supervise the
worker themselves. The database stays the source of truth: a restarted worker finds every
due reminder and queued message where the crashed one left them.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import FrameType

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> None:
    """Run in a child between fork and exec (`Popen(preexec_fn=…)`): the kernel sends it
    SIGTERM when the process that started it ends, however that ends (SIGKILL included), so
    no worker, scheduler or embedded Redis outlives the command that started it."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent ended before the call: nobody would signal us
        os._exit(0)


FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 30.0
STEADY_SECONDS = 60.0  # a child that ran this long had recovered: start again at once


class Supervisor:
    """Runs `argv` until told to stop (SIGTERM, SIGINT or `stop()`), restarting it after a
    growing pause whenever it exits by itself."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.restarts = 0
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()

    def run(self) -> int:
        """Supervise until stopped; returns the last child's exit code."""
        delay = FIRST_DELAY_SECONDS
        while True:
            started = time.monotonic()
            self._child = subprocess.Popen(self.argv, env=self.env, preexec_fn=die_with_parent)
            code = self._child.wait()
            if self._stopping.is_set():
                return code
            if time.monotonic() - started >= STEADY_SECONDS:
                delay = FIRST_DELAY_SECONDS
            log.warning(
                "worker exited by itself (exit code %s); starting it again in %.0f s", code, delay
            )
            if self._stopping.wait(delay):
                return code
            self.restarts += 1
            delay = min(delay * 2, MAX_DELAY_SECONDS)

    def stop(self) -> None:
        """Ask the child for a warm shutdown (SIGTERM: it finishes its tasks) and stop."""
        self._stopping.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    def stop_on_signals(self) -> None:
        """SIGTERM and SIGINT stop the supervisor and, through it, the child. A second
        SIGTERM is harmless to Celery (it ignores it while shutting down warm)."""

        def handler(_signum: int, _frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
