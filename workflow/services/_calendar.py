"""What a change of an entry does to its calendar events, in the change's own transaction.

An event the change moved (a rebooked visit, a new extension, a corrected board meeting, a
withdrawal that cancels the visit) is recorded with a higher SEQUENCE and a new LAST-MODIFIED
(`workflow.calendar_events`); a change that leaves the events as they were writes nothing. A
withdrawn entry's site visit still to come is cancelled by e-mail (METHOD:CANCEL) to whoever
was invited to it, through the outbox like every other e-mail of the change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from workflow import feeds
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.messages import MessageSpec, Recipient
from workflow.domain.stages import Stage
from workflow.models import Cycle, Entry, Organisation, Unit
from workflow.outbox.rows import INVITATION, entry_message_rows

CalendarKey = tuple[Any, ...]


def calendar_before(entry: Entry) -> CalendarKey:
    """What the entry's events are made of, read before the change settles the entry."""
    return feeds.calendar_key(entry)


def calendar_change_rows(
    session: Session,
    entry: Entry,
    unit: Unit,
    organisation: Organisation,
    cycle: Cycle,
    before: CalendarKey,
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    """Record the entry's events (as settled) when the change moved any of them, and return
    the outbox rows that causes: the cancellation of a withdrawn entry's site visit still to
    come (none when nobody was invited: the unit had no address, as at the booking)."""
    if feeds.calendar_key(entry) == before:
        return []
    issued = feeds.record_entry_events(session, entry, unit, organisation, cycle, now=now)
    visit = issued.get(feeds.site_visit_uid(entry.id or 0))
    booked = entry.facts.get("site_visit")
    if (
        visit is None
        or entry.stage != Stage.WITHDRAWN
        or not booked
        or Stage.EXAMINED in entry.facts  # the visit took place: nothing to cancel
        or not unit.contact_email
    ):
        return []
    day = feeds.site_visit_day(entry.facts)
    if day is None or day < now.astimezone(STOCKHOLM).date():
        return []
    ics = feeds.site_visit_invitation(
        entry, unit, organisation, day, cycle.award_office_email, unit.contact_email,
        now=now, issued=visit, method="CANCEL",
    )  # fmt: skip
    spec = MessageSpec("site_visit_cancelled", Recipient.UNIT_CONTACT, Stage.WITHDRAWN)
    extra = {**booked, INVITATION: ics}
    return entry_message_rows(entry, unit, organisation, cycle, [spec], now=now, extra=extra)
