"""Deliver the outbox: a thin task around `workflow.outbox.deliver_outbox_batch`."""

from __future__ import annotations

import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from tasks.app import app
from workflow.db import get_engine
from workflow.outbox import deliver_outbox_batch
from workflow.settings import Settings, get_settings
from workflow.transports import transport_from

log = logging.getLogger(__name__)
TIME_BUDGET_SECONDS = 30.0  # hand the worker back now and then; the next run goes on


@app.task(name="tasks.outbox.deliver_outbox_task")
def deliver_outbox_task() -> int:
    """Send due messages over OUTBOX_CONNECTIONS connections at once, batch after batch, until
    none is due or the time budget is spent; returns how many were sent."""
    settings = get_settings()
    relay = f"{socket.gethostname()}:{os.getpid()}"
    lanes = settings.outbox_connections
    if lanes == 1:
        return _drain(settings, relay)
    # Each lane claims its own batches under its own name, so a lane's renewals and releases
    # touch only what it holds.
    with ThreadPoolExecutor(lanes, thread_name_prefix="outbox") as pool:
        return sum(pool.map(lambda lane: _drain(settings, f"{relay}:{lane}"), range(lanes)))


def _drain(settings: Settings, worker: str) -> int:
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < TIME_BUDGET_SECONDS:
        report = deliver_outbox_batch(
            get_engine(), transport=transport_from(settings), settings=settings, worker=worker
        )
        sent += report.sent
        if report.errors:
            log.warning("outbox delivery paused: %s", report.errors[-1])
        if report.claimed == 0 or report.sent == 0:
            break
    return sent
