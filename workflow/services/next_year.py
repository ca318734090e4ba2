"""Next year from this one: a new cycle with this cycle's dates carried to the new year (moved
off weekends and holidays), its classes, settings and assessment criteria; and the units that
took part, offered for re-registration — never registered by themselves (each needs its
organisation's new decision).

One transaction; refused with every reason, and nothing written, when the copy cannot be made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import holidays
from sqlmodel import Session, select

from workflow import swedish
from workflow.domain import rules
from workflow.domain.access import Actor, Role
from workflow.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Reason, refusal
from workflow.domain.years import WEEKDAYS_SV, CarriedDate, carry_dates
from workflow.models import Cycle, ExaminationSetting
from workflow.queries import registry
from workflow.services import examination
from workflow.services._audit import plain, record_audit
from workflow.services._rows import insert_or_conflict
from workflow.working_days import is_swedish_working_day

DATE_FIELDS = ("contribution_deadline", "extract_deadline", "winners_date")
DATE_LABELS = {
    "contribution_deadline": "Sista dag för skriftligt bidrag",
    "extract_deadline": "Sista dag för protokollsutdrag",
    "winners_date": "Vinnarna utses",
}
# What the new cycle takes over as it stands (besides the dates, which are carried).
COPIED_FIELDS = (
    "award_office_email",
    "classes",
    "ceremony_starts_at",
    "ceremony_ends_at",
    "budget_rule",
    "prize_amount",
)


@dataclass(frozen=True)
class MovedDate:
    """A date of the new cycle that is not the same month and day as in the old one."""

    field: str
    source: date  # the old cycle's date
    day: date  # the new cycle's date
    reason: str  # in Swedish: why it moved

    @property
    def label(self) -> str:
        return DATE_LABELS[self.field]


@dataclass(frozen=True)
class CycleCopy:
    cycle: Cycle
    source_year: int
    moved: list[MovedDate]
    offers: list[registry.Offer]  # units that took part in the source cycle


def copy_cycle(
    session: Session,
    *,
    from_year: int,
    to_year: int,
    acting: Actor | None,
    actor: str,
    now: datetime,
) -> CycleCopy:
    """Create `to_year`'s cycle from `from_year`'s. Only the award office (admin) may; with
    `acting` None the operator acts (the CLI on the server).

    Refuses: InvalidInput for a year outside the years a cycle can have, or dates out of order
    once moved; NotFound for an unknown source year; Conflict when `to_year` has a cycle."""
    if acting is not None and acting.role != Role.ADMIN:
        raise refusal(Forbidden, "forbidden", "Bara utmärkelsens kansli skapar nästa års omgång.")
    if not rules.EARLIEST_YEAR <= to_year <= rules.LATEST_YEAR:
        raise refusal(
            InvalidInput,
            "implausible_year",
            f"Året {to_year} ligger inte mellan {rules.EARLIEST_YEAR} och {rules.LATEST_YEAR}.",
        )
    source = session.exec(select(Cycle).where(Cycle.year == from_year)).first()
    if source is None:
        raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {from_year}.")
    taken = f"Det finns redan en omgång för år {to_year}."
    if session.exec(select(Cycle.id).where(Cycle.year == to_year)).first() is not None:
        raise refusal(Conflict, "cycle_exists", taken)
    carried = carry_dates(
        {name: getattr(source, name) for name in DATE_FIELDS},
        to_year,
        is_swedish_working_day,
        swedish_day_off_name,
    )
    days = {c.field: c.day for c in carried}
    reasons = rules.cycle_reasons(
        to_year, days["contribution_deadline"], days["extract_deadline"], days["winners_date"]
    )
    if reasons:
        raise InvalidInput(
            [
                Reason(
                    r.code,
                    f"{r.message} (datumen från omgång {from_year}, flyttade till år {to_year})",
                )
                for r in reasons
            ]
        )
    cycle = insert_or_conflict(
        session,
        Cycle(
            year=to_year,
            contribution_deadline=days["contribution_deadline"],
            extract_deadline=days["extract_deadline"],
            winners_date=days["winners_date"],
            **{name: getattr(source, name) for name in COPIED_FIELDS if name != "classes"},
            classes=list(source.classes),
        ),
        "cycle_exists",
        taken,
    )
    assert cycle.id is not None
    criteria = _copy_examination(session, source, to_year, acting, now)
    moved = [_moved(c) for c in carried if c.moved]
    record_audit(
        session,
        subject="cycle",
        subject_id=cycle.id,
        action="copied",
        actor=actor,
        at=now,
        changes={
            "year": [None, to_year],
            **{
                name: [None, plain(getattr(cycle, name))] for name in (*DATE_FIELDS, *COPIED_FIELDS)
            },
        },
        note=f"Skapad från omgång {from_year}"
        + (f", med dess {criteria} bedömningsgrunder." if criteria else ".")
        + "".join(f" {m.label}: {m.reason}" for m in moved),
    )
    offers = registry.offers(session, to_year, took_part_in=from_year)
    return CycleCopy(cycle=cycle, source_year=from_year, moved=moved, offers=offers)


def _copy_examination(
    session: Session, source: Cycle, to_year: int, acting: Actor | None, now: datetime
) -> int:
    """The source cycle's criteria, scale and team size for the new cycle (editable there until
    its first assessment); the number of criteria copied."""
    rows = examination.criteria_of(session, source.id or 0)
    if not rows:
        return 0
    setting = session.get(ExaminationSetting, source.id)
    change = examination.CriteriaChange(
        [(row.name, row.description) for row in rows],
        **(
            {}
            if setting is None
            else {
                "score_min": setting.score_min,
                "score_max": setting.score_max,
                "examiners_per_entry": setting.examiners_per_entry,
            }
        ),
    )
    examination.set_criteria(session, year=to_year, change=change, acting=acting, now=now)
    return len(rows)


def _moved(carried: CarriedDate) -> MovedDate:
    day = swedish.datum(carried.day)
    if carried.intended is None:
        because = f"29 februari finns inte år {carried.day.year}"
        if carried.day_off:
            because += f", och 28 februari är {_day_off_words(carried.day_off)}"
    else:
        because = f"{swedish.datum(carried.intended)} är {_day_off_words(carried.day_off)}"
    weekday = WEEKDAYS_SV[carried.day.weekday()]
    return MovedDate(
        carried.field, carried.source, carried.day, f"{because}; flyttad till {weekday} {day}."
    )


def _day_off_words(day_off: str | None) -> str:
    if day_off in ("lördag", "söndag"):
        return f"en {day_off}"
    return day_off.lower() if day_off else "ingen arbetsdag"


@lru_cache(maxsize=64)
def _days_off_named(year: int) -> dict[date, str]:
    calendar = holidays.country_holidays(
        "SE", years=year, categories=("public", "de_facto"), language="sv", include_sundays=False
    )
    return dict(calendar)


def swedish_day_off_name(day: date) -> str | None:
    """The Swedish name of the holiday on `day` ("Midsommarafton"), or None."""
    return _days_off_named(day.year).get(day)
