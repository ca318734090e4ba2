"""Ask a worker to deliver now, after a commit. Only a nudge: if the broker is down the
message waits in the outbox and the periodic delivery picks it up within seconds.

The committing thread never publishes itself: `request_nudge` wakes one background thread per
process and returns at once, so a slow or unreachable Redis cannot hold a web request or a CLI
command (a publish to a refusing Redis took 6-8 s). Requests made while a publish is under way
fold into one more publish after it: a burst of commits costs two publishes, not one each.

The publish itself is bounded (see ../shared/RELIABILITY.md): its own connection with
sub-second socket timeouts and no publish retry, and a breaker that stops trying for a while
after a failure, so a refusing or frozen Redis costs one short wait, not one per commit.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# How long a short-lived process (the CLI) waits at exit for its last nudge to go out.
FLUSH_AT_EXIT_SECONDS = 2.0

# A nudge to a healthy local Redis takes about a millisecond; anything slower is an outage,
# and the outbox sweep (every 10 s) delivers without the nudge.
NUDGE_SOCKET_TIMEOUT_SECONDS = 0.5
NUDGE_TRANSPORT_OPTIONS = {
    "socket_timeout": NUDGE_SOCKET_TIMEOUT_SECONDS,
    "socket_connect_timeout": NUDGE_SOCKET_TIMEOUT_SECONDS,
    "max_retries": 0,
}


class Breaker:
    """After a failed publish, skip publishing for a while: first `first_pause` seconds,
    doubling with each failure up to `longest_pause`; one success closes it again."""

    def __init__(
        self,
        *,
        first_pause: float = 2.0,
        longest_pause: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first_pause, self.longest_pause, self._clock = first_pause, longest_pause, clock
        self._pause = 0.0
        self._closed_at = 0.0  # when publishing may be tried again

    def allows(self) -> bool:
        return self._clock() >= self._closed_at

    def succeeded(self) -> None:
        self._pause, self._closed_at = 0.0, 0.0

    def failed(self) -> float:
        """Open the breaker; returns the pause it now keeps."""
        self._pause = min(max(self._pause * 2, self.first_pause), self.longest_pause)
        self._closed_at = self._clock() + self._pause
        return self._pause


def publish_nudge(broker_url: str) -> None:
    """Publish one delivery task per channel over a connection of its own, bounded by short
    socket timeouts and never retried; raises what the broker raised."""
    from tasks.app import app
    from tasks.outbox import deliver_outbox_task
    from tasks.webhooks import deliver_webhooks_task

    with app.connection_for_write(
        url=broker_url, transport_options=NUDGE_TRANSPORT_OPTIONS
    ) as connection:
        for task in (deliver_outbox_task, deliver_webhooks_task):
            task.apply_async(connection=connection, retry=False)


def nudge_outbox(breaker: Breaker | None = None) -> bool:
    """Publish the nudge now, in this thread, unless the breaker is open; never raises.
    True when the broker took it. Callers that must not wait use `request_nudge`."""
    from workflow.settings import get_settings

    broker_url = get_settings().celery_broker_url
    if not broker_url:
        return False  # embedded mode: the worker's own schedule delivers within seconds
    if breaker is not None and not breaker.allows():
        return False  # the broker failed just now: the periodic sweep covers it
    try:
        publish_nudge(broker_url)
    except Exception as error:  # any broker failure: the periodic sweep covers it
        pause = breaker.failed() if breaker is not None else 0.0
        log.warning("could not nudge the outbox relay (next try in %.0f s): %s", pause, error)
        return False
    if breaker is not None:
        breaker.succeeded()
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
        self.breaker = Breaker()

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
            nudge_outbox(self.breaker)
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
