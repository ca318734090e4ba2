"""Announce the jury's decisions whose moment has come: a thin task around
`workflow.services.jury.announce_due` (idempotent: an announced cycle is never announced
again, so a beat that fires twice queues nothing twice)."""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.app import app
from tasks.outbox import deliver_outbox_task
from workflow.db import get_engine, transaction
from workflow.services.jury import announce_due


@app.task(name="tasks.jury.announce_due_task")
def announce_due_task() -> list[int]:
    """The years announced now; delivery is nudged when any was."""
    with transaction(get_engine()) as session:
        years = announce_due(session, now=datetime.now(UTC))
    if years:
        deliver_outbox_task.delay()
    return years
