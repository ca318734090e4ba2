"""Deadline reminders, planned as data; pure. The clock and the holiday calendar come in as
parameters (`now`, `is_working_day`), so every plan is reproducible in a test.

Rules (from the award office's practice): reminders 14, 7, 2 and 0 days before each deadline,
at 08:00 Europe/Stockholm on a Swedish working day — one that falls on a weekend or public
holiday moves to the working day before; an overdue reminder the next working day after the
deadline; escalation 3 working days after, one step up from whoever was reminded (see
`escalation_recipient`). Only entries still missing that fact get them, and never a withdrawn
or decided entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from workflow.domain.errors import Reason
from workflow.domain.messages import Recipient
from workflow.domain.stages import TERMINAL_STAGES, Stage

STOCKHOLM = ZoneInfo("Europe/Stockholm")
SEND_TIME = time(8, 0)
DEFAULT_OFFSETS: tuple[int, ...] = (14, 7, 2, 0)
ESCALATION_WORKING_DAYS = 3

IsWorkingDay = Callable[[date], bool]


class Deadline(StrEnum):
    CONTRIBUTION = "contribution"  # skriftligt bidrag
    EXTRACT = "extract"  # protokollsutdrag


class ReminderKind(StrEnum):
    REMINDER = "reminder"
    OVERDUE = "overdue"
    ESCALATION = "escalation"


@dataclass(frozen=True)
class ReminderSubject:
    """What planning needs to know of an entry."""

    entry_id: int
    stage: Stage
    privately_run: bool
    has_contribution: bool  # submitted, or kept ahead of its stage
    has_extract: bool


@dataclass(frozen=True)
class PlannedReminder:
    entry_id: int
    deadline_kind: Deadline
    deadline: date
    kind: ReminderKind
    days_before: int  # 0 on the deadline; negative for overdue and escalation
    recipient: Recipient
    send_at: datetime  # timezone-aware, UTC

    @property
    def key(self) -> str:
        """Stable identity: the same reminder planned twice is one reminder, sent once."""
        return (
            f"reminder/{self.entry_id}/{self.deadline_kind}/{self.deadline.isoformat()}/"
            f"{self.kind}/{self.days_before}"
        )


def escalation_recipient(deadline_kind: Deadline | str) -> Recipient:
    """Who hears when a deadline has passed unmet: a unit's contribution goes up to its
    organisation's coordinator; a board's extract (the coordinator's own task) to the
    organisation's escalation contact, with the coordinator in copy."""
    if deadline_kind == Deadline.CONTRIBUTION:
        return Recipient.COORDINATOR
    return Recipient.ESCALATION_CONTACT


def reminder_recipient(kind: str, deadline_kind: str, planned: str) -> Recipient:
    """Whom a reminder row goes to: the role it was planned for, except an escalation, which
    follows the rule (rows planned before escalations went up still name the coordinator)."""
    if kind == ReminderKind.ESCALATION:
        return escalation_recipient(deadline_kind)
    return Recipient(planned)


def working_day_on_or_before(day: date, is_working_day: IsWorkingDay) -> date:
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def working_days_after(day: date, count: int, is_working_day: IsWorkingDay) -> date:
    """The `count`-th working day after `day` (1 = the next working day)."""
    while count > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            count -= 1
    return day


def send_time(day: date) -> datetime:
    """08:00 in Stockholm on `day`, as UTC (07:00 in winter, 06:00 in summer)."""
    return datetime.combine(day, SEND_TIME, tzinfo=STOCKHOLM).astimezone(UTC)


def plan_reminders(
    subject: ReminderSubject,
    deadlines: dict[Deadline, date],
    *,
    now: datetime | None,
    is_working_day: IsWorkingDay,
    offsets: Iterable[int] = DEFAULT_OFFSETS,
) -> list[PlannedReminder]:
    """The entry's reminders, sorted by time. With `now`, only those still to come (see
    `still_to_come`); with None, the whole plan, to tell which pending rows are still wanted."""
    if subject.stage in TERMINAL_STAGES:
        return []
    offsets = tuple(sorted(set(offsets), reverse=True))
    planned = [
        reminder
        for kind, deadline in deadlines.items()
        if _missing(subject, kind)
        for reminder in _reminders_for(subject.entry_id, kind, deadline, offsets, is_working_day)
    ]
    planned.sort(key=lambda r: (r.send_at, r.key))
    return planned if now is None else still_to_come(planned, now=now)


def _reminders_for(
    entry_id: int,
    kind: Deadline,
    deadline: date,
    offsets: tuple[int, ...],
    is_working_day: IsWorkingDay,
) -> list[PlannedReminder]:
    """One deadline's reminders (largest offset first), its overdue notice and escalation."""
    to = Recipient.UNIT_CONTACT if kind == Deadline.CONTRIBUTION else Recipient.COORDINATOR

    def on(day: date, reminder: ReminderKind, offset: int, recipient: Recipient) -> PlannedReminder:
        return PlannedReminder(
            entry_id, kind, deadline, reminder, offset, recipient, send_time(day)
        )

    by_day: dict[date, PlannedReminder] = {}
    for offset in offsets:
        day = working_day_on_or_before(deadline - timedelta(days=offset), is_working_day)
        # Two offsets landing on one working day: the later (smaller offset) one wins.
        by_day[day] = on(day, ReminderKind.REMINDER, offset, to)
    overdue_day = working_days_after(deadline, 1, is_working_day)
    escalation_day = working_days_after(deadline, ESCALATION_WORKING_DAYS, is_working_day)
    return [
        *by_day.values(),
        on(overdue_day, ReminderKind.OVERDUE, (deadline - overdue_day).days, to),
        on(
            escalation_day,
            ReminderKind.ESCALATION,
            (deadline - escalation_day).days,
            escalation_recipient(kind),
        ),
    ]


def still_to_come(planned: Iterable[PlannedReminder], *, now: datetime) -> list[PlannedReminder]:
    """Leave out reminders of days already past; one due earlier today is kept, so planning
    during the day never drops the morning's reminder unsent."""
    today = now.astimezone(STOCKHOLM).date()
    return [r for r in planned if r.send_at.astimezone(STOCKHOLM).date() >= today]


def _missing(subject: ReminderSubject, deadline_kind: Deadline) -> bool:
    if deadline_kind == Deadline.CONTRIBUTION:
        return not subject.has_contribution
    # Privately run units have no board and so no minutes extract to send.
    return not subject.privately_run and not subject.has_extract


# --- the hours of a site visit and of the prize ceremony ------------------------------------

# Not (yet) carried by the cycle: the usual times, in Stockholm.
CEREMONY_TIME = (time(15, 0), time(17, 0))  # when a cycle names no hours
SITE_VISIT_TIME = (time(9, 0), time(12, 0))  # when a booking names no hours


def site_visit_span(starts_at: time | None, ends_at: time | None) -> tuple[time, time]:
    """The hours of a visit from what a booking gave: both, one (the visit then lasts as
    long as the default one, within the day), or none (the default)."""
    return _span(starts_at, ends_at, SITE_VISIT_TIME)


def ceremony_span(starts_at: time | None, ends_at: time | None) -> tuple[time, time]:
    """The ceremony's hours from what the cycle gave, like `site_visit_span` (15:00–17:00)."""
    return _span(starts_at, ends_at, CEREMONY_TIME)


def moved_ceremony(
    current: tuple[time, time], starts_at: time | None, ends_at: time | None
) -> tuple[time, time]:
    """The ceremony's hours after a change: a new start alone keeps its length (within the
    day), a new end alone keeps its start, neither keeps both."""
    if starts_at is not None and ends_at is None:
        return _span(starts_at, None, current)
    return starts_at or current[0], ends_at or current[1]


def _span(
    starts_at: time | None, ends_at: time | None, default: tuple[time, time]
) -> tuple[time, time]:
    default_start, default_end = default
    day = date(2000, 1, 1)  # any day: only the clock times matter
    length = datetime.combine(day, default_end) - datetime.combine(day, default_start)
    if starts_at is not None and ends_at is None:
        latest = datetime.combine(day, time(23, 59))
        return starts_at, min(datetime.combine(day, starts_at) + length, latest).time()
    if ends_at is not None and starts_at is None:
        earliest = datetime.combine(day, time(0, 0))
        return max(datetime.combine(day, ends_at) - length, earliest).time(), ends_at
    return starts_at or default_start, ends_at or default_end


def site_visit_hours(facts: Mapping[str, Mapping[str, Any]]) -> tuple[time, time]:
    """When the booked site visit starts and ends (Stockholm time); 09:00–12:00 if the
    booking named no hours."""
    booked = facts.get("site_visit") or {}
    try:
        return (time.fromisoformat(booked["starts_at"]), time.fromisoformat(booked["ends_at"]))
    except (KeyError, TypeError, ValueError):
        return SITE_VISIT_TIME


# What is said when an event would end before it starts, by the reason's code.
_ENDS_BEFORE_IT_STARTS = {
    "ceremony_hours": "Prisutdelningen måste sluta efter att den börjar",
    "site_visit_hours": "Platsbesöket måste sluta efter att det börjar",
}


def hours_reason(code: str, span: tuple[time, time]) -> Reason | None:
    """Why the hours of the ceremony (`ceremony_hours`) or of a site visit (`site_visit_hours`)
    cannot stand, or None."""
    if span[1] > span[0]:
        return None
    return Reason(code, f"{_ENDS_BEFORE_IT_STARTS[code]} ({span[0]:%H:%M}–{span[1]:%H:%M}).")


# --- an entry's own deadlines -----------------------------------------------------------------


def entry_deadline(cycle_date: date, extended_until: date | None) -> date:
    """The day an entry's deadline falls on: the cycle's date, or the entry's extension
    (förlängd tid) when it has one. An extension never shortens the cycle's date: if the
    cycle's date was moved past it later, the cycle's date holds."""
    if extended_until is None:
        return cycle_date
    return max(cycle_date, extended_until)
