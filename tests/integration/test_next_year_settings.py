"""Next year's cycle takes over this year's settings as the award office left them, on SQLite
and PostgreSQL: the prize cheque's amount, the assessment criteria with their scale and team
size (still editable in the new cycle), and says so in its history."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import col, select

from tests.conftest import NOW, seed_cycle
from workflow.db import transaction
from workflow.domain.access import Actor, Role
from workflow.models import AuditEvent, Cycle, ExaminationSetting
from workflow.services import examination, next_year, registry

ADMIN = Actor(1, "kansliet", Role.ADMIN)
CRITERIA = [("Ledarskap", "Hur chefen leder kvalitetsarbetet"), ("Resultat", "Mätbara resultat")]


def test_the_prize_criteria_scale_and_team_size_are_carried_to_next_year(engine: Engine) -> None:
    seed_cycle(engine, 2025)
    with transaction(engine) as session:
        registry.update_cycle(session, year=2025, now=NOW, acting=ADMIN, prize_amount=75_000)
        change = examination.CriteriaChange(CRITERIA, score_min=1, score_max=6,
                                            examiners_per_entry=3)  # fmt: skip
        examination.set_criteria(session, year=2025, change=change, acting=ADMIN, now=NOW)
    with transaction(engine) as session:
        copied = next_year.copy_cycle(
            session, from_year=2025, to_year=2026, acting=ADMIN, actor="kansliet", now=NOW
        )
    with transaction(engine) as session:
        cycle = session.exec(select(Cycle).where(Cycle.year == 2026)).one()
        assert cycle.prize_amount == 75_000
        criteria = examination.criteria_of(session, cycle.id or 0)
        assert [(c.name, c.description) for c in criteria] == CRITERIA
        setting = session.get_one(ExaminationSetting, cycle.id)
        assert (setting.score_min, setting.score_max, setting.examiners_per_entry) == (1, 6, 3)
        [audit] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "copied").order_by(col(AuditEvent.id))
        ).all()
    assert copied.cycle.year == 2026
    assert "med dess 2 bedömningsgrunder" in (audit.note or "")
    assert audit.changes["prize_amount"] == [None, 75_000]
    # Still the new cycle's own to change: no assessment is saved there yet.
    with transaction(engine) as session:
        examination.set_criteria(session, year=2026, change=examination.CriteriaChange(
            CRITERIA[:1]), acting=ADMIN, now=NOW)  # fmt: skip
        assert len(examination.criteria_of(session, cycle.id or 0)) == 1
