""" "Att göra": what one user must do next in a cycle, each with its deadline and the form.

One query per role (the admin's three), whatever the number of units: the entries in the
cycle the user acts on, narrowed in the database to those waiting for that user's act, with
the facts that tell which act. An entry's own extended date (`contribution_until`,
`extract_until`) is its deadline when set, else the cycle's.

- coordinator: its organisation's city-run entries waiting for the board decision or the
  minutes extract (the extract deadline);
- unit contact: its unit's entry without a contribution (the contribution deadline);
- examiner: its assigned entries with a contribution: book the site visit, assess, write
  the consensus (by the winners' day); once examined, the feedback is the office's to release;
- jury: each class with entries at feedback, to decide (by the winners' day);
- admin: open entries past a deadline with the fact missing, units no e-mail reaches (no
  contact address and no coordinator), e-mails kept until an address is set (undeliverable),
  and failed e-mails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, not_, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from workflow.domain.access import Actor, Role
from workflow.domain.rules import AWARD_CLASSES
from workflow.domain.stages import TERMINAL_STAGES, Stage
from workflow.models import Cycle, Entry, ExaminerAssignment, Organisation, OutboxMessage, Unit
from workflow.queries.examination import examiner_tasks

LIMIT = 25  # items shown; the count says how many there are


@dataclass(frozen=True)
class Todo:
    """One thing to do: `task` on `subject`, by `deadline`, at `url` (the form)."""

    task: str  # "Registrera nämndbeslut"
    subject: str  # the unit (or class) it is about
    detail: str | None  # its organisation, or how many
    deadline: date | None
    url: str
    button: str  # the link's words: the act itself

    def overdue(self, today: date) -> bool:
        return self.deadline is not None and self.deadline < today


@dataclass(frozen=True)
class TodoList:
    items: list[Todo]
    total: int  # may exceed len(items) (LIMIT)


def _has_key(column: Any, key: str, dialect: str) -> ColumnElement[bool]:
    """`key` is a key of the JSON object in `column` (as `queries.entries` tests facts)."""
    if dialect == "postgresql":
        return column.op("->")(key).is_not(None)  # type: ignore[no-any-return]
    return func.json_type(column, f'$."{key}"').is_not(None)


def todo_for(
    session: Session,
    actor: Actor,
    cycle: Cycle,
    *,
    today: date,
    failed_messages: int | None = None,
) -> TodoList:
    """What `actor` must do next in `cycle`, soonest deadline first (undated ones last).
    `failed_messages`: the count of failed e-mails when the caller has it already (the
    admin's item; counting scans the outbox)."""
    dialect = session.get_bind().dialect.name
    if actor.role == Role.ADMIN:
        items, total = _admin(session, cycle, today, dialect, failed_messages)
        items.sort(key=lambda t: (t.deadline or date.max, t.subject))
        return TodoList(items[:LIMIT], total)
    if actor.role == Role.COORDINATOR:
        items = _coordinator(session, actor, cycle)
    elif actor.role == Role.UNIT_CONTACT:
        items = _unit_contact(session, actor, cycle, dialect)
    elif actor.role == Role.EXAMINER:
        items = _examiner(session, actor, cycle, dialect)
    else:
        items = _jury(session, cycle)
    items.sort(key=lambda t: (t.deadline or date.max, t.subject))
    return TodoList(items[:LIMIT], len(items))


def _contribution_due(cycle: Cycle) -> Any:
    return func.coalesce(col(Entry.contribution_until), cycle.contribution_deadline)


def _extract_due(cycle: Cycle) -> Any:
    return func.coalesce(col(Entry.extract_until), cycle.extract_deadline)


def _coordinator(session: Session, actor: Actor, cycle: Cycle) -> list[Todo]:
    rows = session.execute(
        sa_select(col(Entry.id), col(Entry.stage), col(Entry.extract_until), col(Unit.name))
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .where(
            col(Entry.cycle_id) == cycle.id,
            col(Unit.organisation_id) == actor.organisation_id,
            col(Unit.privately_run).is_(False),
            col(Entry.stage).in_([Stage.NOTIFIED.value, Stage.BOARD_DECISION.value]),
        )
    ).all()
    todos = []
    for entry_id, stage, extract_until, unit in rows:
        due = extract_until or cycle.extract_deadline
        if stage == Stage.NOTIFIED.value:
            todos.append(
                Todo(
                    "Nämndens beslut ska registreras",
                    unit,
                    None,
                    due,
                    f"/entries/{entry_id}#transition-{Stage.BOARD_DECISION.value}",
                    "Registrera nämndbeslut",
                )
            )
        else:
            todos.append(
                Todo(
                    "Protokollsutdraget ska skickas",
                    unit,
                    None,
                    due,
                    f"/entries/{entry_id}#upload-extract",
                    "Skicka protokollsutdrag",
                )
            )
    return todos


def _unit_contact(session: Session, actor: Actor, cycle: Cycle, dialect: str) -> list[Todo]:
    rows = session.execute(
        sa_select(col(Entry.id), col(Entry.contribution_until), col(Unit.name))
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .where(
            col(Entry.cycle_id) == cycle.id,
            col(Entry.unit_id) == actor.unit_id,
            _no_contribution(dialect),
        )
    ).all()
    return [
        Todo(
            "Det skriftliga bidraget ska lämnas in",
            unit,
            None,
            until or cycle.contribution_deadline,
            f"/entries/{entry_id}#upload-contribution",
            "Lämna in bidraget",
        )
        for entry_id, until, unit in rows
    ]


def _no_contribution(dialect: str) -> ColumnElement[bool]:
    return and_(
        col(Entry.stage).not_in([s.value for s in TERMINAL_STAGES]),
        col(Entry.stage).in_(
            [Stage.NOTIFIED.value, Stage.BOARD_DECISION.value, Stage.EXTRACT_SENT.value]
        ),
        not_(_has_key(col(Entry.facts), Stage.SUBMITTED.value, dialect)),
        not_(_has_key(col(Entry.pending), Stage.SUBMITTED.value, dialect)),
    )


def _examiner(session: Session, actor: Actor, cycle: Cycle, dialect: str) -> list[Todo]:
    booked = _has_key(col(Entry.facts), "site_visit", dialect)
    rows = session.execute(
        sa_select(col(Entry.id), booked, col(Unit.name), col(Organisation.name))
        .join(ExaminerAssignment, col(ExaminerAssignment.entry_id) == Entry.id)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .where(
            col(Entry.cycle_id) == cycle.id,
            col(ExaminerAssignment.user_id) == actor.user_id,
            col(Entry.stage) == Stage.SUBMITTED.value,
        )
    ).all()
    examination = examiner_tasks(session, actor.user_id, [r[0] for r in rows])
    todos = []
    for entry_id, has_visit, unit, organisation in rows:
        if not has_visit:
            task, link, button = (
                "Platsbesöket ska bokas",
                f"/entries/{entry_id}#site-visit",
                "Boka platsbesök",
            )
        elif entry_id in examination:
            task, link, button = examination[entry_id]
        else:
            continue  # waiting for the team: nothing for this examiner to do now
        todos.append(Todo(task, unit, organisation, cycle.winners_date, link, button))
    return todos


def _jury(session: Session, cycle: Cycle) -> list[Todo]:
    rows = session.exec(
        select(Entry.award_class, func.count())
        .where(Entry.cycle_id == cycle.id, Entry.stage == Stage.FEEDBACK.value)
        .group_by(col(Entry.award_class))
    ).all()
    return [
        Todo(
            "Klassen ska avgöras",
            AWARD_CLASSES.get(award_class, award_class).capitalize(),
            f"{n} {'post' if n == 1 else 'poster'} att besluta om",
            cycle.winners_date,
            f"/cycles/{cycle.year}/jury/{award_class}",
            "Till juryns underlag",
        )
        for award_class, n in rows
    ]


def _admin(
    session: Session, cycle: Cycle, today: date, dialect: str, failed: int | None
) -> tuple[list[Todo], int]:
    """(the first LIMIT rows' todos, how many there are): counted in one aggregate, listed in
    one limited query, so a national cycle with thousands overdue costs what a small one does."""
    open_stage = col(Entry.stage).not_in([s.value for s in TERMINAL_STAGES])
    late_contribution = and_(_no_contribution(dialect), _contribution_due(cycle) < today)
    late_extract = and_(
        open_stage,
        col(Unit.privately_run).is_(False),
        col(Entry.stage).in_([Stage.NOTIFIED.value, Stage.BOARD_DECISION.value]),
        _extract_due(cycle) < today,
    )
    unreachable = and_(
        open_stage,
        or_(col(Unit.contact_email).is_(None), col(Unit.contact_email) == ""),
        or_(
            col(Organisation.coordinator_email).is_(None), col(Organisation.coordinator_email) == ""
        ),
    )
    in_cycle = [col(Entry.cycle_id) == cycle.id, or_(late_contribution, late_extract, unreachable)]
    counts = session.execute(
        sa_select(
            *(
                func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
                for condition in (late_contribution, late_extract, unreachable)
            )
        )
        .select_from(Entry)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .where(*in_cycle)
    ).one()
    if failed is None:
        failed = int(
            session.exec(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "failed")
            ).one()
        )
    waiting = int(
        session.exec(
            select(func.count())
            .select_from(OutboxMessage)
            .join(Entry, col(Entry.id) == OutboxMessage.entry_id)
            .where(OutboxMessage.status == "undeliverable", Entry.cycle_id == cycle.id)
        ).one()
    )
    total = sum(int(n) for n in counts) + (1 if failed else 0) + (1 if waiting else 0)
    todos = []
    if waiting:
        todos.append(
            Todo(
                "Utskick väntar på en e-postadress",
                f"{waiting} utskick",
                "de skickas när en adress anges",
                None,
                "/outbox?status=undeliverable",
                "Visa utskick utan mottagare",
            )
        )
    if failed:
        todos.append(
            Todo(
                "Utskick har misslyckats",
                f"{failed} utskick",
                None,
                None,
                "/outbox?status=failed",
                "Visa misslyckade utskick",
            )
        )
    if not any(counts):
        return todos, total
    rows = session.execute(
        sa_select(
            col(Entry.id),
            col(Unit.id),
            col(Unit.name),
            col(Organisation.name),
            late_contribution,
            late_extract,
            unreachable,
            _contribution_due(cycle),
            _extract_due(cycle),
        )
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .where(*in_cycle)
        # The unreachable first (nothing else reaches them), then the longest overdue.
        .order_by(unreachable.desc(), _contribution_due(cycle), _extract_due(cycle), col(Entry.id))
        .limit(LIMIT)
    ).all()
    for entry_id, unit_id, unit, org, no_contribution, no_extract, lost, c_due, e_due in rows:
        if lost:
            todos.append(
                Todo(
                    "Enheten nås inte: varken kontaktadress eller samordnare",
                    unit,
                    org,
                    None,
                    f"/admin/units/{unit_id}",
                    "Ange kontaktadress",
                )
            )
        for late, what, due in (
            (no_contribution, "Skriftligt bidrag saknas", c_due),
            (no_extract, "Protokollsutdrag saknas", e_due),
        ):
            if late:
                todos.append(
                    Todo(what, unit, org, _as_date(due), f"/entries/{entry_id}", "Öppna posten")
                )
    return todos, total


def _as_date(value: Any) -> date:
    """A date from COALESCE, which SQLite answers as ISO text."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
