"""Use cases, where the pure core meets storage. Each runs inside the caller's one transaction
(`workflow.db.transaction`): check, apply with compare-and-set, append history, write outbox rows.

entries.py: the entry commands; documents.py: files kept with an entry; registry.py: cycles,
organisations, units, users, examiners;
operations.py: outbox retries, webhooks, feed tokens. Every use case is re-exported here, so
`services.advance_entry(...)` reads the same from every entrypoint.
"""

from __future__ import annotations

from workflow.domain.stages import parse_stage
from workflow.models import UnitCreate
from workflow.services.documents import DOCUMENT_KINDS, MAX_UPLOAD_BYTES, attach_document
from workflow.services.entries import (
    advance_entry,
    check_move,
    create_entry,
    keep_for_transaction,
    record_contribution,
    schedule_site_visit,
    withdraw_entry,
)
from workflow.services.operations import (
    NewFeedToken,
    create_feed_token,
    delete_webhook,
    issue_feed_token,
    register_webhook,
    resolve_feed_token,
    retry_message,
    revoke_feed_token,
)
from workflow.services.registry import (
    ORGANISATION_KINDS,
    NewUser,
    assign_examiner,
    create_cycle,
    create_organisation,
    create_unit,
    create_user,
    unit_spec_reasons,
    update_cycle_deadlines,
)
from workflow.services.unit_import import import_units

__all__ = [
    "DOCUMENT_KINDS",
    "MAX_UPLOAD_BYTES",
    "ORGANISATION_KINDS",
    "NewFeedToken",
    "NewUser",
    "UnitCreate",
    "advance_entry",
    "assign_examiner",
    "attach_document",
    "check_move",
    "create_cycle",
    "create_entry",
    "create_feed_token",
    "create_organisation",
    "create_unit",
    "create_user",
    "delete_webhook",
    "import_units",
    "issue_feed_token",
    "keep_for_transaction",
    "parse_stage",
    "record_contribution",
    "register_webhook",
    "resolve_feed_token",
    "retry_message",
    "revoke_feed_token",
    "schedule_site_visit",
    "unit_spec_reasons",
    "update_cycle_deadlines",
    "withdraw_entry",
]
