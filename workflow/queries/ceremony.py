"""The prize ceremony as the cycle's page shows it: when and where, the prize cheque, and how
many addresses the invitation has been queued to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from workflow import feeds, swedish
from workflow.domain.calendar import ceremony_span
from workflow.models import Cycle, OutboxMessage


def ceremony_view(session: Session, cycle: Cycle) -> dict[str, Any]:
    starts_at, ends_at = ceremony_span(cycle.ceremony_starts_at, cycle.ceremony_ends_at)
    invited = session.exec(
        select(func.count())
        .select_from(OutboxMessage)
        .where(col(OutboxMessage.key).startswith(f"ceremony/{cycle.year}/"))
    ).one()
    return {
        "day": swedish.datum(cycle.winners_date),
        "hours": swedish.hours_span(starts_at.isoformat(), ends_at.isoformat()),
        "place": feeds.CEREMONY_PLACE,
        "prize": swedish.kronor(cycle.prize_amount),
        "invited": int(invited),
    }
