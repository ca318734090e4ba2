"""feedback release: the admin's release of a cycle's feedback reports, now or scheduled

Revision ID: 0010f
Revises: 0009e
Create Date: 2026-12-03 13:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from workflow.models import UTCDateTime

revision = "0010f"
down_revision = "0009e"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "feedback_release",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cycle_id", sa.Integer(), sa.ForeignKey("cycle.id"), nullable=False),
        sa.Column("award_class", _TEXT(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("status", _TEXT(), nullable=False),
        sa.Column("requested_by", _TEXT(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("released", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
    )
    op.create_index(op.f("ix_feedback_release_cycle_id"), "feedback_release", ["cycle_id"])
    op.create_index(op.f("ix_feedback_release_status"), "feedback_release", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_feedback_release_status"), table_name="feedback_release")
    op.drop_index(op.f("ix_feedback_release_cycle_id"), table_name="feedback_release")
    op.drop_table("feedback_release")
