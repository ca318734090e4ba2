"""E-mails: one template folder per kind, rendered into an `EmailMessage` (`render_email`:
previews, tests, attachments) or straight into the bytes the relay sends (`render_outgoing`).

Each kind is a folder `templates/email/<kind>/{subject.txt, body.txt, body.html}` and a small
context builder registered with `@_email("<kind>")` (the warehouse pattern): the builder only
derives what the templates need from the outbox payload. Text and HTML go through separate
Jinja environments (the zulip habit): HTML is autoescaped, text is not, and both use
`StrictUndefined`, so a missing value is an error the relay records, never a blank in a letter.

What callers may rely on:
- the same outbox key always gives the same Message-ID (`message_id_for`), so a resent
  message is recognisably the same message;
- no value can add a header: the subject is collapsed to one line, and a recipient, sender or
  attachment name with a line break (or more than one address) is refused with ValueError;
- the message is 7-bit clean (Swedish text goes quoted-printable, headers RFC 2047), so any
  SMTP server takes it, with or without 8BITMIME/SMTPUTF8.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import hashlib
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from workflow.domain.calendar import STOCKHOLM
from workflow.domain.rules import (
    AWARD_CLASSES,
    AWARD_OFFICE_EMAIL,
    is_email,
    normalise_award_class,
)
from workflow.settings import Settings

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "email"

# SMTP line endings; 7-bit bodies so no server needs 8BITMIME.
POLICY = email.policy.SMTP.clone(cte_type="7bit")

_MONTHS_SV = (
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
)
# A bare addr-spec: no display name, no list, no comments, no whitespace.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*/[A-Za-z0-9][A-Za-z0-9.+-]*")
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclass(frozen=True)
class Attachment:
    """A file sent with the message (e.g. the minutes extract as PDF)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class CalendarPart:
    """An iCalendar invitation (VCALENDAR with METHOD:REQUEST), added as text/calendar."""

    ics: str


# --- context builders (one per kind) -------------------------------------------------------

ContextBuilder = Callable[[Mapping[str, Any], date | None], dict[str, Any]]
_BUILDERS: dict[str, ContextBuilder] = {}


def _email(kind: str) -> Callable[[ContextBuilder], ContextBuilder]:
    """Register the context builder of the e-mail kind `kind` (its template folder's name)."""

    def register(builder: ContextBuilder) -> ContextBuilder:
        _BUILDERS[kind] = builder
        return builder

    return register


def _stage_data(payload: Mapping[str, Any], stage: str) -> Mapping[str, Any]:
    """The data recorded with `stage`, or kept for it ahead of time; KeyError when neither."""
    facts: Mapping[str, Any] = payload["facts"]
    if stage in facts:
        return facts[stage]  # type: ignore[no-any-return]
    pending: Mapping[str, Any] = payload["pending"]
    return pending[stage]  # type: ignore[no-any-return]


def _paragraph(value: str) -> str:
    """The minutes paragraph as the seeds write it: "12" → "§ 12"."""
    value = " ".join(value.split())
    return value if value.startswith("§") else f"§ {value}"


