"""Use cases, where the pure core meets storage. Each runs inside the caller's one transaction
(`workflow.db.transaction`): check, apply with compare-and-set, append history, write outbox rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, bindparam, case, false, func, not_, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from workflow import feeds, reminders, webhooks
from workflow.db import insert_rows
from workflow.domain import rules
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import (
    Conflict,
    Ineligible,
    InvalidInput,
    NotFound,
    Reason,
    StaleVersion,
    TransitionRefused,
    refusal,
)
from workflow.domain.messages import (
    MessageSpec,
    Recipient,
    messages_for_plan,
    messages_on_creation,
)
from workflow.domain.stages import (
    STAGE_LABELS_SV,
    TERMINAL_STAGES,
    EntryState,
    Stage,
    allowed_transitions,
    plan_transition,
)
from workflow.models import (
    Cycle,
    Document,
    Entry,
    HistoryEvent,
    Organisation,
    OutboxMessage,
    Unit,
)
from workflow.writes import EntryChange, apply_change

T = TypeVar("T")

ORGANISATION_KINDS = {"forvaltning": "förvaltning", "bolag": "bolag"}


# --- cycles, organisations, units -------------------------------------------------------------


def create_cycle(
    session: Session,
    *,
    year: int,
    contribution_deadline: date,
    extract_deadline: date,
    winners_date: date,
    award_office_email: str = rules.AWARD_OFFICE_EMAIL,
    classes: Sequence[str] | None = None,
    ceremony_starts_at: time | None = None,
    ceremony_ends_at: time | None = None,
) -> Cycle:
    reasons = list(rules.cycle_reasons(year, contribution_deadline, extract_deadline, winners_date))
    ceremony = feeds.ceremony_span(ceremony_starts_at, ceremony_ends_at)
    if ceremony[1] <= ceremony[0]:
        reasons.append(
            Reason(
                "ceremony_hours",
                f"Prisutdelningen måste sluta efter att den börjar "
                f"({ceremony[0]:%H:%M}–{ceremony[1]:%H:%M}).",
            )
        )
    if not rules.is_email(award_office_email):
        reasons.append(Reason("invalid_email", f"'{award_office_email}' är ingen e-postadress."))
    class_codes = _award_classes(classes, reasons)
    if reasons:
        raise InvalidInput(reasons)
    if session.exec(select(Cycle).where(Cycle.year == year)).first() is not None:
        raise refusal(Conflict, "cycle_exists", f"Det finns redan en omgång för år {year}.")
    cycle = Cycle(
        year=year,
        contribution_deadline=contribution_deadline,
        extract_deadline=extract_deadline,
        winners_date=winners_date,
        award_office_email=award_office_email,
        classes=class_codes,
        ceremony_starts_at=ceremony[0],
        ceremony_ends_at=ceremony[1],
    )
    return _insert(session, cycle, "cycle_exists", f"Det finns redan en omgång för år {year}.")


def _award_classes(classes: Sequence[str] | None, reasons: list[Reason]) -> list[str]:
    if not classes:
        return list(rules.AWARD_CLASSES)
    codes: list[str] = []
    for name in classes:
        code = rules.normalise_award_class(name)
        if code is None:
            reasons.append(_unknown_class(name))
        elif code not in codes:
            codes.append(code)
    return codes


def _unknown_class(name: str) -> Reason:
    known = ", ".join(rules.AWARD_CLASSES)
    return Reason("unknown_award_class", f"Okänd klass '{name}' (giltiga: {known}).")


def create_organisation(
    session: Session, *, name: str, kind: str, board: str, coordinator_email: str | None = None
) -> Organisation:
    reasons = [
        *rules.name_reasons("Organisationens namn", name),
        *rules.name_reasons("Nämnden eller styrelsen", board, missing="missing_board"),
    ]
    if kind not in ORGANISATION_KINDS:
        reasons.append(
            Reason("invalid_kind", f"'{kind}' är ingen organisationstyp (forvaltning, bolag).")
        )
    if coordinator_email and not rules.is_email(coordinator_email):
        reasons.append(Reason("invalid_email", f"'{coordinator_email}' är ingen e-postadress."))
    if reasons:
        raise InvalidInput(reasons)
    organisation = Organisation(
        name=name.strip(), kind=kind, board=board.strip(), coordinator_email=coordinator_email
    )
    return _insert(
        session, organisation, "organisation_exists", f"Organisationen '{name}' finns redan."
    )


@dataclass(frozen=True)
class UnitSpec:
    """A unit as registered; what `create_unit` and the CSV import take."""

    organisation_id: int
    name: str
    staff_count: int
    manager_has_budget_and_staff_responsibility: bool
    has_business_plan: bool
    share_stockholm_residents: float
    budget_in_balance: bool
    privately_run: bool
    contact_email: str | None = None
    earlier_participation_years: tuple[int, ...] = ()
    earlier_participation_count: int = 0


def unit_spec_reasons(spec: UnitSpec) -> tuple[Reason, ...]:
    """What makes the spec impossible to store (not what makes the unit ineligible)."""
    reasons = list(rules.unit_fact_reasons(spec.staff_count, spec.share_stockholm_residents))
    reasons.extend(rules.name_reasons("Enhetens namn", spec.name))
    if spec.contact_email and not rules.is_email(spec.contact_email):
        reasons.append(Reason("invalid_email", f"'{spec.contact_email}' är ingen e-postadress."))
    for year in spec.earlier_participation_years:
        if not rules.EARLIEST_YEAR - 100 <= year <= rules.LATEST_YEAR:
            reasons.append(Reason("invalid_year", f"{year} är inget årtal för ett deltagande."))
    if spec.earlier_participation_count < 0:
        reasons.append(
            Reason("invalid_count", "Antal tidigare deltaganden kan inte vara negativt.")
        )
    return tuple(reasons)


def create_unit(session: Session, spec: UnitSpec) -> Unit:
    reasons = unit_spec_reasons(spec)
    if reasons:
        raise InvalidInput(reasons)
    _get(session, Organisation, spec.organisation_id, "Organisationen")
    return _insert(
        session,
        _unit_from(spec),
        "unit_exists",
        f"Enheten '{spec.name}' finns redan i organisationen.",
    )


def _unit_from(spec: UnitSpec) -> Unit:
    years = sorted(set(spec.earlier_participation_years))
    return Unit(
        organisation_id=spec.organisation_id,
        name=spec.name.strip(),
        staff_count=spec.staff_count,
        manager_has_budget_and_staff_responsibility=spec.manager_has_budget_and_staff_responsibility,
        has_business_plan=spec.has_business_plan,
        share_stockholm_residents=spec.share_stockholm_residents,
        budget_in_balance=spec.budget_in_balance,
        privately_run=spec.privately_run,
        contact_email=spec.contact_email or None,
        earlier_participation_years=years,
        earlier_participation_count=max(spec.earlier_participation_count, len(years)),
    )


def import_units(session: Session, specs: Sequence[tuple[int, UnitSpec]]) -> list[Unit]:
    """Create every unit or none; reasons name the CSV row (the int beside each spec)."""
    reasons: list[Reason] = []
    known_orgs = set(session.exec(select(Organisation.id)).all())
    existing = {
        (org_id, name) for org_id, name in session.exec(select(Unit.organisation_id, Unit.name))
    }
    seen: dict[tuple[int, str], int] = {}
    for row, spec in specs:
        for reason in unit_spec_reasons(spec):
            reasons.append(Reason(reason.code, f"Rad {row}: {reason.message}"))
        if spec.organisation_id not in known_orgs:
            reasons.append(
                Reason(
                    "unknown_organisation", f"Rad {row}: okänd organisation {spec.organisation_id}."
                )
            )
        key = (spec.organisation_id, spec.name.strip())
        if key in existing:
            reasons.append(Reason("unit_exists", f"Rad {row}: enheten '{spec.name}' finns redan."))
        elif key in seen:
            reasons.append(Reason("duplicate_row", f"Rad {row}: samma enhet som rad {seen[key]}."))
        seen.setdefault(key, row)
    if reasons:
        raise InvalidInput(reasons)
    units = [_unit_from(spec) for _, spec in specs]
    try:
        session.add_all(units)
        session.flush()
    except IntegrityError:  # another import (or person) created one of them just now
        raise refusal(
            Conflict, "unit_exists", "Någon av enheterna skapades nyss av någon annan; läs in igen."
        ) from None
    return units


# --- entries -------------------------------------------------------------------------------------


def create_entry(
    session: Session, *, unit_id: int, year: int, award_class: str, actor: str, now: datetime
) -> Entry:
    """Register a unit's participation (anmälan); refuses an ineligible unit, naming each rule."""
    unit = _get(session, Unit, unit_id, "Enheten")
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
    class_code = rules.normalise_award_class(award_class)
    if class_code is None:
        raise InvalidInput((_unknown_class(award_class),))
    if class_code not in cycle.classes:
        raise refusal(
            InvalidInput,
            "class_not_in_cycle",
            f"Klassen {rules.AWARD_CLASSES[class_code]} finns inte i omgången {year}.",
        )
    reasons = rules.eligibility_reasons(_unit_facts(unit))
    if reasons:
        raise Ineligible(reasons)
    entry = Entry(
        unit_id=unit_id,
        cycle_id=cycle.id or 0,
        award_class=class_code,
        stage=Stage.NOTIFIED,
        version=1,
        facts={},
        pending={},
        created_at=now,
        updated_at=now,
    )
    _insert(
        session,
        entry,
        "entry_exists",
        f"Enheten '{unit.name}' är redan anmäld till omgången {year}.",
    )
    assert entry.id is not None
    session.add(
        HistoryEvent(
            entry_id=entry.id,
            version=1,
            from_stage=None,
            to_stage=Stage.NOTIFIED,
            actor=actor,
            at=now,
            note=None,
            data={"award_class": class_code, "year": year},
        )
    )
    _queue_messages(
        session, entry, unit, cycle, messages_on_creation(privately_run=unit.privately_run), now
    )
    reminders.replan_entry(session, entry, unit, cycle, now)
    webhooks.queue_transition_events(
        session, entry_id=entry.id, events=[(1, None, Stage.NOTIFIED.value)], actor=actor, at=now
    )
    session.flush()
    return entry


