"""E-mails as MIME: the message, its headers and its wire bytes (CRLF, 7-bit).

`as_message` builds an `EmailMessage` with the email package; `alternative_bytes` writes the
common text-plus-HTML message directly, a tenth of the cost (a test holds the two to the same
headers and bodies). No value can add a header: every address, name and domain that reaches a
header is checked for line breaks here.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from functools import lru_cache

from workflow.settings import Settings

# SMTP line endings; 7-bit bodies so no server needs 8BITMIME.
POLICY = email.policy.SMTP.clone(cte_type="7bit")

# A bare addr-spec: no display name, no list, no comments, no whitespace.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*/[A-Za-z0-9][A-Za-z0-9.+-]*")
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def list_id(settings: Settings) -> str:
    """RFC 2919 `List-Id` of every message this service sends: mail filters and auto-responders
    recognise it as one automated stream (ASCII only, built from the sender's address)."""
    addresses = getaddresses([settings.mail_from])
    address = addresses[0][1] if addresses else ""
    local, _, domain = address.partition("@")
    local = re.sub(r"[^A-Za-z0-9-]", "-", local or "kvalitet")
    domain = re.sub(r"[^A-Za-z0-9.-]", "-", domain or "localhost")
    return f"Kvalitetsutmarkelsen <{local}.{domain}>"


# Out-of-office and other auto-replies must not flood the award office's inbox: RFC 3834's
# Auto-Submitted for most clients, Microsoft's own header for Exchange and Outlook.
AUTOMATED_HEADERS = (("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All"))


@dataclass(frozen=True)
class Attachment:
    """A file sent with the message (e.g. the minutes extract as PDF)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class CalendarPart:
    """An iCalendar invitation (VCALENDAR with METHOD:REQUEST), or its cancellation
    (METHOD:CANCEL), added as text/calendar with the same method."""

    ics: str
    method: str = "REQUEST"


@dataclass(frozen=True)
class OutgoingEmail:
    """A message ready for the wire: its envelope and its exact bytes (CRLF, 7-bit)."""

    sender: str  # MAIL FROM
    recipient: str  # RCPT TO
    message_id: str
    data: bytes
    cc: tuple[str, ...] = ()  # RCPT TO as well, named in the Cc header

    @property
    def recipients(self) -> list[str]:
        """Every envelope recipient: the addressee first, then those in copy."""
        return [self.recipient, *self.cc]


@dataclass(frozen=True)
class Letter:
    """What the templates made of one outbox row, before it becomes MIME."""

    recipient: str
    reply_to: str
    subject: str
    text: str
    html: str
    date: datetime
    message_id: str
    # The From header when it is not the settings' own (a notice sent for an organisation).
    from_header: str | None = None
    cc: tuple[str, ...] = ()  # each a plain address (see `plain_address`)


def message_id_for(key: str, domain: str) -> str:
    """The Message-ID of the outbox message with `key`: the same key gives the same id."""
    refuse_line_breaks("Message-ID-domän", domain)
    if not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", domain):
        raise ValueError(f"Ogiltig domän för Message-ID: {domain!r}")
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def as_message(
    letter: Letter,
    settings: Settings,
    attachments: Sequence[Attachment],
    calendar: CalendarPart | None,
) -> EmailMessage:
    """The letter as an `EmailMessage`: text and HTML (and the invitation), then attachments."""
    message = EmailMessage(policy=POLICY)
    message["From"] = letter.from_header or settings.mail_from
    message["To"] = letter.recipient
    if letter.cc:
        message["Cc"] = ", ".join(letter.cc)
    message["Reply-To"] = letter.reply_to
    message.set_raw("Subject", _encoded_subject(letter.subject))
    message["Date"] = format_datetime(letter.date)
    message["Message-ID"] = letter.message_id
    for name, value in AUTOMATED_HEADERS:
        message[name] = value
    message["List-Id"] = list_id(settings)
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    if calendar is not None:
        message.add_alternative(
            calendar.ics, subtype="calendar", params={"method": calendar.method}
        )
    for attachment in attachments:
        _add_attachment(message, attachment)
    return message


def alternative_bytes(letter: Letter, settings: Settings) -> bytes:
    """multipart/alternative of text and HTML, both UTF-8 quoted-printable, CRLF throughout.

    The boundary starts with "=_", which quoted-printable text can never contain.
    """
    boundary = b"=_" + hashlib.sha256(letter.message_id.encode()).hexdigest()[:32].encode()
    subject = "\r\n".join(_encoded_subject(letter.subject).splitlines())
    return b"".join(
        (
            _folded("From", letter.from_header or settings.mail_from),
            _folded("To", letter.recipient),
            _folded("Cc", ", ".join(letter.cc)) if letter.cc else b"",
            _folded("Reply-To", letter.reply_to),
            f"Subject: {subject}\r\n".encode("ascii"),
            f"Date: {format_datetime(letter.date)}\r\n".encode("ascii"),
            f"Message-ID: {letter.message_id}\r\n".encode("ascii"),
            *(f"{name}: {value}\r\n".encode("ascii") for name, value in AUTOMATED_HEADERS),
            f"List-Id: {list_id(settings)}\r\n".encode("ascii"),
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
def envelope_sender(mail_from: str) -> str:
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
    refuse_line_breaks("filnamn", attachment.filename)
    if not _CONTENT_TYPE.fullmatch(attachment.content_type):
        raise ValueError(f"Ogiltig innehållstyp för bilaga: {attachment.content_type!r}")
    maintype, subtype = attachment.content_type.lower().split("/")
    message.add_attachment(
        attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
    )


@lru_cache(maxsize=4096)  # a unit gets a dozen reminders; check its address once
def plain_address(value: str) -> str:
    """`value` when it is one bare address (no name, no list, no line break); else ValueError."""
    refuse_line_breaks("mottagare", value)
    address = value.strip()
    if not _PLAIN_ADDRESS.fullmatch(address):
        raise ValueError(f"Mottagaren måste vara en enda e-postadress: {value!r}")
    Address(addr_spec=address)  # the email package's own parser must agree
    return address


def refuse_line_breaks(label: str, value: str) -> None:
    if _LINE_BREAKS.search(value):
        raise ValueError(f"Radbrytning i {label} är inte tillåten: {value!r}")
