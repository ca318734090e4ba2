"""examination: criteria and scale per cycle, examiner teams with a lead, individual
assessments and the team's consensus; earlier free-text examinations become consensus summaries

Revision ID: 0009e
Revises: 0009c
Create Date: 2026-12-03 13:00:00.000000
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

from workflow.models import UTCDateTime

revision = "0009e"
down_revision = "0009c"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("examiner_assignment") as batch_op:
        batch_op.add_column(
            sa.Column("lead", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "examination_setting",
        sa.Column("cycle_id", sa.Integer(), sa.ForeignKey("cycle.id"), primary_key=True),
        sa.Column("score_min", sa.Integer(), nullable=False),
        sa.Column("score_max", sa.Integer(), nullable=False),
        sa.Column("examiners_per_entry", sa.Integer(), nullable=False),
    )
    op.create_table(
        "assessment_criterion",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cycle_id", sa.Integer(), sa.ForeignKey("cycle.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", _TEXT(), nullable=False),
        sa.Column("description", _TEXT(), nullable=False),
        sa.UniqueConstraint("cycle_id", "name"),
    )
    op.create_index(op.f("ix_assessment_criterion_cycle_id"), "assessment_criterion", ["cycle_id"])
    _create_assessment()
    _create_consensus()
    _summaries_from_free_text()


def _create_assessment() -> None:
    op.create_table(
        "assessment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("entry.id"), nullable=False),
        sa.Column("examiner_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("status", _TEXT(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("site_visit_on", sa.Date(), nullable=True),
        sa.Column("interviews", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("entry_id", "examiner_id"),
    )
    op.create_index(op.f("ix_assessment_entry_id"), "assessment", ["entry_id"])
    op.create_index(op.f("ix_assessment_examiner_id"), "assessment", ["examiner_id"])


def _create_consensus() -> None:
    op.create_table(
        "consensus",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("entry.id"), nullable=False),
        sa.Column("status", _TEXT(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("summary", _TEXT(), nullable=False),
        sa.Column("written_by", _TEXT(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("entry_id"),
    )


def summary_from_facts(facts: dict[str, Any]) -> str:
    """An examination recorded before consensus existed, in words: the examiner and site
    visit of `examined`, the strengths and development areas of `feedback`."""
    examined = facts.get("examined") or {}
    feedback = facts.get("feedback") or {}
    parts = [
        ("Examinator", examined.get("examiner")),
        ("Platsbesök", examined.get("site_visit_on")),
        ("Styrkor", feedback.get("strengths")),
        ("Utvecklingsområden", feedback.get("development_areas")),
    ]
    return "\n\n".join(f"{label}: {value}" for label, value in parts if value)


def _summaries_from_free_text() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, facts FROM entry")).all()
    consensus = sa.table(
        "consensus",
        sa.column("entry_id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("criteria", sa.JSON()),
        sa.column("summary", sa.String()),
        sa.column("written_by", sa.String()),
        sa.column("updated_at", UTCDateTime()),
        sa.column("submitted_at", UTCDateTime()),
    )
    now = datetime.now(UTC)
    for entry_id, raw in rows:
        facts = json.loads(raw) if isinstance(raw, str) else (raw or {})
        if "examined" not in facts and "feedback" not in facts:
            continue
        connection.execute(
            consensus.insert().values(
                entry_id=entry_id, status="submitted", criteria={},
                summary=summary_from_facts(facts), written_by="migrering 0009e",
                updated_at=now, submitted_at=now,
            )
        )  # fmt: skip


def downgrade() -> None:
    op.drop_table("consensus")
    op.drop_index(op.f("ix_assessment_examiner_id"), table_name="assessment")
    op.drop_index(op.f("ix_assessment_entry_id"), table_name="assessment")
    op.drop_table("assessment")
    op.drop_index(op.f("ix_assessment_criterion_cycle_id"), table_name="assessment_criterion")
    op.drop_table("assessment_criterion")
    op.drop_table("examination_setting")
    with op.batch_alter_table("examiner_assignment") as batch_op:
        batch_op.drop_column("lead")
