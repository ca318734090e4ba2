"""The register: cycles, organisations, units (one by one or from a CSV file), users and
examiners. Each use case runs in the caller's one transaction and refuses with every reason."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from pydantic import ValidationError
from sqlmodel import Session, select

from workflow import feeds, reminders
from workflow.auth import entry_scope, hash_password, hash_token
from workflow.db import get_existing
from workflow.domain import rules
from workflow.domain.access import Actor, Role, examiner_conflict
from workflow.domain.calendar import ceremony_span, hours_reason, moved_ceremony
from workflow.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Reason,
    not_found,
    refusal,
)
from workflow.models import (
    Cycle,
    Entry,
    ExaminerAssignment,
    Organisation,
    Unit,
    UnitCreate,
    User,
)
from workflow.services import ceremony, unreachable
from workflow.services._audit import OPERATOR, changed_fields, record_audit
from workflow.services._rows import insert_or_conflict

ORGANISATION_KINDS = {"forvaltning": "förvaltning", "bolag": "bolag"}


@dataclass(frozen=True)
class Created:
    """Who created a record of the register, and when: the audit trail's "created" event."""

    actor: str
    at: datetime


def _record_creation(
    session: Session,
    subject: str,
    subject_id: int | None,
    values: Mapping[str, object],
    created: Created | None,
) -> None:
    if created is not None:
        record_audit(
            session, subject=subject, subject_id=subject_id or 0, action="created",
            actor=created.actor, at=created.at, changes=changed_fields({}, values),
        )  # fmt: skip


# --- cycles ------------------------------------------------------------------------------------


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
    budget_rule: str = rules.DEFAULT_BUDGET_RULE,
    prize_amount: int = rules.DEFAULT_PRIZE_AMOUNT,
    created: Created | None = None,
) -> Cycle:
    """A new cycle; with `created` (who, when) the audit trail records it."""
    reasons = list(rules.cycle_reasons(year, contribution_deadline, extract_deadline, winners_date))
    reasons += rules.prize_amount_reasons(prize_amount)
    wrong_rule = rules.budget_rule_reason(budget_rule)
    if wrong_rule is not None:
        reasons.append(wrong_rule)
    ceremony = ceremony_span(ceremony_starts_at, ceremony_ends_at)
    wrong_hours = hours_reason("ceremony_hours", ceremony)
    if wrong_hours is not None:
        reasons.append(wrong_hours)
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
        budget_rule=budget_rule,
        prize_amount=prize_amount,
    )
    message = f"Det finns redan en omgång för år {year}."
    insert_or_conflict(session, cycle, "cycle_exists", message)
    _record_creation(session, "cycle", cycle.id, cycle.model_dump(exclude={"id"}), created)
    return cycle


def _award_classes(classes: Sequence[str] | None, reasons: list[Reason]) -> list[str]:
    if not classes:
        return list(rules.AWARD_CLASSES)
    codes: list[str] = []
    for name in classes:
        code = rules.normalise_award_class(name)
        if code is None:
            reasons.append(rules.unknown_award_class(name))
        elif code not in codes:
            codes.append(code)
    return codes


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
    previous_on = cycle.winners_date
    cycle.contribution_deadline, cycle.extract_deadline, cycle.winners_date = (
        contribution,
        extract,
        winners,
    )
    session.add(cycle)
    session.flush()
    reminders.replan_cycle(session, cycle, now)
    feeds.record_cycle_events(session, cycle, now=now)
    if winners != previous_on:
        ceremony.reissue_moved_ceremony(
            session, cycle, previous_on=previous_on, actor=OPERATOR, now=now,
            previous_hours=ceremony_span(cycle.ceremony_starts_at, cycle.ceremony_ends_at),
        )  # fmt: skip
    return cycle


# --- organisations and units ---------------------------------------------------------------------


