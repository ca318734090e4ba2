"""The outbox: every e-mail and webhook event a change causes, as rows, and their relay.

- `rows.py` builds every row, payload and recipient address (nothing else spells them);
- `claims.py` decides which relay may send a row, and until when;
- `relay.py` claims due rows, sends them over one connection and records each result;
- `transports.py` is where messages go (SMTP, an `.eml` folder);
- `operator.py` is what an operator sees and does (views, queue health, retry).
"""

from workflow.outbox.claims import (
    claim_batch,
    dead_letter_exhausted,
    release_claims,
    release_stale_claims,
    stale_claims,
)
from workflow.outbox.operator import (
    STATUSES,
    QueueHealth,
    outbox_views,
    queue_health,
    retry_message,
    subject_of,
)
from workflow.outbox.relay import (
    EMAIL,
    Channel,
    DeliveryReport,
    backoff,
    deliver_outbox_batch,
    deliver_until_idle,
)
from workflow.outbox.rows import (
    address_for,
    entry_message_rows,
    files_made_on_queueing,
    message_context,
    reminder_message_row,
    webhook_event_rows,
)

__all__ = [
    "EMAIL",
    "STATUSES",
    "Channel",
    "DeliveryReport",
    "QueueHealth",
    "address_for",
    "backoff",
    "claim_batch",
    "dead_letter_exhausted",
    "deliver_outbox_batch",
    "deliver_until_idle",
    "entry_message_rows",
    "files_made_on_queueing",
    "message_context",
    "outbox_views",
    "queue_health",
    "release_claims",
    "release_stale_claims",
    "reminder_message_row",
    "retry_message",
    "stale_claims",
    "subject_of",
    "webhook_event_rows",
]