# The transition path's read, built once (building it costs more than running it).
# One read for everything a change needs: entry, unit, organisation, cycle, and whether any
# webhook listens, which saves looking their ids up in the usual case (none).
_ENTRY_FOR_CHANGE = (
    sa_select(Entry, Unit, Organisation, Cycle, webhooks.ANY_ACTIVE)
    .join(Unit, col(Unit.id) == Entry.unit_id)
    .join(Organisation, col(Organisation.id) == Unit.organisation_id)
    .join(Cycle, col(Cycle.id) == Entry.cycle_id)
    .where(col(Entry.id) == bindparam("entry_id"))
)


def keep_for_transaction(session: Session, *rows: object) -> None:
    """Hold rows a change read until its session ends. The identity map keeps an object only
    while something refers to it, so the caller's view of the changed entry would otherwise
    read the entry's unit, organisation and cycle once more (three round trips)."""
    session.info.setdefault("kept_rows", []).extend(rows)


def advance_entry(
    session: Session,
    *,
    entry_id: int,
    target: Stage | str,
    version: int,
    actor: str,
    now: datetime,
    note: str | None = None,
    data: Mapping[str, str] | None = None,
) -> Entry:
    """Move an entry to `target` from the version the caller saw.

    Raises StaleVersion when the entry changed since `version` (nothing is changed), and
    TransitionRefused with every reason when the table or a guard says no. A contribution that
    arrives before the board stages are done is kept, and the entry moves on by itself later.
    """
    target_stage = parse_stage(target)
    row = session.execute(_ENTRY_FOR_CHANGE, {"entry_id": entry_id}).first()
    if row is None:
        raise _not_found("Posten", entry_id)
    entry: Entry
    unit: Unit
    organisation: Organisation
    cycle: Cycle
    entry, unit, organisation, cycle, webhooks_listen = row
    keep_for_transaction(session, unit, organisation, cycle)
    if entry.version != version:
        raise _stale(entry, version)
    reminders_before = reminders.depends_on(entry)
    state = EntryState(
        stage=Stage(entry.stage),
        privately_run=unit.privately_run,
        budget_in_balance=unit.budget_in_balance,
        pending={Stage(k): v for k, v in entry.pending.items()},
    )
    plan = plan_transition(state, target_stage, data or {}, note=note)
    attachments: dict[str, list[int]] = {}
    if any(step.target == Stage.EXTRACT_SENT for step in plan.steps):
        extract = _latest_document(session, entry_id, "extract")
        if extract is None:
            raise TransitionRefused(
                (
                    Reason(
                        "extract_missing",
                        "Protokollsutdraget saknas: ladda upp det som PDF innan det skickas.",
                    ),
                )
            )
        attachments["extract_to_award_office"] = [extract.id or 0]

    facts = {**entry.facts}
    pending = {**entry.pending}
    for stage, kept in plan.kept.items():
        pending[stage.value] = dict(kept)
    for step in plan.steps:
        facts[step.target.value] = dict(step.data)
        pending.pop(step.target.value, None)
    events = len(plan.steps) or 1
    final_stage = plan.final_stage or state.stage

    if plan.steps:
        history = [
            {
                "entry_id": entry_id,
                "version": version + offset,
                "from_stage": step.source,
                "to_stage": step.target,
                "actor": actor,
                "at": now,
                "note": note if not step.automatic else _automatic_note(step.target),
                "data": dict(step.data),
            }
            for offset, step in enumerate(plan.steps, start=1)
        ]
    else:
        kept_stage = next(iter(plan.kept))
        history = [
            {
                "entry_id": entry_id,
                "version": version + 1,
                "from_stage": state.stage,
                "to_stage": state.stage,
                "actor": actor,
                "at": now,
                "note": note or _kept_note(kept_stage),
                "data": {"kept_for": kept_stage.value, **plan.kept[kept_stage]},
            }
        ]
    # The entry as it will be, in memory only: the messages and the reminder plan are built
    # from it, and the write below stores the same values without marking the entry dirty.
    for name, value in (
        ("stage", final_stage.value),
        ("version", version + events),
        ("facts", facts),
        ("pending", pending),
        ("updated_at", now),
    ):
        set_committed_value(entry, name, value)
    outbox = _outbox_rows(
        entry, unit, cycle, messages_for_plan(plan), now, attachments, organisation
    )
    if webhooks_listen:
        outbox += webhooks.transition_event_rows(
            session,
            entry_id=entry_id,
            events=[
                (version + offset, step.source.value, step.target.value)
                for offset, step in enumerate(plan.steps, start=1)
            ],
            actor=actor,
            at=now,
        )
    change = EntryChange(
        entry_id=entry_id,
        seen_version=version,
        stage=final_stage.value,
        version=version + events,
        facts=facts,
        pending=pending,
        at=now,
        history=history,
        outbox=outbox,
    )
    if reminders.depends_on(entry) != reminders_before:
        change.reminders = reminders.reminder_changes(session.connection(), entry, unit, cycle, now)
    # Compare-and-set: only the writer that still sees `version` wins; the rest get a conflict.
    if not apply_change(session.connection(), change):
        session.rollback()
        raise _stale(entry, version)
    return entry


