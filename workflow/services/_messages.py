"""The e-mail rows a change of an entry writes to the outbox (transactional outbox).

Apart from the use cases so that the one builder of outbox rows can take this over whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from workflow import reminders
from workflow.domain.messages import MessageSpec, Recipient
from workflow.models import Cycle, Entry, Organisation, Unit


def _outbox_rows(
    entry: Entry,
    unit: Unit,
    cycle: Cycle,
    specs: Iterable[MessageSpec],
    now: datetime,
    attachments: Mapping[str, list[int]] | None,
    organisation: Organisation,
    extra: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    addresses = {
        Recipient.UNIT_CONTACT: unit.contact_email,
        Recipient.COORDINATOR: organisation.coordinator_email,
        Recipient.AWARD_OFFICE: cycle.award_office_email,
    }
    context = reminders.message_context(entry, unit, organisation, cycle)
    return [
        {
            "key": f"entry/{entry.id}/v{entry.version}/{spec.kind}",
            "entry_id": entry.id,
            "channel": "email",
            "kind": spec.kind,
            "recipient": addresses[spec.recipient],
            "payload": {
                **context,
                "stage": spec.stage.value,
                "attachments": list((attachments or {}).get(spec.kind, [])),
                **(extra or {}),
            },
            "status": "queued",
            "due_at": now,
            "created_at": now,
        }
        for spec in specs
        # Nobody to write to: the entry page shows the missing address.
        if addresses[spec.recipient]
    ]
