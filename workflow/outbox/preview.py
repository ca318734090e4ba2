"""One e-mail as it will be sent, beside the template's own version (they differ once the
award office has edited it)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from workflow.domain.errors import NotFound, refusal
from workflow.emails import render_email
from workflow.emails.edited import edited_of
from workflow.models import OutboxMessage
from workflow.settings import get_settings


def template_version(message: OutboxMessage) -> tuple[str, str]:
    """(subject, text) the templates write for this message."""
    settings = get_settings()
    rendered = render_email(
        message.kind,
        # Only the subject and text are shown: one with nobody to send to yet (undeliverable)
        # is written as the award office's own copy would be.
        to=message.recipient or settings.mail_reply_to,
        context=message.payload,
        key=message.key,
        date=message.created_at,
        settings=settings,
    )
    body = rendered.get_body(("plain",))
    text = str(body.get_content()) if body is not None else ""
    return str(rendered["Subject"]), text.replace("\r\n", "\n")


def message_detail(session: Session, message_id: int) -> dict[str, Any]:
    message = session.get(OutboxMessage, message_id)
    if message is None or message.channel != "email":
        raise refusal(NotFound, "not_found", f"Meddelandet med id {message_id} finns inte.")
    template_subject, template_text = template_version(message)
    edited = edited_of(message.payload)
    return {
        "id": message.id,
        "entry_id": message.entry_id,
        "kind": message.kind,
        "to": message.recipient,
        "status": message.status,
        "subject": edited["subject"] if edited else template_subject,
        "text": edited["text"] if edited else template_text,
        "template_subject": template_subject,
        "template_text": template_text,
        "edited_by": edited.get("by") if edited else None,
        "edited_at": edited.get("at") if edited else None,
    }
