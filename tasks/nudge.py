"""Ask a worker to deliver now, after a commit. Only a nudge: if the broker is down the
message waits in the outbox and the periodic delivery picks it up within seconds."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def nudge_outbox() -> bool:
    """Publish one delivery task; never raises. True when the broker took it."""
    from workflow.settings import get_settings

    if not get_settings().celery_broker_url:
        return False  # embedded mode: the worker's own schedule delivers within seconds
    try:
        from tasks.outbox import deliver_outbox_task
        from tasks.webhooks import deliver_webhooks_task

        deliver_outbox_task.apply_async(retry=False)
        deliver_webhooks_task.apply_async(retry=False)
    except Exception as error:  # any broker failure: the periodic sweep covers it
        log.warning("could not nudge the outbox relay: %s", error)
        return False
    return True
