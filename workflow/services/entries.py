"""Entry commands: register, move, book a site visit, keep a document.

Every change of an entry takes one path: read what it needs, build the entry as it will be and
every row the change causes (history, outbox, reminders) as an `EntryChange`, then write it
(`writes.apply_change`), compare-and-set against the version the caller saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from workflow import feeds, reminders, webhooks
from workflow.auth import scope_for
from workflow.db import get_existing
from workflow.domain import rules
from workflow.domain.access import (
    NOTIFIERS,
    Actor,
    EntryScope,
    Role,
    can_see,
    may_book_site_visit,
    may_move,
)
from workflow.domain.calendar import STOCKHOLM, hours_reason, site_visit_span
from workflow.domain.errors import (
    Forbidden,
    Ineligible,
    InvalidInput,
    NotFound,
    Reason,
    TransitionRefused,
    not_found,
    refusal,
)
from workflow.domain.jury import DIRECT_JURY_MOVE
from workflow.domain.messages import (
    MessageSpec,
    Recipient,
    messages_for_plan,
    messages_on_creation,
)
from workflow.domain.stages import (
    EXTRACT_MISSING,
    STAGE_LABELS_SV,
    EntryState,
    Plan,
    Stage,
    needs_extract,
    parse_stage,
    plan_transition,
)
from workflow.models import (
    MAX_ID,
    Cycle,
    Document,
    Entry,
    ExaminerAssignment,
    Organisation,
    OutboxMessage,
    Unit,
    User,
)
from workflow.outbox.rows import entry_message_rows, files_made_on_queueing
from workflow.services._calendar import calendar_before, calendar_change_rows
from workflow.services._change import change_of, history_row, settle, stale_version, write_change
from workflow.services._rows import insert_or_conflict
from workflow.working_days import is_swedish_working_day

# --- registering ---------------------------------------------------------------------------------


def create_entry(
    session: Session,
    *,
    unit_id: int,
    year: int,
    award_class: str,
    actor: str,
    now: datetime,
    acting: Actor | None = None,
) -> Entry:
    """Register a unit's participation (anmälan); refuses an ineligible unit, naming each rule.
    With `acting`, only the award office and the unit's own coordinator may.

    The entry's row is inserted first (its id names every other row); the rest of the change
    is then built and written like any other change of an entry.
    """
    if acting is not None and acting.role not in NOTIFIERS:
        raise refusal(Forbidden, "forbidden", "Din roll får inte anmäla enheter.")
    unit = get_existing(session, Unit, unit_id, "Enheten")
    if acting is not None and not _notifies_for(acting, unit):
        raise not_found("Enheten", unit_id)  # another organisation's unit: as if there were none
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
    class_code = class_in_cycle(award_class, cycle)
    reasons = rules.eligibility_reasons(_unit_facts(unit))
    reasons += rules.budget_reasons(cycle.budget_rule, unit.budget_in_balance)
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
    message = f"Enheten '{unit.name}' är redan anmäld till omgången {year}."
    entry_id = insert_or_conflict(session, entry, "entry_exists", message).id
    assert entry_id is not None
    organisation = get_existing(session, Organisation, unit.organisation_id, "Organisationen")
    created = {"award_class": class_code, "year": year}
    history = [
        history_row(entry_id, 1, None, Stage.NOTIFIED, actor=actor, at=now, note=None, data=created)
    ]
    specs = messages_on_creation(privately_run=unit.privately_run)
    if not _agenda_request_wanted(session, organisation, cycle, now):
        specs = tuple(spec for spec in specs if spec.kind != "agenda_request")
    outbox = message_rows(session, entry, unit, organisation, cycle, specs, now=now)
    outbox += webhooks.transition_event_rows(
        session, entry_id=entry_id, events=[(1, None, Stage.NOTIFIED.value)], actor=actor, at=now
    )
    change = change_of(entry, None, history, outbox)
    change.reminders = reminders.reminder_changes(session.connection(), entry, unit, cycle, now)
    write_change(session, change, entry)
    return entry


def _agenda_request_wanted(
    session: Session, organisation: Organisation, cycle: Cycle, now: datetime
) -> bool:
    """One agenda request per organisation and year, and none once the year's extract
    deadline has passed: the board's one case covers every unit that registers. (Its outbox
    key names the organisation and year, so two registrations at once still queue one.)"""
    if now.astimezone(STOCKHOLM).date() > cycle.extract_deadline:
        return False
    # From the organisation's units (indexed) to their entries and each entry's outbox rows
    # (indexed by entry): a few rows, however long the outbox is.
    earlier = session.exec(
        select(OutboxMessage.id)
        .select_from(Unit)
        .join(Entry, col(Entry.unit_id) == Unit.id)
        .join(OutboxMessage, col(OutboxMessage.entry_id) == Entry.id)
        .where(
            OutboxMessage.kind == "agenda_request",
            Unit.organisation_id == organisation.id,
            Entry.cycle_id == cycle.id,
        )
        .limit(1)
    ).first()
    return earlier is None


def _notifies_for(acting: Actor, unit: Unit) -> bool:
    """The award office notifies any unit; a coordinator its own organisation's."""
    return acting.role != Role.COORDINATOR or unit.organisation_id == acting.organisation_id


