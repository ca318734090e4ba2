"""iCalendar (RFC 5545): the subscribable feeds and the site-visit invitation.

A feed holds, for every cycle, the deadlines, the winners' day and the ceremony in Stadshuset,
and for every entry (of one organisation, or of the whole city) its board meeting, the days it
was given instead of the cycle's, and its site visit. Timed events are in Europe/Stockholm with
a VTIMEZONE; all-day events are DATE values. Every event has a UID derived from what it is
(`site-visit-41@kvalitet.stockholm.se`), so a calendar app that fetches the feed again updates
its events instead of adding copies, and the invitation e-mailed for a site visit (and its
cancellation) is the same event as the one in the feed. SEQUENCE and LAST-MODIFIED are the
event's as recorded (`workflow.calendar_events`), and DTSTAMP in a feed is LAST-MODIFIED, so the
feed's bytes (and its ETag) stay the same until an event changes.

A calendar app cannot log in, so a feed is reached with a random token in its URL; the tokens'
use cases are in `workflow.services.operations`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import (
    Calendar,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
    vDuration,
)
from sqlalchemy import or_
from sqlmodel import Session, col, select

from workflow import calendar_events
from workflow.domain.calendar import STOCKHOLM, ceremony_span, entry_deadline, site_visit_hours
from workflow.domain.errors import feed_not_found, not_found
from workflow.domain.rules import BOARD_DECISIONS, is_email
from workflow.domain.stages import Stage
from workflow.models import Cycle, Entry, Organisation, Unit
from workflow.queries.entries import entry_with_context

UID_DOMAIN = "kvalitet.stockholm.se"
PRODID = "-//Stockholms stad//Kvalitetsutmärkelsen//SV"
TZID = "Europe/Stockholm"
CALENDAR_NAME = "Kvalitetsutmärkelsen"
CEREMONY_PLACE = "Stadshuset, Hantverkargatan 1, Stockholm"
REFRESH = timedelta(hours=1)  # how often a subscribing app should fetch the feed again

# --- the time zone ---------------------------------------------------------------------------


def stockholm_vtimezone(first_year: int, last_year: int) -> Timezone:
    """A VTIMEZONE for Europe/Stockholm covering `first_year` to `last_year`, from zoneinfo.

    Written here rather than with icalendar's `Timezone.from_tzinfo`: that one (7.3) gives the
    spring observance DTSTART 03:00 with TZOFFSETFROM +0100, an onset an hour late, whereas RFC
    5545 §3.6.5 reads DTSTART in the offset *before* the change (02:00 for Stockholm).
    """
    return Timezone.from_ical(_vtimezone_ical(first_year, last_year))  # type: ignore[return-value]


@lru_cache(maxsize=16)
def _vtimezone_ical(first_year: int, last_year: int) -> bytes:
    zone = ZoneInfo(TZID)
    start = datetime(first_year, 1, 1, tzinfo=zone)
    end = datetime(last_year + 1, 1, 1, tzinfo=zone)
    timezone = Timezone()
    timezone.add("TZID", TZID)
    timezone.add("X-LIC-LOCATION", TZID)
    # The observance in force when the range begins, then one per kind of change, the later
    # changes of the same kind as RDATEs; every onset is local time in TZOFFSETFROM.
    first_offset = _offset(start)
    observances: dict[tuple[timedelta, timedelta, str, bool], list[datetime]] = {
        (first_offset, first_offset, start.tzname() or TZID, bool(start.dst())): [
            start.replace(tzinfo=None)
        ]
    }
    for instant, before, after in _transitions(zone, start, end):
        local = instant.astimezone(zone)
        key = (before, after, local.tzname() or TZID, bool(local.dst()))
        onset = (instant + before).replace(tzinfo=None)
        observances.setdefault(key, []).append(onset)
    for (before, after, name, daylight), onsets in observances.items():
        observance = TimezoneDaylight() if daylight else TimezoneStandard()
        observance.add("DTSTART", onsets[0])
        if onsets[1:]:
            observance.add("RDATE", onsets[1:])
        observance.add("TZNAME", name)
        observance.add("TZOFFSETFROM", before)
        observance.add("TZOFFSETTO", after)
        timezone.add_component(observance)
    return bytes(timezone.to_ical())


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None
    return offset


def _transitions(
    zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, timedelta, timedelta]]:
    """(UTC instant, offset before, offset after) of every offset change in [start, end)."""
    found: list[tuple[datetime, timedelta, timedelta]] = []
    low = int(start.timestamp())
    stop = int(end.timestamp())
    offset = _offset(datetime.fromtimestamp(low, zone))
    day = 86_400  # zones change offset at most once a day
    while low < stop:
        high = min(low + day, stop)
        after = _offset(datetime.fromtimestamp(high, zone))
        if after != offset:
            lo, hi = low, high  # offset(lo) == offset, offset(hi) == after: bisect to the second
            while hi - lo > 1:
                middle = (lo + hi) // 2
                if _offset(datetime.fromtimestamp(middle, zone)) == offset:
                    lo = middle
                else:
                    hi = middle
            found.append((datetime.fromtimestamp(hi, UTC), offset, after))
            offset = after
        low = high
    return found


# --- events ----------------------------------------------------------------------------------


def event_uid(kind: str, ident: int) -> str:
    """Stable: the same deadline or visit always has the same UID, feed after feed."""
    return f"{kind}-{ident}@{UID_DOMAIN}"


def site_visit_uid(entry_id: int) -> str:
    return event_uid("site-visit", entry_id)


# Every kind of event a cycle and an entry can have, by the first part of its UID.
CYCLE_EVENTS = ("contribution-deadline", "extract-deadline", "winners-day", "ceremony")
ENTRY_EVENTS = ("board-meeting", "contribution-extension", "extract-extension", "site-visit")


def possible_uids(years: Iterable[int], entry_ids: Iterable[int | None]) -> list[str]:
    """The UIDs the events of these cycles and entries can have (not all exist)."""
    return [event_uid(kind, year) for year in years for kind in CYCLE_EVENTS] + [
        event_uid(kind, entry_id or 0) for entry_id in entry_ids for kind in ENTRY_EVENTS
    ]


def fact_date(facts: Mapping[str, Mapping[str, Any]], stage: str, name: str) -> date | None:
    """A date recorded with `stage` (ISO text in the entry's facts), or None."""
    value = (facts.get(stage) or {}).get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def site_visit_day(facts: Mapping[str, Mapping[str, Any]]) -> date | None:
    """The day of the site visit: as examined when that is recorded, else as booked."""
    return fact_date(facts, Stage.EXAMINED, "site_visit_on") or fact_date(
        facts, "site_visit", "site_visit_on"
    )


def _stockholm(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=STOCKHOLM)


def _all_day(uid: str, day: date, summary: str, *, description: str | None = None) -> Event:
    event = Event()
    event.add("UID", uid)
    event.add("DTSTART", day)
    event.add("DTEND", day + timedelta(days=1))  # exclusive: a one-day event
    event.add("SUMMARY", summary)
    if description:
        event.add("DESCRIPTION", description)
    event.add("TRANSP", "TRANSPARENT")  # a deadline does not make anyone busy
    return event


def _timed(
    uid: str,
    day: date,
    hours: tuple[time, time],
    summary: str,
    *,
    location: str,
    description: str,
) -> Event:
    event = Event()
    event.add("UID", uid)
    event.add("DTSTART", _stockholm(day, hours[0]))  # TZID=Europe/Stockholm
    event.add("DTEND", _stockholm(day, hours[1]))
    event.add("SUMMARY", summary)
    event.add("LOCATION", location)
    event.add("DESCRIPTION", description)
    return event


def cycle_events(cycle: Cycle) -> list[Event]:
    """The cycle's deadlines, its winners' day and its ceremony, without DTSTAMP, SEQUENCE and
    LAST-MODIFIED (see `workflow.calendar_events`)."""
    year = cycle.year
    award = f"Kvalitetsutmärkelsen {year}"
    ceremony = _timed(
        event_uid("ceremony", year),
        cycle.winners_date,
        ceremony_span(cycle.ceremony_starts_at, cycle.ceremony_ends_at),
        f"Prisutdelning i Stadshuset – {award}",
        location=CEREMONY_PLACE,
        description=(
            "Vinnarna i Stockholms stads kvalitetsutmärkelse får sina priser i Stadshuset."
        ),
    )
    return [
        _all_day(
            event_uid("contribution-deadline", year),
            cycle.contribution_deadline,
            f"Sista dag för skriftligt bidrag – {award}",
            description="Det skriftliga bidraget och en kort presentation av enheten.",
        ),
        _all_day(
            event_uid("extract-deadline", year),
            cycle.extract_deadline,
            f"Sista dag för protokollsutdrag – {award}",
            description=f"Protokollsutdraget mejlas till {cycle.award_office_email}.",
        ),
        _all_day(
            event_uid("winners-day", year),
            cycle.winners_date,
            f"Vinnarna utses – {award}",
            description="Domarkommittén utser vinnarna i varje klass.",
        ),
        ceremony,
    ]


def _site_visit_summary(unit: Unit) -> str:
    return f"Platsbesök hos {unit.name} – Kvalitetsutmärkelsen"


def _site_visit_event(entry: Entry, unit: Unit, organisation: Organisation, day: date) -> Event:
    return _timed(
        site_visit_uid(entry.id or 0),
        day,
        site_visit_hours(entry.facts),
        _site_visit_summary(unit),
        location=f"{unit.name}, {organisation.name}",
        description=(
            "Examinatorerna besöker enheten och intervjuar chefen och medarbetarna "
            "inom Stockholms stads kvalitetsutmärkelse."
        ),
    )


def calendar_key(entry: Entry) -> tuple[Any, ...]:
    """Everything of an entry its events are made of (besides its unit's and organisation's
    names): a change that leaves this equal leaves the entry's events as they were."""
    facts = entry.facts
    return (
        entry.stage == Stage.WITHDRAWN,
        facts.get(Stage.BOARD_DECISION, {}).get("meeting_date"),
        facts.get(Stage.BOARD_DECISION, {}).get("decision"),
        facts.get("site_visit"),
        facts.get(Stage.EXAMINED, {}).get("site_visit_on"),
        entry.contribution_until,
        entry.extract_until,
    )


def entry_events(entry: Entry, unit: Unit, organisation: Organisation, cycle: Cycle) -> list[Event]:
    """The entry's board meeting, its site visit (cancelled once the entry is withdrawn) and
    the days it was given instead of the cycle's (förlängd tid); no DTSTAMP, SEQUENCE or
    LAST-MODIFIED yet (see `workflow.calendar_events`)."""
    events: list[Event] = []
    meeting = fact_date(entry.facts, Stage.BOARD_DECISION, "meeting_date")
    if meeting is not None:
        decision = entry.facts[Stage.BOARD_DECISION].get("decision", "")
        events.append(
            _all_day(
                event_uid("board-meeting", entry.id or 0),
                meeting,
                f"{organisation.board} behandlar deltagandet – {unit.name}",
                description=(
                    f"Nämnden {BOARD_DECISIONS[decision]}."
                    if decision in BOARD_DECISIONS
                    else "Nämnden behandlar enhetens deltagande i kvalitetsutmärkelsen."
                ),
            )
        )
    events.extend(_extension_events(entry, unit, cycle))
    visit = site_visit_day(entry.facts)
    if visit is not None:
        event = _site_visit_event(entry, unit, organisation, visit)
        if entry.stage == Stage.WITHDRAWN:
            event.add("STATUS", "CANCELLED")
        events.append(event)
    return events


def _extension_events(entry: Entry, unit: Unit, cycle: Cycle) -> list[Event]:
    """An entry given more time has its own last day, beside the cycle's."""
    award = f"Kvalitetsutmärkelsen {cycle.year}"
    extended = (
        (
            "contribution",
            entry.contribution_until,
            cycle.contribution_deadline,
            "skriftligt bidrag",
        ),
        ("extract", entry.extract_until, cycle.extract_deadline, "protokollsutdrag"),
    )
    return [
        _all_day(
            event_uid(f"{kind}-extension", entry.id or 0),
            entry_deadline(cycle_date, until),
            f"Förlängd tid: sista dag för {what} för {unit.name} – {award}",
            description=f"{unit.name} har fått förlängd tid för {what}.",
        )
        for kind, until, cycle_date, what in extended
        if until is not None
    ]


def first_sequences(entry: Entry) -> dict[str, int]:
    """The SEQUENCE a site visit carried before events were recorded (its entry's version): a
    visit recorded for the first time starts there, so no app holds a higher one."""
    return {site_visit_uid(entry.id or 0): entry.version}


def record_entry_events(
    session: Session,
    entry: Entry,
    unit: Unit,
    organisation: Organisation,
    cycle: Cycle,
    *,
    now: datetime,
) -> dict[str, calendar_events.Issued]:
    """Record the entry's events as they are now (call it in the transaction of the change
    that moves them); their SEQUENCE and LAST-MODIFIED by UID."""
    events = entry_events(entry, unit, organisation, cycle)
    return calendar_events.record(session, events, now=now, first_sequence=first_sequences(entry))


def record_cycle_events(session: Session, cycle: Cycle, *, now: datetime) -> None:
    """Record the cycle's events and its entries' own days as they are now (call it in the
    transaction that moves the cycle's dates)."""
    calendar_events.record(session, cycle_events(cycle), now=now)  # the cycle row is locked
    # What was recorded is read before the entries it is compared with (see `calendar_feed`).
    entry_ids = session.exec(select(Entry.id).where(Entry.cycle_id == cycle.id)).all()
    recorded = calendar_events.read(session, possible_uids((), entry_ids))
    rows = session.exec(
        select(Entry, Unit, Organisation)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .where(Entry.cycle_id == cycle.id)
        .where(
            or_(col(Entry.contribution_until).is_not(None), col(Entry.extract_until).is_not(None))
        )
        .order_by(col(Entry.id))
    ).all()
    for entry, unit, organisation in rows:  # an extension the cycle's new date overtook
        events = entry_events(entry, unit, organisation, cycle)
        calendar_events.record(session, events, now=now, recorded=recorded)


def _calendar(method: str, name: str | None = None) -> Calendar:
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", method)
    if name:  # a feed's name, as the subscribing app shows it
        calendar.add("NAME", name)  # RFC 7986
        calendar.add("X-WR-CALNAME", name)  # the same, for the apps that only know this one
        calendar.add("X-WR-TIMEZONE", TZID)
    return calendar


def _years(days: Iterable[date], fallback: int) -> tuple[int, int]:
    years = [day.year for day in days] or [fallback]
    return min(years), max(years)


@dataclass(frozen=True)
class Feed:
    """A feed as served: its bytes, and what HTTP caching needs (the bytes only change when
    an event does, so a client that has them is told 304)."""

    body: bytes
    last_modified: datetime | None  # the latest LAST-MODIFIED; None for a feed with no event

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


def calendar_feed(session: Session, *, organisation_id: int | None, now: datetime) -> Feed:
    """The feed: every cycle's dates, and the board meetings, extensions and site visits of
    the entries of `organisation_id` (None: of every organisation). An unknown organisation is
    refused with `FEED_NOT_FOUND`, the same answer as for a wrong token. Events published for
    the first time, or changed by no recorded change, are recorded now (`now`)."""
    name = f"{CALENDAR_NAME} – Stockholms stad"
    if organisation_id is not None:
        organisation = session.get(Organisation, organisation_id)
        if organisation is None:
            raise feed_not_found()
        name = f"{CALENDAR_NAME} – {organisation.name}"
    stamp = now.astimezone(UTC)
    # What was recorded is read before what the events are made of: a difference found is then
    # a change the record has not seen yet, never a record newer than the data it is compared
    # with (PostgreSQL reads each statement at its own moment; a change committing between two
    # reads would otherwise have its event recorded back as it was before).
    ids = select(Entry.id).join(Unit, col(Unit.id) == Entry.unit_id)
    if organisation_id is not None:
        ids = ids.where(Unit.organisation_id == organisation_id)
    years = session.exec(select(Cycle.year)).all()
    recorded = calendar_events.read(session, possible_uids(years, session.exec(ids).all()))
    cycles = session.exec(select(Cycle).order_by(col(Cycle.year))).all()
    query = (
        select(Entry, Unit, Organisation, Cycle)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .join(Cycle, col(Cycle.id) == Entry.cycle_id)
        .order_by(col(Entry.id))
    )
    if organisation_id is not None:
        query = query.where(Unit.organisation_id == organisation_id)
    events = [event for cycle in cycles for event in cycle_events(cycle)]
    first: dict[str, int] = {}
    for entry, unit, owner, cycle in session.exec(query).all():
        events.extend(entry_events(entry, unit, owner, cycle))
        first.update(first_sequences(entry))
    issued = calendar_events.record(
        session, events, now=stamp, first_sequence=first, recorded=recorded
    )
    for event in events:
        calendar_events.stamp(event, issued[str(event["UID"])])

    calendar = _calendar("PUBLISH", name)
    calendar.add("REFRESH-INTERVAL", REFRESH, parameters={"VALUE": "DURATION"})  # RFC 7986
    calendar.add("X-PUBLISHED-TTL", vDuration(REFRESH))  # the same, for older apps
    first_year, last_year = _years(
        (e.decoded("DTSTART") for e in events if isinstance(e.decoded("DTSTART"), datetime)),
        stamp.astimezone(STOCKHOLM).year,
    )
    calendar.add_component(stockholm_vtimezone(first_year, last_year))
    for event in sorted(events, key=_event_order):
        calendar.add_component(event)
    latest = max((i.last_modified for i in issued.values()), default=None)
    return Feed(bytes(calendar.to_ical()), latest)


def cycle_calendar(session: Session, *, organisation_id: int | None, now: datetime) -> bytes:
    """The feed's bytes (see `calendar_feed`)."""
    return calendar_feed(session, organisation_id=organisation_id, now=now).body


def _event_order(event: Event) -> tuple[str, str]:
    start = event.decoded("DTSTART")
    day = start.astimezone(STOCKHOLM).isoformat() if isinstance(start, datetime) else start
    return str(day), str(event["UID"])


# --- the site-visit invitation and its cancellation ---------------------------------------------


def site_visit_invitation(
    entry: Entry,
    unit: Unit,
    organisation: Organisation,
    day: date,
    organiser_email: str,
    attendee_email: str,
    *,
    now: datetime | None = None,
    issued: calendar_events.Issued | None = None,
    method: str = "REQUEST",
) -> str:
    """An iTIP invitation (METHOD:REQUEST) to the site visit, for the e-mail to the unit; or,
    with `method` "CANCEL", its cancellation (STATUS:CANCELLED).

    Its UID is the feed's site-visit UID, so the mail client and a subscribed feed show one
    event; SEQUENCE and LAST-MODIFIED are the event's as recorded (`issued`, from
    `record_entry_events` in the change's transaction), so a rebooking replaces the earlier
    invitation and an unrelated change of the entry does not.
    Raises ValueError for an address that is not one plain e-mail address.
    """
    for label, address in (("arrangör", organiser_email), ("deltagare", attendee_email)):
        if not is_email(address) or address != address.strip() or "\n" in address:
            raise ValueError(f"Ogiltig e-postadress för {label}: {address!r}")
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    event = _site_visit_event(entry, unit, organisation, day)
    calendar_events.stamp(event, issued or calendar_events.Issued(0, stamp), dtstamp=stamp)
    organiser = vCalAddress(f"mailto:{organiser_email}")
    organiser.params["CN"] = "Kvalitetsutmärkelsen, Stockholms stad"
    attendee = vCalAddress(f"mailto:{attendee_email}")
    attendee.params["CN"] = unit.name.replace('"', "'")  # RFC 5545: no DQUOTE in a parameter
    attendee.params["CUTYPE"] = "INDIVIDUAL"
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    if method == "REQUEST":
        attendee.params["PARTSTAT"] = "NEEDS-ACTION"
        attendee.params["RSVP"] = "TRUE"
    event.add("ORGANIZER", organiser)
    event.add("ATTENDEE", attendee)
    event.add("STATUS", "CANCELLED" if method == "CANCEL" else "CONFIRMED")

    calendar = _calendar(method)
    calendar.add_component(stockholm_vtimezone(day.year, day.year))
    calendar.add_component(event)
    return bytes(calendar.to_ical()).decode("utf-8")


def site_visit_invitation_for(
    session: Session,
    entry_id: int,
    day: date,
    *,
    now: datetime | None = None,
    attendee_email: str | None = None,
) -> str:
    """The invitation for entry `entry_id`'s site visit on `day`: from the cycle's award office
    to the unit's contact (or `attendee_email`), with the event's recorded SEQUENCE."""
    row = entry_with_context(session, entry_id)
    if row is None:
        raise not_found("Posten", entry_id)
    entry, unit, organisation, cycle = row
    attendee = attendee_email or unit.contact_email
    if not attendee:
        raise ValueError(f"Enheten '{unit.name}' saknar kontaktadress för inbjudan.")
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    issued = record_entry_events(session, entry, unit, organisation, cycle, now=stamp)
    return site_visit_invitation(
        entry, unit, organisation, day, cycle.award_office_email, attendee,
        now=stamp, issued=issued.get(site_visit_uid(entry_id)),
    )  # fmt: skip


# --- the ceremony invitation -------------------------------------------------------------------


def ceremony_uid(year: int) -> str:
    return event_uid("ceremony", year)


def ceremony_invitation(
    cycle: Cycle,
    attendee_email: str,
    attendee_name: str,
    *,
    issued: calendar_events.Issued,
    now: datetime,
) -> str:
    """An iTIP invitation (METHOD:REQUEST) to the cycle's prize ceremony in Stadshuset, from
    the award office to one participant. Its UID is the feed's ceremony UID and its SEQUENCE the
    event's as recorded (`issued`), so the mail client and a subscribed feed show one event.
    Raises ValueError for an address that is not one plain e-mail address."""
    for label, address in (("arrangör", cycle.award_office_email), ("deltagare", attendee_email)):
        if not is_email(address) or address != address.strip() or "\n" in address:
            raise ValueError(f"Ogiltig e-postadress för {label}: {address!r}")
    stamp = now.astimezone(UTC)
    event = next(e for e in cycle_events(cycle) if str(e["UID"]) == ceremony_uid(cycle.year))
    calendar_events.stamp(event, issued, dtstamp=stamp)
    organiser = vCalAddress(f"mailto:{cycle.award_office_email}")
    organiser.params["CN"] = "Kvalitetsutmärkelsen, Stockholms stad"
    attendee = vCalAddress(f"mailto:{attendee_email}")
    attendee.params["CN"] = " ".join(attendee_name.replace('"', "'").split())  # no DQUOTE
    attendee.params["CUTYPE"] = "INDIVIDUAL"
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    attendee.params["PARTSTAT"] = "NEEDS-ACTION"
    attendee.params["RSVP"] = "TRUE"
    event.add("ORGANIZER", organiser)
    event.add("ATTENDEE", attendee)
    event.add("STATUS", "CONFIRMED")
    calendar = _calendar("REQUEST")
    calendar.add_component(stockholm_vtimezone(cycle.winners_date.year, cycle.winners_date.year))
    calendar.add_component(event)
    return bytes(calendar.to_ical()).decode("utf-8")
