"""Sweep due reminders into the outbox: a thin task around `workflow.reminders`."""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.app import app
from workflow.db import get_engine, transaction
from workflow.reminders import sweep_due_reminders


@app.task(name="tasks.reminders.sweep_due_reminders_task")
def sweep_due_reminders_task() -> int:
    """Queue every due reminder (batch by batch) and nudge delivery when any was queued."""
    queued = 0
    while True:
        with transaction(get_engine()) as session:
            batch = sweep_due_reminders(session, now=datetime.now(UTC))
        queued += batch
        if batch == 0:
            break
    if queued:
        from tasks.outbox import deliver_outbox_task

        deliver_outbox_task.delay()
    return queued