def class_in_cycle(award_class: str, cycle: Cycle) -> str:
    class_code = rules.normalise_award_class(award_class)
    if class_code is None:
        raise InvalidInput((rules.unknown_award_class(award_class),))
    if class_code not in cycle.classes:
        raise refusal(
            InvalidInput,
            "class_not_in_cycle",
            f"Klassen {rules.AWARD_CLASSES[class_code]} finns inte i omgången {cycle.year}.",
        )
    return class_code


# The facts eligibility is judged on, by the names the unit's fields share with them.
_FACT_NAMES = frozenset(field.name for field in fields(rules.UnitFacts))


def _unit_facts(unit: Unit) -> rules.UnitFacts:
    return rules.UnitFacts(**unit.model_dump(include=set(_FACT_NAMES)))


def message_rows(
    session: Session,
    entry: Entry,
    unit: Unit,
    organisation: Organisation,
    cycle: Cycle,
    specs: Iterable[MessageSpec],
    *,
    now: datetime,
    document_ids: Mapping[str, Sequence[int]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The e-mails a change causes, with every part they carry made now (the outbox's
    frozen-when-queued policy: the agenda request's draft board report included)."""
    specs = tuple(specs)
    made_files = files_made_on_queueing(session, entry.id or 0, specs)
    return entry_message_rows(
        entry, unit, organisation, cycle, specs,
        now=now, document_ids=document_ids, made_files=made_files, extra=extra,
    )  # fmt: skip


# --- who may ------------------------------------------------------------------------------------


def check_move(session: Session, acting: Actor | None, entry_id: int, target: Stage | str) -> Stage:
    """`target` as a stage, once `acting` is known to see the entry and to be allowed to move
    it there (the rules of `domain.access`). An entry it may not see is NotFound, like one that
    does not exist, so nothing leaks; a move its role may not make is Forbidden. None for
    `acting` is the operator's own hand (the CLI on the server, a task): nothing to check."""
    if acting is None:
        return parse_stage(target)
    scope = _visible_scope(session, acting, entry_id)
    stage = parse_stage(target)
    reason = may_move(acting, scope, stage)
    if reason is not None:
        raise Forbidden((reason,))
    return stage


def _visible_scope(session: Session, acting: Actor, entry_id: int) -> EntryScope:
    """The entry's access facts, or NotFound when `acting` may not see it (nothing leaks)."""
    scope = scope_for(session, acting, entry_id) if 1 <= entry_id <= MAX_ID else None
    if scope is None or not can_see(acting, scope):
        raise not_found("Posten", entry_id)
    return scope


# --- moving ----------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Loaded:
    """An entry at the version the caller saw, and what its change needs besides."""

    entry: Entry
    unit: Unit
    organisation: Organisation
    cycle: Cycle
    webhooks_listen: bool


def keep_for_transaction(session: Session, *rows: object) -> None:
    """Hold rows a change read until its session ends. The identity map keeps an object only
    while something refers to it, so the caller's view of the changed entry would otherwise
    read the entry's unit, organisation and cycle once more (three round trips)."""
    session.info.setdefault("kept_rows", []).extend(rows)


def load_for_change(session: Session, entry_id: int, version: int | None) -> Loaded:
    """Everything a change of the entry reads, in one query; StaleVersion when the entry is
    no longer at `version` (None: whatever version it is at now)."""
    if not 1 <= entry_id <= MAX_ID:
        raise not_found("Posten", entry_id)
    row = session.execute(_ENTRY_FOR_CHANGE, {"entry_id": entry_id}).first()
    if row is None:
        raise not_found("Posten", entry_id)
    loaded = Loaded(*row)
    keep_for_transaction(session, loaded.unit, loaded.organisation, loaded.cycle)
    if version is not None and loaded.entry.version != version:
        raise stale_version(loaded.entry, version)
    return loaded


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
    acting: Actor | None = None,
    announcement: bool = False,
) -> Entry:
    """Move an entry to `target` from the version the caller saw.

    Raises StaleVersion when the entry changed since `version` (nothing is changed), and
    TransitionRefused with every reason when the table or a guard says no. A contribution that
    arrives before the board stages are done is kept, and the entry moves on by itself later.
    With `acting`, the move is first checked against what that person may do (`check_move`).
    Only the jury's announcement (`announcement`, services/jury.py) moves an entry to `jury`:
    the outcome e-mail that move queues must not leave before it.
    """
    target_stage = check_move(session, acting, entry_id, target)
    loaded = load_for_change(session, entry_id, version)
    entry, unit, cycle = loaded.entry, loaded.unit, loaded.cycle
    reminders_before = reminders.depends_on(entry)
    state = EntryState(
        stage=Stage(entry.stage),
        privately_run=unit.privately_run,
        budget_in_balance=unit.budget_in_balance,
        pending={Stage(k): v for k, v in entry.pending.items()},
    )
    # A person (web, API) cannot record a board meeting that has not been held yet; the
    # operator's own hand (CLI, imports of earlier years) records what it is given.
    today = now.astimezone(STOCKHOLM).date() if acting is not None else None
    plan = plan_transition(state, target_stage, data or {}, note=note, today=today)
    if target_stage == Stage.JURY and not announcement:
        raise TransitionRefused((DIRECT_JURY_MOVE,))
    attachments = _extract_attachments(session, entry_id, plan)
    history = _history_of_plan(entry, plan, actor=actor, at=now, note=note)
    facts, pending = _facts_after(entry, plan)
    calendar = calendar_before(entry)
    settle(entry, plan.final_stage or state.stage, version + len(history), facts, pending, now)
    specs = messages_for_plan(plan)
    outbox = message_rows(
        session, entry, unit, loaded.organisation, cycle, specs, now=now, document_ids=attachments
    )
    outbox += calendar_change_rows(
        session, entry, unit, loaded.organisation, cycle, calendar, now=now
    )
    if loaded.webhooks_listen:
        events = [
            (version + offset, step.source.value, step.target.value)
            for offset, step in enumerate(plan.steps, start=1)
        ]
        outbox += webhooks.transition_event_rows(
            session, entry_id=entry_id, events=events, actor=actor, at=now
        )
    change = change_of(entry, version, history, outbox)
    if reminders.depends_on(entry) != reminders_before:
        change.reminders = reminders.reminder_changes(session.connection(), entry, unit, cycle, now)
    write_change(session, change, entry)
    return entry


def _extract_attachments(session: Session, entry_id: int, plan: Plan) -> dict[str, list[int]]:
    """The minutes extract the plan sends, as the e-mail's attachment; refused without one."""
    if not needs_extract(plan):
        return {}
    extract = _latest_document(session, entry_id, "extract")
    if extract is None:
        raise TransitionRefused((EXTRACT_MISSING,))
    return {"extract_to_award_office": [extract.id or 0]}


def _facts_after(entry: Entry, plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
    """The entry's facts and pending facts once `plan` is applied."""
    facts = {**entry.facts}
    pending = {**entry.pending}
    for stage, kept in plan.kept.items():
        pending[stage.value] = dict(kept)
    for step in plan.steps:
        facts[step.target.value] = dict(step.data)
        pending.pop(step.target.value, None)
    return facts, pending


def _history_of_plan(
    entry: Entry, plan: Plan, *, actor: str, at: datetime, note: str | None
) -> list[dict[str, Any]]:
    """One event per step; or, for a fact kept for later, one that stays in its stage."""
    entry_id, version = entry.id or 0, entry.version
    if not plan.steps:
        stage = Stage(entry.stage)
        kept_stage = next(iter(plan.kept))
        data = {"kept_for": kept_stage.value, **plan.kept[kept_stage]}
        note = note or _kept_note(kept_stage)
        return [
            history_row(
                entry_id, version + 1, stage, stage, actor=actor, at=at, note=note, data=data
            )
        ]
    return [
        history_row(
            entry_id,
            version + offset,
            step.source,
            step.target,
            actor=actor,
            at=at,
            note=note if not step.automatic else _automatic_note(step.target),
            data=dict(step.data),
        )
        for offset, step in enumerate(plan.steps, start=1)
    ]


def withdraw_entry(
    session: Session,
    *,
    entry_id: int,
    version: int,
    actor: str,
    now: datetime,
    note: str,
    acting: Actor | None = None,
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
        acting=acting,
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
    acting: Actor | None = None,
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
        acting=acting,
    )


# --- the site visit ------------------------------------------------------------------------------


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
    acting: Actor | None = None,
) -> Entry:
    """Book the examiners' site visit (platsbesök) for a submitted entry and tell the unit.

    A fact, not a stage: the history gets an event that stays in `submitted`, and the
    version moves on like for any change, so two people booking at once cannot both win.
    The hours (Stockholm time) default to 09:00–12:00, or three hours from the one given.
    The admin and the entry's own examiners may book it (with `acting`, checked).
    """
    if acting is not None:
        reason = may_book_site_visit(acting, _visible_scope(session, acting, entry_id))
        if reason is not None:
            raise Forbidden((reason,))
    booked = _booking(on, starts_at, ends_at)
    loaded = load_for_change(session, entry_id, version)
    entry, unit, organisation = loaded.entry, loaded.unit, loaded.organisation
    if entry.stage != Stage.SUBMITTED:
        raise refusal(
            TransitionRefused,
            "site_visit_needs_contribution",
            "Platsbesök bokas när bidraget har kommit in och innan examinationen är klar.",
        )
    _check_visit_day(on, entry, loaded.cycle)
    stage = Stage(entry.stage)
    hours = f"{booked['starts_at']}–{booked['ends_at']}"
    note = note or f"Platsbesök bokat {on.isoformat()} kl. {hours}."
    history = [
        history_row(
            entry_id, version + 1, stage, stage, actor=actor, at=now, note=note, data=dict(booked)
        )
    ]
    facts = {**entry.facts, "site_visit": booked}
    settle(entry, stage, version + 1, facts, entry.pending, now)
    # Recorded first: the invitation carries the visit's SEQUENCE, raised only if it moved.
    issued = feeds.record_entry_events(session, entry, unit, organisation, loaded.cycle, now=now)
    extra: dict[str, Any] = {**booked, "examiners": _examiner_names(session, entry_id)}
    if unit.contact_email:  # no address: no e-mail, so no invitation either
        # Stored with the message, so a retry sends exactly the same invitation.
        extra["invitation_ics"] = feeds.site_visit_invitation(
            entry,
            unit,
            organisation,
            on,
            loaded.cycle.award_office_email,
            unit.contact_email,
            now=now,
            issued=issued[feeds.site_visit_uid(entry_id)],
        )
    notice = [MessageSpec("site_visit_notice", Recipient.UNIT_CONTACT, Stage.SUBMITTED)]
    outbox = message_rows(
        session, entry, unit, organisation, loaded.cycle, notice, now=now, extra=extra
    )
    write_change(session, change_of(entry, version, history, outbox), entry)
    return entry


def _examiner_names(session: Session, entry_id: int) -> list[str]:
    """The names of the examiners assigned to the entry: the site-visit notice names them."""
    return list(
        session.exec(
            select(User.name)
            .join(ExaminerAssignment, col(ExaminerAssignment.user_id) == User.id)
            .where(ExaminerAssignment.entry_id == entry_id)
            .order_by(col(User.name))
        ).all()
    )


def _check_visit_day(on: date, entry: Entry, cycle: Cycle) -> None:
    """A site visit is refused (not merely warned about) on a day nobody is at work, before
    the contribution came in, or outside the cycle (after the winners are named)."""
    reasons: list[Reason] = []
    if not is_swedish_working_day(on):
        reasons.append(
            Reason(
                "site_visit_not_working_day",
                f"Platsbesöket ({on.isoformat()}) infaller på en helgdag eller en lördag eller "
                "söndag; välj en vardag.",
            )
        )
    submitted = _iso_day(entry.facts.get(Stage.SUBMITTED, {}).get("submitted_on"))
    if submitted is not None and on < submitted:
        reasons.append(
            Reason(
                "site_visit_before_contribution",
                f"Platsbesöket kan inte ligga före den dag bidraget kom in ({submitted}).",
            )
        )
    if on.year != cycle.year or on >= cycle.winners_date:
        reasons.append(
            Reason(
                "site_visit_outside_cycle",
                f"Platsbesöket måste ligga under omgången {cycle.year}, före den dag vinnarna "
                f"utses ({cycle.winners_date.isoformat()}).",
            )
        )
    if reasons:
        raise InvalidInput(reasons)


def _iso_day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _booking(on: date, starts_at: time | None, ends_at: time | None) -> dict[str, str]:
    """The facts a site-visit booking records; InvalidInput for an implausible day or hours."""
    implausible = rules.date_reason("Platsbesöket", on)
    if implausible is not None:
        raise InvalidInput((implausible,))
    span = site_visit_span(starts_at, ends_at)
    wrong_hours = hours_reason("site_visit_hours", span)
    if wrong_hours is not None:
        raise InvalidInput((wrong_hours,))
    return {
        "site_visit_on": on.isoformat(),
        "starts_at": f"{span[0]:%H:%M}",
        "ends_at": f"{span[1]:%H:%M}",
    }


# --- documents -----------------------------------------------------------------------------------


def _latest_document(session: Session, entry_id: int, kind: str) -> Document | None:
    return session.exec(
        select(Document)
        .where(Document.entry_id == entry_id, Document.kind == kind)
        .order_by(col(Document.id).desc())
    ).first()


def _automatic_note(stage: Stage) -> str:
    return f"Automatiskt: {STAGE_LABELS_SV[stage].lower()} var redan registrerat."


def _kept_note(stage: Stage) -> str:
    return (
        f"{STAGE_LABELS_SV[stage]} registrerat i förväg; posten går vidare när tidigare steg "
        "är klara."
    )
