"""health probe: the one row /healthz rewrites to prove the database takes writes

Revision ID: 0009a
Revises: 0008
Create Date: 2026-12-03 13:10:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import workflow.models

revision = "0009a"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    probe = op.create_table(
        "health_probe",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checked_at", workflow.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # The row exists from the start, so a check only ever updates it (no insert race).
    op.bulk_insert(probe, [{"id": 1, "checked_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("health_probe")
