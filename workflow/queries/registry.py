"""The registry as the API and the pages list it: cycles, organisations, units, examiners,
webhooks and calendar tokens, each narrowed to what the acting user may see."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from workflow.domain.access import Actor, Role
from workflow.models import (
    Cycle,
    ExaminerAssignment,
    FeedToken,
    Organisation,
    Unit,
    User,
    Webhook,
)


def cycles(session: Session, *, newest_first: bool = False) -> list[Cycle]:
    year = col(Cycle.year)
    return list(session.exec(select(Cycle).order_by(year.desc() if newest_first else year)).all())


def visible_organisations(session: Session, actor: Actor) -> list[Organisation]:
    """Every organisation for the admin; one's own for everyone else."""
    query = select(Organisation).order_by(col(Organisation.id))
    if actor.role != Role.ADMIN:
        query = query.where(Organisation.id == actor.organisation_id)
    return list(session.exec(query).all())


def visible_units(session: Session, actor: Actor) -> list[Unit]:
    """Every unit for the admin, a unit contact's own, the rest its organisation's."""
    query = select(Unit).order_by(col(Unit.id))
    if actor.role == Role.UNIT_CONTACT:
        query = query.where(Unit.id == actor.unit_id)
    elif actor.role != Role.ADMIN:
        query = query.where(Unit.organisation_id == actor.organisation_id)
    return list(session.exec(query).all())


def examiners(session: Session) -> list[dict[str, Any]]:
    """Every examiner by name, labelled with its organisation when it has one."""
    rows = session.exec(
        select(User.id, User.name, Organisation.name)
        .join(Organisation, col(Organisation.id) == User.organisation_id, isouter=True)
        .where(col(User.role) == Role.EXAMINER.value)
        .order_by(col(User.name))
    ).all()
    return [
        {"id": user_id, "label": f"{name} ({org})" if org else name} for user_id, name, org in rows
    ]


def assigned_examiner_ids(session: Session, entry_id: int) -> set[int]:
    return set(
        session.exec(
            select(ExaminerAssignment.user_id).where(ExaminerAssignment.entry_id == entry_id)
        ).all()
    )


def webhooks(session: Session) -> list[Webhook]:
    return list(session.exec(select(Webhook).order_by(col(Webhook.id))).all())


def visible_feed_tokens(session: Session, actor: Actor) -> list[FeedToken]:
    """The calendar feed tokens: every one for the admin, its organisation's for the rest."""
    query = select(FeedToken).order_by(col(FeedToken.id))
    if actor.role != Role.ADMIN:
        query = query.where(FeedToken.organisation_id == actor.organisation_id)
    return list(session.exec(query).all())
