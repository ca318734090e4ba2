"""Sweep due reminders into the outbox: a thin task around `workflow.reminders`."""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.app import app
from tasks.outbox import deliver_outbox_task
from workflow.db import get_engine
from workflow.reminders import sweep_all_due_reminders
from workflow.services.feedback_release import release_due_feedback


@app.task(name="tasks.reminders.sweep_due_reminders_task")
def sweep_due_reminders_task() -> int:
    """Queue every due reminder, carry out every feedback release now due, and nudge
    delivery when anything was queued."""
    queued = sweep_all_due_reminders(get_engine(), clock=lambda: datetime.now(UTC))
    queued += release_due_feedback(get_engine(), now=datetime.now(UTC))
    if queued:
        deliver_outbox_task.delay()
    return queued
