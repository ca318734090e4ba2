"""Deliver the outbox: a thin task around `workflow.outbox.deliver_until_idle`."""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor

from tasks.app import app
from workflow.db import get_engine
from workflow.outbox import deliver_until_idle
from workflow.outbox.transports import transport_from
from workflow.settings import Settings, get_settings

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
    return deliver_until_idle(
        get_engine(),
        transport=lambda: transport_from(settings),
        settings=settings,
        worker=worker,
        budget_seconds=TIME_BUDGET_SECONDS,
    )
