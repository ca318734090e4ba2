"""A bare Celery app with one no-op task: the baseline of bench/mail_pipeline.py.

Configured like tasks/app.py (late acks, reject on worker lost, prefetch 1, no results, the
same Redis visibility timeout), so the baseline is what *our* Celery setup costs per task when
the task itself does nothing. The broker comes from BENCH_BROKER_URL.

    celery -A noop_app worker --concurrency 2      (run with bench/ on PYTHONPATH)
"""

from __future__ import annotations

import os

from celery import Celery

QUEUE = "bench_noop"

app = Celery("bench_noop", broker=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14"))
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": 3600},
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop")  # type: ignore[untyped-decorator]
def noop() -> None:
    """Nothing at all: what is left is Celery's own cost per task."""