@_email("notification_receipt")
@_email("agenda_request")
@_email("withdrawal_confirmation")
def _payload_only(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    return {}


@_email("board_decision_recorded")
@_email("extract_to_award_office")
def _board_decision(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    decision = _stage_data(payload, "board_decision")
    if decision["decision"] not in ("approved", "noted"):
        raise ValueError(f"Okänt nämndbeslut: {decision['decision']!r}")
    return {
        "decision": decision["decision"],
        "meeting_date": decision["meeting_date"],
        "paragraph": _paragraph(str(decision["paragraph"])),
    }


@_email("contribution_receipt")
def _contribution(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    contribution = _stage_data(payload, "submitted")
    return {
        # Kept ahead of its stage: the board decision or the extract is still missing.
        "kept_for_later": "submitted" in payload["pending"],
        "board_decided": "board_decision" in payload["facts"],
        "submitted_on": contribution.get("submitted_on"),
        "title": contribution.get("title"),
    }


@_email("site_visit_notice")
def _site_visit(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    examined = payload["facts"].get("examined", {})
    site_visit_on = payload.get("site_visit_on") or examined.get("site_visit_on")
    if not site_visit_on:
        raise KeyError("site_visit_on")
    return {
        "site_visit_on": site_visit_on,
        "examiner": examined.get("examiner"),
        # Swedish style "kl. 9.00–12.00"; a notice queued before hours were booked has none.
        "site_visit_hours": _swedish_hours(payload.get("starts_at"), payload.get("ends_at")),
    }


def _swedish_hours(starts_at: str | None, ends_at: str | None) -> str | None:
    if not starts_at or not ends_at:
        return None

    def clock(value: str) -> str:
        hours, minutes = value.split(":")[:2]
        return f"{int(hours)}.{minutes}"

    return f"kl. {clock(starts_at)}–{clock(ends_at)}"


@_email("feedback_letter")
def _feedback(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    feedback = payload["facts"]["feedback"]
    return {
        "strengths": _points(feedback["strengths"]),
        "development_areas": _points(feedback["development_areas"]),
    }


@_email("jury_outcome")
def _jury(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    outcome = payload["facts"]["jury"]["outcome"]
    if outcome not in ("winner", "not_awarded"):
        raise ValueError(f"Okänt utfall från domarkommittén: {outcome!r}")
    return {"outcome": outcome}


@_email("reminder")
@_email("overdue")
@_email("escalation")
def _deadline(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    if payload["deadline_kind"] not in ("contribution", "extract"):
        raise ValueError(f"Okänd tidsfrist: {payload['deadline_kind']!r}")
    deadline = date.fromisoformat(str(payload["deadline"]))
    # A reminder moved to the working day before a weekend or holiday is sent more days ahead
    # than its offset says, so count from the day it is dated when that is known.
    days_left = (deadline - today).days if today is not None else int(payload["days_before"])
    return {"deadline_date": deadline, "days_left": days_left}


def _points(text: str) -> list[str]:
    """Free text as a list of points: one per non-empty line, list markers dropped."""
    points = [line.strip().lstrip("-–•*").strip() for line in str(text).splitlines()]
    return [point for point in points if point]


EMAIL_KINDS: frozenset[str] = frozenset(_BUILDERS)

# Keys a payload may carry but need not; templates test them with `{% if … %}`.
_OPTIONAL: Mapping[str, Any] = {
    "contribution_deadline": None,  # ISO date of the cycle's deadline for the contribution
    "extract_deadline": None,  # ISO date of the cycle's deadline for the minutes extract
    "privately_run": None,  # True/False when known: privately run units have no board
    "award_office_email": AWARD_OFFICE_EMAIL,
    "coordinator_email": None,  # the organisation's coordinator, when it has one
    "organisation_kind": None,  # forvaltning | bolag: a bolag's decision is its styrelse's
}
# The award office's own mail about an organisation's case: a reply goes to that
# organisation's coordinator, not back to the office.
_REPLY_TO_COORDINATOR = frozenset({"extract_to_award_office"})
# Names that appear in subjects and single lines: never more than one line.
_ONE_LINE = ("unit", "organisation", "board")


def context_for(
    kind: str, payload: Mapping[str, Any], *, today: date | None = None
) -> dict[str, Any]:
    """The template context of `kind` for an outbox payload.

    `today` is the Stockholm day the message is dated (reminders count days left from it).
    Raises ValueError for an unknown kind and KeyError/ValueError for data the kind needs
    but the payload lacks.
    """
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"Okänd e-posttyp: {kind!r} (kända: {', '.join(sorted(EMAIL_KINDS))})")
    context: dict[str, Any] = {**_OPTIONAL, **payload}
    if not context["award_office_email"]:  # a cycle without its own address
        context["award_office_email"] = AWARD_OFFICE_EMAIL
    for name in _ONE_LINE:
        if isinstance(context.get(name), str):
            context[name] = " ".join(context[name].split())
    context.update(builder(context, today))
    # Who decides, in the words of the seeds: a förvaltning's nämnd, a bolag's styrelse.
    company = context["organisation_kind"] == "bolag"
    context["decider"] = "styrelsen" if company else "nämnden"
    context["deciders"] = "styrelsens" if company else "nämndens"
    coordinator = context["coordinator_email"]
    replies_to_coordinator = kind in _REPLY_TO_COORDINATOR and coordinator and is_email(coordinator)
    context["reply_address"] = coordinator if replies_to_coordinator else None
    return context


# --- filters ---------------------------------------------------------------------------------


def datum(value: date | datetime | str) -> str:
    """A date in Swedish, as the seeds write it: "17 maj 2024" (datetimes in Stockholm time)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(STOCKHOLM)
        value = value.date()
    if not isinstance(value, date):
        raise TypeError(f"Inget datum: {value!r}")
    return f"{value.day} {_MONTHS_SV[value.month - 1]} {value.year}"


def klass(value: str) -> str:
    """An award class code (or name) as its Swedish name: "aldreomsorg" → "äldreomsorg"."""
    code = normalise_award_class(value)
    if code is None:
        raise ValueError(f"Okänd klass: {value!r}")
    return AWARD_CLASSES[code]


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
    env.filters["datum"] = datum
    env.filters["klass"] = klass
    env.filters["radbryt"] = radbryt
    return env


@lru_cache(maxsize=8)
def environments(template_dir: Path = TEMPLATE_DIR) -> tuple[Environment, Environment]:
    """The (text, html) Jinja environments over `template_dir`, cached per folder."""
    return _environment(template_dir, html=False), _environment(template_dir, html=True)


# --- the message -----------------------------------------------------------------------------


def message_id_for(key: str, domain: str) -> str:
    """The Message-ID of the outbox message with `key`: the same key gives the same id."""
    _refuse_line_breaks("Message-ID-domän", domain)
    if not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", domain):
        raise ValueError(f"Ogiltig domän för Message-ID: {domain!r}")
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


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
    return context_for(kind, payload, today=date.astimezone(STOCKHOLM).date())


def _render_subject(kind: str, full: Mapping[str, Any], text_env: Any) -> str:
    subject = " ".join(text_env.get_template(f"{kind}/subject.txt").render(full).split())
    if not subject:
        raise ValueError(f"Ämnesraden för {kind!r} blev tom.")
    return subject


@dataclass(frozen=True)
class OutgoingEmail:
    """A message ready for the wire: its envelope and its exact bytes (CRLF, 7-bit)."""

    sender: str  # MAIL FROM
    recipient: str  # RCPT TO
    message_id: str
    data: bytes


@dataclass(frozen=True)
class _Letter:
    """What the templates made of one outbox row, before it becomes MIME."""

    recipient: str
    reply_to: str
    subject: str
    text: str
    html: str
    date: datetime
    message_id: str


def _write_letter(
    kind: str,
    *,
    to: str,
    context: Mapping[str, Any],
    key: str,
    date: datetime,
    settings: Settings,
    template_dir: Path | None,
) -> _Letter:
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("Datumet för ett e-postmeddelande måste ha tidszon.")
    recipient = _plain_address(to)
    for label, value in (
        ("avsändare", settings.mail_from),
        ("svarsadress", settings.mail_reply_to),
    ):
        _refuse_line_breaks(label, value)

    full = _template_context(kind, context, date, settings)
    text_env, html_env = environments(template_dir or TEMPLATE_DIR)
    subject = _render_subject(kind, full, text_env)
    full["subject"] = subject  # the HTML page's <title>
    reply_to = full["reply_address"] or settings.mail_reply_to
    _refuse_line_breaks("svarsadress", reply_to)
    return _Letter(
        recipient=recipient,
        reply_to=reply_to,
        subject=subject,
        text=text_env.get_template(f"{kind}/body.txt").render(full),
        html=html_env.get_template(f"{kind}/body.html").render(full),
        date=date,
        message_id=message_id_for(key, settings.message_id_domain),
    )


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
) -> EmailMessage:
    """The message of `kind` to `to`, from an outbox payload (`context`) and its `key`.

    `date` must be timezone-aware (it becomes the Date header and, in Stockholm time, the day
    reminders count from). Raises ValueError for an unsafe header value or unknown kind, and
    jinja2.UndefinedError / KeyError when the payload lacks what the templates need.
    """
    letter = _write_letter(
        kind,
        to=to,
        context=context,
        key=key,
        date=date,
        settings=settings,
        template_dir=template_dir,
    )
    return _as_message(letter, settings, attachments, calendar)


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
) -> OutgoingEmail:
    """`render_email`'s message as the relay sends it: envelope and wire bytes.

    Most messages (every reminder) are text plus HTML and nothing else; those are written
    directly, which costs a tenth of building and flattening an `EmailMessage`. A test holds
    the two to the same headers and bodies. Messages with parts beyond those go through the
    email package.
    """
    letter = _write_letter(
        kind,
        to=to,
        context=context,
        key=key,
        date=date,
        settings=settings,
        template_dir=template_dir,
    )
    if attachments or calendar is not None:
        data = _as_message(letter, settings, attachments, calendar).as_bytes()
    else:
        data = _alternative_bytes(letter, settings)
    return OutgoingEmail(
        sender=_envelope_sender(settings.mail_from),
        recipient=letter.recipient,
        message_id=letter.message_id,
        data=data,
    )


def _as_message(
    letter: _Letter,
    settings: Settings,
    attachments: Sequence[Attachment],
    calendar: CalendarPart | None,
) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["From"] = settings.mail_from
    message["To"] = letter.recipient
    message["Reply-To"] = letter.reply_to
    message.set_raw("Subject", _encoded_subject(letter.subject))
    message["Date"] = format_datetime(letter.date)
    message["Message-ID"] = letter.message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    if calendar is not None:
        message.add_alternative(calendar.ics, subtype="calendar", params={"method": "REQUEST"})
    for attachment in attachments:
        _add_attachment(message, attachment)
    return message


def _alternative_bytes(letter: _Letter, settings: Settings) -> bytes:
    """multipart/alternative of text and HTML, both UTF-8 quoted-printable, CRLF throughout.

    The boundary starts with "=_", which quoted-printable text can never contain.
    """
    boundary = b"=_" + hashlib.sha256(letter.message_id.encode()).hexdigest()[:32].encode()
    subject = "\r\n".join(_encoded_subject(letter.subject).splitlines())
    return b"".join(
        (
            _folded("From", settings.mail_from),
            _folded("To", letter.recipient),
            _folded("Reply-To", letter.reply_to),
            f"Subject: {subject}\r\n".encode("ascii"),
            f"Date: {format_datetime(letter.date)}\r\n".encode("ascii"),
            f"Message-ID: {letter.message_id}\r\n".encode("ascii"),
            b"Auto-Submitted: auto-generated\r\n",
            b"MIME-Version: 1.0\r\n",
            b'Content-Type: multipart/alternative;\r\n boundary="' + boundary + b'"\r\n',
            b"\r\n--" + boundary + b"\r\n",
            _QP_TEXT_HEADERS % b"plain",
            _quoted_printable(letter.text),
            b"\r\n--" + boundary + b"\r\n",
            _QP_TEXT_HEADERS % b"html",
            _quoted_printable(letter.html),
            b"\r\n--" + boundary + b"--\r\n",
        )
    )


_QP_TEXT_HEADERS = (
    b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
)


def _quoted_printable(body: str) -> bytes:
    lines = body.replace("\r\n", "\n").replace("\r", "\n")
    if not lines.endswith("\n"):  # as the email package does: every body line is ended
        lines += "\n"
    encoded = binascii.b2a_qp(lines.encode("utf-8"), quotetabs=False, istext=True)
    return encoded.replace(b"\n", b"\r\n")


@lru_cache(maxsize=4096)
def _folded(name: str, value: str) -> bytes:
    """The header as the email package writes it (RFC 2047 names, folding), CRLF-ended."""
    return POLICY.fold_binary(*POLICY.header_store_parse(name, value))


@lru_cache(maxsize=64)
def _envelope_sender(mail_from: str) -> str:
    """The bare address of the From header, as `smtplib.send_message` would take it."""
    return getaddresses([mail_from])[0][1]


_SUBJECT_ROOM = 78 - len("Subject: ")
_WORD_BYTES = 42  # "Subject: =?utf-8?b?" + 56 base64 characters + "?=" is 78 characters


def _encoded_subject(subject: str) -> str:
    """The Subject value, encoded and folded here rather than by the email package.

    Python's own folding drops the space between two encoded words it puts on
    separate lines (CPython gh-144156, fixed only in 2026: "Socialförvaltningen – X" arrives as
    "Socialförvaltningen– X"). Here the spaces travel inside base64 encoded words, split only
    between characters, so the subject decodes exactly; `subject` is already one line, so
    nothing can be injected. (The email package's `Header` does the same, ten times slower.)
    """
    # Text that merely looks like an encoded word is encoded too, so it reads back verbatim.
    if subject.isascii() and "=?" not in subject and len(subject) <= _SUBJECT_ROOM:
        return subject
    data = subject.encode("utf-8")
    words: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # never split a character
            end -= 1
        words.append(_encoded_word(data[start:end]))
        start = end
    return "\n ".join(words)


def _encoded_word(data: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(data).decode("ascii") + "?="


def _add_attachment(message: EmailMessage, attachment: Attachment) -> None:
    _refuse_line_breaks("filnamn", attachment.filename)
    if not _CONTENT_TYPE.fullmatch(attachment.content_type):
        raise ValueError(f"Ogiltig innehållstyp för bilaga: {attachment.content_type!r}")
    maintype, subtype = attachment.content_type.lower().split("/")
    message.add_attachment(
        attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
    )


@lru_cache(maxsize=4096)  # a unit gets a dozen reminders; check its address once
def _plain_address(value: str) -> str:
    """`value` when it is one bare address (no name, no list, no line break); else ValueError."""
    _refuse_line_breaks("mottagare", value)
    address = value.strip()
    if not _PLAIN_ADDRESS.fullmatch(address):
        raise ValueError(f"Mottagaren måste vara en enda e-postadress: {value!r}")
    Address(addr_spec=address)  # the email package's own parser must agree
    return address


def _refuse_line_breaks(label: str, value: str) -> None:
    if _LINE_BREAKS.search(value):
        raise ValueError(f"Radbrytning i {label} är inte tillåten: {value!r}")
