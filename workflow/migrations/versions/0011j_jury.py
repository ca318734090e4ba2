"""jury: a cycle's jury committee with its chair, the members' recommendations, the chair's
embargoed decision per class and the announcement that makes it public

Revision ID: 0011j
Revises: 0010k
Create Date: 2026-12-03 13:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from workflow.models import UTCDateTime

revision = "0011j"
down_revision = "0010k"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def _cycle() -> sa.Column[int]:
    return sa.Column("cycle_id", sa.Integer(), sa.ForeignKey("cycle.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "jury_member",
        sa.Column("id", sa.Integer(), primary_key=True),
        _cycle(),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("chair", sa.Boolean(), nullable=False),
        sa.Column("assigned_by", _TEXT(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("cycle_id", "user_id"),
    )
    op.create_index(op.f("ix_jury_member_cycle_id"), "jury_member", ["cycle_id"])
    op.create_index(op.f("ix_jury_member_user_id"), "jury_member", ["user_id"])
    op.create_table(
        "jury_recommendation",
        sa.Column("id", sa.Integer(), primary_key=True),
        _cycle(),
        sa.Column("award_class", _TEXT(), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("winners", sa.JSON(), nullable=False),
        sa.Column("motivation", _TEXT(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("cycle_id", "award_class", "user_id"),
    )
    op.create_index(op.f("ix_jury_recommendation_cycle_id"), "jury_recommendation", ["cycle_id"])
    op.create_table(
        "jury_decision",
        sa.Column("id", sa.Integer(), primary_key=True),
        _cycle(),
        sa.Column("award_class", _TEXT(), nullable=False),
        sa.Column("winners", sa.JSON(), nullable=False),
        sa.Column("motivation", _TEXT(), nullable=False),
        sa.Column("decided_by", _TEXT(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("cycle_id", "award_class"),
    )
    op.create_index(op.f("ix_jury_decision_cycle_id"), "jury_decision", ["cycle_id"])
    op.create_table(
        "jury_announcement",
        sa.Column("cycle_id", sa.Integer(), sa.ForeignKey("cycle.id"), primary_key=True),
        sa.Column("announce_at", UTCDateTime(), nullable=True),
        sa.Column("announced_at", UTCDateTime(), nullable=True),
        sa.Column("set_by", _TEXT(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("jury_announcement")
    op.drop_index(op.f("ix_jury_decision_cycle_id"), table_name="jury_decision")
    op.drop_table("jury_decision")
    op.drop_index(op.f("ix_jury_recommendation_cycle_id"), table_name="jury_recommendation")
    op.drop_table("jury_recommendation")
    op.drop_index(op.f("ix_jury_member_user_id"), table_name="jury_member")
    op.drop_index(op.f("ix_jury_member_cycle_id"), table_name="jury_member")
    op.drop_table("jury_member")
