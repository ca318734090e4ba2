"""Ask a worker to deliver now, after a commit. Only a nudge: if the broker is down the
message waits in the outbox and the periodic delivery picks it up within seconds.

The committing thread never publishes itself: `request_nudge` wakes one background thread per
process and returns at once, so a slow or unreachable Redis cannot hold a web request or a CLI
command (a publish to a refusing Redis took 6-8 s). Requests made while a publish is under way
fold into one more publish after it: a burst of commits costs two publishes, not one each.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading

log = logging.getLogger(__name__)

# How long a short-lived process (the CLI) waits at exit for its last nudge to go out.
FLUSH_AT_EXIT_SECONDS = 2.0


def nudge_outbox() -> bool:
    """Publish one delivery task now, in this thread; never raises. True when the broker
    took it. Callers that must not wait use `request_nudge`."""
    from workflow.settings import get_settings

    if not get_settings().celery_broker_url:
        return False  # embedded mode: the worker's own schedule delivers within seconds
    try:
        from tasks.outbox import deliver_outbox_task
        from tasks.webhooks import deliver_webhooks_task

        deliver_outbox_task.apply_async(retry=False)
        deliver_webhooks_task.apply_async(retry=False)
    except Exception as error:  # any broker failure: the periodic sweep covers it
        log.warning("could not nudge the outbox relay: %s", error)
        return False
    return True


class NudgePublisher:
    """One daemon thread that publishes the nudges this process asks for."""

    def __init__(self) -> None:
        self._wanted = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def request(self) -> None:
        """Ask for a nudge; returns at once."""
        with self._lock:
            self._idle.clear()
            self._wanted.set()
            # A forked child (a web or Celery worker) inherits no running thread: start its own.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._publish, name="nudge", daemon=True)
                self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for what was asked to be published; True if it was."""
        return self._idle.wait(timeout)

    def _publish(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            nudge_outbox()
            with self._lock:  # idle only if nobody asked again meanwhile
                if not self._wanted.is_set():
                    self._idle.set()


_publisher = NudgePublisher()


def request_nudge() -> None:
    """Ask a worker to deliver soon, without waiting for the broker."""
    _publisher.request()


def nudge_after_outbox_commits() -> None:
    """Make every commit that queues messages in this process ask a worker to deliver them
    (each entrypoint calls this once at start: the web app, the CLI, the Celery app)."""
    from workflow import db

    db.when_outbox_committed(request_nudge)


atexit.register(_publisher.flush, FLUSH_AT_EXIT_SECONDS)
