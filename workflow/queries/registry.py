"""The registry as the API and the pages list it: cycles, organisations, units, examiners,
webhooks and calendar tokens, each narrowed to what the acting user may see."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from workflow.domain.access import Actor, Role
from workflow.domain.stages import Stage
from workflow.models import (
    Cycle,
    Entry,
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


def visible_organisations(
    session: Session, actor: Actor, *, after_id: int | None = None, limit: int | None = None
) -> list[Organisation]:
    """Every organisation for the admin; one's own for everyone else. In id order, at most
    `limit` of them after `after_id`."""
    query = select(Organisation).order_by(col(Organisation.id)).limit(limit)
    if after_id is not None:
        query = query.where(col(Organisation.id) > after_id)
    if actor.role != Role.ADMIN:
        query = query.where(Organisation.id == actor.organisation_id)
    return list(session.exec(query).all())


def visible_units(
    session: Session, actor: Actor, *, after_id: int | None = None, limit: int | None = None
) -> list[Unit]:
    """Every unit for the admin, a unit contact's own, the rest its organisation's; in id
    order, at most `limit` of them after `after_id`."""
    query = select(Unit).order_by(col(Unit.id)).limit(limit)
    if after_id is not None:
        query = query.where(col(Unit.id) > after_id)
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


# --- participation, as the entries the system holds tell it ------------------------------------
#
# A unit *took part* in a cycle when it has an entry there that was not withdrawn: a withdrawn
# entry got no examination or jury decision, so it is neither an earlier participation ("deltog
# 2024") nor a reason to offer the unit next year's registration. An entry still under way
# counts: it is taking part.


def participation_years(
    session: Session, unit_ids: Collection[int], *, before_year: int
) -> dict[int, list[int]]:
    """The years before `before_year` in which each unit took part, by the entries held here
    (sorted; units with none are left out). One query, for any number of units."""
    if not unit_ids:
        return {}
    rows = session.exec(
        select(Entry.unit_id, Cycle.year)
        .join(Cycle, col(Cycle.id) == Entry.cycle_id)
        .where(
            col(Entry.unit_id).in_(list(unit_ids)),
            col(Cycle.year) < before_year,
            col(Entry.stage) != Stage.WITHDRAWN.value,
        )
    ).all()
    years: dict[int, set[int]] = {}
    for unit_id, year in rows:
        years.setdefault(unit_id, set()).add(year)
    return {unit_id: sorted(found) for unit_id, found in years.items()}


@dataclass(frozen=True)
class Offer:
    """A unit that took part earlier and has no entry in the year offered: the award office
    may register it again (it is never registered by itself)."""

    unit_id: int
    unit_name: str
    organisation_id: int
    organisation_name: str
    contact_email: str | None
    years: tuple[int, ...]  # the earlier years it took part in, as the entries tell

    @property
    def last_year(self) -> int:
        return self.years[-1]


def offers(
    session: Session, year: int, *, took_part_in: int | None = None, actor: Actor | None = None
) -> list[Offer]:
    """Units that took part in a cycle before `year` (or, with `took_part_in`, in that one)
    and have no entry in `year`'s cycle; the most recent participants first, then by
    organisation and name. A coordinator sees its own organisation's."""
    taken = select(Entry.unit_id).join(Cycle, col(Cycle.id) == Entry.cycle_id)
    taken = taken.where(Cycle.year == year)
    query = (
        sa_select(
            col(Unit.id),
            col(Unit.name),
            col(Unit.organisation_id),
            col(Organisation.name),
            col(Unit.contact_email),
            col(Cycle.year),
        )
        .join(Entry, col(Entry.unit_id) == Unit.id)
        .join(Cycle, col(Cycle.id) == Entry.cycle_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .where(
            col(Cycle.year) < year,
            col(Entry.stage) != Stage.WITHDRAWN.value,
            col(Unit.id).not_in(taken),
        )
    )
    if took_part_in is not None:
        query = query.where(col(Cycle.year) == took_part_in)
    if actor is not None and actor.role != Role.ADMIN:
        query = query.where(col(Unit.organisation_id) == actor.organisation_id)
    # Plain rows, not Unit objects: thousands of units, read only.
    found: dict[int, tuple[str, int, str, str | None, set[int]]] = {}
    for unit_id, name, org_id, org_name, email, entry_year in session.execute(query).all():
        found.setdefault(unit_id, (name, org_id, org_name, email, set()))[4].add(entry_year)
    listed = [
        Offer(unit_id, name, org_id, org_name, email, tuple(sorted(years)))
        for unit_id, (name, org_id, org_name, email, years) in found.items()
    ]
    listed.sort(key=lambda o: (-o.last_year, o.organisation_name, o.unit_name, o.unit_id))
    return listed