def create_organisation(
    session: Session,
    *,
    name: str,
    kind: str,
    board: str,
    coordinator_email: str | None = None,
    escalation_email: str | None = None,
    created: Created | None = None,
) -> Organisation:
    reasons = [
        *rules.name_reasons("Organisationens namn", name),
        *rules.name_reasons("Nämnden eller styrelsen", board, missing="missing_board"),
    ]
    if kind not in ORGANISATION_KINDS:
        reasons.append(
            Reason("invalid_kind", f"'{kind}' är ingen organisationstyp (forvaltning, bolag).")
        )
    for address in (coordinator_email, escalation_email):
        if address and not rules.is_email(address):
            reasons.append(Reason("invalid_email", f"'{address}' är ingen e-postadress."))
    if reasons:
        raise InvalidInput(reasons)
    organisation = Organisation(
        name=name.strip(),
        kind=kind,
        board=board.strip(),
        coordinator_email=coordinator_email or None,
        escalation_email=escalation_email or None,
    )
    insert_or_conflict(
        session, organisation, "organisation_exists", f"Organisationen '{name}' finns redan."
    )
    values = organisation.model_dump(exclude={"id"})
    _record_creation(session, "organisation", organisation.id, values, created)
    return organisation


def unit_spec_reasons(spec: UnitCreate) -> tuple[Reason, ...]:
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


def create_unit(session: Session, spec: UnitCreate, created: Created | None = None) -> Unit:
    reasons = unit_spec_reasons(spec)
    if reasons:
        raise InvalidInput(reasons)
    get_existing(session, Organisation, spec.organisation_id, "Organisationen")
    unit = insert_or_conflict(
        session,
        unit_from_spec(spec),
        "unit_exists",
        f"Enheten '{spec.name}' finns redan i organisationen.",
    )
    _record_creation(session, "unit", unit.id, unit.model_dump(exclude={"id"}), created)
    return unit


def unit_from_spec(spec: UnitCreate) -> Unit:
    years = sorted(set(spec.earlier_participation_years))
    return Unit(
        **{
            **spec.model_dump(),
            "name": spec.name.strip(),
            "contact_email": spec.contact_email or None,
            "earlier_participation_years": years,
            "earlier_participation_count": max(spec.earlier_participation_count, len(years)),
        }
    )


# --- users and examiners -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewUser:
    user: User
    token: str  # shown once, never stored


