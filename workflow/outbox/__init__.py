"""The outbox: every e-mail and webhook event a change causes, as rows, and their relay.

- `rows.py` builds every row, payload and recipient address (nothing else spells them);
- `claims.py` decides which relay may send a row, and until when;
- `relay.py` claims due rows, sends them over one connection and records each result;
- `channels.py` builds each kind of message from its row (e-mail, signed webhook request);
- `transports.py` is where messages go (SMTP, an `.eml` folder, HTTP);
- `operator.py` is what an operator sees and does (views, queue health, retry).

Attachment policy — **Frozen when queued.** A message is complete when it is queued: every part
it will carry (its text context, a calendar invitation, its attachments) is fixed in the
transaction that queues it, and the relay composes it from its row and the uploaded documents
the row names, never from an entry's live facts. So every attempt — a retry after a 4xx, a
resend after an interrupted send, an operator's `outbox retry` — sends the same message under
the same Message-ID, and a relay never reads back up into the rest of the system.
Uploaded files (the minutes extract, up to 20 MB) are stored once and never changed, so a row
names them by id (`payload["attachments"]`) and a batch loads them in one query; a file made
for a message (the draft board report, about 40 kB as DOCX) and the invitation (about 1 kB)
ride in the payload (`made_files`, `invitation_ics`). Only one message per city-run entry, the
agenda request, carries a made file, so rows stay small.
"""

from workflow.outbox.channels import EMAIL, WEBHOOK, Channel
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
    "WEBHOOK",
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
