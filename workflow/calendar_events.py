"""The events the calendars have published, so that SEQUENCE and LAST-MODIFIED mean something.

A calendar app keeps an event by its UID and replaces it only with a copy of higher SEQUENCE
(RFC 5545 §3.8.7.4, RFC 5546 §2.1.4). So SEQUENCE must rise each time the event itself moves
(a deadline moved, a site visit rebooked or cancelled) and stay put otherwise: an event whose
SEQUENCE rose on every unrelated change of its entry asks every attendee to accept it anew.

Each event is recorded as published (`CalendarEvent`: its fingerprint, SEQUENCE and
LAST-MODIFIED). The change that moves an event records it in its own transaction; the feed
records, when it is built, what no change recorded (events published for the first time, and
those a change outside an entry's or a cycle's own commands moved, such as a unit's new name),
so no copy of an event ever goes out under a SEQUENCE that another copy used for other words.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from icalendar import Event
from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from workflow.models import CalendarEvent

# What an attendee would notice: a change of any of these is a new version of the event.
FINGERPRINTED = ("DTSTART", "DTEND", "SUMMARY", "LOCATION", "STATUS")
_TABLE = CalendarEvent.__table__  # type: ignore[attr-defined]
_CHUNK = 1000


@dataclass(frozen=True)
class Issued:
    """An event's SEQUENCE and LAST-MODIFIED as last published."""

    sequence: int
    last_modified: datetime


def fingerprint(event: Event) -> str:
    """What the event says, as a digest: equal exactly when an attendee would see no change."""
    digest = hashlib.sha256()
    for name in FINGERPRINTED:
        value = event.get(name)
        digest.update(name.encode() + b"=")
        if value is not None:
            digest.update(value.to_ical())
            digest.update(repr(sorted(value.params.items())).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def record(
    session: Session,
    events: Sequence[Event],
    *,
    now: datetime,
    first_sequence: Mapping[str, int] | None = None,
    recorded: Mapping[str, CalendarEvent] | None = None,
) -> dict[str, Issued]:
    """Record `events` as published now, by UID: a new one at SEQUENCE 0 (or its
    `first_sequence`, for an event published before this record was kept), a changed one one
    SEQUENCE higher, an unchanged one as it was. Safe against a racing writer: an insert or
    update another transaction made first is kept, and its values returned.

    `recorded` (from `read`, before the data the events were made of was read) is what they
    are compared with; without it, the record is read now, which is right only when a racing
    change of that data cannot commit in between (the caller's compare-and-set or lock)."""
    if not events:
        return {}
    prints = {str(event["UID"]): fingerprint(event) for event in events}
    if recorded is None:
        stored = read(session, prints)
    else:
        stored = {uid: recorded[uid] for uid in prints if uid in recorded}
    written = False
    now = now.astimezone(UTC)
    for uid, print_ in prints.items():
        row = stored.get(uid)
        if row is None:
            start = (first_sequence or {}).get(uid, 0)
            _insert_new(session, uid, start, print_, now)
            written = True
        elif row.fingerprint != print_:
            # Only from the fingerprint read: a change a racing writer recorded first stands.
            session.connection().execute(
                update(_TABLE)
                .where(_TABLE.c.uid == uid, _TABLE.c.fingerprint == row.fingerprint)
                .values(sequence=row.sequence + 1, fingerprint=print_, last_modified=now)
            )
            written = True
    if written:
        stored = read(session, prints)
    return {uid: Issued(row.sequence, row.last_modified) for uid, row in stored.items()}


def read(session: Session, uids: Iterable[str]) -> dict[str, CalendarEvent]:
    """The recorded rows of `uids`, a thousand at a time (a whole city's feed names more
    than a database takes as parameters of one statement)."""
    wanted = list(uids)
    found: dict[str, CalendarEvent] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = session.connection().execute(sa_select(_TABLE).where(_TABLE.c.uid.in_(chunk)))
        for row in rows:
            found[row.uid] = CalendarEvent(
                uid=row.uid,
                sequence=row.sequence,
                fingerprint=row.fingerprint,
                last_modified=row.last_modified,
            )
    return found


def _insert_new(session: Session, uid: str, sequence: int, print_: str, now: datetime) -> None:
    """Insert, or leave the row a racing transaction inserted first (both our databases)."""
    values = {"uid": uid, "sequence": sequence, "fingerprint": print_, "last_modified": now}
    dialect = {"postgresql": postgresql, "sqlite": sqlite}[session.connection().dialect.name]
    session.connection().execute(dialect.insert(_TABLE).values(**values).on_conflict_do_nothing())


def stamp(event: Event, issued: Issued, *, dtstamp: datetime | None = None) -> Event:
    """Give `event` its SEQUENCE and LAST-MODIFIED, and its DTSTAMP: when it was last
    modified (a feed: the same bytes until something changes, so its ETag holds), or the
    moment an invitation is sent (`dtstamp`)."""
    event.add("DTSTAMP", (dtstamp or issued.last_modified).astimezone(UTC))
    event.add("LAST-MODIFIED", issued.last_modified.astimezone(UTC))
    event.add("SEQUENCE", issued.sequence)
    return event