def create_user(
    session: Session,
    *,
    name: str,
    role: str,
    now: datetime,
    organisation_id: int | None = None,
    unit_id: int | None = None,
    password: str | None = None,
) -> NewUser:
    parsed_role = parse_role(role)
    reasons = user_reasons(name, parsed_role, organisation_id, unit_id, password)
    if reasons:
        raise InvalidInput(reasons)
    if organisation_id is not None:
        get_existing(session, Organisation, organisation_id, "Organisationen")
    if unit_id is not None:
        unit = get_existing(session, Unit, unit_id, "Enheten")
        organisation_id = organisation_id or unit.organisation_id
    if session.exec(select(User).where(User.name == name.strip())).first() is not None:
        raise refusal(Conflict, "user_exists", f"Användaren '{name}' finns redan.")
    token = secrets.token_urlsafe(32)
    user = User(
        name=name.strip(),
        role=parsed_role.value,
        organisation_id=organisation_id,
        unit_id=unit_id,
        token_hash=hash_token(token),
        password_hash=hash_password(password) if password else None,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return NewUser(user, token)


def parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise refusal(
            InvalidInput, "unknown_role", f"Okänd roll '{role}' (giltiga: {known})."
        ) from None


def user_reasons(
    name: str,
    role: Role,
    organisation_id: int | None,
    unit_id: int | None,
    password: str | None,
) -> list[Reason]:
    reasons = list(rules.name_reasons("Användarnamnet", name))
    if role == Role.COORDINATOR and organisation_id is None:
        reasons.append(Reason("missing_organisation", "En samordnare behöver en organisation."))
    if role == Role.EXAMINER and organisation_id is None:
        # Needed for the conflict-of-interest rule: no one examines their own administration.
        reasons.append(
            Reason(
                "missing_organisation", "En examinator behöver en organisation (för jävsregeln)."
            )
        )
    if role == Role.UNIT_CONTACT and unit_id is None:
        reasons.append(Reason("missing_unit", "En kontaktperson behöver en enhet."))
    if password is not None and len(password) < 10:
        reasons.append(Reason("weak_password", "Lösenordet måste ha minst 10 tecken."))
    return reasons


def assign_examiner(
    session: Session, *, entry_id: int, examiner_id: int, assigned_by: str, now: datetime
) -> ExaminerAssignment:
    """Assign an examiner to an entry; refused (jäv) for one from the entry's organisation."""
    entry = get_existing(session, Entry, entry_id, "Posten")
    examiner = session.get(User, examiner_id)
    if examiner is None or examiner.role != Role.EXAMINER:
        raise refusal(NotFound, "not_found", f"Examinatorn med id {examiner_id} finns inte.")
    conflict = examiner_conflict(examiner.organisation_id, entry_scope(session, entry))
    if conflict is not None:
        raise Conflict((conflict,))
    existing = session.exec(
        select(ExaminerAssignment).where(
            ExaminerAssignment.entry_id == entry_id, ExaminerAssignment.user_id == examiner_id
        )
    ).first()
    if existing is not None:
        return existing
    assignment = ExaminerAssignment(
        entry_id=entry_id, user_id=examiner_id, assigned_by=assigned_by, created_at=now
    )
    session.add(assignment)
    session.flush()
    return assignment


# --- corrections of the register (each one an AuditEvent: who, when, old → new, why) ----------

MAX_NOTE_LENGTH = 2000


def _actor_name(acting: Actor | None) -> str:
    return acting.name if acting is not None else OPERATOR


def _require_admin(acting: Actor | None, message: str) -> None:
    if acting is not None and acting.role != Role.ADMIN:
        raise refusal(Forbidden, "forbidden", message)


def _note_reasons(note: str | None, *, required: bool) -> list[Reason]:
    if required and not (note or "").strip():
        return [Reason("missing_note", "Skriv varför uppgifterna ändras.")]
    if note and len(note) > MAX_NOTE_LENGTH:
        return [Reason("note_too_long", f"Anteckningen får vara högst {MAX_NOTE_LENGTH} tecken.")]
    return []


def update_cycle(
    session: Session,
    *,
    year: int,
    now: datetime,
    acting: Actor | None = None,
    contribution_deadline: date | None = None,
    extract_deadline: date | None = None,
    winners_date: date | None = None,
    classes: Sequence[str] | None = None,
    award_office_email: str | None = None,
    budget_rule: str | None = None,
    prize_amount: int | None = None,
    ceremony_starts_at: time | None = None,
    ceremony_ends_at: time | None = None,
    note: str | None = None,
) -> Cycle:
    """Change a cycle's dates and settings (None: unchanged); moved dates re-plan the pending
    reminders of its open entries at once, as `update_cycle_deadlines` does. A new start of the
    ceremony without an end keeps its length. A moved ceremony (day or hours) reaches everyone
    invited to it (`ceremony.reissue_moved_ceremony`)."""
    _require_admin(acting, "Bara utmärkelsens kansli ändrar omgångar.")
    cycle = session.exec(select(Cycle).where(Cycle.year == year).with_for_update()).first()
    if cycle is None:
        raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
    before = cycle.model_dump()
    contribution = contribution_deadline or cycle.contribution_deadline
    extract = extract_deadline or cycle.extract_deadline
    winners = winners_date or cycle.winners_date
    address = (award_office_email or cycle.award_office_email).strip()
    rule = budget_rule or cycle.budget_rule
    reasons = [*rules.cycle_reasons(year, contribution, extract, winners)]
    reasons += _note_reasons(note, required=False)
    prize = cycle.prize_amount if prize_amount is None else prize_amount
    reasons += rules.prize_amount_reasons(prize)
    if not rules.is_email(address):
        reasons.append(Reason("invalid_email", f"'{address}' är ingen e-postadress."))
    wrong_rule = rules.budget_rule_reason(rule)
    if wrong_rule is not None:
        reasons.append(wrong_rule)
    hours = _ceremony_hours(cycle, ceremony_starts_at, ceremony_ends_at, reasons)
    after: dict[str, object] = {
        "contribution_deadline": contribution,
        "extract_deadline": extract,
        "winners_date": winners,
        "award_office_email": address,
        "budget_rule": rule,
        "prize_amount": prize,
        "ceremony_starts_at": hours[0],
        "ceremony_ends_at": hours[1],
    }
    if classes is not None:
        if not classes:
            reasons.append(Reason("missing_classes", "Välj minst en klass."))
        after["classes"] = _award_classes(classes, reasons)
    if reasons:
        raise InvalidInput(reasons)
    changes = changed_fields(before, after)
    if not changes:
        return cycle
    for name, value in after.items():
        setattr(cycle, name, value)
    session.add(cycle)
    session.flush()
    if {"contribution_deadline", "extract_deadline", "winners_date"} & changes.keys():
        reminders.replan_cycle(session, cycle, now)
        feeds.record_cycle_events(session, cycle, now=now)
    record_audit(
        session, subject="cycle", subject_id=cycle.id or 0, action="corrected",
        actor=_actor_name(acting), at=now, changes=changes, note=note or None,
    )  # fmt: skip
    if changes.keys() & {"winners_date", "ceremony_starts_at", "ceremony_ends_at"}:
        # The ceremony moved: whoever was invited hears of it.
        ceremony.reissue_moved_ceremony(
            session, cycle, previous_on=before["winners_date"],
            previous_hours=ceremony_span(before["ceremony_starts_at"], before["ceremony_ends_at"]),
            actor=_actor_name(acting), now=now,
        )  # fmt: skip
    return cycle


def _ceremony_hours(
    cycle: Cycle, starts_at: time | None, ends_at: time | None, reasons: list[Reason]
) -> tuple[time | None, time | None]:
    """The ceremony's hours after a change, as stored (unchanged: as they were)."""
    current = ceremony_span(cycle.ceremony_starts_at, cycle.ceremony_ends_at)
    hours = moved_ceremony(current, starts_at, ends_at)
    if hours == current:  # nothing given, or the hours a form shows (defaults): no change, no move
        return cycle.ceremony_starts_at, cycle.ceremony_ends_at
    wrong = hours_reason("ceremony_hours", hours)
    if wrong is not None:
        reasons.append(wrong)
    return hours


def update_organisation(
    session: Session,
    *,
    organisation_id: int,
    now: datetime,
    acting: Actor | None = None,
    name: str | None = None,
    kind: str | None = None,
    board: str | None = None,
    coordinator_email: str | None = None,
    escalation_email: str | None = None,
    note: str | None = None,
) -> Organisation:
    """Change an organisation (None: unchanged; "" clears an address); audited."""
    _require_admin(acting, "Bara utmärkelsens kansli ändrar organisationer.")
    organisation = get_existing(session, Organisation, organisation_id, "Organisationen")
    before = organisation.model_dump()
    after: dict[str, str | None] = {}
    reasons: list[Reason] = _note_reasons(note, required=False)
    if name is not None:
        reasons += rules.name_reasons("Organisationens namn", name)
        after["name"] = name.strip()
    if board is not None:
        reasons += rules.name_reasons("Nämnden eller styrelsen", board, missing="missing_board")
        after["board"] = board.strip()
    if kind is not None:
        if kind not in ORGANISATION_KINDS:
            reasons.append(
                Reason("invalid_kind", f"'{kind}' är ingen organisationstyp (forvaltning, bolag).")
            )
        after["kind"] = kind
    for field, address in (
        ("coordinator_email", coordinator_email),
        ("escalation_email", escalation_email),
    ):
        if address is None:
            continue
        if address.strip() and not rules.is_email(address.strip()):
            reasons.append(Reason("invalid_email", f"'{address}' är ingen e-postadress."))
        after[field] = address.strip() or None
    if reasons:
        raise InvalidInput(reasons)
    changes = changed_fields(before, after)
    if not changes:
        return organisation
    for field, value in after.items():
        setattr(organisation, field, value)
    insert_or_conflict(
        session, organisation, "organisation_exists", f"Organisationen '{name}' finns redan."
    )
    record_audit(
        session, subject="organisation", subject_id=organisation_id, action="corrected",
        actor=_actor_name(acting), at=now, changes=changes, note=note or None,
    )  # fmt: skip
    if {"coordinator_email", "escalation_email"} & changes.keys():
        unreachable.send_when_reachable(
            session, organisation_id=organisation_id, actor=_actor_name(acting), now=now
        )
    return organisation


# The unit facts a correction may change; `organisation_id` only by the award office.
UNIT_FIELDS = (*UnitCreate.model_fields, "earlier_participation_years")


def may_correct_unit(acting: Actor | None, unit: Unit) -> bool:
    """The award office corrects any unit; a coordinator those of its own organisation."""
    if acting is None or acting.role == Role.ADMIN:
        return True
    return acting.role == Role.COORDINATOR and acting.organisation_id == unit.organisation_id


def update_unit(
    session: Session,
    *,
    unit_id: int,
    now: datetime,
    changes: Mapping[str, object],
    note: str | None,
    acting: Actor | None = None,
) -> Unit:
    """Correct a unit's facts (only the fields in `changes`); `note` says why and is required.
    Writes an AuditEvent with every field's old → new."""
    unit = get_existing(session, Unit, unit_id, "Enheten")
    if not may_correct_unit(acting, unit):
        if acting is not None and acting.role == Role.COORDINATOR:
            raise not_found("Enheten", unit_id)  # another organisation's: as if none
        raise refusal(Forbidden, "forbidden", "Din roll får inte ändra enheter.")
    unknown = sorted(set(changes) - set(UNIT_FIELDS))
    if unknown:
        raise refusal(InvalidInput, "unknown_field", f"Okända fält: {', '.join(unknown)}.")
    current = unit.model_dump()
    if "organisation_id" in changes and changes["organisation_id"] != unit.organisation_id:
        _require_admin(
            acting, "Bara utmärkelsens kansli flyttar en enhet till en annan organisation."
        )
        get_existing(session, Organisation, int(str(changes["organisation_id"])), "Organisationen")
    merged = {**current, **changes}
    merged["earlier_participation_years"] = tuple(merged["earlier_participation_years"] or ())
    try:
        spec = UnitCreate.model_validate(merged)
    except ValidationError as error:
        raise InvalidInput(
            [Reason("invalid_field", f"{'.'.join(map(str, e['loc']))}: {e['msg']}")
             for e in error.errors()]
        ) from None  # fmt: skip
    reasons = [*unit_spec_reasons(spec), *_note_reasons(note, required=True)]
    if reasons:
        raise InvalidInput(reasons)
    after = unit_from_spec(spec).model_dump(include=set(UNIT_FIELDS))
    diff = changed_fields(current, after)
    if not diff:
        return unit
    for field in diff:
        setattr(unit, field, after[field])
    insert_or_conflict(
        session, unit, "unit_exists", f"Enheten '{spec.name}' finns redan i organisationen."
    )
    record_audit(
        session, subject="unit", subject_id=unit_id, action="corrected",
        actor=_actor_name(acting), at=now, changes=diff, note=(note or "").strip(),
    )  # fmt: skip
    if {"contact_email", "organisation_id"} & diff.keys():
        unreachable.send_when_reachable(
            session, unit_ids=[unit_id], actor=_actor_name(acting), now=now
        )
    return unit