def withdraw_entry(
    session: Session, *, entry_id: int, version: int, actor: str, now: datetime, note: str
) -> Entry:
    """Withdraw the participation (återkalla); a reason is required."""
    return advance_entry(
        session,
        entry_id=entry_id,
        target=Stage.WITHDRAWN,
        version=version,
        actor=actor,
        now=now,
        note=note,
    )


def record_contribution(
    session: Session,
    *,
    entry_id: int,
    version: int,
    actor: str,
    now: datetime,
    submitted_on: date | None = None,
    title: str | None = None,
) -> Entry:
    """Record the written contribution (skriftligt bidrag), whatever stage the entry is in."""
    data = {"submitted_on": (submitted_on or now.astimezone(STOCKHOLM).date()).isoformat()}
    if title:
        data["title"] = title
    return advance_entry(
        session,
        entry_id=entry_id,
        target=Stage.SUBMITTED,
        version=version,
        actor=actor,
        now=now,
        data=data,
    )


def schedule_site_visit(
    session: Session,
    *,
    entry_id: int,
    version: int,
    on: date,
    actor: str,
    now: datetime,
    note: str | None = None,
    starts_at: time | None = None,
    ends_at: time | None = None,
) -> Entry:
    """Book the examiners' site visit (platsbesök) for a submitted entry and tell the unit.

    A fact, not a stage: the history gets an event that stays in `submitted`, and the
    version moves on like for any change, so two people booking at once cannot both win.
    The hours (Stockholm time) default to 09:00–12:00, or three hours from the one given.
    """
    implausible = rules.date_reason("Platsbesöket", on)
    if implausible is not None:
        raise InvalidInput((implausible,))
    starts_at, ends_at = feeds.site_visit_span(starts_at, ends_at)
    if ends_at <= starts_at:
        raise refusal(
            InvalidInput,
            "site_visit_hours",
            f"Platsbesöket måste sluta efter att det börjar ({starts_at:%H:%M}–{ends_at:%H:%M}).",
        )
    entry = _get(session, Entry, entry_id, "Posten")
    if entry.version != version:
        raise _stale(entry, version)
    if entry.stage != Stage.SUBMITTED:
        raise refusal(
            TransitionRefused,
            "site_visit_needs_contribution",
            "Platsbesök bokas när bidraget har kommit in och innan examinationen är klar.",
        )
    booked = {
        "site_visit_on": on.isoformat(),
        "starts_at": f"{starts_at:%H:%M}",
        "ends_at": f"{ends_at:%H:%M}",
    }
    facts = {**entry.facts, "site_visit": booked}
    result = session.execute(
        update(Entry)
        .where(col(Entry.id) == entry_id, col(Entry.version) == version)
        .values(version=version + 1, facts=facts, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _stale(entry, version)
    for name, value in (("version", version + 1), ("facts", facts), ("updated_at", now)):
        set_committed_value(entry, name, value)
    session.add(
        HistoryEvent(
            entry_id=entry_id,
            version=version + 1,
            from_stage=entry.stage,
            to_stage=entry.stage,
            actor=actor,
            at=now,
            note=note
            or f"Platsbesök bokat {on.isoformat()} kl. {booked['starts_at']}–{booked['ends_at']}.",
            data=dict(booked),
        )
    )
    unit = _get(session, Unit, entry.unit_id, "Enheten")
    cycle = _get(session, Cycle, entry.cycle_id, "Omgången")
    extra: dict[str, Any] = dict(booked)
    if unit.contact_email:  # no address: no e-mail, so no invitation either
        # Stored with the message, so a retry sends exactly the same invitation.
        extra["invitation_ics"] = feeds.site_visit_invitation_for(session, entry_id, on, now=now)
    _queue_messages(
        session,
        entry,
        unit,
        cycle,
        [MessageSpec("site_visit_notice", Recipient.UNIT_CONTACT, Stage.SUBMITTED)],
        now,
        extra=extra,
    )
    session.flush()
    return entry


def parse_stage(value: Stage | str) -> Stage:
    try:
        return Stage(value)
    except ValueError:
        known = ", ".join(stage.value for stage in Stage)
        raise refusal(
            InvalidInput, "unknown_stage", f"Okänt steg '{value}' (giltiga: {known})."
        ) from None


def _automatic_note(stage: Stage) -> str:
    return f"Automatiskt: {STAGE_LABELS_SV[stage].lower()} var redan registrerat."


def _kept_note(stage: Stage) -> str:
    return (
        f"{STAGE_LABELS_SV[stage]} registrerat i förväg; posten går vidare när tidigare steg "
        "är klara."
    )


def _stale(entry: Entry, version: int) -> StaleVersion:
    return StaleVersion(
        (
            Reason(
                "stale_version",
                f"Posten {entry.id} har ändrats (du utgick från version {version}); "
                "läs in den igen och försök på nytt.",
            ),
        )
    )


MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DOCUMENT_KINDS = {"extract": "protokollsutdrag", "contribution": "bidrag"}


def attach_document(
    session: Session,
    *,
    entry_id: int,
    kind: str,
    filename: str,
    data: bytes,
    actor: str,
    now: datetime,
) -> Document:
    """Keep an uploaded file with its entry; the minutes extract must be a PDF of at most 20 MB."""
    _get(session, Entry, entry_id, "Posten")
    reasons: list[Reason] = []
    if kind not in DOCUMENT_KINDS:
        reasons.append(Reason("unknown_document_kind", f"Okänd dokumenttyp '{kind}'."))
    if len(data) > MAX_UPLOAD_BYTES:
        reasons.append(Reason("too_large", "Filen är större än 20 MB."))
    if not data:
        reasons.append(Reason("empty_file", "Filen är tom."))
    is_pdf = data.lstrip()[:5] == b"%PDF-"
    if kind == "extract" and not is_pdf:
        reasons.append(Reason("not_pdf", "Protokollsutdraget måste vara en PDF-fil."))
    if reasons:
        raise InvalidInput(reasons)
    document = Document(
        entry_id=entry_id,
        kind=kind,
        filename=_safe_filename(filename) or f"{kind}.pdf",
        content_type="application/pdf" if is_pdf else "application/octet-stream",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=data,
        uploaded_by=actor,
        created_at=now,
    )
    session.add(document)
    session.flush()
    return document


def _safe_filename(filename: str) -> str:
    """The uploaded file's own name, as every database stores it and every page shows it:
    no folders, no control or bidirectional characters (a right-to-left override can make
    'fdp.exe' read as 'exe.pdf'), valid UTF-8, at most 200 characters, ending kept."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = name.encode("utf-8", "replace").decode("utf-8")
    return rules.without_unsafe_characters(name).strip()[-200:]


def _latest_document(session: Session, entry_id: int, kind: str) -> Document | None:
    return session.exec(
        select(Document)
        .where(Document.entry_id == entry_id, Document.kind == kind)
        .order_by(col(Document.id).desc())
    ).first()


def update_cycle_deadlines(
    session: Session,
    *,
    year: int,
    now: datetime,
    contribution_deadline: date | None = None,
    extract_deadline: date | None = None,
    winners_date: date | None = None,
) -> Cycle:
    """Move a cycle's dates; pending reminders of its open entries are re-planned at once."""
    # Locked: two people moving different dates at once must not leave them out of order
    # (each checked against the other's old dates). PostgreSQL waits here; SQLite refuses a
    # writer whose read is stale.
    cycle = session.exec(select(Cycle).where(Cycle.year == year).with_for_update()).first()
    if cycle is None:
        raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
    contribution = contribution_deadline or cycle.contribution_deadline
    extract = extract_deadline or cycle.extract_deadline
    winners = winners_date or cycle.winners_date
    reasons = rules.cycle_reasons(year, contribution, extract, winners)
    if reasons:
        raise InvalidInput(reasons)
    cycle.contribution_deadline, cycle.extract_deadline, cycle.winners_date = (
        contribution,
        extract,
        winners,
    )
    session.add(cycle)
    session.flush()
    reminders.replan_cycle(session, cycle, now)
    return cycle


# --- reading -------------------------------------------------------------------------------------


def get_entry(session: Session, entry_id: int) -> Entry:
    return _get(session, Entry, entry_id, "Posten")


ENTRY_PAGE_MAX = 500

_ENTRY_COLUMNS = (
    col(Entry.id),
    col(Unit.id),
    col(Unit.name),
    col(Organisation.id),
    col(Organisation.name),
    col(Unit.privately_run),
    col(Cycle.year),
    col(Entry.award_class),
    col(Entry.stage),
    col(Entry.version),
    col(Entry.facts),
    col(Entry.pending),
    col(Entry.created_at),
    col(Entry.updated_at),
)


def entry_views(
    session: Session,
    *,
    stage: str | None = None,
    year: int | None = None,
    organisation_id: int | None = None,
    entry_ids: Iterable[int] | None = None,
    visible: ColumnElement[bool] | None = None,
    after_id: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Entries with their unit, organisation and cycle, in one query, as plain dicts.

    Ordered by id, so `after_id` + `limit` page through any number of entries (keyset: each
    page costs the same however deep). Plain columns, not ORM objects: a page of 500 is built
    without an identity map.
    """
    query = (
        sa_select(*_ENTRY_COLUMNS)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .join(Cycle, col(Cycle.id) == Entry.cycle_id)
        .order_by(col(Entry.id))
    )
    if stage is not None:
        query = query.where(col(Entry.stage) == parse_stage(stage).value)
    if year is not None:
        query = query.where(col(Cycle.year) == year)
    if organisation_id is not None:
        query = query.where(col(Unit.organisation_id) == organisation_id)
    if entry_ids is not None:
        query = query.where(col(Entry.id).in_(list(entry_ids)))
    if visible is not None:
        query = query.where(visible)
    if after_id is not None:
        query = query.where(col(Entry.id) > after_id)
    if limit is not None:
        query = query.limit(limit)
    return [_view(*row) for row in session.execute(query).all()]


def entry_view(session: Session, entry_id: int) -> dict[str, Any]:
    views = entry_views(session, entry_ids=[entry_id])
    if not views:
        raise _not_found("Posten", entry_id)
    return views[0]


def view_of(entry: Entry, unit: Unit, organisation: Organisation, cycle: Cycle) -> dict[str, Any]:
    """The same view as `entry_views`, from rows already loaded."""
    return _view(
        entry.id or 0,
        unit.id or 0,
        unit.name,
        organisation.id or 0,
        organisation.name,
        unit.privately_run,
        cycle.year,
        entry.award_class,
        entry.stage,
        entry.version,
        entry.facts,
        entry.pending,
        entry.created_at,
        entry.updated_at,
    )


@lru_cache(maxsize=64)
def _allowed(stage: Stage, privately_run: bool) -> tuple[str, ...]:
    return tuple(s.value for s in allowed_transitions(stage, privately_run=privately_run))


def _view(
    entry_id: int,
    unit_id: int,
    unit: str,
    organisation_id: int,
    organisation: str,
    privately_run: bool,
    year: int,
    award_class: str,
    stage_value: str,
    version: int,
    facts: dict[str, dict[str, str]],
    pending: dict[str, dict[str, str]],
    created_at: datetime,
    updated_at: datetime,
) -> dict[str, Any]:
    stage = Stage(stage_value)
    return {
        "id": entry_id,
        "unit_id": unit_id,
        "unit": unit,
        "organisation_id": organisation_id,
        "organisation": organisation,
        "privately_run": privately_run,
        "year": year,
        "award_class": award_class,
        "stage": stage.value,
        "stage_label": STAGE_LABELS_SV[stage],
        "version": version,
        "allowed_transitions": list(_allowed(stage, privately_run)),
        "facts": facts,
        "pending": pending,
        "created_at": created_at.isoformat(),
        "updated_at": updated_at.isoformat(),
    }


# --- the cycle at a glance ------------------------------------------------------------------


@dataclass(frozen=True)
class CycleOverview:
    """What the dashboard shows of a cycle, counted by the database, not in Python."""

    counts: dict[tuple[str, str], int]  # (stage, award class) -> entries
    total: int
    missing_contribution: int  # open entries without a written contribution
    missing_extract: int  # open, municipally run entries without a minutes extract
    overdue_count: int
    overdue: list[dict[str, Any]]  # the first `overdue_limit`, earliest deadline first


def _has_fact(column: Any, stage: Stage, dialect: str) -> ColumnElement[bool]:
    """`stage` is a key of the JSON object in `column` (portable: the JSON index operators
    of SQLAlchemy quote a missing key into the text 'null' on SQLite)."""
    if dialect == "postgresql":
        return column.op("->")(stage.value).is_not(None)  # type: ignore[no-any-return]
    return func.json_type(column, f'$."{stage.value}"').is_not(None)


def cycle_overview(
    session: Session,
    cycle: Cycle,
    *,
    today: date,
    visible: ColumnElement[bool] | None = None,
    overdue_limit: int = 20,
) -> CycleOverview:
    """Entries per stage and class, what is missing before each deadline, and which entries
    are overdue; three aggregate queries whatever the number of entries."""
    dialect = session.get_bind().dialect.name
    in_cycle = [col(Entry.cycle_id) == cycle.id] + ([visible] if visible is not None else [])
    counts = {
        (stage, award_class): int(n)
        for stage, award_class, n in session.exec(
            select(Entry.stage, Entry.award_class, func.count())
            .where(*in_cycle)
            .group_by(col(Entry.stage), col(Entry.award_class))
        ).all()
    }
    is_open = col(Entry.stage).not_in([s.value for s in TERMINAL_STAGES])
    no_contribution = and_(
        is_open,
        not_(_has_fact(col(Entry.facts), Stage.SUBMITTED, dialect)),
        not_(_has_fact(col(Entry.pending), Stage.SUBMITTED, dialect)),
    )
    no_extract = and_(
        is_open,
        col(Unit.privately_run).is_(False),
        not_(_has_fact(col(Entry.facts), Stage.EXTRACT_SENT, dialect)),
    )
    # (deadline, what, condition) for each deadline that has passed, earliest first.
    missed = sorted(
        (
            (deadline, what, lacking)
            for deadline, what, lacking in (
                (cycle.contribution_deadline, "Skriftligt bidrag saknas", no_contribution),
                (cycle.extract_deadline, "Protokollsutdrag saknas", no_extract),
            )
            if today > deadline
        ),
        key=lambda m: m[0],
    )
    overdue = or_(*(lacking for _, _, lacking in missed)) if missed else false()
    missing_contribution, missing_extract, overdue_count = session.exec(
        select(
            func.coalesce(func.sum(case((no_contribution, 1), else_=0)), 0),
            func.coalesce(func.sum(case((no_extract, 1), else_=0)), 0),
            func.coalesce(func.sum(case((overdue, 1), else_=0)), 0),
        )
        .select_from(Entry)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .where(*in_cycle)
    ).one()
    late_rows: list[dict[str, Any]] = []
    if overdue_count:
        # Entries that missed the earliest deadline come first, then by unit name.
        first_missed = case((missed[0][2], 0), else_=1)
        rows = session.execute(
            sa_select(
                col(Entry.id),
                col(Unit.name),
                col(Organisation.name),
                *(lacking for _, _, lacking in missed),
            )
            .join(Unit, col(Unit.id) == Entry.unit_id)
            .join(Organisation, col(Organisation.id) == Unit.organisation_id)
            .where(*in_cycle, overdue)
            .order_by(first_missed, col(Unit.name), col(Entry.id))
            .limit(overdue_limit)
        ).all()
        for entry_id, unit, organisation, *lacks in rows:
            late_rows.append(
                {
                    "entry": {"id": entry_id, "unit": unit, "organisation": organisation},
                    "missing": [
                        {"what": what, "deadline": deadline}
                        for (deadline, what, _), lacking in zip(missed, lacks, strict=True)
                        if lacking
                    ],
                }
            )
    return CycleOverview(
        counts=counts,
        total=sum(counts.values()),
        missing_contribution=int(missing_contribution),
        missing_extract=int(missing_extract),
        overdue_count=int(overdue_count),
        overdue=late_rows,
    )


def entry_history(session: Session, entry_id: int) -> list[dict[str, Any]]:
    _get(session, Entry, entry_id, "Posten")
    events = session.exec(
        select(HistoryEvent)
        .where(HistoryEvent.entry_id == entry_id)
        .order_by(col(HistoryEvent.version))
    ).all()
    return [
        {
            "version": event.version,
            "from": event.from_stage,
            "to": event.to_stage,
            "actor": event.actor,
            "at": event.at.isoformat(),
            "note": event.note,
            "data": event.data,
        }
        for event in events
    ]


def count_rows(session: Session, model: type[Any]) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


# --- helpers ------------------------------------------------------------------------------------


def _unit_facts(unit: Unit) -> rules.UnitFacts:
    return rules.UnitFacts(
        staff_count=unit.staff_count,
        manager_has_budget_and_staff_responsibility=unit.manager_has_budget_and_staff_responsibility,
        has_business_plan=unit.has_business_plan,
        share_stockholm_residents=unit.share_stockholm_residents,
        budget_in_balance=unit.budget_in_balance,
        privately_run=unit.privately_run,
    )


def _queue_messages(
    session: Session,
    entry: Entry,
    unit: Unit,
    cycle: Cycle,
    specs: Iterable[MessageSpec],
    now: datetime,
    attachments: Mapping[str, list[int]] | None = None,
    organisation: Organisation | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write the e-mails a change causes, in the change's transaction (transactional outbox)."""
    organisation = organisation or _get(
        session, Organisation, unit.organisation_id, "Organisationen"
    )
    rows = _outbox_rows(entry, unit, cycle, specs, now, attachments, organisation, extra)
    insert_rows(session, OutboxMessage, rows)


def _outbox_rows(
    entry: Entry,
    unit: Unit,
    cycle: Cycle,
    specs: Iterable[MessageSpec],
    now: datetime,
    attachments: Mapping[str, list[int]] | None,
    organisation: Organisation,
    extra: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    addresses = {
        Recipient.UNIT_CONTACT: unit.contact_email,
        Recipient.COORDINATOR: organisation.coordinator_email,
        Recipient.AWARD_OFFICE: cycle.award_office_email,
    }
    context = reminders.message_context(entry, unit, organisation, cycle)
    return [
        {
            "key": f"entry/{entry.id}/v{entry.version}/{spec.kind}",
            "entry_id": entry.id,
            "channel": "email",
            "kind": spec.kind,
            "recipient": addresses[spec.recipient],
            "payload": {
                **context,
                "stage": spec.stage.value,
                "attachments": list((attachments or {}).get(spec.kind, [])),
                **(extra or {}),
            },
            "status": "queued",
            "due_at": now,
            "created_at": now,
        }
        for spec in specs
        # Nobody to write to: the entry page shows the missing address.
        if addresses[spec.recipient]
    ]


def _get(session: Session, model: type[T], item_id: int, label: str) -> T:
    item = session.get(model, item_id)
    if item is None:
        raise _not_found(label, item_id)
    return item


def _not_found(label: str, item_id: int) -> NotFound:
    return NotFound((Reason("not_found", f"{label} med id {item_id} finns inte."),))


def _insert(session: Session, item: T, code: str, message: str) -> T:
    """Add and flush; a unique constraint that a racing writer hit first becomes a Conflict
    (the caller's transaction then rolls back whole, so nothing is half-written)."""
    try:
        session.add(item)
        session.flush()
    except IntegrityError:
        raise refusal(Conflict, code, message) from None
    return item
