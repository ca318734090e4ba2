"""The Celery app, configured from `workflow.settings`, with its beat schedule beside it.

Settings follow `../shared/RELIABILITY.md`: late acks with reject-on-worker-lost and prefetch
1, so a killed worker's task runs again (every side effect is idempotent through the outbox);
no results stored; no ETA or countdown tasks — reminders are database rows swept periodically.
The task modules are named in `include` and imported by the worker when it starts, so they may
import `app` from here without an import circle.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from workflow.settings import get_settings

TASK_MODULES = ["tasks.outbox", "tasks.reminders", "tasks.webhooks", "tasks.jury"]


def make_app(broker: str | None = None) -> Celery:
    settings = get_settings()
    app = Celery(
        "kvalitet",
        broker=broker or settings.celery_broker_url or "memory://",
        include=TASK_MODULES,
    )
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue="kvalitet",
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        worker_hijack_root_logger=False,
        timezone="Europe/Stockholm",
        beat_schedule={
            "sweep-due-reminders": {
                "task": "tasks.reminders.sweep_due_reminders_task",
                "schedule": settings.reminder_sweep_seconds,
            },
            "deliver-webhooks": {
                "task": "tasks.webhooks.deliver_webhooks_task",
                "schedule": settings.outbox_sweep_seconds,
            },
            "announce-jury-decisions": {
                "task": "tasks.jury.announce_due_task",
                "schedule": settings.reminder_sweep_seconds,
            },
            "deliver-outbox": {
                "task": "tasks.outbox.deliver_outbox_task",
                "schedule": settings.outbox_sweep_seconds,  # what lost nudges left
            },
        },
    )
    return app


@after_setup_logger.connect
@after_setup_task_logger.connect
def _structured_logs(logger: Any, *args: Any, **kwargs: Any) -> None:
    """JSON log lines with the task id (LOG_FORMAT=json), as the web process writes them."""
    from workflow import logs

    for handler in logger.handlers:
        handler.addFilter(logs.ContextFilter())
        if logs.use_json():
            handler.setFormatter(logs.json_formatter())


app = make_app()
