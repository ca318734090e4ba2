"""The four seed cases (real Stockholm board reports), loaded idempotently for a first look.

Facts the seeds state are used as they stand (names, boards, years, classes, staff of
Medborgarservice, earlier participations, the 17 May contribution in Östermalm 2021). Where a
seed is silent, the value is the least the unit's participation implies (eligible: five staff,
a manager with budget and staff responsibility, a business plan), marked `# assumed`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from workflow import services
from workflow.domain.calendar import STOCKHOLM
from workflow.models import Cycle, Entry, Organisation, Unit, User
from workflow.services import examination
from workflow.services.next_year import copy_cycle

ACTOR = "demo"


@dataclass(frozen=True)
class _SeedUnit:
    organisation: str
    name: str
    award_class: str
    year: int
    staff_count: int = 5  # assumed
    earlier_years: tuple[int, ...] = ()
    earlier_count: int = 0
    contact_email: str = ""


# Deadlines as the seeds give them (17 May, 28 June, 26 Nov 2024); 2021 and 2025 follow them.
_CYCLES = {
    2021: (date(2021, 5, 17), date(2021, 6, 28), date(2021, 11, 23)),
    2024: (date(2024, 5, 17), date(2024, 6, 28), date(2024, 11, 26)),
    2025: (date(2025, 5, 17), date(2025, 6, 28), date(2025, 11, 25)),
}
_ORGANISATIONS = {
    "Hägersten-Älvsjö stadsdelsförvaltning": "Hägersten-Älvsjö stadsdelsnämnd",
    "Socialförvaltningen": "Socialnämnden",
    "Bromma stadsdelsförvaltning": "Bromma stadsdelsnämnd",
    "Östermalms stadsdelsförvaltning": "Östermalms stadsdelsnämnd",
}
_UNITS = (
    _SeedUnit(
        "Hägersten-Älvsjö stadsdelsförvaltning",
        "Medborgarservice",
        "andra_verksamheter",
        2025,
        staff_count=15,  # "Inom enheten arbetar 15 medarbetare"
        contact_email="medborgarservice@example.stockholm.se",
    ),
    _SeedUnit("Socialförvaltningen", "Ungdomsjouren", "socialtjanst", 2024),
    _SeedUnit("Socialförvaltningen", "LSS/SoL-hälsan", "socialtjanst", 2024),
    _SeedUnit(
        "Bromma stadsdelsförvaltning",
        "Enheten för arbete och försörjning",
        "socialtjanst",
        2024,
        earlier_years=(2022, 2023),  # "deltog också … år 2022 och 2023"
    ),
    _SeedUnit("Bromma stadsdelsförvaltning", "Förebyggande verksamhet", "aldreomsorg", 2024),
    _SeedUnit(
        "Östermalms stadsdelsförvaltning",
        "Stöd- och serviceenhetens beställarenhet",
        "socialtjanst",
        2021,
        earlier_count=2,  # "Det är tredje gången"
    ),
)


def load_demo(session: Session, *, now: datetime) -> list[int]:
    """Create what is missing of the seed cases (six entries in 2021, 2024 and 2025) and of
    the cycles to come (see `_ensure_current_cycles`); returns the ids of the seed entries."""
    for year, (contribution, extract, winners) in _CYCLES.items():
        if session.exec(select(Cycle).where(Cycle.year == year)).first() is None:
            services.create_cycle(
                session,
                year=year,
                contribution_deadline=contribution,
                extract_deadline=extract,
                winners_date=winners,
            )
    _ensure_current_cycles(session, now)
    for year in session.exec(select(Cycle.year)).all():
        # A suggestion, labelled as one on the criteria page: the office edits it at will.
        examination.seed_default_criteria(session, year=year, now=now)
    organisation_ids: dict[str, int] = {}
    for name, board in _ORGANISATIONS.items():
        found = session.exec(select(Organisation).where(Organisation.name == name)).first()
        if found is None:
            found = services.create_organisation(
                session,
                name=name,
                kind="forvaltning",
                board=board,
                coordinator_email="samordnare@example.stockholm.se",
            )
        assert found.id is not None
        organisation_ids[name] = found.id
    entry_ids = []
    for seed in _UNITS:
        entry_ids.append(_ensure_entry(session, seed, organisation_ids[seed.organisation], now))
    return entry_ids


def _ensure_current_cycles(session: Session, now: datetime) -> None:
    """This year's cycle, and next year's once this year's winners are named, each copied from
    the newest seed year (`copy_cycle`, as the award office does): so the start page shows
    dates to come, not a cycle that ended long ago. They have no entries: the seed units are
    offered for registration in them. Nothing to do while the seed years are current."""
    today = now.astimezone(STOCKHOLM).date()
    if today.year <= max(_CYCLES):
        return
    current = _cycle_of(session, today.year) or _copied(session, today.year, now)
    if current.winners_date < today and _cycle_of(session, today.year + 1) is None:
        _copied(session, today.year + 1, now)


def _cycle_of(session: Session, year: int) -> Cycle | None:
    return session.exec(select(Cycle).where(Cycle.year == year)).first()


def _copied(session: Session, year: int, now: datetime) -> Cycle:
    # From the newest seed year, not from the newest cycle: a date moved off a weekend would
    # otherwise move again, a day or two earlier every year.
    source = max(_CYCLES)
    return copy_cycle(
        session, from_year=source, to_year=year, acting=None, actor=ACTOR, now=now
    ).cycle


def _ensure_entry(session: Session, seed: _SeedUnit, organisation_id: int, now: datetime) -> int:
    unit = session.exec(
        select(Unit).where(Unit.organisation_id == organisation_id, Unit.name == seed.name)
    ).first()
    if unit is None:
        unit = services.create_unit(
            session,
            services.UnitCreate(
                organisation_id=organisation_id,
                name=seed.name,
                staff_count=seed.staff_count,
                manager_has_budget_and_staff_responsibility=True,  # assumed
                has_business_plan=True,  # assumed
                share_stockholm_residents=1.0,  # assumed
                budget_in_balance=True,  # assumed
                privately_run=False,  # all four seeds are city-run
                contact_email=seed.contact_email or None,
                earlier_participation_years=seed.earlier_years,
                earlier_participation_count=seed.earlier_count,
            ),
        )
    assert unit.id is not None
    cycle = session.exec(select(Cycle).where(Cycle.year == seed.year)).one()
    entry = session.exec(
        select(Entry).where(Entry.unit_id == unit.id, Entry.cycle_id == cycle.id)
    ).first()
    if entry is None:
        entry = services.create_entry(
            session,
            unit_id=unit.id,
            year=seed.year,
            award_class=seed.award_class,
            actor=ACTOR,
            now=now,
        )
        if seed.year == 2021:
            # Seed 004: "Årets bidrag skickades in den 17 maj", before the board noted it.
            assert entry.id is not None
            entry = services.record_contribution(
                session,
                entry_id=entry.id,
                version=entry.version,
                actor=ACTOR,
                now=now,
                submitted_on=date(2021, 5, 17),
            )
    assert entry.id is not None
    return entry.id


@dataclass(frozen=True)
class DemoLogin:
    name: str
    role: str
    password: str | None  # None: the user was there already, and its password is not shown


def ensure_demo_logins(session: Session, *, now: datetime) -> list[DemoLogin]:
    """One login per role, created once; passwords are random and returned once. The
    coordinator and the contact belong to the first unit; the examiner comes from another
    organisation (an examiner never examines its own) and is given the first unit's entries."""
    units = session.exec(select(Unit).order_by(col(Unit.id))).all()
    first = units[0]
    other_org = next(u.organisation_id for u in units if u.organisation_id != first.organisation_id)
    roles: list[tuple[str, str, dict[str, Any]]] = [
        ("admin", "admin", {}),
        ("samordnare", "coordinator", {"organisation_id": first.organisation_id}),
        ("kontakt", "unit_contact", {"unit_id": first.id}),
        ("examinator", "examiner", {"organisation_id": other_org}),
        ("jury", "jury", {}),
    ]
    logins = []
    for name, role, extra in roles:
        if session.exec(select(User).where(User.name == name)).first() is not None:
            logins.append(DemoLogin(name, role, None))
            continue
        password = secrets.token_urlsafe(9)
        created = services.create_user(
            session, name=name, role=role, now=now, password=password, **extra
        )
        if role == "examiner":
            _assign_unit_entries(session, first, examiner_id=created.user.id or 0, now=now)
        logins.append(DemoLogin(name, role, password))
    return logins


def _assign_unit_entries(session: Session, unit: Unit, *, examiner_id: int, now: datetime) -> None:
    """Give the demo examiner something to examine: the unit's entries."""
    for entry in session.exec(select(Entry).where(Entry.unit_id == unit.id)):
        services.assign_examiner(
            session,
            entry_id=entry.id or 0,
            examiner_id=examiner_id,
            assigned_by=ACTOR,
            now=now,
        )
