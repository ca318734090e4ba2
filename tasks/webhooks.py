"""Deliver webhook events: a thin task around `workflow.outbox.deliver_outbox_batch`."""

from __future__ import annotations

import os
import socket
import time

from tasks.app import app
from workflow.db import get_engine
from workflow.outbox import deliver_outbox_batch
from workflow.settings import get_settings
from workflow.webhooks import WEBHOOK, HttpTransport

TIME_BUDGET_SECONDS = 30.0


@app.task(name="tasks.webhooks.deliver_webhooks_task")
def deliver_webhooks_task() -> int:
    """POST due webhook events batch after batch until none is due or the budget is spent."""
    settings = get_settings()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < TIME_BUDGET_SECONDS:
        report = deliver_outbox_batch(
            get_engine(),
            transport=HttpTransport(settings.webhook_timeout_seconds),
            settings=settings,
            worker=worker,
            channel=WEBHOOK,
        )
        sent += report.sent
        if report.claimed == 0 or report.sent == 0:
            break
    return sent
