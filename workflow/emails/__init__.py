"""E-mails: one template folder per kind, rendered into an `EmailMessage` (`render_email`:
previews, tests, attachments) or straight into the bytes the relay sends (`render_outgoing`).

Each kind is a folder `templates/email/<kind>/{subject.txt, body.txt, body.html}` and a small
context builder registered with `@_email("<kind>")` (the warehouse pattern): the builder only
derives what the templates need from the outbox payload. Text and HTML go through separate
Jinja environments (the zulip habit): HTML is autoescaped, text is not, and both use
`StrictUndefined`, so a missing value is an error the relay records, never a blank in a letter.

    contexts.py   what each kind says (the builders, `context_for`)
    rendering.py  the templates and the letter they write (`render_email`, `render_outgoing`)
    mime.py       the message, its headers and wire bytes (`message_id_for`, the checks)

What callers may rely on:
- the same outbox key always gives the same Message-ID (`message_id_for`), so a resent
  message is recognisably the same message;
- no value can add a header: the subject is collapsed to one line, and a recipient, sender or
  attachment name with a line break (or more than one address) is refused with ValueError;
- the message is 7-bit clean (Swedish text goes quoted-printable, headers RFC 2047), so any
  SMTP server takes it, with or without 8BITMIME/SMTPUTF8.
"""

from workflow.emails.contexts import EMAIL_KINDS, context_for
from workflow.emails.mime import Attachment, CalendarPart, OutgoingEmail, message_id_for
from workflow.emails.rendering import (
    TEMPLATE_DIR,
    render_email,
    render_outgoing,
    render_subject,
)

__all__ = [
    "EMAIL_KINDS",
    "TEMPLATE_DIR",
    "Attachment",
    "CalendarPart",
    "OutgoingEmail",
    "context_for",
    "message_id_for",
    "render_email",
    "render_outgoing",
    "render_subject",
]
