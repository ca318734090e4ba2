"""Deliver webhook events: a thin task around `workflow.outbox.deliver_until_idle`."""

from __future__ import annotations

import os
import socket

from tasks.app import app
from workflow.db import get_engine
from workflow.domain.addresses import parse_allowed_hosts
from workflow.outbox import WEBHOOK, deliver_until_idle
from workflow.outbox.transports import HttpTransport
from workflow.settings import get_settings

TIME_BUDGET_SECONDS = 30.0


@app.task(name="tasks.webhooks.deliver_webhooks_task")
def deliver_webhooks_task() -> int:
    """POST due webhook events batch after batch until none is due or the budget is spent."""
    settings = get_settings()
    return deliver_until_idle(
        get_engine(),
        transport=lambda: HttpTransport(
            settings.webhook_timeout_seconds,
            allowed_hosts=parse_allowed_hosts(settings.webhook_allowed_hosts),
        ),
        settings=settings,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        channel=WEBHOOK,
        budget_seconds=TIME_BUDGET_SECONDS,
    )
