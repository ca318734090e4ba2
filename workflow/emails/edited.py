"""A message the award office edited by hand: its own subject and text, the template's parts
(attachments, invitation) kept. The HTML part is the text, escaped, in paragraphs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from workflow.emails.mime import (
    Attachment,
    CalendarPart,
    Letter,
    OutgoingEmail,
    alternative_bytes,
    as_message,
    envelope_sender,
    message_id_for,
    plain_address,
)
from workflow.settings import Settings


def edited_of(payload: Mapping[str, Any]) -> Mapping[str, str] | None:
    """The hand-edited version a payload carries, if any."""
    edited = payload.get("edited")
    return edited if isinstance(edited, Mapping) else None


def html_of_text(subject: str, body: str) -> str:
    paragraphs = "\n".join(
        "<p>" + "<br>\n".join(escape(line) for line in block.splitlines()) + "</p>"
        for block in body.replace("\r\n", "\n").split("\n\n")
        if block.strip()
    )
    return (
        '<!DOCTYPE html>\n<html lang="sv">\n<head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>\n<body>\n{paragraphs}\n</body>\n</html>\n"
    )


def edited_outgoing(
    edited: Mapping[str, str],
    *,
    to: str,
    key: str,
    date: datetime,
    settings: Settings,
    attachments: Sequence[Attachment] = (),
    calendar: CalendarPart | None = None,
    cc: Sequence[str] = (),
) -> OutgoingEmail:
    """The edited message as the relay sends it (same Message-ID as the template's would be)."""
    subject, body = " ".join(edited["subject"].split()), edited["text"]
    letter = Letter(
        recipient=plain_address(to),
        reply_to=settings.mail_reply_to,
        subject=subject,
        text=body if body.endswith("\n") else body + "\n",
        html=html_of_text(subject, body),
        date=date,
        message_id=message_id_for(key, settings.message_id_domain),
        cc=tuple(plain_address(address) for address in cc),
    )
    if attachments or calendar is not None:
        data = as_message(letter, settings, attachments, calendar).as_bytes()
    else:
        data = alternative_bytes(letter, settings)
    return OutgoingEmail(
        sender=envelope_sender(settings.mail_from),
        recipient=letter.recipient,
        message_id=letter.message_id,
        data=data,
        cc=letter.cc,
    )
