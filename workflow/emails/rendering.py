"""E-mails rendered from their templates: the Jinja environments and the letter they write.

Text and HTML go through separate Jinja environments (the zulip habit): HTML is autoescaped,
text is not, and both use `StrictUndefined`, so a missing value is an error the relay records,
never a blank in a letter.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import getaddresses
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from workflow import swedish
from workflow.domain.calendar import STOCKHOLM
from workflow.emails.contexts import SENT_FOR_ORGANISATION, context_for
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
    refuse_line_breaks,
)
from workflow.settings import Settings

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "email"

_LIST_ITEM = re.compile(r"\s*(?:[-–•*]|\d+[.)])\s+")


def radbryt(text: str, width: int = 76) -> str:
    """Plain text wrapped at `width`, line by line; list items get a hanging indent."""
    return "\n".join(_wrapped_line(line, width) for line in text.split("\n"))


@lru_cache(maxsize=4096)  # most lines of most letters are the same in every letter
def _wrapped_line(line: str, width: int) -> str:
    item = _LIST_ITEM.match(line)
    indent = " " * len(item.group()) if item else ""
    wrapped = textwrap.wrap(
        line,
        width,
        subsequent_indent=indent,
        break_long_words=False,  # e-mail addresses and links stay whole
        break_on_hyphens=False,  # "Hägersten-Älvsjö" stays on one line
    )
    return "\n".join(wrapped) if wrapped else ""


def _environment(template_dir: Path, *, html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(template_dir),
        # Plain text must not be HTML-escaped; the HTML engine is.
        autoescape=html,  # noqa: S701
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates ship with the code; no stat() per message
    )
    env.filters.update(swedish.FILTERS, radbryt=radbryt)
    return env


@lru_cache(maxsize=8)
def environments(template_dir: Path = TEMPLATE_DIR) -> tuple[Environment, Environment]:
    """The (text, html) Jinja environments over `template_dir`, cached per folder."""
    return _environment(template_dir, html=False), _environment(template_dir, html=True)


def render_subject(
    kind: str,
    *,
    context: Mapping[str, Any],
    date: datetime,
    settings: Settings,
    template_dir: Path | None = None,
) -> str:
    """The subject line `render_email` would give the message, without rendering the bodies
    (a list of messages shows hundreds of subjects)."""
    text_env, _ = environments(template_dir or TEMPLATE_DIR)
    return _render_subject(kind, _template_context(kind, context, date, settings), text_env)


def _template_context(
    kind: str, context: Mapping[str, Any], date: datetime, settings: Settings
) -> dict[str, Any]:
    payload = {**context}
    if not payload.get("award_office_email"):
        payload["award_office_email"] = settings.mail_reply_to
    full = context_for(kind, payload, today=date.astimezone(STOCKHOLM).date())
    # Read from the settings as the letter is written, not frozen in the payload, so a message
    # queued before the address was set (or changed) links to where the service is now.
    entry_id = context.get("entry_id")
    full["entry_link"] = settings.entry_url(int(entry_id)) if entry_id else None
    full["award_office_name"] = (
        " ".join(settings.award_office_name.split()) or "Kvalitetsutmärkelsen"
    )
    full["award_office_contact"] = " ".join(settings.award_office_contact.split()) or None
    return full


def _render_subject(kind: str, full: Mapping[str, Any], text_env: Any) -> str:
    subject = " ".join(text_env.get_template(f"{kind}/subject.txt").render(full).split())
    if not subject:
        raise ValueError(f"Ämnesraden för {kind!r} blev tom.")
    case_number = full.get("case_number")
    if isinstance(case_number, str) and case_number.strip():
        # The organisation files replies under it: every subject about the entry carries it.
        subject = f"{subject} [Dnr {' '.join(case_number.split())}]"
    return subject


def _write_letter(
    kind: str,
    to: str,
    context: Mapping[str, Any],
    key: str,
    date: datetime,
    settings: Settings,
    template_dir: Path | None,
    cc: Sequence[str] = (),
) -> Letter:
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("Datumet för ett e-postmeddelande måste ha tidszon.")
    recipient = plain_address(to)
    copies = tuple(plain_address(address) for address in cc)
    for label, value in (
        ("avsändare", settings.mail_from),
        ("svarsadress", settings.mail_reply_to),
    ):
        refuse_line_breaks(label, value)

    full = _template_context(kind, context, date, settings)
    text_env, html_env = environments(template_dir or TEMPLATE_DIR)
    subject = _render_subject(kind, full, text_env)
    full["subject"] = subject  # the HTML page's <title>
    reply_to = full["reply_address"] or settings.mail_reply_to
    refuse_line_breaks("svarsadress", reply_to)
    return Letter(
        from_header=_from_header(kind, full, settings),
        recipient=recipient,
        reply_to=reply_to,
        subject=subject,
        text=text_env.get_template(f"{kind}/body.txt").render(full),
        html=html_env.get_template(f"{kind}/body.html").render(full),
        date=date,
        message_id=message_id_for(key, settings.message_id_domain),
        cc=copies,
    )


def _from_header(kind: str, context: Mapping[str, Any], settings: Settings) -> str | None:
    """The award office's own address, named for the organisation the system writes for
    ("Socialförvaltningen via Kvalitetsutmärkelsen"): the extract is the organisation's
    notice to the office, so the office is not shown writing to itself. None: the usual From."""
    if kind not in SENT_FOR_ORGANISATION:
        return None
    name, address = getaddresses([settings.mail_from])[0]
    office = name or settings.award_office_name
    return str(Address(display_name=f"{context['organisation']} via {office}", addr_spec=address))


def render_email(
    kind: str,
    *,
    to: str,
    context: Mapping[str, Any],
    key: str,
    date: datetime,
    settings: Settings,
    attachments: Sequence[Attachment] = (),
    calendar: CalendarPart | None = None,
    template_dir: Path | None = None,
    cc: Sequence[str] = (),
) -> EmailMessage:
    """The message of `kind` to `to`, from an outbox payload (`context`) and its `key`.

    `date` must be timezone-aware (it becomes the Date header and, in Stockholm time, the day
    reminders count from). Raises ValueError for an unsafe header value or unknown kind, and
    jinja2.UndefinedError / KeyError when the payload lacks what the templates need.
    """
    letter = _write_letter(kind, to, context, key, date, settings, template_dir, cc)
    return as_message(letter, settings, attachments, calendar)


def render_outgoing(
    kind: str,
    *,
    to: str,
    context: Mapping[str, Any],
    key: str,
    date: datetime,
    settings: Settings,
    attachments: Sequence[Attachment] = (),
    calendar: CalendarPart | None = None,
    template_dir: Path | None = None,
    cc: Sequence[str] = (),
) -> OutgoingEmail:
    """`render_email`'s message as the relay sends it: envelope and wire bytes.

    Most messages (every reminder) are text plus HTML and nothing else; those are written
    directly, which costs a tenth of building and flattening an `EmailMessage`. A test holds
    the two to the same headers and bodies. Messages with parts beyond those go through the
    email package.
    """
    letter = _write_letter(kind, to, context, key, date, settings, template_dir, cc)
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
